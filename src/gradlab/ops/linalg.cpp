#include "gradlab/ops/linalg.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <cblas.h>

#include "gradlab/core/graph.hpp"
#include "gradlab/kernels/loops.hpp"
#include "gradlab/core/parallel.hpp"
#include "gradlab/ops/elementwise.hpp"
#include "gradlab/ops/matmul.hpp"
#include "gradlab/ops/shape.hpp"

namespace gradlab {

namespace {

// The matrices of x, a matrix [n, n] or a batch [B, n, n]; refused otherwise.
struct Square {
  std::int64_t batch, n;
};
Square check_square(const char* op, const Tensor& x, const char* what = "") {
  const Shape& s = x.shape();
  if ((s.size() != 2 && s.size() != 3) || s[s.size() - 1] != s[s.size() - 2])
    throw ShapeError(std::string(op) + ": needs a square matrix [n, n] or a batch of them [B, n, n], got " +
                     what + to_string(s));
  return {s.size() == 3 ? s[0] : 1, s.back()};
}

// Note [LU with partial pivoting]
// P·A = L·U, computed in float64 (a float32 matrix too, then rounded once): at step k the
// largest |entry| of column k at or below the diagonal is swapped up as the pivot, and the
// rows below subtract multiples of it. det A = ±Π Uₖₖ (the sign of the row swaps). A pivot
// at most n·ε·max|Aᵢⱼ| (ε of the matrix's dtype) is 0 to working precision: the matrix is
// singular, and an inverse computed from it would be rounding noise of size 1/pivot.
struct LU {
  std::int64_t n = 0;
  std::vector<double> lu;            // L below the diagonal (its unit diagonal implied), U on and above
  std::vector<std::int64_t> rows;    // row k of P·A is row rows[k] of A
  double det = 1;
  std::int64_t singular_at = -1;     // the first pivot that is 0 to working precision, or -1
};

// Columns [c, c + w) of f.lu, from row c down, factored in place (rows swapped whole),
// once every column left of c has been subtracted from them. Narrow panels take the
// textbook loop: pivot, swap, the column of L, the rows below less multiples of the pivot's
// row (within the panel). Wider ones are halved (the recursive LU): the left half is
// factored, then the right half brought up to date, U₁₂ = L₁₁⁻¹A₁₂ and A₂₂ −= L₂₁U₁₂ (BLAS's
// dtrsm and dgemm: where a 64 × 64 matrix spends its time), then factored in turn. Same
// pivots, same factors as the textbook loop over all columns, to rounding.
void factor_panel(LU& f, double tiny, std::int64_t c, std::int64_t w) {
  const std::int64_t n = f.n;
  double* m = f.lu.data();
  if (w <= 8 || n < 16) {
    for (std::int64_t k = c; k < c + w; ++k) {
      std::int64_t p = k;
      for (std::int64_t i = k + 1; i < n; ++i)
        if (std::abs(m[i * n + k]) > std::abs(m[p * n + k])) p = i;
      if (p != k) {
        for (std::int64_t j = 0; j < n; ++j) std::swap(m[k * n + j], m[p * n + j]);
        std::swap(f.rows[k], f.rows[p]);
        f.det = -f.det;
      }
      const double pivot = m[k * n + k];
      f.det *= pivot;
      if (std::abs(pivot) <= tiny && f.singular_at < 0) f.singular_at = k;
      if (pivot == 0) continue;  // the column is already 0 below the diagonal
      for (std::int64_t i = k + 1; i < n; ++i) {
        const double l = m[i * n + k] / pivot;
        m[i * n + k] = l;
        for (std::int64_t j = k + 1; j < c + w; ++j) m[i * n + j] -= l * m[k * n + j];
      }
    }
    return;
  }
  const std::int64_t h = w / 2, below = n - c - h;
  factor_panel(f, tiny, c, h);
  const int ld = static_cast<int>(n);
  blas_single_threaded();
  cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasUnit, static_cast<int>(h),
              static_cast<int>(w - h), 1.0, m + c * n + c, ld, m + c * n + c + h, ld);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(below),
              static_cast<int>(w - h), static_cast<int>(h), -1.0, m + (c + h) * n + c, ld,
              m + c * n + c + h, ld, 1.0, m + (c + h) * n + c + h, ld);
  factor_panel(f, tiny, c + h, w - h);
}

