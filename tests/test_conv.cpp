#define BOOST_TEST_MODULE conv
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <cstdint>
#include <gradlab/gradlab.hpp>
#include <string>
#include <vector>

#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;

namespace {

// ⟨a, b⟩ = Σ a ∘ b, the inner product of two tensors of the same shape.
double inner(const Tensor& a, const Tensor& b) { return sum(a * b).item(); }

// a and b have the same shape and agree to within tol (absolute).
void check_close(const Tensor& a, const Tensor& b, double tol) {
  BOOST_TEST(to_string(a.shape()) == to_string(b.shape()));
  if (a.shape() == b.shape()) BOOST_TEST(max_abs_diff(a, b) <= tol);
}

// The classic 5×5 image and 3×3 kernel of the convolution tutorials.
Tensor classic_image() {
  return tensor({{1.0, 1.0, 1.0, 0.0, 0.0},
                 {0.0, 1.0, 1.0, 1.0, 0.0},
                 {0.0, 0.0, 1.0, 1.0, 1.0},
                 {0.0, 0.0, 1.0, 1.0, 0.0},
                 {0.0, 1.0, 1.0, 0.0, 0.0}});
}
Tensor classic_kernel() { return tensor({{1.0, 0.0, 1.0}, {0.0, 1.0, 0.0}, {1.0, 0.0, 1.0}}); }

// The 5×5 counting image x[r, c] = 5r + c, so that every pixel can be told apart.
Tensor counting_image_5x5() {
  std::vector<double> v(25);
  for (int i = 0; i < 25; ++i) v[i] = i;
  return from_vector(v, {5, 5});
}

const std::vector<PadMode> all_modes = {PadMode::zeros, PadMode::reflect, PadMode::replicate,
                                        PadMode::circular};

}  // namespace

// ---------------------------------------------------------------------------- forward values

BOOST_AUTO_TEST_CASE(the_classic_example_image_and_kernel) {
  // y[i, j] = Σₐ Σ_b k[a, b] · x[i + a, j + b]: the kernel slides over the image, and each
  // output pixel is the sum of the Hadamard product of the kernel with the patch under it.
  // A 5×5 image and a 3×3 kernel give a (5 − 3 + 1)×(5 − 3 + 1) = 3×3 output.
  const Tensor image = classic_image(), kernel = classic_kernel();
  const Tensor y = conv2d(image, kernel);
  check_values(y, "[3, 3]", {4, 3, 4, 2, 4, 3, 2, 3, 4});

  // Output pixel (0, 1): the patch is rows 0..2, columns 1..3 of the image.
  //   patch            kernel           patch ∘ kernel
  //   1 1 0            1 0 1            1 0 0
  //   1 1 1     ∘      0 1 0     =      0 1 0      sum = 3
  //   0 1 1            1 0 1            0 0 1
  const Tensor patch = tensor({{1.0, 1.0, 0.0}, {1.0, 1.0, 1.0}, {0.0, 1.0, 1.0}});
  check_values(patch * kernel, "[3, 3]", {1, 0, 0, 0, 1, 0, 0, 0, 1});
  BOOST_TEST(sum(patch * kernel).item() == 3.0);
  BOOST_TEST(y.at({0, 1}) == 3.0);
}

BOOST_AUTO_TEST_CASE(the_classic_example_through_the_nchw_path) {
  // The same numbers as a batch of one image with one channel, and one 1-channel filter:
  // input [N=1, C=1, 5, 5], weight [O=1, C=1, 3, 3] → [1, 1, 3, 3].
  const Tensor x = reshape(classic_image(), {1, 1, 5, 5});
  const Tensor w = reshape(classic_kernel(), {1, 1, 3, 3});
  check_values(conv2d(x, w), "[1, 1, 3, 3]", {4, 3, 4, 2, 4, 3, 2, 3, 4});
  // A batch of two images (the image and twice the image) and two filters (the kernel and
  // its negative): every image meets every filter, y[n, o] = (n + 1)·(±1)·(the result above).
  std::vector<double> images = x.values(), filters = w.values();
  for (const double v : x.values()) images.push_back(2 * v);
  for (const double v : w.values()) filters.push_back(-v);
  const Tensor y = conv2d(from_vector(images, {2, 1, 5, 5}), from_vector(filters, {2, 1, 3, 3}));
  BOOST_TEST(to_string(y.shape()) == "[2, 2, 3, 3]");
  BOOST_TEST(y.at({0, 0, 0, 0}) == 4.0);   // image · kernel
  BOOST_TEST(y.at({0, 1, 0, 0}) == -4.0);  // image · (−kernel)
  BOOST_TEST(y.at({1, 0, 1, 0}) == 4.0);   // 2·image · kernel, pixel (1, 0): 2·2
  BOOST_TEST(y.at({1, 1, 2, 2}) == -8.0);  // 2·image · (−kernel), pixel (2, 2): −2·4
}

