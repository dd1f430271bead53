#define BOOST_TEST_MODULE elementwise
#include <bit>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <gradlab/gradlab.hpp>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "gradlab/kernels/loops.hpp"
#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;

namespace {

// Random inputs for gradcheck. Normal numbers moved 0.2 further from 0 keep relu away from
// its kink and a divisor away from 0, where finite differences would be meaningless.
Tensor away_from_zero(const Shape& shape, Generator& gen) {
  std::vector<double> v = randn(shape, gen).values();
  for (double& x : v) x += x >= 0 ? 0.2 : -0.2;
  return from_vector(v, shape);
}
// Uniform numbers in [0.5, 2): for log and for fractional powers.
Tensor positive(const Shape& shape, Generator& gen) {
  std::vector<double> v = rand(shape, gen).values();
  for (double& x : v) x = 0.5 + 1.5 * x;
  return from_vector(v, shape);
}

struct BinaryOp {
  const char* name;
  Tensor (*f)(const Tensor&, const Tensor&, Here);  // Here: the caller's place (see Operand)
};
const std::vector<BinaryOp> binary_ops = {{"add", gradlab::add},
                                          {"sub", gradlab::sub},
                                          {"hadamard", gradlab::hadamard},
                                          {"div", gradlab::div}};

const std::vector<double> a_values = {1, 2, 3, 4, 5, 6};  // a = [[1, 2, 3], [4, 5, 6]]
const std::vector<double> b_values = {6, 5, 4, 3, 2, 1};  // b = [[6, 5, 4], [3, 2, 1]]

}  // namespace

// ---------------------------------------------------------------------------- forward values

BOOST_AUTO_TEST_CASE(binary_ops_work_element_by_element) {
  const Tensor a = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  const Tensor b = tensor({{6.0, 5.0, 4.0}, {3.0, 2.0, 1.0}});
  check_values(add(a, b), "[2, 3]", {7, 7, 7, 7, 7, 7});
  check_values(sub(a, b), "[2, 3]", {-5, -3, -1, 1, 3, 5});
  check_values(hadamard(a, b), "[2, 3]", {6, 10, 12, 12, 10, 6});
  check_values(gradlab::div(a, b), "[2, 3]", {1.0 / 6, 2.0 / 5, 3.0 / 4, 4.0 / 3, 5.0 / 2, 6});
  // The operators are the same ops; `*` is the Hadamard product, not the matrix product.
  check_values(a + b, "[2, 3]", {7, 7, 7, 7, 7, 7});
  check_values(a - b, "[2, 3]", {-5, -3, -1, 1, 3, 5});
  check_values(a * b, "[2, 3]", {6, 10, 12, 12, 10, 6});
  check_values(a / b, "[2, 3]", {1.0 / 6, 2.0 / 5, 3.0 / 4, 4.0 / 3, 5.0 / 2, 6});
  check_values(-a, "[2, 3]", {-1, -2, -3, -4, -5, -6});
  check_values(neg(b), "[2, 3]", {-6, -5, -4, -3, -2, -1});
}

BOOST_AUTO_TEST_CASE(broadcasting_stretches_size_one_and_missing_axes) {
  const Tensor a = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}});
  // [2, 3] + [3]: the row vector is added to every row.
  check_values(a + tensor({10.0, 20.0, 30.0}), "[2, 3]", {11, 22, 33, 14, 25, 36});
  check_values(a + tensor({{10.0, 20.0, 30.0}}), "[2, 3]", {11, 22, 33, 14, 25, 36});  // [1, 3]
  check_values(tensor({10.0, 20.0, 30.0}) - a, "[2, 3]", {9, 18, 27, 6, 15, 24});  // on the left
  // [2, 2, 3] + [2, 3]: the [2, 3] block is added to both blocks.
  const Tensor blocks = from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {2, 2, 3});
  check_values(blocks + a * 100.0, "[2, 2, 3]",
               {101, 202, 303, 404, 505, 606, 107, 208, 309, 410, 511, 612});
  // [2, 1] ∘ [1, 3]: a column times a row is their outer product.
  check_values(tensor({{1.0}, {2.0}}) * tensor({{3.0, 4.0, 5.0}}), "[2, 3]", {3, 4, 5, 6, 8, 10});
  // A 0-D scalar broadcasts to any shape.
  check_values(scalar(10.0) - a, "[2, 3]", {9, 8, 7, 6, 5, 4});
  // [3] / [2, 1]: both operands stretch.
  check_values(tensor({1.0, 2.0, 4.0}) / tensor({{1.0}, {2.0}}), "[2, 3]", {1, 2, 4, 0.5, 1, 2});
}

