#include "gradlab/ops/shape.hpp"

#include <algorithm>

#include "gradlab/core/graph.hpp"
#include "gradlab/kernels/loops.hpp"
#include "gradlab/ops/reduce.hpp"

namespace gradlab {

namespace {

// What expand and to return when there is nothing to change: a new tensor over x's
// numbers, recorded as the op, whose backward passes G on as it is. Never x's own handle:
// a name given to the result would rename x, and a step `h = to(x, …)` would be x itself,
// so that the gradient with respect to h would be x's.
Tensor unchanged(const OpInfo& op, const Tensor& x) {
  return record(op, share_numbers(x, x.shape()), {x},
                [](const BackwardContext& c) { return Grads{c.grad}; });
}

}  // namespace

const OpInfo reshape_op{"reshape", "x read with a new shape", {"∂x = G reshaped back"}};
Tensor reshape(const Tensor& x, Shape shape, Here where) {
  const CallSite site(where, __func__);
  auto bad = [&x, requested = shape] {
    return ShapeError("reshape: cannot view " + to_string(x.shape()) + " (" +
                      std::to_string(x.numel()) + " elements) as " + to_string(requested));
  };
  const auto inferred = std::find(shape.begin(), shape.end(), -1);
  if (inferred != shape.end()) {
    if (std::find(inferred + 1, shape.end(), -1) != shape.end()) throw bad();
    *inferred = 1;
    const std::int64_t rest = numel(shape);
    if (rest == 0 || x.numel() % rest != 0) throw bad();
    *inferred = x.numel() / rest;
  }
  if (std::any_of(shape.begin(), shape.end(), [](std::int64_t d) { return d < 0; }) ||
      numel(shape) != x.numel())
    throw bad();
  // The numbers are row-major and contiguous, so the new tensor shares them (also when the
  // shape is x's own: a new tensor all the same, see unchanged()).
  Tensor out = share_numbers(x, shape);
  return record(reshape_op, out, {x}, [](const BackwardContext& c) {
    return Grads{reshape(c.grad, c.inputs[0].shape())};
  });
}

const OpInfo expand_op{"expand", "x repeated along axes of size 1",
                       {"∂x = G summed back over the repeated axes"}};
Tensor expand(const Tensor& x, const Shape& requested, Here where) {
  const CallSite site(where, __func__);
  // A size of -1 keeps x's size on that axis (as torch's expand); shapes align at the right.
  const auto cannot = [&] {
    return ShapeError("expand: cannot broadcast " + to_string(x.shape()) + " to " +
                      to_string(requested));
  };
  if (requested.size() < x.shape().size()) throw cannot();
  Shape shape = requested;
  const std::size_t leading = shape.size() - x.shape().size();
  for (std::size_t k = 0; k < shape.size(); ++k) {
    if (shape[k] != -1) continue;
    if (k < leading)
      throw ShapeError("expand: -1 (keep the size) at axis " + std::to_string(k) + " of " +
                       to_string(requested) + " is a new axis of " + to_string(x.shape()) +
                       ", which has no size to keep");
    shape[k] = x.shape()[k - leading];
  }
  if (std::any_of(shape.begin(), shape.end(), [](std::int64_t d) { return d < 0; }))
    throw ShapeError("expand: sizes must be ≥ 0 or -1 (keep the size), got " +
                     to_string(requested));
  if (x.shape() == shape) return unchanged(expand_op, x);
  if (kernels::broadcast_shapes("expand", x.shape(), shape) != shape) throw cannot();
  Tensor out = empty(shape, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    if (x.numel() == 1) {
      kernels::for_each_piece(out.numel(), [&](std::int64_t begin, std::int64_t end) {
        std::fill(o + begin, o + end, in[0]);
      });
    } else {
      kernels::broadcast_loop(
          shape, kernels::broadcast_strides(x.shape(), shape),
          std::vector<std::int64_t>(shape.size(), 0),
          [&](std::int64_t i, std::int64_t ix, std::int64_t) { o[i] = in[ix]; });
    }
  });
  return record(expand_op, out, {x}, [](const BackwardContext& c) {
    return Grads{sum_to(c.grad, c.inputs[0].shape())};
  });
}

