#define BOOST_TEST_MODULE reduce_shape
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <functional>
#include <gradlab/gradlab.hpp>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;

namespace {

// x = [[1, 2, 3], [4, 5, 6]]
Tensor small(DType dtype = DType::float64) {
  return tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, dtype);
}

// y[i, j, k] = 12i + 4j + k, shape [2, 3, 4]: the numbers 0 … 23 in row-major order, so
// any element's value says where it came from.
Tensor counting() {
  std::vector<double> v(24);
  std::iota(v.begin(), v.end(), 0.0);
  return from_vector(v, {2, 3, 4});
}

}  // namespace

// ------------------------------------------------------------------------------ reductions

BOOST_AUTO_TEST_CASE(sum_and_mean_of_all_elements_are_0d) {
  check_values(sum(small()), "[]", {21});
  check_values(mean(small()), "[]", {3.5});
  check_values(sum(counting()), "[]", {276});  // 0 + 1 + … + 23 = 23·24/2
  check_values(mean(counting()), "[]", {11.5});
  check_values(sum(scalar(4.0)), "[]", {4});
}

BOOST_AUTO_TEST_CASE(sum_and_mean_along_an_axis) {
  const Tensor x = small();
  check_values(sum(x, 0), "[3]", {5, 7, 9});  // down the columns
  check_values(sum(x, 1), "[2]", {6, 15});    // along the rows
  check_values(mean(x, 0), "[3]", {2.5, 3.5, 4.5});
  check_values(mean(x, 1), "[2]", {2, 5});
  // keepdim leaves the reduced axis in place with size 1, so the result broadcasts
  // against x again (e.g. x − mean(x, 1, true) centres every row).
  check_values(sum(x, 0, true), "[1, 3]", {5, 7, 9});
  check_values(sum(x, 1, true), "[2, 1]", {6, 15});
  check_values(mean(x, 1, true), "[2, 1]", {2, 5});
  check_values(x - mean(x, 1, true), "[2, 3]", {-1, 0, 1, -1, 0, 1});
}

BOOST_AUTO_TEST_CASE(negative_axes_count_from_the_end) {
  check_values(sum(small(), -1), "[2]", {6, 15});
  check_values(sum(small(), -2), "[3]", {5, 7, 9});
  // Σⱼ (12i + 4j + k) over j = 0, 1, 2 is 36i + 12 + 3k.
  std::vector<double> over_j;
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 4; ++k) over_j.push_back(36 * i + 12 + 3 * k);
  check_values(sum(counting(), -2), "[2, 4]", over_j);
  check_values(sum(counting(), 1), "[2, 4]", over_j);
  // Σᵢ over i = 0, 1 is 12 + 8j + 2k.
  std::vector<double> over_i;
  for (int j = 0; j < 3; ++j)
    for (int k = 0; k < 4; ++k) over_i.push_back(12 + 8 * j + 2 * k);
  check_values(sum(counting(), -3), "[3, 4]", over_i);
  // The mean over k = 0 … 3 is 12i + 4j + 1.5.
  std::vector<double> mean_k;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) mean_k.push_back(12 * i + 4 * j + 1.5);
  check_values(mean(counting(), -1, true), "[2, 3, 1]", mean_k);
}

// Several axes at once, as torch's x.sum(dim=(0, 2)): counting() is 12i + 4j + k.
BOOST_AUTO_TEST_CASE(sum_and_mean_over_several_axes) {
  // Σ over i and k: Σᵢ Σₖ (12i + 4j + k) = 8·4j + 4·12 + 2·6 = 32j + 60.
  check_values(sum(counting(), {0, 2}), "[3]", {60, 92, 124});
  check_values(sum(counting(), {2, -3}, true), "[1, 3, 1]", {60, 92, 124});
  // The mean over j and k: 12i + 4 + 1.5.
  check_values(mean(counting(), {1, 2}), "[2]", {5.5, 17.5});
  check_values(mean(counting(), {-1, -2}, true), "[2, 1, 1]", {5.5, 17.5});
  // Every axis: the same as without any.
  check_values(sum(counting(), {0, 1, 2}), "[]", {sum(counting()).item()});
  check_values(mean(small(DType::float32), {0, 1}), "[]", {3.5}, 1e-6);
  BOOST_TEST(sum(small(DType::float32), {0}).dtype() == DType::float32);
  // Over an empty axis: 0 for the sum, NaN for the mean (0/0).
  check_values(sum(zeros({2, 0, 3}), {1, 2}), "[2]", {0, 0});
  BOOST_TEST(std::isnan(mean(zeros({2, 0, 3}), {1, 2}).at({0})));
  check_values(sum(zeros({2, 0, 3}), {0, 2}), "[0]", {});
}

