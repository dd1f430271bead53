#define BOOST_TEST_MODULE loss
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <gradlab/gradlab.hpp>
#include <numbers>
#include <string>
#include <vector>

#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;

namespace {

// softmax of a plain list, written out: e^(xᵢ) / Σⱼ e^(xⱼ)
std::vector<double> softmax_by_hand(const std::vector<double>& x) {
  double total = 0;
  for (double v : x) total += std::exp(v);
  std::vector<double> y;
  for (double v : x) y.push_back(std::exp(v) / total);
  return y;
}

}  // namespace

// ---------------------------------------------------------------------------- forward values

BOOST_AUTO_TEST_CASE(softmax_of_1_2_3) {
  const double e = std::numbers::e, total = e + e * e + e * e * e;
  check_values(softmax(tensor({1.0, 2.0, 3.0})), "[3]",
               {e / total, e * e / total, e * e * e / total});
}

BOOST_AUTO_TEST_CASE(softmax_along_each_axis_of_a_matrix) {
  // x = [[1, 0], [3, 0]]
  const Tensor x = tensor({{1.0, 0.0}, {3.0, 0.0}});
  const double e2 = std::exp(2.0);
  // Along axis 0 (down each column): softmax([1, 3]) = [1, e²] / (1 + e²); softmax([0, 0]) = ½
  check_values(softmax(x, 0), "[2, 2]", {1 / (1 + e2), 0.5, e2 / (1 + e2), 0.5});
  // Along the last axis (the default), each row: softmax([1, 0]) = [e, 1] / (e + 1)
  const double e = std::numbers::e, e3 = std::exp(3.0);
  check_values(softmax(x), "[2, 2]", {e / (e + 1), 1 / (e + 1), e3 / (e3 + 1), 1 / (e3 + 1)});
  check_values(softmax(x, -1), "[2, 2]", {e / (e + 1), 1 / (e + 1), e3 / (e3 + 1), 1 / (e3 + 1)});
}

BOOST_AUTO_TEST_CASE(softmax_ignores_a_shift_and_does_not_overflow) {
  // softmax(x + c) = softmax(x): e^(1000) would overflow, but the answer is that of [0, 1, 2].
  check_values(softmax(tensor({1000.0, 1001.0, 1002.0})), "[3]", softmax_by_hand({0, 1, 2}));
  check_values(softmax(tensor({-1000.0, -1000.0})), "[2]", {0.5, 0.5});
}

BOOST_AUTO_TEST_CASE(log_softmax_is_x_minus_log_sum_exp) {
  // log softmax(x)ᵢ = xᵢ − log Σⱼ e^(xⱼ)
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  check_values(log_softmax(tensor({1.0, 2.0, 3.0})), "[3]", {1 - lse, 2 - lse, 3 - lse});
  // With large inputs log(softmax(x)) would be log(0) = −∞ for the small entries; log_softmax
  // stays finite: [0, 1, 2] − log(1 + e + e²) after the shift.
  const double lse0 = std::log(1 + std::exp(1.0) + std::exp(2.0));
  check_values(log_softmax(tensor({1000.0, 1001.0, 1002.0})), "[3]", {-lse0, 1 - lse0, 2 - lse0});
  check_values(log_softmax(tensor({{0.0, -2000.0}})), "[1, 2]", {0, -2000});
  // Along axis 0 of [[1, 0], [3, 0]]: column 0 is [1, 3] − log(e + e³), column 1 is −log 2.
  const double col0 = std::log(std::exp(1.0) + std::exp(3.0));
  check_values(log_softmax(tensor({{1.0, 0.0}, {3.0, 0.0}}), 0), "[2, 2]",
               {1 - col0, -std::numbers::ln2, 3 - col0, -std::numbers::ln2});
}

BOOST_AUTO_TEST_CASE(mse_loss_by_hand) {
  // differences [0, 2, −2, 0] → squares [0, 4, 4, 0] → mean 8 / 4 = 2
  const Tensor p = tensor({{1.0, 2.0}, {3.0, 4.0}}), t = tensor({{1.0, 0.0}, {5.0, 4.0}});
  check_values(mse_loss(p, t), "[]", {2});
  check_values(mse_loss(p, p), "[]", {0});
  // Broadcast as torch does: the row [1, 0] against both rows of p: squares [0, 4, 4, 16].
  check_values(mse_loss(p, tensor({1.0, 0.0})), "[]", {6});
  // [2, 1] against [2]: every pair, [[1 − 1, 1 − 3], [2 − 1, 2 − 3]]², mean 6 / 4.
  check_values(mse_loss(tensor({{1.0}, {2.0}}), tensor({1.0, 3.0})), "[]", {1.5});
  BOOST_TEST(std::isnan(mse_loss(ones({0, 2}), ones({2})).item()));
}

