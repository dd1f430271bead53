// Masks and the ops made of them: the comparisons a > b, a < b, a >= b, a <= b, a == b,
// a != b (0/1 tensors), where, sign, maximum, minimum and clamp. Binary ones broadcast like
// NumPy (src/gradlab/ops/elementwise.hpp).
//
// A comparison is a step: 1 where it holds, 0 elsewhere. It is flat almost everywhere, so it
// carries no gradient at all (as in PyTorch, whose comparisons return bool tensors): its
// result is a constant, like the masks [x > 0] inside relu's backward. It has the dtype of
// its operands (float32 or float64), so that it can be multiplied in: dout * (x > 0).
#pragma once

#include <optional>

#include "gradlab/core/tensor.hpp"
#include "gradlab/ops/elementwise.hpp"

namespace gradlab {

// The elementwise comparisons, by NumPy's names (torch.equal, unlike these, is one bool for
// the whole tensor; here equal is elementwise, torch.eq).
Tensor greater(const Tensor& a, const Tensor& b, Here where = Here::current());        // [a > b]
Tensor less(const Tensor& a, const Tensor& b, Here where = Here::current());           // [a < b]
Tensor greater_equal(const Tensor& a, const Tensor& b, Here where = Here::current());  // [a ≥ b]
Tensor less_equal(const Tensor& a, const Tensor& b, Here where = Here::current());     // [a ≤ b]
Tensor equal(const Tensor& a, const Tensor& b, Here where = Here::current());          // [a = b]
Tensor not_equal(const Tensor& a, const Tensor& b, Here where = Here::current());      // [a ≠ b]

Tensor operator>(const Tensor& a, Operand b);
Tensor operator<(const Tensor& a, Operand b);
Tensor operator>=(const Tensor& a, Operand b);
Tensor operator<=(const Tensor& a, Operand b);
Tensor operator==(const Tensor& a, Operand b);
Tensor operator!=(const Tensor& a, Operand b);
// A plain number on either side becomes a 0-dimensional tensor of the other's dtype: x > 0.
Tensor operator>(Operand a, double b);
Tensor operator>(double a, Operand b);
Tensor operator<(Operand a, double b);
Tensor operator<(double a, Operand b);
Tensor operator>=(Operand a, double b);
Tensor operator>=(double a, Operand b);
Tensor operator<=(Operand a, double b);
Tensor operator<=(double a, Operand b);
Tensor operator==(Operand a, double b);
Tensor operator==(double a, Operand b);
Tensor operator!=(Operand a, double b);
Tensor operator!=(double a, Operand b);

// a where the condition is not 0, b where it is (torch.where with a 0/1 condition); the
// three broadcast together. The gradient goes to the side that was picked; the condition
// gets none (it is a step).
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b,
             Here where = Here::current());

// −1, 0 or 1; 0 at 0 (and for NaN, as torch). Flat: its gradient is 0 everywhere.
Tensor sign(const Tensor& x, Here where = Here::current());

// The larger (smaller) of a and b, element by element; NaN if either is NaN (as torch).
// At a tie the gradient is shared, half to each side (as torch).
Tensor maximum(const Tensor& a, const Tensor& b, Here where = Here::current());
Tensor minimum(const Tensor& a, const Tensor& b, Here where = Here::current());

// x limited to [min, max]; either bound may be left out: clamp(x, {.min = 0}). As in torch,
// min > max gives max everywhere, NaN stays NaN, and the gradient passes where
// min ≤ x ≤ max (the bounds included).
struct Bounds {
  std::optional<double> min = {}, max = {};
};
Tensor clamp(const Tensor& x, Bounds bounds, Here where = Here::current());

}  // namespace gradlab
