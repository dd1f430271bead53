#include "gradlab/ops/loss.hpp"

#include <algorithm>
#include <cmath>

#include "gradlab/core/graph.hpp"
#include "gradlab/kernels/loops.hpp"
#include "gradlab/ops/elementwise.hpp"
#include "gradlab/ops/reduce.hpp"
#include "gradlab/ops/shape.hpp"

namespace gradlab {

namespace {

// The numbers of softmax and log softmax along one axis, without recording anything.
// Subtracting each slice's maximum first keeps e^(…) ≤ 1; the result is unchanged.
struct SoftmaxParts {
  Tensor shifted;  // x − max
  Tensor total;    // Σ e^(x − max), with the axis kept as size 1
};

SoftmaxParts softmax_parts(const char* op, const Tensor& x, std::int64_t axis) {
  if (x.dim() == 0)
    throw ShapeError(std::string(op) + ": needs at least one dimension, got a 0-D tensor");
  Shape kept = x.shape();
  kept[normalize_axis(op, axis, x.dim())] = 1;
  const Tensor max =
      kernels::reduce_to(x, kept, -INFINITY, [](auto m, auto v) { return std::max(m, v); });
  Tensor shifted = kernels::binary_map(op, x, max, [](auto v, auto m) { return v - m; });
  const Tensor e = kernels::unary_map(shifted, [](auto v) { return kernels::fast_exp(v); });
  Tensor total = kernels::reduce_to(e, kept, 0.0, [](auto s, auto v) { return s + v; });
  return {std::move(shifted), std::move(total)};
}

Tensor log_softmax_values(const char* op, const Tensor& x, std::int64_t axis) {
  const SoftmaxParts p = softmax_parts(op, x, axis);
  return kernels::binary_map(op, p.shifted, p.total,
                             [](auto z, auto s) { return z - std::log(s); });
}

}  // namespace

const OpInfo softmax_op{"softmax", "y = eˣ / Σ eˣ", {"∂x = y ∘ (G − Σ G ∘ y)"}};
Tensor softmax(const Tensor& x, std::int64_t axis, Here where) {
  const CallSite site(where, __func__);
  const SoftmaxParts p = softmax_parts("softmax", x, axis);
  Tensor out = kernels::binary_map("softmax", p.shifted, p.total,
                                   [](auto z, auto s) { return kernels::fast_exp(z) / s; });
  return record(softmax_op, out, {x}, [axis](const BackwardContext& c) {
    const Tensor& y = c.output;
    return Grads{y * (c.grad - sum(c.grad * y, axis, true))};
  });
}

const OpInfo log_softmax_op{"log_softmax", "y = x − ln Σ eˣ", {"∂x = G − eʸ ∘ Σ G"}};
Tensor log_softmax(const Tensor& x, std::int64_t axis, Here where) {
  const CallSite site(where, __func__);
  Tensor out = log_softmax_values("log_softmax", x, axis);
  return record(log_softmax_op, out, {x}, [axis](const BackwardContext& c) {
    return Grads{c.grad - exp(c.output) * sum(c.grad, axis, true)};
  });
}

// Prediction and target broadcast against each other, as in torch (which warns when their
// shapes differ); n counts the elements of the broadcast shape.
const OpInfo mse_loss_op{"mse_loss", "mean((p − t)²), p and t broadcast",
                         {"∂p = G · 2(p − t)/n", "∂t = −∂p"}};
Tensor mse_loss(const Tensor& prediction, const Tensor& target, Here where) {
  const CallSite site(where, __func__);
  if (prediction.dtype() != target.dtype()) {  // float32 with float64, as torch: in float64
    const auto [p, t] = promote(prediction, target);
    return mse_loss(p, t);
  }
  const Tensor squares = kernels::binary_map("mse_loss", prediction, target,
                                             [](auto p, auto t) { return (p - t) * (p - t); });
  double total = 0;
  for (double v : squares.values()) total += v;
  const double n = static_cast<double>(squares.numel());
  Tensor out = scalar(total / n, prediction.dtype());  // 0/0 = NaN for empty tensors
  return record(mse_loss_op, out, {prediction, target}, [n](const BackwardContext& c) {
    const Tensor d = c.grad * (2.0 / n) * (c.inputs[0] - c.inputs[1]);
    Grads g(2);
    if (c.needs(0)) g[0] = sum_to(d, c.inputs[0].shape());
    if (c.needs(1)) g[1] = sum_to(-d, c.inputs[1].shape());
    return g;
  });
}

// With ignore_index, the ignored rows are left out of the sum and of N, and their rows of
// the gradient are 0.
const OpInfo cross_entropy_op{"cross_entropy", "mean over rows i of −log softmax(xᵢ)[tᵢ]",
                              {"∂x = G · (softmax(x) − onehot(t)) / N (0 on ignored rows)"}};
Tensor cross_entropy(const Tensor& logits, const std::vector<std::int64_t>& targets,
                     const CrossEntropyOptions& options, Here where) {
  const CallSite site(where, __func__);
  if (logits.dim() != 2)
    throw ShapeError(
        "cross_entropy: logits must be [N, C] (a row of class scores per "
        "example), got " +
        to_string(logits.shape()));
  const std::int64_t n = logits.size(0), classes = logits.size(1);
  if (static_cast<std::int64_t>(targets.size()) != n)
    throw ShapeError("cross_entropy: logits " + to_string(logits.shape()) + " have " +
                     std::to_string(n) + " rows but there are " + std::to_string(targets.size()) +
                     " targets");
  Tensor onehot = zeros(logits.shape(), logits.dtype());
  std::int64_t ignored = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (targets[i] == options.ignore_index) {
      ++ignored;
      continue;
    }
    if (targets[i] < 0 || targets[i] >= classes)
      throw ValueError("cross_entropy: target " + std::to_string(i) + " is class " +
                       std::to_string(targets[i]) + ", outside [0, " + std::to_string(classes) +
                       ") for logits " + to_string(logits.shape()));
    dispatch(onehot.dtype(),
                      [&]<class T>(T) { onehot.data<T>()[i * classes + targets[i]] = 1; });
  }
  const std::vector<double> logp = log_softmax_values("cross_entropy", logits, 1).values();
  double total = 0;
  for (std::int64_t i = 0; i < n; ++i)
    if (targets[i] != options.ignore_index) total -= logp[i * classes + targets[i]];
  const double counted = static_cast<double>(n - ignored);
  Tensor out = scalar(total / counted, logits.dtype());
  if (ignored == 0)
    return record(
        cross_entropy_op, out, {logits},
        [counted](const BackwardContext& c) {
          const Tensor& onehot = c.saved[0];
          return Grads{c.grad * (softmax(c.inputs[0], 1) - onehot) / counted};
        },
        {onehot});
  // A column of 1s for the rows that count, 0s for the ignored ones.
  Tensor kept = ones({n, 1}, logits.dtype());
  dispatch(kept.dtype(), [&]<class T>(T) {
    for (std::int64_t i = 0; i < n; ++i)
      if (targets[i] == options.ignore_index) kept.data<T>()[i] = 0;
  });
  return record(
      cross_entropy_op, out, {logits},
      [counted](const BackwardContext& c) {
        const Tensor &onehot = c.saved[0], &kept = c.saved[1];
        return Grads{c.grad * (softmax(c.inputs[0], 1) * kept - onehot) / counted};
      },
      {onehot, kept});
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets,
                     const CrossEntropyOptions& options, Here where) {
  const CallSite site(where, __func__);
  if (targets.dim() == 2 && logits.dim() == 2) {  // rows of probabilities
    if (targets.shape() != logits.shape())
      throw ShapeError("cross_entropy: probability targets must have the logits' shape " +
                       to_string(logits.shape()) + ", got " + to_string(targets.shape()));
    if (options.ignore_index != CrossEntropyOptions{}.ignore_index)
      throw ValueError("cross_entropy: ignore_index is for class-index targets, not for "
                       "probability targets " + to_string(targets.shape()));
    kernels::check_same_dtype("cross_entropy", logits, targets);
    return -sum(targets * log_softmax(logits, 1)) / static_cast<double>(logits.size(0));
  }
  if (targets.dim() != 1)
    throw ShapeError("cross_entropy: targets must be a 1-D tensor of class indices or [N, C] "
                     "rows of probabilities, got " + to_string(targets.shape()));
  std::vector<std::int64_t> classes;
  for (double v : targets.values()) {
    if (!std::isfinite(v) || v != std::floor(v))
      throw ValueError("cross_entropy: target " + std::to_string(classes.size()) + " is " +
                       std::to_string(v) + ", not a whole number (targets are class indices)");
    if (std::abs(v) >= 9.0e18)  // too large to convert; smaller ones are checked against C below
      throw ValueError("cross_entropy: target " + std::to_string(classes.size()) + " is class " +
                       std::to_string(v) + ", outside the classes of logits " +
                       to_string(logits.shape()));
    classes.push_back(static_cast<std::int64_t>(v));
  }
  return cross_entropy(logits, classes, options);
}

Tensor cross_entropy(const Tensor& logits, std::initializer_list<std::int64_t> targets,
                     const CrossEntropyOptions& options, Here where) {
  const CallSite site(where, __func__);
  return cross_entropy(logits, std::vector<std::int64_t>(targets), options);
}

}  // namespace gradlab
