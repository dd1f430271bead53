// Indexing, as torch's x[…] does it: slices and single positions of an axis (x[1:-1:2],
// x[-1]), tensors of indices (x[idx], an embedding lookup; x[arange(n), y], one element per
// row), and the ops beside them: gather along an axis, index_add and scatter_add (which add
// numbers back into the places they were picked from, each the other's gradient), arange
// and one_hot.
//
// Indices are float tensors holding whole numbers, as every tensor of gradlab is (torch
// wants int64 there). A non-integral index, or one out of range, is an IndexError naming the
// op, the index's position in its tensor and the bound. Where torch counts negative indices
// from the end (x[i], x[idx], slices, select) gradlab does too; where torch refuses them
// (gather, index_add, scatter_add, one_hot) so does gradlab.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "gradlab/core/tensor.hpp"

namespace gradlab {

struct OpInfo;

// start:stop:step of one axis, as Python writes it. A bound left out is that end of the axis;
// a negative bound counts from the end (-1: the last); bounds past the ends are clamped
// (rows 5:10 of 3 rows: none), as in torch. step ≥ 1: torch refuses negative steps too
// (flip(x, axis) reverses an axis). Slice{} is `:`, the whole axis.
struct Slice {
  std::optional<std::int64_t> start = std::nullopt, stop = std::nullopt;
  std::int64_t step = 1;
};

// x[…, start:stop:step, …] with the slice on `axis`:
//   slice(x, 0, 1, -1) is x[1:-1];  slice(x, 1, std::nullopt, std::nullopt, 2) is x[:, ::2].
// The gradient puts G back in its place among zeros.
Tensor slice(const Tensor& x, std::int64_t axis, std::optional<std::int64_t> start,
             std::optional<std::int64_t> stop, std::int64_t step = 1, Here where = Here::current());

// x[…, i, …] with i on `axis`, which is dropped: select(x, 0, -1) is x[-1], of shape
// x.shape[1:]. The gradient is G at position i of that axis, zeros elsewhere.
Tensor select(const Tensor& x, std::int64_t axis, std::int64_t i, Here where = Here::current());

// x[idx]: the rows (entries of axis 0) that idx picks, for idx of any shape S: the result is
// [S…, x.shape[1:]…], an embedding lookup. Rows picked twice get both gradients added.
Tensor index(const Tensor& x, const Tensor& idx, Here where = Here::current());

// x[s₀, s₁, …], one subscript per leading axis, as torch reads them: a number selects (the
// axis is dropped), a Slice slices, a tensor of indices picks, new_axis and all_axes below. Two or more index tensors are
// broadcast together and pick one element per position:
//   index(x, {arange(n), y}) is x[arange(n), y], x[i, y[i]] for each i (shape [n]);
//   index(x, {Slice{}, 0}) is x[:, 0];  index(x, {Slice{1, std::nullopt, 2}}) is x[1::2].
// Where the index tensors stand together their shape replaces their axes in place; split by
// a slice (x[idx, :, idx]) it comes first, as in torch. A number, or a tensor of one number,
// selects before the index tensors pick and does not count as splitting them (torch's
// reading; NumPy's differs: x[0, :, idx] is [3, 5] for x [2, 3, 4] and idx [5] here).
// new_axis (torch's None) inserts an axis of size 1 there, and all (torch's ...) stands for
// as many `:` as the axes the other subscripts leave: index(x, {all, 0}) is x[..., 0].
struct NewAxis {};
inline constexpr NewAxis new_axis{};
struct AllAxes {};
inline constexpr AllAxes all_axes{};
using Subscript = std::variant<std::int64_t, Slice, Tensor, NewAxis, AllAxes>;
Tensor index(const Tensor& x, const std::vector<Subscript>& subscripts,
             Here where = Here::current());

// [0, 1, …, n − 1], and [start, start + step, …] up to stop (excluded), as torch.arange: a
// constant float tensor. step ≠ 0; a negative step counts down.
Tensor arange(double n, DType dtype = DType::float64, Here where = Here::current());
Tensor arange(double start, double stop, double step = 1, DType dtype = DType::float64,
              Here where = Here::current());

// 1 where the last axis equals y's class, 0 elsewhere: [S…] → [S…, n], in y's dtype, for
// classes 0 … n − 1. A comparison, arange(n) == y[…, None]: it carries no gradient.
Tensor one_hot(const Tensor& y, std::int64_t n, Here where = Here::current());

// target with source's entries added at the positions idx names along `axis` (rows, by
// default): out[…, idx[j], …] += source[…, j, …]; an index named twice gets both. source's
// shape is target's with that axis replaced by idx's shape (torch: idx is 1-D; any shape
// works here, [S…] adding source[…, S…, …]). ∂target = G, ∂source = G[idx] along axis.
Tensor index_add(const Tensor& target, const Tensor& idx, const Tensor& source,
                 std::int64_t axis = 0, Here where = Here::current());

// torch.gather: out[i][j][k] = x[i][idx[i][j][k]][k] for axis 1 (likewise for any axis). idx
// has x's number of axes, and no size larger than x's but along `axis`; out has idx's shape.
// ∂x = scatter_add(zeros, axis, idx, G).
Tensor gather(const Tensor& x, std::int64_t axis, const Tensor& idx, Here where = Here::current());

// torch.scatter_add, gather's adjoint: x with src[i][j][k] added at x[i][idx[i][j][k]][k] (axis
// 1), for every position of idx (src may be larger than idx: the rest of it is unused).
// ∂x = G, ∂src = gather(G, axis, idx) (zeros where idx does not reach).
Tensor scatter_add(const Tensor& x, std::int64_t axis, const Tensor& idx, const Tensor& src,
                   Here where = Here::current());

namespace detail {
// x[idx] (rows of a matrix) recorded as `op` and refusing indices as embedding always has
// (no index from the end; "for 3 rows (0 to 2)"): embedding is this row pick, drawn under its
// own name. Its backward is index_add into zeros, as index's.
Tensor embedding_rows(const OpInfo& op, const Tensor& weight, const Tensor& indices);
}  // namespace detail

}  // namespace gradlab
