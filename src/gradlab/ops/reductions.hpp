// Reductions beyond sum and mean: max, min (torch.amax / amin), argmax, logsumexp, var,
// std, norm, and the elementwise sqrt they need. Without an axis each reduces all elements
// to a 0-dimensional tensor; with one, that axis goes (or stays as size 1 with keepdim).
//
// max and min follow torch.amax / torch.amin, with and without an axis: at a tie the
// gradient is split evenly among the elements that share the extreme (torch.max(x, dim)
// would send it all to one of them). A NaN anywhere in a slice makes its max and min NaN.
//
// var and std are made of other ops (mean, pow, sum, sqrt), as micrograd builds − from +
// and ·: their gradients, and gradients of those, come from the ops they are made of.
// logsumexp and norm have a backward of their own (see src/gradlab/ops/reductions.cpp: logsumexp's for
// speed, norm's for its value at 0).
#pragma once

#include <cstdint>
#include <optional>

#include "gradlab/core/tensor.hpp"

namespace gradlab {

// The largest (smallest) element, of all or along one axis. An empty slice has none: a
// ValueError.
Tensor max(const Tensor& x, Here where = Here::current());
Tensor max(const Tensor& x, std::int64_t axis, bool keepdim = false, Here where = Here::current());
Tensor min(const Tensor& x, Here where = Here::current());
Tensor min(const Tensor& x, std::int64_t axis, bool keepdim = false, Here where = Here::current());

// Where the largest element is: its flat (row-major) index without an axis, its index along
// the axis with one; the first at a tie, the first NaN if there is one (as torch). A
// constant float tensor of whole numbers, in x's dtype: it carries no gradient.
Tensor argmax(const Tensor& x, Here where = Here::current());
Tensor argmax(const Tensor& x, std::int64_t axis, bool keepdim = false, Here where = Here::current());

// ln Σ eˣ, computed as m + ln Σ e^(x − m) with m the max (a constant), so that e^(…) ≤ 1.
Tensor logsumexp(const Tensor& x, Here where = Here::current());
Tensor logsumexp(const Tensor& x, std::int64_t axis, bool keepdim = false,
                 Here where = Here::current());

// The variance Σ (x − x̄)² / (n − 1) (unbiased, as torch), or / n with unbiased = false;
// std is its square root. One element, unbiased: 0 / 0 = NaN, as torch. (Call it as
// gradlab::std(x), as libtorch's torch::std: after `using namespace gradlab` a bare std(x)
// is ambiguous with the namespace std, though std::cout and the like are not affected.)
struct Spread {
  std::optional<std::int64_t> axis = {};  // all elements when absent
  bool keepdim = false;
  bool unbiased = true;
};
Tensor var(const Tensor& x, Spread options = {}, Here where = Here::current());
Tensor var(const Tensor& x, std::int64_t axis, bool keepdim = false, bool unbiased = true,
           Here where = Here::current());
Tensor std(const Tensor& x, Spread options = {}, Here where = Here::current());
Tensor std(const Tensor& x, std::int64_t axis, bool keepdim = false, bool unbiased = true,
           Here where = Here::current());

// ‖x‖₂ = √(Σ x²) of all elements (the Frobenius norm of a matrix).
Tensor norm(const Tensor& x, Here where = Here::current());

// √x elementwise (NaN below 0).
Tensor sqrt(const Tensor& x, Here where = Here::current());

}  // namespace gradlab
