// Elementwise ops. Binary ones broadcast like NumPy: shapes align at the right, and an axis
// of size 1 stretches to match. `*` is the Hadamard (elementwise) product; the matrix
// product is the named function matmul (ops/matmul.hpp).
#pragma once

#include "engine/tensor.hpp"

namespace gradlab {

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor hadamard(const Tensor& a, const Tensor& b);  // a ∘ b
Tensor div(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sigmoid(const Tensor& x);  // σ(x) = 1 / (1 + e^(−x))
Tensor tanh(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor abs(const Tensor& x);  // |x|

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);  // Hadamard product
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
// A plain number on either side becomes a 0-dimensional tensor of the other's dtype.
Tensor operator+(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(const Tensor& a, double b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(const Tensor& a, double b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(const Tensor& a, double b);
Tensor operator/(double a, const Tensor& b);

}  // namespace gradlab
