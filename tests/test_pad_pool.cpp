#define BOOST_TEST_MODULE pad_pool
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>
#include <cstdint>
#include <gradlab/gradlab.hpp>
#include <vector>

#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;

namespace {

// 1 2 3
// 4 5 6
// 7 8 9
Tensor one_to_nine() { return tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}, {7.0, 8.0, 9.0}}); }

// ⟨a, b⟩ = Σ a ∘ b
double inner(const Tensor& a, const Tensor& b) { return sum(a * b).item(); }

const std::vector<PadMode> all_modes = {PadMode::zeros, PadMode::reflect, PadMode::replicate,
                                        PadMode::circular};

}  // namespace

// ------------------------------------------------------------------------- pad, by hand

BOOST_AUTO_TEST_CASE(pad_by_1_in_zeros_mode) {
  check_values(pad(one_to_nine(), 1, PadMode::zeros), "[5, 5]", {0, 0, 0, 0, 0,  //
                                                                 0, 1, 2, 3, 0,  //
                                                                 0, 4, 5, 6, 0,  //
                                                                 0, 7, 8, 9, 0,  //
                                                                 0, 0, 0, 0, 0});
  // zeros is the default mode.
  check_values(pad(one_to_nine(), 1), "[5, 5]",
               {0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 4, 5, 6, 0, 0, 7, 8, 9, 0, 0, 0, 0, 0, 0});
}

BOOST_AUTO_TEST_CASE(pad_by_1_in_reflect_mode) {
  // Mirror about the edge pixel, without repeating it: the row above row 0 is row 1.
  check_values(pad(one_to_nine(), 1, PadMode::reflect), "[5, 5]", {5, 4, 5, 6, 5,  //
                                                                   2, 1, 2, 3, 2,  //
                                                                   5, 4, 5, 6, 5,  //
                                                                   8, 7, 8, 9, 8,  //
                                                                   5, 4, 5, 6, 5});
}

BOOST_AUTO_TEST_CASE(pad_by_1_in_replicate_mode) {
  // Repeat the edge pixel.
  check_values(pad(one_to_nine(), 1, PadMode::replicate), "[5, 5]", {1, 1, 2, 3, 3,  //
                                                                     1, 1, 2, 3, 3,  //
                                                                     4, 4, 5, 6, 6,  //
                                                                     7, 7, 8, 9, 9,  //
                                                                     7, 7, 8, 9, 9});
}

BOOST_AUTO_TEST_CASE(pad_by_1_in_circular_mode) {
  // Wrap around: the row above row 0 is the last row, the column left of column 0 the last.
  check_values(pad(one_to_nine(), 1, PadMode::circular), "[5, 5]", {9, 7, 8, 9, 7,  //
                                                                    3, 1, 2, 3, 1,  //
                                                                    6, 4, 5, 6, 4,  //
                                                                    9, 7, 8, 9, 7,  //
                                                                    3, 1, 2, 3, 1});
}

BOOST_AUTO_TEST_CASE(asymmetric_padding_in_every_mode) {
  // Padding{top 1, bottom 0, left 2, right 1}: [3, 3] → [1 + 3 + 0, 2 + 3 + 1] = [4, 6].
  const Padding p(1, 0, 2, 1);
  check_values(pad(one_to_nine(), p, PadMode::zeros), "[4, 6]", {0, 0, 0, 0, 0, 0,  //
                                                                 0, 0, 1, 2, 3, 0,  //
                                                                 0, 0, 4, 5, 6, 0,  //
                                                                 0, 0, 7, 8, 9, 0});
  // Reflect, a row: 3 2 | 1 2 3 | 2
  check_values(pad(one_to_nine(), p, PadMode::reflect), "[4, 6]", {6, 5, 4, 5, 6, 5,  //
                                                                   3, 2, 1, 2, 3, 2,  //
                                                                   6, 5, 4, 5, 6, 5,  //
                                                                   9, 8, 7, 8, 9, 8});
  // Replicate, a row: 1 1 | 1 2 3 | 3
  check_values(pad(one_to_nine(), p, PadMode::replicate), "[4, 6]", {1, 1, 1, 2, 3, 3,  //
                                                                     1, 1, 1, 2, 3, 3,  //
                                                                     4, 4, 4, 5, 6, 6,  //
                                                                     7, 7, 7, 8, 9, 9});
  // Circular, a row: 2 3 | 1 2 3 | 1
  check_values(pad(one_to_nine(), p, PadMode::circular), "[4, 6]", {8, 9, 7, 8, 9, 7,  //
                                                                    2, 3, 1, 2, 3, 1,  //
                                                                    5, 6, 4, 5, 6, 4,  //
                                                                    8, 9, 7, 8, 9, 7});
}

