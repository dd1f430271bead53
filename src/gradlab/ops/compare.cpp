#include "gradlab/ops/compare.hpp"

#include <cmath>

#include "gradlab/core/graph.hpp"
#include "gradlab/kernels/loops.hpp"
#include "gradlab/ops/reduce.hpp"
#include "gradlab/ops/shape.hpp"

namespace gradlab {

using kernels::binary_map;
using kernels::unary_map;

// ---- comparisons ----

// The comparisons record nothing: their result is a constant 0/1 tensor, whatever its
// operands require. Their OpInfo is for the op reference only.
const OpInfo greater_op{"greater", "[a > b] (1 where true, 0 elsewhere), a > b",
                        {"∂a: none, the result is a constant", "∂b: none"}};
const OpInfo less_op{"less", "[a < b], a < b", {"∂a: none, the result is a constant", "∂b: none"}};
const OpInfo greater_equal_op{"greater_equal", "[a ≥ b], a >= b",
                              {"∂a: none, the result is a constant", "∂b: none"}};
const OpInfo less_equal_op{"less_equal", "[a ≤ b], a <= b",
                           {"∂a: none, the result is a constant", "∂b: none"}};
const OpInfo equal_op{"equal", "[a = b], a == b", {"∂a: none, the result is a constant", "∂b: none"}};
const OpInfo not_equal_op{"not_equal", "[a ≠ b], a != b",
                          {"∂a: none, the result is a constant", "∂b: none"}};

namespace {

// 1 where holds(a, b), else 0, in the operands' dtype; NaN compares false (≠: true).
template <class Holds>
Tensor mask(const OpInfo& op, const Tensor& a, const Tensor& b, Here where, Holds holds) {
  const CallSite site(where);
  const auto [x, y] = promote(a, b);
  return binary_map(op.name, x, y, [holds](auto u, auto v) { return decltype(u)(holds(u, v)); });
}

}  // namespace

Tensor greater(const Tensor& a, const Tensor& b, Here where) {
  return mask(greater_op, a, b, where, [](auto x, auto y) { return x > y; });
}
Tensor less(const Tensor& a, const Tensor& b, Here where) {
  return mask(less_op, a, b, where, [](auto x, auto y) { return x < y; });
}
Tensor greater_equal(const Tensor& a, const Tensor& b, Here where) {
  return mask(greater_equal_op, a, b, where, [](auto x, auto y) { return x >= y; });
}
Tensor less_equal(const Tensor& a, const Tensor& b, Here where) {
  return mask(less_equal_op, a, b, where, [](auto x, auto y) { return x <= y; });
}
Tensor equal(const Tensor& a, const Tensor& b, Here where) {
  return mask(equal_op, a, b, where, [](auto x, auto y) { return x == y; });
}
Tensor not_equal(const Tensor& a, const Tensor& b, Here where) {
  return mask(not_equal_op, a, b, where, [](auto x, auto y) { return x != y; });
}

Tensor operator>(const Tensor& a, Operand b) { return greater(a, b.tensor, b.where); }
Tensor operator<(const Tensor& a, Operand b) { return less(a, b.tensor, b.where); }
Tensor operator>=(const Tensor& a, Operand b) { return greater_equal(a, b.tensor, b.where); }
Tensor operator<=(const Tensor& a, Operand b) { return less_equal(a, b.tensor, b.where); }
Tensor operator==(const Tensor& a, Operand b) { return equal(a, b.tensor, b.where); }
Tensor operator!=(const Tensor& a, Operand b) { return not_equal(a, b.tensor, b.where); }

#define GRADLAB_NUMBER_COMPARISON(symbol, op)                          \
  Tensor operator symbol(Operand a, double b) {                        \
    return op(a.tensor, scalar(b, a.tensor.dtype()), a.where);          \
  }                                                                    \
  Tensor operator symbol(double a, Operand b) {                        \
    return op(scalar(a, b.tensor.dtype()), b.tensor, b.where);          \
  }
GRADLAB_NUMBER_COMPARISON(>, greater)
GRADLAB_NUMBER_COMPARISON(<, less)
GRADLAB_NUMBER_COMPARISON(>=, greater_equal)
GRADLAB_NUMBER_COMPARISON(<=, less_equal)
GRADLAB_NUMBER_COMPARISON(==, equal)
GRADLAB_NUMBER_COMPARISON(!=, not_equal)
#undef GRADLAB_NUMBER_COMPARISON

// ---- where ----

// The gradient is where itself, with 0 on the side not picked, so that it is differentiable
// again in G.
const OpInfo where_op{"where", "a where c ≠ 0, b where c = 0",
                      {"∂c: none (a step)", "∂a = where(c, G, 0)", "∂b = where(c, 0, G)"}};
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b, Here here) {
  const CallSite site(here);
  if (a.dtype() != b.dtype()) {  // float32 with float64, as torch: in float64
    const auto [x, y] = promote(a, b);
    return where(condition, x, y);
  }
  Shape shape;
  try {
    shape = kernels::broadcast_shapes("where", condition.shape(),
                                      kernels::broadcast_shapes("where", a.shape(), b.shape()));
  } catch (const ShapeError&) {
    throw ShapeError("where: the condition " + to_string(condition.shape()) + ", a " +
                     to_string(a.shape()) + " and b " + to_string(b.shape()) +
                     " do not broadcast together");
  }
  const Tensor c = expand(condition.detach(), shape), x = expand(a.detach(), shape),
               y = expand(b.detach(), shape);
  Tensor out = empty(shape, a.dtype());
  dispatch(condition.dtype(), [&]<class C>(C) {
    const C* pc = c.data<C>();
    dispatch(a.dtype(), [&]<class T>(T) {
      const T *px = x.data<T>(), *py = y.data<T>();
      T* o = out.data<T>();
      for (std::int64_t i = 0; i < out.numel(); ++i) o[i] = pc[i] != 0 ? px[i] : py[i];
    });
  });
  return record(where_op, out, {condition, a, b}, [](const BackwardContext& c) {
    const Tensor& condition = c.inputs[0];
    const Tensor zero = scalar(0, c.grad.dtype());
    Grads g(3);
    if (c.needs(0)) g[0] = zeros_like(condition);
    if (c.needs(1)) g[1] = sum_to(where(condition, c.grad, zero), c.inputs[1].shape());
    if (c.needs(2)) g[2] = sum_to(where(condition, zero, c.grad), c.inputs[2].shape());
    return g;
  });
}