BOOST_AUTO_TEST_CASE(cross_correlation_and_true_convolution_by_hand) {
  // conv2d does not flip the kernel (cross-correlation, what deep learning calls
  // convolution); convolve2d flips it top-to-bottom and left-to-right first (convolution as
  // mathematicians define it). With an asymmetric kernel they differ.
  const Tensor x = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}, {7.0, 8.0, 9.0}});
  const Tensor k = tensor({{1.0, 2.0}, {3.0, 4.0}});
  // conv2d:     y[0, 0] = 1·1 + 2·2 + 3·4 + 4·5 = 37
  check_values(conv2d(x, k), "[2, 2]", {37, 47, 67, 77});
  // convolve2d: the kernel becomes [[4, 3], [2, 1]], y[0, 0] = 4·1 + 3·2 + 2·4 + 1·5 = 23
  check_values(convolve2d(x, k), "[2, 2]", {23, 33, 53, 63});
  // convolve2d is conv2d with the flipped kernel, and not conv2d with the kernel itself.
  const Tensor flipped = flip(flip(k, 0), 1);
  check_values(flipped, "[2, 2]", {4, 3, 2, 1});
  check_close(convolve2d(x, k), conv2d(x, flipped), 0.0);
  BOOST_TEST(max_abs_diff(convolve2d(x, k), conv2d(x, k)) > 1.0);
}

BOOST_AUTO_TEST_CASE(convolve2d_flips_every_kernel_of_a_4d_weight) {
  Generator gen(21);
  const Tensor x = randn({2, 3, 6, 5}, gen), w = randn({4, 3, 3, 2}, gen), b = randn({4}, gen);
  const Conv2dOptions o{.stride = {2, 1}, .padding = 1};
  const Tensor flipped = flip(flip(w, -1), -2);
  check_close(convolve2d(x, w, b, o), conv2d(x, flipped, b, o), 1e-12);
  BOOST_TEST(max_abs_diff(convolve2d(x, w, b, o), conv2d(x, w, b, o)) > 1e-3);
}

BOOST_AUTO_TEST_CASE(with_a_symmetric_kernel_correlation_and_convolution_agree) {
  // The classic kernel is its own flip, so there is nothing to tell the two apart.
  check_close(convolve2d(classic_image(), classic_kernel()),
              conv2d(classic_image(), classic_kernel()), 0.0);
}

BOOST_AUTO_TEST_CASE(stride_2_by_hand) {
  // x[r, c] = 5r + c; kernel [[1, 2], [3, 4]] with stride 2: the patches start at rows and
  // columns 0 and 2, so oH = ⌊(5 − 2)/2⌋ + 1 = 2.
  //   y[0, 1] = 1·x[0, 2] + 2·x[0, 3] + 3·x[1, 2] + 4·x[1, 3] = 2 + 6 + 21 + 32 = 61
  const Tensor k = tensor({{1.0, 2.0}, {3.0, 4.0}});
  check_values(conv2d(counting_image_5x5(), k, {}, {.stride = 2}), "[2, 2]", {41, 61, 141, 161});
}

BOOST_AUTO_TEST_CASE(dilation_2_by_hand) {
  // Dilation 2 spreads the kernel taps 2 apart: a 2×2 kernel reaches over 3×3 pixels, so
  // oH = 5 − 2·(2 − 1) − 1 + 1 = 3.
  //   y[0, 0] = 1·x[0, 0] + 2·x[0, 2] + 3·x[2, 0] + 4·x[2, 2] = 0 + 4 + 30 + 48 = 82
  const Tensor k = tensor({{1.0, 2.0}, {3.0, 4.0}});
  check_values(conv2d(counting_image_5x5(), k, {}, {.dilation = 2}), "[3, 3]",
               {82, 92, 102, 132, 142, 152, 182, 192, 202});
}

BOOST_AUTO_TEST_CASE(stride_2_with_zero_padding_1_by_hand) {
  // A 3×3 kernel of ones sums each 3×3 neighbourhood; with zero padding 1 and stride 2 the
  // neighbourhoods are centred on rows and columns 0, 2, 4 and the border ones are cut short.
  //   y[0, 0] = x[0, 0] + x[0, 1] + x[1, 0] + x[1, 1] = 0 + 1 + 5 + 6 = 12
  //   y[1, 1] = 9 · x[2, 2] = 108 (the full neighbourhood of the centre pixel)
  check_values(conv2d(counting_image_5x5(), ones({3, 3}), {}, {.stride = 2, .padding = 1}),
               "[3, 3]", {12, 27, 24, 63, 108, 81, 72, 117, 84});
}

BOOST_AUTO_TEST_CASE(a_2d_image_takes_one_bias_number) {
  // One output channel has one bias: it is added to every output pixel.
  check_values(conv2d(classic_image(), classic_kernel(), tensor({0.5})), "[3, 3]",
               {4.5, 3.5, 4.5, 2.5, 4.5, 3.5, 2.5, 3.5, 4.5});
}

