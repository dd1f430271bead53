#include "gradlab/ops/matmul.hpp"

#include <algorithm>

#include "gradlab/core/graph.hpp"
#include "gradlab/kernels/loops.hpp"
#include "gradlab/ops/elementwise.hpp"
#include "gradlab/ops/reduce.hpp"
#include "gradlab/ops/shape.hpp"

namespace gradlab {

namespace {

// The sizes of a product: numel(batch) independent [m, k]·[k, n] products, the batch axes of
// a and b (all but their last two) broadcast together. When b is one matrix for the whole
// batch (N-D · 2-D), a is treated as one tall [batch·m, k] matrix instead.
struct Product {
  std::int64_t m, k, n;
  Shape a_batch, b_batch, batch;
  Shape out;  // batch + [m, n]
  bool tall;
};

// The product op(A) · op(B) of two operands of at least 2 dimensions, where op(X) is X, or
// Xᵀ (its last two axes swapped) when its flag is set; matmul itself has no flags, its
// backward does.
Product check_matmul(const Tensor& a, bool ta, const Tensor& b, bool tb) {
  const Shape &sa = a.shape(), &sb = b.shape();
  const auto shapes = [&] {
    return to_string(sa) + (ta ? "ᵀ" : "") + " @ " + to_string(sb) + (tb ? "ᵀ" : "");
  };
  if (sa.size() < 2 || sb.size() < 2)
    throw ShapeError("matmul: needs operands of at least 1 dimension, got " + shapes());
  const std::size_t ra = sa.size() - 2, rb = sb.size() - 2;  // the row axis of each
  Product p{sa[ra + ta], sa[ra + !ta], sb[rb + !tb], Shape(sa.begin(), sa.begin() + ra),
            Shape(sb.begin(), sb.begin() + rb), {}, {}, rb == 0 && !ta};
  if (p.k != sb[rb + tb]) throw ShapeError("matmul: inner dimensions differ: " + shapes());
  try {
    p.batch = p.a_batch == p.b_batch ? p.a_batch
                                     : kernels::broadcast_shapes("matmul", p.a_batch, p.b_batch);
  } catch (const ShapeError&) {
    throw ShapeError("matmul: the batch dimensions " + to_string(p.a_batch) + " and " +
                     to_string(p.b_batch) + " do not broadcast: " + shapes());
  }
  kernels::check_same_dtype("matmul", a, b);
  p.out = p.batch;
  p.out.push_back(p.m);
  p.out.push_back(p.n);
  return p;
}

// Which matrix of an operand with batch axes `from` product number i of the broadcast batch
// `to` reads: its coordinates, with 0 on the axes `from` has as size 1 (or lacks).
std::int64_t matrix_of(std::int64_t i, const Shape& from, const Shape& to) {
  if (from == to) return i;
  const std::size_t lead = to.size() - from.size();
  std::int64_t index = 0, stride = 1;
  for (std::size_t d = to.size(); d-- > lead;) {
    const std::int64_t coordinate = i % to[d];
    i /= to[d];
    if (from[d - lead] != 1) index += coordinate * stride;
    stride *= from[d - lead];
  }
  return index;
}

// op(A) · op(B) by GEMM, the transposes read through its flags: one call for 2-D operands
// and for a batch times one matrix, one per product otherwise.
Tensor multiply(const Tensor& a, bool ta, const Tensor& b, bool tb) {
  const Product p = check_matmul(a, ta, b, tb);
  const std::int64_t items = numel(p.batch);
  // GEMM overwrites its output (β = 0); only an empty inner dimension leaves the zeros.
  const bool any_products = items * p.m * p.n * p.k > 0;
  Tensor out = any_products ? empty(p.out, a.dtype()) : zeros(p.out, a.dtype());
  if (!any_products) return out;
  dispatch(a.dtype(), [&]<class T>(T) {
    if (p.tall) {
      kernels::gemm(false, tb, items * p.m, p.n, p.k, a.data<T>(), b.data<T>(), T(0),
                    out.data<T>());
      return;
    }
    for (std::int64_t i = 0; i < items; ++i)
      kernels::gemm(ta, tb, p.m, p.n, p.k,
                    a.data<T>() + matrix_of(i, p.a_batch, p.batch) * p.m * p.k,
                    b.data<T>() + matrix_of(i, p.b_batch, p.batch) * p.k * p.n, T(0),
                    out.data<T>() + i * p.m * p.n);
  });
  return out;
}

// The products of matmul's backward, G · Bᵀ and Aᵀ · G. Recorded (a backward pass with
// create_graph), they are made of transpose and matmul, so that the gradient graph shows
// the formula as written and can be differentiated again; otherwise GEMM reads the
// transposed operand through its flags and no transpose is ever made.
Tensor product(const Tensor& a, bool ta, const Tensor& b, bool tb) {
  if (records(a, b)) return matmul(ta ? transpose(a) : a, tb ? transpose(b) : b);
  return multiply(a, ta, b, tb);
}

// As torch.matmul reads a 1-D operand: a as a row [1, k], b as a column [k, 1].
Shape as_matrix(const Tensor& x, bool left) {
  if (x.dim() != 1) return x.shape();
  return left ? Shape{1, x.size(0)} : Shape{x.size(0), 1};
}

// The shape of matmul's result from that of the product of the operands as matrices: the 1
// of a row a (the axis of m) and of a column b (that of n) left out, as torch.matmul does.
Shape result_shape(const Shape& full, const Tensor& a, const Tensor& b) {
  Shape shape(full.begin(), full.end() - 2);
  if (a.dim() > 1) shape.push_back(full[full.size() - 2]);
  if (b.dim() > 1) shape.push_back(full.back());
  return shape;
}

// x in the given shape: x itself when it has it already, else a (recorded) reshape.
Tensor shaped(const Tensor& x, const Shape& shape) {
  return x.shape() == shape ? x : reshape(x, shape);
}

}  // namespace

// 1-D operands are read as a row (a) and a column (b), and that 1 is left out of the result;
// the batch axes broadcast, and ∂A and ∂B are summed back over the axes that were broadcast.
// A float32 operand with a float64 one is promoted first (promote()).
// For a batch sharing B, ∂B adds up Aᵀ·G over the batch: one tall product.
const OpInfo matmul_op{"matmul", "A · B", {"∂A = G · Bᵀ", "∂B = Aᵀ · G"}};
Tensor matmul(const Tensor& a, const Tensor& b, Here where) {
  const CallSite site(where, __func__);
  if (a.dtype() != b.dtype()) [[unlikely]] {
    const auto [x, y] = promote(a, b);
    return matmul(x, y);
  }
  if (a.dim() == 0 || b.dim() == 0)
    throw ShapeError("matmul: needs operands of at least 1 dimension (* scales by a number), got " +
                     to_string(a.shape()) + " @ " + to_string(b.shape()));
  const bool vectors = a.dim() == 1 || b.dim() == 1;
  if (vectors && a.shape().back() != b.shape()[b.dim() == 1 ? 0 : b.dim() - 2])
    throw ShapeError("matmul: inner dimensions differ: " + to_string(a.shape()) + " @ " +
                     to_string(b.shape()));
  Tensor out = vectors ? multiply(share_numbers(a, as_matrix(a, true)), false,
                                  share_numbers(b, as_matrix(b, false)), false)
                       : multiply(a, false, b, false);
  if (vectors) out = share_numbers(out, result_shape(out.shape(), a, b));
  return record(matmul_op, out, {a, b}, [](const BackwardContext& c) {
    const Tensor &a = c.inputs[0], &b = c.inputs[1];
    const Shape sa = as_matrix(a, true), sb = as_matrix(b, false);
    // G with the 1s of 1-D operands back in place: [batch…, m, n].
    Shape full(c.grad.shape().begin(), c.grad.shape().end() - (a.dim() > 1) - (b.dim() > 1));
    full.push_back(sa[sa.size() - 2]);
    full.push_back(sb.back());
    const Tensor G = shaped(c.grad, full), A = shaped(a, sa), B = shaped(b, sb);
    Grads g(2);
    if (c.needs(0)) g[0] = shaped(sum_to(product(G, false, B, true), sa), a.shape());
    if (c.needs(1)) {
      if (B.dim() == 2 && A.dim() > 2) {  // one tall product over the whole batch
        std::int64_t rows = 1;  // all of A's axes but the last
        for (std::int64_t d = 0; d + 1 < A.dim(); ++d) rows *= A.size(d);
        g[1] = product(reshape(A, {rows, A.shape().back()}), true, reshape(G, {rows, B.size(1)}),
                       false);
      } else {
        g[1] = sum_to(product(A, true, G, false), sb);
      }
      g[1] = shaped(g[1], b.shape());
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
  if (u.dtype() != v.dtype()) {
    const auto [x, y] = promote(u, v);
    return outer(x, y);
  }
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
  if (a.dtype() != b.dtype()) {  // a float32 operand with a float64 one: promoted first
    const auto [x, y] = promote(a, b);
    return kron(x, y, where);
  }
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
  if (a.dim() == 0 || b.dim() == 0) return gradlab::matmul(a, b);  // the same error
  const Tensor A = share_numbers(a, as_matrix(a, true)), B = share_numbers(b, as_matrix(b, false));
  const Product p = check_matmul(A, false, B, false);
  Tensor out = zeros(p.out, a.dtype());
  dispatch(a.dtype(), [&]<class T>(T) {
    for (std::int64_t s = 0; s < numel(p.batch); ++s) {
      const T* pa = A.data<T>() + matrix_of(s, p.a_batch, p.batch) * p.m * p.k;
      const T* pb = B.data<T>() + matrix_of(s, p.b_batch, p.batch) * p.k * p.n;
      T* pc = out.data<T>() + s * p.m * p.n;
      for (std::int64_t i = 0; i < p.m; ++i)
        for (std::int64_t j = 0; j < p.n; ++j) {
          T total = 0;
          for (std::int64_t r = 0; r < p.k; ++r) total += pa[i * p.k + r] * pb[r * p.n + j];
          pc[i * p.n + j] = total;
        }
    }
  });
  return share_numbers(out, result_shape(out.shape(), a, b));
}

}  // namespace gradlab