LU factor(const double* a, std::int64_t n, DType dtype) {
  LU f{n, std::vector<double>(a, a + n * n), std::vector<std::int64_t>(n), 1, -1};
  double scale = 0;
  for (double v : f.lu) scale = std::max(scale, std::abs(v));
  const double eps = dtype == DType::float32 ? std::numeric_limits<float>::epsilon()
                                             : std::numeric_limits<double>::epsilon();
  const double tiny = static_cast<double>(n) * eps * scale;
  for (std::int64_t k = 0; k < n; ++k) f.rows[k] = k;
  factor_panel(f, tiny, 0, n);
  return f;
}

// x's numbers as float64 (Tensor::values, without its per-element call).
std::vector<double> doubles(const Tensor& x) {
  return dispatch(x.dtype(), [&]<class T>(T) {
    const T* p = x.data<T>();
    return std::vector<double>(p, p + x.numel());
  });
}

// X = A⁻¹B for B [n, k] (row-major), from A's factors: L·U·X = P·B, so B's rows are put
// in P's order, then L·Y = P·B is solved forward (row i of Y is row i of P·B less
// Σⱼ<ᵢ Lᵢⱼ·(row j of Y)) and U·X = Y backward (row i of X is row i of Y less
// Σⱼ>ᵢ Uᵢⱼ·(row j of X), over Uᵢᵢ). BLAS's triangular solve (dtrsm) does both loops, blocked;
// tests/test_linalg.cpp checks the results against Gauss-Jordan elimination written out.
void lu_solve(const LU& f, const double* b, std::int64_t k, double* x) {
  const std::int64_t n = f.n;
  for (std::int64_t i = 0; i < n; ++i) std::copy_n(b + f.rows[i] * k, k, x + i * k);
  if (n == 0 || k == 0) return;
  blas_single_threaded();
  const int ni = static_cast<int>(n), ki = static_cast<int>(k);
  cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, CblasNoTrans, CblasUnit, ni, ki, 1.0,
              f.lu.data(), ni, x, ki);
  cblas_dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, ni, ki, 1.0,
              f.lu.data(), ni, x, ki);
}

// A⁻¹ of a factored matrix: the solve with B = I (so P·B is P itself), written into out.
void lu_inverse(const LU& f, double* out) {
  std::vector<double> identity(f.n * f.n, 0.0);
  for (std::int64_t i = 0; i < f.n; ++i) identity[i * f.n + i] = 1;
  lu_solve(f, identity.data(), f.n, out);
}

// "the [3, 3] matrix" or "matrix 2 of the batch [4, 3, 3]".
std::string which_matrix(const Tensor& x, std::int64_t item) {
  if (x.dim() == 2) return "the " + to_string(x.shape()) + " matrix";
  return "matrix " + std::to_string(item) + " of the batch " + to_string(x.shape());
}

[[noreturn]] void throw_singular(const char* op, const std::string& matrix, const LU& f,
                                 const char* consequence) {
  throw ValueError(std::string(op) + ": " + matrix + " is singular, " + consequence +
                   " (pivot " + std::to_string(f.singular_at + 1) + " of " + std::to_string(f.n) +
                   " of its LU factorization is 0 to working precision)");
}

// The factors of each matrix of x.
std::vector<LU> factor_all(const Tensor& x, const Square& sq, const std::vector<double>& values) {
  std::vector<LU> factors;
  for (std::int64_t b = 0; b < sq.batch; ++b)
    factors.push_back(factor(values.data() + b * sq.n * sq.n, sq.n, x.dtype()));
  return factors;
}

