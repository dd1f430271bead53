#include "gradlab/ops/indexing.hpp"

#include <algorithm>
#include <cmath>
#include <span>
#include <sstream>
#include <string>

#include "gradlab/core/graph.hpp"
#include "gradlab/kernels/loops.hpp"
#include "gradlab/ops/compare.hpp"
#include "gradlab/ops/join.hpp"
#include "gradlab/ops/shape.hpp"

namespace gradlab {

// x[idx] and x[i, j]; its gradient is index_backward (below), and index that one's.
const OpInfo index_op{"index", "x[idx], x[i, j]: the entries that index tensors pick",
                      {"∂x = index_add(zeros, idx, G) (index_backward): G's entries added "
                       "where they were picked (repeats add up)",
                       "∂idx: none (indices)"}};

namespace {

// The sizes of axes [from, to) multiplied: a row-major tensor is numel(before) blocks of
// its axis, each of numel(after) numbers.
std::int64_t size_of_axes(const Shape& shape, std::int64_t from, std::int64_t to) {
  std::int64_t n = 1;
  for (std::int64_t k = from; k < to; ++k) n *= shape[k];
  return n;
}

// How an op reads its indices, and how it names their bound when it refuses one.
struct IndexRule {
  const char* op;
  bool from_end = false;       // −size … −1 allowed too, counting from the end (as torch)
  const char* unit = nullptr;  // "rows": "for 3 rows (0 to 2)"; none: "for axis 1 of size 3"
};

std::string position(const Shape& shape, std::int64_t flat) {
  return to_string(unravel_index(flat, shape));
}

// Only reached for an index refused, so that the message costs nothing otherwise.
[[noreturn, gnu::cold]] void refuse(const IndexRule& rule, const Tensor& idx, std::int64_t k,
                                    std::int64_t size, std::int64_t axis) {
  const double v = idx.values()[k];
  std::ostringstream message;
  message << rule.op << ": the index " << v << " at position " << position(idx.shape(), k);
  if (v != std::floor(v) || !std::isfinite(v)) {
    message << " is not a whole number";
  } else {
    message << " is out of range for ";
    if (rule.unit)
      message << size << ' ' << rule.unit;
    else
      message << "axis " << axis << " of size " << size;
    if (size == 0)
      message << ", which has none";
    else
      message << " (" << (rule.from_end ? -size : 0) << " to " << size - 1 << ")";
  }
  throw IndexError(message.str());
}

// idx's whole numbers, each checked against an axis of `size` (and counted from the end
// when negative, if the rule allows it); `axis` only names it in a message.
std::vector<std::int64_t> whole_indices(const IndexRule& rule, const Tensor& idx, std::int64_t size,
                                        std::int64_t axis) {
  std::vector<std::int64_t> out(idx.numel());
  const double low = rule.from_end ? -static_cast<double>(size) : 0.0;
  dispatch(idx.dtype(), [&]<class T>(T) {
    const T* in = idx.data<T>();
    for (std::int64_t k = 0; k < idx.numel(); ++k) {
      const double v = in[k];
      // (NaN fails both tests; ±inf fails the second.)
      if (!(v == std::floor(v) && v >= low && v < static_cast<double>(size))) [[unlikely]]
        refuse(rule, idx, k, size, axis);
      const auto i = static_cast<std::int64_t>(v);
      out[k] = i < 0 ? i + size : i;
    }
  });
  return out;
}

// Indices as a float tensor again (of the given shape), for the backward formulas.
Tensor as_index_tensor(const std::vector<std::int64_t>& values, const Shape& shape, DType dtype) {
  Tensor out = empty(shape, dtype);
  dispatch(dtype, [&]<class T>(T) {
    T* o = out.data<T>();
    for (std::size_t k = 0; k < values.size(); ++k) o[k] = static_cast<T>(values[k]);
  });
  return out;
}

// For x[i₁, …, i_k] on axes first … first + k − 1: the index tensors broadcast together to
// one shape B, and for each position of B the row of those axes merged into one (of size
// N = their sizes multiplied) that it picks.
struct Picks {
  Shape shape;                     // B
  std::vector<std::int64_t> rows;  // numel(B) of them, each in [0, N)
};

Picks picks(const IndexRule& rule, const Shape& x_shape, std::int64_t first,
            std::span<const Tensor> indices, std::span<const std::int64_t> named_axes) {
  Picks p;
  p.shape = indices[0].shape();
  for (const Tensor& t : indices) p.shape = kernels::broadcast_shapes(rule.op, p.shape, t.shape());
  // Broadcasting can make far more picks than the index tensors hold ([10⁴, 1] with [10⁴]):
  // held to the limit on a tensor's size, as the result would be (src/gradlab/core/tensor.hpp).
  if (numel(p.shape) > max_elements())
    throw ShapeError(std::string(rule.op) + ": the index tensors broadcast to " +
                     to_string(p.shape) + ", more than the " + std::to_string(max_elements()) +
                     " elements a tensor may have here");
  const auto named = [&](std::size_t j) {
    return named_axes.empty() ? first + static_cast<std::int64_t>(j) : named_axes[j];
  };
  if (indices.size() == 1) {  // x[idx], an embedding lookup: the rows are idx's own numbers
    p.rows = whole_indices(rule, indices[0], x_shape[first], named(0));
    return p;
  }
  p.rows.assign(numel(p.shape), 0);
  for (std::size_t j = 0; j < indices.size(); ++j) {
    const std::int64_t axis = first + static_cast<std::int64_t>(j);
    const std::vector<std::int64_t> v = whole_indices(rule, indices[j], x_shape[axis], named(j));
    // rows = rows · size + i_j, in the row-major order of the merged axes.
    const std::vector<std::int64_t> zero(p.shape.size(), 0);
    kernels::broadcast_loop(p.shape, kernels::broadcast_strides(indices[j].shape(), p.shape), zero,
                            [&](std::int64_t b, std::int64_t ib, std::int64_t) {
                              p.rows[b] = p.rows[b] * x_shape[axis] + v[ib];
                            });
  }
  return p;
}

const IndexRule index_rule{"index", true};
const IndexRule index_add_rule{"index_add"};

// x's axes first … first + k − 1 merged into one: the shape index_add adds into.
Shape merged_shape(const Shape& shape, std::int64_t first, std::size_t k) {
  Shape merged(shape.begin(), shape.begin() + first);
  merged.push_back(size_of_axes(shape, first, first + static_cast<std::int64_t>(k)));
  merged.insert(merged.end(), shape.begin() + first + static_cast<std::int64_t>(k), shape.end());
  return merged;
}

// out[o, rows[j], r] += source[o, j, r]: index_add's loop, with out of shape
// [outer, size, inner] and source [outer, rows, inner].
void add_rows(Tensor& out, const std::vector<std::int64_t>& rows, const Tensor& source,
              std::int64_t axis) {
  const std::int64_t outer = size_of_axes(out.shape(), 0, axis), size = out.size(axis);
  const std::int64_t inner = size_of_axes(out.shape(), axis + 1, out.dim());
  const auto picked = static_cast<std::int64_t>(rows.size());
  dispatch(out.dtype(), [&]<class T>(T) {
    const T* s = source.data<T>();
    T* o = out.data<T>();
    for (std::int64_t b = 0; b < outer; ++b)
      for (std::int64_t j = 0; j < picked; ++j) {
        T* row = o + (b * size + rows[j]) * inner;
        const T* add = s + (b * picked + j) * inner;
        for (std::int64_t e = 0; e < inner; ++e) row[e] += add[e];
      }
  });
}

Tensor take(const OpInfo& op, const IndexRule& rule, const Tensor& x, std::int64_t first,
            std::span<const Tensor> indices, std::span<const std::int64_t> named_axes = {});

// ∂x of x[i₁, …, i_k] (and of embedding) is index_add(zeros, rows, G) along the axes picked
// from, merged into one (then reshaped back to x's shape). It is its own op so that the
// zeros are G's sum itself: index_add would first copy a target of zeros, and for an
// embedding table that copy costs more than the rest of the step. Its gradient is index.
const OpInfo index_backward_op{"index_backward",
                               "index_add(zeros, idx, G): G's entries added into zeros where "
                               "index picked them (index's and embedding's gradient)",
                               {"∂G = (the incoming gradient)[idx]", "∂idx: none (indices)"}};
Tensor index_backward(const BackwardContext& c, std::int64_t first, bool from_end) {
  const Tensor& x = c.inputs[0];
  const std::span<const Tensor> indices = c.inputs.subspan(1);
  const Picks p = picks(IndexRule{"index", from_end}, x.shape(), first, indices, {});
  // The rows as a tensor for this op's own backward: idx itself when it names them already.
  const Tensor rows = indices.size() == 1 && !from_end
                          ? indices[0]
                          : as_index_tensor(p.rows, p.shape, c.grad.dtype());
  const Shape merged = merged_shape(x.shape(), first, indices.size());
  Tensor out = zeros(merged, c.grad.dtype());
  add_rows(out, p.rows, c.grad, first);
  out = record(index_backward_op, out, {c.grad, rows}, [first](const BackwardContext& b) {
    Grads g(2);
    if (b.needs(0)) g[0] = take(index_op, index_add_rule, b.grad, first, b.inputs.subspan(1, 1));
    if (b.needs(1)) g[1] = zeros_like(b.inputs[1]);
    return g;
  });
  return merged == x.shape() ? out : reshape(out, x.shape());
}

// x[…, i₁, …, i_k, …] on axes first … first + k − 1, recorded as `op`:
//   out[o, b, r] = x[o, i₁[b], …, i_k[b], r],  of shape x.shape[:first] + B + x.shape[first+k:].
Tensor take(const OpInfo& op, const IndexRule& rule, const Tensor& x, std::int64_t first,
            std::span<const Tensor> indices, std::span<const std::int64_t> named_axes) {
  const auto k = static_cast<std::int64_t>(indices.size());
  const Picks p = picks(rule, x.shape(), first, indices, named_axes);
  Shape shape(x.shape().begin(), x.shape().begin() + first);
  shape.insert(shape.end(), p.shape.begin(), p.shape.end());
  shape.insert(shape.end(), x.shape().begin() + first + k, x.shape().end());
  const std::int64_t outer = size_of_axes(x.shape(), 0, first);
  const std::int64_t n = size_of_axes(x.shape(), first, first + k);
  const std::int64_t inner = size_of_axes(x.shape(), first + k, x.dim());
  const auto picked = static_cast<std::int64_t>(p.rows.size());
  Tensor out = empty(shape, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    for (std::int64_t b = 0; b < outer; ++b)
      for (std::int64_t j = 0; j < picked; ++j)
        std::copy_n(in + (b * n + p.rows[j]) * inner, inner, o + (b * picked + j) * inner);
  });
  std::vector<Tensor> inputs{x};
  inputs.insert(inputs.end(), indices.begin(), indices.end());
  return record_list(op, out, inputs, [first, from_end = rule.from_end](const BackwardContext& c) {
    Grads g(c.inputs.size());
    if (c.needs(0)) g[0] = index_backward(c, first, from_end);
    for (std::size_t i = 1; i < c.inputs.size(); ++i)
      if (c.needs(i)) g[i] = zeros_like(c.inputs[i]);
    return g;
  });
}

// [start, stop) of an axis of `size` by `step`, as Python reads a slice: where it starts
// and how many elements it has.
struct Range {
  std::int64_t start, length;
};
Range range_of(const Slice& s, std::int64_t size) {
  const auto bound = [size](std::optional<std::int64_t> b, std::int64_t fallback) {
    if (!b) return fallback;
    const std::int64_t v = *b < 0 ? std::max<std::int64_t>(*b, -size) + size : *b;
    return std::min(v, size);
  };
  const std::int64_t start = bound(s.start, 0), stop = bound(s.stop, size);
  return {start, stop > start ? (stop - start - 1) / s.step + 1 : 0};
}

// Positions start, start + step, … of an axis of `size` (in each of `outer` blocks, `inner`
// numbers each) read into a packed tensor, or (into_axis) the packed one written back there.
template <class T>
void strided_planes(const T* from, T* to, std::int64_t outer, std::int64_t size, std::int64_t inner,
                    Range r, std::int64_t step, bool into_axis) {
  const auto move = [&](std::int64_t at, std::int64_t packed, std::int64_t n) {
    if (into_axis)
      std::copy_n(from + packed, n, to + at);
    else
      std::copy_n(from + at, n, to + packed);
  };
  for (std::int64_t b = 0; b < outer; ++b) {
    if (step == 1) {  // one run of numbers per block (an LSTM's gates: a block per row)
      move((b * size + r.start) * inner, b * r.length * inner, r.length * inner);
      continue;
    }
    for (std::int64_t i = 0; i < r.length; ++i)
      move((b * size + r.start + i * step) * inner, (b * r.length + i) * inner, inner);
  }
}

// slice's gradient: G in its place along `axis`, zeros elsewhere (and slice is its own).
const OpInfo slice_backward_op{"slice_backward",
                               "G put back in its slice of zeros (slice's and select's gradient)",
                               {"∂G = (the incoming gradient)[start:stop:step] along the axis"}};
Tensor slice_backward(const Tensor& g, const Shape& shape, std::int64_t axis, Range r,
                      std::int64_t step) {
  Tensor out = zeros(shape, g.dtype());
  dispatch(g.dtype(), [&]<class T>(T) {
    strided_planes(g.data<T>(), out.data<T>(), size_of_axes(shape, 0, axis), shape[axis],
                   size_of_axes(shape, axis + 1, static_cast<std::int64_t>(shape.size())), r, step,
                   true);
  });
  return record(slice_backward_op, out, {g}, [axis, r, step](const BackwardContext& c) {
    return Grads{slice(c.grad, axis, r.start, r.start + (r.length - 1) * step + 1, step)};
  });
}

}  // namespace

