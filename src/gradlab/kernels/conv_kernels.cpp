#include "gradlab/kernels/conv_kernels.hpp"


#include <algorithm>
#include <type_traits>
#include <vector>

#include "gradlab/kernels/loops.hpp"
#include "gradlab/kernels/conv_direct.hpp"
#include "gradlab/kernels/conv_winograd.hpp"

namespace gradlab::kernels {

// ---- reference: the sliding Hadamard product ----------------------------------------------
//
// For every output pixel (n, o, i, j) the kernel w[o] sits on the image patch whose top-left
// corner is (i·s − p, j·s − p); each kernel tap (c, a, b) meets one image pixel, d apart.
// The output pixel is the sum of the Hadamard product of kernel and patch. Taps that fall
// outside the image meet the zero padding and add nothing.
//
// The two gradients are the same sum read the other way round: each (pixel, tap, output)
// triple that contributes w·x to y sends g·w back to x and g·x back to w.
namespace {

// Calls f(xi, wi, yi) with the flat indices of image pixel, kernel tap and output pixel for
// every tap that lands inside the image.
template <class F>
void for_each_tap(const ConvGeometry& g, F&& f) {
  const std::int64_t cg = g.in_channels / g.groups, og = g.out_channels / g.groups;
  for (std::int64_t n = 0; n < g.batch; ++n)
    for (std::int64_t o = 0; o < g.out_channels; ++o)
      for (std::int64_t i = 0; i < g.out_h; ++i)
        for (std::int64_t j = 0; j < g.out_w; ++j) {
          const std::int64_t yi = ((n * g.out_channels + o) * g.out_h + i) * g.out_w + j;
          for (std::int64_t c = 0; c < cg; ++c) {
            const std::int64_t channel = (o / og) * cg + c;  // the input channel in o's group
            for (std::int64_t a = 0; a < g.kernel_h; ++a) {
              const std::int64_t row = i * g.stride_h - g.pad_h + a * g.dilation_h;
              if (row < 0 || row >= g.height) continue;
              for (std::int64_t b = 0; b < g.kernel_w; ++b) {
                const std::int64_t col = j * g.stride_w - g.pad_w + b * g.dilation_w;
                if (col < 0 || col >= g.width) continue;
                const std::int64_t xi =
                    ((n * g.in_channels + channel) * g.height + row) * g.width + col;
                const std::int64_t wi = ((o * cg + c) * g.kernel_h + a) * g.kernel_w + b;
                f(xi, wi, yi);
              }
            }
          }
        }
}

std::int64_t x_size(const ConvGeometry& g) { return g.batch * g.in_channels * g.height * g.width; }
std::int64_t w_size(const ConvGeometry& g) {
  return g.out_channels * (g.in_channels / g.groups) * g.kernel_h * g.kernel_w;
}
std::int64_t y_size(const ConvGeometry& g) { return g.batch * g.out_channels * g.out_h * g.out_w; }

}  // namespace

template <class T>
void reference::conv2d_forward(const T* x, const T* w, T* y, const ConvGeometry& g) {
  std::fill_n(y, y_size(g), T(0));
  for_each_tap(g,
               [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) { y[yi] += w[wi] * x[xi]; });
}

template <class T>
void reference::conv2d_input_grad(const T* gy, const T* w, T* gx, const ConvGeometry& g) {
  std::fill_n(gx, x_size(g), T(0));
  for_each_tap(
      g, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) { gx[xi] += w[wi] * gy[yi]; });
}

template <class T>
void reference::conv2d_weight_grad(const T* x, const T* gy, T* gw, const ConvGeometry& g) {
  std::fill_n(gw, w_size(g), T(0));
  for_each_tap(
      g, [&](std::int64_t xi, std::int64_t wi, std::int64_t yi) { gw[wi] += gy[yi] * x[xi]; });
}