BOOST_AUTO_TEST_CASE(plain_numbers_on_either_side_of_an_operator) {
  const Tensor x = tensor({1.0, 2.0, 4.0});
  check_values(x + 1.0, "[3]", {2, 3, 5});
  check_values(1.0 + x, "[3]", {2, 3, 5});
  check_values(x - 1.0, "[3]", {0, 1, 3});
  check_values(1.0 - x, "[3]", {0, -1, -3});
  check_values(x * 2.0, "[3]", {2, 4, 8});
  check_values(2.0 * x, "[3]", {2, 4, 8});
  check_values(x / 4.0, "[3]", {0.25, 0.5, 1});
  check_values(4.0 / x, "[3]", {4, 2, 1});
  check_values(0.5 * pow(x - 1.0, 2), "[3]", {0, 0.5, 4.5});  // ½(x − 1)²
}

BOOST_AUTO_TEST_CASE(unary_ops_at_points_with_known_values) {
  using std::numbers::e;
  using std::numbers::ln2;
  const double ln3 = std::log(3.0);
  check_values(exp(tensor({0.0, 1.0, -1.0})), "[3]", {1, e, 1 / e});
  check_values(log(tensor({1.0, e, 0.5})), "[3]", {0, 1, -ln2});
  // σ(0) = ½;  σ(ln 3) = 1 / (1 + ⅓) = ¾;  σ(−x) = 1 − σ(x)
  check_values(sigmoid(tensor({0.0, ln3, -ln3})), "[3]", {0.5, 0.75, 0.25});
  // tanh(ln 2) = (e^(2 ln 2) − 1) / (e^(2 ln 2) + 1) = (4 − 1) / (4 + 1)
  check_values(tanh(tensor({0.0, ln2, -ln2})), "[3]", {0, 0.6, -0.6});
  check_values(relu(tensor({-2.0, -0.5, 0.0, 0.5, 3.0})), "[5]", {0, 0, 0, 0.5, 3});
  check_values(gradlab::abs(tensor({-2.0, -0.5, 0.0, 0.5, 3.0})), "[5]", {2, 0.5, 0, 0.5, 3});
  check_values(pow(tensor({2.0, -3.0}), 2), "[2]", {4, 9});
  check_values(pow(tensor({-2.0}), 3), "[1]", {-8});
  check_values(pow(tensor({4.0, 9.0}), 0.5), "[2]", {2, 3});
  check_values(pow(tensor({2.0, 4.0}), -1), "[2]", {0.5, 0.25});
  check_values(pow(tensor({0.0, 5.0}), 0), "[2]", {1, 1});
}

BOOST_AUTO_TEST_CASE(sigmoid_does_not_overflow_far_from_zero) {
  // e^(1000) overflows a double to ∞, and σ(−1000) = 1 / (1 + ∞) = 0: right, not NaN.
  check_values(sigmoid(tensor({-1000.0, 1000.0})), "[2]", {0, 1});
  check_values(sigmoid(tensor({-1000.0, -100.0, 1000.0}, DType::float32)), "[3]",
               {0, std::exp(-100.0), 1}, 1e-6);
  // For very negative x, σ(x) = 1 / (1 + e^(−x)) ≈ e^x, to full relative precision.
  const double s = sigmoid(scalar(-40.0)).item();
  BOOST_TEST(s == std::exp(-40.0), boost::test_tools::tolerance(1e-12));
}

