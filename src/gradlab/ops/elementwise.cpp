#include "gradlab/ops/elementwise.hpp"

#include <cmath>

#include "gradlab/core/graph.hpp"
#include "gradlab/kernels/loops.hpp"
#include "gradlab/ops/fused.hpp"
#include "gradlab/ops/reduce.hpp"
#include "gradlab/ops/shape.hpp"

namespace gradlab {

using kernels::binary_map;
using kernels::unary_map;

namespace {

// The steps in relu's and abs's gradients, [x > 0] and sign(x), for a number and for a
// tensor (as a constant: the step has no gradient of its own), so that one fused formula
// reads them in both forms (Note [Fused formulas]).
// (Written ¬(v ≤ 0), not v > 0: a NaN passes G on, as PyTorch's threshold_backward does.)
template <class T>
T positive(T v) {
  return T(!(v <= 0));
}
Tensor positive(const Tensor& x) { return unary_map(x, [](auto v) { return positive(v); }); }
template <class T>
T sign(T v) {
  return T((v > 0) - (v < 0));
}
Tensor sign(const Tensor& x) { return unary_map(x, [](auto v) { return sign(v); }); }

}  // namespace

// Each op's OpInfo says what its backward returns, with G = ∂L/∂output. For broadcast
// operands, sum_to adds the gradient back up over the axes that were stretched. A float32
// operand meeting a float64 one is promoted first, as in torch (see promote()).

const OpInfo add_op{"add", "a + b", {"∂a = G", "∂b = G"}};
Tensor add(const Tensor& a, const Tensor& b, Here where) {
  const CallSite site(where, __func__);
  if (a.dtype() != b.dtype()) [[unlikely]] {
    const auto [x, y] = promote(a, b);
    return add(x, y);
  }
  Tensor out = binary_map("add", a, b, [](auto x, auto y) { return x + y; });
  return record(add_op, out, {a, b}, [](const BackwardContext& c) {
    Grads g(2);
    if (c.needs(0)) g[0] = sum_to(c.grad, c.inputs[0].shape());
    if (c.needs(1)) g[1] = sum_to(c.grad, c.inputs[1].shape());
    return g;
  });
}

const OpInfo sub_op{"sub", "a − b", {"∂a = G", "∂b = −G"}};
Tensor sub(const Tensor& a, const Tensor& b, Here where) {
  const CallSite site(where, __func__);
  if (a.dtype() != b.dtype()) [[unlikely]] {
    const auto [x, y] = promote(a, b);
    return sub(x, y);
  }
  Tensor out = binary_map("sub", a, b, [](auto x, auto y) { return x - y; });
  return record(sub_op, out, {a, b}, [](const BackwardContext& c) {
    Grads g(2);
    if (c.needs(0)) g[0] = sum_to(c.grad, c.inputs[0].shape());
    if (c.needs(1)) g[1] = sum_to(-c.grad, c.inputs[1].shape());
    return g;
  });
}

const OpInfo hadamard_op{"hadamard", "a ∘ b", {"∂a = G ∘ b", "∂b = G ∘ a"}};
Tensor hadamard(const Tensor& a, const Tensor& b, Here where) {
  const CallSite site(where, __func__);
  if (a.dtype() != b.dtype()) [[unlikely]] {
    const auto [x, y] = promote(a, b);
    return hadamard(x, y);
  }
  Tensor out = binary_map("hadamard", a, b, [](auto x, auto y) { return x * y; });
  return record(hadamard_op, out, {a, b}, [](const BackwardContext& c) {
    const Tensor &a = c.inputs[0], &b = c.inputs[1];
    Grads g(2);
    if (c.needs(0)) g[0] = sum_to(c.grad * b, a.shape());
    if (c.needs(1)) g[1] = sum_to(c.grad * a, b.shape());
    return g;
  });
}

const OpInfo div_op{"div", "a / b", {"∂a = G / b", "∂b = −G ∘ a / b²"}};
Tensor div(const Tensor& a, const Tensor& b, Here where) {
  const CallSite site(where, __func__);
  if (a.dtype() != b.dtype()) [[unlikely]] {
    const auto [x, y] = promote(a, b);
    return div(x, y);
  }
  Tensor out = binary_map("div", a, b, [](auto x, auto y) { return x / y; });
  return record(div_op, out, {a, b}, [](const BackwardContext& c) {
    const Tensor &a = c.inputs[0], &b = c.inputs[1];
    Grads g(2);
    if (c.needs(0)) g[0] = sum_to(c.grad / b, a.shape());
    if (c.needs(1))
      g[1] = sum_to(fused([](auto g, auto a, auto b) { return -g * a / (b * b); }, c.grad, a, b),
                    b.shape());
    return g;
  });
}

const OpInfo neg_op{"neg", "−x", {"∂x = −G"}};
Tensor neg(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  Tensor out = unary_map(x, [](auto v) { return -v; });
  return record(neg_op, out, {x}, [](const BackwardContext& c) { return Grads{-c.grad}; });
}

const OpInfo pow_op{"pow", "xᵖ", {"∂x = G ∘ p·xᵖ⁻¹"}};
Tensor pow(const Tensor& x, double p, Here where) {
  const CallSite site(where, __func__);
  // x² (a squared error) as a product: std::pow is a hundred times slower.
  Tensor out = p == 2 ? unary_map(x, [](auto v) { return v * v; })
                      : unary_map(x, [p](auto v) { return static_cast<decltype(v)>(std::pow(v, p)); });
  return record(pow_op, out, {x}, [p](const BackwardContext& c) {
    if (p == 0) return Grads{zeros_like(c.grad)};  // x⁰ = 1 is flat, even at x = 0
    return Grads{fused(
        [p](auto g, auto x) {
          using std::pow;  // the numbers' pow, beside gradlab's for tensors
          return g * (p * pow(x, p - 1));
        },
        c.grad, c.inputs[0])};
  });
}

const OpInfo exp_op{"exp", "eˣ", {"∂x = G ∘ eˣ"}};  // eˣ is the output itself
Tensor exp(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  Tensor out = empty_like(x);
  kernels::exp_into(x, out);
  return record(exp_op, out, {x}, [](const BackwardContext& c) { return Grads{c.grad * c.output}; });
}

const OpInfo log_op{"log", "ln x", {"∂x = G / x"}};
Tensor log(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  Tensor out = unary_map(x, [](auto v) { return std::log(v); });
  return record(log_op, out, {x},
                [](const BackwardContext& c) { return Grads{c.grad / c.inputs[0]}; });
}

const OpInfo sigmoid_op{"sigmoid", "σ(x) = 1 / (1 + e⁻ˣ)", {"∂x = G ∘ σ(x) ∘ (1 − σ(x))"}};
Tensor sigmoid(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  // σ(v) = 1 / (1 + e⁻ᵛ). Far below 0, e⁻ᵛ overflows to ∞, and 1 / ∞ = 0 is still right.
  // (One expression without branches, so that the float32 loop vectorises: kernels::fast_exp.)
  Tensor out = unary_map(x, [](auto v) { return 1 / (1 + kernels::fast_exp(-v)); });
  return record(sigmoid_op, out, {x}, [](const BackwardContext& c) {
    return Grads{fused([](auto g, auto s) { return g * s * (1 - s); }, c.grad, c.output)};
  });
}

const OpInfo tanh_op{"tanh", "tanh x", {"∂x = G ∘ (1 − tanh² x)"}};
Tensor tanh(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  Tensor out = unary_map(x, [](auto v) { return std::tanh(v); });
  return record(tanh_op, out, {x}, [](const BackwardContext& c) {
    return Grads{fused([](auto g, auto t) { return g * (1 - t * t); }, c.grad, c.output)};
  });
}

// At x = 0 the derivative does not exist; we use 0 there, as other libraries do. The step
// [x > 0] is a constant, so relu's second derivative is 0.
const OpInfo relu_op{"relu", "max(x, 0)", {"∂x = G ∘ [x > 0]"}};
Tensor relu(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  // ¬(v ≤ 0) rather than v > 0: relu(NaN) is NaN, so that a NaN goes on to the loss (and
  // detect_anomaly sees it) instead of becoming a quiet 0.
  Tensor out = unary_map(x, [](auto v) { return !(v <= 0) ? v : decltype(v)(0); });
  return record(relu_op, out, {x}, [](const BackwardContext& c) {
    return Grads{fused([](auto g, auto x) { return g * positive(x); }, c.grad, c.inputs[0])};
  });
}

// |x| bends at x = 0, where it has no derivative (from the left −1, from the right +1); we
// use 0 there, the value of sign(0), as relu uses 0 at its kink. sign(x) is a constant step
// away from 0, so |x|'s second derivative is 0, and the backward below (a product with that
// constant) is itself differentiable in G: grad-of-grad works.
const OpInfo abs_op{"abs", "|x|", {"∂x = G ∘ sign(x)"}};
Tensor abs(const Tensor& x, Here where) {
  const CallSite site(where, __func__);
  Tensor out = unary_map(x, [](auto v) { return std::abs(v); });
  return record(abs_op, out, {x}, [](const BackwardContext& c) {
    return Grads{fused([](auto g, auto x) { return g * sign(x); }, c.grad, c.inputs[0])};
  });
}

// Each operator opens its CallSite with the operand's place, then calls the named op.
Tensor operator+(const Tensor& a, Operand b) { return add(a, b.tensor, b.where); }
Tensor operator-(const Tensor& a, Operand b) { return sub(a, b.tensor, b.where); }
Tensor operator*(const Tensor& a, Operand b) { return hadamard(a, b.tensor, b.where); }
Tensor operator/(const Tensor& a, Operand b) { return div(a, b.tensor, b.where); }
Tensor operator-(Operand x) { return neg(x.tensor, x.where); }

Tensor operator+(Operand a, double b) {
  return add(a.tensor, scalar(b, a.tensor.dtype()), a.where);
}
Tensor operator+(double a, Operand b) {
  return add(scalar(a, b.tensor.dtype()), b.tensor, b.where);
}
Tensor operator-(Operand a, double b) {
  return sub(a.tensor, scalar(b, a.tensor.dtype()), a.where);
}
Tensor operator-(double a, Operand b) {
  return sub(scalar(a, b.tensor.dtype()), b.tensor, b.where);
}
Tensor operator*(Operand a, double b) {
  return hadamard(a.tensor, scalar(b, a.tensor.dtype()), a.where);
}
Tensor operator*(double a, Operand b) {
  return hadamard(scalar(a, b.tensor.dtype()), b.tensor, b.where);
}
Tensor operator/(Operand a, double b) {
  return div(a.tensor, scalar(b, a.tensor.dtype()), a.where);
}
Tensor operator/(double a, Operand b) {
  return div(scalar(a, b.tensor.dtype()), b.tensor, b.where);
}

}  // namespace gradlab
