#include "gradlab/ops/reduce.hpp"

#include "gradlab/core/graph.hpp"
#include "gradlab/kernels/loops.hpp"
#include "gradlab/ops/elementwise.hpp"
#include "gradlab/ops/shape.hpp"

namespace gradlab {

namespace {

// Every element of x contributed once to the sum, so each receives the output's gradient.
const OpInfo sum_op{"sum", "Σ x (over all axes, one or several)", {"∂x = G broadcast back to x's shape"}};
const OpInfo mean_op{"mean", "Σ x / n", {"∂x = G / n broadcast back to x's shape"}};

using Axes = SmallVector<bool, 4>;  // true for each axis that is summed

// scale · Σ x over the axes marked in `reduced`: sum and mean.
Tensor scaled_sum(const OpInfo& op, const Tensor& x, const Axes& reduced, bool keepdim,
                  double scale) {
  Shape kept = x.shape(), result;
  for (std::size_t k = 0; k < kept.size(); ++k) {
    if (reduced[k]) kept[k] = 1;
    if (!reduced[k] || keepdim) result.push_back(kept[k]);
  }
  Tensor total = kernels::reduce_to(x, kept, 0.0, [](auto acc, auto v) { return acc + v; });
  if (scale != 1)
    dispatch(total.dtype(), [&]<class T>(T) {
      T* p = total.data<T>();
      for (std::int64_t i = 0; i < total.numel(); ++i) p[i] = static_cast<T>(p[i] * scale);
    });
  Tensor out = result == kept ? total : share_numbers(total, result);
  return record(op, out, {x}, [kept, scale](const BackwardContext& c) {
    // A 0-d gradient (everything summed) broadcasts as it is.
    Tensor g = expand(c.grad.dim() == 0 ? c.grad : reshape(c.grad, kept), c.inputs[0].shape());
    return Grads{scale == 1 ? g : g * scale};
  });
}

Axes one_axis(const char* op, const Tensor& x, std::int64_t axis) {
  Axes reduced(x.dim(), false);
  reduced[normalize_axis(op, axis, x.dim())] = true;
  return reduced;
}

Axes listed_axes(const char* op, const Tensor& x, const std::vector<std::int64_t>& axes) {
  const auto listed = [&] { return to_string(Shape(axes.begin(), axes.end())); };
  if (axes.empty())
    throw ValueError(std::string(op) + ": the list of axes is empty; leave the axes out to " +
                     "reduce all elements");
  Axes reduced(x.dim(), false);
  for (const std::int64_t axis : axes) {
    const std::int64_t k = normalize_axis(op, axis, x.dim());
    if (reduced[k])
      throw ValueError(std::string(op) + ": axis " + std::to_string(k) + " appears twice in " +
                       listed() + " for shape " + to_string(x.shape()));
    reduced[k] = true;
  }
  return reduced;
}

double count(const Tensor& x, const Axes& reduced) {
  double n = 1;
  for (std::size_t k = 0; k < reduced.size(); ++k)
    if (reduced[k]) n *= x.shape()[k];
  return n;
}

}  // namespace

Tensor sum(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  return scaled_sum(sum_op, x, Axes(x.dim(), true), false, 1.0);
}

Tensor sum(const Tensor& x, std::int64_t axis, bool keepdim, Here where) {
  const CallSite site(where, __func__);
  return scaled_sum(sum_op, x, one_axis("sum", x, axis), keepdim, 1.0);
}

Tensor mean(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  const Axes all(x.dim(), true);
  return scaled_sum(mean_op, x, all, false, 1.0 / count(x, all));
}

Tensor mean(const Tensor& x, std::int64_t axis, bool keepdim, Here where) {
  const CallSite site(where, __func__);
  const Axes reduced = one_axis("mean", x, axis);
  return scaled_sum(mean_op, x, reduced, keepdim, 1.0 / count(x, reduced));
}

Tensor sum(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim, Here where) {
  const CallSite site(where, __func__);
  return scaled_sum(sum_op, x, listed_axes("sum", x, axes), keepdim, 1.0);
}

Tensor mean(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim, Here where) {
  const CallSite site(where, __func__);
  const Axes reduced = listed_axes("mean", x, axes);
  return scaled_sum(mean_op, x, reduced, keepdim, 1.0 / count(x, reduced));
}

const OpInfo sum_to_op{"sum_to", "x summed down to a shape it was broadcast from",
                       {"∂x = G broadcast back to x's shape"}};
Tensor sum_to_broadcast(Tensor x, const Shape& shape, Here where) {
  const CallSite site(where, __func__);
  if (kernels::broadcast_shapes("sum_to", shape, x.shape()) != x.shape())
    throw ShapeError("sum_to: cannot sum " + to_string(x.shape()) + " down to " + to_string(shape));
  Tensor out = kernels::reduce_to(x, shape, 0.0, [](auto acc, auto v) { return acc + v; });
  return record(sum_to_op, out, {x}, [](const BackwardContext& c) {
    return Grads{expand(c.grad, c.inputs[0].shape())};
  });
}

}  // namespace gradlab
