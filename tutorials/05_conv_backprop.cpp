// 5. Backprop through a convolution.
//
// The feature map of tutorial 4, y = x ⋆ k (conv2d: the kernel slid over the image, a
// Hadamard product with each patch, summed), feeds a loss L. Backward gets G = ∂L/∂y, one
// number per output pixel, and must send back two gradients:
//   ∂L/∂k[a, b] = Σᵢⱼ G[i, j] · x[i + a, j + b]      the image correlated with G
//   ∂L/∂x[r, c] = Σᵢⱼ G[i, j] · k[r − i, c − j]      G spread back through the kernel
// (the second is a transposed convolution: each G[i, j] adds a copy of the kernel, scaled
// by G[i, j], onto the window it came from). The program checks both against loops, then
// against finite differences, and ends with the gradient of padding on its own.
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "tutorial.hpp"

using namespace gradlab;

namespace {

using Index = std::int64_t;

using tutorial::classic_image;
using tutorial::classic_kernel;
using tutorial::same;
using tutorial::show;
using tutorial::source_of;

// The numbers 0, 1, 2, … in a rows × cols matrix, so that every element can be told apart.
Tensor counting(Index rows, Index cols) {
  std::vector<double> values(rows * cols);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = double(i);
  return from_vector(values, {rows, cols});
}

// ∂L/∂k[a, b] = Σᵢⱼ G[i, j] · x[i + a, j + b]: kernel tap (a, b) met pixel x[i + a, j + b]
// in window (i, j), and that window's output pixel carries the gradient G[i, j].
Tensor kernel_gradient_by_hand(const Tensor& image, const Tensor& upstream, Index kernel_size) {
  Tensor gradient = zeros({kernel_size, kernel_size});
  for (Index a = 0; a < kernel_size; ++a)
    for (Index b = 0; b < kernel_size; ++b) {
      double total = 0;
      for (Index i = 0; i < upstream.size(0); ++i)
        for (Index j = 0; j < upstream.size(1); ++j)
          total += upstream.at({i, j}) * image.at({i + a, j + b});
      gradient.set({a, b}, total);
    }
  return gradient;
}

// ∂L/∂x: every output pixel (i, j) hands its gradient G[i, j] back to the pixels of its
// window, each times the kernel weight that multiplied it: x[i + a, j + b] += G[i, j]·k[a, b].
Tensor image_gradient_by_hand(const Tensor& upstream, const Tensor& kernel) {
  const Index kernel_rows = kernel.size(0), kernel_cols = kernel.size(1);
  Tensor gradient = zeros({upstream.size(0) + kernel_rows - 1, upstream.size(1) + kernel_cols - 1});
  for (Index i = 0; i < upstream.size(0); ++i)
    for (Index j = 0; j < upstream.size(1); ++j)
      for (Index a = 0; a < kernel_rows; ++a)
        for (Index b = 0; b < kernel_cols; ++b)
          gradient.set({i + a, j + b},
                       gradient.at({i + a, j + b}) + upstream.at({i, j}) * kernel.at({a, b}));
  return gradient;
}

// The gradient of pad: each padded pixel's gradient goes back to the pixel it was copied
// from, so a pixel copied twice collects two gradients. A zero of the padding came from no
// pixel: its gradient goes nowhere.
Tensor fold_by_hand(const Tensor& padded_gradient, Index amount, PadMode mode) {
  const Index rows = padded_gradient.size(0) - 2 * amount;
  const Index cols = padded_gradient.size(1) - 2 * amount;
  Tensor gradient = zeros({rows, cols});
  for (Index r = 0; r < padded_gradient.size(0); ++r)
    for (Index c = 0; c < padded_gradient.size(1); ++c) {
      const Index source_row = source_of(r - amount, rows, mode);
      const Index source_col = source_of(c - amount, cols, mode);
      if (source_row >= 0 && source_col >= 0)
        gradient.set({source_row, source_col},
                     gradient.at({source_row, source_col}) + padded_gradient.at({r, c}));
    }
  return gradient;
}

// A plain [H, W] matrix as a batch of one image with one channel, [1, 1, H, W], the shape
// conv_transpose2d takes; and back.
Tensor as_batch(const Tensor& t) { return reshape(t, {1, 1, t.size(0), t.size(1)}); }
Tensor as_matrix(const Tensor& t) { return reshape(t, {t.size(2), t.size(3)}); }

}  // namespace

