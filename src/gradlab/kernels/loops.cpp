#include "gradlab/kernels/loops.hpp"

#include <limits>

#include <cblas.h>

#include <algorithm>

#include "gradlab/core/parallel.hpp"

namespace gradlab::kernels {

namespace {

CBLAS_TRANSPOSE flag(bool transposed) { return transposed ? CblasTrans : CblasNoTrans; }

void blas_gemm(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b,
               int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, flag(ta), flag(tb), m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}
void blas_gemm(bool ta, bool tb, int m, int n, int k, const double* a, int lda, const double* b,
               int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, flag(ta), flag(tb), m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}

// Below about a million multiply-adds a product is over before a second thread has woken.
constexpr double parallel_flops = 1 << 21;

// Below this many multiply-adds (the seed network's products have a dozen) the loop below
// is done before a BLAS call has even chosen its kernel.
constexpr std::int64_t blas_products = 256;

// The textbook loop, for the smallest products: C[i, j] = Σ_r op(A)[i, r] · op(B)[r, j].
template <class T>
void small_gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a,
                const T* b, T beta, T* c) {
  // op(A)[i, r] is a[i·ai + r·ar]; op(B)[r, j] is b[r·br + j·bj].
  const std::int64_t ai = ta ? 1 : k, ar = ta ? m : 1, br = tb ? 1 : n, bj = tb ? k : 1;
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      T total = 0;
      for (std::int64_t r = 0; r < k; ++r) total += a[i * ai + r * ar] * b[r * br + j * bj];
      c[i * n + j] = beta == T(0) ? total : total + beta * c[i * n + j];
    }
}

template <class T>
void split_gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a,
                const T* b, T beta, T* c) {
  if (m * n * k <= blas_products) return small_gemm(ta, tb, m, n, k, a, b, beta, c);
  blas_single_threaded();
  const std::int64_t lda = ta ? m : k, ldb = tb ? k : n;
  // Each block is C's rows [r, r + rows) (op(A)'s rows) or columns [j, j + cols) (op(B)'s
  // columns): a product of its own, one BLAS call.
  const auto rows = [&](std::int64_t r, std::int64_t count) {
    blas_gemm(ta, tb, count, n, k, ta ? a + r : a + r * lda, lda, b, ldb, beta, c + r * n, n);
  };
  const auto cols = [&](std::int64_t j, std::int64_t count) {
    blas_gemm(ta, tb, m, count, k, a, lda, tb ? b + j * ldb : b + j, ldb, beta, c + j, n);
  };
  const bool by_rows = m >= n;
  const std::int64_t extent = by_rows ? m : n;
  const std::int64_t blocks =
      2.0 * m * n * k < parallel_flops ? 1 : std::min<std::int64_t>(num_threads(), extent / 16);
  if (blocks <= 1) return rows(0, m);
  parallel_for(blocks, [&](std::int64_t block) {
    const std::int64_t first = extent * block / blocks, last = extent * (block + 1) / blocks;
    by_rows ? rows(first, last - first) : cols(first, last - first);
  });
}

}  // namespace

void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
          const float* a, const float* b, float beta, float* c) {
  split_gemm(trans_a, trans_b, m, n, k, a, b, beta, c);
}
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
          const double* a, const double* b, double beta, double* c) {
  split_gemm(trans_a, trans_b, m, n, k, a, b, beta, c);
}

namespace {

// One loop, inlined into each copy below and compiled for its instruction set.
[[gnu::always_inline]] inline void exp_loop(const float* in, float* out, std::int64_t n) {
#pragma GCC ivdep  // out is in, or does not overlap it: no element depends on another
  for (std::int64_t i = 0; i < n; ++i) out[i] = fast_exp(in[i]);
}
[[gnu::target("avx512f")]] void exp_avx512(const float* in, float* out, std::int64_t n) {
  exp_loop(in, out, n);
}
[[gnu::target("avx2")]] void exp_avx2(const float* in, float* out, std::int64_t n) {
  exp_loop(in, out, n);
}
void exp_sse2(const float* in, float* out, std::int64_t n) { exp_loop(in, out, n); }

int widest_exp() {
  static const int width = __builtin_cpu_supports("avx512f") ? 16
                           : __builtin_cpu_supports("avx2")  ? 8
                                                             : 4;
  return width;
}

}  // namespace

void exp_floats(const float* in, float* out, std::int64_t n, int width) {
  switch (width ? width : widest_exp()) {
    case 16: return exp_avx512(in, out, n);
    case 8: return exp_avx2(in, out, n);
    default: return exp_sse2(in, out, n);
  }
}

void exp_into(const Tensor& x, Tensor& out) {
  // Vectorised, 16384 float32 exponentials take a few µs, about what it costs to wake the
  // second thread (and more when the machine is busy): only four times for_each_piece's
  // count are shared out.
  constexpr std::int64_t parallel_elements = 1 << 16;
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    const auto piece = [&](std::int64_t begin, std::int64_t end) {
      if constexpr (std::is_same_v<T, float>)
        exp_floats(in + begin, o + begin, end - begin);
      else
        for (std::int64_t i = begin; i < end; ++i) o[i] = std::exp(in[i]);
    };
    if (x.numel() < parallel_elements)
      piece(0, x.numel());
    else
      in_pieces(x.numel(), piece);
  });
}

void throw_dtypes_differ(const char* op, const Tensor& a, const Tensor& b) {
  throw DTypeError(std::string(op) + ": dtypes differ: " + to_string(a.dtype()) + " " +
                     to_string(a.shape()) + " and " + to_string(b.dtype()) + " " +
                     to_string(b.shape()) + " (convert one with to())");
}

Shape broadcast_shapes(const char* op, const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (std::size_t k = 0; k < rank; ++k) {
    // Align at the right: axis k of the result is axis k - (rank - size) of each operand.
    const std::int64_t da = k + a.size() >= rank ? a[k + a.size() - rank] : 1;
    const std::int64_t db = k + b.size() >= rank ? b[k + b.size() - rank] : 1;
    if (da != db && da != 1 && db != 1)
      throw ShapeError(std::string(op) + ": shapes cannot be broadcast together: " + to_string(a) +
                       " and " + to_string(b));
    out[k] = da == 1 ? db : da;
  }
  return out;
}

std::vector<std::int64_t> broadcast_strides(const Shape& from, const Shape& to) {
  std::vector<std::int64_t> strides(to.size(), 0);
  std::int64_t stride = 1;
  for (std::size_t k = from.size(); k-- > 0;) {
    const std::size_t j = k + to.size() - from.size();
    strides[j] = from[k] == 1 ? 0 : stride;
    stride *= from[k];
  }
  return strides;
}

std::int64_t checked_size(const char* op, const char* what, Wide value) {
  if (value > std::numeric_limits<std::int64_t>::max() ||
      value < std::numeric_limits<std::int64_t>::min()) [[unlikely]]
    throw ShapeError(std::string(op) + ": " + what + " is past the int64 range (" +
                     (value > 0 ? "above 2^63 - 1" : "below -2^63") +
                     "): the sizes or options are too large");
  return static_cast<std::int64_t>(value);
}

}  // namespace gradlab::kernels