// kernels::fast_exp, the vectorisable e^x of float32 exp and sigmoid, against e^x in double
// rounded to float, on every 101st float from −110 to 90 (17.6 million of them).
BOOST_AUTO_TEST_CASE(fast_exp_is_within_2_ulp_of_the_rounded_exponential) {
  const auto ulp_error = [](float x) {
    const double exact = std::exp(static_cast<double>(x));
    const float rounded = static_cast<float>(exact), got = kernels::fast_exp(x);
    if (std::isinf(rounded)) return got == rounded ? 0.0 : 1e9;
    // the gap between floats at `rounded` (the smallest denormal near 0)
    const float gap = std::max(std::nextafter(rounded, INFINITY) - rounded, 1.4e-45f);
    return std::abs(got - exact) / gap;
  };
  double worst = 0;
  float worst_at = 0;
  int tested = 0;
  const auto test = [&](float x) {
    ++tested;
    if (const double e = ulp_error(x); e > worst) {
      worst = e;
      worst_at = x;
    }
  };
  // magnitudes from 10⁻³⁰ to 110, every 101st float: each positive (to 90) and negative
  for (auto b = std::bit_cast<std::uint32_t>(1e-30f); b < std::bit_cast<std::uint32_t>(110.0f);
       b += 101) {
    const float m = std::bit_cast<float>(b);
    if (m < 90.0f) test(m);
    test(-m);
  }
  BOOST_TEST_MESSAGE("fast_exp: worst " << worst << " ulp at " << worst_at);
  BOOST_TEST(tested > 17'000'000);
  BOOST_TEST(worst <= 2.0, "worst " << worst << " ulp at x = " << worst_at);
  BOOST_TEST(kernels::fast_exp(0.0f) == 1.0f);
  BOOST_TEST(kernels::fast_exp(89.0f) == INFINITY);
  BOOST_TEST(kernels::fast_exp(INFINITY) == INFINITY);
  BOOST_TEST(kernels::fast_exp(-INFINITY) == 0.0f);
  BOOST_TEST(std::isnan(kernels::fast_exp(NAN)));
}

BOOST_AUTO_TEST_CASE(float32_in_float32_out) {
  const Tensor x = tensor({0.0, 0.5, -1.0}, DType::float32);
  const Tensor y = tensor({2.0, 4.0, 8.0}, DType::float32);
  for (const Tensor& r : {x + y, x - y, x * y, x / y, -x, x * 3.0, 1.0 - x, pow(y, 0.5), exp(x),
                          log(y), sigmoid(x), tanh(x), relu(x), gradlab::abs(x)})
    BOOST_TEST(r.dtype() == DType::float32);
  check_values(x / y, "[3]", {0, 0.125, -0.125}, 1e-6);
  check_values(exp(x), "[3]", {1, std::exp(0.5), std::exp(-1.0)}, 1e-6);
  check_values(log(y), "[3]", {std::log(2.0), std::log(4.0), std::log(8.0)}, 1e-6);
  check_values(sigmoid(x), "[3]", {0.5, 1 / (1 + std::exp(-0.5)), 1 / (1 + std::exp(1.0))}, 1e-6);
  check_values(tanh(x), "[3]", {0, std::tanh(0.5), std::tanh(-1.0)}, 1e-6);
  check_values(relu(x), "[3]", {0, 0.5, 0}, 1e-6);
  check_values(gradlab::abs(x), "[3]", {0, 0.5, 1}, 1e-6);
}

// ------------------------------------------------------------------- gradients by hand

BOOST_AUTO_TEST_CASE(unary_gradients_match_the_textbook_derivatives) {
  const std::vector<double> xs = {-1.5, -0.3, 0.4, 2.0};
  const Shape shape = {4};
  auto gradient_of_sum = [&](Tensor (*f)(const Tensor&, Here), const std::vector<double>& at) {
    Tensor x = from_vector(at, shape).set_requires_grad();
    sum(f(x, Here::current())).backward();
    return x.grad();
  };
  std::vector<double> dsigmoid, dtanh, dexp, drelu, dabs;
  for (double x : xs) {
    const double s = 1 / (1 + std::exp(-x));
    dsigmoid.push_back(s * (1 - s));                   // σ' = σ(1 − σ)
    dtanh.push_back(1 - std::tanh(x) * std::tanh(x));  // tanh' = 1 − tanh²
    dexp.push_back(std::exp(x));                       // (eˣ)' = eˣ
    drelu.push_back(x > 0 ? 1 : 0);                    // relu' = [x > 0]
    dabs.push_back(x > 0 ? 1 : -1);                    // |x|' = sign(x), for x ≠ 0
  }
  check_values(gradient_of_sum(sigmoid, xs), "[4]", dsigmoid);
  check_values(gradient_of_sum(gradlab::tanh, xs), "[4]", dtanh);
  check_values(gradient_of_sum(gradlab::exp, xs), "[4]", dexp);
  check_values(gradient_of_sum(relu, xs), "[4]", drelu);
  check_values(gradient_of_sum(gradlab::abs, xs), "[4]", dabs);
  check_values(gradient_of_sum(neg, xs), "[4]", {-1, -1, -1, -1});
  check_values(gradient_of_sum(gradlab::log, {0.5, 1, 2, 4}), "[4]", {2, 1, 0.5, 0.25});  // 1/x

  Tensor x = from_vector(xs, shape).set_requires_grad();
  sum(pow(x, 3)).backward();  // (x³)' = 3x²
  check_values(x.grad(), "[4]", {3 * 2.25, 3 * 0.09, 3 * 0.16, 3 * 4.0});
}