BOOST_AUTO_TEST_CASE(pad_works_on_the_last_two_axes_of_a_batch) {
  // [2, 1, 3, 3] → [2, 1, 5, 5]: every image is padded on its own.
  const Tensor x =
      from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 60, 70, 80, 90}, {2, 1, 3, 3});
  const Tensor y = pad(x, 1, PadMode::replicate);
  BOOST_TEST(to_string(y.shape()) == "[2, 1, 5, 5]");
  BOOST_TEST(y.at({0, 0, 0, 0}) == 1.0);
  BOOST_TEST(y.at({1, 0, 0, 0}) == 10.0);
  BOOST_TEST(y.at({1, 0, 4, 4}) == 90.0);
}

// ------------------------------------------------------------------- unpad, the gradient

BOOST_AUTO_TEST_CASE(the_reflect_gradient_folds_back_onto_interior_pixels) {
  // L = Σ pad(x, 1, reflect): ∂L/∂x[i, j] counts how many times x[i, j] appears in the
  // padded image. The reflected rows are [1, 0, 1, 2, 1]: row 0 appears once, row 1 three
  // times, row 2 once; the same for columns. So the counts are [1 3 1] ⊗ [1 3 1]:
  //   1 3 1
  //   3 9 3     (the corners and edges are not copied; the pixels next to them are)
  //   1 3 1
  Tensor x = one_to_nine().set_requires_grad();
  sum(pad(x, 1, PadMode::reflect)).backward();
  check_values(x.grad(), "[3, 3]", {1, 3, 1, 3, 9, 3, 1, 3, 1});
  // The same as unpad of a gradient of ones.
  check_values(unpad(ones({5, 5}), 1, PadMode::reflect), "[3, 3]", {1, 3, 1, 3, 9, 3, 1, 3, 1});
}

BOOST_AUTO_TEST_CASE(copy_counts_in_the_other_modes) {
  // zeros: each pixel appears once.  replicate: rows [0, 0, 1, 2, 2], the edges twice, the
  // corners 2·2 = 4 times.  circular: rows [2, 0, 1, 2, 0], again the edges twice.
  //   zeros        replicate      circular
  //   1 1 1        4 2 4          4 2 4
  //   1 1 1        2 1 2          2 1 2
  //   1 1 1        4 2 4          4 2 4
  const std::vector<std::vector<double>> counts = {
      {1, 1, 1, 1, 1, 1, 1, 1, 1}, {4, 2, 4, 2, 1, 2, 4, 2, 4}, {4, 2, 4, 2, 1, 2, 4, 2, 4}};
  const std::vector<PadMode> modes = {PadMode::zeros, PadMode::replicate, PadMode::circular};
  for (std::size_t k = 0; k < modes.size(); ++k) {
    BOOST_TEST_CONTEXT(to_string(modes[k])) {
      Tensor x = one_to_nine().set_requires_grad();
      sum(pad(x, 1, modes[k])).backward();
      check_values(x.grad(), "[3, 3]", counts[k]);
    }
  }
}

