#define BOOST_TEST_MODULE seed_network
#include <boost/test/unit_test.hpp>
#include <gradlab/gradlab.hpp>

using namespace gradlab;

// The 3-4-2 sigmoid network the tutorials teach:
//   h = σ(x·W),  ŷ = σ(h·V),  C = ½‖ŷ − t‖²
// and its backprop written by hand with Hadamard products:
//   δ_out = (ŷ − t) ∘ ŷ ∘ (1 − ŷ),       ∂C/∂V = hᵀ δ_out
//   δ_hid = (δ_out Vᵀ) ∘ h ∘ (1 − h),     ∂C/∂W = xᵀ δ_hid
struct SeedNetwork {
  Tensor x = tensor({{0.5, -1.0, 2.0}}).name("x");
  Tensor t = tensor({{1.0, 0.0}}).name("t");
  Tensor W, V;
  SeedNetwork() {
    Generator gen(2024);
    W = randn({3, 4}, gen).set_requires_grad().name("W");
    V = randn({4, 2}, gen).set_requires_grad().name("V");
  }
  Tensor loss(const Tensor& W_, const Tensor& V_) const {
    const Tensor y = sigmoid(matmul(sigmoid(matmul(x, W_)), V_));
    return 0.5 * sum(pow(y - t, 2));
  }
};

BOOST_AUTO_TEST_CASE(engine_gradients_equal_the_hand_derived_formulas) {
  SeedNetwork net;
  const Tensor h = sigmoid(matmul(net.x, net.W));
  const Tensor y = sigmoid(matmul(h, net.V));
  const Tensor C = 0.5 * sum(pow(y - net.t, 2));
  C.backward();

  no_grad plain;
  const Tensor delta_out = (y - net.t) * y * (1.0 - y);
  const Tensor dV = matmul(transpose(h), delta_out);
  const Tensor delta_hid = matmul(delta_out, transpose(net.V)) * h * (1.0 - h);
  const Tensor dW = matmul(transpose(net.x), delta_hid);

  BOOST_TEST(net.V.grad().shape() == Shape({4, 2}));
  BOOST_TEST(net.W.grad().shape() == Shape({3, 4}));
  BOOST_TEST(max_abs_diff(net.V.grad(), dV) <= 1e-12);
  BOOST_TEST(max_abs_diff(net.W.grad(), dW) <= 1e-12);
  // Not vacuous: the gradients are far from zero.
  BOOST_TEST(max_abs_diff(dV, zeros_like(dV)) > 1e-3);
  BOOST_TEST(max_abs_diff(dW, zeros_like(dW)) > 1e-3);
}

BOOST_AUTO_TEST_CASE(the_outer_product_form_of_dC_dV) {
  // With one example, hᵀ δ_out is the outer product of the row vectors h and δ_out.
  SeedNetwork net;
  const Tensor h = sigmoid(matmul(net.x, net.W));
  const Tensor y = sigmoid(matmul(h, net.V));
  (0.5 * sum(pow(y - net.t, 2))).backward();
  no_grad plain;
  const Tensor delta_out = (y - net.t) * y * (1.0 - y);
  const Tensor dV = outer(reshape(h, {4}), reshape(delta_out, {2}));
  BOOST_TEST(max_abs_diff(net.V.grad(), dV) <= 1e-12);
}

BOOST_AUTO_TEST_CASE(seed_network_passes_gradcheck_and_gradgradcheck) {
  SeedNetwork net;
  const auto f = [&net](const std::vector<Tensor>& p) { return net.loss(p[0], p[1]); };
  const GradcheckResult r = gradcheck(f, {net.W, net.V});
  BOOST_TEST(r.ok, r.message);
  const GradcheckResult rr = gradgradcheck(f, {net.W, net.V});
  BOOST_TEST(rr.ok, rr.message);
}

BOOST_AUTO_TEST_CASE(gradient_descent_lowers_the_loss) {
  SeedNetwork net;
  SGD opt({net.W, net.V}, 0.5);
  const double before = net.loss(net.W, net.V).item();
  for (int step = 0; step < 100; ++step) {
    opt.zero_grad();
    net.loss(net.W, net.V).backward();
    opt.step();
  }
  const double after = net.loss(net.W, net.V).item();
  BOOST_TEST(after < 0.25 * before);
}