BOOST_AUTO_TEST_CASE(the_output_size_formula) {
  // oH = ⌊(H + 2p − d·(k − 1) − 1) / s⌋ + 1
  struct Case {
    std::int64_t in, k, s, p, d, want;
  };
  const std::vector<Case> cases = {
      {5, 3, 1, 0, 1, 3},  // ⌊(5 − 2 − 1)/1⌋ + 1 = 3: the classic example
      {5, 3, 2, 1, 1, 3},  // ⌊(5 + 2 − 2 − 1)/2⌋ + 1 = 3
      {6, 3, 2, 0, 1, 2},  // ⌊(6 − 2 − 1)/2⌋ + 1 = ⌊3/2⌋ + 1 = 2: the last column is never read
      {7, 3, 1, 1, 2, 5},  // ⌊(7 + 2 − 4 − 1)/1⌋ + 1 = 5
      {7, 2, 3, 2, 1, 4},  // ⌊(7 + 4 − 1 − 1)/3⌋ + 1 = 4
      {4, 4, 1, 0, 1, 1},  // the kernel covers the whole image: one output pixel
      {5, 2, 2, 0, 2, 2},  // reach 3: ⌊(5 − 2 − 1)/2⌋ + 1 = 2
      {1, 3, 1, 1, 1, 1},  // a single pixel padded to 3
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT("H " << c.in << ", k " << c.k << ", s " << c.s << ", p " << c.p << ", d "
                            << c.d) {
      BOOST_TEST((c.in + 2 * c.p - c.d * (c.k - 1) - 1) / c.s + 1 == c.want);
      // The same formula holds for rows and columns separately: use it on the rows, keep the
      // columns plain (a 1-wide kernel on 3 columns gives 3).
      const Tensor y = conv2d(ones({1, 1, c.in, 3}), ones({2, 1, c.k, 1}), {},
                              {.stride = {c.s, 1}, .padding = {c.p, 0}, .dilation = {c.d, 1}});
      BOOST_TEST(to_string(y.shape()) == to_string(Shape{1, 2, c.want, 3}));
    }
  }
}

BOOST_AUTO_TEST_CASE(conv_transpose2d_spreads_the_kernel_by_hand) {
  // Every input pixel adds a copy of the kernel, scaled by its value, onto the output.
  // With a 2×2 kernel of ones and stride 1, neighbouring copies overlap:
  //   1 1 0     0 2 2     0 0 0     0 0 0     1  3 2
  //   1 1 0  +  0 2 2  +  3 3 0  +  0 4 4  =  4 10 6
  //   0 0 0     0 0 0     3 3 0     0 4 4     3  7 4
  const Tensor u = tensor({{{{1.0, 2.0}, {3.0, 4.0}}}});  // [1, 1, 2, 2]
  const Tensor k = ones({1, 1, 2, 2});
  check_values(conv_transpose2d(u, k), "[1, 1, 3, 3]", {1, 3, 2, 4, 10, 6, 3, 7, 4});
  // With stride 2 the copies sit side by side: H = (2 − 1)·2 + 2 = 4.
  check_values(conv_transpose2d(u, k, {}, {.stride = 2}), "[1, 1, 4, 4]",
               {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  // A bias, one per output channel, is added everywhere.
  check_values(conv_transpose2d(u, k, tensor({10.0})), "[1, 1, 3, 3]",
               {11, 13, 12, 14, 20, 16, 13, 17, 14});
}

BOOST_AUTO_TEST_CASE(conv2d_weight_grad_by_hand) {
  // ∂L/∂w[a, b] = Σᵢⱼ g[i, j] · x[i + a, j + b]: with g all ones, each entry is the sum of
  // the 2×2 window of x that kernel tap (a, b) meets:  w[0, 0]: 1 + 2 + 4 + 5 = 12
  const Tensor x = tensor({{{{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}, {7.0, 8.0, 9.0}}}});
  const Tensor g = ones({1, 1, 2, 2});
  check_values(conv2d_weight_grad(x, g, 2), "[1, 1, 2, 2]", {12, 16, 24, 28});
  // It is what backward leaves in the weight's grad.
  Tensor w = zeros({1, 1, 2, 2}).set_requires_grad();
  sum(conv2d(x, w)).backward();
  check_values(w.grad(), "[1, 1, 2, 2]", {12, 16, 24, 28});
}

BOOST_AUTO_TEST_CASE(groups_split_the_channels) {
  // With groups 2, output channel 0 sees only input channel 0 and output channel 1 only input
  // channel 1; weight is [O=2, C/groups=1, kH, kW].
  // With 1×1 kernels [10] and [100], each output channel is its input channel scaled.
  const Tensor x = tensor({{{{1.0, 2.0}, {3.0, 4.0}}, {{5.0, 6.0}, {7.0, 8.0}}}});  // [1, 2, 2, 2]
  const Tensor w = tensor({{{{10.0}}}, {{{100.0}}}});                               // [2, 1, 1, 1]
  check_values(conv2d(x, w, {}, {.groups = 2}), "[1, 2, 2, 2]",
               {10, 20, 30, 40, 500, 600, 700, 800});
  // With groups 1 each output channel sums over both input channels: weight [2, 2, 1, 1].
  //   y[0] = 1·x[0] + 0·x[1],  y[1] = 1·x[0] + 1·x[1]
  const Tensor w1 = tensor({{{{1.0}}, {{0.0}}}, {{{1.0}}, {{1.0}}}});
  check_values(conv2d(x, w1), "[1, 2, 2, 2]", {1, 2, 3, 4, 6, 8, 10, 12});
}

// --------------------------------------------------------------------------- padding modes

BOOST_AUTO_TEST_CASE(conv2d_padding_modes_equal_pad_then_conv2d) {
  // conv2d(x, w, padding p, mode) = conv2d(pad(x, p, mode), w, padding 0)
  Generator gen(31);
  const Tensor x = randn({2, 3, 5, 6}, gen), w = randn({4, 3, 3, 3}, gen), b = randn({4}, gen);
  for (const PadMode mode : all_modes) {
    BOOST_TEST_CONTEXT(to_string(mode)) {
      const Tensor direct = conv2d(x, w, b, {.padding = 1, .padding_mode = mode});
      const Tensor padded_first = conv2d(pad(x, 1, mode), w, b);
      BOOST_TEST(to_string(direct.shape()) == "[2, 4, 5, 6]");
      check_close(direct, padded_first, 1e-12);
      // With stride and unequal padding of rows and columns too.
      check_close(conv2d(x, w, b, {.stride = 2, .padding = {2, 1}, .padding_mode = mode}),
                  conv2d(pad(x, Padding(2, 2, 1, 1), mode), w, b, {.stride = 2}), 1e-12);
    }
  }
  // The modes really differ at the border: reflect is not zeros.
  BOOST_TEST(max_abs_diff(conv2d(x, w, {}, {.padding = 1, .padding_mode = PadMode::reflect}),
                          conv2d(x, w, {}, {.padding = 1})) > 1e-3);
}

// ----------------------------------------------------------------------------- gradcheck
//
// gradcheck compares backward with central differences; gradgradcheck does the same for the
// backward pass itself, which conv2d writes with conv_transpose2d and conv2d_weight_grad.

BOOST_AUTO_TEST_CASE(gradcheck_conv2d_in_every_padding_mode) {
  Generator gen(41);
  const Tensor x = randn({2, 2, 5, 6}, gen).name("x"), w = randn({3, 2, 3, 3}, gen).name("w");
  for (const PadMode mode : all_modes) {
    BOOST_TEST_CONTEXT(to_string(mode)) {
      const Function f = [mode](const std::vector<Tensor>& in) {
        return conv2d(in[0], in[1], {}, {.padding = {1, 2}, .padding_mode = mode});
      };
      check_first_and_second_derivatives(f, {x, w});
    }
  }
}

BOOST_AUTO_TEST_CASE(gradcheck_conv2d_with_stride_2) {
  Generator gen(42);
  const Function f = [](const std::vector<Tensor>& in) {
    return conv2d(in[0], in[1], {}, {.stride = 2, .padding = 1});
  };
  check_first_and_second_derivatives(
      f, {randn({2, 2, 7, 6}, gen).name("x"), randn({3, 2, 3, 3}, gen).name("w")});
}

BOOST_AUTO_TEST_CASE(gradcheck_conv2d_with_dilation_2) {
  Generator gen(43);
  const Function f = [](const std::vector<Tensor>& in) {
    return conv2d(in[0], in[1], {}, {.padding = {0, 1}, .dilation = 2});
  };
  check_first_and_second_derivatives(
      f, {randn({2, 2, 7, 7}, gen).name("x"), randn({2, 2, 3, 2}, gen).name("w")});
}

BOOST_AUTO_TEST_CASE(gradcheck_conv2d_with_groups_2) {
  Generator gen(44);
  const Function f = [](const std::vector<Tensor>& in) {
    return conv2d(in[0], in[1], {}, {.padding = 1, .groups = 2});
  };
  check_first_and_second_derivatives(
      f, {randn({2, 4, 5, 5}, gen).name("x"), randn({4, 2, 3, 3}, gen).name("w")});
}

BOOST_AUTO_TEST_CASE(gradcheck_conv2d_with_bias) {
  Generator gen(45);
  const Function f = [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2]); };
  check_first_and_second_derivatives(
      f, {randn({2, 2, 5, 5}, gen).name("x"), randn({3, 2, 3, 3}, gen).name("w"),
          randn({3}, gen).name("b")});
}