const OpInfo slice_op{"slice", "x[start:stop:step] along one axis",
                      {"∂x = G put back in its slice of zeros (slice_backward)"}};
Tensor slice(const Tensor& x, std::int64_t axis, std::optional<std::int64_t> start,
             std::optional<std::int64_t> stop, std::int64_t step, Here where) {
  const CallSite site(where, __func__);
  if (x.dim() == 0) throw IndexError("slice: a single number has no axis to slice");
  const std::int64_t a = normalize_axis("slice", axis, x.dim());
  if (step < 1)
    throw ValueError("slice: the step must be at least 1, got " + std::to_string(step) +
                     " (as in torch; flip(x, axis) reverses an axis)");
  const Range r = range_of({start, stop, step}, x.size(a));
  Shape shape = x.shape();
  shape[a] = r.length;
  Tensor out = empty(shape, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    strided_planes(x.data<T>(), out.data<T>(), size_of_axes(shape, 0, a), x.size(a),
                   size_of_axes(shape, a + 1, x.dim()), r, step, false);
  });
  return record(slice_op, out, {x}, [a, r, step](const BackwardContext& c) {
    return Grads{slice_backward(c.grad, c.inputs[0].shape(), a, r, step)};
  });
}

const OpInfo select_op{"select", "x[i] along one axis, which is dropped",
                       {"∂x = G at position i of the axis, zeros elsewhere (slice_backward)"}};
