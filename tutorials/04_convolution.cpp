// 4. Convolution as a sliding Hadamard product.
//
// A 3×3 kernel k slides over a 5×5 image x. At each position the kernel and the 3×3 patch
// under it are multiplied element by element (the Hadamard product ∘) and the nine products
// are summed into one pixel of the feature map y:
//   y[i, j] = Σₐ Σ_b k[a, b] · x[i·s + a·d, j·s + b·d]        (s = stride, d = dilation)
// The program works the classic example by hand, then lets conv2d do it, then varies the
// stride, the dilation, the padding at the border, and finally the direction of the kernel
// (cross-correlation, which conv2d computes, against true convolution, convolve2d).
#include <cstdint>
#include <iostream>
#include <string>

#include "tutorial.hpp"

using namespace gradlab;

namespace {

using Index = std::int64_t;

using tutorial::classic_image;
using tutorial::classic_kernel;
using tutorial::same;
using tutorial::show;
using tutorial::source_of;

// "[1, 0, 1]": the numbers of a small integer tensor, for the text of a claim.
std::string list(const Tensor& t) {
  std::string text = "[";
  for (const double v : t.values()) {
    if (text.size() > 1) text += ", ";
    text += std::to_string(int(v));
  }
  return text + "]";
}

// The rows row..row+rows−1 and columns col..col+cols−1 of an image, copied out.
Tensor window(const Tensor& image, Index row, Index col, Index rows, Index cols) {
  Tensor patch = zeros({rows, cols});
  for (Index r = 0; r < rows; ++r)
    for (Index c = 0; c < cols; ++c) patch.set({r, c}, image.at({row + r, col + c}));
  return patch;
}

// The definition, written as loops and nothing else: no gradlab op is involved.
//   oH = ⌊(H − d·(kH − 1) − 1) / s⌋ + 1,   y[i, j] = Σₐ Σ_b k[a, b] · x[i·s + a·d, j·s + b·d]
Tensor correlate_by_hand(const Tensor& image, const Tensor& kernel, Index stride = 1,
                         Index dilation = 1) {
  const Index kernel_rows = kernel.size(0), kernel_cols = kernel.size(1);
  const Index rows = (image.size(0) - dilation * (kernel_rows - 1) - 1) / stride + 1;
  const Index cols = (image.size(1) - dilation * (kernel_cols - 1) - 1) / stride + 1;
  Tensor y = zeros({rows, cols});
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) {
      double total = 0;
      for (Index a = 0; a < kernel_rows; ++a)
        for (Index b = 0; b < kernel_cols; ++b)
          total +=
              kernel.at({a, b}) * image.at({i * stride + a * dilation, j * stride + b * dilation});
      y.set({i, j}, total);
    }
  return y;
}

// True convolution as mathematicians write it, (x ∗ k)[n] = Σₘ x[m] · k[n − m]: the kernel
// index runs against the image index. Kept to the positions where the kernel fits:
//   y[i, j] = Σₐ Σ_b k[a, b] · x[i + (kH − 1) − a, j + (kW − 1) − b]
Tensor convolve_by_hand(const Tensor& image, const Tensor& kernel) {
  const Index kernel_rows = kernel.size(0), kernel_cols = kernel.size(1);
  Tensor y = zeros({image.size(0) - kernel_rows + 1, image.size(1) - kernel_cols + 1});
  for (Index i = 0; i < y.size(0); ++i)
    for (Index j = 0; j < y.size(1); ++j) {
      double total = 0;
      for (Index a = 0; a < kernel_rows; ++a)
        for (Index b = 0; b < kernel_cols; ++b)
          total +=
              kernel.at({a, b}) * image.at({i + (kernel_rows - 1) - a, j + (kernel_cols - 1) - b});
      y.set({i, j}, total);
    }
  return y;
}