BOOST_AUTO_TEST_CASE(cross_entropy_by_hand) {
  // Two examples, three classes. Example 0 is class 2: −log(e³ / (e + e² + e³)).
  // Example 1 is class 0 with all logits equal: −log(⅓) = log 3. The loss is their mean.
  const Tensor logits = tensor({{1.0, 2.0, 3.0}, {1.0, 1.0, 1.0}});
  const double row0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3;
  const double row1 = std::log(3.0);
  check_values(cross_entropy(logits, {2, 0}), "[]", {(row0 + row1) / 2});
  // The same classes given as a tensor of whole numbers.
  check_values(cross_entropy(logits, tensor({2.0, 0.0})), "[]", {(row0 + row1) / 2});
  // Two equal logits: the right class gets probability ½, so the loss is log 2.
  check_values(cross_entropy(tensor({{0.0, 0.0}}), {1}), "[]", {std::numbers::ln2});
}

// torch.nn.functional.cross_entropy(x, torch.tensor([2, 0, 1]), ignore_index=0): the row of
// class 0 is left out, and the mean is over the other two.
BOOST_AUTO_TEST_CASE(cross_entropy_with_ignore_index) {
  const Tensor logits = tensor({{1.0, 2.0, 3.0}, {5.0, -1.0, 0.0}, {0.0, 0.0, 0.0}});
  const double row0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3;
  const double row2 = std::log(3.0);
  check_values(cross_entropy(logits, {2, 0, 1}, {.ignore_index = 0}), "[]", {(row0 + row2) / 2});
  check_values(cross_entropy(logits, tensor({2.0, -100.0, 1.0})), "[]", {(row0 + row2) / 2});
  check_values(cross_entropy(logits, {2, 7, 1}, {.ignore_index = 7}), "[]", {(row0 + row2) / 2});
  // Every row ignored: 0/0, as torch.
  BOOST_TEST(std::isnan(cross_entropy(logits, {0, 0, 0}, {.ignore_index = 0}).item()));
  // The gradient: (softmax − onehot) / 2 on the rows that count, 0 on the ignored one.
  Tensor x = logits.detach().set_requires_grad();
  cross_entropy(x, {2, 0, 1}, {.ignore_index = 0}).backward();
  const std::vector<double> p0 = softmax_by_hand({1, 2, 3});
  check_values(x.grad(), "[3, 3]",
               {p0[0] / 2, p0[1] / 2, (p0[2] - 1) / 2, 0, 0, 0, 1.0 / 6, (1.0 / 3 - 1) / 2, 1.0 / 6});
  Generator gen(5);
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& in) { return cross_entropy(in[0], {1, 4, 1, 0}, {.ignore_index = 1}); },
      {randn({4, 5}, gen).name("logits")});
}

// Rows of probabilities: −mean over rows of Σ_c p log softmax(x). One-hot rows give the
// class-index loss; other rows weigh the classes, and p has a gradient too (−log softmax / N).
BOOST_AUTO_TEST_CASE(cross_entropy_with_probability_targets) {
  const Tensor logits = tensor({{1.0, 2.0, 3.0}, {1.0, 1.0, 1.0}});
  check_values(cross_entropy(logits, tensor({{0.0, 0.0, 1.0}, {1.0, 0.0, 0.0}})), "[]",
               {cross_entropy(logits, {2, 0}).item()}, 1e-15);
  const double lse0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  // Row 0: −(½(1 − lse) + ½(3 − lse)) = lse − 2; row 1: log 3 whatever the probabilities.
  check_values(cross_entropy(logits, tensor({{0.5, 0.0, 0.5}, {0.2, 0.3, 0.5}})), "[]",
               {(lse0 - 2 + std::log(3.0)) / 2}, 1e-15);
  Generator gen(6);
  const Tensor p = softmax(randn({3, 4}, gen));
  check_first_and_second_derivatives(
      [](const std::vector<Tensor>& in) { return cross_entropy(in[0], in[1]); },
      {randn({3, 4}, gen).name("logits"), p.detach().name("p")});
  const Tensor single = cross_entropy(to(logits, DType::float32),
                                      tensor({{0.5, 0.0, 0.5}, {0.2, 0.3, 0.5}}, DType::float32));
  BOOST_TEST(single.dtype() == DType::float32);
  check_values(single, "[]", {(lse0 - 2 + std::log(3.0)) / 2}, 1e-6);
  BOOST_TEST(std::isnan(cross_entropy(zeros({0, 3}), zeros({0, 3})).item()));
}