// ---- fast: im2col + GEMM -------------------------------------------------------------------
//
// im2col copies every patch into a column, so that the whole convolution of one group
// becomes one matrix product:
//   cols [Cg·kH·kW, N·oH·oW]   (one column per output pixel of every image)
//   y    [Og, N·oH·oW] = w [Og, Cg·kH·kW] · cols
// and the gradients are the two other products of the same three matrices:
//   ∂w = ∂y · colsᵀ,   ∂cols = wᵀ · ∂y   (then col2im adds each column back onto its patch).
// BLAS reads the transposes through its flags; nothing is transposed in memory.
namespace {

// Walks the columns of one group a row of output pixels at a time. For kernel tap (c, a, b)
// and output row i of image n, the output pixels j whose tap lands inside the image form
// one run [j0, j1); they read image pixels `step` apart. Calls
//   f(first, pixel, j0, j1, step)
// where cols[first + j] belongs to output pixel j and x[pixel + j·step] is the image pixel
// it meets (for j in [j0, j1); the others meet the zero padding). A row entirely in the
// padding has j0 = j1 = 0.
template <class F>
void for_each_col_run(const ConvGeometry& g, std::int64_t group, F&& f) {
  const std::int64_t cg = g.in_channels / g.groups, pixels = g.out_h * g.out_w;
  const std::int64_t columns = g.batch * pixels;  // of cols: every output pixel of every image
  // The first j with j·s + offset ≥ 0, and the first with j·s + offset ≥ limit.
  const auto first_at_least = [](std::int64_t limit, std::int64_t offset, std::int64_t s) {
    const std::int64_t need = limit - offset;
    return need <= 0 ? std::int64_t{0} : (need + s - 1) / s;
  };
  for (std::int64_t c = 0; c < cg; ++c)
    for (std::int64_t a = 0; a < g.kernel_h; ++a)
      for (std::int64_t b = 0; b < g.kernel_w; ++b) {
        const std::int64_t r = (c * g.kernel_h + a) * g.kernel_w + b;
        const std::int64_t offset = b * g.dilation_w - g.pad_w;  // image column of j = 0
        const std::int64_t j0 = std::min(g.out_w, first_at_least(0, offset, g.stride_w));
        const std::int64_t j1 =
            std::max(j0, std::min(g.out_w, first_at_least(g.width, offset, g.stride_w)));
        for (std::int64_t n = 0; n < g.batch; ++n) {
          const std::int64_t plane = (n * g.in_channels + group * cg + c) * g.height;
          for (std::int64_t i = 0; i < g.out_h; ++i) {
            const std::int64_t row = i * g.stride_h - g.pad_h + a * g.dilation_h;
            const std::int64_t first = r * columns + n * pixels + i * g.out_w;
            if (row < 0 || row >= g.height)
              f(first, std::int64_t{0}, std::int64_t{0}, std::int64_t{0}, g.stride_w);
            else
              f(first, (plane + row) * g.width + offset, j0, j1, g.stride_w);
          }
        }
      }
}

// The per-group [O, N·pixels] layout of y and the [N, O, pixels] layout of a tensor.
template <class T>
void to_group_rows(const T* y, T* rows, const ConvGeometry& g, std::int64_t group) {
  const std::int64_t og = g.out_channels / g.groups, pixels = g.out_h * g.out_w;
  for (std::int64_t o = 0; o < og; ++o)
    for (std::int64_t n = 0; n < g.batch; ++n)
      std::copy_n(y + (n * g.out_channels + group * og + o) * pixels, pixels,
                  rows + (o * g.batch + n) * pixels);
}
template <class T>
void from_group_rows(const T* rows, T* y, const ConvGeometry& g, std::int64_t group) {
  const std::int64_t og = g.out_channels / g.groups, pixels = g.out_h * g.out_w;
  for (std::int64_t o = 0; o < og; ++o)
    for (std::int64_t n = 0; n < g.batch; ++n)
      std::copy_n(rows + (o * g.batch + n) * pixels, pixels,
                  y + (n * g.out_channels + group * og + o) * pixels);
}

template <class T>
void im2col(const T* x, T* cols, const ConvGeometry& g, std::int64_t group) {
  for_each_col_run(g, group,
                   [&](std::int64_t first, std::int64_t pixel, std::int64_t j0, std::int64_t j1,
                       std::int64_t step) {
                     T* out = cols + first;
                     std::fill(out, out + j0, T(0));
                     for (std::int64_t j = j0; j < j1; ++j) out[j] = x[pixel + j * step];
                     std::fill(out + j1, out + g.out_w, T(0));
                   });
}

template <class T>
void col2im(const T* cols, T* x, const ConvGeometry& g, std::int64_t group) {
  for_each_col_run(g, group,
                   [&](std::int64_t first, std::int64_t pixel, std::int64_t j0, std::int64_t j1,
                       std::int64_t step) {
                     for (std::int64_t j = j0; j < j1; ++j) x[pixel + j * step] += cols[first + j];
                   });
}

// Scratch memory for the fast kernels, two buffers per thread, kept between calls: a
// training loop then neither allocates nor faults in fresh pages for every convolution.
// It is not zeroed: every kernel writes it fully before reading it.
template <class T>
T* scratch(int slot, std::int64_t count) {
  thread_local std::vector<T> buffers[2];
  std::vector<T>& b = buffers[slot];
  if (static_cast<std::int64_t>(b.size()) < count) b.resize(count);
  return b.data();
}

struct GroupSizes {
  std::int64_t og, k, columns;  // GEMM sizes: Og rows of y, Cg·kH·kW, N·oH·oW
  explicit GroupSizes(const ConvGeometry& g)
      : og(g.out_channels / g.groups),
        k(g.in_channels / g.groups * g.kernel_h * g.kernel_w),
        columns(g.batch * g.out_h * g.out_w) {}
};

}  // namespace