// pad(image, amount, mode) by looking up, for every pixel of the bigger image, its source.
Tensor pad_by_hand(const Tensor& image, Index amount, PadMode mode) {
  const Index rows = image.size(0), cols = image.size(1);
  Tensor padded = zeros({rows + 2 * amount, cols + 2 * amount});
  for (Index r = 0; r < padded.size(0); ++r)
    for (Index c = 0; c < padded.size(1); ++c) {
      const Index source_row = source_of(r - amount, rows, mode);
      const Index source_col = source_of(c - amount, cols, mode);
      if (source_row >= 0 && source_col >= 0)
        padded.set({r, c}, image.at({source_row, source_col}));
    }
  return padded;
}

}  // namespace

int main(int argc, char** argv) {
  tutorial::Tutorial t(argc, argv, "4. Convolution as a sliding Hadamard product",
                       "a 3×3 kernel slid over a 5×5 image: stride, dilation, padding, flipping");
  const Tensor image = classic_image(), kernel = classic_kernel();
  const Tensor known_map = tensor({{4, 3, 4}, {2, 4, 3}, {2, 3, 4}});  // worked out by hand

  t.section("1. One position of the kernel: a Hadamard product, summed");
  show("image x:", image);
  show("kernel k:", kernel);
  // Two positions of the kernel, with their patches and products worked out by hand.
  struct Position {
    Index row, col;
    Tensor hand_product;
    double hand_sum;
  };
  const Position positions[] = {
      {0, 0, tensor({{1, 0, 1}, {0, 1, 0}, {0, 0, 1}}), 4},
      {1, 0, tensor({{0, 0, 1}, {0, 0, 0}, {0, 0, 1}}), 2},
  };
  for (const Position& p : positions) {
    std::string where = "(";
    where += std::to_string(p.row) + ", " + std::to_string(p.col) + ")";
    const Tensor patch = window(image, p.row, p.col, 3, 3);
    const Tensor product = kernel * patch;  // `*` is the Hadamard product
    show("patch under the kernel at " + where + ":", patch);
    show("k ∘ patch:", product);
    std::cout << "Σ k ∘ patch = " << sum(product).item() << '\n';
    t.claim(same(product, p.hand_product),
            "k ∘ patch at " + where + " is the product worked out by hand");
    t.claim(sum(product).item() == p.hand_sum,
            "its sum is " + std::to_string(int(p.hand_sum)) + " = feature map pixel " + where);
  }

  t.section("2. Every position at once: conv2d");
  const Tensor feature_map = conv2d(image, kernel);
  show("conv2d(x, k):", feature_map);
  // The same nine sums, each a Hadamard product of the kernel with one window.
  Tensor sliding = zeros({3, 3});
  for (Index i = 0; i < 3; ++i)
    for (Index j = 0; j < 3; ++j)
      sliding.set({i, j}, sum(kernel * window(image, i, j, 3, 3)).item());
  t.claim(same(feature_map, known_map), "conv2d(x, k) = [[4, 3, 4], [2, 4, 3], [2, 3, 4]]");
  t.claim(same(feature_map, sliding), "… and equals Σ k ∘ patch taken at each of the 9 positions");
  t.claim(feature_map.size(0) == 5 - 3 + 1,
          "a 3×3 kernel fits 5 − 3 + 1 = 3 times along a side of 5");
  {
    // The forward graph: the kernel requires grad, as a network's weights do.
    Tensor weights = classic_kernel().set_requires_grad();
    const Tensor y = conv2d(image, weights).name("feature map");
    t.diagram("conv5x5_forward", to_dot({y}, {.left_to_right = true,
                                              .show_values = true,
                                              .value_limit = 25,
                                              .title = "A 3×3 kernel slid over a 5×5 image"}));
  }
  try {
    conv2d(image, ones({6, 6}));
    t.claim(false, "a 6×6 kernel on a 5×5 image throws ShapeError");
  } catch (const ShapeError& e) {
    std::cout << "conv2d(x, 6×6 kernel) throws ShapeError: " << e.what() << '\n';
    t.claim(true, "a 6×6 kernel on a 5×5 image throws ShapeError");
  }

  t.section("3. Stride and dilation");
  // Stride 2: the kernel jumps 2 pixels, oH = ⌊(5 − 3)/2⌋ + 1 = 2. The windows start at rows
  // and columns 0 and 2, so the result is the four corners of the stride-1 map.
  const Tensor strided = conv2d(image, kernel, {}, {.stride = 2});
  show("conv2d(x, k, stride 2):", strided);
  t.claim(same(strided, tensor({{4, 4}, {2, 4}})), "stride 2 gives the 2×2 map [[4, 4], [2, 4]]");
  t.claim(same(strided, correlate_by_hand(image, kernel, 2, 1)),
          "… as the loops of the definition do");
  // Dilation 2: the taps sit 2 apart, so the 3×3 kernel reaches over 5×5 pixels and fits
  // once: oH = 5 − 2·(3 − 1) − 1 + 1 = 1. Its five 1s meet x[0, 0], x[0, 4], x[2, 2],
  // x[4, 0], x[4, 4] = 1 + 0 + 1 + 0 + 0 = 2.
  const Tensor dilated = conv2d(image, kernel, {}, {.dilation = 2});
  show("conv2d(x, k, dilation 2):", dilated);
  t.claim(same(dilated, tensor({{2}})), "dilation 2 gives the 1×1 map [[2]]");
  t.claim(same(dilated, correlate_by_hand(image, kernel, 1, 2)),
          "… as the loops of the definition do");
  // A dilated kernel is the kernel with holes: zeros between its taps.
  const Tensor with_holes = tensor({
      {1, 0, 0, 0, 1},
      {0, 0, 0, 0, 0},
      {0, 0, 1, 0, 0},
      {0, 0, 0, 0, 0},
      {1, 0, 0, 0, 1},
  });
  t.claim(same(conv2d(image, with_holes), dilated),
          "dilation 2 = an ordinary 5×5 kernel with zeros between the taps");

  t.section("4. Padding: four ways to fill the border");
  // One extra pixel on every side makes room for the kernel centred on every pixel, so the
  // feature map keeps the image's size ("same" padding): (5 + 2·1) − 3 + 1 = 5.
  struct Mode {
    PadMode mode;
    Tensor top_row;  // the padded image's first row, read off the image by hand
    double corner;   // the same-size feature map's pixel (0, 0), by hand
  };
  const Mode modes[] = {
      // The corner window's five taps: padded (−1, −1), (−1, 1), (1, −1), then x[0, 0] + x[1, 1].
      {PadMode::zeros, tensor({{0, 0, 0, 0, 0, 0, 0}}), 2},      // 0 + 0 + 0 + 2
      {PadMode::reflect, tensor({{1, 0, 1, 1, 1, 0, 1}}), 5},    // x[1, ·] mirrored: 1 + 1 + 1 + 2
      {PadMode::replicate, tensor({{1, 1, 1, 1, 0, 0, 0}}), 4},  // x[0, ·] repeated: 1 + 1 + 0 + 2
      {PadMode::circular, tensor({{0, 0, 1, 1, 0, 0, 0}}), 3},   // x[4, ·] wrapped: 0 + 1 + 0 + 2
  };
  for (const Mode& m : modes) {
    const std::string name = to_string(m.mode);
    const Tensor padded = pad(image, 1, m.mode);
    const Tensor same_size = conv2d(image, kernel, {}, {.padding = 1, .padding_mode = m.mode});
    show("pad(x, 1, " + name + "):", padded);
    show("conv2d(x, k, padding 1, " + name + "):", same_size);
    t.claim(same(window(padded, 0, 0, 1, 7), m.top_row),
            name + ": the padded top row is " + list(m.top_row));
    t.claim(same(padded, pad_by_hand(image, 1, m.mode)),
            name + ": every padded pixel is the one the rule copies");
    t.claim(same_size.at({0, 0}) == m.corner,
            name + ": the same-size map's corner is " + std::to_string(int(m.corner)));
    t.claim(same(same_size, correlate_by_hand(pad_by_hand(image, 1, m.mode), kernel)),
            name + ": the same-size map = the definition's loops over the padded image");
    t.claim(same(window(same_size, 1, 1, 3, 3), known_map),
            name + ": the inner 3×3 never sees the border: it is the unpadded map");
  }
  {
    // The padding is an op of its own in the graph, between the image and conv2d.
    Tensor x = classic_image().set_requires_grad();
    Tensor weights = classic_kernel().set_requires_grad();
    const Tensor y = conv2d(x, weights, {}, {.padding = 1, .padding_mode = PadMode::reflect})
                         .name("feature map");
    t.diagram(
        "conv5x5_reflect_forward",
        to_dot({y}, {.left_to_right = true,
                     .show_values = true,
                     .value_limit = 49,
                     .title = "Reflect padding, then the kernel: a 5×5 map from a 5×5 image"}));
  }
  try {
    pad(image, 5, PadMode::reflect);
    t.claim(false, "reflect padding of 5 on a side of 5 throws ShapeError");
  } catch (const ShapeError& e) {
    std::cout << "pad(x, 5, reflect) throws ShapeError: " << e.what() << '\n';
    t.claim(true, "reflect padding of 5 on a side of 5 throws ShapeError");
  }

  t.section("5. Cross-correlation (conv2d) versus true convolution (convolve2d)");
  // A kernel that picks one pixel: its 1 sits at the bottom right. conv2d reads the pixel
  // under it, x[i + 2, j + 2]; convolve2d flips the kernel first, so the 1 moves to the top
  // left and it reads x[i, j]: the two maps are different windows of the image.
  const Tensor pointer = tensor({{0, 0, 0}, {0, 0, 0}, {0, 0, 1}});
  show("kernel p:", pointer);
  const Tensor correlated = conv2d(image, pointer), convolved = convolve2d(image, pointer);
  show("conv2d(x, p), cross-correlation:", correlated);
  show("convolve2d(x, p), true convolution:", convolved);
  t.claim(same(correlated, window(image, 2, 2, 3, 3)),
          "conv2d(x, p) is x's bottom-right 3×3 window");
  t.claim(same(convolved, window(image, 0, 0, 3, 3)),
          "convolve2d(x, p) is x's top-left 3×3 window");
  // Any asymmetric kernel: convolve2d is conv2d with the kernel turned by 180°.
  const Tensor numbered = tensor({{1, 2, 3}, {4, 5, 6}, {7, 8, 9}});
  const Tensor turned = tensor({{9, 8, 7}, {6, 5, 4}, {3, 2, 1}});  // flipped in both axes, by hand
  show("convolve2d(x, [[1, 2, 3], [4, 5, 6], [7, 8, 9]]):", convolve2d(image, numbered));
  show("conv2d(x, [[1, 2, 3], [4, 5, 6], [7, 8, 9]]):", conv2d(image, numbered));
  t.claim(same(convolve2d(image, numbered), conv2d(image, turned)),
          "convolve2d(x, k) = conv2d(x, k flipped top-to-bottom and left-to-right)");
  t.claim(same(convolve2d(image, numbered), convolve_by_hand(image, numbered)),
          "convolve2d follows the textbook sum Σ k[a, b]·x[i + 2 − a, j + 2 − b]");
  t.claim(!same(convolve2d(image, numbered), conv2d(image, numbered)),
          "for this asymmetric kernel the two differ");
  t.claim(
      same(convolve2d(image, kernel), known_map),
      "the symmetric classic kernel is its own flip: both give [[4, 3, 4], [2, 4, 3], [2, 3, 4]]");
  {
    Tensor weights = numbered.clone().set_requires_grad().name("k");
    const Tensor y = convolve2d(image, weights).name("x ∗ k");
    t.diagram(
        "conv_flip_forward",
        to_dot({y},
               {.left_to_right = true,
                .show_values = true,
                .value_limit = 25,
                .title = "convolve2d: the kernel flipped left–right and top–bottom, then conv2d"}));
  }
  return t.finish();
}