const OpInfo transpose_op{"transpose", "xᵀ (two axes swapped)", {"∂x = Gᵀ"}};
Tensor transpose(const Tensor& x, std::int64_t axis0, std::int64_t axis1, Here where) {
  const CallSite site(where, __func__);
  const std::int64_t a = normalize_axis("transpose", axis0, x.dim());
  const std::int64_t b = normalize_axis("transpose", axis1, x.dim());
  Shape shape = x.shape();
  std::swap(shape[a], shape[b]);
  // Walk the output in order, reading x with its strides swapped.
  std::vector<std::int64_t> strides = kernels::broadcast_strides(x.shape(), x.shape());
  std::swap(strides[a], strides[b]);
  Tensor out = empty(shape, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    kernels::broadcast_loop(shape, strides, std::vector<std::int64_t>(shape.size(), 0),
                            [&](std::int64_t i, std::int64_t ix, std::int64_t) { o[i] = in[ix]; });
  });
  return record(transpose_op, out, {x},
                [a, b](const BackwardContext& c) { return Grads{transpose(c.grad, a, b)}; });
}

Tensor transpose(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  if (x.dim() < 2)
    throw ShapeError("transpose: needs at least 2 dimensions to swap the last two, got shape " +
                     to_string(x.shape()));
  return transpose(x, -2, -1);
}

const OpInfo to_op{"to", "x in another dtype", {"∂x = G in x's dtype"}};
Tensor to(const Tensor& x, DType dtype, Here where) {
  const CallSite site(where, __func__);
  if (x.dtype() == dtype) return unchanged(to_op, x);
  Tensor out = empty(x.shape(), dtype);
  dispatch(x.dtype(), [&]<class From>(From) {
    dispatch(dtype, [&]<class To>(To) {
      const From* in = x.data<From>();
      To* o = out.data<To>();
      for (std::int64_t i = 0; i < x.numel(); ++i) o[i] = static_cast<To>(in[i]);
    });
  });
  return record(to_op, out, {x},
                [](const BackwardContext& c) { return Grads{to(c.grad, c.inputs[0].dtype())}; });
}

std::pair<Tensor, Tensor> promote(const Tensor& a, const Tensor& b, Here where) {
  const CallSite site(where, __func__);
  if (a.dtype() == b.dtype()) return {a, b};
  const auto widened = [](const Tensor& x) {
    return x.dtype() == DType::float64 ? x : to(x, DType::float64);
  };
  return {widened(a), widened(b)};
}

const OpInfo flip_op{"flip", "x reversed along one axis", {"∂x = G reversed along it"}};
Tensor flip(const Tensor& x, std::int64_t axis, Here where) {
  const CallSite site(where, __func__);
  const std::int64_t a = normalize_axis("flip", axis, x.dim());
  const std::int64_t n = x.size(a);
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t k = 0; k < a; ++k) outer *= x.size(k);
  for (std::int64_t k = a + 1; k < x.dim(); ++k) inner *= x.size(k);
  Tensor out = empty_like(x);
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    for (std::int64_t b = 0; b < outer; ++b)
      for (std::int64_t i = 0; i < n; ++i)
        std::copy_n(in + (b * n + (n - 1 - i)) * inner, inner, o + (b * n + i) * inner);
  });
  return record(flip_op, out, {x}, [a](const BackwardContext& c) { return Grads{flip(c.grad, a)}; });
}

// A reshape, recorded as flatten so that a diagram says what the program called.
const OpInfo flatten_op{"flatten", "x with a run of axes merged into one", {"∂x = G reshaped back"}};
Tensor flatten(const Tensor& x, std::int64_t start_axis, std::int64_t end_axis, Here where) {
  const CallSite site(where, __func__);
  const std::int64_t first = normalize_axis("flatten", start_axis, x.dim());
  const std::int64_t last = normalize_axis("flatten", end_axis, x.dim());
  if (first > last)
    throw ValueError("flatten: start axis " + std::to_string(start_axis) +
                     " comes after end axis " + std::to_string(end_axis) + " for shape " +
                     to_string(x.shape()));
  Shape shape(x.shape().begin(), x.shape().begin() + first);
  std::int64_t merged = 1;
  for (std::int64_t k = first; k <= last; ++k) merged *= x.size(k);
  shape.push_back(merged);
  shape.insert(shape.end(), x.shape().begin() + last + 1, x.shape().end());
  return record(flatten_op, share_numbers(x, shape), {x}, [](const BackwardContext& c) {
    return Grads{reshape(c.grad, c.inputs[0].shape())};
  });
}

}  // namespace gradlab