// A constant [n − 1, n]: the identity without row `skip`. S·X drops row `skip` of X.
Tensor drop_row(std::int64_t n, std::int64_t skip, DType dtype) {
  Tensor s = zeros({n - 1, n}, dtype);
  for (std::int64_t i = 0, r = 0; i < n; ++i)
    if (i != skip) s.set({r++, i}, 1);
  return s;
}

// The matrix of cofactors, Cᵢⱼ = (−1)^(i+j) det Mᵢⱼ (Mᵢⱼ: X without row i and column j), of
// each matrix of x: ∂ det X / ∂X = C, which is det X · X⁻ᵀ when X is invertible and stays
// right (and finite) when it is not. Written with matmul, det and products so that it is
// differentiable again; Mᵢⱼᵀ = (X·Sⱼᵀ)ᵀ·Sᵢᵀ has the same determinant as Mᵢⱼ.
Tensor cofactors(const Tensor& x) {
  const std::int64_t n = x.size(-1);
  const DType dtype = x.dtype();
  Tensor total = zeros(x.shape(), dtype);
  for (std::int64_t j = 0; j < n; ++j) {
    const Tensor without_column = transpose(matmul(x, transpose(drop_row(n, j, dtype))));
    for (std::int64_t i = 0; i < n; ++i) {
      Tensor minor = det(matmul(without_column, transpose(drop_row(n, i, dtype))));
      if (x.dim() == 3) minor = reshape(minor, {x.size(0), 1, 1});
      Tensor unit = zeros({n, n}, dtype);
      unit.set({i, j}, (i + j) % 2 ? -1.0 : 1.0);
      total = total + minor * unit;
    }
  }
  return total;
}

}  // namespace

// ---- trace, diag, eye ----

Tensor eye(std::int64_t n, std::int64_t m, DType dtype) {
  if (n < 0 || m < 0)
    throw ValueError("eye: sizes must be at least 0, got " + std::to_string(n) + " and " +
                     std::to_string(m));
  Tensor out = zeros({n, m}, dtype);
  for (std::int64_t i = 0; i < std::min(n, m); ++i) out.set({i, i}, 1);
  return out;
}
Tensor eye(std::int64_t n, DType dtype) {
  if (n < 0) throw ValueError("eye: n must be at least 0, got " + std::to_string(n));
  return eye(n, n, dtype);
}

// The identity is a constant, so ∂x = G·I is differentiable again in G.
const OpInfo trace_op{"trace", "tr X = Σᵢ Xᵢᵢ", {"∂X = G · I (I shaped like X)"}};
Tensor trace(const Tensor& x, Here where) {
  const CallSite site(where);
  if (x.dim() != 2) throw ShapeError("trace: needs a matrix [m, n], got " + to_string(x.shape()));
  const std::int64_t m = x.size(0), n = x.size(1);
  Tensor out = zeros({}, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* p = x.data<T>();
    T total = 0;
    for (std::int64_t i = 0; i < std::min(m, n); ++i) total += p[i * n + i];
    out.data<T>()[0] = total;
  });
  return record(trace_op, out, {x}, [](const BackwardContext& c) {
    const Tensor& x = c.inputs[0];
    return Grads{c.grad * eye(x.size(0), x.size(1), x.dtype())};
  });
}

// Each direction's gradient is the other direction: a vector put on the diagonal sends back
// the diagonal of G; a diagonal taken out sends G back onto the diagonal of an [m, n] matrix
// (I ∘ G broadcast along the rows or columns: (I ∘ 1gᵀ)ᵢⱼ = [i = j]·gⱼ).
const OpInfo diag_op{"diag", "[n] → the diagonal matrix [n, n]; [m, n] → its diagonal",
                     {"∂x = diag(G) (the other direction)"}};
