#include "gradlab/ops/layers.hpp"

#include <cmath>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include "gradlab/core/graph.hpp"
#include "gradlab/kernels/loops.hpp"
#include "gradlab/ops/fused.hpp"
#include "gradlab/ops/compare.hpp"
#include "gradlab/ops/elementwise.hpp"
#include "gradlab/ops/indexing.hpp"
#include "gradlab/ops/reduce.hpp"
#include "gradlab/ops/reductions.hpp"
#include "gradlab/ops/shape.hpp"

namespace gradlab {

using kernels::unary_map;

// ---- sin, cos ----

const OpInfo sin_op{"sin", "sin x", {"∂x = G ∘ cos x"}};
Tensor sin(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  Tensor out = unary_map(x, [](auto v) { return std::sin(v); });
  return record(sin_op, out, {x}, [](const BackwardContext& c) {
    return Grads{c.grad * cos(c.inputs[0])};
  });
}

const OpInfo cos_op{"cos", "cos x", {"∂x = −G ∘ sin x"}};
Tensor cos(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  Tensor out = unary_map(x, [](auto v) { return std::cos(v); });
  return record(cos_op, out, {x}, [](const BackwardContext& c) {
    return Grads{-c.grad * sin(c.inputs[0])};
  });
}

// ---- leaky_relu, elu ----

// The slope is a constant step of x (1 or slope; slope at 0, as torch), so the second
// derivative is 0, as relu's.
const OpInfo leaky_relu_op{"leaky_relu", "x where x > 0, slope · x elsewhere",
                           {"∂x = G ∘ (1 where x > 0, slope elsewhere)"}};
Tensor leaky_relu(const Tensor& x, double slope, Here where) {
  const CallSite site(where, __func__);
  Tensor out = unary_map(x, [slope](auto v) { return v > 0 ? v : static_cast<decltype(v)>(slope * v); });
  return record(leaky_relu_op, out, {x}, [slope](const BackwardContext& c) {
    const Tensor steps = unary_map(c.inputs[0], [slope](auto v) {
      return v > 0 ? decltype(v)(1) : static_cast<decltype(v)>(slope);
    });
    return Grads{c.grad * steps};
  });
}

// Below 0 the derivative α eˣ is the output plus α, so the backward reads y (recorded,
// hence differentiable again); the choice of side, [x > 0], is a constant.
const OpInfo elu_op{"elu", "x where x > 0, α(eˣ − 1) elsewhere",
                    {"∂x = G where x > 0, G ∘ (y + α) elsewhere"}};
Tensor elu(const Tensor& x, double alpha, Here where) {
  const CallSite site(where, __func__);
  Tensor out = unary_map(x, [alpha](auto v) {
    return v > 0 ? v : static_cast<decltype(v)>(alpha * std::expm1(v));
  });
  return record(elu_op, out, {x}, [alpha](const BackwardContext& c) {
    return Grads{gradlab::where(c.inputs[0] > 0, c.grad, c.grad * (c.output + alpha))};
  });
}

// ---- gelu ----

namespace {

constexpr double inv_sqrt2 = 0.70710678118654752440;
const double inv_sqrt_2pi = 1 / std::sqrt(2 * std::numbers::pi);

}  // namespace

// Φ, the standard normal CDF, is an op of its own so that gelu's backward, which needs it,
// can be recorded and differentiated again (gradlab has no erf). Only gelu's backward uses it.
const OpInfo normal_cdf_op{"normal_cdf", "Φ(x) = ½(1 + erf(x/√2)), inside gelu's gradient",
                           {"∂x = G ∘ φ(x), φ(x) = e^(−x²/2) / √(2π)"}};

namespace {

// Φ and φ for a number and for a tensor (recorded), read by one fused formula.
template <class T>
T cdf(T v) {
  return static_cast<T>(0.5 * (1 + std::erf(v * inv_sqrt2)));
}
template <class T>
T density(T v) {
  return static_cast<T>(std::exp(-0.5 * v * v) * inv_sqrt_2pi);
}
Tensor density(const Tensor& x) { return exp(-0.5 * x * x) * inv_sqrt_2pi; }
Tensor cdf(const Tensor& x) {
  Tensor out = unary_map(x, [](auto v) { return cdf(v); });
  return record(normal_cdf_op, out, {x}, [](const BackwardContext& c) {
    return Grads{c.grad * density(c.inputs[0])};
  });
}

}  // namespace

const OpInfo gelu_op{"gelu", "x · Φ(x), Φ the standard normal CDF (the erf form)",
                     {"∂x = G ∘ (Φ(x) + x · φ(x))"}};
Tensor gelu(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  Tensor out = unary_map(x, [](auto v) { return static_cast<decltype(v)>(v * cdf(v)); });
  return record(gelu_op, out, {x}, [](const BackwardContext& c) {
    return Grads{fused([](auto g, auto x) { return g * (cdf(x) + x * density(x)); }, c.grad,
                       c.inputs[0])};
  });
}

// ---- softplus ----

const OpInfo softplus_op{"softplus", "ln(1 + eˣ) = max(x, 0) + ln(1 + e^(−|x|))", {"∂x = G ∘ σ(x)"}};
Tensor softplus(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  Tensor out = unary_map(x, [](auto v) {
    return static_cast<decltype(v)>((v > 0 ? v : 0) + std::log1p(std::exp(-std::abs(v))));
  });
  return record(softplus_op, out, {x}, [](const BackwardContext& c) {
    return Grads{c.grad * sigmoid(c.inputs[0])};
  });
}

// ---- layer_norm, batch_norm ----

namespace {

void check_affine(const char* op, const char* name, const Tensor& t, std::int64_t size,
                  const char* what, const Tensor& x) {
  if (!t.defined()) return;
  if (t.shape() != Shape{size})
    throw ShapeError(std::string(op) + ": " + name + " " + to_string(t.shape()) + " must be [" +
                     std::to_string(size) + "], the size of " + what + " of x " +
                     to_string(x.shape()));
  kernels::check_same_dtype(op, x, t);
}

}  // namespace

// Note [Normalisation kernels]
// layer_norm and batch_norm are the same computation on a view of x as [N, C, S]: layer
// norm is [rows, D, 1] with statistics per row (n), batch norm [N, C, H·W] (or [N, D, 1])
// with statistics per channel (c); γ and β are per c in both. As ops (mean, sub, pow,
// sqrt, div) either makes a dozen tensors forward and twice as many backward, about ten
// times LibTorch's time (bench/: layer_norm_fwd_bwd_b64_d256), so each has one kernel
// forward and one backward, with the well-known closed form per statistic group of M values
//     x̂ = (x − x̄) · r,  r = 1 / √(var + ε),  ĝ = G ∘ γ
//     ∂x = r · (ĝ − mean(ĝ) − x̂ ∘ mean(ĝ ∘ x̂)),  ∂γ = Σ G ∘ x̂,  ∂β = Σ G
// (the means over the group, the sums over everything but c). A backward pass that is
// being recorded (create_graph, for gradients of gradients) or checked for anomalies
// evaluates the same formula as ops instead, x̂ made again from x, so that it can be
// differentiated; the tests hold the two ways to each other.
namespace {

struct NormView {
  std::int64_t n, c, s;
  bool per_row;  // statistics per n (layer norm) or per c (batch norm)
  std::int64_t groups() const { return per_row ? n : c; }
  std::int64_t group_size() const { return per_row ? c * s : n * s; }
};

// Σ p[0..count) with eight running totals, so that the loop vectorises.
template <class T>
T sum_of(const T* p, std::int64_t count) {
  T acc[8] = {};
  std::int64_t i = 0;
  for (; i + 8 <= count; i += 8)
    for (int k = 0; k < 8; ++k) acc[k] += p[i + k];
  for (; i < count; ++i) acc[0] += p[i];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Σ over each statistic group of f(element index, group, c) into totals[group].
template <class T, class F>
void group_sums(const NormView& v, T* totals, F&& f) {
  std::fill_n(totals, v.groups(), T(0));
  std::vector<T> scratch(static_cast<std::size_t>(v.per_row ? v.c : v.s));
  for (std::int64_t n = 0; n < v.n; ++n) {
    const std::int64_t base = n * v.c * v.s;
    if (v.per_row) {  // layer norm: s is 1, the row is contiguous
      for (std::int64_t c = 0; c < v.c; ++c) scratch[c] = f(base + c, n, c);
      totals[n] += sum_of(scratch.data(), v.c);
    } else if (v.s == 1) {  // [N, D]: one value per column, added row after row
      for (std::int64_t c = 0; c < v.c; ++c) totals[c] += f(base + c, c, c);
    } else {
      for (std::int64_t c = 0; c < v.c; ++c) {
        for (std::int64_t i = 0; i < v.s; ++i) scratch[i] = f(base + c * v.s + i, c, c);
        totals[c] += sum_of(scratch.data(), v.s);
      }
    }
  }
}

// Calls f(element index, group, c) for every element, in order. (The loops are written
// out per layout so that each inner one vectorises.)
template <class F>
void each_element(const NormView& v, F&& f) {
  for (std::int64_t n = 0; n < v.n; ++n) {
    const std::int64_t base = n * v.c * v.s;
    if (v.s == 1 && v.per_row) {
      for (std::int64_t c = 0; c < v.c; ++c) f(base + c, n, c);
    } else if (v.s == 1) {
      for (std::int64_t c = 0; c < v.c; ++c) f(base + c, c, c);
    } else {
      for (std::int64_t c = 0; c < v.c; ++c)
        for (std::int64_t i = 0; i < v.s; ++i) f(base + c * v.s + i, c, c);
    }
  }
}

// γ's numbers, or ones when it is left out (and β's, or zeros): one loop for both cases.
template <class T>
const T* param_or(const Tensor& t, std::int64_t size, T fill, std::vector<T>& filled) {
  if (t.defined()) return t.data<T>();
  filled.assign(static_cast<std::size_t>(size), fill);
  return filled.data();
}

// The forward kernel: y, and each group's mean and r = 1/√(var + ε) (kept for backward).
Tensor normalise(const NormView& v, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                 double eps, Tensor& mean, Tensor& rstd) {
  Tensor y = empty_like(x);
  mean = empty({v.groups()}, x.dtype());
  rstd = empty({v.groups()}, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* px = x.data<T>();
    std::vector<T> ones, zeros;
    const T* pg = param_or(gamma, v.c, T(1), ones);
    const T* pb = param_or(beta, v.c, T(0), zeros);
    T* m = mean.data<T>();
    T* r = rstd.data<T>();
    const T size = static_cast<T>(v.group_size());
    group_sums(v, m, [&](std::int64_t i, std::int64_t, std::int64_t) { return px[i]; });
    for (std::int64_t k = 0; k < v.groups(); ++k) m[k] /= size;
    // The variance from the centred values (two passes: no cancellation).
    group_sums(v, r, [&](std::int64_t i, std::int64_t g, std::int64_t) {
      const T d = px[i] - m[g];
      return d * d;
    });
    for (std::int64_t k = 0; k < v.groups(); ++k)
      r[k] = static_cast<T>(1 / std::sqrt(static_cast<double>(r[k] / size) + eps));
    T* py = y.data<T>();
    each_element(v, [&](std::int64_t i, std::int64_t g, std::int64_t c) {
      const T h = (px[i] - m[g]) * r[g];
      py[i] = h * pg[c] + pb[c];
    });
  });
  return y;
}

// The backward kernel (Note [Normalisation kernels]), for a pass that records nothing.
Grads normalise_backward(const NormView& v, const BackwardContext& c) {
  const Tensor &x = c.inputs[0], &gamma = c.inputs[1], &G = c.grad;
  const Tensor &mean = c.saved[0], &rstd = c.saved[1];
  Grads grads(3);
  Tensor dx = empty_like(x), sum_gx = empty({v.groups()}, x.dtype()),
         sum_g = empty({v.groups()}, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* px = x.data<T>();
    const T* pG = G.data<T>();
    std::vector<T> ones;
    const T* pg = param_or(gamma, v.c, T(1), ones);
    const T* m = mean.data<T>();
    const T* r = rstd.data<T>();
    const auto hat = [&](std::int64_t i, std::int64_t g) { return (px[i] - m[g]) * r[g]; };
    const auto scaled = [&](std::int64_t i, std::int64_t ch) { return pG[i] * pg[ch]; };
    T* a = sum_g.data<T>();   // Σ ĝ per group, then its mean
    T* b = sum_gx.data<T>();  // Σ ĝ ∘ x̂ per group, then its mean
    group_sums(v, a, [&](std::int64_t i, std::int64_t, std::int64_t ch) { return scaled(i, ch); });
    group_sums(v, b, [&](std::int64_t i, std::int64_t g, std::int64_t ch) {
      return scaled(i, ch) * hat(i, g);
    });
    const T size = static_cast<T>(v.group_size());
    for (std::int64_t g = 0; g < v.groups(); ++g) {  // the means
      a[g] /= size;
      b[g] /= size;
    }
    T* pdx = dx.data<T>();
    each_element(v, [&](std::int64_t i, std::int64_t g, std::int64_t ch) {
      pdx[i] = r[g] * (scaled(i, ch) - a[g] - hat(i, g) * b[g]);
    });
    // ∂γ = Σ G ∘ x̂ and ∂β = Σ G over everything but c.
    const auto per_channel = [&](auto&& f) {
      Tensor out = zeros({v.c}, x.dtype());
      T* o = out.data<T>();
      each_element(v, [&](std::int64_t i, std::int64_t g, std::int64_t ch) { o[ch] += f(i, g); });
      return out;
    };
    if (c.needs(1)) grads[1] = per_channel([&](std::int64_t i, std::int64_t g) { return pG[i] * hat(i, g); });
    if (c.needs(2)) grads[2] = per_channel([&](std::int64_t i, std::int64_t) { return pG[i]; });
  });
  if (c.needs(0)) grads[0] = std::move(dx);
  return grads;
}

// The same formula as ops, for a backward pass that is recorded. `average` takes the mean
// over each statistic group, keeping its axes; `param` is γ's shape against x's.
template <class Average>
Grads normalise_backward_ops(const BackwardContext& c, double eps, const Average& average,
                             const Shape& param) {
  const Tensor &x = c.inputs[0], &gamma = c.inputs[1], &G = c.grad;
  const Tensor centred = x - average(x);
  const Tensor r = pow(average(centred * centred) + eps, -0.5);
  const Tensor hat = centred * r;
  const Tensor scaled = gamma.defined() ? G * reshape(gamma, param) : G;
  Grads grads(3);
  if (c.needs(0)) grads[0] = r * (scaled - average(scaled) - hat * average(scaled * hat));
  const Shape flat{numel(param)};
  if (c.needs(1)) grads[1] = reshape(sum_to(G * hat, param), flat);
  if (c.needs(2)) grads[2] = reshape(sum_to(G, param), flat);
  return grads;
}

bool recorded_backward(const BackwardContext& c) {
  return detail::modes.anomaly || records(c.grad, c.inputs[0], c.inputs[1]);
}

template <class Average>
Tensor record_norm(const OpInfo& op, const NormView& v, const Tensor& x, const Tensor& gamma,
                   const Tensor& beta, double eps, Average average, Shape param) {
  Tensor mean, rstd;
  Tensor y = normalise(v, x, gamma, beta, eps, mean, rstd);
  return record(
      op, y, {x, gamma, beta},
      [v, eps, average, param](const BackwardContext& c) {
        return recorded_backward(c) ? normalise_backward_ops(c, eps, average, param)
                                    : normalise_backward(v, c);
      },
      {mean, rstd});
}

}  // namespace