Tensor select(const Tensor& x, std::int64_t axis, std::int64_t i, Here where) {
  const CallSite site(where, __func__);
  if (x.dim() == 0) throw IndexError("select: a single number has no axis to pick from");
  const std::int64_t a = normalize_axis("select", axis, x.dim());
  const std::int64_t size = x.size(a);
  if (i < -size || i >= size)
    throw IndexError("select: the index " + std::to_string(i) + " is out of range for axis " +
                     std::to_string(a) + " of size " + std::to_string(size) +
                     (size ? " (" + std::to_string(-size) + " to " + std::to_string(size - 1) + ")"
                           : ", which has none"));
  const Range r{i < 0 ? i + size : i, 1};
  Shape shape = x.shape();
  shape.erase(shape.begin() + a);
  Tensor out = empty(shape, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    strided_planes(x.data<T>(), out.data<T>(), size_of_axes(x.shape(), 0, a), size,
                   size_of_axes(x.shape(), a + 1, x.dim()), r, 1, false);
  });
  return record(select_op, out, {x}, [a, r](const BackwardContext& c) {
    Shape kept = c.grad.shape();  // G with the axis back, of size 1
    kept.insert(kept.begin() + a, 1);
    return Grads{slice_backward(reshape(c.grad, kept), c.inputs[0].shape(), a, r, 1)};
  });
}

