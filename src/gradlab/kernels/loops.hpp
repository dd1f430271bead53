// Loops shared by the ops: elementwise maps with NumPy broadcasting, and
// reduction to a broadcast-compatible shape. Ops call these; learners can skip this file.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "gradlab/core/parallel.hpp"
#include "gradlab/core/tensor.hpp"

namespace gradlab::kernels {

[[noreturn]] void throw_dtypes_differ(const char* op, const Tensor& a, const Tensor& b);
inline void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) [[unlikely]]
    throw_dtypes_differ(op, a, b);
}

// NumPy broadcasting: shapes are aligned at the right; each axis pair must be equal or
// contain a 1. Throws ShapeError naming the op and both shapes.
Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b);

// Strides (in elements) for reading a tensor of shape `from` as if it had shape `to`:
// broadcast axes get stride 0.
std::vector<std::int64_t> broadcast_strides(const Shape& from, const Shape& to);

// How `part`, a shape that broadcasts to `whole`, is repeated in it, when the axes along
// which it is repeated form one run (axes of size 1 in `whole` aside, `part` aligned at the
// right): `whole` is then [outer, middle, inner] and `part` is [outer, 1, inner], its
// element (o, i) repeated at (o, 0…middle−1, i). A bias row [D] of [N, D] is outer = 1; a
// column [N, 1] of [N, D] is inner = 1; a slice's total [N, 1, K] of [N, M, K] is the
// general case. No value (the general loops then) when the repeats make two runs or more,
// e.g. [1, C, 1] in [N, C, H·W].
struct Blocks {
  std::int64_t outer = 1, middle = 1, inner = 1;
};
inline std::optional<Blocks> blocks_of(const Shape& whole, const Shape& part) {
  if (part.size() > whole.size()) return std::nullopt;
  const std::size_t lead = whole.size() - part.size();
  Blocks b;
  enum { before, within, after } at = before;  // where we are against the run of repeats
  for (std::size_t k = 0; k < whole.size(); ++k) {
    const std::int64_t w = whole[k], p = k < lead ? 1 : part[k - lead];
    if (w == 1) {
      if (p != 1) return std::nullopt;
      continue;
    }
    if (p == 1) {  // repeated along this axis
      if (at == after) return std::nullopt;
      at = within;
      b.middle *= w;
    } else if (p != w) {
      return std::nullopt;
    } else if (at == before) {
      b.outer *= w;
    } else {
      at = after;
      b.inner *= w;
    }
  }
  return b;
}

// Calls f(i, ia, ib) for every row-major position i of `shape`, where ia and ib walk two
// operands with the given strides.
template <class F>
void broadcast_loop(const Shape& shape, const std::vector<std::int64_t>& sa,
                    const std::vector<std::int64_t>& sb, F&& f) {
  const std::int64_t n = numel(shape);
  if (n == 0) return;
  const std::size_t d = shape.size();
  if (d == 0) {
    f(std::int64_t{0}, std::int64_t{0}, std::int64_t{0});
    return;
  }
  const std::int64_t inner = shape[d - 1], step_a = sa[d - 1], step_b = sb[d - 1];
  // The run along the last axis, with its steps known when compiled in the common cases (1:
  // the operand runs along it; 0: it is repeated), so that the loop can vectorise.
  using One = std::integral_constant<std::int64_t, 1>;
  using Zero = std::integral_constant<std::int64_t, 0>;
  const auto run = [&](std::int64_t i, std::int64_t ia, std::int64_t ib, auto step_a, auto step_b) {
    for (std::int64_t j = 0; j < inner; ++j) f(i + j, ia + j * step_a, ib + j * step_b);
  };
  std::vector<std::int64_t> index(d, 0);
  std::int64_t ia = 0, ib = 0;
  for (std::int64_t i = 0; i < n; i += inner) {
    if (step_a == 1 && step_b == 0)
      run(i, ia, ib, One{}, Zero{});
    else if (step_a == 0 && step_b == 0)
      run(i, ia, ib, Zero{}, Zero{});
    else if (step_a == 1 && step_b == 1)
      run(i, ia, ib, One{}, One{});
    else if (step_a == 0 && step_b == 1)
      run(i, ia, ib, Zero{}, One{});
    else
      run(i, ia, ib, step_a, step_b);
    for (std::size_t k = d - 1; k-- > 0;) {  // advance the outer index like an odometer
      ia += sa[k];
      ib += sb[k];
      if (++index[k] < shape[k]) break;
      ia -= sa[k] * shape[k];
      ib -= sb[k] * shape[k];
      index[k] = 0;
    }
  }
}