BOOST_AUTO_TEST_CASE(sum_to_adds_up_the_broadcast_axes) {
  // The reverse of broadcasting: if [3] was stretched to [2, 3], its gradient is the sum
  // over the rows it was copied into.
  const Tensor g = small();
  check_values(sum_to(g, {3}), "[3]", {5, 7, 9});
  check_values(sum_to(g, {1, 3}), "[1, 3]", {5, 7, 9});
  check_values(sum_to(g, {2, 1}), "[2, 1]", {6, 15});
  check_values(sum_to(g, {}), "[]", {21});
  check_values(sum_to(g, {1, 1}), "[1, 1]", {21});
  // [2, 2, 3] down to its last two axes: the two [2, 3] blocks added.
  const Tensor blocks = from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 2, 3});
  check_values(sum_to(blocks, {2, 3}), "[2, 3]", {8, 10, 12, 14, 16, 18});
  check_values(sum_to(blocks, {1, 2, 1}), "[1, 2, 1]", {6 + 24, 15 + 33});
  // Nothing was broadcast: the same tensor comes back, not a copy.
  BOOST_TEST(sum_to(g, {2, 3}).impl() == g.impl());
}

BOOST_AUTO_TEST_CASE(float32_reductions) {
  const Tensor x = small(DType::float32);
  BOOST_TEST(sum(x).dtype() == DType::float32);
  BOOST_TEST(mean(x, 0).dtype() == DType::float32);
  check_values(sum(x), "[]", {21}, 1e-6);
  check_values(mean(x, 0), "[3]", {2.5, 3.5, 4.5}, 1e-6);
  check_values(mean(x, -1, true), "[2, 1]", {2, 5}, 1e-6);
  check_values(sum_to(x, {3}), "[3]", {5, 7, 9}, 1e-6);
}

// ----------------------------------------------------------------------------- shape ops

BOOST_AUTO_TEST_CASE(reshape_keeps_the_row_major_order) {
  const Tensor x = small();
  check_values(reshape(x, {3, 2}), "[3, 2]", {1, 2, 3, 4, 5, 6});
  check_values(reshape(x, {6}), "[6]", {1, 2, 3, 4, 5, 6});
  // One axis may be −1: it becomes whatever makes the element count come out right.
  check_values(reshape(x, {-1}), "[6]", {1, 2, 3, 4, 5, 6});
  check_values(reshape(x, {3, -1}), "[3, 2]", {1, 2, 3, 4, 5, 6});
  check_values(reshape(x, {-1, 1, 2}), "[3, 1, 2]", {1, 2, 3, 4, 5, 6});
  check_values(reshape(tensor({5.0}), {}), "[]", {5});
  check_values(reshape(scalar(5.0), {1, 1}), "[1, 1]", {5});
}

BOOST_AUTO_TEST_CASE(expand_repeats_along_size_one_and_new_axes) {
  check_values(expand(tensor({{1.0}, {2.0}}), {2, 3}), "[2, 3]", {1, 1, 1, 2, 2, 2});
  check_values(expand(tensor({1.0, 2.0, 3.0}), {2, 3}), "[2, 3]", {1, 2, 3, 1, 2, 3});
  check_values(expand(scalar(7.0), {2, 2}), "[2, 2]", {7, 7, 7, 7});
  check_values(expand(tensor({{1.0, 2.0}}), {2, 1, 2}), "[2, 1, 2]", {1, 2, 1, 2});
  // -1 keeps that axis's size, as torch.Tensor.expand(-1, 3); only on an axis x has.
  check_values(expand(tensor({{1.0}, {2.0}}), {-1, 3}), "[2, 3]", {1, 1, 1, 2, 2, 2});
  check_values(expand(tensor({{1.0, 2.0}}), {2, 2, -1}), "[2, 2, 2]", {1, 2, 1, 2, 1, 2, 1, 2});
  check_values(expand(tensor({{1.0, 2.0}}), {-1, -1}), "[1, 2]", {1, 2});
  check_values(expand(ones({0, 1}), {-1, 3}), "[0, 3]", {});
}

