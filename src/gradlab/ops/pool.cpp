#include "gradlab/ops/pool.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "gradlab/core/graph.hpp"
#include "gradlab/kernels/loops.hpp"
#include "gradlab/core/memory.hpp"
#include "gradlab/core/parallel.hpp"
#include "gradlab/ops/elementwise.hpp"
#include "gradlab/ops/shape.hpp"

namespace gradlab {

namespace {

struct PoolGeometry {
  std::int64_t planes, height, width, out_h, out_w;
  Pair kernel, stride, padding;
};

// Checks the settings and works out the output size; input must be 4-D by now.
PoolGeometry pool_geometry(const char* op, const Tensor& x, Pair kernel, Pool2dOptions o) {
  if (x.dim() != 4)
    throw ShapeError(std::string(op) + ": needs a 4-D input [N, C, H, W] (or a 2-D image), got " +
                     to_string(x.shape()));
  const Pair stride = o.stride == Pair(0) ? kernel : o.stride;
  const std::string settings = "kernel " + to_string(kernel) + ", stride " + to_string(stride) +
                               ", padding " + to_string(o.padding);
  if (kernel.h < 1 || kernel.w < 1 || stride.h < 1 || stride.w < 1 || o.padding.h < 0 ||
      o.padding.w < 0)
    throw ValueError(std::string(op) + ": " + settings +
                     ": kernel and stride must be ≥ 1, padding ≥ 0");
  using kernels::Wide;
  if (2 * Wide(o.padding.h) > kernel.h || 2 * Wide(o.padding.w) > kernel.w)
    throw ValueError(std::string(op) + ": " + settings +
                     ": padding must be at most half the kernel");
  const std::int64_t h = x.size(2), w = x.size(3);
  if (h == 0 || w == 0)  // every window would lie in the padding: nothing to pool
    throw ShapeError(std::string(op) + ": empty image " + to_string(x.shape()));
  const std::int64_t padded_h = kernels::checked_size(op, "the padded input's height",
                                                      h + 2 * Wide(o.padding.h));
  const std::int64_t padded_w = kernels::checked_size(op, "the padded input's width",
                                                      w + 2 * Wide(o.padding.w));
  if (kernel.h > padded_h || kernel.w > padded_w)
    throw ShapeError(std::string(op) + ": " + settings + " is larger than the padded input " +
                     to_string(x.shape()));
  return {x.size(0) * x.size(1),
          h,
          w,
          (padded_h - kernel.h) / stride.h + 1,
          (padded_w - kernel.w) / stride.w + 1,
          kernel,
          stride,
          o.padding};
}

// Lifts a plain 2-D image to [1, 1, H, W], applies f, and drops the two axes again.
template <class F>
Tensor on_batch(const Tensor& input, F&& f) {
  if (input.dim() != 2) return f(input);
  const Tensor y = f(reshape(input, {1, 1, input.size(0), input.size(1)}));
  return reshape(y, {y.size(2), y.size(3)});
}

// Where each output element came from: indices into the input. Kept in memory from the
// tensor allocator, so that a training loop reuses the same pages at every step.
struct Positions {
  Ref<Storage> memory;
  std::int64_t count = 0;

  explicit Positions(std::int64_t n) : memory(Storage::allocate(n * sizeof(std::int64_t))), count(n) {}
  std::int64_t* data() const { return static_cast<std::int64_t*>(memory->data()); }
  std::int64_t operator[](std::int64_t k) const { return data()[k]; }
};

// Two linear ops that move values by a fixed list of positions, each the other's gradient:
//   gather(x)[k] = x[positions[k]]            (max pooling, once the maxima are found)
//   scatter(g)[positions[k]] += g[k]          (its gradient: back to where each max was)
Tensor scatter(const Tensor& g, const Positions& positions, const Shape& shape);

const OpInfo gather_op{"take", "x at listed positions (max pooling's winners), as torch.take",
                       {"∂x = scatter(G): back to where each value came from"}};
const OpInfo scatter_op{"scatter", "g added into zeros at listed positions", {"∂g = take(G)"}};

// gather, recorded as `op`: max pooling records its own name, its backward the same scatter.
Tensor gather(const Tensor& x, const Positions& positions, const Shape& shape,
              const OpInfo& op = gather_op) {
  Tensor out = empty(shape, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    const T* in = x.data<T>();
    T* o = out.data<T>();
    for (std::int64_t k = 0; k < positions.count; ++k) o[k] = in[positions[k]];
  });
  return record(op, out, {x}, [positions](const BackwardContext& c) {
    return Grads{scatter(c.grad, positions, c.inputs[0].shape())};
  });
}

Tensor scatter(const Tensor& g, const Positions& positions, const Shape& shape) {
  Tensor out = zeros(shape, g.dtype());
  dispatch(g.dtype(), [&]<class T>(T) {
    const T* in = g.data<T>();
    T* o = out.data<T>();
    for (std::int64_t k = 0; k < positions.count; ++k) o[positions[k]] += in[k];
  });
  return record(scatter_op, out, {g}, [positions](const BackwardContext& c) {
    return Grads{gather(c.grad, positions, c.inputs[0].shape())};
  });
}

}  // namespace