// for_each_piece's split over the threads, kept out of line so that the small case stays
// small.
template <class F>
[[gnu::noinline]] void in_pieces(std::int64_t n, const F& body) {
  const std::int64_t pieces = num_threads();
  parallel_for(pieces, [&](std::int64_t p) { body(n * p / pieces, n * (p + 1) / pieces); });
}

// Calls body(begin, end) on consecutive pieces of [0, n): one per thread of parallel_for's
// pool when n is large enough to pay for waking them (an elementwise loop over a big
// tensor), otherwise one piece on this thread.
template <class F>
void for_each_piece(std::int64_t n, const F& body) {
  constexpr std::int64_t parallel_elements = 16384;
  if (n < parallel_elements) [[likely]]
    body(std::int64_t{0}, n);
  else
    in_pieces(n, body);
}

// e^x for float32, written so that a loop of it vectorises (std::exp is a call per
// element, and was a tenth of the MLP benchmark's step in its sigmoid):
//   x = n·ln 2 + r with n an integer and |r| ≤ ½ ln 2,   e^x = 2ⁿ · e^r,
// e^r by a polynomial of degree 7 (Cephes's expf coefficients), 2ⁿ as two halves put
// straight into the exponent bits so that each stays a normal float. Within 2 ulp of the
// rounded e^x (tests/test_elementwise.cpp), down into the denormals; ∞ above 88.72, 0 below
// −104, NaN for NaN. (fast_exp(double) is std::exp.)
inline float fast_exp(float x) {
  const float lo = -104.0f, hi = 88.7228394f;
  float v = x > lo ? x : lo;  // (a NaN becomes lo here, and NaN again at the end)
  v = v < hi ? v : hi;
  constexpr float round = 12582912.0f;  // 1.5·2²³: adding it rounds to an integer
  const float n = (v * 1.44269504f + round) - round;
  const float r = (v - n * 0.693359375f) + n * 2.12194440e-4f;  // ln 2 in two parts
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int k = static_cast<int>(n), half = k >> 1;
  const float e = p * std::bit_cast<float>((half + 127) << 23) *
                  std::bit_cast<float>((k - half + 127) << 23);
  const float out = x > hi ? std::numeric_limits<float>::infinity() : x < lo ? 0.0f : e;
  return x == x ? out : x;
}
inline double fast_exp(double x) { return std::exp(x); }

// out[i] = fast_exp(in[i]) for i < n (out may be in): the loop compiled three times, for
// AVX-512, AVX2 and plain x86-64 (SSE2), and the widest this CPU has chosen when it runs;
// `width` 16, 8 or 4 asks for one of them (the tests compare them), 0 for the widest.
// Every copy gives the same bits as fast_exp itself: kernels.cpp is compiled with
// -ffp-contract=off, so that no copy fuses a multiply and an add that another rounds twice.
void exp_floats(const float* in, float* out, std::int64_t n, int width = 0);

// e^x elementwise, x float32 or float64, written into out (x's shape and dtype; it may be
// x itself): float32 by exp_floats, float64 by std::exp; shared out over the threads when
// large.
void exp_into(const Tensor& x, Tensor& out);

// out = f(x) elementwise; f is called with a T and returns a T.
template <class F>
Tensor unary_map(const Tensor& x, F&& f) {
  Tensor out = empty_like(x);
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    for_each_piece(x.numel(), [&](std::int64_t begin, std::int64_t end) {
      for (std::int64_t i = begin; i < end; ++i) o[i] = f(in[i]);
    });
  });
  return out;
}

// binary_map's general loop, the reference its fast paths are tested against
// (tests/test_kernels.cpp): every position of the broadcast shape in row-major order, each
// operand's element found through its broadcast strides.
template <class F>
Tensor binary_map_reference(const char* op, const Tensor& a, const Tensor& b, F&& f) {
  check_same_dtype(op, a, b);
  const Shape shape = broadcast_shapes(op, a.shape(), b.shape());
  Tensor out = empty(shape, a.dtype());
  dispatch(a.dtype(), [&]<class T>(T) {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* o = out.data<T>();
    broadcast_loop(
        shape, broadcast_strides(a.shape(), shape), broadcast_strides(b.shape(), shape),
        [&](std::int64_t i, std::int64_t ia, std::int64_t ib) { o[i] = f(pa[ia], pb[ib]); });
  });
  return out;
}

