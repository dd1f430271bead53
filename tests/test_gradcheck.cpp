#define BOOST_TEST_MODULE gradcheck
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <gradlab/gradlab.hpp>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gradlab/kernels/loops.hpp"  // unary_map, for a hand-made op

using namespace gradlab;

// A custom op whose backward we can get wrong on purpose, to show that gradcheck and
// gradgradcheck notice. square(x) = x², correct backward 2x·g.
enum class Mistake { none, missing_factor_two, one_element_off, not_differentiable };

const OpInfo square_op{"square", "x²", {"∂x = G ∘ 2x"}};
Tensor square(const Tensor& x, Mistake mistake) {
  Tensor out = kernels::unary_map(x, [](auto v) { return v * v; });
  return record(square_op, out, {x}, [mistake](const BackwardContext& c) {
    const Tensor& x = c.inputs[0];
    switch (mistake) {
      case Mistake::none:
        return Grads{c.grad * 2.0 * x};
      case Mistake::missing_factor_two:
        return Grads{c.grad * x};
      case Mistake::one_element_off: {
        Tensor wrong = (c.grad * 2.0 * x).detach().clone();
        wrong.set({1, 2}, wrong.at({1, 2}) + 0.1);
        return Grads{wrong};
      }
      case Mistake::not_differentiable:  // right value, but cut from the graph
        return Grads{c.grad * 2.0 * x.detach()};
    }
    return Grads{};
  });
}

const Tensor input = [] {
  Generator gen(5);
  return randn({2, 3}, gen).name("x");
}();

BOOST_AUTO_TEST_CASE(a_correct_backward_passes_both_checks) {
  const auto f = [](const std::vector<Tensor>& in) { return square(in[0], Mistake::none); };
  const GradcheckResult r = gradcheck(f, {input});
  BOOST_TEST(r.ok, r.message);
  BOOST_TEST(r.message.find("gradcheck: ok") == 0u);
  const GradcheckResult rr = gradgradcheck(f, {input});
  BOOST_TEST(rr.ok, rr.message);
}

BOOST_AUTO_TEST_CASE(a_missing_factor_fails_and_names_the_input) {
  const auto f = [](const std::vector<Tensor>& in) {
    return square(in[0], Mistake::missing_factor_two);
  };
  const GradcheckResult r = gradcheck(f, {input});
  BOOST_TEST(!r.ok);
  BOOST_TEST(r.input == "x");
  // Half the true value: the worst element is where |x| is largest.
  BOOST_TEST(std::abs(r.analytical * 2 - r.numerical) < 1e-6);
  BOOST_TEST(r.message.find("gradcheck: MISMATCH, worst element x[") == 0u, r.message);
}

BOOST_AUTO_TEST_CASE(the_worst_element_is_located) {
  const auto f = [](const std::vector<Tensor>& in) {
    return sum(square(in[0], Mistake::one_element_off));  // scalar output: no projection
  };
  const GradcheckResult r = gradcheck(f, {input});
  BOOST_TEST(!r.ok);
  BOOST_TEST(r.index == std::vector<std::int64_t>({1, 2}));
  BOOST_TEST(r.analytical - r.numerical == 0.1, boost::test_tools::tolerance(1e-6));
}

BOOST_AUTO_TEST_CASE(gradgradcheck_catches_a_backward_cut_from_the_graph) {
  const auto f = [](const std::vector<Tensor>& in) {
    return square(in[0], Mistake::not_differentiable);
  };
  BOOST_TEST(gradcheck(f, {input}).ok);  // first derivatives are right…
  const GradcheckResult r = gradgradcheck(f, {input});
  BOOST_TEST(!r.ok);  // …but the second derivative comes out as 0 instead of 2
  BOOST_TEST(r.message.find("gradgradcheck: MISMATCH") == 0u, r.message);
}

BOOST_AUTO_TEST_CASE(float32_inputs_are_checked_in_float64) {
  const Tensor x32 = to(input, DType::float32);
  const auto f = [](const std::vector<Tensor>& in) {
    BOOST_TEST(in[0].dtype() == DType::float64);
    return sigmoid(in[0]);
  };
  BOOST_TEST(gradcheck(f, {x32}).ok);
}

BOOST_AUTO_TEST_CASE(unnamed_inputs_are_numbered) {
  const auto f = [](const std::vector<Tensor>& in) {
    return in[0] + square(in[1], Mistake::missing_factor_two);
  };
  const GradcheckResult r = gradcheck(f, {zeros({2, 3}), input.detach()});
  BOOST_TEST(!r.ok);
  BOOST_TEST(r.input == "input 1");
}