int main(int argc, char** argv) {
  tutorial::Tutorial t(argc, argv, "5. Backprop through a convolution",
                       "the kernel's and the image's gradients of the 5×5 example, by hand and "
                       "by the engine");

  t.section("1. L = Σ feature map: every output pixel sends back 1");
  {
    Tensor image = classic_image().set_requires_grad();
    Tensor kernel = classic_kernel().set_requires_grad();
    const Tensor feature_map = conv2d(image, kernel).name("feature map");
    std::vector<Tensor> g;
    {
      cluster pass("backward pass");
      g = grad({sum(feature_map)}, {image, kernel}, {.create_graph = true});
    }
    const Tensor& image_gradient = g[0];
    const Tensor& kernel_gradient = g[1];
    show("feature map y = conv2d(x, k):", feature_map.detach());
    show("∂L/∂k:", kernel_gradient.detach());
    show("∂L/∂x:", image_gradient.detach());
    // Kernel tap (a, b) touched the 3×3 block of the image starting at (a, b): with G all
    // ones its gradient is that block's sum. Top-left: 1+1+1 + 0+1+1 + 0+0+1 = 6.
    t.claim(same(kernel_gradient, tensor({{6, 7, 6}, {4, 7, 7}, {4, 6, 6}})),
            "∂L/∂k = [[6, 7, 6], [4, 7, 7], [4, 6, 6]]: each weight's gradient is the sum of the "
            "pixels it touched");
    t.claim(same(kernel_gradient, kernel_gradient_by_hand(image, ones({3, 3}), 3)),
            "… which is Σᵢⱼ x[i + a, j + b], summed by loops");
    // Pixel (r, c) collects the kernel weights that met it, one from each window over it.
    t.claim(same(image_gradient, tensor({{1, 1, 2, 1, 1},
                                         {1, 2, 3, 2, 1},
                                         {2, 3, 5, 3, 2},
                                         {1, 2, 3, 2, 1},
                                         {1, 1, 2, 1, 1}})),
            "∂L/∂x = [[1, 1, 2, 1, 1], [1, 2, 3, 2, 1], [2, 3, 5, 3, 2], …]: the weights that met "
            "each pixel");
    // How many windows cover each pixel? With a kernel of ones every window hands each of
    // its pixels exactly 1, so the image's gradient counts the windows over each pixel.
    Tensor counted = classic_image().set_requires_grad();
    sum(conv2d(counted, ones({3, 3}))).backward();
    show("with a kernel of ones, ∂L/∂x counts the windows over each pixel:", counted.grad());
    t.claim(same(counted.grad(), tensor({{1, 2, 3, 2, 1},
                                         {2, 4, 6, 4, 2},
                                         {3, 6, 9, 6, 3},
                                         {2, 4, 6, 4, 2},
                                         {1, 2, 3, 2, 1}})),
            "a corner pixel lies in 1 window, an edge's middle in 3, the centre in all 9");
    t.claim(
        image_gradient.at({0, 0}) == 1 && image_gradient.at({2, 2}) == 5,
        "so the corner's gradient is 1 weight (k[0, 0]), the centre's the sum of all 5 ones of k");
    t.diagram("conv5x5_gradient",
              to_dot({feature_map},
                     {.show_values = true,
                      .value_limit = 25,
                      .gradients = {{image_gradient, image}, {kernel_gradient, kernel}},
                      .title = "The gradients of L = Σ feature map: ∂L/∂image and ∂L/∂kernel"}));
  }

  t.section("2. An upstream gradient G that is not all ones");
  {
    // L = Σ G ∘ y, so ∂L/∂y = G: output pixel (i, j) matters G[i, j] times as much.
    const Tensor upstream = tensor({{3, -1, 2}, {0, 1, -2}, {4, -3, 5}}).name("G");
    Tensor image = classic_image().set_requires_grad();
    Tensor kernel = classic_kernel().set_requires_grad();
    const Tensor loss = sum(upstream * conv2d(image, kernel));
    loss.backward();
    show("G = ∂L/∂y:", upstream);
    show("∂L/∂k:", kernel.grad());
    show("∂L/∂x:", image.grad());
    // The kernel's gradient is the image correlated with G: G slides over x like a kernel.
    // Top-left: Σ G ∘ x[0..2, 0..2] = 3·1 − 1·1 + 2·1 + 0·0 + 1·1 − 2·1 + 4·0 − 3·0 + 5·1 = 8.
    t.claim(kernel.grad().at({0, 0}) == 8, "∂L/∂k[0, 0] = Σ G ∘ (x's top-left 3×3) = 8");
    t.claim(same(kernel.grad(), conv2d(classic_image(), upstream)),
            "∂L/∂k = conv2d(x, G): the image correlated with the upstream gradient");
    t.claim(same(kernel.grad(), kernel_gradient_by_hand(classic_image(), upstream, 3)),
            "… = Σᵢⱼ G[i, j]·x[i + a, j + b], summed by loops");
    // The image's gradient is G spread back through the kernel. The corner pixel lies only
    // in window (0, 0), under k[0, 0]: G[0, 0]·1 = 3. The centre lies in all nine windows,
    // under k[2 − i, 2 − j] in window (i, j): Σ G ∘ (k turned by 180°) = 3 + 2 + 1 + 4 + 5 = 15.
    t.claim(image.grad().at({0, 0}) == 3 && image.grad().at({2, 2}) == 15,
            "∂L/∂x[0, 0] = G[0, 0]·k[0, 0] = 3 and ∂L/∂x[2, 2] = 15");
    const Tensor transposed =
        as_matrix(conv_transpose2d(as_batch(upstream), as_batch(classic_kernel())));
    t.claim(same(image.grad(), transposed),
            "∂L/∂x = conv_transpose2d(G, k), the transposed convolution");
    t.claim(same(image.grad(), image_gradient_by_hand(upstream, classic_kernel())),
            "… = each G[i, j] times the kernel, added onto window (i, j), by loops");
    // The same as a "full" true convolution: G padded with 2 rows and columns of zeros (so
    // the kernel meets every partial overlap), convolved with k (tutorial 4's convolve2d).
    t.claim(same(image.grad(), convolve2d(pad(upstream, 2), classic_kernel())),
            "… = convolve2d(G padded with zeros by 2, k): a true convolution with the kernel");
    // The X is its own flip, so that flip is invisible here. With an asymmetric kernel the
    // image's gradient is still the true convolution of the padded G, not the correlation.
    const Tensor numbered = tensor({{1, 2, 3}, {4, 5, 6}, {7, 8, 9}});
    Tensor other_image = classic_image().set_requires_grad();
    sum(upstream * conv2d(other_image, numbered)).backward();
    t.claim(same(other_image.grad(), image_gradient_by_hand(upstream, numbered)) &&
                same(other_image.grad(), convolve2d(pad(upstream, 2), numbered)) &&
                !same(other_image.grad(), conv2d(pad(upstream, 2), numbered)),
            "with k = [[1, 2, 3], [4, 5, 6], [7, 8, 9]] too: the loops, and convolve2d of the "
            "padded G, not conv2d");
  }
  {
    // The same graph in the [N, C, H, W] shapes conv2d works in, so that no reshape hides the
    // two ops the backward pass is made of.
    Tensor image = as_batch(classic_image()).set_requires_grad().name("x");
    Tensor kernel = as_batch(classic_kernel()).set_requires_grad().name("k");
    const Tensor upstream = as_batch(tensor({{3, -1, 2}, {0, 1, -2}, {4, -3, 5}})).name("G");
    const Tensor y = conv2d(image, kernel).name("y");
    std::vector<Tensor> g;
    {
      cluster pass("backward pass");
      g = grad({y}, {image, kernel}, {.grad_outputs = {upstream}, .create_graph = true});
    }
    t.diagram("conv5x5_upstream_gradient",
              to_dot({y}, {.show_values = true,
                           .value_limit = 25,
                           .gradients = {{g[0], image}, {g[1], kernel}},
                           .title = "With G = ∂L/∂y: ∂L/∂x = conv_transpose2d(G, k), "
                                    "∂L/∂k = x correlated with G"}));
  }

  t.section("3. Stride, dilation and padding, checked against finite differences");
  {
    Generator gen(42);
    const Tensor image = randn({7, 7}, gen).name("x");
    const Tensor kernel = randn({3, 3}, gen).name("k");
    struct Setting {
      std::string name;
      Conv2dOptions options;
    };
    const Setting settings[] = {
        {"reflect padding 1", {.padding = 1, .padding_mode = PadMode::reflect}},
        {"stride 2", {.stride = 2}},
        {"dilation 2", {.dilation = 2}},
        {"all three at once",
         {.stride = 2, .padding = 1, .dilation = 2, .padding_mode = PadMode::reflect}},
    };
    for (const Setting& s : settings) {
      const Conv2dOptions options = s.options;
      const Function f = [options](const std::vector<Tensor>& in) {
        return conv2d(in[0], in[1], {}, options);
      };
      const GradcheckResult first = gradcheck(f, {image, kernel});
      const GradcheckResult second = gradgradcheck(f, {image, kernel});
      std::cout << s.name << ":\n  " << first.message << "\n  " << second.message << '\n';
      t.claim(first.ok, s.name + ": backward agrees with finite differences (float64)");
      t.claim(second.ok, s.name + ": so does the backward of the backward");
    }
  }

  t.section("4. Padding's own backward: the border folds back");
  {
    // L = Σ pad(x): each pixel's gradient counts the copies of it in the padded image.
    const PadMode modes[] = {PadMode::zeros, PadMode::reflect, PadMode::replicate,
                             PadMode::circular};
    for (const PadMode mode : modes) {
      Tensor image = classic_image().set_requires_grad();
      sum(pad(image, 1, mode)).backward();
      show(std::string("∂(Σ pad(x, 1, ") + to_string(mode) + "))/∂x:", image.grad());
      t.claim(same(image.grad(), fold_by_hand(ones({7, 7}), 1, mode)),
              std::string(to_string(mode)) + ": each pixel's gradient is its number of copies");
    }
    // Reflect copies x[1, ·] above the image and x[·, 1] left of it; the edge pixels are not
    // copied. So x[1, 1] appears 4 times (itself, above, left, and in the corner), x[0, 0] once.
    Tensor image = classic_image().set_requires_grad();
    sum(pad(image, 1, PadMode::reflect)).backward();
    t.claim(image.grad().at({1, 1}) == 4 && image.grad().at({0, 0}) == 1,
            "reflect: x[1, 1] collects 4 gradients, the corner x[0, 0] only its own");

    // A gradient that is not all ones: 0, 1, …, 48 on the 7×7 padded image, so the padded
    // pixel (r, c) carries 7r + c. x[1, 1] sits at padded (2, 2) and was copied to (0, 2),
    // (2, 0) and (0, 0): it collects 16 + 2 + 14 + 0 = 32.
    const Tensor padded_gradient = counting(7, 7);
    image.reset_grad();
    pad(image, 1, PadMode::reflect).backward(padded_gradient);
    show("the gradient arriving at pad(x, 1, reflect):", padded_gradient);
    show("∂L/∂x, the border folded back:", image.grad());
    t.claim(image.grad().at({1, 1}) == 32, "reflect: ∂L/∂x[1, 1] = 16 + 2 + 14 + 0 = 32");
    t.claim(same(image.grad(), unpad(padded_gradient, 1, PadMode::reflect)),
            "pad's backward is unpad(G, 1, reflect)");
    t.claim(same(image.grad(), fold_by_hand(padded_gradient, 1, PadMode::reflect)),
            "… which adds each padded pixel's gradient onto its source, by loops");
  }
  {
    // Put together: conv2d with reflect padding sends G back through the kernel onto the
    // padded 7×7 image (a transposed convolution), then folds the border back (unpad).
    const Tensor upstream = counting(5, 5);
    Tensor image = classic_image().set_requires_grad();
    Tensor kernel = classic_kernel();
    conv2d(image, kernel, {}, {.padding = 1, .padding_mode = PadMode::reflect}).backward(upstream);
    const Tensor by_hand =
        fold_by_hand(image_gradient_by_hand(upstream, kernel), 1, PadMode::reflect);
    show("∂L/∂x for conv2d(x, k, padding 1, reflect) with G = 0, 1, …, 24:", image.grad());
    t.claim(same(image.grad(), by_hand),
            "∂L/∂x = fold(G spread through the kernel onto the padded image), all by loops");
    // The same in [N, C, H, W] shapes, with a kernel that requires grad as a network's does:
    // then the backward pass is recorded, and unpad shows up in it.
    Tensor x = as_batch(classic_image()).set_requires_grad().name("x");
    Tensor k = as_batch(classic_kernel()).set_requires_grad().name("k");
    const Tensor y = conv2d(x, k, {}, {.padding = 1, .padding_mode = PadMode::reflect}).name("y");
    std::vector<Tensor> g;
    {
      cluster pass("backward pass");
      g = grad({y}, {x}, {.grad_outputs = {as_batch(upstream).name("G")}, .create_graph = true});
    }
    t.claim(same(as_matrix(g[0]), by_hand), "… and so does the [N, C, H, W] graph drawn below");
    t.diagram("conv5x5_reflect_gradient",
              to_dot({y}, {.show_values = true,
                           .value_limit = 49,
                           .gradients = {{g[0], x}},
                           .title = "Backward through reflect padding: G spread onto the 7×7 "
                                    "padded image, then unpad folds the border in"}));
  }
  return t.finish();
}