BOOST_AUTO_TEST_CASE(transpose_of_a_matrix) {
  // (xᵀ)ᵢⱼ = xⱼᵢ
  check_values(transpose(small()), "[3, 2]", {1, 4, 2, 5, 3, 6});
  check_values(transpose(small(), 0, 1), "[3, 2]", {1, 4, 2, 5, 3, 6});
  check_values(transpose(small(), -1, -2), "[3, 2]", {1, 4, 2, 5, 3, 6});
  check_values(transpose(tensor({{1.0, 2.0, 3.0}})), "[3, 1]", {1, 2, 3});
}

BOOST_AUTO_TEST_CASE(transpose_of_a_3d_tensor) {
  // transpose(y) swaps the last two axes of every matrix in the batch:
  //   out[i, k, j] = y[i, j, k] = 12i + 4j + k
  std::vector<double> last_two;
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 4; ++k)
      for (int j = 0; j < 3; ++j) last_two.push_back(12 * i + 4 * j + k);
  check_values(transpose(counting()), "[2, 4, 3]", last_two);
  // Explicit axes: transpose(y, 0, 2) gives out[k, j, i] = y[i, j, k].
  std::vector<double> outer_two;
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 2; ++i) outer_two.push_back(12 * i + 4 * j + k);
  check_values(transpose(counting(), 0, 2), "[4, 3, 2]", outer_two);
  check_values(transpose(counting(), -1, 0), "[4, 3, 2]", outer_two);
  // out[j, i, k] = y[i, j, k]
  std::vector<double> first_two;
  for (int j = 0; j < 3; ++j)
    for (int i = 0; i < 2; ++i)
      for (int k = 0; k < 4; ++k) first_two.push_back(12 * i + 4 * j + k);
  check_values(transpose(counting(), 1, 0), "[3, 2, 4]", first_two);
}

BOOST_AUTO_TEST_CASE(to_converts_the_dtype) {
  const Tensor x = tensor({0.1, -2.5, 3.0});
  const Tensor x32 = to(x, DType::float32);
  BOOST_TEST(x32.dtype() == DType::float32);
  // 0.1 has no exact binary form; float32 keeps fewer of its digits than float64.
  BOOST_TEST(x32.at({0}) == static_cast<double>(0.1f));
  BOOST_TEST(x32.at({0}) != 0.1);
  check_values(x32, "[3]", {0.1, -2.5, 3}, 1e-7);
  const Tensor back = to(x32, DType::float64);
  BOOST_TEST(back.dtype() == DType::float64);
  check_values(back, "[3]", {static_cast<double>(0.1f), -2.5, 3}, 0);
  // Already float64: no copy, but a new tensor over the same numbers.
  const Tensor same = to(x, DType::float64);
  BOOST_TEST(same.impl() != x.impl());
  BOOST_TEST(same.data<double>() == x.data<double>());
}

BOOST_AUTO_TEST_CASE(float32_shape_ops) {
  const Tensor x = small(DType::float32);
  for (const Tensor& r : {reshape(x, {3, -1}), expand(reshape(x, {2, 1, 3}), {2, 2, 3}),
                          transpose(x), transpose(x, 0, 1)})
    BOOST_TEST(r.dtype() == DType::float32);
  check_values(reshape(x, {3, -1}), "[3, 2]", {1, 2, 3, 4, 5, 6}, 1e-6);
  check_values(transpose(x), "[3, 2]", {1, 4, 2, 5, 3, 6}, 1e-6);
  check_values(expand(tensor({{1.0}, {2.0}}, DType::float32), {2, 2}), "[2, 2]", {1, 1, 2, 2},
               1e-6);
}

// ------------------------------------------------------------------- gradients by hand

BOOST_AUTO_TEST_CASE(reduction_gradients_by_hand) {
  // mean(x) = Σx / n, so every element gets 1/n.
  Tensor x = small().set_requires_grad();
  mean(x).backward();
  check_values(x.grad(), "[2, 3]", {1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6, 1.0 / 6});

  // y = sum(x, 1), with upstream gradient w: every element of row i gets wᵢ.
  x.zero_grad();
  sum(x, 1).backward(tensor({1.0, 10.0}));
  check_values(x.grad(), "[2, 3]", {1, 1, 1, 10, 10, 10});

  // y = mean(x, 0, keepdim), upstream w: every element of column j gets wⱼ / 2.
  x.zero_grad();
  mean(x, 0, true).backward(tensor({{1.0, 2.0, 3.0}}));
  check_values(x.grad(), "[2, 3]", {0.5, 1, 1.5, 0.5, 1, 1.5});

  // sum_to(x, [3]) with upstream w: every row gets w (the copy broadcasting would make).
  x.zero_grad();
  sum_to(x, {3}).backward(tensor({1.0, 2.0, 3.0}));
  check_values(x.grad(), "[2, 3]", {1, 2, 3, 1, 2, 3});
}

