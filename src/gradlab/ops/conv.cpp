#include "gradlab/ops/conv.hpp"

#include <string>

#include "gradlab/core/graph.hpp"
#include "gradlab/kernels/loops.hpp"
#include "gradlab/kernels/conv_kernels.hpp"
#include "gradlab/ops/elementwise.hpp"
#include "gradlab/ops/shape.hpp"

namespace gradlab {

std::string to_string(Pair p) { return to_string(Shape{p.h, p.w}); }

namespace {

// The settings the three convolution ops share (zero padding only: other modes go
// through pad() before they get here).
struct ConvParams {
  Pair stride, padding, dilation;
  std::int64_t groups;
};

// (In 128 bits: the checks before it, check_conv's, keep the result within int64.)
std::int64_t out_size(std::int64_t in, std::int64_t kernel, std::int64_t stride,
                      std::int64_t padding, std::int64_t dilation) {
  using kernels::Wide;
  return static_cast<std::int64_t>(
      (Wide(in) + 2 * Wide(padding) - Wide(dilation) * (kernel - 1) - 1) / stride + 1);
}

// x [N, C, H, W] convolved with a [O, C/groups, kH, kW] kernel.
kernels::ConvGeometry geometry(const Shape& x, std::int64_t out_channels, Pair kernel,
                               const ConvParams& p) {
  return {x[0],
          x[1],
          x[2],
          x[3],
          out_channels,
          kernel.h,
          kernel.w,
          out_size(x[2], kernel.h, p.stride.h, p.padding.h, p.dilation.h),
          out_size(x[3], kernel.w, p.stride.w, p.padding.w, p.dilation.w),
          p.stride.h,
          p.stride.w,
          p.padding.h,
          p.padding.w,
          p.dilation.h,
          p.dilation.w,
          p.groups};
}

Tensor conv2d_core(const Tensor& x, const Tensor& w, const ConvParams& p);
Tensor conv_transpose_core(const Tensor& u, const Tensor& w, const ConvParams& p, Pair image);
Tensor weight_grad_core(const Tensor& x, const Tensor& v, Pair kernel, const ConvParams& p);
Tensor convolve_core(const Tensor& x, const Tensor& w, const ConvParams& p);

const OpInfo conv2d_op{"conv2d", "y = x ⋆ w: w slid over x, Hadamard product with each patch, summed",
                       {"∂x = conv_transpose2d(G, w)", "∂w = conv2d_weight_grad(x, G)"}};
Tensor conv2d_core(const Tensor& x, const Tensor& w, const ConvParams& p) {
  const kernels::ConvGeometry g = geometry(x.shape(), w.size(0), {w.size(2), w.size(3)}, p);
  Tensor y = empty({g.batch, g.out_channels, g.out_h, g.out_w}, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    kernels::conv2d_forward(x.data<T>(), w.data<T>(), y.data<T>(), g);
  });
  return record(conv2d_op, y, {x, w}, [p](const BackwardContext& c) {
    const Tensor &x = c.inputs[0], &w = c.inputs[1];
    Grads grads(2);
    if (c.needs(0)) grads[0] = conv_transpose_core(c.grad, w, p, {x.size(2), x.size(3)});
    if (c.needs(1)) grads[1] = weight_grad_core(x, c.grad, {w.size(2), w.size(3)}, p);
    return grads;
  });
}

// conv_transpose2d(·, w) is the adjoint of conv2d(·, w).
const OpInfo conv_transpose2d_op{"conv_transpose2d", "z = u spread back through w (conv2d's ∂x)",
                                 {"∂u = conv2d(G, w)", "∂w = conv2d_weight_grad(G, u)"}};
Tensor conv_transpose_core(const Tensor& u, const Tensor& w, const ConvParams& p, Pair image) {
  const Shape x_shape{u.size(0), w.size(1) * p.groups, image.h, image.w};
  const kernels::ConvGeometry g = geometry(x_shape, u.size(1), {w.size(2), w.size(3)}, p);
  Tensor z = empty(x_shape, u.dtype());
  dispatch(u.dtype(), [&]<class T>(T) {
    kernels::conv2d_input_grad(u.data<T>(), w.data<T>(), z.data<T>(), g);
  });
  return record(conv_transpose2d_op, z, {u, w}, [p](const BackwardContext& c) {
    const Tensor &u = c.inputs[0], &w = c.inputs[1];
    Grads grads(2);
    if (c.needs(0)) grads[0] = conv2d_core(c.grad, w, p);
    if (c.needs(1)) grads[1] = weight_grad_core(c.grad, u, {w.size(2), w.size(3)}, p);
    return grads;
  });
}

// conv2d_weight_grad is bilinear in x and v, like conv2d itself.
const OpInfo conv2d_weight_grad_op{"conv2d_weight_grad", "x correlated with v (conv2d's ∂w)",
                                   {"∂x = conv_transpose2d(v, G)", "∂v = conv2d(x, G)"}};
Tensor weight_grad_core(const Tensor& x, const Tensor& v, Pair kernel, const ConvParams& p) {
  const kernels::ConvGeometry g = geometry(x.shape(), v.size(1), kernel, p);
  Tensor gw = empty({g.out_channels, g.in_channels / g.groups, kernel.h, kernel.w}, x.dtype());
  dispatch(x.dtype(), [&]<class T>(T) {
    kernels::conv2d_weight_grad(x.data<T>(), v.data<T>(), gw.data<T>(), g);
  });
  return record(conv2d_weight_grad_op, gw, {x, v}, [p](const BackwardContext& c) {
    const Tensor &x = c.inputs[0], &v = c.inputs[1];
    Grads grads(2);
    if (c.needs(0)) grads[0] = conv_transpose_core(v, c.grad, p, {x.size(2), x.size(3)});
    if (c.needs(1)) grads[1] = conv2d_core(x, c.grad, p);
    return grads;
  });
}

// convolve2d is conv2d with the kernel turned half a circle (flipped along both axes);
// recorded as its own op, the flips inside its forward and backward.
Tensor turned(const Tensor& w) { return flip(flip(w, -1), -2); }

const OpInfo convolve2d_op{"convolve2d", "y = x ∗ w: true convolution, conv2d with w flipped in both axes",
                           {"∂x = conv_transpose2d(G, flip(w))", "∂w = flip(conv2d_weight_grad(x, G))"}};
Tensor convolve_core(const Tensor& x, const Tensor& w, const ConvParams& p) {
  const Tensor y = conv2d_core(x.detach(), turned(w.detach()), p);  // records nothing
  return record(convolve2d_op, y, {x, w}, [p](const BackwardContext& c) {
    const Tensor &x = c.inputs[0], &w = c.inputs[1];
    Grads grads(2);
    if (c.needs(0)) grads[0] = conv_transpose_core(c.grad, turned(w), p, {x.size(2), x.size(3)});
    if (c.needs(1)) grads[1] = turned(weight_grad_core(x, c.grad, {w.size(2), w.size(3)}, p));
    return grads;
  });
}

// ---- checking what the caller passed ----

void check_settings(const char* op, Pair stride, Pair padding, Pair dilation, std::int64_t groups) {
  auto fail = [op](const char* what, const std::string& value, const char* rule) {
    return ValueError(std::string(op) + ": " + what + " " + value + " " + rule);
  };
  if (stride.h < 1 || stride.w < 1) throw fail("stride", to_string(stride), "must be ≥ 1");
  if (dilation.h < 1 || dilation.w < 1) throw fail("dilation", to_string(dilation), "must be ≥ 1");
  if (padding.h < 0 || padding.w < 0) throw fail("padding", to_string(padding), "must be ≥ 0");
  if (groups < 1) throw fail("groups", std::to_string(groups), "must be ≥ 1");
}

// input [N, C, H, W] and weight [O, C/groups, kH, kW] fit together.
void check_conv(const char* op, const Shape& input, const Shape& weight, const ConvParams& p) {
  const Pair padding = p.padding;
  const std::string shapes = "input " + to_string(input) + ", weight " + to_string(weight);
  if (input.size() != 4 || weight.size() != 4)
    throw ShapeError(std::string(op) + ": needs a 4-D input [N, C, H, W] and a 4-D weight " +
                     "[O, C/groups, kH, kW] (or a 2-D image and a 2-D kernel); got " + shapes);
  if (weight[2] < 1 || weight[3] < 1)
    throw ShapeError(std::string(op) + ": the kernel needs at least one row and column; got " +
                     shapes);
  using kernels::checked_size, kernels::Wide;
  const std::int64_t channels =
      checked_size(op, "the input channels weight[1] · groups", Wide(weight[1]) * p.groups);
  if (input[1] != channels)
    throw ShapeError(std::string(op) + ": channel mismatch: " + shapes + " with groups " +
                     std::to_string(p.groups) + " needs " + std::to_string(channels) +
                     " input channels, got " + std::to_string(input[1]));
  if (weight[0] % p.groups != 0)
    throw ShapeError(std::string(op) + ": " + shapes + ": the " + std::to_string(weight[0]) +
                     " output channels do not split into " + std::to_string(p.groups) + " groups");
  const Shape reach{
      checked_size(op, "the dilated kernel's height", Wide(p.dilation.h) * (weight[2] - 1) + 1),
      checked_size(op, "the dilated kernel's width", Wide(p.dilation.w) * (weight[3] - 1) + 1)};
  const Shape padded{checked_size(op, "the padded input's height", input[2] + 2 * Wide(padding.h)),
                     checked_size(op, "the padded input's width", input[3] + 2 * Wide(padding.w))};
  if (reach[0] > padded[0] || reach[1] > padded[1])
    throw ShapeError(std::string(op) + ": the kernel (reaching " + to_string(reach) +
                     " with dilation " + to_string(p.dilation) +
                     ") is larger than the padded input " + to_string(padded) + "; " + shapes);
}

Tensor add_bias(const char* op, const Tensor& y, const Tensor& bias) {
  if (!bias.defined()) return y;
  kernels::check_same_dtype(op, y, bias);
  if (bias.dim() != 1 || bias.size(0) != y.size(1))
    throw ShapeError(std::string(op) + ": bias must be [" + std::to_string(y.size(1)) +
                     "] (one per output channel), got " + to_string(bias.shape()));
  return y + reshape(bias, {1, y.size(1), 1, 1});
}

bool is_plain_image(const Tensor& input, const Tensor& weight) {
  return input.dim() == 2 && weight.dim() == 2;
}

// A plain [H, W] image or kernel as a batch of one [1, 1, H, W]. A view of a constant is not
// recorded, so it keeps the name of what it views: a diagram then says "image", not "#0".
Tensor as_batch(const Tensor& t) {
  Tensor view = reshape(t, {1, 1, t.size(0), t.size(1)});
  if (!view.node() && view.impl() != t.impl()) view.name(t.name());
  return view;
}

// conv2d (flipped = false) or convolve2d (flipped = true): the checks, the plain 2-D image
// and the padding modes are the same; only the recorded core differs.
Tensor convolution(const char* op, bool flipped, const Tensor& input, const Tensor& weight,
                   const Tensor& bias, const Conv2dOptions& o) {
  if (is_plain_image(input, weight)) {
    // One image, one kernel: one output channel, so the bias is a single number.
    if (bias.defined() && (bias.dim() > 1 || bias.numel() != 1))
      throw ShapeError(std::string(op) + ": a 2-D image " + to_string(input.shape()) +
                       " with a 2-D kernel " + to_string(weight.shape()) +
                       " takes one bias number, got bias " + to_string(bias.shape()));
    const Tensor y = convolution(op, flipped, as_batch(input), as_batch(weight),
                                 bias.defined() ? reshape(bias, {1}) : bias, o);
    return reshape(y, {y.size(2), y.size(3)});
  }
  check_settings(op, o.stride, o.padding, o.dilation, o.groups);
  ConvParams p{o.stride, o.padding, o.dilation, o.groups};
  check_conv(op, input.shape(), weight.shape(), p);
  kernels::check_same_dtype(op, input, weight);
  Tensor x = input;
  if (o.padding_mode != PadMode::zeros && (o.padding.h > 0 || o.padding.w > 0)) {
    try {
      x = pad(input, Padding(o.padding.h, o.padding.h, o.padding.w, o.padding.w), o.padding_mode);
    } catch (const ShapeError& e) {  // say which op the caller called
      throw ShapeError(std::string(op) + ": " + e.what());
    }
    p.padding = 0;
  }
  return add_bias(op, flipped ? convolve_core(x, weight, p) : conv2d_core(x, weight, p), bias);
}

}  // namespace

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const Conv2dOptions& o, Here where) {
  const CallSite site(where, __func__);
  return convolution("conv2d", false, input, weight, bias, o);
}

