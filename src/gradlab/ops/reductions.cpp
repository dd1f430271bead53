#include "gradlab/ops/reductions.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "gradlab/core/graph.hpp"
#include "gradlab/kernels/loops.hpp"
#include "gradlab/ops/fused.hpp"
#include "gradlab/ops/compare.hpp"
#include "gradlab/ops/elementwise.hpp"
#include "gradlab/ops/reduce.hpp"
#include "gradlab/ops/shape.hpp"

namespace gradlab {

namespace {

// The shapes of a reduction: `kept` has the reduced axes as size 1 (x broadcasts from it),
// `result` is what the caller gets (kept itself with keepdim, else without those axes).
struct Reduction {
  Shape kept, result;
  std::int64_t count = 1;  // elements per slice
};

Reduction reduction(const char* op, const Tensor& x, std::optional<std::int64_t> axis,
                    bool keepdim) {
  Reduction r;
  r.kept = x.shape();
  if (axis) {
    const std::int64_t a = normalize_axis(op, *axis, x.dim());
    r.count = r.kept[a];
    r.kept[a] = 1;
    r.result = r.kept;
    if (!keepdim) r.result.erase(r.result.begin() + a);
  } else {
    r.count = x.numel();
    for (auto& d : r.kept) d = 1;
    if (keepdim) r.result = r.kept;
  }
  return r;
}

void check_not_empty(const char* op, const Tensor& x, std::optional<std::int64_t> axis,
                     const Reduction& r, const char* what) {
  if (r.count != 0) return;
  throw ValueError(std::string(op) + ": " + to_string(x.shape()) +
                   (axis ? " has an empty slice along axis " + std::to_string(*axis) : std::string(" is empty")) +
                   ": it has no " + what + " element");
}

// Note [Ties in max and min]
// Each element equal to its slice's extreme gets an equal share of G, 1/k of it when k
// elements tie, as torch.amax. The shares are a constant (a step function of x), so the
// backward, G broadcast back times the shares, is linear in G and flat in x: max's second
// derivative is 0, as it is for relu. In a slice whose extreme is NaN, the NaNs share it.
template <bool larger>
Tensor extreme(const OpInfo& op, const Tensor& x, std::optional<std::int64_t> axis,
               bool keepdim) {
  const Reduction r = reduction(op.name, x, axis, keepdim);
  check_not_empty(op.name, x, axis, r, larger ? "largest" : "smallest");
  const Tensor kept = kernels::reduce_to(
      x, r.kept, larger ? -INFINITY : INFINITY, [](auto acc, auto v) {
        return (larger ? v > acc : v < acc) || v != v ? v : acc;  // a NaN stays once in
      });
  Tensor out = r.result == r.kept ? kept : share_numbers(kept, r.result);
  return record(op, out, {x}, [r](const BackwardContext& c) {
    const Tensor& x = c.inputs[0];
    const Tensor m = share_numbers(c.output.detach(), r.kept);
    const Tensor hit = kernels::binary_map(larger ? "max" : "min", x, m, [](auto v, auto e) {
      return decltype(v)(v == e || (v != v && e != e));
    });
    const Tensor ties = kernels::reduce_to(hit, r.kept, 0.0, [](auto s, auto v) { return s + v; });
    const Tensor share = kernels::binary_map(larger ? "max" : "min", hit, ties, [](auto h, auto k) { return h / k; });
    const Tensor g = c.grad.dim() == 0 ? c.grad : reshape(c.grad, r.kept);
    return Grads{expand(g, x.shape()) * share};
  });
}

}  // namespace

const OpInfo max_op{"max", "the largest element, of all or along an axis (torch.amax)",
                    {"∂x = G broadcast back ∘ [x = max] / (number of ties)"}};
const OpInfo min_op{"min", "the smallest element, of all or along an axis (torch.amin)",
                    {"∂x = G broadcast back ∘ [x = min] / (number of ties)"}};

Tensor max(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  return extreme<true>(max_op, x, std::nullopt, false);
}
Tensor max(const Tensor& x, std::int64_t axis, bool keepdim, Here where) {
  const CallSite site(where, __func__);
  return extreme<true>(max_op, x, axis, keepdim);
}
Tensor min(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  return extreme<false>(min_op, x, std::nullopt, false);
}
Tensor min(const Tensor& x, std::int64_t axis, bool keepdim, Here where) {
  const CallSite site(where, __func__);
  return extreme<false>(min_op, x, axis, keepdim);
}

// ---- argmax ----

namespace {

Tensor argmax_along(const Tensor& x, std::optional<std::int64_t> axis, bool keepdim) {
  const Reduction r = reduction("argmax", x, axis, keepdim);
  check_not_empty("argmax", x, axis, r, "largest");
  // x as [outer, n, inner]: the slices run along the middle.
  std::int64_t outer = 1, n = x.numel(), inner = 1;
  if (axis) {
    const std::int64_t a = normalize_axis("argmax", *axis, x.dim());
    n = x.shape()[a];
    for (std::int64_t k = 0; k < a; ++k) outer *= x.shape()[k];
    for (std::int64_t k = a + 1; k < x.dim(); ++k) inner *= x.shape()[k];
  }
  Tensor out = empty(r.result, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* p = x.data<T>();
    T* o = out.data<T>();
    for (std::int64_t i = 0; i < outer; ++i)
      for (std::int64_t j = 0; j < inner; ++j) {
        const T* s = p + i * n * inner + j;
        std::int64_t best = 0;
        for (std::int64_t k = 1; k < n && s[best * inner] == s[best * inner]; ++k)
          if (s[k * inner] > s[best * inner] || s[k * inner] != s[k * inner]) best = k;
        o[i * inner + j] = static_cast<T>(best);
      }
  });
  return out;
}

}  // namespace

