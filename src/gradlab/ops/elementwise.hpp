// Elementwise ops. Binary ones broadcast like NumPy: shapes align at the right, and an axis
// of size 1 stretches to match. `*` is the Hadamard (elementwise) product; the matrix
// product is the named function matmul (src/gradlab/ops/matmul.hpp).
#pragma once

#include "gradlab/core/tensor.hpp"

namespace gradlab {

Tensor add(const Tensor& a, const Tensor& b, Here where = Here::current());
Tensor sub(const Tensor& a, const Tensor& b, Here where = Here::current());
Tensor hadamard(const Tensor& a, const Tensor& b, Here where = Here::current());  // a ∘ b
Tensor div(const Tensor& a, const Tensor& b, Here where = Here::current());
Tensor neg(const Tensor& x, Here where = Here::current());
Tensor pow(const Tensor& x, double exponent, Here where = Here::current());
Tensor exp(const Tensor& x, Here where = Here::current());
Tensor log(const Tensor& x, Here where = Here::current());
Tensor sigmoid(const Tensor& x, Here where = Here::current());  // σ(x) = 1 / (1 + e^(−x))
Tensor tanh(const Tensor& x, Here where = Here::current());
Tensor relu(const Tensor& x, Here where = Here::current());
Tensor abs(const Tensor& x, Here where = Here::current());  // |x|

// One operand of an operator, with the place in the caller's program where the operator
// was written (for detect_anomaly's messages). An operator cannot take a defaulted
// source_location, but the constructor of its parameter can: the default is filled in
// where the Tensor is converted, which is the caller's expression.
struct Operand {
  Operand(const Tensor& tensor, Here where = Here::current())
      : tensor(tensor), where(where) {}
  const Tensor& tensor;
  Here where;
};

Tensor operator+(const Tensor& a, Operand b);
Tensor operator-(const Tensor& a, Operand b);
Tensor operator*(const Tensor& a, Operand b);  // Hadamard product
Tensor operator/(const Tensor& a, Operand b);
Tensor operator-(Operand x);
// A plain number on either side becomes a 0-dimensional tensor of the other's dtype.
Tensor operator+(Operand a, double b);
Tensor operator+(double a, Operand b);
Tensor operator-(Operand a, double b);
Tensor operator-(double a, Operand b);
Tensor operator*(Operand a, double b);
Tensor operator*(double a, Operand b);
Tensor operator/(Operand a, double b);
Tensor operator/(double a, Operand b);

}  // namespace gradlab
