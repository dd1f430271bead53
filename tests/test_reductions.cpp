// Reductions: max, min (torch.amax / amin: ties share the gradient), argmax, logsumexp, var,
// std, norm, sqrt. Values by hand (and checked against PyTorch 1.13 float64 by
// tests/torch_reference/issue18_reductions_layers.py), first and second derivatives against
// finite differences away from ties, float32, empty tensors and bad input.
#define BOOST_TEST_MODULE reductions
#include <cmath>
#include <limits>

#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;

namespace {

const double not_a_number = std::numeric_limits<double>::quiet_NaN();
const Tensor a = tensor({{1.0, 5.0, 3.0}, {4.0, 2.0, 6.0}});

}  // namespace

BOOST_AUTO_TEST_CASE(max_and_min_by_hand) {
  check_values(max(a), "[]", {6});
  check_values(min(a), "[]", {1});
  check_values(max(a, 1), "[2]", {5, 6});
  check_values(max(a, 0), "[3]", {4, 5, 6});
  check_values(min(a, -1, true), "[2, 1]", {1, 2});
  check_values(max(scalar(2.5)), "[]", {2.5});
  check_values(max(tensor({1.5, -2.0}, DType::float32)), "[]", {1.5});
  BOOST_TEST(max(tensor({1.5}, DType::float32)).dtype() == DType::float32);
  // A NaN anywhere in a slice makes it NaN, as torch.
  BOOST_TEST(std::isnan(max(tensor({1.0, not_a_number, 3.0})).item()));
  BOOST_TEST(std::isnan(min(tensor({not_a_number, 1.0})).item()));
  const std::vector<double> rows = max(tensor({{1.0, not_a_number}, {2.0, 3.0}}), 1).values();
  BOOST_TEST((std::isnan(rows[0]) && rows[1] == 3));
  // Empty: an axis of size 0 left over is fine; a slice with nothing in it is not.
  check_values(max(zeros({0, 3}), 1), "[0]", {});
  BOOST_CHECK_EXCEPTION(max(zeros({0})), ValueError, says("max: [0] is empty: it has no largest element"));
  BOOST_CHECK_EXCEPTION(min(zeros({0, 3}), 0), ValueError, says("min: [0, 3] has an empty slice along axis 0: it has no smallest element"));
  BOOST_CHECK_EXCEPTION(max(a, 2), ValueError, says("max"));
}

BOOST_AUTO_TEST_CASE(max_and_min_share_the_gradient_at_a_tie) {
  Tensor t = tensor({{1.0, 3.0, 3.0}, {2.0, 2.0, -1.0}}).set_requires_grad();
  check_values(grad({sum(max(t, 1))}, {t})[0], "[2, 3]", {0, 0.5, 0.5, 0.5, 0.5, 0});
  check_values(grad({max(t)}, {t})[0], "[2, 3]", {0, 0.5, 0.5, 0, 0, 0});
  check_values(grad({sum(min(t, 0))}, {t})[0], "[2, 3]", {1, 0, 0, 0, 1, 1});
  check_values(grad({min(t)}, {t})[0], "[2, 3]", {0, 0, 0, 0, 0, 1});
  check_values(grad({sum(max(t, 0, true) * tensor({{1.0, 2.0, 3.0}}))}, {t})[0], "[2, 3]",
               {0, 2, 3, 1, 0, 0});
}

BOOST_AUTO_TEST_CASE(max_and_min_derivatives_match_finite_differences) {
  Generator gen(5);
  // randn has no ties; the finite-difference steps are far smaller than the gaps.
  const Tensor x = randn({3, 4}, gen);
  check_first_and_second_derivatives([](const std::vector<Tensor>& p) { return max(p[0]) * p[0]; }, {x});
  check_first_and_second_derivatives([](const std::vector<Tensor>& p) { return max(p[0], 1) * max(p[0], 1); }, {x});
  check_first_and_second_derivatives([](const std::vector<Tensor>& p) { return min(p[0], 0, true) * p[0]; }, {x});
  check_first_and_second_derivatives([](const std::vector<Tensor>& p) { return min(p[0]) * min(p[0]); }, {x});
}

BOOST_AUTO_TEST_CASE(argmax_is_an_index_without_gradient) {
  check_values(argmax(a), "[]", {5});
  check_values(argmax(a, 1), "[2]", {1, 2});
  check_values(argmax(a, 0, true), "[1, 3]", {1, 0, 1});
  check_values(argmax(tensor({3.0, 1.0, 3.0})), "[]", {0});              // the first at a tie
  check_values(argmax(tensor({1.0, not_a_number, 5.0})), "[]", {1});    // NaN is the largest, as torch
  check_values(argmax(zeros({0, 2}), 1), "[0]", {});
  BOOST_TEST(argmax(tensor({1.0, 2.0}, DType::float32)).dtype() == DType::float32);
  Tensor x = tensor({1.0, 2.0}).set_requires_grad();
  BOOST_TEST(!argmax(x).requires_grad());
  BOOST_CHECK_EXCEPTION(argmax(zeros({2, 0}), 1), ValueError, says("argmax: [2, 0] has an empty slice along axis 1"));
  BOOST_CHECK_EXCEPTION(argmax(a, -3), ValueError, says("argmax"));
}

