// Masks: the comparisons, where, sign, maximum, minimum, clamp. Values by hand (and checked
// against PyTorch 1.13 float64 where it matters: ties, NaN, clamp's bounds), first and
// second derivatives against finite differences away from the kinks, broadcasting,
// float32, empty tensors and bad input.
#define BOOST_TEST_MODULE compare
#include <cmath>
#include <limits>

#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;

namespace {

const double not_a_number = std::numeric_limits<double>::quiet_NaN();

const Tensor a = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
const Tensor b = tensor({3.0, 2.0, 1.0});  // broadcast along a's rows

}  // namespace

BOOST_AUTO_TEST_CASE(comparisons_are_0_1_tensors_that_broadcast) {
  check_values(a > b, "[2, 3]", {0, 0, 1, 1, 1, 1});
  check_values(a < b, "[2, 3]", {1, 0, 0, 0, 0, 0});
  check_values(a >= b, "[2, 3]", {0, 1, 1, 1, 1, 1});
  check_values(a <= b, "[2, 3]", {1, 1, 0, 0, 0, 0});
  check_values(a == b, "[2, 3]", {0, 1, 0, 0, 0, 0});
  check_values(a != b, "[2, 3]", {1, 0, 1, 1, 1, 1});
  // The named functions are the same ops.
  check_values(greater(a, b), "[2, 3]", {0, 0, 1, 1, 1, 1});
  check_values(not_equal(b, a), "[2, 3]", {1, 0, 1, 1, 1, 1});
  // A plain number on either side: x > 0, 3 <= x.
  check_values(a > 3, "[2, 3]", {0, 0, 0, 1, 1, 1});
  check_values(3 <= a, "[2, 3]", {0, 0, 1, 1, 1, 1});
  check_values(a == 2.0, "[2, 3]", {0, 1, 0, 0, 0, 0});
  check_values(5 != a, "[2, 3]", {1, 1, 1, 1, 0, 1});
  // [2, 1] against [3]: both stretch.
  check_values(tensor({{1.0}, {2.0}}) < tensor({0.0, 1.5, 3.0}), "[2, 3]", {0, 1, 1, 0, 0, 1});
  // NaN is unequal to everything, itself too (as in IEEE and torch).
  check_values(tensor({not_a_number, 1.0}) == tensor({not_a_number, 1.0}), "[2]", {0, 1});
  check_values(tensor({not_a_number, 1.0}) != tensor({not_a_number, 1.0}), "[2]", {1, 0});
  check_values(tensor({not_a_number}) > 0, "[1]", {0});
}

BOOST_AUTO_TEST_CASE(comparisons_carry_no_gradient) {
  Tensor x = tensor({-1.0, 2.0}).set_requires_grad();
  const Tensor m = x > 0;
  BOOST_TEST(!m.requires_grad());
  BOOST_TEST(m.node() == nullptr);
  // relu written with a mask: the mask is a constant, so ∂/∂x Σ x ∘ [x > 0] = [x > 0].
  check_values(grad({sum(x * (x > 0))}, {x})[0], "[2]", {0, 1});
}

BOOST_AUTO_TEST_CASE(comparisons_in_float32_on_empty_tensors_and_bad_shapes) {
  const Tensor f = tensor({1.0, -2.0}, DType::float32);
  const Tensor m = f > 0;
  BOOST_TEST(m.dtype() == DType::float32);
  check_values(m, "[2]", {1, 0});
  check_values(zeros({0, 3}) < ones({3}), "[0, 3]", {});
  BOOST_CHECK_EXCEPTION(ones({2, 3}) > ones({2}), ShapeError, says("greater"));
  BOOST_CHECK_EXCEPTION(ones({2, 3}) > ones({2}), ShapeError, says("[2, 3]"));
  check_values(tensor({1.0, 2.0}) > tensor({1.5, 1.5}, DType::float32), "[2]", {0, 1});
}