BOOST_AUTO_TEST_CASE(float32_losses) {
  const double e = std::numbers::e, total = e + e * e + e * e * e;
  const Tensor x = tensor({1.0, 2.0, 3.0}, DType::float32);
  const Tensor y = softmax(x);
  BOOST_TEST(y.dtype() == DType::float32);
  check_values(y, "[3]", {e / total, e * e / total, e * e * e / total}, 1e-6);
  const double lse = std::log(total);
  BOOST_TEST(log_softmax(x).dtype() == DType::float32);
  check_values(log_softmax(x), "[3]", {1 - lse, 2 - lse, 3 - lse}, 1e-6);

  const Tensor p = tensor({{1.0, 2.0}, {3.0, 4.0}}, DType::float32);
  const Tensor t = tensor({{1.0, 0.0}, {5.0, 4.0}}, DType::float32);
  BOOST_TEST(mse_loss(p, t).dtype() == DType::float32);
  check_values(mse_loss(p, t), "[]", {2}, 1e-6);
  check_values(mse_loss(p, tensor({1.0, 0.0}, DType::float32)), "[]", {6}, 1e-6);
  check_values(cross_entropy(tensor({{0.0, 0.0}, {1.0, 1.0}}, DType::float32), {1, 0},
                             {.ignore_index = 0}),
               "[]", {std::numbers::ln2}, 1e-6);

  const Tensor logits = tensor({{1.0, 2.0, 3.0}, {1.0, 1.0, 1.0}}, DType::float32);
  const Tensor ce = cross_entropy(logits, {2, 0});
  BOOST_TEST(ce.dtype() == DType::float32);
  check_values(ce, "[]", {(lse - 3 + std::log(3.0)) / 2}, 1e-6);
}

// ------------------------------------------------------------------- gradients by hand

BOOST_AUTO_TEST_CASE(cross_entropy_gradient_is_softmax_minus_onehot_over_n) {
  // ∂L/∂logitsᵢ = (softmax(logitsᵢ) − onehot(targetᵢ)) / N
  Tensor logits = tensor({{1.0, 2.0, 3.0}, {0.5, -1.0, 0.0}}).set_requires_grad();
  cross_entropy(logits, {2, 0}).backward();
  const std::vector<double> p0 = softmax_by_hand({1, 2, 3}), p1 = softmax_by_hand({0.5, -1, 0});
  check_values(logits.grad(), "[2, 3]",
               {p0[0] / 2, p0[1] / 2, (p0[2] - 1) / 2, (p1[0] - 1) / 2, p1[1] / 2, p1[2] / 2});
}

BOOST_AUTO_TEST_CASE(mse_gradient_is_two_times_the_difference_over_n) {
  // L = mean((p − t)²):  ∂L/∂p = 2(p − t)/n,  ∂L/∂t = −2(p − t)/n
  Tensor p = tensor({{1.0, 2.0}, {3.0, 4.0}}).set_requires_grad();
  Tensor t = tensor({{1.0, 0.0}, {5.0, 4.0}}).set_requires_grad();
  mse_loss(p, t).backward();
  check_values(p.grad(), "[2, 2]", {0, 1, -1, 0});
  check_values(t.grad(), "[2, 2]", {0, -1, 1, 0});
  // A broadcast target's gradient is summed over the rows it was repeated along:
  // p − t = [[0, 2], [2, 4]], n = 4, ∂t = −Σᵢ 2(pᵢ − t)/4 = [−1, −3].
  Tensor row = tensor({1.0, 0.0}).set_requires_grad();
  p.zero_grad();
  mse_loss(p, row).backward();
  check_values(p.grad(), "[2, 2]", {0, 1, 1, 2});
  check_values(row.grad(), "[2]", {-1, -3});
}