// argmax records nothing: its result is a constant, like a comparison's.
const OpInfo argmax_op{"argmax", "the index of the largest element (the first at a tie)",
                       {"∂x: none, the result is a constant"}};
Tensor argmax(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  return argmax_along(x, std::nullopt, false);
}
Tensor argmax(const Tensor& x, std::int64_t axis, bool keepdim, Here where) {
  const CallSite site(where, __func__);
  return argmax_along(x, axis, keepdim);
}

// ---- logsumexp ----

namespace {

// Note [logsumexp's own backward]
// m + ln Σ e^(x − m), m = max(x) per slice: the value does not depend on m, so neither does
// the gradient, G ∘ e^(x − y) = G ∘ softmax(x) (y the output), nor any higher one. An
// infinite m (a slice of −∞, or holding +∞) is replaced by 0, so that x − m is not ∞ − ∞
// (as torch). Composed of max, sub, exp, sum, log and add, the backward pass took five
// steps over x's size and recomputed nothing it could not have kept; so logsumexp is one
// op: the forward keeps its exponentials e = e^(x − m) and their totals s, and a plain
// backward() is then one product, G/s ∘ e. When the backward pass is itself recorded (a
// gradient of the gradient), it is written with ops instead, G ∘ exp(x − y), so that it can
// be differentiated again (Note [Fused formulas] makes the same choice).
Tensor logsumexp_along(const OpInfo& op, const Tensor& x, std::optional<std::int64_t> axis,
                       bool keepdim) {
  const Reduction r = reduction("logsumexp", x, axis, keepdim);
  // (A NaN is passed over here, which keeps the loop one vectorised max; it makes its
  // slice's Σ, and so the output, NaN all the same. An empty slice keeps m = −∞, made 0
  // below: ln Σ of nothing = −∞.)
  const Tensor m = kernels::reduce_to(x, r.kept, -INFINITY, [](auto acc, auto v) {
    return v > acc ? v : acc;
  });
  const Tensor shift = kernels::unary_map(m, [](auto v) { return std::isfinite(v) ? v : decltype(v)(0); });
  Tensor e = kernels::binary_map("logsumexp", x, shift, [](auto v, auto c) { return v - c; });
  kernels::exp_into(e, e);
  Tensor total = kernels::reduce_to(e, r.kept, 0.0, [](auto s, auto v) { return s + v; });
  Tensor out = kernels::binary_map("logsumexp", total, shift,
                                   [](auto s, auto c) { return std::log(s) + c; });
  if (r.result != r.kept) out = share_numbers(out, r.result);
  return record(op, out, {x}, [kept = r.kept](const BackwardContext& c) {
    const Tensor& x = c.inputs[0];
    const Tensor g = c.grad.dim() == 0 ? c.grad : reshape(c.grad, kept);
    const bool recorded = grad_enabled() && (c.grad.requires_grad() || x.requires_grad());
    if (recorded || detail::modes.anomaly)
      return Grads{g * exp(x - reshape(c.output, kept))};
    const Tensor& e = c.saved[0];
    const Tensor& total = c.saved[1];
    const Tensor scale = kernels::binary_map("logsumexp", g, total, [](auto g, auto s) { return g / s; });
    return Grads{kernels::binary_map("logsumexp", e, scale, [](auto e, auto w) { return e * w; })};
  }, {e, total});
}

}  // namespace

