#include "engine/gradcheck.hpp"

#include <cmath>
#include <sstream>

#include "engine/graph.hpp"
#include "ops/elementwise.hpp"
#include "ops/reduce.hpp"
#include "ops/shape.hpp"

namespace gradlab {

namespace {

std::string input_name(const Tensor& x, std::size_t i) {
  return x.name().empty() ? "input " + std::to_string(i) : x.name();
}

std::vector<std::int64_t> unravel(std::int64_t flat, const Shape& shape) {
  std::vector<std::int64_t> index(shape.size());
  for (std::size_t k = shape.size(); k-- > 0;) {
    index[k] = flat % shape[k];
    flat /= shape[k];
  }
  return index;
}

// Σ y ∘ r as a plain number (no graph), for the finite differences.
double project(const Tensor& y, const Tensor& r) {
  const std::vector<double> vy = y.values(), vr = r.values();
  double total = 0;
  for (std::size_t i = 0; i < vy.size(); ++i) total += vy[i] * vr[i];
  return total;
}

GradcheckResult check(const char* what, const Function& f, const std::vector<Tensor>& inputs,
                      const GradcheckOptions& o) {
  std::vector<Tensor> xs;
  for (const Tensor& x : inputs) {
    Tensor leaf = to(x.detach(), DType::float64).clone();
    leaf.set_requires_grad().name(x.name());
    xs.push_back(leaf);
  }
  const Tensor y = f(xs);
  if (!y.defined()) throw ValueError(std::string(what) + ": the function returned no tensor");
  Generator gen(o.seed);
  const Tensor r = randn(y.shape(), gen, y.dtype());

  std::vector<Tensor> analytical;
  const Tensor loss = sum(y * r);
  if (loss.requires_grad())
    analytical = grad({loss}, xs);
  else
    for (const Tensor& x : xs) analytical.push_back(zeros_like(x));

  GradcheckResult result;
  double worst = -1;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    double* p = xs[i].data<double>();
    const std::vector<double> a = analytical[i].values();
    for (std::int64_t j = 0; j < xs[i].numel(); ++j) {
      const double saved = p[j];
      p[j] = saved + o.eps;
      const double up = project(f(xs), r);
      p[j] = saved - o.eps;
      const double down = project(f(xs), r);
      p[j] = saved;
      const double numerical = (up - down) / (2 * o.eps);
      // How far past its tolerance this element is: ≤ 1 passes; NaN counts as infinitely far.
      double badness = std::abs(a[j] - numerical) / (o.atol + o.rtol * std::abs(numerical));
      if (std::isnan(badness)) badness = INFINITY;
      if (badness > worst) {
        worst = badness;
        result.input = input_name(xs[i], i);
        result.index = unravel(j, xs[i].shape());
        result.analytical = a[j];
        result.numerical = numerical;
      }
    }
  }
  result.ok = worst <= 1;
  std::ostringstream m;
  m << what << (result.ok ? ": ok" : ": MISMATCH");
  if (!result.input.empty())
    m << ", worst element " << result.input << to_string(result.index) << ": analytical "
      << result.analytical << ", numerical " << result.numerical << " (|diff| "
      << std::abs(result.analytical - result.numerical) << ", tolerance "
      << o.atol + o.rtol * std::abs(result.numerical) << ")";
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

}  // namespace gradlab