BOOST_AUTO_TEST_CASE(softmax_and_log_softmax_gradients_by_hand) {
  const std::vector<double> y = softmax_by_hand({1, 2, 3});
  // L = Σ softmax(x) ∘ w:  ∂L/∂x = y ∘ (w − Σⱼ wⱼyⱼ)
  Tensor x = tensor({1.0, 2.0, 3.0}).set_requires_grad();
  const std::vector<double> w = {1, 0, -1};
  sum(softmax(x) * tensor({1.0, 0.0, -1.0})).backward();
  const double wy = w[0] * y[0] + w[1] * y[1] + w[2] * y[2];
  check_values(x.grad(), "[3]", {y[0] * (w[0] - wy), y[1] * (w[1] - wy), y[2] * (w[2] - wy)});

  // L = Σ log softmax(x) ∘ v:  ∂L/∂x = v − softmax(x) · Σⱼ vⱼ
  Tensor z = tensor({1.0, 2.0, 3.0}).set_requires_grad();
  sum(log_softmax(z) * tensor({1.0, 2.0, 0.0})).backward();
  check_values(z.grad(), "[3]", {1 - 3 * y[0], 2 - 3 * y[1], 0 - 3 * y[2]});
}

// ----------------------------------------------------------------------------- gradcheck

BOOST_AUTO_TEST_CASE(gradcheck_softmax_and_log_softmax) {
  Generator gen(1);
  const Tensor m = randn({3, 4}, gen).name("x"), b = randn({2, 3, 4}, gen).name("x");
  struct Case {
    const char* name;
    Function f;
    Tensor x;
  };
  const std::vector<Case> cases = {
      {"softmax", [](const std::vector<Tensor>& in) { return softmax(in[0]); }, m},
      {"softmax axis 0", [](const std::vector<Tensor>& in) { return softmax(in[0], 0); }, m},
      {"softmax axis 1 of 3-D", [](const std::vector<Tensor>& in) { return softmax(in[0], 1); }, b},
      {"log_softmax", [](const std::vector<Tensor>& in) { return log_softmax(in[0]); }, m},
      {"log_softmax axis -2", [](const std::vector<Tensor>& in) { return log_softmax(in[0], -2); },
       m},
      {"log_softmax axis 0 of 3-D",
       [](const std::vector<Tensor>& in) { return log_softmax(in[0], 0); }, b},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name) { check_first_and_second_derivatives(c.f, {c.x}); }
  }
}

BOOST_AUTO_TEST_CASE(gradcheck_mse_loss) {
  Generator gen(2);
  const auto f = [](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1]); };
  check_first_and_second_derivatives(
      f, {randn({3, 4}, gen).name("prediction"), randn({3, 4}, gen).name("target")});
  check_first_and_second_derivatives(
      f, {randn({3, 1}, gen).name("prediction"), randn({4}, gen).name("target")});
}

BOOST_AUTO_TEST_CASE(gradcheck_cross_entropy_with_fixed_targets) {
  // Only the logits are inputs: the class indices are not something one differentiates.
  Generator gen(3);
  const Tensor logits = randn({4, 5}, gen).name("logits");
  const auto with_vector = [](const std::vector<Tensor>& in) {
    return cross_entropy(in[0], {0, 4, 2, 1});
  };
  check_first_and_second_derivatives(with_vector, {logits});
  const Tensor targets = tensor({3.0, 0.0, 1.0, 3.0});
  const auto with_tensor = [targets](const std::vector<Tensor>& in) {
    return cross_entropy(in[0], targets);
  };
  check_first_and_second_derivatives(with_tensor, {logits});
}

// ---------------------------------------------------------------------------- bad input

BOOST_AUTO_TEST_CASE(softmax_needs_an_axis_that_exists) {
  BOOST_CHECK_EXCEPTION(softmax(scalar(1.0)), ShapeError,
                        says("softmax: needs at least one dimension, got a 0-D tensor"));
  BOOST_CHECK_EXCEPTION(log_softmax(scalar(1.0)), ShapeError,
                        says("log_softmax: needs at least one dimension, got a 0-D tensor"));
  BOOST_CHECK_EXCEPTION(softmax(ones({2, 3}), 2), ValueError,
                        says("softmax: axis 2 is out of range for a tensor of rank 2"));
  BOOST_CHECK_EXCEPTION(log_softmax(ones({2, 3}), -3), ValueError,
                        says("log_softmax: axis -3 is out of range for a tensor of rank 2"));
}