// ------------------------------------------------------------------------------------ kinks
// Where a function bends sharply (relu and |x| at 0, a tie for the maximum) the left and
// right derivatives differ and the central difference is their average, while the engine
// returns one of them: gradcheck lists such elements as kinks instead of failing.

BOOST_AUTO_TEST_CASE(relu_at_exactly_zero_is_a_kink_not_a_failure) {
  const Tensor x = tensor({{0.5, -1.0, 0.0}}).name("x");
  const auto f = [](const std::vector<Tensor>& in) { return sum(relu(in[0])); };
  const GradcheckResult r = gradcheck(f, {x});
  BOOST_TEST(r.ok, r.message);
  BOOST_TEST_REQUIRE(r.kinks.size() == 1u);
  BOOST_TEST(r.kinks[0].input == "x");
  BOOST_TEST(r.kinks[0].index == std::vector<std::int64_t>({0, 2}));
  BOOST_TEST(r.kinks[0].left == 0.0, boost::test_tools::tolerance(1e-7));   // relu′ from below
  BOOST_TEST(r.kinks[0].right == 1.0, boost::test_tools::tolerance(1e-7));  // … from above
  BOOST_TEST(r.message.find("gradcheck: ok") == 0u, r.message);
  BOOST_TEST(r.message.find("not differentiable at x[0, 2]: left derivative 0, right "
                            "derivative 1; not counted as a failure") != std::string::npos,
             r.message);
}

BOOST_AUTO_TEST_CASE(every_kink_is_listed_for_a_non_scalar_output_too) {
  // relu(x) itself, projected on a random r: the one-sided derivatives are 0 and rⱼ.
  const Tensor x = tensor({{0.0, -1.0, 2.0}, {1.2, 0.0, -0.3}}).name("x");
  const auto f = [](const std::vector<Tensor>& in) { return relu(in[0]); };
  const GradcheckResult r = gradcheck(f, {x});
  BOOST_TEST(r.ok, r.message);
  BOOST_TEST_REQUIRE(r.kinks.size() == 2u);
  BOOST_TEST(r.kinks[0].index == std::vector<std::int64_t>({0, 0}));
  BOOST_TEST(r.kinks[1].index == std::vector<std::int64_t>({1, 1}));
  for (const Kink& k : r.kinks) {
    BOOST_TEST(std::abs(k.left) < 1e-9);
    BOOST_TEST(std::abs(k.right) > 1e-3);  // a random rⱼ, almost surely not near 0
  }
  BOOST_TEST(r.message.find("not differentiable at x[0, 0]") != std::string::npos, r.message);
  BOOST_TEST(r.message.find("not differentiable at x[1, 1]") != std::string::npos, r.message);
  BOOST_TEST(r.message.find("not counted as failures") != std::string::npos, r.message);
}

BOOST_AUTO_TEST_CASE(abs_at_zero_passes_and_an_asymmetric_kink_is_listed) {
  // |x| at 0 needs no excuse: the engine's value there, sign(0) = 0, is exactly the central
  // difference (|ε| − |−ε|) / 2ε = 0, the average of the slopes −1 and 1. Only elements that
  // fail are examined for kinks, so none is listed.
  const Tensor x = tensor({1.5, 0.0, -2.0}).name("x");
  const auto abs_sum = [](const std::vector<Tensor>& in) { return sum(gradlab::abs(in[0])); };
  const GradcheckResult r = gradcheck(abs_sum, {x});
  BOOST_TEST(r.ok, r.message);
  BOOST_TEST(r.kinks.empty(), r.message);

  // |x| + relu(x) bends from slope −1 to slope 2: the central difference is ½, the engine
  // says 0 + 0 = 0, between the two one-sided values.
  const auto bent = [](const std::vector<Tensor>& in) {
    return sum(gradlab::abs(in[0]) + relu(in[0]));
  };
  const GradcheckResult rb = gradcheck(bent, {x});
  BOOST_TEST(rb.ok, rb.message);
  BOOST_TEST_REQUIRE(rb.kinks.size() == 1u);
  BOOST_TEST(rb.kinks[0].index == std::vector<std::int64_t>({1}));
  BOOST_TEST(rb.kinks[0].left == -1.0, boost::test_tools::tolerance(1e-7));
  BOOST_TEST(rb.kinks[0].right == 2.0, boost::test_tools::tolerance(1e-7));
  BOOST_TEST(rb.message.find("not differentiable at x[1]: left derivative -1, right "
                             "derivative 2; not counted as a failure") != std::string::npos,
             rb.message);
}

