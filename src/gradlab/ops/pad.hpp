// Padding the edges of an image (the last two axes of a tensor), as its own differentiable
// op, so that what happens at the border is visible on its own and in its gradient.
#pragma once

#include <cstdint>

#include "gradlab/core/tensor.hpp"

namespace gradlab {

enum class PadMode {
  zeros,      // 0 0 | a b c d | 0 0
  reflect,    // c b | a b c d | c b   (mirror, without repeating the edge)
  replicate,  // a a | a b c d | d d   (repeat the edge)
  circular,   // c d | a b c d | a b   (wrap around)
};
const char* to_string(PadMode mode);

// How many rows and columns to add on each side.
struct Padding {
  std::int64_t top, bottom, left, right;
  Padding(std::int64_t all) : top(all), bottom(all), left(all), right(all) {}  // NOLINT
  Padding(std::int64_t top, std::int64_t bottom, std::int64_t left, std::int64_t right)
      : top(top), bottom(bottom), left(left), right(right) {}
};

// [..., H, W] → [..., top + H + bottom, left + W + right]
Tensor pad(const Tensor& x, Padding amounts, PadMode mode = PadMode::zeros,
           Here where = Here::current());

// The gradient of pad (its adjoint): every padded pixel's value is added back onto the
// pixel it was copied from, and the border is cut off. For reflect, the border's gradient
// folds back onto the interior pixels next to the edge. [..., H', W'] → [..., H, W].
Tensor unpad(const Tensor& g, Padding amounts, PadMode mode = PadMode::zeros,
             Here where = Here::current());

}  // namespace gradlab
