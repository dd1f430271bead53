#include "gradlab/ops/join.hpp"

#include <algorithm>
#include <span>
#include <string>

#include "gradlab/core/graph.hpp"
#include "gradlab/kernels/loops.hpp"
#include "gradlab/ops/reduce.hpp"
#include "gradlab/ops/shape.hpp"

namespace gradlab {

namespace {

// The product of the sizes before `axis` (outer) and after it (inner): a row-major tensor
// is `outer` blocks, each of shape[axis] rows of `inner` numbers.
std::int64_t size_before(const Shape& shape, std::int64_t axis) {
  std::int64_t n = 1;
  for (std::int64_t k = 0; k < axis; ++k) n *= shape[k];
  return n;
}
std::int64_t size_after(const Shape& shape, std::int64_t axis) {
  std::int64_t n = 1;
  for (std::size_t k = axis + 1; k < shape.size(); ++k) n *= shape[k];
  return n;
}

// A 1-D empty tensor, which torch.cat lets join anything (and adds nothing).
bool is_blank(const Tensor& t) { return t.shape() == Shape{0}; }

std::string item(std::size_t i, const Tensor& t) {
  return "tensor " + std::to_string(i) + " " + to_string(t.shape());
}

// The parts written one after the other along `axis` into a new tensor of shape `shape`;
// blanks are skipped.
Tensor join(const std::vector<Tensor>& parts, std::int64_t axis, const Shape& shape,
            DType dtype) {
  Tensor out = empty(shape, dtype);
  const std::int64_t outer = size_before(shape, axis), inner = size_after(shape, axis);
  const std::int64_t row = shape[axis] * inner;  // one outer block of the output
  dispatch(dtype, [&]<class T>(T) {
    T* o = out.data<T>();
    std::int64_t offset = 0;  // where this part starts within each block
    for (const Tensor& part : parts) {
      if (is_blank(part) && shape != Shape{0}) continue;
      const std::int64_t n = (part.dim() > axis ? part.size(axis) : 0) * inner;
      const T* in = part.data<T>();
      for (std::int64_t b = 0; b < outer; ++b) std::copy_n(in + b * n, n, o + b * row + offset);
      offset += n;
    }
  });
  return out;
}

}  // namespace

const OpInfo concat_op{"concat", "[a, b, …] joined along an axis (torch.cat)",
                       {"∂aᵢ = narrow(G, axis, offsetᵢ, sizeᵢ): aᵢ's own slice of G"}};
Tensor concat(const std::vector<Tensor>& tensors, std::int64_t axis, Here where) {
  const CallSite site(where, __func__);
  if (tensors.empty()) throw ValueError("concat: needs at least one tensor, got an empty list");
  // The first tensor that is not a blank sets the rank and the other sizes.
  const auto first = std::find_if(tensors.begin(), tensors.end(),
                                  [](const Tensor& t) { return !is_blank(t); });
  const std::size_t ref = first == tensors.end() ? 0 : first - tensors.begin();
  const Tensor& model = tensors[ref];
  if (model.dim() == 0)
    throw ShapeError("concat: " + item(ref, model) +
                     " has no axis to join along (a single number: stack joins those)");
  const std::int64_t a = normalize_axis("concat", axis, model.dim());
  Shape shape = model.shape();
  shape[a] = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    kernels::check_same_dtype("concat", model, t);
    if (is_blank(t) && i != ref) continue;
    if (t.dim() != model.dim())
      throw ShapeError("concat: " + item(i, t) + " has " + std::to_string(t.dim()) +
                       " axes, " + item(ref, model) + " has " + std::to_string(model.dim()));
    for (std::int64_t k = 0; k < t.dim(); ++k)
      if (k != a && t.size(k) != model.size(k))
        throw ShapeError("concat: " + item(i, t) + " does not match " + item(ref, model) +
                         " along axis " + std::to_string(k) + " (only axis " +
                         std::to_string(a) + ", the one joined along, may differ)");
    shape[a] += t.size(a);
  }
  Tensor out = join(tensors, a, shape, model.dtype());
  return record_list(concat_op, out, tensors, [a](const BackwardContext& c) {
    Grads g(c.inputs.size());
    const bool blank_out = c.output.shape() == Shape{0};
    std::int64_t offset = 0;
    for (std::size_t i = 0; i < c.inputs.size(); ++i) {
      const Tensor& t = c.inputs[i];
      if (is_blank(t) && !blank_out) {
        if (c.needs(i)) g[i] = zeros_like(t);
        continue;
      }
      if (c.needs(i)) g[i] = narrow(c.grad, a, offset, t.size(a));
      offset += t.size(a);
    }
    return g;
  });
}