// y = max over each window: a gather of the windows' winners, recorded under its own name.
const OpInfo max_pool2d_op{"max_pool2d", "the largest value of each window",
                           {"∂x = scatter(G): each window's G to where its maximum was"}};
Tensor max_pool2d(const Tensor& input, Pair kernel, const Pool2dOptions& options, Here where) {
  const CallSite site(where, __func__);
  return on_batch(input, [&](const Tensor& x) {
    const PoolGeometry g = pool_geometry("max_pool2d", x, kernel, options);
    const Positions positions(g.planes * g.out_h * g.out_w);
    dispatch(x.dtype(), [&]<class T>(T) {
      // The planes (one channel of one image each) are independent: split over threads.
      parallel_for(g.planes, [&](std::int64_t plane) {
        const std::int64_t plane_start = plane * g.height * g.width;
        const T* in = x.data<T>() + plane_start;
        std::int64_t* winner = positions.data() + plane * g.out_h * g.out_w;
        for (std::int64_t i = 0; i < g.out_h; ++i) {
          // The window's rows and columns that fall inside the image (padding is never
          // the maximum: it is not there).
          const std::int64_t top = i * g.stride.h - g.padding.h;
          const std::int64_t row_lo = std::max<std::int64_t>(top, 0);
          const std::int64_t row_hi = std::min(top + g.kernel.h, g.height);
          for (std::int64_t j = 0; j < g.out_w; ++j) {
            const std::int64_t left = j * g.stride.w - g.padding.w;
            const std::int64_t col_lo = std::max<std::int64_t>(left, 0);
            const std::int64_t col_hi = std::min(left + g.kernel.w, g.width);
            std::int64_t best = row_lo * g.width + col_lo;
            T best_value = in[best];
            for (std::int64_t row = row_lo; row < row_hi; ++row)
              for (std::int64_t col = col_lo; col < col_hi; ++col) {
                const std::int64_t at = row * g.width + col;
                const T v = in[at];
                // The first maximum wins a tie; a NaN wins outright (v != v), so that it is
                // not silently dropped from the output, and then nothing displaces it.
                // (Selects, not a branch: which value wins is a coin toss on real data.)
                const bool wins = v > best_value || (v != v && best_value == best_value);
                best_value = wins ? v : best_value;
                best = wins ? at : best;
              }
            *winner++ = plane_start + best;
          }
        }
      });
    });
    return gather(x, positions, {x.size(0), x.size(1), g.out_h, g.out_w}, max_pool2d_op);
  });
}

// The mean of each window: every channel of every image as its own one-channel image,
// convolved with one 1/(kH·kW) kernel. Its gradient is that convolution's adjoint, the
// transposed convolution with the same kernel (differentiable again, as conv_transpose2d is).
const OpInfo avg_pool2d_op{"avg_pool2d", "the mean of each window",
                           {"∂x = conv_transpose2d(G, 1/(kH·kW)): each window's G spread evenly over it"}};
Tensor avg_pool2d(const Tensor& input, Pair kernel, const Pool2dOptions& options, Here where) {
  const CallSite site(where, __func__);
  return on_batch(input, [&](const Tensor& x) {
    const PoolGeometry g = pool_geometry("avg_pool2d", x, kernel, options);
    const auto mean_kernel = [](const PoolGeometry& g, DType dtype) {
      return full({1, 1, g.kernel.h, g.kernel.w},
                  1.0 / (double(g.kernel.h) * double(g.kernel.w)), dtype);
    };
    const Tensor planes = reshape(x.detach(), {g.planes, 1, g.height, g.width});
    const Tensor y = conv2d(planes, mean_kernel(g, x.dtype()), {},
                            {.stride = g.stride, .padding = g.padding});  // records nothing
    return record(avg_pool2d_op, reshape(y, {x.size(0), x.size(1), g.out_h, g.out_w}), {x},
                  [g, mean_kernel](const BackwardContext& c) {
                    // The rows and columns the last window left out, which the transposed
                    // convolution must add back to come to H × W.
                    const Pair missed{(g.height + 2 * g.padding.h - g.kernel.h) % g.stride.h,
                                      (g.width + 2 * g.padding.w - g.kernel.w) % g.stride.w};
                    const Tensor spread = conv_transpose2d(
                        reshape(c.grad, {g.planes, 1, g.out_h, g.out_w}), mean_kernel(g, c.grad.dtype()),
                        {}, {.stride = g.stride, .padding = g.padding, .output_padding = missed});
                    return Grads{reshape(spread, c.inputs[0].shape())};
                  });
  });
}

}  // namespace gradlab
