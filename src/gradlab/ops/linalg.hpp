// Linear algebra: trace, diag, eye, inverse, det, solve, matrix_power. The square ones
// take one matrix [n, n] or a batch of them [B, n, n].
//
// Singular matrices. inverse and solve factor the matrix (LU with partial pivoting) and
// refuse it with a ValueError when a pivot is 0 to working precision: at most
// n · ε · max|Aᵢⱼ| (ε of the dtype), so that rounding that leaves a pivot of 10⁻¹⁷ is not
// taken for an inverse of 10¹⁶s (LAPACK, and so torch, refuses only a pivot exactly 0).
// det of a singular matrix is 0, and its gradient there is the transposed adjugate, the
// matrix of cofactors, which is finite (torch 1.13 returns zeros there).
#pragma once

#include <cstdint>

#include "gradlab/core/tensor.hpp"

namespace gradlab {

// tr(X) = Σᵢ Xᵢᵢ of a matrix [m, n] (not necessarily square) → a 0-dimensional tensor.
Tensor trace(const Tensor& x, Here where = Here::current());

// diag([n]) → [n, n], the vector on the diagonal; diag([m, n]) → [min(m, n)], the diagonal.
Tensor diag(const Tensor& x, Here where = Here::current());

// The identity matrix [n, n], or [n, m] with ones on the diagonal: a constant.
Tensor eye(std::int64_t n, DType dtype = DType::float64);
Tensor eye(std::int64_t n, std::int64_t m, DType dtype = DType::float64);

// X⁻¹, of [n, n] or of each matrix of [B, n, n]. A singular matrix is a ValueError.
Tensor inverse(const Tensor& x, Here where = Here::current());

// det X: [n, n] → a 0-dimensional tensor, [B, n, n] → [B].
Tensor det(const Tensor& x, Here where = Here::current());

// A⁻¹B without forming A⁻¹: A [n, n] with B [n] or [n, k]; A [B, n, n] with B [B, n, k].
Tensor solve(const Tensor& a, const Tensor& b, Here where = Here::current());

// Xᵏ by repeated squaring with matmul (so its gradient is matmul's); X⁰ = I, and a negative
// k is (X⁻¹)^|k|, as torch.
Tensor matrix_power(const Tensor& x, std::int64_t k, Here where = Here::current());

}  // namespace gradlab