Tensor index(const Tensor& x, const Tensor& idx, Here where) {
  const CallSite site(where, __func__);
  if (x.dim() == 0)
    throw IndexError("index: a single number has no rows to pick (indices " +
                     to_string(idx.shape()) + ")");
  return take(index_op, index_rule, x, 0, std::span<const Tensor>(&idx, 1));
}

Tensor index(const Tensor& x, const std::vector<Subscript>& subscripts, Here where) {
  const CallSite site(where, __func__);
  // The subscripts that stand for an axis of x each, and all_axes: `:` for the rest.
  const auto counted = static_cast<std::size_t>(std::count_if(
      subscripts.begin(), subscripts.end(), [](const Subscript& s) {
        return !std::holds_alternative<NewAxis>(s) && !std::holds_alternative<AllAxes>(s);
      }));
  const auto alls = std::count_if(subscripts.begin(), subscripts.end(), [](const Subscript& s) {
    return std::holds_alternative<AllAxes>(s);
  });
  if (alls > 1) throw IndexError("index: all_axes (...) may stand only once among the subscripts");
  if (static_cast<std::int64_t>(counted) > x.dim())
    throw IndexError("index: " + std::to_string(counted) +
                     (counted == 1 ? " subscript" : " subscripts") + " for " +
                     to_string(x.shape()) + ", which has " + std::to_string(x.dim()) + " axes");
  std::vector<Subscript> written;  // with all_axes as that many `:`
  for (const Subscript& s : subscripts) {
    if (std::holds_alternative<AllAxes>(s))
      written.insert(written.end(), static_cast<std::size_t>(x.dim()) - counted, Slice{});
    else
      written.push_back(s);
  }
  if (written.empty()) return reshape(x, x.shape());  // x[()]: a new tensor, all of x
  Tensor y = x;
  std::int64_t axis = 0;  // y's axis the next subscript applies to
  std::int64_t of_x = 0;  // and x's (for messages)
  std::vector<std::int64_t> at, named;  // y's axes of the index tensors, and x's
  std::vector<Tensor> tensors;
  for (const Subscript& s : written) {
    if (std::holds_alternative<NewAxis>(s)) {
      Shape shape = y.shape();
      shape.insert(shape.begin() + axis++, 1);
      y = reshape(y, shape);
      continue;
    }
    const std::int64_t k = of_x++;
    const Tensor* t = std::get_if<Tensor>(&s);
    if (std::holds_alternative<std::int64_t>(s) || (t && t->dim() == 0)) {
      // A number, or a tensor of one (torch reads x[torch.tensor(0)] as x[0]), selects.
      const std::int64_t size = y.size(axis);
      const std::int64_t i =  // (named by x's axis, which y's may not be)
          t ? whole_indices(index_rule, *t, size, k)[0]
            : std::get<std::int64_t>(s);
      if (i < -size || i >= size)
        throw IndexError("index: the index " + std::to_string(i) + " is out of range for axis " +
                         std::to_string(k) + " of size " + std::to_string(size) +
                         (size ? " (" + std::to_string(-size) + " to " +
                                     std::to_string(size - 1) + ")"
                               : ", which has none"));
      y = select(y, axis, i);
    } else if (const Slice* sl = std::get_if<Slice>(&s)) {
      y = slice(y, axis++, sl->start, sl->stop, sl->step);
    } else {
      at.push_back(axis++);
      named.push_back(k);
      tensors.push_back(*t);
    }
  }
  if (tensors.empty()) return y;
  std::int64_t first = at.front();
  if (at.back() - at.front() + 1 != static_cast<std::int64_t>(at.size())) {
    // Index tensors split by a slice: their axes go first, in order (torch's rule), each moved
    // there by swapping it with its neighbours.
    for (std::size_t j = 0; j < at.size(); ++j)
      for (std::int64_t p = at[j]; p > static_cast<std::int64_t>(j); --p) y = transpose(y, p - 1, p);
    first = 0;
  }
  return take(index_op, index_rule, y, first, tensors, named);
}

