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
  // first_order(x) = Σᵢ ⟨uᵢ, ∂L/∂xᵢ⟩ with L = Σ f(x) ∘ r; its gradient needs second
  // derivatives of f, which the engine gets by differentiating the recorded backward pass.
  const Function first_order = [&](const std::vector<Tensor>& xs) {
    const Tensor y = f(xs);
    Generator gen(options.seed);
    const Tensor loss = sum(y * randn(y.shape(), gen, y.dtype()));
    Tensor total = scalar(0.0);
    if (!loss.requires_grad()) return total;
    const std::vector<Tensor> gs = grad({loss}, xs, {.create_graph = true});
    for (std::size_t i = 0; i < xs.size(); ++i)
      total = total + sum(gs[i] * randn(gs[i].shape(), gen, gs[i].dtype()));
    return total;
  };
  return check("gradgradcheck", first_order, inputs, options);
}

}  // namespace gradlab