BOOST_AUTO_TEST_CASE(broadcast_operands_get_their_gradient_summed_back) {
  // L = Σᵢⱼ aᵢⱼ / bⱼ with a [2, 3] and b [3] broadcast over the rows:
  //   ∂L/∂aᵢⱼ = 1 / bⱼ,   ∂L/∂bⱼ = −Σᵢ aᵢⱼ / bⱼ²   (a sum over the rows b was stretched along)
  Tensor a = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}).set_requires_grad();
  Tensor b = tensor({10.0, 20.0, 40.0}).set_requires_grad();
  sum(a / b).backward();
  check_values(a.grad(), "[2, 3]", {0.1, 0.05, 0.025, 0.1, 0.05, 0.025});
  check_values(b.grad(), "[3]", {-5.0 / 100, -7.0 / 400, -9.0 / 1600});

  // L = Σ a ∘ b:  ∂L/∂a = b in every row,  ∂L/∂b = column sums of a
  a.zero_grad();
  b.zero_grad();
  sum(a * b).backward();
  check_values(a.grad(), "[2, 3]", {10, 20, 40, 10, 20, 40});
  check_values(b.grad(), "[3]", {5, 7, 9});

  // L = Σ (a − s) with a 0-D s: s was used 6 times, each with weight −1.
  Tensor s = scalar(3.0).set_requires_grad();
  sum(a - s).backward();
  check_values(s.grad(), "[]", {-6});
}

BOOST_AUTO_TEST_CASE(second_derivative_of_tanh_by_hand) {
  // tanh'' = d/dx (1 − tanh²) = −2 tanh (1 − tanh²). grad with create_graph records the
  // backward pass, so it can be differentiated again.
  Tensor x = tensor({-1.0, 0.5, 2.0}).set_requires_grad();
  const Tensor first = grad({sum(tanh(x))}, {x}, {.create_graph = true})[0];
  const Tensor second = grad({sum(first)}, {x})[0];
  std::vector<double> want;
  for (double v : {-1.0, 0.5, 2.0})
    want.push_back(-2 * std::tanh(v) * (1 - std::tanh(v) * std::tanh(v)));
  check_values(second, "[3]", want);
}

BOOST_AUTO_TEST_CASE(abs_at_its_kink_sends_back_zero_and_has_no_curvature) {
  // |x| has slope −1 left of 0 and +1 right of it, and no derivative at 0 itself; like relu,
  // the engine uses 0 there (sign(0) = 0). Away from 0 the slope is constant: |x|″ = 0.
  // The backward G ∘ sign(x) is recorded (create_graph), so it can be differentiated again:
  // in G it is linear with slope sign(x); in x it is flat.
  Tensor x = tensor({-2.0, 0.0, 0.5}).set_requires_grad();
  Tensor g = tensor({1.0, 3.0, 5.0}).set_requires_grad();  // the G flowing in
  const Tensor first = grad({sum(gradlab::abs(x) * g)}, {x}, {.create_graph = true})[0];
  check_values(first, "[3]", {-1, 0, 5});
  const std::vector<Tensor> second = grad({sum(first)}, {x, g});
  check_values(second[0], "[3]", {0, 0, 0});   // |x|″ = 0
  check_values(second[1], "[3]", {-1, 0, 1});  // ∂(G ∘ sign x)/∂G = sign(x)
  // gradcheck at the kink: the central difference (|ε| − |−ε|) / 2ε = 0 agrees with the 0
  // the engine returns, so the check passes with nothing to excuse.
  const auto f = [](const std::vector<Tensor>& in) { return sum(gradlab::abs(in[0])); };
  const GradcheckResult r = gradcheck(f, {tensor({-2.0, 0.0, 0.5})});
  BOOST_TEST(r.ok, r.message);
}

