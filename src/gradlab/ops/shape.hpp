// Ops that move numbers around without changing them: reshape, expand (broadcast), transpose,
// flip, flatten, and dtype conversion.
#pragma once

#include <utility>

#include "gradlab/core/tensor.hpp"

namespace gradlab {

// The same numbers in a new shape with as many elements; one axis may be -1 (inferred).
Tensor reshape(const Tensor& x, Shape shape, Here where = Here::current());
// Repeats x along axes of size 1 (and new leading axes) to make `shape`, as broadcasting does;
// a size of -1 keeps x's size on that axis: expand([3, 1], {-1, 4}) → [3, 4].
Tensor expand(const Tensor& x, const Shape& shape, Here where = Here::current());
// Swaps two axes; transpose(x) swaps the last two (the matrix transpose, also batched).
Tensor transpose(const Tensor& x, std::int64_t axis0, std::int64_t axis1,
                 Here where = Here::current());
Tensor transpose(const Tensor& x, Here where = Here::current());
// A copy in another dtype (gradients flow back converted to the original dtype).
Tensor to(const Tensor& x, DType dtype, Here where = Here::current());
// torch's type promotion for an op of two tensors (+ − ∘ / @, comparisons, maximum,
// minimum): when one is float32 and the other float64, the float32 one goes through `to`
// float64, recorded, so that its gradient comes back as float32. Both, converted or not.
std::pair<Tensor, Tensor> promote(const Tensor& a, const Tensor& b, Here where = Here::current());
// Reverses the order along one axis (flip(k, -1) mirrors a kernel left to right).
Tensor flip(const Tensor& x, std::int64_t axis, Here where = Here::current());
// Merges axes start..end into one: flatten of [N, C, H, W] is [N, C·H·W].
Tensor flatten(const Tensor& x, std::int64_t start_axis = 1, std::int64_t end_axis = -1,
               Here where = Here::current());

}  // namespace gradlab
