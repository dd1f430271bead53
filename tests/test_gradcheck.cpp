#define BOOST_TEST_MODULE gradcheck
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <gradlab/gradlab.hpp>

#include "engine/kernels.hpp"  // unary_map, for a hand-made op

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
