#include "gradlab/tools/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "gradlab/core/errors.hpp"
#include "gradlab/core/graph.hpp"
#include "gradlab/ops/elementwise.hpp"
#include "gradlab/ops/reduce.hpp"
#include "gradlab/ops/shape.hpp"

namespace gradlab {

namespace {

std::string input_name(const Tensor& x, std::size_t i) {
  return x.name().empty() ? "input " + std::to_string(i) : x.name();
}

// Σ y ∘ r as a plain number (no graph), for the finite differences.
double project(const Tensor& y, const Tensor& r) {
  const std::vector<double> vy = y.values(), vr = r.values();
  double total = 0;
  for (std::size_t i = 0; i < vy.size(); ++i) total += vy[i] * vr[i];
  return total;
}

// What every check starts from: float64 leaves, the projection r, L = Σ f(x) ∘ r at those
// leaves, and the engine's gradient of L.
struct Setup {
  std::vector<Tensor> xs;
  Tensor r;
  std::vector<std::vector<double>> analytical;  // ∂L/∂xᵢ per input, flattened
  double loss = 0;                              // L(x), unperturbed
  double magnitude = 0;  // Σₖ |yₖ rₖ|: the size of what L adds up, for its round-off
};

Setup prepare(const char* what, const Function& f, const std::vector<Tensor>& inputs,
              std::uint64_t seed) {
  Setup s;
  for (const Tensor& x : inputs) {
    Tensor leaf = to(x.detach(), DType::float64).clone();
    leaf.set_requires_grad().name(x.name());
    s.xs.push_back(leaf);
  }
  const Tensor y = f(s.xs);
  if (!y.defined()) throw ValueError(std::string(what) + ": the function returned no tensor");
  // A one-element output needs no projection; r = 1 keeps its derivatives as they are.
  Generator gen(seed);
  s.r = y.numel() == 1 ? ones(y.shape(), y.dtype()) : randn(y.shape(), gen, y.dtype());

  const Tensor loss = sum(y * s.r);
  std::vector<Tensor> gradients;
  if (loss.requires_grad())
    gradients = grad({loss}, s.xs);
  else
    for (const Tensor& x : s.xs) gradients.push_back(zeros_like(x));
  for (const Tensor& g : gradients) s.analytical.push_back(g.values());

  s.loss = project(y, s.r);
  const std::vector<double> vy = y.values(), vr = s.r.values();
  for (std::size_t k = 0; k < vy.size(); ++k) s.magnitude += std::abs(vy[k] * vr[k]);
  return s;
}

// L(x + step·eⱼ) for the element p[j] of one input, leaving p[j] as it was.
double loss_moved(const Function& f, const Setup& s, double* p, std::int64_t j, double step) {
  const double saved = p[j];
  p[j] = saved + step;
  const double value = project(f(s.xs), s.r);
  p[j] = saved;
  return value;
}

// Note [Telling a kink from a smooth function]
//
// Only an element that failed comes here, with L(x ± ε) already known. With
//   left(h) = (L(x) − L(x − h)) / h,   right(h) = (L(x + h) − L(x)) / h
// Taylor's theorem gives, where L is smooth,
//   left(h)  = L′ − L″·h/2 + L‴·h²/6 − …
//   right(h) = L′ + L″·h/2 + L‴·h²/6 + …
// so right(h) − left(h) = L″·h + O(h³) even without any kink. No fixed tolerance on
// |right − left| can absorb that: L″ is unknown and can be large where L′ is small (at
// x = 0, 1000·x² has L′ = 0 but right − left = 2000·ε = 2·10⁻³ > atol), so such a test
// would call a smooth function with a wrong gradient a kink, and hide the bug.
//
// What does tell them apart is how the gap depends on h: for a smooth L it shrinks in
// proportion to h; at a kink it tends to the jump L′₊ − L′₋ ≠ 0. So we evaluate L at
// x ± ε/2 too and extrapolate to h → 0 (Richardson): with g(h) = right(h) − left(h),
//   jump = 2·g(ε/2) − g(ε)
// cancels the L″·h term exactly; what is left for a smooth L is −L⁗·ε³/16 (about 10⁻¹⁹
// for ε = 10⁻⁶), far below any tolerance. The same extrapolation of each side,
// left* = 2·left(ε/2) − left(ε) and right* likewise, removes their O(h) error; those are
// the one-sided derivatives we report (0 and 1 for relu at 0, up to rounding).
//
// The tolerance for the jump is gradcheck's own, atol + rtol·max(|left*|, |right*|), plus
// round-off, which the divisions by h magnify: if one evaluation of L is off by δ, then
// g(h) = (L(x+h) − 2L(x) + L(x−h)) / h is off by up to 4δ/h, and 2·g(ε/2) − g(ε) by up to
// 2·4δ/(ε/2) + 4δ/ε = 20δ/ε (each side: 2·2δ/(ε/2) + 2δ/ε = 10δ/ε). We take
// δ = 64·machine epsilon·Σₖ|yₖrₖ|: L sums terms of that total size, each computed through
// a few dozen roundings at most. For ε = 10⁻⁶ and Σ|yr| ≈ 1 that is 3·10⁻⁷, below atol.
//
// A kink closer to x than ε (not only exactly at x) also shows up here; the central
// difference straddles it just the same, so it is reported the same way.
struct OneSided {
  bool kink = false;     // the extrapolated left and right derivatives differ
  bool between = false;  // … and the engine's value lies between them
  double left = 0, right = 0;
};

OneSided one_sided(const Function& f, const Setup& s, double* p, std::int64_t j, double up,
                   double down, double analytical, const GradcheckOptions& o) {
  const double eps = o.eps, half = eps / 2, L = s.loss;
  const double up_half = loss_moved(f, s, p, j, half), down_half = loss_moved(f, s, p, j, -half);
  OneSided r;
  r.left = 2 * (L - down_half) / half - (L - down) / eps;
  r.right = 2 * (up_half - L) / half - (up - L) / eps;
  const double roundoff = 64 * std::numeric_limits<double>::epsilon() * s.magnitude / eps;
  const double allowed = o.atol + o.rtol * std::max(std::abs(r.left), std::abs(r.right));
  // Written so that NaN anywhere means "no kink": the element then fails as before.
  r.kink = std::abs(r.right - r.left) > allowed + 20 * roundoff;
  const double slack = allowed + 10 * roundoff;
  r.between = analytical >= std::min(r.left, r.right) - slack &&
              analytical <= std::max(r.left, r.right) + slack;
  return r;
}

std::string element(const std::string& input, const std::vector<std::int64_t>& index) {
  return input + to_string(index);
}

GradcheckResult check(const char* what, const Function& f, const std::vector<Tensor>& inputs,
                      const GradcheckOptions& o) {
  Setup s = prepare(what, f, inputs, o.seed);

  GradcheckResult result;
  double worst = -1;
  std::string worst_note;  // set when the worst element is a kink the engine got wrong
  for (std::size_t i = 0; i < s.xs.size(); ++i) {
    double* p = s.xs[i].data<double>();
    const std::vector<double>& a = s.analytical[i];
    for (std::int64_t j = 0; j < s.xs[i].numel(); ++j) {
      const double up = loss_moved(f, s, p, j, o.eps);
      const double down = loss_moved(f, s, p, j, -o.eps);
      const double numerical = (up - down) / (2 * o.eps);
      // How far past its tolerance this element is: ≤ 1 passes; NaN counts as infinitely far.
      double badness = std::abs(a[j] - numerical) / (o.atol + o.rtol * std::abs(numerical));
      if (std::isnan(badness)) badness = INFINITY;
      std::string note;
      if (badness > 1) {  // only failing elements pay for the extra evaluations
        const OneSided side = one_sided(f, s, p, j, up, down, a[j], o);
        if (side.kink && side.between) {
          result.kinks.push_back(
              {input_name(s.xs[i], i), unravel_index(j, s.xs[i].shape()), side.left, side.right});
          continue;
        }
        if (side.kink) {
          std::ostringstream n;
          n << "; not differentiable there (left derivative " << side.left << ", right derivative "
            << side.right << "), but the analytical value is not between the two";
          note = n.str();
        }
      }
      if (badness > worst) {
        worst = badness;
        result.input = input_name(s.xs[i], i);
        result.index = unravel_index(j, s.xs[i].shape());
        result.analytical = a[j];
        result.numerical = numerical;
        worst_note = note;
      }
    }
  }
  result.ok = worst <= 1;
  std::ostringstream m;
  m << what << (result.ok ? ": ok" : ": MISMATCH");
  if (!result.input.empty())
    m << ", worst element " << element(result.input, result.index) << ": analytical "
      << result.analytical << ", numerical " << result.numerical << " (|diff| "
      << std::abs(result.analytical - result.numerical) << ", tolerance "
      << o.atol + o.rtol * std::abs(result.numerical) << ")" << worst_note;
  // Every kink by name, up to a handful; a tensor full of ties would make an endless line.
  constexpr std::size_t listed = 5;
  for (std::size_t k = 0; k < std::min(listed, result.kinks.size()); ++k) {
    const Kink& kink = result.kinks[k];
    m << "; not differentiable at " << element(kink.input, kink.index) << ": left derivative "
      << kink.left << ", right derivative " << kink.right;
  }
  if (result.kinks.size() > listed)
    m << "; and at " << result.kinks.size() - listed << " more elements";
  if (!result.kinks.empty())
    m << (result.kinks.size() == 1 ? "; not counted as a failure" : "; not counted as failures");
  result.message = m.str();
  return result;
}

}  // namespace

GradcheckResult gradcheck(const Function& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  return check("gradcheck", f, inputs, options);
}

GradcheckResult gradgradcheck(const Function& f, const std::vector<Tensor>& inputs,
                              const GradcheckOptions& options) {
  // The backward pass is a function of the inputs x and of the gradient r flowing into the
  // output (here a fixed random tensor, checked as one more input, named "grad_output"):
  //   first_order(x, r) = Σᵢ ⟨uᵢ, ∂⟨r, f(x)⟩/∂xᵢ⟩   for fixed random uᵢ.
  // Its gradient needs second derivatives of f, which the engine gets by differentiating
  // the recorded backward pass. Checking it with respect to r too covers ops that are
  // linear in x (padding, pooling), whose second derivative in x alone is just zero.
  Shape output_shape;
  {
    no_grad plain;
    std::vector<Tensor> xs;
    for (const Tensor& x : inputs) xs.push_back(to(x.detach(), DType::float64));
    output_shape = f(xs).shape();
  }
  Generator gen(options.seed);
  std::vector<Tensor> with_r = inputs;
  with_r.push_back(randn(output_shape, gen).name("grad_output"));

  const Function first_order = [&](const std::vector<Tensor>& xs_and_r) {
    const std::vector<Tensor> xs(xs_and_r.begin(), xs_and_r.end() - 1);
    const Tensor loss = sum(f(xs) * xs_and_r.back());
    Tensor total = scalar(0.0);
    if (!loss.requires_grad()) return total;
    const std::vector<Tensor> gs = grad({loss}, xs, {.create_graph = true});
    Generator directions(options.seed + 1);  // the same uᵢ on every call
    for (const Tensor& g : gs) total = total + sum(g * randn(g.shape(), directions, g.dtype()));
    return total;
  };
  return check("gradgradcheck", first_order, with_r, options);
}

std::vector<StepError> gradcheck_sweep(const Function& f, const std::vector<Tensor>& inputs,
                                       std::vector<double> steps) {
  for (double step : steps)
    if (!(step > 0))
      throw ValueError("gradcheck_sweep: each step must be positive, got " + std::to_string(step));
  Setup s = prepare("gradcheck_sweep", f, inputs, GradcheckOptions{}.seed);
  std::vector<StepError> errors;
  for (double step : steps) errors.push_back({step, 0.0});
  for (std::size_t i = 0; i < s.xs.size(); ++i) {
    double* p = s.xs[i].data<double>();
    for (std::int64_t j = 0; j < s.xs[i].numel(); ++j)
      for (StepError& e : errors) {
        const double up = loss_moved(f, s, p, j, e.step), down = loss_moved(f, s, p, j, -e.step);
        const double difference = std::abs(s.analytical[i][j] - (up - down) / (2 * e.step));
        // A NaN anywhere makes the step's error NaN: it must not hide behind a maximum.
        if (std::isnan(difference) || difference > e.error) e.error = difference;
      }
  }
  return errors;
}

}  // namespace gradlab
