// A third fast path for conv2d in float32: Winograd's minimal filtering F(2×2, 3×3) for
// 3×3 kernels, stride 1. The kernels of src/gradlab/kernels/conv_kernels.hpp call these when
// winograd::suits(g) says so; the readable definitions of the same sums are
// kernels::reference:: there, and the tests compare every fast path with them.
#pragma once

#include "gradlab/kernels/conv_kernels.hpp"

namespace gradlab::kernels::winograd {

// Whether the three functions below are used for g: a 3×3 kernel, stride 1, dilation 1,
// one group, at least 8 input and 8 output channels, on a CPU with AVX2 + FMA.
// Why: each 2×2 block of output pixels costs 16 multiplications per pair of channels instead
// of 36, and with 8 channels or more they are short matrix products that run at the FMA
// units' speed. Measured on a 2-core AVX2 machine (AMD EPYC), batch 32 of 32×32,
// 16 → 32 channels, one thread, against the direct kernels: the forward pass 4.3 → 3.1 ms,
// the input gradient 4.3 → 3.2 ms, the weight gradient 4.9 → 3.3 ms.
bool suits(const ConvGeometry& g);

// The same contracts as kernels::conv2d_forward / _input_grad / _weight_grad.
void conv2d_forward(const float* x, const float* w, float* y, const ConvGeometry& g);
void conv2d_input_grad(const float* gy, const float* w, float* gx, const ConvGeometry& g);
void conv2d_weight_grad(const float* x, const float* gy, float* gw, const ConvGeometry& g);

}  // namespace gradlab::kernels::winograd