// Each fast kernel first offers float32 convolutions to Winograd's F(2×2, 3×3) of
// src/gradlab/kernels/conv_winograd.hpp, then to the direct kernels of src/gradlab/kernels/conv_direct.hpp;
// winograd::suits(g) and direct::suits(g) state which ones they take and why. Everything
// else goes through im2col + GEMM.
template <class T>
void conv2d_forward(const T* x, const T* w, T* y, const ConvGeometry& g) {
  if constexpr (std::is_same_v<T, float>) {
    if (winograd::suits(g)) return winograd::conv2d_forward(x, w, y, g);
    if (direct::suits(g)) return direct::conv2d_forward(x, w, y, g);
  }
  const GroupSizes s(g);
  T* cols = scratch<T>(0, s.k * s.columns);
  T* rows = scratch<T>(1, s.og * s.columns);
  for (std::int64_t group = 0; group < g.groups; ++group) {
    im2col(x, cols, g, group);
    gemm(false, false, s.og, s.columns, s.k, w + group * s.og * s.k, cols, T(0), rows);
    from_group_rows(rows, y, g, group);
  }
}

template <class T>
void conv2d_input_grad(const T* gy, const T* w, T* gx, const ConvGeometry& g) {
  if constexpr (std::is_same_v<T, float>) {
    if (winograd::suits(g)) return winograd::conv2d_input_grad(gy, w, gx, g);
    if (direct::suits(g)) return direct::conv2d_input_grad(gy, w, gx, g);
  }
  const GroupSizes s(g);
  T* cols = scratch<T>(0, s.k * s.columns);
  T* rows = scratch<T>(1, s.og * s.columns);
  std::fill_n(gx, x_size(g), T(0));
  for (std::int64_t group = 0; group < g.groups; ++group) {
    to_group_rows(gy, rows, g, group);
    gemm(true, false, s.k, s.columns, s.og, w + group * s.og * s.k, rows, T(0), cols);
    col2im(cols, gx, g, group);
  }
}

template <class T>
void conv2d_weight_grad(const T* x, const T* gy, T* gw, const ConvGeometry& g) {
  if constexpr (std::is_same_v<T, float>) {
    if (winograd::suits(g)) return winograd::conv2d_weight_grad(x, gy, gw, g);
    if (direct::suits(g)) return direct::conv2d_weight_grad(x, gy, gw, g);
  }
  const GroupSizes s(g);
  T* cols = scratch<T>(0, s.k * s.columns);
  T* rows = scratch<T>(1, s.og * s.columns);
  for (std::int64_t group = 0; group < g.groups; ++group) {
    im2col(x, cols, g, group);
    to_group_rows(gy, rows, g, group);
    gemm(false, true, s.og, s.k, s.columns, rows, cols, T(0), gw + group * s.og * s.k);
  }
}

#define GRADLAB_CONV_KERNELS(T)                                                               \
  template void conv2d_forward<T>(const T*, const T*, T*, const ConvGeometry&);               \
  template void conv2d_input_grad<T>(const T*, const T*, T*, const ConvGeometry&);            \
  template void conv2d_weight_grad<T>(const T*, const T*, T*, const ConvGeometry&);           \
  template void reference::conv2d_forward<T>(const T*, const T*, T*, const ConvGeometry&);    \
  template void reference::conv2d_input_grad<T>(const T*, const T*, T*, const ConvGeometry&); \
  template void reference::conv2d_weight_grad<T>(const T*, const T*, T*, const ConvGeometry&);
GRADLAB_CONV_KERNELS(float)
GRADLAB_CONV_KERNELS(double)
#undef GRADLAB_CONV_KERNELS

}  // namespace gradlab::kernels