BOOST_AUTO_TEST_CASE(mse_loss_needs_broadcastable_shapes_and_promotes_dtypes) {
  BOOST_CHECK_EXCEPTION(mse_loss(ones({2, 2}), ones({3})), ShapeError,
                        says("mse_loss: shapes cannot be broadcast together: [2, 2] and [3]"));
  // float32 with float64 is computed in float64, as torch does; the float32 side's gradient
  // comes back as float32.
  Tensor p32 = tensor({1.0, 3.0}, DType::float32).set_requires_grad();
  const Tensor mixed = mse_loss(p32, tensor({0.0, 1.0}));
  BOOST_TEST(mixed.dtype() == DType::float64);
  check_values(mixed, "[]", {2.5});
  mixed.backward();
  BOOST_TEST(p32.grad().dtype() == DType::float32);
  check_values(p32.grad(), "[2]", {1, 2}, 1e-6);
}

BOOST_AUTO_TEST_CASE(cross_entropy_rejects_bad_logits_and_targets) {
  const Tensor logits = zeros({2, 3});
  BOOST_CHECK_EXCEPTION(cross_entropy(ones({3}), {0}), ShapeError,
                        says("cross_entropy: logits must be [N, C] (a row of class scores per "
                             "example), got [3]"));
  BOOST_CHECK_EXCEPTION(cross_entropy(logits, {0, 1, 2}), ShapeError,
                        says("cross_entropy: logits [2, 3] have 2 rows but there are 3 targets"));
  // A class index outside [0, C): the message names the example, the class and C.
  BOOST_CHECK_EXCEPTION(
      cross_entropy(logits, {0, 3}), ValueError,
      says("cross_entropy: target 1 is class 3, outside [0, 3) for logits [2, 3]"));
  BOOST_CHECK_EXCEPTION(
      cross_entropy(logits, {-1, 0}), ValueError,
      says("cross_entropy: target 0 is class -1, outside [0, 3) for logits [2, 3]"));
  BOOST_CHECK_EXCEPTION(
      cross_entropy(logits, tensor({0.0, 3.0})), ValueError,
      says("cross_entropy: target 1 is class 3, outside [0, 3) for logits [2, 3]"));
  BOOST_CHECK_EXCEPTION(cross_entropy(logits, tensor({0.0, 1.5})), ValueError,
                        says("not a whole number"));
  BOOST_CHECK_EXCEPTION(cross_entropy(logits, tensor({{0.0, 1.0}})), ShapeError,
                        says("cross_entropy: probability targets must have the logits' shape "
                             "[2, 3], got [1, 2]"));
  BOOST_CHECK_EXCEPTION(cross_entropy(logits, ones({2, 3, 1})), ShapeError,
                        says("cross_entropy: targets must be a 1-D tensor of class indices or "
                             "[N, C] rows of probabilities, got [2, 3, 1]"));
  BOOST_CHECK_EXCEPTION(cross_entropy(logits, ones({2, 3}), {.ignore_index = 0}), ValueError,
                        says("cross_entropy: ignore_index is for class-index targets"));
  BOOST_CHECK_EXCEPTION(cross_entropy(logits, ones({2, 3}, DType::float32)), DTypeError,
                        says("cross_entropy: dtypes differ"));
  // A class that is not the ignored one is still checked.
  BOOST_CHECK_EXCEPTION(cross_entropy(logits, {3, 0}, {.ignore_index = 0}), ValueError,
                        says("cross_entropy: target 0 is class 3, outside [0, 3)"));
}

BOOST_AUTO_TEST_CASE(cross_entropy_rejects_targets_that_are_not_class_numbers) {
  const Tensor logits = zeros({2, 3});
  BOOST_CHECK_EXCEPTION(cross_entropy(logits, tensor({0.0, INFINITY})), ValueError,
                        says("cross_entropy: target 1 is inf, not a whole number"));
  BOOST_CHECK_EXCEPTION(cross_entropy(logits, tensor({1e30, 0.0})), ValueError,
                        says("cross_entropy: target 0 is class 1"));
}
