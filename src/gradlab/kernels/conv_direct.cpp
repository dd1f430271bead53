// Direct conv2d kernels for float32, stride 1, dilation 1 (see conv_direct.hpp for when they
// are used). They compute the sums of kernels::reference:: in src/gradlab/kernels/conv_kernels.cpp,
//   y[n,o,i,j]  = Σ_c Σ_a Σ_b w[o,c,a,b] · x[n,c,i−p+a,j−p+b]
// without building im2col's matrix: each image is copied once into a zero-padded scratch
// copy, and then the sums are plain loops over contiguous rows that the compiler turns into
// SIMD code. Three ideas make them fast:
//
//  1. Padding first. With the zeros written out, no loop needs a bounds check: output row i
//     reads padded rows i … i + kH − 1, and W neighbouring output pixels j … j + W − 1 read
//     padded columns j + b … j + b + W − 1, one contiguous run per kernel tap (a, b). W is
//     the number of floats in a SIMD register (16 for AVX-512, 8 for AVX2, 4 for SSE2).
//  2. Register blocks. The innermost body updates a block of accumulators, e.g. 4 output
//     channels × 4 output rows × W pixels, from 4 runs of pixels and 4 kernel weights. The
//     block stays in SIMD registers for all Cg·kH·kW taps and is stored once.
//  3. Threads. Images are independent, so the images of the batch are handed out to
//     gradlab's threads (src/gradlab/core/parallel.hpp, set_num_threads). The weight
//     gradient, a sum over the batch, is summed per chunk of images and the chunks' sums
//     are added in a fixed order.
//
// The library is compiled for plain x86-64 (SSE2). The loops below are therefore compiled
// three times, for AVX-512, for AVX2 + FMA and for SSE2, and the best one this CPU runs is
// picked at run time. Only the register width and the block sizes differ between the three.
#include "gradlab/kernels/conv_direct.hpp"

#include <algorithm>
#include <functional>
#include <vector>

#include "gradlab/core/parallel.hpp"
#include "gradlab/kernels/simd.hpp"