BOOST_AUTO_TEST_CASE(where_picks_and_sends_the_gradient_to_the_side_picked) {
  const Tensor c = tensor({1.0, 0.0, 2.0});  // any non-zero is true
  check_values(where(c, tensor({1.0, 2.0, 3.0}), tensor({10.0, 20.0, 30.0})), "[3]", {1, 20, 3});
  // Broadcast: a [2, 1] condition, a [3] row, a number.
  check_values(where(tensor({{1.0}, {0.0}}), tensor({1.0, 2.0, 3.0}), scalar(-1)), "[2, 3]",
               {1, 2, 3, -1, -1, -1});
  // It picks, so a NaN or ∞ on the other side does not leak (a mask product would: 0·∞).
  check_values(where(tensor({1.0, 0.0}), tensor({5.0, INFINITY}), tensor({not_a_number, 7.0})), "[2]", {5, 7});
  Tensor x = tensor({1.0, 2.0, 3.0}).set_requires_grad(), y = scalar(4).set_requires_grad();
  const std::vector<Tensor> g = grad({sum(where(c, x, y))}, {x, y});
  check_values(g[0], "[3]", {1, 0, 1});
  check_values(g[1], "[]", {1});  // summed back over the broadcast
  // Empty, float32.
  check_values(where(zeros({0}), zeros({0}), zeros({0})), "[0]", {});
  check_values(where(tensor({0.0}, DType::float32), tensor({1.0}, DType::float32),
                     tensor({2.0}, DType::float32)),
               "[1]", {2});
}

BOOST_AUTO_TEST_CASE(where_derivatives_match_finite_differences) {
  Generator gen(3);
  const Tensor c = rand({3, 4}, gen) > 0.5;
  check_first_and_second_derivatives(
      [c](const std::vector<Tensor>& p) { return where(c, p[0] * p[0], exp(p[1])); },
      {randn({3, 4}, gen), randn({4}, gen)});
}

BOOST_AUTO_TEST_CASE(where_refuses_shapes_that_do_not_broadcast) {
  BOOST_CHECK_EXCEPTION(where(ones({2}), ones({3}), ones({3})), ShapeError,
                        says("where: the condition [2], a [3] and b [3] do not broadcast"));
  // float32 with float64 is promoted, as in torch.
  const Tensor mixed = where(tensor({1.0, 0.0}), tensor({1.5, 2.5}), tensor({0.1, 0.2}, DType::float32));
  BOOST_TEST(mixed.dtype() == DType::float64);
  check_values(mixed, "[2]", {1.5, static_cast<double>(0.2f)});
}

BOOST_AUTO_TEST_CASE(sign_is_flat) {
  check_values(sign(tensor({-2.0, 0.0, 3.0, not_a_number})), "[4]", {-1, 0, 1, 0});  // torch: sign(NaN) = 0
  Tensor x = tensor({-2.0, 3.0}).set_requires_grad();
  check_values(grad({sum(sign(x))}, {x})[0], "[2]", {0, 0});
  check_values(sign(tensor({-0.5}, DType::float32)), "[1]", {-1});
  check_values(sign(zeros({0})), "[0]", {});
  check_first_and_second_derivatives([](const std::vector<Tensor>& p) { return sign(p[0]) * p[0]; },
                                     {tensor({-1.5, 0.7, 2.0})});
}

