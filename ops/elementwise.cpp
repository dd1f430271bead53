#include "ops/elementwise.hpp"

#include <cmath>

#include "engine/graph.hpp"
#include "engine/kernels.hpp"
#include "ops/reduce.hpp"

namespace gradlab {

using kernels::binary_map;
using kernels::unary_map;

// Each backward returns ∂L/∂input given g = ∂L/∂output. For broadcast operands, sum_to
// adds the gradient back up over the axes that were stretched.

// a + b:  ∂/∂a = g,  ∂/∂b = g
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_map("add", a, b, [](auto x, auto y) { return x + y; });
  return record("add", out, {a, b}, [](const BackwardContext& c) {
    Grads g(2);
    if (c.needs(0)) g[0] = sum_to(c.grad, c.inputs[0].shape());
    if (c.needs(1)) g[1] = sum_to(c.grad, c.inputs[1].shape());
    return g;
  });
}

// a − b:  ∂/∂a = g,  ∂/∂b = −g
Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_map("sub", a, b, [](auto x, auto y) { return x - y; });
  return record("sub", out, {a, b}, [](const BackwardContext& c) {
    Grads g(2);
    if (c.needs(0)) g[0] = sum_to(c.grad, c.inputs[0].shape());
    if (c.needs(1)) g[1] = sum_to(-c.grad, c.inputs[1].shape());
    return g;
  });
}

// a ∘ b:  ∂/∂a = g ∘ b,  ∂/∂b = g ∘ a
Tensor hadamard(const Tensor& a, const Tensor& b) {
  Tensor out = binary_map("hadamard", a, b, [](auto x, auto y) { return x * y; });
  return record("hadamard", out, {a, b}, [](const BackwardContext& c) {
    const Tensor &a = c.inputs[0], &b = c.inputs[1];
    Grads g(2);
    if (c.needs(0)) g[0] = sum_to(c.grad * b, a.shape());
    if (c.needs(1)) g[1] = sum_to(c.grad * a, b.shape());
    return g;
  });
}

// a / b:  ∂/∂a = g / b,  ∂/∂b = −g ∘ a / b²
Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_map("div", a, b, [](auto x, auto y) { return x / y; });
  return record("div", out, {a, b}, [](const BackwardContext& c) {
    const Tensor &a = c.inputs[0], &b = c.inputs[1];
    Grads g(2);
    if (c.needs(0)) g[0] = sum_to(c.grad / b, a.shape());
    if (c.needs(1)) g[1] = sum_to(-c.grad * a / (b * b), b.shape());
    return g;
  });
}

// −x:  ∂/∂x = −g
Tensor neg(const Tensor& x) {
  Tensor out = unary_map(x, [](auto v) { return -v; });
  return record("neg", out, {x}, [](const BackwardContext& c) { return Grads{-c.grad}; });
}

// xᵖ:  ∂/∂x = g ∘ p·xᵖ⁻¹
Tensor pow(const Tensor& x, double p) {
  Tensor out = unary_map(x, [p](auto v) { return static_cast<decltype(v)>(std::pow(v, p)); });
  return record("pow", out, {x}, [p](const BackwardContext& c) {
    if (p == 0) return Grads{zeros_like(c.grad)};  // x⁰ = 1 is flat, even at x = 0
    return Grads{c.grad * (p * pow(c.inputs[0], p - 1))};
  });
}

// eˣ:  ∂/∂x = g ∘ eˣ  (the output itself)
Tensor exp(const Tensor& x) {
  Tensor out = unary_map(x, [](auto v) { return std::exp(v); });
  return record("exp", out, {x}, [](const BackwardContext& c) { return Grads{c.grad * c.output}; });
}

// ln x:  ∂/∂x = g / x
Tensor log(const Tensor& x) {
  Tensor out = unary_map(x, [](auto v) { return std::log(v); });
  return record("log", out, {x},
                [](const BackwardContext& c) { return Grads{c.grad / c.inputs[0]}; });
}

// σ(x) = 1 / (1 + e^(−x)):  ∂/∂x = g ∘ σ(x) ∘ (1 − σ(x))
Tensor sigmoid(const Tensor& x) {
  Tensor out = unary_map(x, [](auto v) {
    // Two branches so that e^(…) never overflows: for v < 0, σ(v) = eᵛ / (1 + eᵛ).
    using T = decltype(v);
    if (v >= 0) return T(1) / (T(1) + std::exp(-v));
    const T e = std::exp(v);
    return e / (T(1) + e);
  });
  return record("sigmoid", out, {x}, [](const BackwardContext& c) {
    const Tensor& s = c.output;
    return Grads{c.grad * s * (1.0 - s)};
  });
}

// tanh x:  ∂/∂x = g ∘ (1 − tanh² x)
Tensor tanh(const Tensor& x) {
  Tensor out = unary_map(x, [](auto v) { return std::tanh(v); });
  return record("tanh", out, {x}, [](const BackwardContext& c) {
    const Tensor& t = c.output;
    return Grads{c.grad * (1.0 - t * t)};
  });
}

// max(x, 0):  ∂/∂x = g ∘ [x > 0]. At x = 0 the derivative does not exist; we use 0 there,
// as other libraries do. The step [x > 0] is a constant, so relu's second derivative is 0.
Tensor relu(const Tensor& x) {
  Tensor out = unary_map(x, [](auto v) { return v > 0 ? v : decltype(v)(0); });
  return record("relu", out, {x}, [](const BackwardContext& c) {
    const Tensor step = unary_map(c.inputs[0], [](auto v) { return decltype(v)(v > 0); });
    return Grads{c.grad * step};
  });
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return hadamard(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }

Tensor operator+(const Tensor& a, double b) { return add(a, scalar(b, a.dtype())); }
Tensor operator+(double a, const Tensor& b) { return add(scalar(a, b.dtype()), b); }
Tensor operator-(const Tensor& a, double b) { return sub(a, scalar(b, a.dtype())); }
Tensor operator-(double a, const Tensor& b) { return sub(scalar(a, b.dtype()), b); }
Tensor operator*(const Tensor& a, double b) { return hadamard(a, scalar(b, a.dtype())); }
Tensor operator*(double a, const Tensor& b) { return hadamard(scalar(a, b.dtype()), b); }
Tensor operator/(const Tensor& a, double b) { return div(a, scalar(b, a.dtype())); }
Tensor operator/(double a, const Tensor& b) { return div(scalar(a, b.dtype()), b); }

}  // namespace gradlab