const OpInfo layer_norm_op{"layer_norm",
                           "x̂ · γ + β, x̂ = (x − x̄) / √(var + ε) along the last axis",
                           {"∂x = (ĝ − mean(ĝ) − x̂ ∘ mean(ĝ ∘ x̂)) / √(var + ε), ĝ = G ∘ γ, means along the last axis",
                            "∂γ = Σ G ∘ x̂ over all but the last axis",
                            "∂β = Σ G over all but the last axis"}};
Tensor layer_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                  Here where) {
  const CallSite site(where, __func__);
  if (x.dim() == 0)
    throw ShapeError("layer_norm: needs at least one axis to normalise, got a 0-D tensor");
  const std::int64_t d = x.shape().back();
  check_affine("layer_norm", "gamma", gamma, d, "the last axis", x);
  check_affine("layer_norm", "beta", beta, d, "the last axis", x);
  const NormView v{d == 0 ? 0 : x.numel() / d, d, 1, true};
  return record_norm(layer_norm_op, v, x, gamma, beta, eps,
                     [](const Tensor& t) { return mean(t, -1, true); }, Shape{d});
}

const OpInfo batch_norm_op{"batch_norm",
                           "x̂ · γ + β, x̂ = (x − x̄) / √(var + ε), statistics over N (and H, W) per channel",
                           {"∂x = (ĝ − mean(ĝ) − x̂ ∘ mean(ĝ ∘ x̂)) / √(var + ε), ĝ = G ∘ γ, means over N (and H, W)",
                            "∂γ = Σ G ∘ x̂ over N (and H, W)",
                            "∂β = Σ G over N (and H, W)"}};
Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                  Here where) {
  const CallSite site(where, __func__);
  if (x.dim() != 2 && x.dim() != 4)
    throw ShapeError("batch_norm: needs [N, D] or [N, C, H, W], got " + to_string(x.shape()));
  const std::int64_t channels = x.shape()[1];
  const char* what = x.dim() == 2 ? "axis 1 (D)" : "axis 1 (C)";
  check_affine("batch_norm", "gamma", gamma, channels, what, x);
  check_affine("batch_norm", "beta", beta, channels, what, x);
  const std::int64_t per_channel = x.numel() / std::max<std::int64_t>(channels, 1);
  if (channels > 0 && per_channel == 1)
    throw ValueError("batch_norm: one value per channel in " + to_string(x.shape()) +
                     ": the batch statistics need at least two (as torch)");
  // The mean over N, H, W as means over one axis after another (each slice is as long, so
  // the mean of the means is the mean).
  const auto average = [](const Tensor& t) {
    Tensor m = mean(t, 0, true);
    if (t.dim() == 4) m = mean(mean(m, 2, true), 3, true);
    return m;
  };
  const std::int64_t s = x.dim() == 4 ? x.shape()[2] * x.shape()[3] : 1;
  const NormView v{x.shape()[0], channels, s, false};
  return record_norm(batch_norm_op, v, x, gamma, beta, eps, average,
                     x.dim() == 2 ? Shape{channels} : Shape{1, channels, 1, 1});
}