BOOST_AUTO_TEST_CASE(maximum_and_minimum_share_a_tie_and_propagate_nan) {
  const Tensor x = tensor({1.0, 2.0, 2.0}), y = tensor({2.0, 2.0, 1.0});
  check_values(maximum(x, y), "[3]", {2, 2, 2});
  check_values(minimum(x, y), "[3]", {1, 2, 1});
  // Gradients, as torch: all to the side picked, half each at a tie.
  Tensor p = x.clone().set_requires_grad(), q = y.clone().set_requires_grad();
  std::vector<Tensor> g = grad({sum(maximum(p, q))}, {p, q});
  check_values(g[0], "[3]", {0, 0.5, 1});
  check_values(g[1], "[3]", {1, 0.5, 0});
  g = grad({sum(minimum(p, q))}, {p, q});
  check_values(g[0], "[3]", {1, 0.5, 0});
  check_values(g[1], "[3]", {0, 0.5, 1});
  // NaN on either side gives NaN (std::max would not, on one side).
  const std::vector<double> m = maximum(tensor({not_a_number, 1.0}), tensor({1.0, not_a_number})).values();
  BOOST_TEST((std::isnan(m[0]) && std::isnan(m[1])));
  const std::vector<double> n = minimum(tensor({not_a_number, 1.0}), tensor({1.0, not_a_number})).values();
  BOOST_TEST((std::isnan(n[0]) && std::isnan(n[1])));
  // Broadcasting: the [3] row against a [2, 1] column, a relu as maximum(x, 0).
  check_values(maximum(tensor({{0.0}, {5.0}}), tensor({-1.0, 1.0, 6.0})), "[2, 3]", {0, 1, 6, 5, 5, 6});
  check_values(maximum(tensor({-1.0, 3.0}), scalar(0)), "[2]", {0, 3});
  check_values(minimum(tensor({1.5}, DType::float32), tensor({0.5}, DType::float32)), "[1]", {0.5});
  check_values(maximum(zeros({0, 2}), zeros({2})), "[0, 2]", {});
  BOOST_CHECK_EXCEPTION(maximum(ones({2}), ones({3})), ShapeError, says("maximum"));
  BOOST_CHECK_EXCEPTION(minimum(ones({2}), ones({3})), ShapeError, says("[3]"));
}

BOOST_AUTO_TEST_CASE(maximum_and_minimum_derivatives_match_finite_differences) {
  // a − b is at least 0.5 in size everywhere: no ties within the steps.
  const Tensor a = tensor({{1.0, -2.0, 0.5}, {3.0, 0.0, -1.0}});
  const Tensor b = tensor({0.2, -1.0, 2.0});
  const auto f = [](const std::vector<Tensor>& p) { return maximum(p[0], p[1]) * p[0]; };
  const auto g = [](const std::vector<Tensor>& p) { return minimum(p[0], p[1]) * p[1]; };
  check_first_and_second_derivatives(f, {a, b});
  check_first_and_second_derivatives(g, {a, b});
}

BOOST_AUTO_TEST_CASE(clamp_limits_either_bound_or_both) {
  const Tensor x = tensor({-2.0, 0.0, 0.5, 1.0, 3.0, not_a_number});
  const std::vector<double> both = clamp(x, {.min = 0, .max = 1}).values();
  const std::vector<double> want = {0, 0, 0.5, 1, 1};
  for (std::size_t i = 0; i < want.size(); ++i) BOOST_TEST(both[i] == want[i]);
  BOOST_TEST(std::isnan(both[5]));  // NaN stays NaN, as torch
  check_values(clamp(tensor({-2.0, 3.0}), {.min = 0}), "[2]", {0, 3});
  check_values(clamp(tensor({-2.0, 3.0}), {.max = 1}), "[2]", {-2, 1});
  check_values(clamp(tensor({0.5, 5.0}), {.min = 2, .max = 1}), "[2]", {1, 1});  // min > max: max
  check_values(clamp(tensor({0.25}, DType::float32), {.min = 0.5}), "[1]", {0.5});
  check_values(clamp(zeros({0}), {.min = 0}), "[0]", {});
  // The gradient passes inside the bounds, bounds included (as torch).
  Tensor p = tensor({-1.0, 0.0, 0.5, 1.0, 2.0}).set_requires_grad();
  check_values(grad({sum(clamp(p, {.min = 0, .max = 1}))}, {p})[0], "[5]", {0, 1, 1, 1, 0});
  BOOST_CHECK_EXCEPTION(clamp(p, {}), ValueError, says("clamp: give min, max or both"));
}

BOOST_AUTO_TEST_CASE(clamp_derivatives_match_finite_differences) {
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return clamp(p[0] * p[0], {.min = 0.5, .max = 3}); },
      {tensor({{-2.0, 0.1, 1.0}, {1.2, -0.3, 1.5}})});
}