const OpInfo stack_op{"stack", "[a, b, …] side by side along a new axis (torch.stack)",
                      {"∂aᵢ = G at position i of the new axis"}};
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t axis, Here where) {
  const CallSite site(where, __func__);
  if (tensors.empty()) throw ValueError("stack: needs at least one tensor, got an empty list");
  const Tensor& model = tensors[0];
  const std::int64_t a = normalize_axis("stack", axis, model.dim() + 1);
  Shape one = model.shape();  // each tensor with the new axis, of size 1
  one.insert(one.begin() + a, 1);
  std::vector<Tensor> parts;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    kernels::check_same_dtype("stack", model, t);
    if (t.shape() != model.shape()) {
      std::string detail = t.dim() != model.dim() ? "a different number of axes" : "";
      for (std::int64_t k = 0; detail.empty(); ++k)
        if (t.size(k) != model.size(k)) detail = "they differ along axis " + std::to_string(k);
      throw ShapeError("stack: " + item(i, t) + " does not match " + item(0, model) +
                       ": stack needs tensors of one shape (" + detail + ")");
    }
    parts.push_back(reshape(t.detach(), one));
  }
  Shape shape = one;
  shape[a] = static_cast<std::int64_t>(tensors.size());
  Tensor out = join(parts, a, shape, model.dtype());
  return record_list(stack_op, out, tensors, [a](const BackwardContext& c) {
    Grads g(c.inputs.size());
    for (std::size_t i = 0; i < c.inputs.size(); ++i)
      if (c.needs(i))
        g[i] = reshape(narrow(c.grad, a, static_cast<std::int64_t>(i), 1), c.inputs[i].shape());
    return g;
  });
}

const OpInfo narrow_op{"narrow", "x[…, start : start + length, …] along one axis",
                       {"∂x = concat([0, G, 0], axis): G in its place, zeros around it"}};
Tensor narrow(const Tensor& x, std::int64_t axis, std::int64_t start, std::int64_t length,
              Here where) {
  const CallSite site(where, __func__);
  if (x.dim() == 0) throw ShapeError("narrow: a single number has no axis to narrow");
  const std::int64_t a = normalize_axis("narrow", axis, x.dim());
  const std::int64_t size = x.size(a);
  if (start < 0 || length < 0 || start > size || length > size - start)
    throw IndexError("narrow: start " + std::to_string(start) + " and length " +
                     std::to_string(length) + " do not fit axis " + std::to_string(a) +
                     " of size " + std::to_string(size) + " of " + to_string(x.shape()));
  Shape shape = x.shape();
  shape[a] = length;
  Tensor out = empty(shape, x.dtype());
  const std::int64_t outer = size_before(shape, a), inner = size_after(shape, a);
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    for (std::int64_t b = 0; b < outer; ++b)
      std::copy_n(in + (b * size + start) * inner, length * inner, o + b * length * inner);
  });
  return record(narrow_op, out, {x}, [a, start](const BackwardContext& c) {
    const Shape& s = c.inputs[0].shape();
    Shape before = s, after = s;
    before[a] = start;
    after[a] = s[a] - start - c.grad.size(a);
    return Grads{concat({zeros(before, c.grad.dtype()), c.grad, zeros(after, c.grad.dtype())}, a)};
  });
}

const OpInfo upsample_op{"upsample", "each element of the last two axes a k × k block of copies",
                         {"∂x = G summed over each k × k block"}};
Tensor upsample(const Tensor& x, std::int64_t k, Here where) {
  const CallSite site(where, __func__);
  if (x.dim() < 2)
    throw ShapeError("upsample: needs at least 2 axes (the last two are upsampled), got " +
                     to_string(x.shape()));
  if (k < 1) throw ValueError("upsample: the factor k must be at least 1, got " + std::to_string(k));
  const std::int64_t h = x.size(-2), w = x.size(-1);
  using kernels::Wide;
  Shape shape = x.shape();
  shape[shape.size() - 2] = kernels::checked_size("upsample", "the output's height", Wide(h) * k);
  shape[shape.size() - 1] = kernels::checked_size("upsample", "the output's width", Wide(w) * k);
  const std::int64_t planes = numel(Shape(x.shape().begin(), x.shape().end() - 2));
  const std::int64_t rows = kernels::checked_size("upsample", "the output's rows",
                                                  Wide(planes) * shape[shape.size() - 2]);
  kernels::checked_size("upsample", "the output's size", Wide(rows) * shape[shape.size() - 1]);
  Tensor out = empty(shape, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    for (std::int64_t p = 0; p < planes; ++p)
      for (std::int64_t i = 0; i < h * k; ++i) {
        const T* source = in + (p * h + i / k) * w;
        for (std::int64_t j = 0; j < w * k; ++j) *o++ = source[j / k];
      }
  });
  return record(upsample_op, out, {x}, [k](const BackwardContext& c) {
    // G as [..., H, k, W, k]: each block's rows and columns on axes of their own.
    const Shape& s = c.inputs[0].shape();
    Shape blocks(s.begin(), s.end() - 2);
    const std::int64_t h = s[s.size() - 2], w = s[s.size() - 1];
    for (const std::int64_t size : {h, k, w, k}) blocks.push_back(size);
    return Grads{sum(sum(reshape(c.grad, blocks), -1), -2)};
  });
}

}  // namespace gradlab
