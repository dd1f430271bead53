// Loops shared by the ops: dtype dispatch, elementwise maps with NumPy broadcasting, and
// reduction to a broadcast-compatible shape. Ops call these; learners can skip this file.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "engine/graph.hpp"
#include "engine/parallel.hpp"
#include "engine/tensor.hpp"

namespace gradlab::kernels {

// Calls f(T{}) with T = float or double, following dtype:
//   dispatch(x.dtype(), [&]<class T>(T) { … x.data<T>() … });
template <class F>
decltype(auto) dispatch(DType dtype, F&& f) {
  if (dtype == DType::float32) return f(float{});
  return f(double{});
}

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

// When `part` is `whole`'s last axes (leading 1s aside), as a bias row is to a batch of
// rows: how many times it repeats in `whole`. 0 when it is not, or when part has one element.
inline std::int64_t repeats_of(const Shape& whole, const Shape& part) {
  std::size_t skip = 0;
  while (skip < part.size() && part[skip] == 1) ++skip;
  const std::size_t k = part.size() - skip;
  if (k == 0 || k > whole.size()) return 0;
  for (std::size_t i = 0; i < k; ++i)
    if (part[skip + i] != whole[whole.size() - k + i]) return 0;
  std::int64_t rows = 1;
  for (std::size_t i = 0; i + k < whole.size(); ++i) rows *= whole[i];
  return rows;
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
  std::vector<std::int64_t> index(d, 0);
  std::int64_t ia = 0, ib = 0;
  for (std::int64_t i = 0; i < n; i += inner) {
    for (std::int64_t j = 0; j < inner; ++j) f(i + j, ia + j * step_a, ib + j * step_b);
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

// out = f(a, b) elementwise with broadcasting.
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
  Tensor out = empty(shape, a.dtype());
  dispatch(a.dtype(), [&]<class T>(T) {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* o = out.data<T>();
    const std::int64_t n = out.numel();
    if (b.numel() == 1 && a.numel() == n) {
      const T s = pb[0];
      for (std::int64_t i = 0; i < n; ++i) o[i] = f(pa[i], s);
    } else if (a.numel() == 1 && b.numel() == n) {
      const T s = pa[0];
      for (std::int64_t i = 0; i < n; ++i) o[i] = f(s, pb[i]);
    } else if (const std::int64_t rows = repeats_of(shape, b.shape()); rows && a.numel() == n) {
      const std::int64_t inner = b.numel();  // b is a row, added to each of a's (a bias)
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < inner; ++j) o[r * inner + j] = f(pa[r * inner + j], pb[j]);
    } else if (const std::int64_t rows = repeats_of(shape, a.shape()); rows && b.numel() == n) {
      const std::int64_t inner = a.numel();
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < inner; ++j) o[r * inner + j] = f(pa[j], pb[r * inner + j]);
    } else {
      broadcast_loop(
          shape, broadcast_strides(a.shape(), shape), broadcast_strides(b.shape(), shape),
          [&](std::int64_t i, std::int64_t ia, std::int64_t ib) { o[i] = f(pa[ia], pb[ib]); });
    }
  });
  return out;
}

// Note [Fused formulas]
// A backward formula such as σ's, G ∘ s ∘ (1 − s), written with gradlab's ops, makes a
// tensor for every step: 1 − s, G ∘ s, and their product. That is what lets a recorded
// backward pass be differentiated again, but when nothing is being recorded (a plain
// backward()) those tensors are pure cost. So a formula is written once, generically,
//     fused([](auto g, auto s) { return g * s * (1 - s); }, c.grad, c.output)
// and evaluated one of two ways: on the tensors, as ops, when grad mode is on and one of
// them requires grad (the steps are recorded); otherwise on their numbers, one element at
// a time in a single loop, when they share one shape and dtype. Anything else (broadcast
// operands, mixed dtypes) takes the first way, which also reports the errors; so does
// detect_anomaly, so that it can name the very step that made a NaN.
template <class F, class... Ts>
Tensor fused(F&& f, const Tensor& first, const Ts&... rest) {
  const bool recorded = records(first, rest...);
  const bool alike = ((rest.shape() == first.shape() && rest.dtype() == first.dtype()) && ...);
  if (recorded || !alike || detail::modes.anomaly) return f(first, rest...);
  Tensor out = empty_like(first);
  dispatch(first.dtype(), [&]<class T>(T) {
    T* o = out.data<T>();
    const T* p = first.data<T>();
    const std::tuple q{rest.template data<T>()...};
    for_each_piece(out.numel(), [&](std::int64_t begin, std::int64_t end) {
#pragma GCC ivdep  // out is new: it overlaps none of the inputs, so the loop may vectorise
      for (std::int64_t i = begin; i < end; ++i)
        o[i] = static_cast<T>(std::apply([&](const auto*... r) { return f(p[i], r[i]...); }, q));
    });
  });
  return out;
}

// Folds x down to `shape` (which must broadcast to x's shape): every element of x is
// combined into the output element it would be broadcast from. combine(acc, v) → acc.
template <class F>
Tensor reduce_to(const Tensor& x, const Shape& shape, double init, F&& combine) {
  Tensor out = full(shape, init, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    if (numel(shape) == 1) {
      // Everything into one number: each piece of 65536 elements with eight running totals
      // (pieces shared out over the threads), then the pieces' results in order, so that
      // the result is the same with any number of threads.
      constexpr std::int64_t piece = 1 << 16;
      constexpr int lanes = 8;
      const std::int64_t n = x.numel(), pieces = std::max<std::int64_t>(1, (n + piece - 1) / piece);
      SmallVector<T, 4> results(static_cast<std::size_t>(pieces));
      const auto fold = [&](std::int64_t p) {
        const std::int64_t begin = p * piece, end = std::min(n, begin + piece);
        const std::int64_t whole = begin + (end - begin) / lanes * lanes;
        T acc[lanes];
        std::fill_n(acc, lanes, static_cast<T>(init));
        for (std::int64_t i = begin; i < whole; i += lanes)
          for (int k = 0; k < lanes; ++k) acc[k] = combine(acc[k], in[i + k]);
        for (std::int64_t i = whole; i < end; ++i) acc[0] = combine(acc[0], in[i]);
        T r = static_cast<T>(init);
        for (int k = 0; k < lanes; ++k) r = combine(r, acc[k]);
        results[static_cast<std::size_t>(p)] = r;
      };
      if (pieces == 1)
        fold(0);
      else
        parallel_for(pieces, fold);
      for (const T r : results) o[0] = combine(o[0], r);
      return;
    }
    if (const std::int64_t rows = repeats_of(x.shape(), shape)) {
      // Down to x's last axes (a bias's gradient): row after row into one row, each output
      // element still combined in the order of the general loop below.
      const std::int64_t inner = numel(shape);
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t j = 0; j < inner; ++j) o[j] = combine(o[j], in[r * inner + j]);
      return;
    }
    const std::vector<std::int64_t> none(x.dim(), 0);
    broadcast_loop(
        x.shape(), broadcast_strides(shape, x.shape()), none,
        [&](std::int64_t i, std::int64_t io, std::int64_t) { o[io] = combine(o[io], in[i]); });
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

// Normalises an axis that may be negative; throws ValueError naming the op.
std::int64_t normalize_axis(const char* op, std::int64_t axis, std::int64_t rank);

}  // namespace gradlab::kernels
