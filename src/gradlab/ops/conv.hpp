// Convolution: a kernel slides over the image; at each position the Hadamard product of the
// kernel with the image patch under it is summed into one output pixel.
//
// What deep-learning libraries call convolution (conv2d) does not flip the kernel: it is
// cross-correlation. What mathematicians call convolution flips the kernel in both axes
// first: that is convolve2d. For a symmetric kernel the two agree.
#pragma once

#include <cstdint>

#include "gradlab/core/tensor.hpp"
#include "gradlab/ops/pad.hpp"

namespace gradlab {

// A pair of sizes for rows and columns; one number means the same for both.
struct Pair {
  std::int64_t h, w;
  Pair(std::int64_t both) : h(both), w(both) {}  // NOLINT: implicit, so .stride = 2 works
  Pair(std::int64_t h, std::int64_t w) : h(h), w(w) {}
  bool operator==(const Pair&) const = default;
};
std::string to_string(Pair p);  // "[2, 1]"

struct Conv2dOptions {
  Pair stride = 1;
  Pair padding = 0;   // rows/columns added on each side, filled as padding_mode says
  Pair dilation = 1;  // spacing between kernel taps
  std::int64_t groups = 1;
  PadMode padding_mode = PadMode::zeros;
};

// input [N, C, H, W], weight [O, C/groups, kH, kW], bias [O] → [N, O, oH, oW] where
// oH = ⌊(H + 2·padding − dilation·(kH − 1) − 1) / stride⌋ + 1 (likewise oW).
// A 2-D image with a 2-D kernel works too: image [H, W], kernel [kH, kW] → [oH, oW].
//   conv2d(image, kernel, {}, {.stride = 2, .padding = 1, .padding_mode = PadMode::reflect})
// Backward, written with the ops below so that second derivatives work:
//   ∂L/∂input  = conv_transpose2d(g, weight)        (the transposed convolution; called by
//                hand, it needs .output_padding = the rows/columns the last window missed,
//                (H + 2·padding − reach) mod stride, to come back to H × W)
//   ∂L/∂weight = conv2d_weight_grad(input, g)       (input correlated with g)
//   ∂L/∂bias   = g summed over N, oH, oW
// For padding modes other than zeros, the input goes through pad() first, so its gradient
// goes back through unpad().
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
              const Conv2dOptions& options = {},
              Here where = Here::current());

// True convolution: conv2d with the kernel flipped top-to-bottom and left-to-right.
Tensor convolve2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
                  const Conv2dOptions& options = {},
                  Here where = Here::current());

// In torch.nn.functional.conv_transpose2d's order (…, output_padding, groups, dilation),
// which differs from conv2d's (…, dilation, groups): {2, 1, 1} is stride, padding and
// output_padding, positionally as in torch.
struct ConvTranspose2dOptions {
  Pair stride = 1;
  Pair padding = 0;
  Pair output_padding = 0;  // extra rows/columns at the bottom/right, each < stride
  std::int64_t groups = 1;
  Pair dilation = 1;
};

// The transposed convolution, which is conv2d's backward with respect to its input: every
// input pixel spreads the kernel, scaled by its value, over the output.
// input [N, O, oH, oW], weight [O, C/groups, kH, kW], bias [C] → [N, C, H, W] where
// H = (oH − 1)·stride − 2·padding + dilation·(kH − 1) + output_padding + 1.
Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias = {},
                        const ConvTranspose2dOptions& options = {},
                        Here where = Here::current());

// conv2d's backward with respect to its weight: the correlation of the input with the
// gradient flowing into the output. input [N, C, H, W], grad_output [N, O, oH, oW]
// → [O, C/groups, kernel.h, kernel.w]. options.padding_mode must be zeros.
Tensor conv2d_weight_grad(const Tensor& input, const Tensor& grad_output, Pair kernel,
                          const Conv2dOptions& options = {},
                          Here where = Here::current());

}  // namespace gradlab