BOOST_AUTO_TEST_CASE(logsumexp_is_stable) {
  const double l12 = std::log(std::exp(1.0) + std::exp(2.0));
  check_values(logsumexp(tensor({1.0, 2.0})), "[]", {l12});
  check_values(logsumexp(tensor({{1.0, 2.0}, {1001.0, 1002.0}}), 1), "[2]", {l12, l12 + 1000}, 1e-12);
  check_values(logsumexp(tensor({{-1000.0, -1001.0}}), 0, true), "[1, 2]", {-1000, -1001});
  BOOST_TEST(logsumexp(tensor({-INFINITY, -INFINITY})).item() == -INFINITY);
  BOOST_TEST(logsumexp(tensor({1.0, INFINITY})).item() == INFINITY);
  BOOST_TEST(logsumexp(zeros({0})).item() == -INFINITY);  // ln 0, as torch
  BOOST_TEST(logsumexp(zeros({2, 0}), 1).values() == std::vector<double>({-INFINITY, -INFINITY}),
             boost::test_tools::per_element());
  check_values(logsumexp(tensor({1.0, 2.0}, DType::float32)), "[]", {l12}, 1e-6);
  // ∂/∂x = softmax(x), even where e^x overflows.
  Tensor x = tensor({1000.0, 1000.0}).set_requires_grad();
  check_values(grad({logsumexp(x)}, {x})[0], "[2]", {0.5, 0.5});
  Generator gen(7);
  check_first_and_second_derivatives([](const std::vector<Tensor>& p) { return logsumexp(p[0]); }, {randn({2, 3}, gen)});
  check_first_and_second_derivatives([](const std::vector<Tensor>& p) { return logsumexp(p[0], 0, true) * p[0]; },
                                     {randn({2, 3}, gen)});
  BOOST_CHECK_EXCEPTION(logsumexp(a, 5), ValueError, says("logsumexp"));
}

// A plain backward() uses the exponentials the forward kept (Note [logsumexp's own
// backward]); a recorded one (create_graph), ops. Both are G ∘ softmax(x), along each axis
// of a 3-D tensor (slices along the last axis, the middle one, the first), in both dtypes;
// and both give the same NaN and 0 where a slice holds +∞ or is all −∞.
BOOST_AUTO_TEST_CASE(logsumexp_backward_plain_and_recorded_agree) {
  Generator gen(8);
  for (const DType dtype : {DType::float64, DType::float32})
    for (const std::int64_t axis : {0, 1, 2}) {
      Tensor x = (randn({3, 4, 5}, gen, dtype) * 3.0).detach().set_requires_grad();
      Shape kept = x.shape();
      kept[axis] = 1;
      const Tensor w = randn(kept, gen, dtype);
      const auto loss = [&] { return sum(logsumexp(x, axis, true) * w); };
      const Tensor plain = grad({loss()}, {x})[0];
      const Tensor recorded = grad({loss()}, {x}, {.create_graph = true})[0];
      const Tensor want = softmax(x.detach(), axis) * w;
      const double tol = dtype == DType::float32 ? 1e-6 : 1e-14;
      check_values(plain, "[3, 4, 5]", want.values(), tol);
      check_values(recorded, "[3, 4, 5]", want.values(), tol);
    }
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& p) { return logsumexp(p[0], 1) * p[1]; },
      {randn({2, 3, 4}, gen), randn({2, 4}, gen)});
  Tensor x = tensor({{1.0, INFINITY}, {-INFINITY, -INFINITY}, {0.0, 0.0}}).set_requires_grad();
  const std::vector<double> plain = grad({sum(logsumexp(x, 1))}, {x})[0].values();
  const std::vector<double> recorded = grad({sum(logsumexp(x, 1))}, {x}, {.create_graph = true})[0].values();
  BOOST_TEST(plain[0] == 0.0);
  BOOST_TEST(std::isnan(plain[1]));  // ∞ − ∞, as torch
  BOOST_TEST(std::isnan(plain[2]));
  BOOST_TEST(std::isnan(plain[3]));
  BOOST_TEST(plain[4] == 0.5);
  for (std::size_t i = 0; i < plain.size(); ++i)
    BOOST_TEST((plain[i] == recorded[i] || (std::isnan(plain[i]) && std::isnan(recorded[i]))), "element " << i);
}

