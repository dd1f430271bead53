// The matrix product, the outer product and the Kronecker product.
#pragma once

#include "gradlab/core/tensor.hpp"

namespace gradlab {

// matmul([m, k], [k, n]) → [m, n]
// matmul([B, m, k], [B, k, n]) → [B, m, n]   (a batch of products)
// matmul([B, m, k], [k, n]) → [B, m, n]      (one matrix applied to every item of a batch)
Tensor matmul(const Tensor& a, const Tensor& b, Here where = Here::current());

// outer([m], [n]) → [m, n] with entries uᵢ·vⱼ
Tensor outer(const Tensor& u, const Tensor& v, Here where = Here::current());

// The Kronecker product: every entry of a scales a whole copy of b.
// kron([m, n], [p, q]) → [m·p, n·q] with (a ⊗ b)[i·p + k, j·q + l] = a[i, j]·b[k, l];
// kron([m], [p]) → [m·p]; any ranks, as torch.kron: the operand of lower rank gets leading
// axes of size 1, and each size of the result is the product of the two sizes on that axis
// (kron([2, 3, 4], [5, 6]) → [2, 15, 24]). Contrast: the Hadamard product a ∘ b needs equal shapes and
// keeps them; the matrix product contracts an axis.
Tensor kron(const Tensor& a, const Tensor& b, Here where = Here::current());

namespace reference {
// The textbook triple loop, kept to check the BLAS path against (same shapes as matmul).
Tensor matmul(const Tensor& a, const Tensor& b);
}  // namespace reference

}  // namespace gradlab