BOOST_AUTO_TEST_CASE(shape_op_gradients_by_hand) {
  const Tensor M = small();  // weights [[1, 2, 3], [4, 5, 6]]
  // L = Σ expand(x, [2, 3]) ∘ M with x [2, 1]: xᵢ was copied into row i, so ∂L/∂xᵢ = Σⱼ Mᵢⱼ.
  Tensor x = tensor({{1.0}, {2.0}}).set_requires_grad();
  sum(expand(x, {2, 3}) * M).backward();
  check_values(x.grad(), "[2, 1]", {6, 15});

  // L = Σ transpose(t) ∘ N with N [3, 2]: ∂L/∂t = Nᵀ.
  Tensor t = zeros({2, 3}).set_requires_grad();
  sum(transpose(t) * tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}})).backward();
  check_values(t.grad(), "[2, 3]", {1, 3, 5, 2, 4, 6});

  // L = Σ reshape(r, [3, 2]) ∘ N: the gradient is N laid back out as [2, 3].
  Tensor r = zeros({2, 3}).set_requires_grad();
  sum(reshape(r, {3, -1}) * tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}})).backward();
  check_values(r.grad(), "[2, 3]", {1, 2, 3, 4, 5, 6});

  // to(): the gradient comes back converted to the input's dtype. L = Σ y², y = float32(x).
  Tensor x64 = tensor({0.5, -1.5, 2.0}).set_requires_grad();
  const Tensor y = to(x64, DType::float32);
  sum(y * y).backward();
  BOOST_TEST(x64.grad().dtype() == DType::float64);
  check_values(x64.grad(), "[3]", {1, -3, 4});  // 2x, exact in float32
}

// ----------------------------------------------------------------------------- gradcheck

BOOST_AUTO_TEST_CASE(gradcheck_sum_and_mean) {
  Generator gen(1);
  const Tensor x = randn({2, 3, 4}, gen).name("x");
  struct Case {
    const char* name;
    Function f;
  };
  const std::vector<Case> cases = {
      {"sum", [](const std::vector<Tensor>& in) { return sum(in[0]); }},
      {"mean", [](const std::vector<Tensor>& in) { return mean(in[0]); }},
      {"sum axis 0", [](const std::vector<Tensor>& in) { return sum(in[0], 0); }},
      {"sum axis 1 keepdim", [](const std::vector<Tensor>& in) { return sum(in[0], 1, true); }},
      {"sum axis -1", [](const std::vector<Tensor>& in) { return sum(in[0], -1); }},
      {"mean axis 2", [](const std::vector<Tensor>& in) { return mean(in[0], 2); }},
      {"mean axis -2 keepdim", [](const std::vector<Tensor>& in) { return mean(in[0], -2, true); }},
      // Squaring first makes the second derivative non-zero.
      {"sum of squares axis 1",
       [](const std::vector<Tensor>& in) { return sum(in[0] * in[0], 1); }},
      {"mean of squares", [](const std::vector<Tensor>& in) { return mean(in[0] * in[0]); }},
      {"sum of squares axes 0, 2",
       [](const std::vector<Tensor>& in) { return sum(in[0] * in[0], {0, 2}); }},
      {"mean of squares axes -1, 0 keepdim",
       [](const std::vector<Tensor>& in) { return mean(in[0] * in[0], {-1, 0}, true); }},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name) { check_first_and_second_derivatives(c.f, {x}); }
  }
}

BOOST_AUTO_TEST_CASE(gradcheck_sum_to) {
  Generator gen(2);
  const Tensor x = randn({2, 3, 4}, gen).name("x");
  for (const Shape& target : std::vector<Shape>{{4}, {3, 1}, {1, 4}, {}, {2, 1, 4}, {1, 3, 1}}) {
    BOOST_TEST_CONTEXT("sum_to " << to_string(target)) {
      check_first_and_second_derivatives(
          [target](const std::vector<Tensor>& in) { return sum_to(in[0] * in[0], target); }, {x});
    }
  }
}

