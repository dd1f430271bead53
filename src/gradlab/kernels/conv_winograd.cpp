// Winograd's F(2×2, 3×3) for float32 3×3 correlations, stride 1 (see conv_winograd.hpp for
// when it is used). It computes the same sums as kernels::reference:: in
// src/gradlab/kernels/conv_kernels.cpp, with fewer multiplications.
//
// In one dimension: two outputs of a 3-tap correlation of four inputs d0 … d3 with g0 … g2,
//   y0 = d0·g0 + d1·g1 + d2·g2,   y1 = d1·g0 + d2·g1 + d3·g2,
// take four multiplications instead of six:
//   m0 = (d0 − d2)·g0,   m1 = (d1 + d2)·(g0 + g1 + g2)/2,
//   m2 = (d2 − d1)·(g0 − g1 + g2)/2,   m3 = (d1 − d3)·g2,
//   y0 = m0 + m1 + m2,   y1 = m1 − m2 − m3.
// Written with matrices, y = Aᵀ[(G g) ∘ (Bᵀ d)], where ∘ is the Hadamard product and
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
//   Aᵀ = [1 1 1 0; 0 1 −1 −1].
// In two dimensions the same is done along rows and along columns: a 4×4 tile d of the
// image gives the 2×2 outputs
//   Y = Aᵀ [ (G k Gᵀ) ∘ (Bᵀ d B) ] A,
// 16 multiplications instead of 36. Summed over the input channels c, the Hadamard
// products become 16 matrix products, one per position ξ of the 4×4 tile:
//   M[ξ][o][tile] = Σ_c U[ξ][o][c] · V[ξ][c][tile],  U = G k Gᵀ,  V = Bᵀ d B.
// Those matrix products are where the time goes, and they are plain register-blocked loops
// like the direct kernels' (src/gradlab/kernels/conv_direct.cpp). Per image:
//
//  1. Copy the image, zero-padded, with each row's even and odd columns apart. Tile t of a
//     row starts at padded column 2t; its columns 2t, 2t + 1, 2t + 2, 2t + 3 are then the
//     runs even[t …], odd[t …], even[t + 1 …], odd[t + 1 …]: W neighbouring tiles (one SIMD
//     register of W floats) are read with four contiguous loads per row.
//  2. For a block of NB·W tiles: transform them (V = Bᵀ d B) for every input channel.
//  3. For OB output channels at a time: the 16 products into a small buffer M, and then
//     Y = Aᵀ M A, stored to the output's rows.
//
// The blocks stay in the L1 and L2 caches. Images go to gradlab's threads, one at a time.
// The weight gradient, at the end of the file, uses the same transforms the other way round.
// Only an AVX2 + FMA copy of the loops exists: it is the one this machine tests (AVX-512
// CPUs run it too), and other CPUs use the direct kernels.
#include "gradlab/kernels/conv_winograd.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include "gradlab/core/parallel.hpp"
#include "gradlab/kernels/simd.hpp"

