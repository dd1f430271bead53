#include "gradlab/ops/pad.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "gradlab/core/graph.hpp"
#include "gradlab/kernels/loops.hpp"

namespace gradlab {

const char* to_string(PadMode mode) {
  switch (mode) {
    case PadMode::zeros:
      return "zeros";
    case PadMode::reflect:
      return "reflect";
    case PadMode::replicate:
      return "replicate";
    case PadMode::circular:
      return "circular";
  }
  return "?";
}

namespace {

// For each row (or column) of the padded image, the row of the original it copies, or −1
// for a zero. `before` rows come first, then the n original ones, then `after`.
std::vector<std::int64_t> source_rows(std::int64_t n, std::int64_t before, std::int64_t after,
                                      PadMode mode) {
  std::vector<std::int64_t> source;
  for (std::int64_t i = -before; i < n + after; ++i) {
    std::int64_t s = i;
    if (i < 0 || i >= n) {
      switch (mode) {
        case PadMode::zeros:
          s = -1;
          break;
        case PadMode::reflect:
          s = i < 0 ? -i : 2 * (n - 1) - i;
          break;
        case PadMode::replicate:
          s = i < 0 ? 0 : n - 1;
          break;
        case PadMode::circular:
          s = ((i % n) + n) % n;
          break;
      }
    }
    source.push_back(s);
  }
  return source;
}

void check_padding(const char* op, const Shape& image, Padding p, PadMode mode) {
  const std::string where = std::string(op) + ": " + to_string(mode) + " padding (top " +
                            std::to_string(p.top) + ", bottom " + std::to_string(p.bottom) +
                            ", left " + std::to_string(p.left) + ", right " +
                            std::to_string(p.right) + ") of an image " + to_string(image);
  if (image.size() < 2)
    throw ShapeError(std::string(op) + ": needs an image with at least 2 dimensions, got " +
                     to_string(image));
  if (p.top < 0 || p.bottom < 0 || p.left < 0 || p.right < 0)
    throw ValueError(where + ": amounts must not be negative");
  const std::int64_t h = image[image.size() - 2], w = image.back();
  // The padded sides must fit in int64 (padded_shape and the loops over them rely on it).
  using kernels::Wide;
  kernels::checked_size(op, "the padded height", Wide(h) + p.top + p.bottom);
  kernels::checked_size(op, "the padded width", Wide(w) + p.left + p.right);
  // Reflect mirrors about the edge pixel, so it can reach at most n − 1 pixels inward;
  // replicate and circular need at least one pixel to copy.
  if (mode == PadMode::reflect &&
      ((std::max(p.top, p.bottom) > 0 && std::max(p.top, p.bottom) >= h) ||
       (std::max(p.left, p.right) > 0 && std::max(p.left, p.right) >= w)))
    throw ShapeError(where + ": reflect padding must be smaller than the image side");
  if ((mode == PadMode::replicate || mode == PadMode::circular) &&
      (((p.top || p.bottom) && h == 0) || ((p.left || p.right) && w == 0)))
    throw ShapeError(where + ": cannot pad an empty image");
  if (mode == PadMode::circular && (std::max(p.top, p.bottom) > h || std::max(p.left, p.right) > w))
    throw ShapeError(where + ": circular padding must not exceed the image side");
}

// Visits every pixel of the padded images: f(padded index, source index or −1).
template <class F>
void for_each_padded_pixel(const Shape& image, Padding p, PadMode mode, F&& f) {
  const std::int64_t h = image[image.size() - 2], w = image.back();
  const std::int64_t planes = numel(image) / std::max<std::int64_t>(1, h * w);
  const std::vector<std::int64_t> rows = source_rows(h, p.top, p.bottom, mode);
  const std::vector<std::int64_t> cols = source_rows(w, p.left, p.right, mode);
  const std::int64_t ph = static_cast<std::int64_t>(rows.size()),
                     pw = static_cast<std::int64_t>(cols.size());
  for (std::int64_t plane = 0; plane < planes; ++plane)
    for (std::int64_t i = 0; i < ph; ++i)
      for (std::int64_t j = 0; j < pw; ++j) {
        const bool inside = rows[i] >= 0 && cols[j] >= 0;
        f((plane * ph + i) * pw + j, inside ? (plane * h + rows[i]) * w + cols[j] : -1);
      }
}

Shape padded_shape(Shape s, Padding p) {
  s[s.size() - 2] += p.top + p.bottom;
  s.back() += p.left + p.right;
  return s;
}

}  // namespace

// Each padded pixel copies one pixel of x (or is 0); in backward each pixel of x collects
// the gradients of all its copies.
const OpInfo pad_op{"pad", "x with a border: zeros, reflect, replicate or circular",
                    {"∂x = unpad(G): the border's gradient folded back onto x"}};
Tensor pad(const Tensor& x, Padding p, PadMode mode, Here where) {
  const CallSite site(where, __func__);
  check_padding("pad", x.shape(), p, mode);
  Tensor out = zeros(padded_shape(x.shape(), p), x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    for_each_padded_pixel(x.shape(), p, mode, [&](std::int64_t oi, std::int64_t xi) {
      if (xi >= 0) o[oi] = in[xi];
    });
  });
  return record(pad_op, out, {x},
                [p, mode](const BackwardContext& c) { return Grads{unpad(c.grad, p, mode)}; });
}

// unpad is linear, and its own gradient is pad again.
const OpInfo unpad_op{"unpad", "g with its border folded back onto the image (pad's adjoint)",
                      {"∂g = pad(G)"}};
Tensor unpad(const Tensor& g, Padding p, PadMode mode, Here where) {
  const CallSite site(where, __func__);
  if (g.dim() < 2)
    throw ShapeError("unpad: needs an image with at least 2 dimensions, got " +
                     to_string(g.shape()));
  Shape image = g.shape();
  using kernels::Wide;
  image[image.size() - 2] = kernels::checked_size(
      "unpad", "the unpadded height", Wide(image[image.size() - 2]) - p.top - p.bottom);
  image.back() =
      kernels::checked_size("unpad", "the unpadded width", Wide(image.back()) - p.left - p.right);
  if (image[image.size() - 2] < 0 || image.back() < 0)
    throw ShapeError("unpad: an image " + to_string(g.shape()) + " is smaller than its padding");
  check_padding("unpad", image, p, mode);
  Tensor out = zeros(image, g.dtype());
  dispatch(g.dtype(), [&]<class T>(T) {
    const T* in = g.data<T>();
    T* o = out.data<T>();
    for_each_padded_pixel(image, p, mode, [&](std::int64_t gi, std::int64_t xi) {
      if (xi >= 0) o[xi] += in[gi];
    });
  });
  return record(unpad_op, out, {g},
                [p, mode](const BackwardContext& c) { return Grads{pad(c.grad, p, mode)}; });
}

}  // namespace gradlab