BOOST_AUTO_TEST_CASE(gradcheck_conv2d_with_everything_at_once) {
  // groups 2, stride 2, dilation 2, reflect padding 2, and a bias.
  Generator gen(46);
  const Function f = [](const std::vector<Tensor>& in) {
    return conv2d(
        in[0], in[1], in[2],
        {.stride = 2, .padding = 2, .dilation = 2, .groups = 2, .padding_mode = PadMode::reflect});
  };
  check_first_and_second_derivatives(
      f, {randn({2, 4, 7, 6}, gen).name("x"), randn({2, 2, 3, 3}, gen).name("w"),
          randn({2}, gen).name("b")});
}

BOOST_AUTO_TEST_CASE(gradcheck_convolve2d) {
  Generator gen(47);
  const Function f = [](const std::vector<Tensor>& in) {
    return convolve2d(in[0], in[1], {}, {.padding = 1});
  };
  check_first_and_second_derivatives(
      f, {randn({2, 2, 5, 4}, gen).name("x"), randn({2, 2, 3, 2}, gen).name("w")});
}

BOOST_AUTO_TEST_CASE(gradcheck_conv2d_of_a_2d_image) {
  Generator gen(48);
  const Function f = [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1]); };
  check_first_and_second_derivatives(
      f, {randn({6, 5}, gen).name("image"), randn({3, 2}, gen).name("kernel")});
}

BOOST_AUTO_TEST_CASE(gradcheck_conv_transpose2d_with_stride_output_padding_and_bias) {
  // [2, 3, 3, 4] → H = (3 − 1)·2 − 2·1 + (3 − 1) + 1 + 1 = 6, W = (4 − 1)·2 − 2 + 2 + 1 + 1 = 8
  Generator gen(51);
  const Function f = [](const std::vector<Tensor>& in) {
    return conv_transpose2d(in[0], in[1], in[2], {.stride = 2, .padding = 1, .output_padding = 1});
  };
  check_first_and_second_derivatives(
      f, {randn({2, 3, 3, 4}, gen).name("u"), randn({3, 2, 3, 3}, gen).name("w"),
          randn({2}, gen).name("b")});
}