// out[o, m, i] = f(whole[o, m, i], part[o, i]) over the blocks k of blocks_of (with
// part_first, f(part[o, i], whole[o, m, i])): the general loop's answer, in loops that
// vectorise. out is new, so it overlaps neither input (hence ivdep).
template <bool part_first, class T, class F>
void map_blocks(const Blocks& k, const T* whole, const T* part, T* out, F& f) {
  const auto call = [&f](T w, T p) {
    if constexpr (part_first)
      return f(p, w);
    else
      return f(w, p);
  };
  for (std::int64_t o = 0; o < k.outer; ++o) {
    const T* w = whole + o * k.middle * k.inner;
    T* r = out + o * k.middle * k.inner;
    if (k.inner == 1) {  // one element of part for the whole block, e.g. a row's maximum
      const T p = part[o];
#pragma GCC ivdep
      for (std::int64_t m = 0; m < k.middle; ++m) r[m] = call(w[m], p);
      continue;
    }
    const T* p = part + o * k.inner;
    for (std::int64_t m = 0; m < k.middle; ++m)
#pragma GCC ivdep
      for (std::int64_t i = 0; i < k.inner; ++i)
        r[m * k.inner + i] = call(w[m * k.inner + i], p[i]);
  }
}

// out = f(a, b) elementwise with broadcasting: equal shapes in one loop (shared out over
// the threads when large), one operand repeated along one run of axes of the other in
// blocks (map_blocks: a scalar, a bias row, a column of row maxima), anything else through
// the general loop.
template <class F>
Tensor binary_map(const char* op, const Tensor& a, const Tensor& b, F&& f) {
  check_same_dtype(op, a, b);
  if (a.shape() == b.shape()) {
    Tensor out = empty_like(a);
    dispatch(a.dtype(), [&]<class T>(T) {
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      T* o = out.data<T>();
      for_each_piece(out.numel(), [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) o[i] = f(pa[i], pb[i]);
      });
    });
    return out;
  }
  const Shape shape = broadcast_shapes(op, a.shape(), b.shape());
  const std::int64_t n = numel(shape);
  std::optional<Blocks> blocks;
  if (a.numel() == n) blocks = blocks_of(shape, b.shape());
  const bool a_whole = blocks.has_value();
  if (!a_whole && b.numel() == n) blocks = blocks_of(shape, a.shape());
  if (!blocks || n == 0) return binary_map_reference(op, a, b, f);
  Tensor out = empty(shape, a.dtype());
  dispatch(a.dtype(), [&]<class T>(T) {
    if (a_whole)
      map_blocks<false>(*blocks, a.data<T>(), b.data<T>(), out.data<T>(), f);
    else
      map_blocks<true>(*blocks, b.data<T>(), a.data<T>(), out.data<T>(), f);
  });
  return out;
}

// reduce_to's general loop, the reference its fast paths are tested against
// (tests/test_kernels.cpp): x's elements in row-major order, each combined into the output
// element it would be broadcast from.
template <class F>
Tensor reduce_to_reference(const Tensor& x, const Shape& shape, double init, F&& combine) {
  Tensor out = full(shape, init, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    const std::vector<std::int64_t> none(x.dim(), 0);
    broadcast_loop(
        x.shape(), broadcast_strides(shape, x.shape()), none,
        [&](std::int64_t i, std::int64_t io, std::int64_t) { o[io] = combine(o[io], in[i]); });
  });
  return out;
}

// The run p[0], …, p[n − 1] folded into one value: eight running totals (element i goes to
// total i mod 8, the last n mod 8 to the first), which a loop vectorises, then the totals
// in order. The result depends on n and the numbers only, not on where the run lies; a sum
// differs from the one-by-one order in its last bits.
template <class T, class F>
T fold_run(const T* p, std::int64_t n, T init, const F& combine) {
  constexpr int lanes = 8;
  const std::int64_t whole = n / lanes * lanes;
  T acc[lanes];
  std::fill_n(acc, lanes, init);
  for (std::int64_t i = 0; i < whole; i += lanes)
    for (int k = 0; k < lanes; ++k) acc[k] = combine(acc[k], p[i + k]);
  for (std::int64_t i = whole; i < n; ++i) acc[0] = combine(acc[0], p[i]);
  T r = init;
  for (int k = 0; k < lanes; ++k) r = combine(r, acc[k]);
  return r;
}