BOOST_AUTO_TEST_CASE(gradcheck_reshape_expand_transpose) {
  Generator gen(3);
  const Tensor x = randn({2, 3, 4}, gen).name("x");
  struct Case {
    const char* name;
    Function f;
    Tensor x;
  };
  // Each op is followed by a product with itself so that the second derivative is not 0.
  const auto squared = [](Tensor (*op)(const Tensor&)) {
    return [op](const std::vector<Tensor>& in) {
      const Tensor y = op(in[0]);
      return y * y;
    };
  };
  const std::vector<Case> cases = {
      {"reshape [4, -1]",
       [](const std::vector<Tensor>& in) {
         return reshape(in[0], {4, -1});
       },
       x},
      {"reshape [-1] squared", squared([](const Tensor& t) { return reshape(t, {-1}); }), x},
      {"expand [3, 1] to [2, 3, 4]", squared([](const Tensor& t) {
         return expand(t, {2, 3, 4});
       }),
       randn({3, 1}, gen)},
      {"expand [3, 1] to [2, -1, 4]", squared([](const Tensor& t) {
         return expand(t, {2, -1, 4});
       }),
       randn({3, 1}, gen)},
      {"expand [] to [2, 3]", squared([](const Tensor& t) {
         return expand(t, {2, 3});
       }),
       randn({}, gen)},
      {"transpose()", squared([](const Tensor& t) { return transpose(t); }), x},
      {"transpose(0, 2)", squared([](const Tensor& t) { return transpose(t, 0, 2); }), x},
      {"transpose(-1, -3)", squared([](const Tensor& t) { return transpose(t, -1, -3); }), x},
      {"transpose of a matrix", squared([](const Tensor& t) { return transpose(t); }),
       randn({3, 2}, gen)},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name) { check_first_and_second_derivatives(c.f, {c.x}); }
  }
}

// ---------------------------------------------------------------------------- bad input

BOOST_AUTO_TEST_CASE(an_axis_out_of_range_throws_value_error) {
  const Tensor x = small();
  BOOST_CHECK_EXCEPTION(sum(x, 2), ValueError,
                        says("sum: axis 2 is out of range for a tensor of rank 2"));
  BOOST_CHECK_EXCEPTION(sum(x, -3, true), ValueError,
                        says("sum: axis -3 is out of range for a tensor of rank 2"));
  BOOST_CHECK_EXCEPTION(mean(x, 5), ValueError,
                        says("mean: axis 5 is out of range for a tensor of rank 2"));
  BOOST_CHECK_EXCEPTION(sum(scalar(1.0), 0), ValueError,
                        says("sum: axis 0 is out of range for a tensor of rank 0"));
  BOOST_CHECK_EXCEPTION(sum(x, {0, 2}), ValueError,
                        says("sum: axis 2 is out of range for a tensor of rank 2"));
  // An axis twice (also as a negative number) is an error, as in torch; so is no axis at all.
  BOOST_CHECK_EXCEPTION(sum(x, {1, 1}), ValueError,
                        says("sum: axis 1 appears twice in [1, 1] for shape [2, 3]"));
  BOOST_CHECK_EXCEPTION(mean(x, {0, -2}, true), ValueError,
                        says("mean: axis 0 appears twice in [0, -2] for shape [2, 3]"));
  BOOST_CHECK_EXCEPTION(sum(x, std::vector<std::int64_t>{}), ValueError,
                        says("sum: the list of axes is empty; leave the axes out to reduce all"));
  BOOST_CHECK_EXCEPTION(transpose(x, 0, 2), ValueError,
                        says("transpose: axis 2 is out of range for a tensor of rank 2"));
  BOOST_CHECK_EXCEPTION(transpose(counting(), -4, 0), ValueError,
                        says("transpose: axis -4 is out of range for a tensor of rank 3"));
}

BOOST_AUTO_TEST_CASE(transpose_needs_two_axes) {
  BOOST_CHECK_EXCEPTION(transpose(ones({3})), ShapeError,
                        says("transpose: needs at least 2 dimensions to swap the last two, "
                             "got shape [3]"));
}