// A constant, as eye: it records nothing.
Tensor arange(double n, DType dtype, Here where) { return arange(0, n, 1, dtype, where); }
Tensor arange(double start, double stop, double step, DType dtype, Here where) {
  const CallSite site(where, __func__);
  if (!std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step))
    throw ValueError("arange: start, stop and step must be finite numbers");
  if (step == 0) throw ValueError("arange: the step must not be 0");
  const double count = std::max(0.0, std::ceil((stop - start) / step));
  if (count > 1e15)
    throw ValueError("arange: " + std::to_string(count) + " elements are far too many");
  Tensor out = empty({static_cast<std::int64_t>(count)}, dtype);
  dispatch(dtype, [&]<class T>(T) {
    T* o = out.data<T>();
    for (std::int64_t i = 0; i < out.numel(); ++i) o[i] = static_cast<T>(start + i * step);
  });
  return out;
}

const OpInfo one_hot_op{"one_hot", "[y = j] for the classes j = 0 … n − 1: arange(n) == y[…, None]",
                        {"∂y: none, the result is a constant"}};
Tensor one_hot(const Tensor& y, std::int64_t n, Here where) {
  const CallSite site(where, __func__);
  if (n < 0) throw ValueError("one_hot: the number of classes must be at least 0, got " +
                              std::to_string(n));
  whole_indices({"one_hot", false, "classes"}, y, n, 0);
  Shape column = y.shape();
  column.push_back(1);
  return equal(reshape(y.detach(), column), arange(static_cast<double>(n), y.dtype()));
}