BOOST_AUTO_TEST_CASE(float32_gradients_stay_float32) {
  Tensor x = tensor({-1.0, 0.5}, DType::float32).set_requires_grad();
  sum(sigmoid(x) * 2.0).backward();  // 2σ(1 − σ)
  BOOST_TEST(x.grad().dtype() == DType::float32);
  const double s0 = 1 / (1 + std::exp(1.0)), s1 = 1 / (1 + std::exp(-0.5));
  check_values(x.grad(), "[2]", {2 * s0 * (1 - s0), 2 * s1 * (1 - s1)}, 1e-6);
}

// ----------------------------------------------------------------------------- gradcheck

BOOST_AUTO_TEST_CASE(gradcheck_notices_a_gradient_the_engine_cannot_see) {
  // x ∘ detach(x) has the value x², but detach hides the second factor from the engine,
  // so backward gives x instead of 2x. gradcheck must catch this, or it checks nothing.
  Generator gen(11);
  const auto f = [](const std::vector<Tensor>& in) { return in[0] * in[0].detach(); };
  const GradcheckResult r = gradcheck(f, {away_from_zero({2, 3}, gen)});
  BOOST_TEST(!r.ok, r.message);
  BOOST_TEST(r.numerical == 2 * r.analytical, boost::test_tools::tolerance(1e-6));
}