BOOST_AUTO_TEST_CASE(a_tie_in_max_pooling_is_a_kink_for_both_equal_values) {
  // The window [[1, 3], [3, 2]] has two maxima. Raising either one makes it the maximum
  // (right derivative 1); lowering it leaves the other (left derivative 0). The engine
  // gives the first one 1 and the second 0: each is one of its one-sided values.
  const Tensor x = from_vector({1, 3, 3, 2}, {1, 1, 2, 2}).name("image");
  const auto f = [](const std::vector<Tensor>& in) { return sum(max_pool2d(in[0], 2)); };
  const GradcheckResult r = gradcheck(f, {x});
  BOOST_TEST(r.ok, r.message);
  BOOST_TEST_REQUIRE(r.kinks.size() == 2u);
  BOOST_TEST(r.kinks[0].index == std::vector<std::int64_t>({0, 0, 0, 1}));
  BOOST_TEST(r.kinks[1].index == std::vector<std::int64_t>({0, 0, 1, 0}));
  for (const Kink& k : r.kinks) {
    BOOST_TEST(k.input == "image");
    BOOST_TEST(k.left == 0.0, boost::test_tools::tolerance(1e-7));
    BOOST_TEST(k.right == 1.0, boost::test_tools::tolerance(1e-7));
  }
  BOOST_TEST(r.message.find("not differentiable at image[0, 0, 0, 1]: left derivative 0, "
                            "right derivative 1") != std::string::npos,
             r.message);
  BOOST_TEST(r.message.find("not differentiable at image[0, 0, 1, 0]") != std::string::npos,
             r.message);
}

BOOST_AUTO_TEST_CASE(gradgradcheck_at_kinks_lists_them_and_passes) {
  // relu′ and the pooling's routing are steps: at the kink the gradient itself jumps, so
  // its one-sided difference quotients grow like 1/ε. That is no bug either.
  const Tensor x = tensor({{0.5, -1.0, 0.0}}).name("x");
  const auto relu_sum = [](const std::vector<Tensor>& in) { return sum(relu(in[0])); };
  const GradcheckResult r = gradgradcheck(relu_sum, {x});
  BOOST_TEST(r.ok, r.message);
  BOOST_TEST_REQUIRE(r.kinks.size() == 1u);
  BOOST_TEST(r.kinks[0].input == "x");
  BOOST_TEST(r.kinks[0].index == std::vector<std::int64_t>({0, 2}));
  BOOST_TEST(r.message.find("gradgradcheck: ok") == 0u, r.message);

  const Tensor tie = from_vector({1, 3, 3, 2}, {1, 1, 2, 2}).name("image");
  const auto pool = [](const std::vector<Tensor>& in) { return max_pool2d(in[0], 2); };
  const GradcheckResult rp = gradgradcheck(pool, {tie});
  BOOST_TEST(rp.ok, rp.message);
  BOOST_TEST(rp.kinks.size() == 2u, rp.message);
}

BOOST_AUTO_TEST_CASE(a_wrong_gradient_at_a_kink_still_fails) {
  // relu(x) + 5·(x − detach(x)) has relu's value, but its gradient is 5 too high. At 0 the
  // one-sided derivatives are 0 and 1; 5 is not between them, so that is no kink excuse.
  const Tensor x = tensor({0.0}).name("x");
  const auto f = [](const std::vector<Tensor>& in) {
    return sum(relu(in[0]) + 5.0 * (in[0] - in[0].detach()));
  };
  const GradcheckResult r = gradcheck(f, {x});
  BOOST_TEST(!r.ok, r.message);
  BOOST_TEST(r.kinks.empty());
  BOOST_TEST(r.message.find("gradcheck: MISMATCH, worst element x[0]") == 0u, r.message);
  BOOST_TEST(
      r.message.find("not differentiable there (left derivative 0, right derivative 1)"
                     ", but the analytical value is not between the two") != std::string::npos,
      r.message);
}