namespace gradlab::kernels::winograd {

namespace {

using I = std::int64_t;
using simd::load;
using simd::round_up;
using simd::store;

constexpr int W = 8;     // floats in an AVX2 register
constexpr int OB = 4;    // output channels per block
constexpr int NB = 3;    // registers of tiles per block: OB × NB = 12 accumulators of the 16
constexpr I B = NB * W;  // tiles per block
using V = simd::Simd<W>::V;

// One image's correlation with 3×3 kernels,
//   out[o][i][j] = Σ_c Σ_a Σ_b k[o][c][a][b] · in[c][i − top + a][j − left + b]
// where `in` is C planes of H × Wd, zero outside them, and `out` O planes of oH × oW.
// U holds the kernels transformed, U[ξ][o][c] for o < round_up(O, OB) (zero past O).
struct Correlation {
  const float* in;
  I C, H, Wd, top, left;
  const float* U;
  I O;
  float* out;
  I oH, oW;
};

// Where the tiles are: TI rows of TJ tiles (TJ rounded up to whole registers), read from
// a padded copy of Hp rows, each row `half` even columns followed by `half` odd ones.
struct Tiles {
  I TI, TJ, half, Hp, vectors;  // vectors: registers of W tiles, TI · TJ / W
  explicit Tiles(const Correlation& s)
      : TI((s.oH + 1) / 2),
        TJ(round_up((s.oW + 1) / 2, W)),
        half(TJ + 1),
        Hp(2 * TI + 2),
        vectors(TI * TJ / W) {}
  I row_length() const { return 2 * half; }
  I padded_size(I C) const { return C * Hp * row_length(); }  // as pad_apart writes it
};

// Step 1: out[c][r][(s mod 2)·half + s / 2] = in[c][r − top][s − left] for r < Hp and
// s < 2·half, and 0 outside in's C planes of H × Wd.
void pad_apart(const float* in, I C, I H, I Wd, I top, I left, I Hp, I half, float* out) {
  const I L = 2 * half;
  const I r0 = std::max<I>(0, top), r1 = std::min(Hp, H + top);
  const I s0 = std::max<I>(0, left), s1 = std::min(L, Wd + left);
  for (I c = 0; c < C; ++c)
    for (I r = 0; r < Hp; ++r) {
      float* even = out + (c * Hp + r) * L;
      float* odd = even + half;
      std::fill_n(even, L, 0.0f);  // row by row, while the row is in the L1 cache
      if (r < r0 || r >= r1) continue;
      const float* src = in + (c * H + r - top) * Wd - left;
      for (I k = (s0 + 1) / 2; k < (s1 + 1) / 2; ++k) even[k] = src[2 * k];
      for (I k = s0 / 2; k < s1 / 2; ++k) odd[k] = src[2 * k + 1];
    }
}

// Bᵀ applied to four values in a row (a tile's rows or its columns):
// out = (d0 − d2, d1 + d2, d2 − d1, d1 − d3).
[[gnu::always_inline, gnu::target("avx2,fma")]] inline void input_transform(const V (&d)[4],
                                                                            V (&out)[4]) {
  out[0] = d[0] - d[2];
  out[1] = d[1] + d[2];
  out[2] = d[2] - d[1];
  out[3] = d[1] - d[3];
}

// Step 2: V[ξ][c][v·W + l] = (Bᵀ d B)[ξ] for the tile in lane l of register v0 + v.
// Registers past the last tile get zeros.
[[gnu::target("avx2,fma")]] void transform_tiles(const Correlation& s, const Tiles& t,
                                                 const float* padded, I v0, float* Vt) {
  const I L = t.row_length(), per_row = t.TJ / W;
  for (I c = 0; c < s.C; ++c)
    for (int v = 0; v < NB; ++v) {
      float* dst = Vt + c * B + v * W;  // ξ apart by C·B
      if (v0 + v >= t.vectors) {
        for (int xi = 0; xi < 16; ++xi) store<W>(dst + xi * s.C * B, V{}, W);
        continue;
      }
      const I ti = (v0 + v) / per_row, tj = (v0 + v) % per_row * W;
      V rows[4][4];  // Bᵀ along each of the tile's 4 rows, its columns 2tj … 2tj + 3
      for (int r = 0; r < 4; ++r) {
        const float* even = padded + (c * t.Hp + 2 * ti + r) * L + tj;
        const float* odd = even + t.half;
        input_transform({load<W>(even), load<W>(odd), load<W>(even + 1), load<W>(odd + 1)},
                        rows[r]);
      }
      for (int q = 0; q < 4; ++q) {  // then along its columns
        V out[4];
        input_transform({rows[0][q], rows[1][q], rows[2][q], rows[3][q]}, out);
        for (int p = 0; p < 4; ++p) store<W>(dst + (4 * p + q) * s.C * B, out[p], W);
      }
    }
}

// Lanes 0 … W/2 − 1 of a and b interleaved (a0 b0 a1 b1 …), and lanes W/2 … W − 1.
template <std::size_t... L>
[[gnu::always_inline, gnu::target("avx2,fma")]] inline V zip_low(V a, V b,
                                                                 std::index_sequence<L...>) {
  return __builtin_shufflevector(a, b, (L % 2 ? W + L / 2 : L / 2)...);
}
template <std::size_t... L>
[[gnu::always_inline, gnu::target("avx2,fma")]] inline V zip_high(V a, V b,
                                                                  std::index_sequence<L...>) {
  return __builtin_shufflevector(a, b, (L % 2 ? W + W / 2 + L / 2 : W / 2 + L / 2)...);
}
// One output row of W tiles: left pixels a, right pixels b, the first n of 2·W stored.
[[gnu::always_inline, gnu::target("avx2,fma")]] inline void store_row(float* p, V a, V b, I n) {
  store<W>(p, zip_low(a, b, std::make_index_sequence<W>()), n);
  store<W>(p + W, zip_high(a, b, std::make_index_sequence<W>()), n - W);
}

// Step 3 for output channels o … o + OB − 1 and the block of tiles starting at register v0.
[[gnu::target("avx2,fma")]] void multiply_and_store(const Correlation& s, const Tiles& t,
                                                    const float* Vt, I v0, I o, float* M) {
  const I Op = round_up(s.O, OB);
  for (int xi = 0; xi < 16; ++xi) {
    V acc[OB][NB] = {};
    const float* u = s.U + (xi * Op + o) * s.C;
    const float* v = Vt + xi * s.C * B;
    for (I c = 0; c < s.C; ++c) {
      V tiles[NB];
      for (int nb = 0; nb < NB; ++nb) tiles[nb] = load<W>(v + c * B + nb * W);
      for (int ob = 0; ob < OB; ++ob) {
        const float k = u[ob * s.C + c];
        for (int nb = 0; nb < NB; ++nb) acc[ob][nb] += k * tiles[nb];
      }
    }
    for (int ob = 0; ob < OB; ++ob)
      for (int nb = 0; nb < NB; ++nb) store<W>(M + ((xi * OB + ob) * NB + nb) * W, acc[ob][nb], W);
  }
  const I per_row = t.TJ / W;
  for (int ob = 0; ob < OB && o + ob < s.O; ++ob)
    for (int nb = 0; nb < NB && v0 + nb < t.vectors; ++nb) {
      V m[16];
      for (int xi = 0; xi < 16; ++xi) m[xi] = load<W>(M + ((xi * OB + ob) * NB + nb) * W);
      // Aᵀ along rows, then along columns: y[a][b] for the tile's 2×2 pixels.
      V left[4], right[4];
      for (int p = 0; p < 4; ++p) {
        left[p] = m[4 * p] + m[4 * p + 1] + m[4 * p + 2];
        right[p] = m[4 * p + 1] - m[4 * p + 2] - m[4 * p + 3];
      }
      const I ti = (v0 + nb) / per_row, tj = (v0 + nb) % per_row * W;
      const I i = 2 * ti, n = s.oW - 2 * tj;
      float* row = s.out + ((o + ob) * s.oH + i) * s.oW + 2 * tj;
      store_row(row, left[0] + left[1] + left[2], right[0] + right[1] + right[2], n);
      if (i + 1 < s.oH)
        store_row(row + s.oW, left[1] - left[2] - left[3], right[1] - right[2] - right[3], n);
    }
}

// Scratch memory of at least `count` floats, kept per thread between calls (the pool's
// helpers are long-lived too). The three passes each take it whole, one after the other.
float* scratch(I count) {
  thread_local std::vector<float> buffer;
  if (static_cast<I>(buffer.size()) < count) buffer.resize(count);
  return buffer.data();
}

void correlate(const Correlation& s) {
  const Tiles t(s);
  const I padded_size = t.padded_size(s.C), V_size = 16 * s.C * B, M_size = 16 * OB * B;
  float* padded = scratch(padded_size + V_size + M_size);
  float* Vt = padded + padded_size;
  float* M = Vt + V_size;
  pad_apart(s.in, s.C, s.H, s.Wd, s.top, s.left, t.Hp, t.half, padded);
  for (I v0 = 0; v0 < t.vectors; v0 += NB) {
    transform_tiles(s, t, padded, v0, Vt);
    for (I o = 0; o < s.O; o += OB) multiply_and_store(s, t, Vt, v0, o, M);
  }
}

// U[ξ][o][c] = (G k Gᵀ)[p][q] with ξ = 4p + q, for the 3×3 kernel k[a][b] = kernel(o, c, a, b);
// zero for o ≥ O up to a whole block.
template <class Kernel>
std::vector<float> transform_kernels(I O, I C, Kernel kernel) {
  const I Op = round_up(O, OB);
  std::vector<float> U(static_cast<std::size_t>(16 * Op * C), 0.0f);
  for (I o = 0; o < O; ++o)
    for (I c = 0; c < C; ++c) {
      float Gk[4][3];  // G k
      for (int b = 0; b < 3; ++b) {
        const float k0 = kernel(o, c, 0, b), k1 = kernel(o, c, 1, b), k2 = kernel(o, c, 2, b);
        Gk[0][b] = k0;
        Gk[1][b] = (k0 + k1 + k2) / 2;
        Gk[2][b] = (k0 - k1 + k2) / 2;
        Gk[3][b] = k2;
      }
      for (int p = 0; p < 4; ++p) {
        const float* r = Gk[p];
        const float u[4] = {r[0], (r[0] + r[1] + r[2]) / 2, (r[0] - r[1] + r[2]) / 2, r[2]};
        for (int q = 0; q < 4; ++q) U[((4 * p + q) * Op + o) * C + c] = u[q];
      }
    }
  return U;
}

// ---- the weight gradient ---------------------------------------------------------------
//
// The forward pass is an exact identity, y = Aᵀ [ Σ_c (G k Gᵀ) ∘ V ] A for every tile, so
// differentiating it gives the weight gradient exactly:
//   ∂k[o][c] = Gᵀ ( Σ_tiles Z[o] ∘ V[c] ) G,   Z = A ∂Y Aᵀ,
// where ∂Y is the tile's 2×2 block of the output gradient (zero past the edge). The sum in
// the middle is again 16 matrix products, this time summed over the tiles:
//   ∂U[ξ][o][c] = Σ_tile Z[ξ][o][tile] · V[ξ][tile][c].
// Here V has the channels in the SIMD lanes, from a channels-last copy of the image, so
// that the sum over tiles adds whole registers; Z has neighbouring tiles in the lanes, from
// the output gradient's even and odd columns apart, as in step 1.

constexpr int GOB = 4;  // output channels per block of the products
constexpr I GBT = 64;   // tiles per block

struct GradTiles {
  I TI, TJ, tiles;  // TI rows of TJ tiles (TJ rounded up to whole registers)
  I C, Cp, O, Op;   // channels, rounded up to whole registers and blocks
  I Hp, Sp;         // the channels-last copy: Hp rows of Sp pixels of Cp channels
  // Floats from one ξ to the next in a block's V and Z: one cache line more than a slice
  // holds. (V's slices are 4 KiB for 16 channels; stores 4 KiB apart compete for one set of
  // the L1 cache, and had made the transform 8× slower.)
  I V_step, Z_step;
  explicit GradTiles(const ConvGeometry& g)
      : TI((g.out_h + 1) / 2),
        TJ(round_up((g.out_w + 1) / 2, W)),
        tiles(TI * TJ),
        C(g.in_channels),
        Cp(round_up(C, W)),
        O(g.out_channels),
        Op(round_up(O, GOB)),
        Hp(2 * TI + 2),
        Sp(2 * TJ + 2),
        V_step(GBT * Cp + 16),
        Z_step(Op * GBT + 16) {}
};

// out[r][s][c] = in[c][r − top][s − left], and 0 outside in's C planes of H × Wd or past C.
// Row by row through `rows`, a copy of the C source rows side by side: read straight from
// the planes, 4 KiB apart for 32×32, the C values of a pixel would compete for one set of
// the L1 cache.
void pad_channels_last(const float* in, const GradTiles& t, I H, I Wd, I top, I left, float* rows,
                       float* out) {
  std::fill_n(out, t.Hp * t.Sp * t.Cp, 0.0f);
  const I r0 = std::max<I>(0, top), r1 = std::min(t.Hp, H + top);
  const I s0 = std::max<I>(0, left), s1 = std::min(t.Sp, Wd + left);
  for (I r = r0; r < r1; ++r) {
    for (I c = 0; c < t.C; ++c) std::copy_n(in + (c * H + r - top) * Wd, Wd, rows + c * Wd);
    for (I col = s0; col < s1; ++col) {
      float* dst = out + (r * t.Sp + col) * t.Cp;
      for (I c = 0; c < t.C; ++c) dst[c] = rows[c * Wd + col - left];
    }
  }
}

// V[ξ][tile − t0][c] for the GBT tiles from t0 (zeros past the last), as in step 2.
[[gnu::target("avx2,fma")]] void transform_tiles_channels_last(const GradTiles& t,
                                                               const float* image, I t0,
                                                               float* Vt) {
  for (I k = 0; k < GBT; ++k) {
    const I tile = t0 + k, ti = tile / t.TJ, tj = tile % t.TJ;
    for (I c = 0; c < t.Cp; c += W) {
      float* dst = Vt + k * t.Cp + c;  // ξ apart by V_step
      if (tile >= t.tiles) {
        for (int xi = 0; xi < 16; ++xi) store<W>(dst + xi * t.V_step, V{}, W);
        continue;
      }
      const float* corner = image + (2 * ti * t.Sp + 2 * tj) * t.Cp + c;
      V rows[4][4];
      for (int r = 0; r < 4; ++r) {
        const float* p = corner + r * t.Sp * t.Cp;
        input_transform(
            {load<W>(p), load<W>(p + t.Cp), load<W>(p + 2 * t.Cp), load<W>(p + 3 * t.Cp)}, rows[r]);
      }
      for (int q = 0; q < 4; ++q) {
        V out[4];
        input_transform({rows[0][q], rows[1][q], rows[2][q], rows[3][q]}, out);
        for (int p = 0; p < 4; ++p) store<W>(dst + (4 * p + q) * t.V_step, out[p], W);
      }
    }
  }
}

// A applied to two values (a column or a row of a 2×2 gradient block):
// out = (a, a + b, a − b, −b).
[[gnu::always_inline, gnu::target("avx2,fma")]] inline void gradient_transform(V a, V b,
                                                                               V (&out)[4]) {
  out[0] = a;
  out[1] = a + b;
  out[2] = a - b;
  out[3] = -b;
}

// Z[ξ][o][tile − t0] = (A ∂Y Aᵀ)[ξ] for the GBT tiles from t0; `apart` is the output
// gradient's O planes of 2·TI rows, even columns then odd (pad_apart with half = TJ).
[[gnu::target("avx2,fma")]] void transform_gradients(const GradTiles& t, const float* apart, I t0,
                                                     float* Z) {
  for (I o = 0; o < t.Op; ++o)
    for (I k = 0; k < GBT; k += W) {
      float* dst = Z + o * GBT + k;  // ξ apart by Z_step
      const I tile = t0 + k, ti = tile / t.TJ, tj = tile % t.TJ;
      if (o >= t.O || tile >= t.tiles) {
        for (int xi = 0; xi < 16; ++xi) store<W>(dst + xi * t.Z_step, V{}, W);
        continue;
      }
      const float* even = apart + (o * 2 * t.TI + 2 * ti) * 2 * t.TJ + tj;
      const float* odd = even + t.TJ;
      // A along the columns, (y00, y10) to u and (y01, y11) to v, then along each row.
      V u[4], v[4];
      gradient_transform(load<W>(even), load<W>(even + 2 * t.TJ), u);
      gradient_transform(load<W>(odd), load<W>(odd + 2 * t.TJ), v);
      for (int p = 0; p < 4; ++p) {
        V z[4];
        gradient_transform(u[p], v[p], z);
        for (int q = 0; q < 4; ++q) store<W>(dst + (4 * p + q) * t.Z_step, z[q], W);
      }
    }
}

// ∂U[ξ][o][c] += Σ_tile Z[ξ][o][tile] · V[ξ][tile][c] over one block of tiles, for the
// output channels o … o + GOB − 1 and the CV registers of channels from c.
template <int CV>
[[gnu::always_inline]] inline void multiply_block(const GradTiles& t, const float* Z,
                                                  const float* Vt, I o, I c, float* dU) {
  V acc[GOB][CV] = {};
  for (I k = 0; k < GBT; ++k) {
    V tile[CV];
    for (int cv = 0; cv < CV; ++cv) tile[cv] = load<W>(Vt + k * t.Cp + c + cv * W);
    for (int ob = 0; ob < GOB; ++ob) {
      const float z = Z[(o + ob) * GBT + k];
      for (int cv = 0; cv < CV; ++cv) acc[ob][cv] += z * tile[cv];
    }
  }
  for (int ob = 0; ob < GOB; ++ob)
    for (int cv = 0; cv < CV; ++cv) {
      float* p = dU + (o + ob) * t.Cp + c + cv * W;
      store<W>(p, load<W>(p) + acc[ob][cv], W);
    }
}

[[gnu::target("avx2,fma")]] void multiply_gradients(const GradTiles& t, const float* Z,
                                                    const float* Vt, float* dU) {
  for (int xi = 0; xi < 16; ++xi) {
    const float* z = Z + xi * t.Z_step;
    const float* v = Vt + xi * t.V_step;
    float* u = dU + xi * t.Op * t.Cp;
    for (I o = 0; o < t.Op; o += GOB) {
      I c = 0;
      for (; c + 2 * W <= t.Cp; c += 2 * W) multiply_block<2>(t, z, v, o, c, u);
      if (c < t.Cp) multiply_block<1>(t, z, v, o, c, u);
    }
  }
}

// Gᵀ applied to four values (a column or a row of D below):
// out = (d0 + (d1 + d2)/2, (d1 − d2)/2, (d1 + d2)/2 + d3).
void kernel_transform_back(const float (&d)[4], float (&out)[3]) {
  out[0] = d[0] + (d[1] + d[2]) / 2;
  out[1] = (d[1] - d[2]) / 2;
  out[2] = (d[1] + d[2]) / 2 + d[3];
}

// ∂k[a][b] = (Gᵀ D G)[a][b] for D[p][q] = dU[4p + q][o][c], written to gw[o][c].
void transform_back(const GradTiles& t, const float* dU, float* gw) {
  for (I o = 0; o < t.O; ++o)
    for (I c = 0; c < t.C; ++c) {
      float R[4][3];  // R[q] = Gᵀ along column q of D
      for (int q = 0; q < 4; ++q) {
        const auto D = [&](int p) { return dU[((4 * p + q) * t.Op + o) * t.Cp + c]; };
        kernel_transform_back({D(0), D(1), D(2), D(3)}, R[q]);
      }
      for (int a = 0; a < 3; ++a) {  // then along each row of Gᵀ D
        float k[3];
        kernel_transform_back({R[0][a], R[1][a], R[2][a], R[3][a]}, k);
        std::copy_n(k, 3, gw + ((o * t.C + c) * 3 + a) * 3);
      }
    }
}

}  // namespace

bool suits(const ConvGeometry& g) {
  return g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 1 && g.stride_w == 1 &&
         g.dilation_h == 1 && g.dilation_w == 1 && g.groups == 1 && g.in_channels >= 8 &&
         g.out_channels >= 8 && simd::widest() >= 8;
}

void conv2d_forward(const float* x, const float* w, float* y, const ConvGeometry& g) {
  const I C = g.in_channels, O = g.out_channels;
  const std::vector<float> U =
      transform_kernels(O, C, [&](I o, I c, I a, I b) { return w[((o * C + c) * 3 + a) * 3 + b]; });
  parallel_for(g.batch, [&](I n) {
    correlate({x + n * C * g.height * g.width, C, g.height, g.width, g.pad_h, g.pad_w, U.data(), O,
               y + n * O * g.out_h * g.out_w, g.out_h, g.out_w});
  });
}

// As in the direct kernels: gx is the correlation of gy, padded by 2 − p, with the flipped
// kernel w'[c][o][a][b] = w[o][c][2 − a][2 − b].
void conv2d_input_grad(const float* gy, const float* w, float* gx, const ConvGeometry& g) {
  const I C = g.in_channels, O = g.out_channels;
  const std::vector<float> U = transform_kernels(
      C, O, [&](I c, I o, I a, I b) { return w[((o * C + c) * 3 + 2 - a) * 3 + 2 - b]; });
  parallel_for(g.batch, [&](I n) {
    correlate({gy + n * O * g.out_h * g.out_w, O, g.out_h, g.out_w, 2 - g.pad_h, 2 - g.pad_w,
               U.data(), C, gx + n * C * g.height * g.width, g.height, g.width});
  });
}

void conv2d_weight_grad(const float* x, const float* gy, float* gw, const ConvGeometry& g) {
  const GradTiles t(g);
  const I U_size = 16 * t.Op * t.Cp;
  // As in the direct kernels: the batch in `chunks` runs of images, each summed into its own
  // partial ∂U, and the partial sums added in order, whichever thread took which chunk.
  // (At least one chunk: an empty batch has a gradient of zeros.)
  const I chunks = std::clamp<I>(g.batch, 1, 16);
  std::vector<float> partial(static_cast<std::size_t>(chunks * U_size), 0.0f);
  parallel_for(chunks, [&](I chunk) {
    const I image_size = t.Hp * t.Sp * t.Cp, apart_size = t.O * 2 * t.TI * 2 * t.TJ;
    const I V_size = 16 * t.V_step, Z_size = 16 * t.Z_step, rows_size = t.C * g.width;
    const I size = image_size + apart_size + V_size + Z_size + rows_size;
    float* image = scratch(size);
    float* apart = image + image_size;
    float* Vt = apart + apart_size;
    float* Z = Vt + V_size;
    float* rows = Z + Z_size;
    for (I n = g.batch * chunk / chunks; n < g.batch * (chunk + 1) / chunks; ++n) {
      pad_channels_last(x + n * t.C * g.height * g.width, t, g.height, g.width, g.pad_h, g.pad_w,
                        rows, image);
      pad_apart(gy + n * t.O * g.out_h * g.out_w, t.O, g.out_h, g.out_w, 0, 0, 2 * t.TI, t.TJ,
                apart);
      for (I t0 = 0; t0 < t.tiles; t0 += GBT) {
        transform_tiles_channels_last(t, image, t0, Vt);
        transform_gradients(t, apart, t0, Z);
        multiply_gradients(t, Z, Vt, partial.data() + chunk * U_size);
      }
    }
  });
  for (I chunk = 1; chunk < chunks; ++chunk)
    for (I i = 0; i < U_size; ++i) partial[i] += partial[chunk * U_size + i];
  transform_back(t, partial.data(), gw);
}

}  // namespace gradlab::kernels::winograd