BOOST_AUTO_TEST_CASE(gradcheck_binary_ops_same_shape_and_broadcast) {
  // Each pair below broadcasts differently, so each exercises sum_to in backward differently.
  const std::vector<std::pair<Shape, Shape>> shape_pairs = {
      {{2, 3}, {2, 3}}, {{2, 3}, {3}}, {{3}, {2, 3}},      {{2, 1}, {1, 3}},
      {{}, {2, 3}},     {{2, 3}, {}},  {{2, 3, 2}, {3, 1}}};
  Generator gen(1);
  for (const BinaryOp& op : binary_ops) {
    for (const auto& [sa, sb] : shape_pairs) {
      BOOST_TEST_CONTEXT(op.name << ": " << to_string(sa) << " with " << to_string(sb)) {
        const Tensor a = randn(sa, gen).name("a");
        const Tensor b =
            (std::string(op.name) == "div" ? away_from_zero(sb, gen) : randn(sb, gen)).name("b");
        check_first_and_second_derivatives(
            [f = op.f](const std::vector<Tensor>& in) { return f(in[0], in[1], Here::current()); }, {a, b});
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(gradcheck_unary_ops) {
  Generator gen(2);
  const Shape shape = {3, 4};
  struct Case {
    const char* name;
    Function f;
    Tensor x;
  };
  const auto unary = [](Tensor (*op)(const Tensor&, Here)) {
    return [op](const std::vector<Tensor>& in) { return op(in[0], Here::current()); };
  };
  const auto power = [](double p) {
    return [p](const std::vector<Tensor>& in) { return pow(in[0], p); };
  };
  const std::vector<Case> cases = {
      {"neg", unary(neg), randn(shape, gen)},
      {"exp", unary(gradlab::exp), randn(shape, gen)},
      {"log", unary(gradlab::log), positive(shape, gen)},
      {"sigmoid", unary(sigmoid), randn(shape, gen)},
      {"tanh", unary(gradlab::tanh), randn(shape, gen)},
      {"relu", unary(relu), away_from_zero(shape, gen)},
      {"abs", unary(gradlab::abs), away_from_zero(shape, gen)},
      {"pow 2", power(2), randn(shape, gen)},
      {"pow 3", power(3), randn(shape, gen)},
      {"pow 0.5", power(0.5), positive(shape, gen)},
      {"pow -1", power(-1), away_from_zero(shape, gen)},
      {"pow 0", power(0), randn(shape, gen)},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT(c.name) { check_first_and_second_derivatives(c.f, {c.x}); }
  }
}

BOOST_AUTO_TEST_CASE(gradcheck_operators_with_plain_numbers) {
  Generator gen(3);
  // (2a − 1) ∘ b / 3 + 1 / b − a + 0.5: every operator form, with numbers on both sides.
  const auto f = [](const std::vector<Tensor>& in) {
    const Tensor &a = in[0], &b = in[1];
    return (2.0 * a - 1.0) * b / 3.0 + 1.0 / b - a + 0.5 + (1.0 - a) * 0.25 + (-a);
  };
  check_first_and_second_derivatives(
      f, {randn({2, 3}, gen).name("a"), away_from_zero({3}, gen).name("b")});
}

// ---------------------------------------------------------------------------- bad input

BOOST_AUTO_TEST_CASE(shapes_that_do_not_broadcast_throw_shape_error) {
  const Tensor a = ones({2, 3}), b = ones({4});
  BOOST_CHECK_EXCEPTION(add(a, b), ShapeError,
                        says("add: shapes cannot be broadcast together: [2, 3] and [4]"));
  BOOST_CHECK_EXCEPTION(a - b, ShapeError,
                        says("sub: shapes cannot be broadcast together: [2, 3] and [4]"));
  BOOST_CHECK_EXCEPTION(a * ones({3, 1}), ShapeError,
                        says("hadamard: shapes cannot be broadcast together: [2, 3] and [3, 1]"));
  BOOST_CHECK_EXCEPTION(ones({2}) / a, ShapeError,
                        says("div: shapes cannot be broadcast together: [2] and [2, 3]"));
}

// As torch: float32 with float64 is computed in float64; the float32 operand goes through a
// recorded to(), so its gradient comes back as float32.
BOOST_AUTO_TEST_CASE(float32_with_float64_promotes_to_float64) {
  Tensor x64 = tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}).set_requires_grad();
  Tensor y32 = tensor({0.5, 2.0, -1.0}, DType::float32).set_requires_grad();
  for (const Tensor& r : {x64 + y32, y32 - x64, x64 * y32, x64 / y32, maximum(y32, x64),
                          minimum(x64, y32)})
    BOOST_TEST(r.dtype() == DType::float64);
  check_values(x64 + y32, "[2, 3]", {1.5, 4, 2, 4.5, 7, 5});
  check_values(y32 - x64, "[2, 3]", {-0.5, 0, -4, -3.5, -3, -7});
  // 0.1 in float32 is 0.100000001490116…: promoted, the float64 sum keeps those digits.
  BOOST_TEST((scalar(0.1, DType::float32) + scalar(0.0)).item() == static_cast<double>(0.1f));
  sum(x64 * y32).backward();
  BOOST_TEST(y32.grad().dtype() == DType::float32);
  check_values(y32.grad(), "[3]", {5, 7, 9}, 1e-6);
  check_values(x64.grad(), "[2, 3]", {0.5, 2, -1, 0.5, 2, -1});
  // Comparisons too; a plain number takes the tensor's dtype, so it never promotes.
  BOOST_TEST((ones({2}) == ones({2}, DType::float32)).dtype() == DType::float64);
  BOOST_TEST((y32 * 2.0).dtype() == DType::float32);
  BOOST_TEST((2.0 - y32).dtype() == DType::float32);
  // The float64 side's derivatives through a promoted product with a float32 constant.
  const Tensor c = tensor({0.25, -2.0, 3.0}, DType::float32);
  check_first_and_second_derivatives(
      [c](const std::vector<Tensor>& in) { return sigmoid(in[0] * c) / (c + in[0] * in[0]); },
      {tensor({{1.0, 2.0, 3.0}, {-1.0, 0.5, 0.0}}).name("x")});
}

// relu(NaN) is NaN (it was 0, hiding the NaN from the loss), in float64 and float32 and on
// a tensor big enough to take the threaded loop; its gradient there is G, as in PyTorch
// (threshold_backward: 0 only where x ≤ 0).
BOOST_AUTO_TEST_CASE(relu_lets_a_nan_through) {
  for (DType dtype : {DType::float64, DType::float32}) {
    Tensor x = from_vector({std::nan(""), -1.0, 2.0, -0.0}, {4}, dtype).set_requires_grad();
    const Tensor y = relu(x);
    BOOST_TEST(std::isnan(y.at({0})));
    BOOST_TEST(y.at({1}) == 0.0);
    BOOST_TEST(y.at({2}) == 2.0);
    BOOST_TEST(y.at({3}) == 0.0);
    y.backward(from_vector({5.0, 5.0, 5.0, 5.0}, {4}, dtype));
    check_values(x.grad(), "[4]", {5.0, 0.0, 5.0, 0.0});
  }
  std::vector<double> big(100000, -1.0);
  big[54321] = std::nan("");
  const std::vector<double> out = relu(from_vector(big, {100000}, DType::float32)).values();
  BOOST_TEST(std::isnan(out[54321]));
  BOOST_TEST(std::count_if(out.begin(), out.end(), [](double v) { return std::isnan(v); }) == 1);
}