BOOST_AUTO_TEST_CASE(a_wrong_backward_at_a_smooth_point_is_never_taken_for_a_kink) {
  // Functions with deliberately wrong gradients (g ∘ detach(g) has the value g² but the
  // gradient g′·g, half the truth), at many points from −4 to 4 and very close to 0.
  // Every failing element gets the kink test, and none may pass it.
  std::vector<double> points;
  for (int k = -40; k <= 40; ++k) points.push_back(0.1 * k);
  for (double v : {1e-5, -3e-5, 2e-4, -7e-4, 1e-3}) points.push_back(v);
  const Tensor x = from_vector(points, {std::int64_t(points.size())}).name("x");
  const std::vector<std::pair<const char*, Function>> wrong = {
      {"e^2x", [](const std::vector<Tensor>& in) { return exp(in[0]) * exp(in[0]).detach(); }},
      {"sigmoid(3x)^2",
       [](const std::vector<Tensor>& in) {
         return sigmoid(3.0 * in[0]) * sigmoid(3.0 * in[0]).detach();
       }},
      {"1000x^2", [](const std::vector<Tensor>& in) { return 1000.0 * in[0] * in[0].detach(); }},
  };
  for (const auto& [name, f] : wrong) {
    BOOST_TEST_CONTEXT(name) {
      const GradcheckResult r = gradcheck(f, {x});
      BOOST_TEST(!r.ok, r.message);
      BOOST_TEST(r.kinks.empty(), r.message);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_steep_parabola_is_no_kink) {
  // At the bottom of L = 1000·x², L′ = 0 but the one-sided quotients are ∓1000·ε = ∓10⁻³,
  // which differ by more than atol. Their gap shrinks with ε, though, as no kink's does, so
  // a gradient wrong by 5·10⁻⁴ (between them!) must still fail.
  const Tensor x = tensor({0.0}).name("x");
  const auto f = [](const std::vector<Tensor>& in) {
    return sum(1000.0 * in[0] * in[0] + 5e-4 * (in[0] - in[0].detach()));
  };
  const GradcheckResult r = gradcheck(f, {x});
  BOOST_TEST(!r.ok, r.message);
  BOOST_TEST(r.kinks.empty(), r.message);
}

BOOST_AUTO_TEST_CASE(a_kink_free_function_lists_no_kinks) {
  Generator gen(8);
  const Tensor x = (3.0 * randn({4, 5}, gen)).name("x");
  const auto f = [](const std::vector<Tensor>& in) {
    return exp(0.5 * in[0]) * sigmoid(in[0]) + tanh(in[0]);
  };
  const GradcheckResult r = gradcheck(f, {x});
  BOOST_TEST(r.ok, r.message);
  BOOST_TEST(r.kinks.empty());
  BOOST_TEST(r.message.find("not differentiable") == std::string::npos, r.message);
  const GradcheckResult rr = gradgradcheck(f, {x});
  BOOST_TEST(rr.ok, rr.message);
  BOOST_TEST(rr.kinks.empty());
}

// ------------------------------------------------------------------------- step-size sweep

BOOST_AUTO_TEST_CASE(the_step_size_sweep_has_its_minimum_in_the_middle) {
  // Truncation error ∝ ε² dominates large steps, round-off ∝ 10⁻¹⁶/ε tiny ones.
  Generator gen(9);
  const Tensor x = randn({2, 3}, gen).name("x");
  const auto f = [](const std::vector<Tensor>& in) {
    return exp(in[0]) * tanh(in[0]) + sigmoid(2.0 * in[0]);
  };
  const std::vector<StepError> sweep = gradcheck_sweep(f, {x});
  BOOST_TEST_REQUIRE(sweep.size() == 10u);
  std::map<double, double> error;  // by step
  for (const StepError& e : sweep) error[e.step] = e.error;
  BOOST_TEST(sweep.front().step == 1e-1);
  BOOST_TEST(sweep.back().step == 1e-10);
  BOOST_TEST(error[1e-1] > error[1e-4]);
  BOOST_TEST(error[1e-1] > error[1e-5]);
  BOOST_TEST(error[1e-10] > error[1e-5]);
  // ε 10× smaller, truncation error about 100× smaller.
  const double ratio = error[1e-1] / error[1e-2];
  BOOST_TEST((30 < ratio && ratio < 300), "error(1e-1) / error(1e-2) = " << ratio);
}

BOOST_AUTO_TEST_CASE(the_step_size_sweep_takes_any_steps_and_rejects_bad_ones) {
  const Tensor x = tensor({0.3, -0.7}).name("x");
  const auto f = [](const std::vector<Tensor>& in) { return exp(in[0]); };
  const std::vector<StepError> sweep = gradcheck_sweep(f, {x}, {1e-3, 0.5});
  BOOST_TEST_REQUIRE(sweep.size() == 2u);
  BOOST_TEST(sweep[0].step == 1e-3);
  // For eˣ projected on r: error ≈ maxⱼ |rⱼ|·eˣʲ·ε²/6, so a step 500× larger errs ≈ 250000× more.
  BOOST_TEST(sweep[1].error > 1e4 * sweep[0].error);
  BOOST_CHECK_THROW(gradcheck_sweep(f, {x}, {1e-3, 0.0}), ValueError);
  BOOST_CHECK_THROW(gradcheck_sweep(f, {x}, {-1e-3}), ValueError);
}