// ---- sign ----

const OpInfo sign_op{"sign", "−1, 0 or 1 as x < 0, x = 0 or x > 0", {"∂x = 0"}};
Tensor sign(const Tensor& x, Here where) {
  const CallSite site(where);
  Tensor out = unary_map(x, [](auto v) { return decltype(v)((v > 0) - (v < 0)); });
  return record(sign_op, out, {x}, [](const BackwardContext& c) {
    return Grads{zeros_like(c.inputs[0])};
  });
}

// ---- maximum, minimum ----

namespace {

// The share of the gradient each side of maximum (first = true) or minimum gets: all of it
// where it was picked, half at a tie, as torch; NaN sends it to both, as torch does.
template <bool to_a, bool larger>
Tensor share(const Tensor& a, const Tensor& b) {
  return binary_map(larger ? "maximum" : "minimum", a, b, [](auto x, auto y) {
    using T = decltype(x);
    const bool lost = to_a == larger ? x < y : x > y;
    return lost ? T(0) : x == y ? T(0.5) : T(1);
  });
}

template <bool larger>
Tensor extremum(const OpInfo& op, const Tensor& a, const Tensor& b) {
  Tensor out = binary_map(op.name, a, b, [](auto x, auto y) {
    if (x != x || y != y) return x + y;  // NaN, as torch
    return larger ? (x > y ? x : y) : (x < y ? x : y);
  });
  return record(op, out, {a, b}, [](const BackwardContext& c) {
    const Tensor &a = c.inputs[0], &b = c.inputs[1];
    Grads g(2);
    if (c.needs(0)) g[0] = sum_to(c.grad * share<true, larger>(a, b), a.shape());
    if (c.needs(1)) g[1] = sum_to(c.grad * share<false, larger>(a, b), b.shape());
    return g;
  });
}

}  // namespace

const OpInfo maximum_op{"maximum", "max(a, b) elementwise (NaN if either is)",
                        {"∂a = G ∘ ([a > b] + ½[a = b])", "∂b = G ∘ ([a < b] + ½[a = b])"}};
Tensor maximum(const Tensor& a, const Tensor& b, Here where) {
  const CallSite site(where);
  const auto [x, y] = promote(a, b);
  return extremum<true>(maximum_op, x, y);
}

const OpInfo minimum_op{"minimum", "min(a, b) elementwise (NaN if either is)",
                        {"∂a = G ∘ ([a < b] + ½[a = b])", "∂b = G ∘ ([a > b] + ½[a = b])"}};
Tensor minimum(const Tensor& a, const Tensor& b, Here where) {
  const CallSite site(where);
  const auto [x, y] = promote(a, b);
  return extremum<false>(minimum_op, x, y);
}

// ---- clamp ----

// The mask is a constant, so clamp's second derivative is 0, as relu's.
const OpInfo clamp_op{"clamp", "min(max(x, lo), hi), either bound optional",
                      {"∂x = G ∘ [lo ≤ x ≤ hi]"}};
Tensor clamp(const Tensor& x, Bounds bounds, Here where) {
  const CallSite site(where);
  if (!bounds.min && !bounds.max) throw ValueError("clamp: give min, max or both");
  const double lo = bounds.min.value_or(-INFINITY), hi = bounds.max.value_or(INFINITY);
  Tensor out = unary_map(x, [lo, hi](auto v) {
    using T = decltype(v);
    v = v < T(lo) ? T(lo) : v;  // a NaN passes both
    return v > T(hi) ? T(hi) : v;
  });
  return record(clamp_op, out, {x}, [lo, hi](const BackwardContext& c) {
    const Tensor inside = unary_map(c.inputs[0], [lo, hi](auto v) {
      using T = decltype(v);
      return T(v >= T(lo) && v <= T(hi));
    });
    return Grads{c.grad * inside};
  });
}

}  // namespace gradlab