const OpInfo index_add_op{"index_add", "target with source added at the entries idx names along an axis",
                          {"∂target = G", "∂idx: none (indices)",
                           "∂source = G[idx] along the axis: index(G, idx)"}};
Tensor index_add(const Tensor& target, const Tensor& idx, const Tensor& source, std::int64_t axis,
                 Here where) {
  const CallSite site(where, __func__);
  if (target.dim() == 0)
    throw ShapeError("index_add: the target is a single number, with no axis to add along");
  const std::int64_t a = normalize_axis("index_add", axis, target.dim());
  kernels::check_same_dtype("index_add", target, source);
  Shape expected(target.shape().begin(), target.shape().begin() + a);
  expected.insert(expected.end(), idx.shape().begin(), idx.shape().end());
  expected.insert(expected.end(), target.shape().begin() + a + 1, target.shape().end());
  if (source.shape() != expected)
    throw ShapeError("index_add: source " + to_string(source.shape()) + " must be " +
                     to_string(expected) + ": target " + to_string(target.shape()) +
                     " with axis " + std::to_string(a) + " replaced by the indices' shape " +
                     to_string(idx.shape()));
  const std::vector<std::int64_t> rows = whole_indices(index_add_rule, idx, target.size(a), a);
  Tensor out = target.clone();
  add_rows(out, rows, source, a);
  return record(index_add_op, out, {target, idx, source}, [a](const BackwardContext& c) {
    Grads g(3);
    if (c.needs(0)) g[0] = c.grad;
    if (c.needs(1)) g[1] = zeros_like(c.inputs[1]);
    if (c.needs(2)) g[2] = take(index_op, index_add_rule, c.grad, a, c.inputs.subspan(1, 1));
    return g;
  });
}

namespace {

// gather's and scatter_add's shared checks and walk: idx has x's rank and, but along
// `axis`, no size larger than x's (nor than src's, for scatter_add: `also`).
std::int64_t check_along(const char* op, const Tensor& x, std::int64_t axis, const Tensor& idx,
                         const Tensor* also = nullptr) {
  if (idx.dim() != x.dim())
    throw ShapeError(std::string(op) + ": the indices " + to_string(idx.shape()) +
                     " must have as many axes as x " + to_string(x.shape()));
  const std::int64_t a = x.dim() == 0 ? 0 : normalize_axis(op, axis, x.dim());
  for (std::int64_t d = 0; d < x.dim(); ++d) {
    if (d != a && idx.size(d) > x.size(d))
      throw ShapeError(std::string(op) + ": the indices " + to_string(idx.shape()) +
                       " are larger than x " + to_string(x.shape()) + " along axis " +
                       std::to_string(d) + " (only axis " + std::to_string(a) + " may differ)");
    if (also && idx.size(d) > also->size(d))
      throw ShapeError(std::string(op) + ": the indices " + to_string(idx.shape()) +
                       " are larger than src " + to_string(also->shape()) + " along axis " +
                       std::to_string(d));
  }
  return a;
}

// Calls f(k, at_x, at_other) for each position k of idx (row-major): at_x is its offset in x
// with axis `a` at 0, at_other its offset in a tensor of shape `other` (src, or idx itself).
template <class F>
void walk_along(const Shape& idx_shape, const Shape& x_shape, const Shape& other, std::int64_t a,
                F&& f) {
  const std::size_t rank = idx_shape.size();
  std::vector<std::int64_t> sx(rank), so(rank), at(rank, 0);
  for (std::size_t d = rank, px = 1, po = 1; d-- > 0;) {
    sx[d] = static_cast<std::int64_t>(d) == a ? 0 : px;
    so[d] = po;
    px *= x_shape[d];
    po *= other[d];
  }
  const std::int64_t n = numel(idx_shape);
  std::int64_t ox = 0, oo = 0;
  for (std::int64_t k = 0; k < n; ++k) {
    f(k, ox, oo);
    for (std::size_t d = rank; d-- > 0;) {  // the next position: an odometer
      ox += sx[d];
      oo += so[d];
      if (++at[d] < idx_shape[d]) break;
      ox -= sx[d] * at[d];
      oo -= so[d] * at[d];
      at[d] = 0;
    }
  }
}

// x's stride along axis a.
std::int64_t stride_of(const Shape& shape, std::int64_t a) {
  return shape.empty() ? 1 : size_of_axes(shape, a + 1, static_cast<std::int64_t>(shape.size()));
}

}  // namespace