BOOST_AUTO_TEST_CASE(gradcheck_conv_transpose2d_with_dilation_and_groups) {
  Generator gen(52);
  const Function f = [](const std::vector<Tensor>& in) {
    return conv_transpose2d(
        in[0], in[1], in[2],
        {.stride = {3, 2}, .output_padding = {2, 0}, .groups = 2, .dilation = 2});
  };
  check_first_and_second_derivatives(
      f, {randn({2, 4, 3, 3}, gen).name("u"), randn({4, 1, 2, 2}, gen).name("w"),
          randn({2}, gen).name("b")});
}

BOOST_AUTO_TEST_CASE(gradcheck_conv2d_weight_grad) {
  Generator gen(53);
  const Function f = [](const std::vector<Tensor>& in) {
    return conv2d_weight_grad(in[0], in[1], 3, {.stride = 2, .padding = 1});
  };
  // x [2, 2, 5, 5], kernel 3, stride 2, padding 1 → grad_output [2, 3, 3, 3]
  check_first_and_second_derivatives(
      f, {randn({2, 2, 5, 5}, gen).name("x"), randn({2, 3, 3, 3}, gen).name("grad_y")});
}

BOOST_AUTO_TEST_CASE(gradcheck_conv2d_weight_grad_with_groups_and_dilation) {
  Generator gen(54);
  const Function f = [](const std::vector<Tensor>& in) {
    return conv2d_weight_grad(in[0], in[1], {2, 3}, {.dilation = 2, .groups = 2});
  };
  // x [2, 4, 6, 6], kernel 2×3 with dilation 2 reaches 3×5 → grad_output [2, 2, 4, 2]
  check_first_and_second_derivatives(
      f, {randn({2, 4, 6, 6}, gen).name("x"), randn({2, 2, 4, 2}, gen).name("grad_y")});
}

// ------------------------------------------------------- conv_transpose2d is conv2d's backward

BOOST_AUTO_TEST_CASE(conv2d_backward_is_conv_transpose2d_and_conv2d_weight_grad) {
  // For L = ⟨conv2d(x, w), g⟩ = Σ conv2d(x, w) ∘ g:
  //   ∂L/∂x = conv_transpose2d(g, w)       with the same stride, padding, dilation, groups,
  //                                        and the output_padding that gives back x's size
  //   ∂L/∂w = conv2d_weight_grad(x, g)
  // and conv_transpose2d is the adjoint of conv2d:  ⟨conv2d(x, w), g⟩ = ⟨x, conv_transpose2d(g, w)⟩
  struct Case {
    std::string name;
    Shape x, w;
    Conv2dOptions conv;
    Pair output_padding;
  };
  const std::vector<Case> cases = {
      {"plain", {2, 3, 5, 5}, {4, 3, 3, 3}, {}, 0},
      // oH = ⌊(6 + 2 − 2 − 1)/2⌋ + 1 = 3, back: (3 − 1)·2 − 2 + 2 + 1 = 5, one row short → 1
      // oW = ⌊(7 + 2 − 2 − 1)/2⌋ + 1 = 4, back: (4 − 1)·2 − 2 + 2 + 1 = 7 → 0
      {"stride 2, padding 1", {2, 3, 6, 7}, {4, 3, 3, 3}, {.stride = 2, .padding = 1}, {1, 0}},
      // oH = ⌊(7 + 4 − 4 − 1)/3⌋ + 1 = 3, back: (3 − 1)·3 − 4 + 4 + 1 = 7 → 0
      // oW = ⌊(6 + 2 − 2 − 1)/2⌋ + 1 = 3, back: (3 − 1)·2 − 2 + 2 + 1 = 5 → 1
      {"groups 2, dilation 2, stride [3, 2]",
       {2, 4, 7, 6},
       {2, 2, 3, 2},
       {.stride = {3, 2}, .padding = {2, 1}, .dilation = 2, .groups = 2},
       {0, 1}},
  };
  Generator gen(61);
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      Tensor x = randn(c.x, gen).set_requires_grad(), w = randn(c.w, gen).set_requires_grad();
      const Tensor y = conv2d(x, w, {}, c.conv);
      const Tensor g = randn(y.shape(), gen);
      const std::vector<Tensor> grads = grad({sum(y * g)}, {x, w});

      const ConvTranspose2dOptions t{.stride = c.conv.stride,
                                     .padding = c.conv.padding,
                                     .output_padding = c.output_padding,
                                     .groups = c.conv.groups,
                                     .dilation = c.conv.dilation};
      const Tensor gx = conv_transpose2d(g, w.detach(), {}, t);
      BOOST_TEST(to_string(gx.shape()) == to_string(c.x));
      check_close(grads[0], gx, 1e-12);
      check_close(grads[1], conv2d_weight_grad(x.detach(), g, {c.w[2], c.w[3]}, c.conv), 1e-12);

      const double lhs = inner(y.detach(), g), rhs = inner(x.detach(), gx);
      BOOST_TEST(std::abs(lhs - rhs) <= 1e-10 * std::max(1.0, std::abs(lhs)),
                 "⟨conv2d(x, w), g⟩ = " << lhs << ", ⟨x, conv_transpose2d(g, w)⟩ = " << rhs);
    }
  }
}

// ------------------------------------------------------------------------------- float32