const OpInfo logsumexp_op{"logsumexp", "ln Σ eˣ = m + ln Σ e^(x − m), m = max x, per slice",
                          {"∂x = G ∘ softmax(x) = G ∘ e^(x − y), from the forward's e^(x − m) and Σ"}};
Tensor logsumexp(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  return logsumexp_along(logsumexp_op, x, std::nullopt, false);
}
Tensor logsumexp(const Tensor& x, std::int64_t axis, bool keepdim, Here where) {
  const CallSite site(where, __func__);
  return logsumexp_along(logsumexp_op, x, axis, keepdim);
}

// ---- var, std ----

const OpInfo var_op{"var", "Σ (x − x̄)² / (n − 1), or / n (made of mean, sub, pow, sum, div)",
                    {"∂x = G ∘ 2(x − x̄) / (n − 1), from the ops it is made of"}};
Tensor var(const Tensor& x, Spread o, Here where) {
  const CallSite site(where, __func__);
  const Reduction r = reduction("var", x, o.axis, o.keepdim);
  const Tensor centre = o.axis ? mean(x, *o.axis, true) : reshape(mean(x), r.kept);
  const Tensor squares = pow(x - centre, 2);
  const Tensor total = o.axis ? sum(squares, *o.axis, o.keepdim) : reshape(sum(squares), r.result);
  // n − 1 = 0 (one element, unbiased) gives 0 / 0 = NaN, as torch; so does an empty slice.
  const std::int64_t divisor = std::max<std::int64_t>(0, r.count - (o.unbiased ? 1 : 0));
  return total / static_cast<double>(divisor);
}
Tensor var(const Tensor& x, std::int64_t axis, bool keepdim, bool unbiased, Here where) {
  return var(x, Spread{axis, keepdim, unbiased}, where);
}

const OpInfo std_op{"std", "√var(x) (made of var and sqrt)",
                    {"∂x = G ∘ (x − x̄) / ((n − 1) · std), from the ops it is made of"}};
Tensor std(const Tensor& x, Spread o, Here where) {
  const CallSite site(where, __func__);
  return sqrt(var(x, o, where), where);
}
Tensor std(const Tensor& x, std::int64_t axis, bool keepdim, bool unbiased, Here where) {
  return std(x, Spread{axis, keepdim, unbiased}, where);
}

// ---- norm ----

// A backward of its own, for the one point where √(Σ x²) composed would be wrong: at
// x = 0 the composed gradient is G · 0 / 0 = NaN, while the norm's subgradient there is 0
// (torch's too). Elsewhere it is x / ‖x‖, written with where so that it is differentiable
// again.
const OpInfo norm_op{"norm", "‖x‖₂ = √(Σ x²) of all elements (Frobenius for a matrix)",
                     {"∂x = G ∘ x / ‖x‖ (0 where ‖x‖ = 0)"}};
Tensor norm(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  // (Squares first, then a plain sum: reduce_to also combines its partial totals.)
  const Tensor squares = kernels::unary_map(x, [](auto v) { return v * v; });
  const Tensor total = kernels::reduce_to(squares, Shape(x.dim(), 1), 0.0,
                                          [](auto s, auto v) { return s + v; });
  Tensor out = kernels::unary_map(share_numbers(total, {}), [](auto v) { return std::sqrt(v); });
  return record(norm_op, out, {x}, [](const BackwardContext& c) {
    const Tensor& n = c.output;
    const Tensor safe = gradlab::where(n == 0, scalar(1, n.dtype()), n);
    return Grads{c.grad * c.inputs[0] / safe};
  });
}

// ---- sqrt ----

const OpInfo sqrt_op{"sqrt", "√x", {"∂x = G / (2√x)"}};
Tensor sqrt(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  Tensor out = kernels::unary_map(x, [](auto v) { return std::sqrt(v); });
  return record(sqrt_op, out, {x}, [](const BackwardContext& c) {
    return Grads{fused([](auto g, auto y) { return g / (2 * y); }, c.grad, c.output)};
  });
}

}  // namespace gradlab