// ---- dropout ----

// The mask m / (1 − p) is a constant drawn once: the gradient is G through the same mask.
// p = 1 keeps nothing (as torch): the mask is all zeros, not 0 / 0.
const OpInfo dropout_op{"dropout", "x ∘ m / (1 − p), m: 1 with probability 1 − p, else 0",
                        {"∂x = G ∘ m / (1 − p)"}};
Tensor dropout(const Tensor& x, double p, Generator& gen, Here where) {
  const CallSite site(where, __func__);
  if (!(p >= 0 && p <= 1)) {
    std::ostringstream message;
    message << "dropout: p must be in [0, 1], got " << p;
    throw ValueError(message.str());
  }
  const double keep = p < 1 ? 1 / (1 - p) : 0;
  Tensor mask = empty_like(x);
  dispatch(x.dtype(), [&]<class T>(T) {
    T* m = mask.data<T>();
    for (std::int64_t i = 0; i < x.numel(); ++i) m[i] = gen.uniform() >= p ? static_cast<T>(keep) : T(0);
  });
  Tensor out = kernels::binary_map("dropout", x, mask, [](auto v, auto m) { return v * m; });
  return record(dropout_op, out, {x}, [mask](const BackwardContext& c) {
    return Grads{c.grad * mask};
  });
}
Tensor dropout(const Tensor& x, double p, std::uint64_t seed, Here where) {
  Generator gen(seed);
  return dropout(x, p, gen, where);
}

// ---- embedding ----

// W[idx], the row pick of ops/indexing drawn under its own name; its gradient adds G's rows
// back into zeros (index_add), a row picked twice getting both.
const OpInfo embedding_op{"embedding", "W[idx]: the rows of W [V, D] that idx picks",
                          {"∂W = index_add(zeros, idx, G) (index_backward): G's rows added "
                           "into the rows idx picks (repeats add up)",
                           "∂idx: none (indices)"}};

Tensor embedding(const Tensor& weight, const Tensor& indices, Here where) {
  const CallSite site(where, __func__);
  if (weight.dim() != 2)
    throw ShapeError("embedding: W must be a matrix [V, D], got " + to_string(weight.shape()) +
                     " (indices " + to_string(indices.shape()) + ")");
  return detail::embedding_rows(embedding_op, weight, indices);
}

}  // namespace gradlab
