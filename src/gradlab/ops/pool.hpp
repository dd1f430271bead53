// Pooling: summarise each window of an image by its largest value or its mean.
#pragma once

#include "gradlab/core/tensor.hpp"
#include "gradlab/ops/conv.hpp"

namespace gradlab {

struct Pool2dOptions {
  Pair stride = 0;   // 0 means "the kernel size": windows side by side, not overlapping
  Pair padding = 0;  // at most half the kernel; max pooling ignores it, averages count it as 0
};

// input [N, C, H, W] (or a 2-D image) → [N, C, oH, oW], the largest value of each window.
// Backward: each window's gradient goes to the position of its maximum (the first one, on
// a tie; the maximum is not differentiable there), the other positions get 0.
Tensor max_pool2d(const Tensor& input, Pair kernel, const Pool2dOptions& options = {},
                  Here where = Here::current());

// The mean of each window: a convolution of every channel with a constant kernel 1/(kH·kW),
// and built exactly so (its gradient is conv2d's).
Tensor avg_pool2d(const Tensor& input, Pair kernel, const Pool2dOptions& options = {},
                  Here where = Here::current());

}  // namespace gradlab