BOOST_AUTO_TEST_CASE(reshape_must_keep_the_element_count) {
  const Tensor x = small();
  BOOST_CHECK_EXCEPTION(reshape(x, {4, 2}), ShapeError,
                        says("reshape: cannot view [2, 3] (6 elements) as [4, 2]"));
  BOOST_CHECK_EXCEPTION(reshape(x, {-1, -1}), ShapeError,
                        says("reshape: cannot view [2, 3] (6 elements) as [-1, -1]"));
  BOOST_CHECK_EXCEPTION(reshape(x, {2, -2}), ShapeError,
                        says("reshape: cannot view [2, 3] (6 elements) as [2, -2]"));
  // 6 elements cannot fill rows of 4: the message must show the shape that was asked for.
  BOOST_CHECK_EXCEPTION(reshape(x, {-1, 4}), ShapeError,
                        says("reshape: cannot view [2, 3] (6 elements) as [-1, 4]"));
  // More elements than an int64 counts (found by the fuzzer): an error, not an overflow.
  BOOST_CHECK_EXCEPTION(reshape(x, {2, 600000000000000, 3000000000000}), ShapeError,
                        says("as [2, 600000000000000, 3000000000000]"));
  BOOST_CHECK_EXCEPTION(reshape(x, {-1, 3000000000000, 3000000000000}), ShapeError,
                        says("as [-1, 3000000000000, 3000000000000]"));
  BOOST_TEST(numel({3000000000000, 3000000000000, 0}) == 0);
}

BOOST_AUTO_TEST_CASE(expand_and_sum_to_need_broadcastable_shapes) {
  BOOST_CHECK_EXCEPTION(expand(ones({2}), {3}), ShapeError,
                        says("expand: shapes cannot be broadcast together: [2] and [3]"));
  BOOST_CHECK_EXCEPTION(expand(ones({2, 3}), {3}), ShapeError,
                        says("expand: cannot broadcast [2, 3] to [3]"));
  BOOST_CHECK_EXCEPTION(expand(ones({2, 3}), {-1}), ShapeError,
                        says("expand: cannot broadcast [2, 3] to [-1]"));
  BOOST_CHECK_EXCEPTION(expand(ones({2}), {-1, 2}), ShapeError,
                        says("expand: -1 (keep the size) at axis 0 of [-1, 2] is a new axis of "
                             "[2], which has no size to keep"));
  BOOST_CHECK_EXCEPTION(expand(ones({1}), {-2}), ShapeError,
                        says("expand: sizes must be ≥ 0 or -1 (keep the size), got [-2]"));
  BOOST_CHECK_EXCEPTION(expand(ones({2, 1}), {-1, -1, 3}), ShapeError, says("at axis 0"));
  BOOST_CHECK_EXCEPTION(sum_to(ones({2, 3}), {4}), ShapeError,
                        says("sum_to: shapes cannot be broadcast together: [4] and [2, 3]"));
  BOOST_CHECK_EXCEPTION(sum_to(ones({3}), {2, 3}), ShapeError,
                        says("sum_to: cannot sum [3] down to [2, 3]"));
}

// A reshape to the same shape, an expand to it or a to() to the same dtype still returns a
// new tensor (a view of the same numbers): naming it leaves the input's name alone, and
// the gradient with respect to it is its own. For h = op(x), L = Σ h ∘ x: ∂L/∂h = x (it
// was 2x, x's own gradient, when h was x's handle).
BOOST_AUTO_TEST_CASE(ops_that_change_nothing_still_return_a_new_tensor) {
  const Tensor x = tensor({1.5, -2.0}).set_requires_grad().name("x");
  const std::vector<std::function<Tensor(const Tensor&)>> no_ops = {
      [](const Tensor& t) { return reshape(t, {2}); },
      [](const Tensor& t) { return expand(t, {2}); },
      [](const Tensor& t) { return to(t, DType::float64); }};
  const std::vector<std::string> names = {"reshape", "expand", "to"};
  for (std::size_t k = 0; k < no_ops.size(); ++k) {
    BOOST_TEST_CONTEXT(names[k]) {
      Tensor h = no_ops[k](x);
      h.name("h");
      BOOST_TEST(x.name() == "x");
      BOOST_TEST(h.impl() != x.impl());
      BOOST_TEST(std::as_const(h).data<double>() == x.data<double>());  // a view: the same numbers
      BOOST_TEST(h.node()->op->name == names[k]);
      const std::vector<Tensor> g = grad({sum(h * x)}, {h, x});
      check_values(g[0], "[2]", {1.5, -2.0});
      check_values(g[1], "[2]", {3.0, -4.0});
    }
  }
  const Tensor w = tensor({{1.0, 2.0}}).set_requires_grad().name("W");
  reshape(w, w.shape()).name("flat");
  BOOST_TEST(w.name() == "W");
}