Tensor convolve2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                  const Conv2dOptions& options, Here where) {
  const CallSite site(where, __func__);
  if (weight.dim() < 2)
    throw ShapeError("convolve2d: the kernel needs 2 or 4 dimensions, got " +
                     to_string(weight.shape()));
  return convolution("convolve2d", true, input, weight, bias, options);
}

Tensor conv_transpose2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
                        const ConvTranspose2dOptions& o, Here where) {
  const CallSite site(where, __func__);
  check_settings("conv_transpose2d", o.stride, o.padding, o.dilation, o.groups);
  const std::string shapes =
      "input " + to_string(input.shape()) + ", weight " + to_string(weight.shape());
  if (input.dim() != 4 || weight.dim() != 4)
    throw ShapeError(
        "conv_transpose2d: needs a 4-D input [N, O, oH, oW] and a 4-D weight "
        "[O, C/groups, kH, kW]; got " +
        shapes);
  kernels::check_same_dtype("conv_transpose2d", input, weight);
  if (weight.size(2) < 1 || weight.size(3) < 1)
    throw ShapeError("conv_transpose2d: the kernel needs at least one row and column; got " +
                     shapes);
  if (input.size(1) != weight.size(0) || weight.size(0) % o.groups != 0)
    throw ShapeError("conv_transpose2d: channel mismatch: " + shapes + " with groups " +
                     std::to_string(o.groups) + ": the input needs weight[0] = " +
                     std::to_string(weight.size(0)) + " channels, divisible by the groups");
  if (o.output_padding.h < 0 || o.output_padding.w < 0 || o.output_padding.h >= o.stride.h ||
      o.output_padding.w >= o.stride.w)
    throw ValueError("conv_transpose2d: output_padding " + to_string(o.output_padding) +
                     " must be ≥ 0 and smaller than the stride " + to_string(o.stride));
  // The output's side, and that side padded (what the kernels index), must fit in int64.
  const auto size = [&](std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t pad,
                        std::int64_t d, std::int64_t extra) {
    using kernels::Wide;
    const Wide padded = Wide(in - 1) * s + Wide(d) * (k - 1) + extra + 1;
    kernels::checked_size("conv_transpose2d", "the padded output's side", padded);
    return kernels::checked_size("conv_transpose2d", "the output's side", padded - 2 * Wide(pad));
  };
  const Pair image{size(input.size(2), weight.size(2), o.stride.h, o.padding.h, o.dilation.h,
                        o.output_padding.h),
                   size(input.size(3), weight.size(3), o.stride.w, o.padding.w, o.dilation.w,
                        o.output_padding.w)};
  if (image.h < 1 || image.w < 1 || input.size(2) < 1 || input.size(3) < 1)
    throw ShapeError("conv_transpose2d: " + shapes + " with padding " + to_string(o.padding) +
                     " gives an empty output " + to_string(image));
  const ConvParams p{o.stride, o.padding, o.dilation, o.groups};
  return add_bias("conv_transpose2d", conv_transpose_core(input, weight, p, image), bias);
}