Tensor diag(const Tensor& x, Here where) {
  const CallSite site(where);
  if (x.dim() != 1 && x.dim() != 2)
    throw ShapeError("diag: needs a vector [n] or a matrix [m, n], got " + to_string(x.shape()));
  const bool to_matrix = x.dim() == 1;
  const std::int64_t m = x.size(0), n = to_matrix ? m : x.size(1), k = std::min(m, n);
  Tensor out = to_matrix ? zeros({n, n}, x.dtype()) : empty({k}, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* p = x.data<T>();
    T* o = out.data<T>();
    for (std::int64_t i = 0; i < k; ++i) {
      if (to_matrix)
        o[i * n + i] = p[i];
      else
        o[i] = p[i * n + i];
    }
  });
  return record(diag_op, out, {x}, [](const BackwardContext& c) {
    const Tensor& x = c.inputs[0];
    if (x.dim() == 1) return Grads{diag(c.grad)};
    const std::int64_t m = x.size(0), n = x.size(1);
    const Tensor along = m >= n ? reshape(c.grad, {1, n}) : reshape(c.grad, {m, 1});
    return Grads{eye(m, n, x.dtype()) * expand(along, {m, n})};
  });
}

// ---- inverse, det, solve ----

// d(X⁻¹) = −X⁻¹ dX X⁻¹, so ∂X = −X⁻ᵀ G X⁻ᵀ, written with the output Y = X⁻¹.
const OpInfo inverse_op{"inverse", "X⁻¹", {"∂X = −X⁻ᵀ · G · X⁻ᵀ"}};
Tensor inverse(const Tensor& x, Here where) {
  const CallSite site(where);
  const Square sq = check_square("inverse", x);
  const std::vector<double> values = doubles(x);
  std::vector<double> result(values.size());
  const std::vector<LU> factors = factor_all(x, sq, values);
  for (std::int64_t b = 0; b < sq.batch; ++b) {
    if (factors[b].singular_at >= 0)
      throw_singular("inverse", which_matrix(x, b), factors[b], "so it has no inverse");
    lu_inverse(factors[b], result.data() + b * sq.n * sq.n);
  }
  Tensor out = from_vector(result, x.shape(), x.dtype());
  return record(inverse_op, out, {x}, [](const BackwardContext& c) {
    const Tensor inverse_t = transpose(c.output);
    return Grads{-matmul(matmul(inverse_t, c.grad), inverse_t)};
  });
}

// Jacobi's formula: d det X = det X · tr(X⁻¹ dX), so ∂X = G · det X · X⁻ᵀ when X is
// invertible; at a singular X, the cofactors (the same matrix, written without X⁻¹). The
// backward keeps the forward's LU factors: a plain backward() takes X⁻¹ from them (two
// triangular solves) instead of factoring X twice more; a recorded one (a gradient of the
// gradient) writes X⁻¹ as the op inverse, so that it can be differentiated again.
const OpInfo det_op{"det", "det X", {"∂X = G · det X · X⁻ᵀ (the cofactors of X, if singular)"}};
Tensor det(const Tensor& x, Here where) {
  const CallSite site(where);
  const Square sq = check_square("det", x);
  std::vector<LU> factors = factor_all(x, sq, doubles(x));
  std::vector<double> dets;
  for (const LU& f : factors) dets.push_back(f.det);
  Tensor out = x.dim() == 2 ? scalar(dets[0], x.dtype()) : from_vector(dets, {sq.batch}, x.dtype());
  return record(det_op, out, {x}, [factors = std::move(factors)](const BackwardContext& c) {
    const Tensor& x = c.inputs[0];
    const Square sq = check_square("det", x);
    bool singular = false;
    for (const LU& f : factors) singular |= f.singular_at >= 0;
    const Tensor g = x.dim() == 3 ? reshape(c.grad, {sq.batch, 1, 1}) : c.grad;
    if (singular) return Grads{g * cofactors(x)};
    const Tensor d = x.dim() == 3 ? reshape(c.output, {sq.batch, 1, 1}) : c.output;
    const bool recorded = grad_enabled() && (c.grad.requires_grad() || x.requires_grad());
    if (recorded || detail::modes.anomaly) return Grads{g * d * transpose(inverse(x))};
    const std::int64_t n = sq.n;
    std::vector<double> inverse_t(sq.batch * n * n), one(n * n);  // one matrix's X⁻¹
    for (std::int64_t b = 0; b < sq.batch; ++b) {
      lu_inverse(factors[b], one.data());
      for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < n; ++j) inverse_t[(b * n + j) * n + i] = one[i * n + j];
    }
    return Grads{g * d * from_vector(inverse_t, x.shape(), x.dtype())};
  });
}