const OpInfo gather_op{"gather", "x[i][idx[i][j]] along an axis (torch.gather)",
                       {"∂x = scatter_add(zeros, axis, idx, G)", "∂idx: none (indices)"}};
Tensor gather(const Tensor& x, std::int64_t axis, const Tensor& idx, Here where) {
  const CallSite site(where, __func__);
  const std::int64_t a = check_along("gather", x, axis, idx);
  const std::int64_t size = x.dim() == 0 ? 1 : x.size(a);
  const std::vector<std::int64_t> picked = whole_indices({"gather"}, idx, size, a);
  const std::int64_t stride = stride_of(x.shape(), a);
  Tensor out = empty(idx.shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    walk_along(idx.shape(), x.shape(), idx.shape(), a, [&](std::int64_t k, std::int64_t at, std::int64_t) {
      o[k] = in[at + picked[k] * stride];
    });
  });
  return record(gather_op, out, {x, idx}, [a](const BackwardContext& c) {
    Grads g(2);
    if (c.needs(0)) g[0] = scatter_add(zeros_like(c.inputs[0]), a, c.inputs[1], c.grad);
    if (c.needs(1)) g[1] = zeros_like(c.inputs[1]);
    return g;
  });
}

const OpInfo scatter_add_op{"scatter_add", "x with src[i][j] added at x[i][idx[i][j]] along an axis",
                            {"∂x = G", "∂idx: none (indices)",
                             "∂src = gather(G, axis, idx), zeros where idx does not reach"}};
Tensor scatter_add(const Tensor& x, std::int64_t axis, const Tensor& idx, const Tensor& src,
                   Here where) {
  const CallSite site(where, __func__);
  kernels::check_same_dtype("scatter_add", x, src);
  if (src.dim() != x.dim())
    throw ShapeError("scatter_add: src " + to_string(src.shape()) + " must have as many axes as x " +
                     to_string(x.shape()));
  const std::int64_t a = check_along("scatter_add", x, axis, idx, &src);
  const std::int64_t size = x.dim() == 0 ? 1 : x.size(a);
  const std::vector<std::int64_t> placed = whole_indices({"scatter_add"}, idx, size, a);
  const std::int64_t stride = stride_of(x.shape(), a);
  Tensor out = empty(x.shape(), x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* s = src.data<T>();
    T* o = out.data<T>();
    std::copy_n(x.data<T>(), x.numel(), o);
    walk_along(idx.shape(), x.shape(), src.shape(), a,
               [&](std::int64_t k, std::int64_t at, std::int64_t from) {
                 o[at + placed[k] * stride] += s[from];
               });
  });
  return record(scatter_add_op, out, {x, idx, src}, [a](const BackwardContext& c) {
    Grads g(3);
    if (c.needs(0)) g[0] = c.grad;
    if (c.needs(1)) g[1] = zeros_like(c.inputs[1]);
    if (c.needs(2)) {
      // gather(G) has idx's shape; src's other entries were never added anywhere: zeros.
      Tensor part = gather(c.grad, a, c.inputs[1]);
      const Shape& full = c.inputs[2].shape();
      for (std::int64_t d = 0; d < part.dim(); ++d)
        if (part.size(d) != full[d]) {
          Shape rest = part.shape();
          rest[d] = full[d] - part.size(d);
          part = concat({part, zeros(rest, part.dtype())}, d);
        }
      g[2] = part;
    }
    return g;
  });
}

namespace detail {

const IndexRule embedding_rule{"embedding", false, "rows"};

Tensor embedding_rows(const OpInfo& op, const Tensor& weight, const Tensor& indices) {
  return take(op, embedding_rule, weight, 0, std::span<const Tensor>(&indices, 1));
}

}  // namespace detail

}  // namespace gradlab
