// The matrix product and the outer product.
#pragma once

#include "engine/tensor.hpp"

namespace gradlab {

// matmul([m, k], [k, n]) → [m, n]
// matmul([B, m, k], [B, k, n]) → [B, m, n]   (a batch of products)
// matmul([B, m, k], [k, n]) → [B, m, n]      (one matrix applied to every item of a batch)
Tensor matmul(const Tensor& a, const Tensor& b);

// outer([m], [n]) → [m, n] with entries uᵢ·vⱼ
Tensor outer(const Tensor& u, const Tensor& v);

namespace reference {
// The textbook triple loop, kept to check the BLAS path against (same shapes as matmul).
Tensor matmul(const Tensor& a, const Tensor& b);
}  // namespace reference

}  // namespace gradlab