// X = A⁻¹B: A dX = dB − dA X, so ∂B = A⁻ᵀ G (one more solve) and ∂A = −∂B · Xᵀ.
const OpInfo solve_op{"solve", "X = A⁻¹ B (A X = B)", {"∂A = −∂B · Xᵀ", "∂B = A⁻ᵀ G = solve(Aᵀ, G)"}};
Tensor solve(const Tensor& a, const Tensor& b, Here where) {
  const CallSite site(where);
  const Square sq = check_square("solve", a, "A ");
  kernels::check_same_dtype("solve", a, b);
  const auto shapes = [&] { return "A " + to_string(a.shape()) + " and B " + to_string(b.shape()); };
  const bool vector = a.dim() == 2 && b.dim() == 1;
  if (a.dim() == 2 && b.dim() != 1 && b.dim() != 2)
    throw ShapeError("solve: A [n, n] needs B [n] or [n, k], got " + shapes());
  if (a.dim() == 3 && (b.dim() != 3 || b.size(0) != sq.batch))
    throw ShapeError("solve: A [B, n, n] needs B [B, n, k] with the same batch, got " + shapes());
  if (b.size(a.dim() == 3 ? 1 : 0) != sq.n)
    throw ShapeError("solve: B needs " + std::to_string(sq.n) + " rows, one per row of A, got " +
                     shapes());
  const std::int64_t k = vector ? 1 : b.size(-1);
  const std::vector<double> bv = doubles(b);
  std::vector<double> result(bv.size());
  const std::vector<LU> factors = factor_all(a, sq, doubles(a));
  for (std::int64_t i = 0; i < sq.batch; ++i) {
    if (factors[i].singular_at >= 0)
      throw_singular("solve",
                     a.dim() == 2 ? "A " + to_string(a.shape())
                                  : "matrix " + std::to_string(i) + " of A " + to_string(a.shape()),
                     factors[i],
                     "so A⁻¹B does not exist");
    lu_solve(factors[i], bv.data() + i * sq.n * k, k, result.data() + i * sq.n * k);
  }
  Tensor out = from_vector(result, b.shape(), b.dtype());
  return record(solve_op, out, {a, b}, [](const BackwardContext& c) {
    const Tensor &a = c.inputs[0], &x = c.output;
    const Tensor gb = solve(transpose(a), c.grad);
    Grads g(2);
    if (c.needs(0)) g[0] = -(x.dim() == 1 ? outer(gb, x) : matmul(gb, transpose(x)));
    if (c.needs(1)) g[1] = gb;
    return g;
  });
}

// ---- matrix_power ----

// Composed of matmul (and inverse for k < 0): its gradient is theirs, in the diagram too.
Tensor matrix_power(const Tensor& x, std::int64_t k, Here where) {
  const CallSite site(where);
  const Square sq = check_square("matrix_power", x);
  if (k == 0) return x.dim() == 2 ? eye(sq.n, x.dtype()) : expand(eye(sq.n, x.dtype()), x.shape());
  Tensor base = k < 0 ? inverse(x) : x, result;
  for (std::uint64_t e = k < 0 ? -static_cast<std::uint64_t>(k) : k; e; e >>= 1) {
    if (e & 1) result = result.defined() ? matmul(result, base) : base;
    if (e > 1) base = matmul(base, base);
  }
  return result;
}

}  // namespace gradlab