// Folds x down to `shape` (which must broadcast to x's shape): every element of x is
// combined into the output element it would be broadcast from. combine(acc, v) → acc.
// Three fast paths beside the general loop, for `shape` repeated in x along one run of
// axes (blocks_of: x = [outer, middle, inner], out = [outer, inner]):
// - everything into one number: pieces of 65536 elements, each folded by fold_run, shared
//   out over the threads;
// - inner = 1 (a sum along the last axes, a row's maximum): each output a contiguous run,
//   eight of them folded side by side;
// - inner > 1 (a bias's gradient, a sum along a middle axis): row after row into one row.
// The last two combine each output's elements in the general loop's own order: the same
// bits (a sum in another order would differ in its last ones, and the tutorials' printed
// digits with it).
template <class F>
Tensor reduce_to(const Tensor& x, const Shape& shape, double init, F&& combine) {
  std::optional<Blocks> blocks = blocks_of(x.shape(), shape);
  if (!blocks && numel(shape) == 1) blocks = Blocks{1, x.numel(), 1};  // shape has more axes
  if (!blocks) return reduce_to_reference(x, shape, init, combine);
  Tensor out = full(shape, init, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    const std::int64_t outer = blocks->outer, middle = blocks->middle, inner = blocks->inner;
    if (numel(shape) == 1) {
      // Each piece folded (pieces shared out over the threads), then the pieces' results in
      // order, so that the result is the same with any number of threads.
      constexpr std::int64_t piece = 1 << 16;
      const std::int64_t n = x.numel(), pieces = std::max<std::int64_t>(1, (n + piece - 1) / piece);
      SmallVector<T, 4> results(static_cast<std::size_t>(pieces));
      const auto fold = [&](std::int64_t p) {
        const std::int64_t begin = p * piece, end = std::min(n, begin + piece);
        results[static_cast<std::size_t>(p)] = fold_run(in + begin, end - begin, static_cast<T>(init), combine);
      };
      if (pieces == 1)
        fold(0);
      else
        parallel_for(pieces, fold);
      for (const T r : results) o[0] = combine(o[0], r);
    } else if (inner == 1) {
      // Eight runs at a time, each folded in order (the general loop's order, so the same
      // bits): eight chains of additions overlap instead of each waiting on the one before.
      constexpr std::int64_t group = 8;
      std::int64_t r = 0;
      for (; r + group <= outer; r += group) {
        T acc[group];
        for (std::int64_t k = 0; k < group; ++k) acc[k] = o[r + k];
        for (std::int64_t m = 0; m < middle; ++m)
          for (std::int64_t k = 0; k < group; ++k) acc[k] = combine(acc[k], in[(r + k) * middle + m]);
        for (std::int64_t k = 0; k < group; ++k) o[r + k] = acc[k];
      }
      for (; r < outer; ++r) {
        T acc = o[r];
        for (std::int64_t m = 0; m < middle; ++m) acc = combine(acc, in[r * middle + m]);
        o[r] = acc;
      }
    } else {
      for (std::int64_t r = 0; r < outer; ++r) {
        T* dst = o + r * inner;
        for (std::int64_t m = 0; m < middle; ++m) {
          const T* src = in + (r * middle + m) * inner;
#pragma GCC ivdep  // out is new: it does not overlap x
          for (std::int64_t j = 0; j < inner; ++j) dst[j] = combine(dst[j], src[j]);
        }
      }
    }
  });
  return out;
}

// C [m×n] = op(A) · op(B) + β·C, row-major, op(X) = Xᵀ when its flag is set: BLAS's GEMM
// (the transposes are read through its flags, never made), split into blocks of rows or
// columns over parallel_for's threads when the product is large enough to pay for them.
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
          const float* a, const float* b, float beta, float* c);
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
          const double* a, const double* b, double beta, double* c);

// Sizes worked out from the caller's options (a padding or stride near 2⁶²) can leave the
// int64 range. Such formulas are written in 128 bits and brought back with checked_size:
// a result past int64 is a ShapeError naming the op and the quantity (`what`), not
// undefined behaviour.
__extension__ typedef __int128 Wide;  // (__extension__: a GCC and clang type, said so)
std::int64_t checked_size(const char* op, const char* what, Wide value);

}  // namespace gradlab::kernels
