// Reductions: sum and mean over all elements or along one axis or several, and sum_to, the one helper
// every broadcasting op uses in its backward to add a gradient back up to an input's shape.
#pragma once

#include <vector>

#include "gradlab/core/tensor.hpp"

namespace gradlab {

// All elements → a 0-dimensional tensor; or along one axis.
Tensor sum(const Tensor& x, Here where = Here::current());
Tensor sum(const Tensor& x, std::int64_t axis, bool keepdim = false, Here where = Here::current());
Tensor mean(const Tensor& x, Here where = Here::current());
Tensor mean(const Tensor& x, std::int64_t axis, bool keepdim = false, Here where = Here::current());
// Along several axes at once, as torch's sum(x, dim=(0, 2)): sum(x, {0, 2}, keepdim). An axis
// named twice (also as -1 and its positive number) or an empty list is a ValueError.
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim = false,
           Here where = Here::current());
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim = false,
            Here where = Here::current());

// Sums x over the axes along which `shape` was broadcast to make x's shape: sum_to of a
// [32, 4] gradient to [4] sums the 32 rows. Returns x itself when the shapes are equal
// (taken by value, so that a temporary passes through without a copy of its handle). That
// common case is inline: most backward formulas call it, mostly on shapes that are equal.
Tensor sum_to_broadcast(Tensor x, const Shape& shape, Here where);  // the sum itself
inline Tensor sum_to(Tensor x, const Shape& shape, Here where = Here::current()) {
  if (x.shape() == shape) return x;
  return sum_to_broadcast(std::move(x), shape, where);
}

}  // namespace gradlab