BOOST_AUTO_TEST_CASE(float32_conv2d_agrees_with_float64) {
  Generator gen(81);
  const Tensor x = randn({2, 3, 7, 6}, gen), w = randn({4, 3, 3, 2}, gen), b = randn({4}, gen);
  const std::vector<Conv2dOptions> settings = {
      {},
      {.stride = 2, .padding = 1},
      {.padding = 1, .dilation = 2, .padding_mode = PadMode::reflect},
      {.stride = {1, 2}, .padding = {2, 1}, .padding_mode = PadMode::circular},
  };
  for (const Conv2dOptions& o : settings) {
    const Tensor y64 = conv2d(x, w, b, o);
    const Tensor y32 =
        conv2d(to(x, DType::float32), to(w, DType::float32), to(b, DType::float32), o);
    BOOST_TEST(y32.dtype() == DType::float32);
    check_close(to(y32, DType::float64), y64, 1e-5);
  }
  // The classic example is exact in float32 too.
  check_values(conv2d(to(classic_image(), DType::float32), to(classic_kernel(), DType::float32)),
               "[3, 3]", {4, 3, 4, 2, 4, 3, 2, 3, 4});
}

// ---------------------------------------------------------------------------- bad input

BOOST_AUTO_TEST_CASE(a_kernel_larger_than_the_padded_input_throws_shape_error) {
  BOOST_CHECK_EXCEPTION(
      conv2d(ones({1, 1, 3, 3}), ones({1, 1, 5, 5})), ShapeError,
      says("conv2d: the kernel (reaching [5, 5] with dilation [1, 1]) is larger than the padded "
           "input [3, 3]; input [1, 1, 3, 3], weight [1, 1, 5, 5]"));
  // A 3×3 kernel with dilation 2 reaches over 5×5 pixels: too many for a 4×4 image…
  BOOST_CHECK_EXCEPTION(conv2d(ones({1, 1, 4, 4}), ones({1, 1, 3, 3}), {}, {.dilation = 2}),
                        ShapeError,
                        says("conv2d: the kernel (reaching [5, 5] with dilation [2, 2]) is larger "
                             "than the padded input [4, 4]"));
  // …unless padding makes room: 4 + 2·1 = 6 ≥ 5, and oH = 6 − 5 + 1 = 2.
  BOOST_TEST(
      to_string(conv2d(ones({1, 1, 4, 4}), ones({1, 1, 3, 3}), {}, {.padding = 1, .dilation = 2})
                    .shape()) == "[1, 1, 2, 2]");
  // The plain 2-D form checks the same way.
  BOOST_CHECK_EXCEPTION(conv2d(ones({3, 3}), ones({4, 4})), ShapeError,
                        says("is larger than the padded input [3, 3]"));
}

BOOST_AUTO_TEST_CASE(channel_mismatch_throws_shape_error) {
  BOOST_CHECK_EXCEPTION(conv2d(ones({1, 3, 5, 5}), ones({2, 2, 3, 3})), ShapeError,
                        says("conv2d: channel mismatch: input [1, 3, 5, 5], weight [2, 2, 3, 3] "
                             "with groups 1 needs 2 input channels, got 3"));
  BOOST_CHECK_EXCEPTION(conv2d(ones({1, 4, 5, 5}), ones({2, 4, 3, 3}), {}, {.groups = 2}),
                        ShapeError,
                        says("conv2d: channel mismatch: input [1, 4, 5, 5], weight [2, 4, 3, 3] "
                             "with groups 2 needs 8 input channels, got 4"));
  BOOST_CHECK_EXCEPTION(conv2d(ones({1, 4, 5, 5}), ones({3, 2, 3, 3}), {}, {.groups = 2}),
                        ShapeError,
                        says("conv2d: input [1, 4, 5, 5], weight [3, 2, 3, 3]: the 3 output "
                             "channels do not split into 2 groups"));
  BOOST_CHECK_EXCEPTION(conv_transpose2d(ones({1, 3, 3, 3}), ones({2, 1, 3, 3})), ShapeError,
                        says("conv_transpose2d: channel mismatch: input [1, 3, 3, 3], weight "
                             "[2, 1, 3, 3]"));
}

BOOST_AUTO_TEST_CASE(zero_or_negative_settings_throw_value_error) {
  const Tensor x = ones({1, 1, 5, 5}), w = ones({1, 1, 3, 3});
  BOOST_CHECK_EXCEPTION(conv2d(x, w, {}, {.stride = 0}), ValueError,
                        says("conv2d: stride [0, 0] must be ≥ 1"));
  BOOST_CHECK_EXCEPTION(conv2d(x, w, {}, {.stride = {2, -1}}), ValueError,
                        says("conv2d: stride [2, -1] must be ≥ 1"));
  BOOST_CHECK_EXCEPTION(conv2d(x, w, {}, {.dilation = 0}), ValueError,
                        says("conv2d: dilation [0, 0] must be ≥ 1"));
  BOOST_CHECK_EXCEPTION(conv2d(x, w, {}, {.padding = {-1, 0}}), ValueError,
                        says("conv2d: padding [-1, 0] must be ≥ 0"));
  BOOST_CHECK_EXCEPTION(conv2d(x, w, {}, {.groups = 0}), ValueError,
                        says("conv2d: groups 0 must be ≥ 1"));
  BOOST_CHECK_EXCEPTION(conv_transpose2d(x, w, {}, {.stride = 0}), ValueError,
                        says("conv_transpose2d: stride [0, 0] must be ≥ 1"));
  BOOST_CHECK_EXCEPTION(conv2d_weight_grad(x, ones({1, 1, 3, 3}), 3, {.stride = -2}), ValueError,
                        says("conv2d_weight_grad: stride [-2, -2] must be ≥ 1"));
}

