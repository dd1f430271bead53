// Ops that move numbers around without changing them: reshape, expand (broadcast), transpose,
// and dtype conversion.
#pragma once

#include "engine/tensor.hpp"

namespace gradlab {

// The same numbers in a new shape with as many elements; one axis may be -1 (inferred).
Tensor reshape(const Tensor& x, Shape shape);
// Repeats x along axes of size 1 (and new leading axes) to make `shape`, as broadcasting does.
Tensor expand(const Tensor& x, const Shape& shape);
// Swaps two axes; transpose(x) swaps the last two (the matrix transpose, also batched).
Tensor transpose(const Tensor& x, std::int64_t axis0, std::int64_t axis1);
Tensor transpose(const Tensor& x);
// A copy in another dtype (gradients flow back converted to the original dtype).
Tensor to(const Tensor& x, DType dtype);

}  // namespace gradlab
