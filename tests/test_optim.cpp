#define BOOST_TEST_MODULE optim
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <gradlab/gradlab.hpp>

#include "testing.hpp"

using namespace gradlab;
using namespace gradlab::testing;
namespace tt = boost::test_tools;

Tensor param(std::initializer_list<double> v, const char* name) {
  Tensor p = from_vector(v, {static_cast<std::int64_t>(v.size())});
  p.set_requires_grad().name(name);
  return p;
}

// L = Σ c ∘ p has the constant gradient c, which makes each update easy to work out.
void linear_loss_backward(const Tensor& p, const Tensor& c) { sum(c * p).backward(); }

BOOST_AUTO_TEST_CASE(sgd_steps_against_the_gradient) {
  Tensor p = param({1.0, -2.0}, "p");
  SGD opt({p}, 0.1);
  linear_loss_backward(p, tensor({3.0, -1.0}));
  opt.step();  // p − 0.1·c
  BOOST_TEST(p.at({0}) == 1.0 - 0.3, tt::tolerance(1e-15));
  BOOST_TEST(p.at({1}) == -2.0 + 0.1, tt::tolerance(1e-15));
}

BOOST_AUTO_TEST_CASE(sgd_momentum_builds_velocity) {
  Tensor p = param({0.0}, "p");
  SGD opt({p}, 0.1, 0.9);
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    linear_loss_backward(p, tensor({1.0}));
    opt.step();
  }
  // velocities 1, 1.9, 2.71; p = −0.1·(1 + 1.9 + 2.71)
  BOOST_TEST(p.item() == -0.561, tt::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(adam_first_steps_match_the_formula) {
  Tensor p = param({1.0, 1.0}, "p");
  Adam opt({p}, 0.01);
  const Tensor c = tensor({2.0, -0.5});
  linear_loss_backward(p, c);
  opt.step();
  // Step 1: m̂ = g, v̂ = g², so the step is lr·g/(|g| + ε) ≈ lr·sign(g).
  BOOST_TEST(p.at({0}) == 1.0 - 0.01 * 2.0 / (2.0 + 1e-8), tt::tolerance(1e-14));
  BOOST_TEST(p.at({1}) == 1.0 + 0.01 * 0.5 / (0.5 + 1e-8), tt::tolerance(1e-14));
  // Step 2 with the same gradient: m̂ = g and v̂ = g² again, the same step.
  opt.zero_grad();
  linear_loss_backward(p, c);
  opt.step();
  BOOST_TEST(p.at({0}) == 1.0 - 2 * 0.01 * 2.0 / (2.0 + 1e-8), tt::tolerance(1e-14));
}

BOOST_AUTO_TEST_CASE(adam_minimises_a_quadratic) {
  Tensor p = param({3.0, -4.0}, "p");
  Adam opt({p}, 0.1);
  for (int i = 0; i < 500; ++i) {
    opt.zero_grad();
    sum(pow(p - tensor({1.0, 2.0}), 2)).backward();
    opt.step();
  }
  BOOST_TEST(p.at({0}) == 1.0, tt::tolerance(1e-2));
  BOOST_TEST(p.at({1}) == 2.0, tt::tolerance(1e-2));
}

BOOST_AUTO_TEST_CASE(float32_parameters_update_too) {
  Tensor p = tensor({1.0f}, DType::float32);
  p.set_requires_grad();
  SGD opt({p}, 0.5);
  sum(p * p).backward();
  opt.step();  // 1 − 0.5·2
  BOOST_TEST(p.item() == 0.0);
}

BOOST_AUTO_TEST_CASE(parameters_without_gradient_are_left_alone) {
  Tensor used = param({1.0}, "used"), unused = param({5.0}, "unused");
  SGD opt({used, unused}, 1.0);
  sum(used).backward();
  opt.step();
  BOOST_TEST(used.item() == 0.0);
  BOOST_TEST(unused.item() == 5.0);
}

BOOST_AUTO_TEST_CASE(bad_parameters_and_rates_are_rejected) {
  Tensor p = param({1.0}, "p");
  BOOST_CHECK_EXCEPTION(SGD({tensor({1.0}).name("c")}, 0.1), GraphError,
                        says("parameter 0 ('c') must be a leaf that requires grad"));
  BOOST_CHECK_EXCEPTION(SGD({p * 2.0}, 0.1), GraphError, says("must be a leaf"));
  BOOST_CHECK_EXCEPTION(SGD({p}, -1.0), ValueError, says("SGD: lr"));
  BOOST_CHECK_EXCEPTION(SGD({p}, 0.1, 1.5), ValueError,
                        says("SGD: momentum = 1.500000 must lie in [0, 1)"));
  BOOST_CHECK_EXCEPTION(Adam({p}, 0.1, 0.9, 1.2), ValueError, says("Adam: beta2"));
}

BOOST_AUTO_TEST_CASE(decay_rates_of_one_and_infinite_rates_are_rejected) {
  Tensor p = param({1.0}, "p");
  // β = 1 would divide by 1 − βᵗ = 0 in Adam's bias correction.
  BOOST_CHECK_EXCEPTION(Adam({p}, 0.1, 1.0), ValueError,
                        says("Adam: beta1 = 1.000000 must lie in [0, 1)"));
  BOOST_CHECK_EXCEPTION(SGD({p}, INFINITY), ValueError, says("SGD: lr = inf must be a finite"));
}

// SGD({P, P}) would step P twice per step(); listing a parameter twice is refused.
BOOST_AUTO_TEST_CASE(a_parameter_listed_twice_is_a_value_error) {
  Tensor p = param({1.0, 2.0}, "p"), q = param({3.0}, "q");
  BOOST_CHECK_EXCEPTION(SGD({p, q, p}, 0.1), ValueError,
                        says("optimizer: parameter 2 ('p') is parameter 0 again: each step would "
                             "update it twice; list every parameter once"));
  BOOST_CHECK_EXCEPTION(Adam({q, q}), ValueError, says("parameter 1 ('q') is parameter 0 again"));
  Tensor view = p.detach().set_requires_grad();  // a leaf over p's numbers
  BOOST_CHECK_EXCEPTION(SGD({p, view}, 0.1), ValueError,
                        says("parameter 1 is parameter 0 again (a view of its numbers)"));
}

// An optimizer's step changes the parameters in place: a graph recorded before it and
// back-propagated after it would see the new numbers, so its backward refuses to run.
BOOST_AUTO_TEST_CASE(a_step_between_forward_and_backward_is_a_graph_error) {
  Tensor w = param({1.0, 2.0}, "w");
  SGD sgd({w}, 0.1);
  const Tensor first = sum(w * w);
  first.backward({.retain_graph = true});
  sgd.step();
  BOOST_CHECK_EXCEPTION(first.backward(), GraphError,
                        says("the input 0 ('w') [2] of 'hadamard' was at version"));

  Tensor v = param({1.0, 2.0}, "v");
  Adam adam({v});
  sum(v * v).backward();
  const Tensor pending = sum(v * v);  // recorded before the step
  adam.step();
  BOOST_CHECK_EXCEPTION(pending.backward(), GraphError, says("('v') [2] of 'hadamard'"));
}