BOOST_AUTO_TEST_CASE(reflect_padding_as_large_as_the_image_throws_shape_error) {
  // Reflect mirrors about the edge pixel, so it reaches at most H − 1 pixels inward:
  // padding 3 on a 3×3 image is too much (padding 2 is fine). The message names conv2d, the
  // op called, and the pad() it calls for the non-zero modes.
  const auto too_much = [] {
    return conv2d(ones({1, 1, 3, 3}), ones({1, 1, 3, 3}), {},
                  {.padding = 3, .padding_mode = PadMode::reflect});
  };
  BOOST_CHECK_EXCEPTION(too_much(), ShapeError, says("conv2d: "));
  BOOST_CHECK_EXCEPTION(
      too_much(), ShapeError,
      says("reflect padding (top 3, bottom 3, left 3, right 3) of an image [1, 1, 3, 3]: reflect "
           "padding must be smaller than the image side"));
  BOOST_TEST(to_string(conv2d(ones({1, 1, 3, 3}), ones({1, 1, 3, 3}), {},
                              {.padding = 2, .padding_mode = PadMode::reflect})
                           .shape()) == "[1, 1, 5, 5]");
}

BOOST_AUTO_TEST_CASE(inputs_that_are_not_4d_throw_shape_error) {
  BOOST_CHECK_EXCEPTION(conv2d(ones({1, 5, 5}), ones({1, 1, 3, 3})), ShapeError,
                        says("conv2d: needs a 4-D input [N, C, H, W] and a 4-D weight [O, "
                             "C/groups, kH, kW] (or a 2-D image and a 2-D kernel); got input "
                             "[1, 5, 5], weight [1, 1, 3, 3]"));
  // A 2-D image needs a 2-D kernel, not a 4-D weight.
  BOOST_CHECK_EXCEPTION(conv2d(ones({5, 5}), ones({1, 1, 3, 3})), ShapeError,
                        says("got input [5, 5], weight [1, 1, 3, 3]"));
  BOOST_CHECK_EXCEPTION(conv_transpose2d(ones({3, 3}), ones({3, 3})), ShapeError,
                        says("conv_transpose2d: needs a 4-D input [N, O, oH, oW] and a 4-D weight "
                             "[O, C/groups, kH, kW]; got input [3, 3], weight [3, 3]"));
  BOOST_CHECK_EXCEPTION(conv2d_weight_grad(ones({1, 5, 5}), ones({1, 1, 3, 3}), 3), ShapeError,
                        says("conv2d_weight_grad: needs a 4-D input and a 4-D grad_output; got "
                             "input [1, 5, 5], grad_output [1, 1, 3, 3]"));
  BOOST_CHECK_EXCEPTION(convolve2d(ones({5, 5}), ones({3})), ShapeError,
                        says("convolve2d: the kernel needs 2 or 4 dimensions, got [3]"));
}

BOOST_AUTO_TEST_CASE(mixing_float32_and_float64_throws_dtype_error) {
  BOOST_CHECK_EXCEPTION(conv2d(ones({1, 1, 5, 5}), ones({1, 1, 3, 3}, DType::float32)), DTypeError,
                        says("conv2d: dtypes differ: float64 [1, 1, 5, 5] and float32 "
                             "[1, 1, 3, 3]"));
  BOOST_CHECK_EXCEPTION(conv_transpose2d(ones({1, 1, 3, 3}, DType::float32), ones({1, 1, 3, 3})),
                        DTypeError,
                        says("conv_transpose2d: dtypes differ: float32 [1, 1, 3, 3] and float64 "
                             "[1, 1, 3, 3]"));
  BOOST_CHECK_EXCEPTION(
      conv2d_weight_grad(ones({1, 1, 5, 5}), ones({1, 1, 3, 3}, DType::float32), 3), DTypeError,
      says("conv2d_weight_grad: dtypes differ: float64 [1, 1, 5, 5] and float32 "
           "[1, 1, 3, 3]"));
}

BOOST_AUTO_TEST_CASE(output_padding_must_be_smaller_than_the_stride) {
  const Tensor u = ones({1, 1, 3, 3}), w = ones({1, 1, 3, 3});
  BOOST_CHECK_EXCEPTION(conv_transpose2d(u, w, {}, {.stride = 2, .output_padding = 2}), ValueError,
                        says("conv_transpose2d: output_padding [2, 2] must be ≥ 0 and smaller "
                             "than the stride [2, 2]"));
  BOOST_CHECK_EXCEPTION(conv_transpose2d(u, w, {}, {.output_padding = {0, 1}}), ValueError,
                        says("conv_transpose2d: output_padding [0, 1] must be ≥ 0 and smaller "
                             "than the stride [1, 1]"));
  // 3×3 kernel, padding 2 on a 1×1 input: H = 0 − 4 + 2 + 1 = −1, nothing to return.
  BOOST_CHECK_EXCEPTION(conv_transpose2d(ones({1, 1, 1, 1}), w, {}, {.padding = 2}), ShapeError,
                        says("conv_transpose2d: input [1, 1, 1, 1], weight [1, 1, 3, 3] with "
                             "padding [2, 2] gives an empty output [-1, -1]"));
}

