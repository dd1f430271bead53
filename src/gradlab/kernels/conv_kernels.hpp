// The numbers behind conv2d: a reference kernel that slides the kernel over the image
// exactly as the tutorials describe it, and a fast kernel (im2col + one BLAS GEMM) used by
// default and tested against the reference. For float32 with stride 1 and dilation 1 the
// fast kernel hands over to direct loops without im2col (src/gradlab/kernels/conv_direct.hpp says when),
// and for 3×3 kernels with 8 channels or more to Winograd's F(2×2, 3×3)
// (src/gradlab/kernels/conv_winograd.hpp).
// The differentiable ops are in src/gradlab/ops/conv.hpp.
#pragma once

#include <cstdint>

namespace gradlab::kernels {

// x [N, C, H, W] · weight [O, C/groups, kH, kW] → y [N, O, oH, oW]
struct ConvGeometry {
  std::int64_t batch, in_channels, height, width;
  std::int64_t out_channels, kernel_h, kernel_w;
  std::int64_t out_h, out_w;
  std::int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;
};

// Each function overwrites its output. T is float or double.
// y = conv2d(x, w):   y[n,o,i,j] = Σ w[o,c,a,b] · x[n, c', i·s − p + a·d, j·s − p + b·d]
// summed over the kernel taps (c, a, b), where c' = c + (o's group)·C/groups.
template <class T>
void conv2d_forward(const T* x, const T* w, T* y, const ConvGeometry& g);
// gx = the transposed convolution of gy with w (conv2d's gradient with respect to x)
template <class T>
void conv2d_input_grad(const T* gy, const T* w, T* gx, const ConvGeometry& g);
// gw = the correlation of x with gy (conv2d's gradient with respect to w)
template <class T>
void conv2d_weight_grad(const T* x, const T* gy, T* gw, const ConvGeometry& g);

namespace reference {
template <class T>
void conv2d_forward(const T* x, const T* w, T* y, const ConvGeometry& g);
template <class T>
void conv2d_input_grad(const T* gy, const T* w, T* gx, const ConvGeometry& g);
template <class T>
void conv2d_weight_grad(const T* x, const T* gy, T* gw, const ConvGeometry& g);
}  // namespace reference

}  // namespace gradlab::kernels
