#include "ops/matmul.hpp"

#include <algorithm>

#include "engine/graph.hpp"
#include "engine/kernels.hpp"
#include "ops/elementwise.hpp"
#include "ops/reduce.hpp"
#include "ops/shape.hpp"

namespace gradlab {

namespace {

// The sizes of a product: `batch` independent [m, k]·[k, n] products. When b is shared by
// the whole batch (3-D · 2-D), a is treated as one tall [batch·m, k] matrix instead.
struct Product {
  std::int64_t batch, m, k, n;
  Shape out;
};

// The product op(A) · op(B), where op(X) is X, or Xᵀ (its last two axes swapped) when its
// flag is set; matmul itself has no flags, its backward does.
Product check_matmul(const Tensor& a, bool ta, const Tensor& b, bool tb) {
  const Shape &sa = a.shape(), &sb = b.shape();
  const auto shapes = [&] {
    return to_string(sa) + (ta ? "ᵀ" : "") + " @ " + to_string(sb) + (tb ? "ᵀ" : "");
  };
  if (!(sa.size() == 2 || sa.size() == 3) || !(sb.size() == 2 || sb.size() == 3) ||
      (sa.size() == 2 && sb.size() == 3))
    throw ShapeError(
        "matmul: needs 2-D matrices, a 3-D batch times a 3-D batch, or a 3-D "
        "batch times a matrix; got " +
        shapes());
  const std::size_t ra = sa.size() - 2, rb = sb.size() - 2;  // the row axis of each
  const std::int64_t m = sa[ra + ta], k = sa[ra + !ta], kb = sb[rb + tb], n = sb[rb + !tb];
  if (k != kb) throw ShapeError("matmul: inner dimensions differ: " + shapes());
  if (sa.size() == 3 && sb.size() == 3 && sa[0] != sb[0])
    throw ShapeError("matmul: batch sizes differ: " + shapes());
  kernels::check_same_dtype("matmul", a, b);
  if (sa.size() == 2) return {1, m, k, n, {m, n}};
  if (sb.size() == 2 && !ta) return {1, sa[0] * m, k, n, {sa[0], m, n}};  // one tall product
  return {sa[0], m, k, n, {sa[0], m, n}};
}

// op(A) · op(B) by GEMM, the transposes read through its flags.
Tensor multiply(const Tensor& a, bool ta, const Tensor& b, bool tb) {
  const Product p = check_matmul(a, ta, b, tb);
  // GEMM overwrites its output (β = 0); only an empty inner dimension leaves the zeros.
  const bool any_products = p.m * p.n * p.k > 0;
  Tensor out = any_products ? empty(p.out, a.dtype()) : zeros(p.out, a.dtype());
  if (!any_products) return out;
  const bool shared_b = b.dim() == 2;  // every item of a batch times the same b
  kernels::dispatch(a.dtype(), [&]<class T>(T) {
    for (std::int64_t i = 0; i < p.batch; ++i)
      kernels::gemm(ta, tb, p.m, p.n, p.k, a.data<T>() + i * p.m * p.k,
                    b.data<T>() + (shared_b ? 0 : i * p.k * p.n), T(0),
                    out.data<T>() + i * p.m * p.n);
  });
  return out;
}

// The products of matmul's backward, G · Bᵀ and Aᵀ · G. Recorded (a backward pass with
// create_graph), they are made of transpose and matmul, so that the gradient graph shows
// the formula as written and can be differentiated again; otherwise GEMM reads the
// transposed operand through its flags and no transpose is ever made.
Tensor product(const Tensor& a, bool ta, const Tensor& b, bool tb) {
  if (grad_enabled() && (a.requires_grad() || b.requires_grad()))
    return matmul(ta ? transpose(a) : a, tb ? transpose(b) : b);
  return multiply(a, ta, b, tb);
}

}  // namespace

// For a batch sharing B, ∂B adds up Aᵀ·G over the batch: one tall product.
const OpInfo matmul_op{"matmul", "A · B", {"∂A = G · Bᵀ", "∂B = Aᵀ · G"}};
Tensor matmul(const Tensor& a, const Tensor& b, Here where) {
  const CallSite site(where, __func__);
  return record(matmul_op, multiply(a, false, b, false), {a, b}, [](const BackwardContext& c) {
    const Tensor &a = c.inputs[0], &b = c.inputs[1];
    Grads g(2);
    if (c.needs(0)) g[0] = product(c.grad, false, b, true);
    if (c.needs(1)) {
      if (a.dim() == 3 && b.dim() == 2) {
        const std::int64_t rows = a.size(0) * a.size(1);
        g[1] = product(reshape(a, {rows, a.size(2)}), true, reshape(c.grad, {rows, b.size(1)}),
                       false);
      } else {
        g[1] = product(a, true, c.grad, false);
      }
    }
    return g;
  });
}

const OpInfo outer_op{"outer", "u vᵀ", {"∂u = G v", "∂v = Gᵀ u"}};
Tensor outer(const Tensor& u, const Tensor& v, Here where) {
  const CallSite site(where, __func__);
  if (u.dim() != 1 || v.dim() != 1)
    throw ShapeError("outer: needs two 1-D vectors, got " + to_string(u.shape()) + " and " +
                     to_string(v.shape()));
  kernels::check_same_dtype("outer", u, v);
  const std::int64_t m = u.size(0), n = v.size(0);
  // A column times a row, broadcast: the [m, 1] ∘ [1, n] Hadamard product is the outer product.
  Tensor out =
      kernels::binary_map("outer", reshape(u.detach(), {m, 1}), reshape(v.detach(), {1, n}),
                          [](auto x, auto y) { return x * y; });
  return record(outer_op, out, {u, v}, [m, n](const BackwardContext& c) {
    const Tensor &u = c.inputs[0], &v = c.inputs[1];
    Grads g(2);
    if (c.needs(0)) g[0] = sum(c.grad * reshape(v, {1, n}), 1);
    if (c.needs(1)) g[1] = sum(c.grad * reshape(u, {m, 1}), 0);
    return g;
  });
}

namespace {

// a and b with their axes interleaved, each with leading 1-axes up to the larger rank:
// a as [a₀, 1, a₁, 1, …], b as [1, b₀, 1, b₁, …]. Their broadcast product [a₀, b₀, a₁, b₁, …]
// read as [a₀·b₀, a₁·b₁, …] is a ⊗ b.
struct KronShapes {
  Shape a, b, both, out;
};
KronShapes kron_shapes(const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  KronShapes s;
  for (std::size_t k = 0; k < rank; ++k) {
    const std::int64_t m = k + a.size() < rank ? 1 : a[k + a.size() - rank];
    const std::int64_t p = k + b.size() < rank ? 1 : b[k + b.size() - rank];
    s.a.push_back(m), s.a.push_back(1);
    s.b.push_back(1), s.b.push_back(p);
    s.both.push_back(m), s.both.push_back(p);
    s.out.push_back(kernels::checked_size("kron", "a size of the result", kernels::Wide(m) * p));
  }
  kernels::checked_size("kron", "the result's size",
                        kernels::Wide(numel(s.a)) * kernels::Wide(numel(s.b)));
  return s;
}

}  // namespace

// The forward is the broadcast Hadamard product of the interleaved operands; the backward
// reads G the same way and sums the Hadamard product with the other operand over its axes.
const OpInfo kron_op{"kron", "a ⊗ b: every entry of a scales a whole copy of b",
                     {"∂aᵢⱼ = Σ (block (i, j) of G) ∘ b", "∂b = Σᵢⱼ aᵢⱼ · (block (i, j) of G)"}};
Tensor kron(const Tensor& a, const Tensor& b, Here where) {
  const CallSite site(where, __func__);
  kernels::check_same_dtype("kron", a, b);
  const KronShapes s = kron_shapes(a.shape(), b.shape());
  const Tensor product = kernels::binary_map("kron", reshape(a.detach(), s.a), reshape(b.detach(), s.b),
                                             [](auto x, auto y) { return x * y; });
  return record(kron_op, reshape(product, s.out), {a, b}, [](const BackwardContext& c) {
    const Tensor &a = c.inputs[0], &b = c.inputs[1];
    const KronShapes s = kron_shapes(a.shape(), b.shape());
    const Tensor g = reshape(c.grad, s.both);
    Grads grads(2);
    if (c.needs(0)) grads[0] = reshape(sum_to(g * reshape(b, s.b), s.a), a.shape());
    if (c.needs(1)) grads[1] = reshape(sum_to(g * reshape(a, s.a), s.b), b.shape());
    return grads;
  });
}

Tensor reference::matmul(const Tensor& a, const Tensor& b) {
  const Product p = check_matmul(a, false, b, false);
  Tensor out = zeros(p.out, a.dtype());
  kernels::dispatch(a.dtype(), [&]<class T>(T) {
    for (std::int64_t s = 0; s < p.batch; ++s) {
      const T* A = a.data<T>() + s * p.m * p.k;
      const T* B = b.data<T>() + (b.dim() == 2 ? 0 : s * p.k * p.n);
      T* C = out.data<T>() + s * p.m * p.n;
      for (std::int64_t i = 0; i < p.m; ++i)
        for (std::int64_t j = 0; j < p.n; ++j) {
          T total = 0;
          for (std::int64_t r = 0; r < p.k; ++r) total += A[i * p.k + r] * B[r * p.n + j];
          C[i * p.n + j] = total;
        }
    }
  });
  return out;
}

}  // namespace gradlab