BOOST_AUTO_TEST_CASE(var_and_std_are_unbiased_by_default) {
  const Tensor x = tensor({1.0, 2.0, 3.0, 4.0});  // mean 2.5, Σ(x − x̄)² = 5
  check_values(var(x), "[]", {5.0 / 3});
  check_values(var(x, {.unbiased = false}), "[]", {1.25});
  check_values(gradlab::std(x), "[]", {std::sqrt(5.0 / 3)});
  check_values(var(a, 1), "[2]", {4, 4});
  check_values(var(a, 0, true, false), "[1, 3]", {2.25, 2.25, 2.25});
  check_values(gradlab::std(a, 1, true), "[2, 1]", {2, 2});
  check_values(gradlab::std(a, {.axis = 0, .unbiased = false}), "[3]", {1.5, 1.5, 1.5});
  check_values(var(tensor({1.0, 3.0}, DType::float32)), "[]", {2});
  BOOST_TEST(std::isnan(var(scalar(3)).item()));                 // n − 1 = 0, as torch
  check_values(var(scalar(3), {.unbiased = false}), "[]", {0});
  BOOST_TEST(std::isnan(var(zeros({0})).item()));
  check_values(var(zeros({0, 3}), 1), "[0]", {});
  // ∂ var/∂x = 2(x − x̄)/(n − 1).
  Tensor p = x.clone().set_requires_grad();
  check_values(grad({var(p)}, {p})[0], "[4]", {-1, -1.0 / 3, 1.0 / 3, 1});
  Generator gen(9);
  check_first_and_second_derivatives([](const std::vector<Tensor>& q) { return var(q[0], 1); }, {randn({2, 4}, gen)});
  check_first_and_second_derivatives([](const std::vector<Tensor>& q) { return gradlab::std(q[0]); }, {randn({3, 3}, gen)});
  check_first_and_second_derivatives([](const std::vector<Tensor>& q) { return gradlab::std(q[0], 0, true, false) * q[0]; },
                                     {randn({3, 2}, gen)});
  BOOST_CHECK_EXCEPTION(var(a, 2), ValueError, says("var"));
  BOOST_CHECK_EXCEPTION(gradlab::std(a, {.axis = -3}), ValueError, says("var"));
}

BOOST_AUTO_TEST_CASE(norm_and_sqrt) {
  check_values(norm(tensor({3.0, 4.0})), "[]", {5});
  check_values(norm(tensor({{1.0, 2.0}, {2.0, 4.0}})), "[]", {5});  // Frobenius
  check_values(norm(zeros({0})), "[]", {0});
  check_values(norm(tensor({3.0, 4.0}, DType::float32)), "[]", {5});
  check_values(sqrt(tensor({4.0, 0.25, 0.0})), "[3]", {2, 0.5, 0});
  BOOST_TEST(std::isnan(sqrt(scalar(-1)).item()));
  check_values(sqrt(tensor({9.0}, DType::float32)), "[1]", {3});
  check_values(sqrt(zeros({0})), "[0]", {});
  // ∂‖x‖/∂x = x/‖x‖, and 0 at x = 0 (not 0/0).
  Tensor x = tensor({3.0, 4.0}).set_requires_grad(), z = zeros({2}).set_requires_grad();
  check_values(grad({norm(x)}, {x})[0], "[2]", {0.6, 0.8});
  check_values(grad({norm(z)}, {z})[0], "[2]", {0, 0});
  Tensor y = tensor({4.0}).set_requires_grad();
  check_values(grad({sum(sqrt(y))}, {y})[0], "[1]", {0.25});
  Generator gen(11);
  check_first_and_second_derivatives([](const std::vector<Tensor>& p) { return norm(p[0]); }, {randn({2, 3}, gen)});
  check_first_and_second_derivatives([](const std::vector<Tensor>& p) { return sqrt(p[0]); },
                                     {rand({3}, gen) + 0.5});
}

BOOST_AUTO_TEST_CASE(max_of_nan_sends_the_gradient_to_the_nan) {
  Tensor x = tensor({1.0, not_a_number, 3.0}).set_requires_grad();
  check_values(grad({max(x)}, {x})[0], "[3]", {0, 1, 0});
  check_values(grad({min(x)}, {x})[0], "[3]", {0, 1, 0});
}

BOOST_AUTO_TEST_CASE(the_tensor_overloads_leave_the_numbers_ones_alone) {
  // gradlab::max, min, sqrt, sin, cos take tensors; with both namespaces open, calls on
  // plain numbers still find the standard ones.
  using namespace std;
  BOOST_TEST(max(1, 2) == 2);
  BOOST_TEST(min(1.5, 2.5) == 1.5);
  BOOST_TEST(sqrt(4.0) == 2.0);
  BOOST_TEST(sin(0.0) == 0.0);
  BOOST_TEST(max(tensor({1.0, 2.0})).item() == 2.0);
}