BOOST_AUTO_TEST_CASE(unpad_adds_each_padded_pixel_back_onto_its_source) {
  // g[i, j] = 5i + j on the 5×5 padded image.
  std::vector<double> v(25);
  for (int i = 0; i < 25; ++i) v[i] = i;
  const Tensor g = from_vector(v, {5, 5});
  // zeros: the border came from nowhere; unpad just cuts it off.
  check_values(unpad(g, 1, PadMode::zeros), "[3, 3]", {6, 7, 8, 11, 12, 13, 16, 17, 18});
  // reflect: padded rows [1, 0, 1, 2, 1] come from rows 0 ← {1}, 1 ← {0, 2, 4}, 2 ← {3}, and
  // the same for columns. x[0, 1] collects g[1, 0] + g[1, 2] + g[1, 4] = 5 + 7 + 9 = 21;
  // x[1, 1] collects the 9 entries g[{0,2,4}, {0,2,4}], which add up to 108.
  check_values(unpad(g, 1, PadMode::reflect), "[3, 3]", {6, 21, 8, 33, 108, 39, 16, 51, 18});
}

BOOST_AUTO_TEST_CASE(unpad_is_the_adjoint_of_pad) {
  // ⟨pad(x), g⟩ = ⟨x, unpad(g)⟩ for every x and g, in every mode.
  Generator gen(5);
  const Padding p(2, 1, 0, 3);
  const Tensor x = randn({2, 3, 4, 5}, gen), g = randn({2, 3, 7, 8}, gen);
  for (const PadMode mode : all_modes) {
    BOOST_TEST_CONTEXT(to_string(mode)) {
      const double lhs = inner(pad(x, p, mode), g), rhs = inner(x, unpad(g, p, mode));
      BOOST_TEST(std::abs(lhs - rhs) <= 1e-12 * std::max(1.0, std::abs(lhs)));
    }
  }
}

// --------------------------------------------------------------------- pooling, by hand

BOOST_AUTO_TEST_CASE(max_pool_2x2_stride_2_by_hand) {
  //   1 3 | 2 9
  //   4 2 | 0 1         4 9
  //   ----+----   →
  //   5 6 | 1 2         8 7
  //   0 8 | 7 3
  const Tensor x = tensor(
      {{1.0, 3.0, 2.0, 9.0}, {4.0, 2.0, 0.0, 1.0}, {5.0, 6.0, 1.0, 2.0}, {0.0, 8.0, 7.0, 3.0}});
  check_values(max_pool2d(x, 2), "[2, 2]", {4, 9, 8, 7});
  // The stride defaults to the kernel size; giving it explicitly changes nothing.
  check_values(max_pool2d(x, 2, {.stride = 2}), "[2, 2]", {4, 9, 8, 7});
  // As a batch [1, 1, 4, 4] too.
  check_values(max_pool2d(reshape(x, {1, 1, 4, 4}), 2), "[1, 1, 2, 2]", {4, 9, 8, 7});
}

BOOST_AUTO_TEST_CASE(the_max_pool_gradient_goes_to_the_argmax) {
  // Each window passes its gradient to the position of its maximum and nothing elsewhere:
  // with upstream gradient [[1, 2], [3, 4]], 1 goes to the 4 at (1, 0), 2 to the 9 at (0, 3),
  // 3 to the 8 at (3, 1) and 4 to the 7 at (3, 2).
  Tensor x =
      tensor(
          {{1.0, 3.0, 2.0, 9.0}, {4.0, 2.0, 0.0, 1.0}, {5.0, 6.0, 1.0, 2.0}, {0.0, 8.0, 7.0, 3.0}})
          .set_requires_grad();
  max_pool2d(x, 2).backward(tensor({{1.0, 2.0}, {3.0, 4.0}}));
  check_values(x.grad(), "[4, 4]",
               {0, 0, 0, 2,  //
                1, 0, 0, 0,  //
                0, 0, 0, 0,  //
                0, 3, 4, 0});
}

