// A second fast path for conv2d in float32: direct loops without im2col, for stride 1 and
// dilation 1. The kernels of src/gradlab/kernels/conv_kernels.hpp call these when direct::suits(g) says so;
// the readable definitions of the same three sums are kernels::reference:: there, and the
// tests compare both fast paths with them.
#pragma once

#include "gradlab/kernels/conv_kernels.hpp"

namespace gradlab::kernels::direct {

// Whether the direct kernels are used for g (float32 only; float64 keeps im2col + GEMM):
// stride 1 and dilation 1 in both directions (any padding, groups, kernel and image size),
// and at most 1152 taps per output pixel, Cg·kH·kW ≤ 1152 (128 channels of 3×3).
// Why: im2col copies the image kH·kW times for a GEMM whose inner dimension (Cg·kH·kW, 27
// for RGB and a 3×3 kernel) is too short for BLAS to run at speed, while the direct loops
// read the image in place. Measured on a 2-core AVX-512 machine (batch 32 of 32×32 for
// 3 → 16 and 16 → 32 channels, batch 8 otherwise), direct vs im2col + GEMM, per pass:
// 3 → 16 channels about 3× faster, 16 → 32 and 64 → 64 at 32×32 2–3× faster,
// 128 → 128 at 16×16 2× faster (weight gradient even), 256 → 256 at 8×8 slower (3× for
// the weight gradient): hence the limit.
bool suits(const ConvGeometry& g);

// The same contracts as kernels::conv2d_forward / _input_grad / _weight_grad.
void conv2d_forward(const float* x, const float* w, float* y, const ConvGeometry& g);
void conv2d_input_grad(const float* gy, const float* w, float* gx, const ConvGeometry& g);
void conv2d_weight_grad(const float* x, const float* gy, float* gw, const ConvGeometry& g);

}  // namespace gradlab::kernels::direct