namespace gradlab::kernels::direct {

namespace {

using I = std::int64_t;

using simd::load;
using simd::round_up;
using simd::Simd;
using simd::store;

// ---- zero padding ----------------------------------------------------------------------
//
// dst[p][r][s] = src[p][r − top][s − left] where that is inside the rows × cols source, and 0
// elsewhere; dst holds `planes` planes of dst_rows × dst_cols. top and left may be negative,
// which crops the source instead of padding it.
void pad_planes(const float* src, I planes, I rows, I cols, float* dst, I dst_rows, I dst_cols,
                I top, I left) {
  const I r0 = std::max<I>(0, top), r1 = std::min(dst_rows, rows + top);
  const I s0 = std::max<I>(0, left), s1 = std::min(dst_cols, cols + left);
  for (I p = 0; p < planes; ++p) {
    float* d = dst + p * dst_rows * dst_cols;
    std::fill_n(d, dst_rows * dst_cols, 0.0f);
    for (I r = r0; r < r1 && s0 < s1; ++r)
      std::copy_n(src + (p * rows + r - top) * cols + (s0 - left), s1 - s0, d + r * dst_cols + s0);
  }
}

// A kernel tap t = (c, a, b) meets the padded pixel (c, i + a, j + b) when it computes output
// pixel (i, j). In a stack of C planes of Hp × Wp that pixel is `offset(t) + i·Wp + j` floats
// from the start, with offset(t) = (c·Hp + a)·Wp + b. The loops below walk the taps in the
// weights' order [c][a][b] through this list of offsets.
std::vector<I> tap_offsets(I C, I kH, I kW, I Hp, I Wp) {
  std::vector<I> offsets;
  for (I c = 0; c < C; ++c)
    for (I a = 0; a < kH; ++a)
      for (I b = 0; b < kW; ++b) offsets.push_back((c * Hp + a) * Wp + b);
  return offsets;
}

// ---- the correlation: forward pass and input gradient ----------------------------------
//
//   out[o][i][j] = Σ_c Σ_a Σ_b k[o][c][a][b] · in[c][i + a][j + b]      (i < oH, j < oW)
//
// computed in blocks of OB output channels × RB output rows × W output columns. `in` is C
// zero-padded planes of Hp × Wp, with Hp ≥ round_up(oH, RB) + kH − 1 and Wp ≥ round_up(oW,
// W) + kW − 1 so that every block reads inside its plane; `out` is O planes of oH × oW; k is
// [round_up(O, OB)][C·kH·kW], zero past channel O. (The results for channels, rows and
// columns past the end are computed from zeros and not stored.)
struct Correlation {
  const float* in;
  I Wp;
  const I* taps;  // tap_offsets(C, kH, kW, Hp, Wp)
  I T;            // C·kH·kW
  const float* k;
  I O;
  float* out;
  I oH, oW;
};

template <int W, int OB, int RB>
[[gnu::always_inline]] inline void correlate(const Correlation& s) {
  using V = typename Simd<W>::V;
  for (I o = 0; o < s.O; o += OB)
    for (I i = 0; i < s.oH; i += RB)
      for (I j = 0; j < s.oW; j += W) {
        // acc[ob][r] = out[o + ob][i + r][j … j + W − 1]: each tap adds its weight times the
        // W padded pixels it meets.
        V acc[OB][RB] = {};
        const float* corner = s.in + i * s.Wp + j;  // where tap (0, 0, 0) meets pixel (i, j)
        const float* k = s.k + o * s.T;
        for (I t = 0; t < s.T; ++t)
          for (int r = 0; r < RB; ++r) {
            const V pixels = load<W>(corner + s.taps[t] + r * s.Wp);
            for (int ob = 0; ob < OB; ++ob) acc[ob][r] += k[ob * s.T + t] * pixels;
          }
        const I rows = std::min<I>(RB, s.oH - i), cols = std::min<I>(W, s.oW - j);
        for (int ob = 0; ob < OB && o + ob < s.O; ++ob)
          for (int r = 0; r < rows; ++r)
            store<W>(s.out + ((o + ob) * s.oH + i + r) * s.oW + j, acc[ob][r], cols);
      }
}

// ---- the weight gradient ---------------------------------------------------------------
//
//   gw[o][c][a][b] += Σ_i Σ_j g[o][i][j] · in[c][i + a][j + b]
//
// `in` as above; g is O planes of oH rows, each row Jp = round_up(oW, W) long and zero past
// oW, so that whole runs of W can be read; taps = tap_offsets(…) as above.
struct WeightGrad {
  const float* g;
  I O, oH, Jp;
  const float* in;
  I Wp;
  const I* taps;
  I T;  // number of taps, C·kH·kW
  float* gw;
};

// Output channels o … o + OB − 1 and taps t … t + TB − 1: OB × TB registers, each a W-lane
// partial dot product, summed across lanes at the end.
template <int W, int OB, int TB>
[[gnu::always_inline]] inline void weight_grad_block(const WeightGrad& s, I o, I t) {
  using V = typename Simd<W>::V;
  V acc[OB][TB] = {};
  const float* x[TB];  // where each tap's pixels start
  for (int tb = 0; tb < TB; ++tb) x[tb] = s.in + s.taps[t + tb];
  for (I i = 0; i < s.oH; ++i)
    for (I j = 0; j < s.Jp; j += W) {
      V g[OB];  // W output gradients of each output channel
      for (int ob = 0; ob < OB; ++ob) g[ob] = load<W>(s.g + ((o + ob) * s.oH + i) * s.Jp + j);
      for (int tb = 0; tb < TB; ++tb) {
        const V pixels = load<W>(x[tb] + i * s.Wp + j);
        for (int ob = 0; ob < OB; ++ob) acc[ob][tb] += g[ob] * pixels;
      }
    }
  for (int ob = 0; ob < OB; ++ob)
    for (int tb = 0; tb < TB; ++tb) {
      float sum = 0;
      for (int l = 0; l < W; ++l) sum += acc[ob][tb][l];
      s.gw[(o + ob) * s.T + t + tb] += sum;
    }
}

// Output channels o … o + OB − 1, all taps, in blocks of TB taps.
template <int W, int OB, int TB>
[[gnu::always_inline]] inline void weight_grad_channels(const WeightGrad& s, I o) {
  I t = 0;
  for (; t + TB <= s.T; t += TB) weight_grad_block<W, OB, TB>(s, o, t);
  for (; t < s.T; ++t) weight_grad_block<W, OB, 1>(s, o, t);  // the taps left over
}

// Output channels `from` … O − 1 in blocks of OB. The fewer than OB left over go on in
// smaller blocks, OB − 1 first. One at a time, a channel's sums are a single chain of
// dependent additions: for 32 channels in blocks of 3, the 2 left over had made the whole
// weight gradient about a fifth slower.
template <int W, int OB, int TB>
[[gnu::always_inline]] inline void weight_grad(const WeightGrad& s, I from = 0) {
  I o = from;
  for (; o + OB <= s.O; o += OB) weight_grad_channels<W, OB, TB>(s, o);
  if constexpr (OB > 1)
    if (o < s.O) weight_grad<W, OB - 1, TB>(s, o);
}

// ---- one copy of the loops per instruction set -----------------------------------------
//
// The block sizes fill the SIMD registers without spilling: AVX-512 has 32 registers of 16
// floats, AVX2 16 of 8, SSE2 16 of 4. The register width and the correlation's block also
// set how the scratch and the weights are padded, so they travel with the functions.
struct Kernels {
  int lanes;           // W
  int channels, rows;  // the correlation's block: OB output channels × RB output rows
  void (*correlate)(const Correlation&);
  void (*weight_grad)(const WeightGrad&);
};

[[gnu::target("avx512f,avx2,fma")]] void correlate_avx512(const Correlation& s) {
  correlate<16, 4, 4>(s);
}
[[gnu::target("avx512f,avx2,fma")]] void weight_grad_avx512(const WeightGrad& s) {
  weight_grad<16, 4, 6>(s);
}
[[gnu::target("avx2,fma")]] void correlate_avx2(const Correlation& s) { correlate<8, 4, 2>(s); }
[[gnu::target("avx2,fma")]] void weight_grad_avx2(const WeightGrad& s) {
  weight_grad<8, 3, 4>(s);
}
void correlate_sse2(const Correlation& s) { correlate<4, 4, 2>(s); }
void weight_grad_sse2(const WeightGrad& s) { weight_grad<4, 3, 3>(s); }

const Kernels& kernels_for_this_cpu() {
  static const Kernels avx512{16, 4, 4, correlate_avx512, weight_grad_avx512};
  static const Kernels avx2{8, 4, 2, correlate_avx2, weight_grad_avx2};
  static const Kernels sse2{4, 4, 2, correlate_sse2, weight_grad_sse2};
  const int lanes = simd::widest();
  return lanes == 16 ? avx512 : lanes == 8 ? avx2 : sse2;
}

// Scratch memory, kept per thread between calls (the helpers are long-lived too); two slots.
float* scratch(int slot, I count) {
  thread_local std::vector<float> buffers[2];
  std::vector<float>& b = buffers[slot];
  if (static_cast<I>(b.size()) < count) b.resize(count);
  return b.data();
}

// The padded copy of one group of one image, as forward and weight gradient read it:
// rows = oH + kH − 1 (= H + 2·pH) plus `extra` zero rows at the bottom, cols = round_up(oW,
// lanes) + kW − 1 (≥ W + 2·pW).
struct PaddedImage {
  I rows, cols;
  PaddedImage(const ConvGeometry& g, I extra, I lanes)
      : rows(g.out_h + g.kernel_h - 1 + extra), cols(round_up(g.out_w, lanes) + g.kernel_w - 1) {}
};

}  // namespace

bool suits(const ConvGeometry& g) {
  const I taps = g.in_channels / g.groups * g.kernel_h * g.kernel_w;
  return g.stride_h == 1 && g.stride_w == 1 && g.dilation_h == 1 && g.dilation_w == 1 &&
         taps <= 1152;
}

void conv2d_forward(const float* x, const float* w, float* y, const ConvGeometry& g) {
  const I cg = g.in_channels / g.groups, og = g.out_channels / g.groups;
  const I taps = cg * g.kernel_h * g.kernel_w;
  const Kernels& kernel = kernels_for_this_cpu();
  // Each group's weights, followed by zeros up to a whole block of output channels.
  const I og_padded = round_up(og, kernel.channels);
  std::vector<float> weights(static_cast<std::size_t>(g.groups * og_padded * taps), 0.0f);
  for (I group = 0; group < g.groups; ++group)
    std::copy_n(w + group * og * taps, og * taps, weights.data() + group * og_padded * taps);
  const PaddedImage pad(g, round_up(g.out_h, kernel.rows) - g.out_h, kernel.lanes);
  const std::vector<I> offsets = tap_offsets(cg, g.kernel_h, g.kernel_w, pad.rows, pad.cols);
  parallel_for(g.batch, [&](I n) {  // one task per image
    float* in = scratch(0, cg * pad.rows * pad.cols);
    for (I group = 0; group < g.groups; ++group) {
      pad_planes(x + (n * g.in_channels + group * cg) * g.height * g.width, cg, g.height,
                 g.width, in, pad.rows, pad.cols, g.pad_h, g.pad_w);
      kernel.correlate({in, pad.cols, offsets.data(), taps,
                        weights.data() + group * og_padded * taps, og,
                        y + (n * g.out_channels + group * og) * g.out_h * g.out_w, g.out_h,
                        g.out_w});
    }
  });
}

// gx[n,c,r,s] = Σ_o Σ_a Σ_b w[o,c,a,b] · gy[n,o,r+p−a,s+p−b]. With a' = kH−1−a, b' = kW−1−b
// this is a correlation again: of gy, padded by kH−1−p rows and kW−1−p columns, with the
// flipped kernel w'[c,o,a',b'] = w[o,c,kH−1−a',kW−1−b'] (input and output channels swapped).
void conv2d_input_grad(const float* gy, const float* w, float* gx, const ConvGeometry& g) {
  const I cg = g.in_channels / g.groups, og = g.out_channels / g.groups;
  const I kh = g.kernel_h, kw = g.kernel_w, taps = og * kh * kw;  // taps of w'
  const Kernels& kernel = kernels_for_this_cpu();
  const I cg_padded = round_up(cg, kernel.channels);
  std::vector<float> flipped(static_cast<std::size_t>(g.groups * cg_padded * taps), 0.0f);
  for (I group = 0; group < g.groups; ++group)
    for (I o = 0; o < og; ++o)
      for (I c = 0; c < cg; ++c)
        for (I a = 0; a < kh; ++a)
          for (I b = 0; b < kw; ++b)
            flipped[(((group * cg_padded + c) * og + o) * kh + kh - 1 - a) * kw + kw - 1 - b] =
                w[(((group * og + o) * cg + c) * kh + a) * kw + b];
  const I rows = round_up(g.height, kernel.rows) + kh - 1;
  const I cols = round_up(g.width, kernel.lanes) + kw - 1;
  const std::vector<I> offsets = tap_offsets(og, kh, kw, rows, cols);
  parallel_for(g.batch, [&](I n) {  // one task per image
    float* in = scratch(0, og * rows * cols);
    for (I group = 0; group < g.groups; ++group) {
      pad_planes(gy + (n * g.out_channels + group * og) * g.out_h * g.out_w, og, g.out_h,
                 g.out_w, in, rows, cols, kh - 1 - g.pad_h, kw - 1 - g.pad_w);
      kernel.correlate({in, cols, offsets.data(), taps,
                        flipped.data() + group * cg_padded * taps, cg,
                        gx + (n * g.in_channels + group * cg) * g.height * g.width, g.height,
                        g.width});
    }
  });
}

void conv2d_weight_grad(const float* x, const float* gy, float* gw, const ConvGeometry& g) {
  const I cg = g.in_channels / g.groups, og = g.out_channels / g.groups;
  const I taps = cg * g.kernel_h * g.kernel_w, size = g.out_channels * taps;
  const Kernels& kernel = kernels_for_this_cpu();
  const PaddedImage pad(g, 0, kernel.lanes);
  const I Jp = round_up(g.out_w, kernel.lanes);
  const std::vector<I> offsets = tap_offsets(cg, g.kernel_h, g.kernel_w, pad.rows, pad.cols);
  // gw is a sum over the batch. The batch is cut into `chunks` runs of images, each summed
  // into its own partial gw, and the partial sums are added in order at the end: the result
  // does not depend on which thread took which chunk.
  const I chunks = std::min<I>(g.batch, 16);
  std::vector<float> partial(static_cast<std::size_t>(chunks * size), 0.0f);
  parallel_for(chunks, [&](I chunk) {
    float* in = scratch(0, cg * pad.rows * pad.cols);
    for (I n = g.batch * chunk / chunks; n < g.batch * (chunk + 1) / chunks; ++n)
      for (I group = 0; group < g.groups; ++group) {
        pad_planes(x + (n * g.in_channels + group * cg) * g.height * g.width, cg, g.height,
                   g.width, in, pad.rows, pad.cols, g.pad_h, g.pad_w);
        // gy's rows as they are when they hold whole runs of W, else a copy with zeros added
        const float* rows = gy + (n * g.out_channels + group * og) * g.out_h * g.out_w;
        if (Jp != g.out_w) {
          float* copy = scratch(1, og * g.out_h * Jp);
          pad_planes(rows, og, g.out_h, g.out_w, copy, g.out_h, Jp, 0, 0);
          rows = copy;
        }
        kernel.weight_grad({rows, og, g.out_h, Jp, in, pad.cols, offsets.data(), taps,
                         partial.data() + chunk * size + group * og * taps});
      }
  });
  std::fill_n(gw, size, 0.0f);
  for (I chunk = 0; chunk < chunks; ++chunk)
    for (I i = 0; i < size; ++i) gw[i] += partial[chunk * size + i];
}

}  // namespace gradlab::kernels::direct