BOOST_AUTO_TEST_CASE(max_pool_ignores_the_padding) {
  // With padding 1 the windows reach past the image, but the padding is never the maximum,
  // even when every pixel is negative.
  check_values(max_pool2d(-1.0 * one_to_nine(), 3, {.stride = 1, .padding = 1}), "[3, 3]",
               {-1, -1, -2, -1, -1, -2, -4, -4, -5});
}

BOOST_AUTO_TEST_CASE(avg_pool_2x2_stride_2_by_hand) {
  // (1 + 3 + 4 + 2)/4 = 2.5,  (2 + 9 + 0 + 1)/4 = 3,  (5 + 6 + 0 + 8)/4 = 4.75,  13/4 = 3.25
  Tensor x =
      tensor(
          {{1.0, 3.0, 2.0, 9.0}, {4.0, 2.0, 0.0, 1.0}, {5.0, 6.0, 1.0, 2.0}, {0.0, 8.0, 7.0, 3.0}})
          .set_requires_grad();
  check_values(avg_pool2d(x, 2), "[2, 2]", {2.5, 3, 4.75, 3.25});
  // Every pixel of a window gets a quarter of the window's gradient.
  avg_pool2d(x, 2).backward(tensor({{4.0, 8.0}, {12.0, 16.0}}));
  check_values(x.grad(), "[4, 4]", {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
}

BOOST_AUTO_TEST_CASE(avg_pool_counts_the_padding_as_zeros) {
  // 3×3 windows, stride 1, padding 1: every window divides by 9, also at the border where
  // some of its 9 pixels are padding.
  //   corner (0, 0): (1 + 2 + 4 + 5)/9 = 12/9,  centre: (1 + … + 9)/9 = 45/9 = 5
  check_values(
      avg_pool2d(one_to_nine(), 3, {.stride = 1, .padding = 1}), "[3, 3]",
      {12.0 / 9, 21.0 / 9, 16.0 / 9, 27.0 / 9, 45.0 / 9, 33.0 / 9, 24.0 / 9, 39.0 / 9, 28.0 / 9});
}

// ------------------------------------------------------------------------- flatten, flip

BOOST_AUTO_TEST_CASE(flatten_merges_axes) {
  // flatten of [N, C, H, W] keeps the batch axis: [2, 3, 4, 5] → [2, 3·4·5] = [2, 60]
  Generator gen(9);
  const Tensor x = randn({2, 3, 4, 5}, gen);
  const Tensor f = flatten(x);
  BOOST_TEST(to_string(f.shape()) == "[2, 60]");
  BOOST_TEST(f.values() == x.values());  // the same numbers in the same (row-major) order
  BOOST_TEST(f.at({1, 0}) == x.at({1, 0, 0, 0}));
  BOOST_TEST(f.at({1, 23}) == x.at({1, 1, 0, 3}));  // 23 = 1·20 + 0·5 + 3
  BOOST_TEST(to_string(flatten(x, 0).shape()) == "[120]");
  BOOST_TEST(to_string(flatten(x, 1, 2).shape()) == "[2, 12, 5]");
  BOOST_TEST(to_string(flatten(x, 2, 2).shape()) == "[2, 3, 4, 5]");
}

BOOST_AUTO_TEST_CASE(flip_reverses_one_axis) {
  const Tensor x = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  check_values(flip(x, -1), "[2, 3]", {3, 2, 1, 6, 5, 4});  // left to right
  check_values(flip(x, 0), "[2, 3]", {4, 5, 6, 1, 2, 3});   // top to bottom
  check_values(flip(flip(x, 0), 1), "[2, 3]", {6, 5, 4, 3, 2, 1});
  // Its gradient flips back: ∂Σ(flip(x) ∘ g)/∂x = flip(g).
  Tensor y = x.clone().set_requires_grad();
  flip(y, 1).backward(tensor({{10.0, 20.0, 30.0}, {40.0, 50.0, 60.0}}));
  check_values(y.grad(), "[2, 3]", {30, 20, 10, 60, 50, 40});
}

// --------------------------------------------------------------------------------- kron

BOOST_AUTO_TEST_CASE(kron_of_two_matrices_by_hand) {
  // (a ⊗ b)[i·p + k, j·q + l] = a[i, j]·b[k, l]: every entry of a scales a whole copy of b.
  //   [1 2]   [0 5]   [1·b 2·b]   [ 0  5  0 10]
  //   [3 4] ⊗ [6 7] = [3·b 4·b] = [ 6  7 12 14]
  //                               [ 0 15  0 20]
  //                               [18 21 24 28]
  const Tensor a = tensor({{1.0, 2.0}, {3.0, 4.0}}), b = tensor({{0.0, 5.0}, {6.0, 7.0}});
  check_values(kron(a, b), "[4, 4]", {0, 5, 0, 10, 6, 7, 12, 14, 0, 15, 0, 20, 18, 21, 24, 28});
  // Contrast: the Hadamard product a ∘ b multiplies entries in the same place, so it needs
  // two tensors of the same shape and keeps that shape; kron multiplies every entry with
  // every entry, of any two shapes, and the sizes multiply.
  check_values(a * b, "[2, 2]", {0, 10, 18, 28});
  // kron does not commute: b ⊗ a puts copies of a in b's pattern.
  check_values(kron(b, a), "[4, 4]", {0, 0, 5, 10, 0, 0, 15, 20, 6, 12, 7, 14, 18, 24, 21, 28});
  // Shapes multiply: [2, 3] ⊗ [3, 1] → [6, 3].
  BOOST_TEST(to_string(kron(ones({2, 3}), ones({3, 1})).shape()) == "[6, 3]");
}

BOOST_AUTO_TEST_CASE(kron_of_two_vectors_by_hand) {
  // [1 2] ⊗ [3 4 5] = [1·3 1·4 1·5 2·3 2·4 2·5]
  check_values(kron(tensor({1.0, 2.0}), tensor({3.0, 4.0, 5.0})), "[6]", {3, 4, 5, 6, 8, 10});
}

BOOST_AUTO_TEST_CASE(kron_gradient_by_hand) {
  // Σ (a ⊗ b) = Σᵢⱼ Σₖₗ a[i, j]·b[k, l] = (Σ a)·(Σ b):  ∂/∂a = Σ b everywhere, ∂/∂b = Σ a
  Tensor a = tensor({{1.0, 2.0}, {3.0, 4.0}}).set_requires_grad();
  Tensor b = tensor({{0.0, 5.0}, {6.0, 7.0}}).set_requires_grad();
  sum(kron(a, b)).backward();
  check_values(a.grad(), "[2, 2]", {18, 18, 18, 18});
  check_values(b.grad(), "[2, 2]", {10, 10, 10, 10});
}

// ----------------------------------------------------------------------------- gradcheck

BOOST_AUTO_TEST_CASE(gradcheck_pad_in_every_mode) {
  Generator gen(11);
  const Tensor x = randn({2, 2, 4, 5}, gen).name("x");
  for (const PadMode mode : all_modes) {
    BOOST_TEST_CONTEXT(to_string(mode)) {
      const Function f = [mode](const std::vector<Tensor>& in) {
        return pad(in[0], Padding(2, 1, 3, 0), mode);
      };
      check_first_and_second_derivatives(f, {x});
    }
  }
}

BOOST_AUTO_TEST_CASE(gradcheck_unpad_in_every_mode) {
  // [2, 2, 7, 8] with Padding{2, 1, 3, 0} unpads to [2, 2, 4, 5].
  Generator gen(12);
  const Tensor g = randn({2, 2, 7, 8}, gen).name("g");
  for (const PadMode mode : all_modes) {
    BOOST_TEST_CONTEXT(to_string(mode)) {
      const Function f = [mode](const std::vector<Tensor>& in) {
        return unpad(in[0], Padding(2, 1, 3, 0), mode);
      };
      check_first_and_second_derivatives(f, {g});
    }
  }
}

BOOST_AUTO_TEST_CASE(gradcheck_max_pool2d) {
  // Random inputs have no ties (probability zero), so the maximum is differentiable.
  Generator gen(13);
  const Tensor x = randn({2, 3, 6, 6}, gen).name("x");
  const Function pool2 = [](const std::vector<Tensor>& in) { return max_pool2d(in[0], 2); };
  check_first_and_second_derivatives(pool2, {x});
  const Function overlapping = [](const std::vector<Tensor>& in) {
    return max_pool2d(in[0], 3, {.stride = 2, .padding = 1});
  };
  check_first_and_second_derivatives(overlapping, {x});
}

BOOST_AUTO_TEST_CASE(gradcheck_avg_pool2d_with_padding) {
  Generator gen(14);
  const Function f = [](const std::vector<Tensor>& in) {
    return avg_pool2d(in[0], {3, 2}, {.stride = {2, 1}, .padding = 1});
  };
  check_first_and_second_derivatives(f, {randn({2, 3, 7, 5}, gen).name("x")});
}

BOOST_AUTO_TEST_CASE(gradcheck_kron) {
  Generator gen(15);
  const Function f = [](const std::vector<Tensor>& in) { return kron(in[0], in[1]); };
  check_first_and_second_derivatives(f, {randn({3}, gen).name("u"), randn({4}, gen).name("v")});
  check_first_and_second_derivatives(f,
                                     {randn({2, 3}, gen).name("A"), randn({3, 2}, gen).name("B")});
}

BOOST_AUTO_TEST_CASE(gradcheck_flip) {
  Generator gen(16);
  const Tensor x = randn({2, 3, 4}, gen).name("x");
  for (const std::int64_t axis : {0, 1, -1}) {
    BOOST_TEST_CONTEXT("axis " << axis) {
      const Function f = [axis](const std::vector<Tensor>& in) { return flip(in[0], axis); };
      check_first_and_second_derivatives(f, {x});
    }
  }
}

BOOST_AUTO_TEST_CASE(gradcheck_flatten) {
  // Inside a product, so that the gradient has a second derivative to check as well.
  Generator gen(17);
  const Function f = [](const std::vector<Tensor>& in) { return flatten(in[0]) * flatten(in[0]); };
  check_first_and_second_derivatives(f, {randn({2, 3, 2, 2}, gen).name("x")});
}

// ---------------------------------------------------------------------------- bad input

BOOST_AUTO_TEST_CASE(reflect_padding_must_be_smaller_than_the_image_side) {
  // Reflect mirrors about the edge pixel, so a side of 3 can give at most 2 pixels.
  BOOST_CHECK_EXCEPTION(pad(ones({3, 3}), 3, PadMode::reflect), ShapeError,
                        says("pad: reflect padding (top 3, bottom 3, left 3, right 3) of an image "
                             "[3, 3]: reflect padding must be smaller than the image side"));
  BOOST_CHECK_EXCEPTION(pad(ones({2, 3, 4}), Padding(0, 0, 4, 0), PadMode::reflect), ShapeError,
                        says("pad: reflect padding (top 0, bottom 0, left 4, right 0) of an image "
                             "[2, 3, 4]: reflect padding must be smaller than the image side"));
  BOOST_CHECK_EXCEPTION(pad(ones({2, 2}), Padding(3, 0, 0, 0), PadMode::reflect), ShapeError,
                        says("pad: reflect padding (top 3, bottom 0, left 0, right 0) of an image "
                             "[2, 2]: reflect padding must be smaller than the image side"));
  BOOST_TEST(to_string(pad(ones({3, 3}), 2, PadMode::reflect).shape()) == "[7, 7]");
  // unpad checks the same for the image it gives back: [5, 5] minus 2 + 2 is [1, 1].
  BOOST_CHECK_EXCEPTION(unpad(ones({5, 5}), 2, PadMode::reflect), ShapeError,
                        says("unpad: reflect padding (top 2, bottom 2, left 2, right 2) of an "
                             "image [1, 1]: reflect padding must be smaller than the image side"));
}

BOOST_AUTO_TEST_CASE(other_bad_padding_throws) {
  BOOST_CHECK_EXCEPTION(pad(ones({3, 3}), 4, PadMode::circular), ShapeError,
                        says("pad: circular padding (top 4, bottom 4, left 4, right 4) of an "
                             "image [3, 3]: circular padding must not exceed the image side"));
  BOOST_CHECK_EXCEPTION(pad(ones({3, 3}), Padding(0, -1, 0, 0)), ValueError,
                        says("pad: zeros padding (top 0, bottom -1, left 0, right 0) of an image "
                             "[3, 3]: amounts must not be negative"));
  BOOST_CHECK_EXCEPTION(pad(ones({3}), 1), ShapeError,
                        says("pad: needs an image with at least 2 dimensions, got [3]"));
  BOOST_CHECK_EXCEPTION(unpad(ones({3, 3}), 2), ShapeError,
                        says("unpad: an image [3, 3] is smaller than its padding"));
  BOOST_CHECK_EXCEPTION(unpad(ones({4}), 1), ShapeError,
                        says("unpad: needs an image with at least 2 dimensions, got [4]"));
}

BOOST_AUTO_TEST_CASE(pooling_padding_more_than_half_the_kernel_throws_value_error) {
  // A window must keep at least one image pixel: padding ≤ kernel/2.
  BOOST_CHECK_EXCEPTION(max_pool2d(ones({1, 1, 4, 4}), 2, {.padding = 2}), ValueError,
                        says("max_pool2d: kernel [2, 2], stride [2, 2], padding [2, 2]: padding "
                             "must be at most half the kernel"));
  BOOST_CHECK_EXCEPTION(avg_pool2d(ones({1, 1, 4, 4}), 3, {.stride = 1, .padding = {0, 2}}),
                        ValueError,
                        says("avg_pool2d: kernel [3, 3], stride [1, 1], padding [0, 2]: padding "
                             "must be at most half the kernel"));
  BOOST_CHECK_EXCEPTION(max_pool2d(ones({1, 1, 4, 4}), 2, {.stride = -1}), ValueError,
                        says("max_pool2d: kernel [2, 2], stride [-1, -1], padding [0, 0]: kernel "
                             "and stride must be ≥ 1, padding ≥ 0"));
}

BOOST_AUTO_TEST_CASE(pooling_needs_a_4d_input_and_a_window_that_fits) {
  BOOST_CHECK_EXCEPTION(max_pool2d(ones({2, 4, 4}), 2), ShapeError,
                        says("max_pool2d: needs a 4-D input [N, C, H, W] (or a 2-D image), got "
                             "[2, 4, 4]"));
  BOOST_CHECK_EXCEPTION(avg_pool2d(ones({4}), 2), ShapeError,
                        says("avg_pool2d: needs a 4-D input [N, C, H, W] (or a 2-D image), got "
                             "[4]"));
  BOOST_CHECK_EXCEPTION(max_pool2d(ones({1, 1, 2, 5}), 3), ShapeError,
                        says("max_pool2d: kernel [3, 3], stride [3, 3], padding [0, 0] is larger "
                             "than the padded input [1, 1, 2, 5]"));
}

BOOST_AUTO_TEST_CASE(kron_needs_two_vectors_or_two_matrices) {
  BOOST_CHECK_EXCEPTION(kron(ones({2}), ones({2, 2})), ShapeError,
                        says("kron: needs two vectors or two matrices, got [2] and [2, 2]"));
  BOOST_CHECK_EXCEPTION(kron(ones({2, 2, 2}), ones({2, 2, 2})), ShapeError,
                        says("kron: needs two vectors or two matrices, got [2, 2, 2] and "
                             "[2, 2, 2]"));
  // float32 with float64 is promoted, as torch.kron does.
  const Tensor mixed = kron(tensor({1.0, 2.0}), tensor({0.5, 3.0}, DType::float32));
  BOOST_TEST(mixed.dtype() == DType::float64);
  check_values(mixed, "[4]", {0.5, 3, 1, 6});
}

BOOST_AUTO_TEST_CASE(flatten_and_flip_check_their_axes) {
  BOOST_CHECK_EXCEPTION(flatten(ones({2, 3, 4}), 2, 1), ValueError,
                        says("flatten: start axis 2 comes after end axis 1 for shape [2, 3, 4]"));
  BOOST_CHECK_EXCEPTION(flip(ones({2, 3}), 2), ValueError,
                        says("flip: axis 2 is out of range for a tensor of rank 2"));
  BOOST_CHECK_EXCEPTION(flatten(ones({2, 3}), 0, -3), ValueError,
                        says("flatten: axis -3 is out of range for a tensor of rank 2"));
}

BOOST_AUTO_TEST_CASE(pooling_an_empty_image_is_an_error_not_a_read_outside_it) {
  // With padding every window of an image with no rows would lie in the padding.
  BOOST_CHECK_EXCEPTION(max_pool2d(ones({1, 1, 0, 4}), 2, {.padding = 1}), ShapeError,
                        says("max_pool2d: empty image [1, 1, 0, 4]"));
  BOOST_CHECK_EXCEPTION(avg_pool2d(ones({1, 1, 4, 0}), 2, {.padding = 1}), ShapeError,
                        says("avg_pool2d: empty image [1, 1, 4, 0]"));
}

BOOST_AUTO_TEST_CASE(reflect_checks_only_the_axes_it_pads) {
  // No rows are added, so an image without rows can still get columns… of nothing.
  BOOST_TEST(pad(ones({0, 3}), Padding(0, 0, 1, 1), PadMode::reflect).shape() == Shape({0, 5}));
}

// A NaN in a window is that window's maximum, wherever it sits in the window, and its
// gradient goes to it: max pooling does not drop a NaN, as relu now does not either.
BOOST_AUTO_TEST_CASE(max_pool2d_keeps_a_nan) {
  for (int at = 0; at < 4; ++at) {
    std::vector<double> v = {1.0, 5.0, 3.0, 2.0};
    v[at] = std::nan("");
    Tensor x = from_vector(v, {2, 2}).set_requires_grad();
    const Tensor y = max_pool2d(x, 2);
    BOOST_TEST(std::isnan(y.item()), "NaN at " << at);
    y.backward(tensor({{1.0}}));
    BOOST_TEST(x.grad().at({at / 2, at % 2}) == 1.0);
  }
}

// Amounts near 2⁶² overflowed pad's, unpad's and the pools' int64 arithmetic (undefined
// behaviour, caught by UBSan): now a ShapeError naming the op and the size.
BOOST_AUTO_TEST_CASE(amounts_near_two_to_the_62_are_a_shape_error_not_an_overflow) {
  const Tensor x = ones({3, 3});
  const std::int64_t huge = std::int64_t(1) << 62, most = std::numeric_limits<std::int64_t>::max();
  BOOST_CHECK_EXCEPTION(pad(x, Padding(huge, huge, 0, 0)), ShapeError,
                        says("pad: the padded height is past the int64 range (above 2^63 - 1)"));
  BOOST_CHECK_EXCEPTION(unpad(x, Padding(0, 0, most, most)), ShapeError,
                        says("unpad: the unpadded width is past the int64 range (below -2^63)"));
  // Padding at most half the kernel, yet the padded side 3 + 2 · (2^62 − 1) is past int64.
  BOOST_CHECK_EXCEPTION(max_pool2d(x, {most, 2}, {.padding = {most / 2, 0}}), ShapeError,
                        says("max_pool2d: the padded input's height is past the int64 range"));
  BOOST_CHECK_EXCEPTION(avg_pool2d(x, {most, 2}, {.padding = {most / 2, 0}}), ShapeError,
                        says("avg_pool2d: the padded input's height is past the int64 range"));
}