Tensor conv2d_weight_grad(const Tensor& input, const Tensor& grad_output, Pair kernel,
                          const Conv2dOptions& o, Here where) {
  const CallSite site(where, __func__);
  check_settings("conv2d_weight_grad", o.stride, o.padding, o.dilation, o.groups);
  if (o.padding_mode != PadMode::zeros)
    throw ValueError("conv2d_weight_grad: only zeros padding; pad() the input first for " +
                     std::string(to_string(o.padding_mode)));
  const ConvParams p{o.stride, o.padding, o.dilation, o.groups};
  if (input.dim() != 4 || grad_output.dim() != 4)
    throw ShapeError("conv2d_weight_grad: needs a 4-D input and a 4-D grad_output; got input " +
                     to_string(input.shape()) + ", grad_output " + to_string(grad_output.shape()));
  if (kernel.h < 1 || kernel.w < 1)
    throw ValueError("conv2d_weight_grad: kernel " + to_string(kernel) +
                     " must be ≥ 1 in both sides");
  if (input.size(1) % o.groups != 0)
    throw ShapeError("conv2d_weight_grad: the " + std::to_string(input.size(1)) +
                     " channels of input " + to_string(input.shape()) + " do not split into " +
                     std::to_string(o.groups) + " groups");
  check_conv("conv2d_weight_grad", input.shape(),
             {grad_output.size(1), input.size(1) / o.groups, kernel.h, kernel.w}, p);
  const kernels::ConvGeometry g = geometry(input.shape(), grad_output.size(1), kernel, p);
  if (grad_output.size(0) != g.batch || grad_output.size(2) != g.out_h ||
      grad_output.size(3) != g.out_w)
    throw ShapeError("conv2d_weight_grad: grad_output " + to_string(grad_output.shape()) +
                     " is not the output shape " +
                     to_string(Shape{g.batch, g.out_channels, g.out_h, g.out_w}) + " of input " +
                     to_string(input.shape()) + " with a " + to_string(kernel) + " kernel");
  kernels::check_same_dtype("conv2d_weight_grad", input, grad_output);
  return weight_grad_core(input, grad_output, kernel, p);
}

}  // namespace gradlab