BOOST_AUTO_TEST_CASE(a_bias_of_the_wrong_shape_throws_shape_error) {
  BOOST_CHECK_EXCEPTION(conv2d(ones({1, 1, 5, 5}), ones({2, 1, 3, 3}), ones({3})), ShapeError,
                        says("conv2d: bias must be [2] (one per output channel), got [3]"));
  BOOST_CHECK_EXCEPTION(conv2d(ones({1, 1, 5, 5}), ones({2, 1, 3, 3}), ones({2, 1})), ShapeError,
                        says("conv2d: bias must be [2] (one per output channel), got [2, 1]"));
  // conv_transpose2d's output has C = weight[1]·groups = 3 channels.
  BOOST_CHECK_EXCEPTION(conv_transpose2d(ones({1, 2, 3, 3}), ones({2, 3, 3, 3}), ones({2})),
                        ShapeError,
                        says("conv_transpose2d: bias must be [3] (one per output channel), got "
                             "[2]"));
}

BOOST_AUTO_TEST_CASE(a_2d_image_rejects_a_bias_with_more_than_one_number) {
  // A plain 2-D image has one output channel, so one bias number (a_2d_image_takes_one_bias_
  // number). A bias [3] on the 3×3 output would add a different number to each output column:
  // that is not a convolution bias, and the 4-D form rejects the same mistake.
  BOOST_CHECK_EXCEPTION(conv2d(ones({5, 5}), ones({3, 3}), ones({3})), ShapeError,
                        says("conv2d: a 2-D image [5, 5] with a 2-D kernel [3, 3] takes one "
                             "bias number, got bias [3]"));
  BOOST_CHECK_EXCEPTION(conv2d(ones({5, 5}), ones({3, 3}), ones({3, 3})), ShapeError,
                        says("got bias [3, 3]"));
}

BOOST_AUTO_TEST_CASE(a_bias_of_another_dtype_is_named_by_the_op) {
  BOOST_CHECK_EXCEPTION(conv2d(ones({1, 2, 3, 3}), ones({2, 2, 3, 3}), ones({2}, DType::float32)),
                        DTypeError, says("conv2d: dtypes differ"));
}

BOOST_AUTO_TEST_CASE(conv2d_weight_grad_checks_its_arguments) {
  BOOST_CHECK_EXCEPTION(
      conv2d_weight_grad(ones({1, 1, 5, 5}), ones({1, 1, 5, 5}), 3,
                         {.padding = 1, .padding_mode = PadMode::reflect}),
      ValueError,
      says("conv2d_weight_grad: only zeros padding; pad() the input first for reflect"));
  BOOST_CHECK_EXCEPTION(conv2d_weight_grad(ones({1, 1, 5, 5}), ones({1, 1, 2, 2}), 3), ShapeError,
                        says("conv2d_weight_grad: grad_output [1, 1, 2, 2] is not the output "
                             "shape [1, 1, 3, 3] of input [1, 1, 5, 5] with a [3, 3] kernel"));
}

BOOST_AUTO_TEST_CASE(a_kernel_without_rows_or_columns_is_rejected) {
  BOOST_CHECK_EXCEPTION(conv2d(ones({1, 1, 4, 4}), ones({1, 1, 0, 0})), ShapeError,
                        says("conv2d: the kernel needs at least one row and column"));
  BOOST_CHECK_EXCEPTION(conv_transpose2d(ones({1, 1, 3, 3}), ones({1, 1, 0, 0})), ShapeError,
                        says("conv_transpose2d: the kernel needs at least one row and column"));
  BOOST_CHECK_EXCEPTION(conv2d_weight_grad(ones({1, 1, 4, 4}), ones({1, 1, 5, 5}), {0, 0}),
                        ValueError, says("conv2d_weight_grad: kernel [0, 0] must be ≥ 1"));
  BOOST_CHECK_EXCEPTION(
      conv2d_weight_grad(ones({1, 3, 4, 4}), ones({1, 2, 2, 2}), {3, 3}, {.groups = 2}), ShapeError,
      says("the 3 channels of input [1, 3, 4, 4] do not split into 2 groups"));
}

// Options near 2⁶² made the geometry's int64 arithmetic overflow (undefined behaviour,
// caught by UBSan): now each is a ShapeError naming the op and the size that overflowed.
BOOST_AUTO_TEST_CASE(options_near_two_to_the_62_are_a_shape_error_not_an_overflow) {
  const Tensor x = ones({1, 1, 3, 3}), w = ones({1, 1, 2, 2});
  const std::int64_t huge = std::int64_t(1) << 62, most = std::numeric_limits<std::int64_t>::max();
  BOOST_CHECK_EXCEPTION(conv2d(x, w, {}, {.padding = huge}), ShapeError,
                        says("conv2d: the padded input's height is past the int64 range (above "
                             "2^63 - 1): the sizes or options are too large"));
  BOOST_CHECK_EXCEPTION(conv2d(x, w, {}, {.dilation = {1, most}}), ShapeError,
                        says("conv2d: the dilated kernel's width is past the int64 range"));
  BOOST_CHECK_EXCEPTION(conv2d(ones({1, 2, 3, 3}), ones({1, 2, 2, 2}), {}, {.groups = huge}),
                        ShapeError,
                        says("conv2d: the input channels weight[1] · groups is past the int64"));
  BOOST_CHECK_EXCEPTION(conv_transpose2d(x, w, {}, {.stride = huge}), ShapeError,
                        says("conv_transpose2d: the padded output's side is past the int64"));
}
