// 8. Write your own op.
//
//   my_softplus(x) = ln(1 + eˣ)  its derivative: σ(x)  (gradlab has its own softplus, ops/layers)
//   swish(x)    = x·σ(x)         its derivative: σ(x) + x·σ(x)·(1 − σ(x))
//
// Two new elementwise ops, defined here the way src/gradlab/ops/elementwise.cpp defines the built-in
// ones: an OpInfo declared once (name, formula, gradient text), a forward that computes the
// numbers, and record(), which attaches the backward formula to the output. The backward is
// written with gradlab's own ops, so the engine can differentiate it again (grad-of-grad).
// The program checks the forward against the formula, the backward against finite
// differences, catches a backward with a missing factor, and trains a small network with
// softplus as its activation.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <string>

#include "gradlab/kernels/loops.hpp"  // unary_map: the elementwise loop the ops in ops/ use
#include "tutorial.hpp"

using namespace gradlab;

namespace {

// ---- softplus ----

// Declared once: the op's name, what it computes, and the gradient its backward sends to
// its input, with G = ∂L/∂output. Diagrams print this text on the op's edges, and the op
// joins all_ops(), the list docs/ops.md is made from.
const OpInfo softplus_op{"my_softplus", "ln(1 + eˣ)", {"∂x = G ∘ σ(x)"}};

Tensor my_softplus(const Tensor& x, Here where = Here::current()) {
  const CallSite site(where);  // anomaly messages name the caller's line, as for built-in ops
  // Forward. Written as ln(1 + eˣ), e^1000 overflows to infinity. The same number is
  //   ln(1 + eˣ) = max(x, 0) + ln(1 + e^(−|x|))
  // (for x > 0, take eˣ out of the log: ln(eˣ·(e^(−x) + 1)) = x + ln(1 + e^(−x))), where
  // e^(−|x|) ≤ 1 cannot overflow, and log1p(y) = ln(1 + y) stays exact for tiny y.
  Tensor out = kernels::unary_map(x, [](auto v) {
    using T = decltype(v);
    return std::max(v, T(0)) + std::log1p(std::exp(-std::abs(v)));
  });
  // Backward: d/dx ln(1 + eˣ) = eˣ / (1 + eˣ) = σ(x). Built from gradlab ops (∘ and sigmoid),
  // so with create_graph the engine records it too and can take its derivative.
  return record(softplus_op, out, {x},
                [](const BackwardContext& c) { return Grads{c.grad * sigmoid(c.inputs[0])}; });
}

// The same op with a classic mistake in its backward. The chain rule through ln gives
//   d/dx ln(1 + eˣ) = 1/(1 + eˣ) · eˣ
// and this backward forgets the first factor, returning eˣ.
const OpInfo softplus_forgetful_op{"softplus_forgetful", "ln(1 + eˣ)", {"∂x = G ∘ eˣ"}};

Tensor softplus_forgetful(const Tensor& x) {
  Tensor out = kernels::unary_map(x, [](auto v) {
    using T = decltype(v);
    return std::max(v, T(0)) + std::log1p(std::exp(-std::abs(v)));
  });
  return record(softplus_forgetful_op, out, {x}, [](const BackwardContext& c) {
    return Grads{c.grad * exp(c.inputs[0])};  // wrong: missing ∘ 1/(1 + eˣ)
  });
}

// ---- swish ----

// σ(v) for one number, with no overflow either way: for v < 0, σ(v) = eᵛ / (1 + eᵛ).
template <class T>
T logistic(T v) {
  if (v >= 0) return T(1) / (T(1) + std::exp(-v));
  const T e = std::exp(v);
  return e / (T(1) + e);
}

const OpInfo swish_op{"swish", "x ∘ σ(x)", {"∂x = G ∘ (σ(x) + x ∘ σ(x) ∘ (1 − σ(x)))"}};

Tensor swish(const Tensor& x, Here where = Here::current()) {
  const CallSite site(where);
  Tensor out = kernels::unary_map(x, [](auto v) { return v * logistic(v); });
  // Product rule: d/dx x·σ(x) = 1·σ(x) + x·σ′(x), and σ′(x) = σ(x)·(1 − σ(x)).
  return record(swish_op, out, {x}, [](const BackwardContext& c) {
    const Tensor& x = c.inputs[0];
    const Tensor s = sigmoid(x);
    return Grads{c.grad * (s + x * s * (1.0 - s))};
  });
}

// ---- checking against the formulas, one number at a time ----

double softplus_formula(double x) { return std::log(1 + std::exp(x)); }  // fine for small |x|
double sigma_formula(double x) { return 1 / (1 + std::exp(-x)); }

bool close(double a, double b) { return std::abs(a - b) <= 1e-12 + 1e-12 * std::abs(b); }

}  // namespace

int main(int argc, char** argv) {
  tutorial::Tutorial t(argc, argv, "8. Write your own op",
                       "softplus and swish, defined, checked and used in a network");

  t.section("1. softplus: the forward pass against the formula");
  const Tensor x = tensor({-2.0, -0.5, 0.0, 1.0, 3.0}).set_requires_grad().name("x");
  const Tensor y = my_softplus(x);
  std::cout << "x                 " << std::fixed << std::setprecision(6);
  for (double v : x.values()) std::cout << std::setw(11) << v;
  std::cout << "\nsoftplus(x)       ";
  for (double v : y.values()) std::cout << std::setw(11) << v;
  std::cout << "\nln(1 + eˣ) by hand";
  bool forward_right = true;
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const double expected = softplus_formula(x.at({i}));
    std::cout << std::setw(11) << expected;
    forward_right = forward_right && close(y.at({i}), expected);
  }
  std::cout << '\n' << std::defaultfloat;
  t.claim(forward_right, "my_softplus(x) equals ln(1 + eˣ) at x = −2, −0.5, 0, 1, 3");
  std::cout << "the op's declaration:  " << softplus_op.name << " = " << softplus_op.formula
            << ",  " << softplus_op.gradients[0] << '\n';
  const auto ops = all_ops();
  t.claim(std::any_of(ops.begin(), ops.end(), [](const OpInfo* op) { return op == &softplus_op; }),
          "all_ops() lists softplus beside the built-in ops");

  t.section("2. softplus: the backward pass");
  sum(y).backward();  // ∂/∂xᵢ Σ my_softplus(x) = σ(xᵢ)
  std::cout << "x.grad = " << x.grad() << '\n';
  bool backward_right = true;
  for (std::int64_t i = 0; i < x.numel(); ++i)
    backward_right = backward_right && close(x.grad().at({i}), sigma_formula(x.at({i})));
  t.claim(backward_right, "the gradient of Σ my_softplus(x) is σ(x), element by element");

  Generator gen(42);
  const Tensor x_random = (2.0 * randn({2, 3}, gen)).name("x");
  const auto softplus_f = [](const std::vector<Tensor>& in) { return my_softplus(in[0]); };
  const GradcheckResult first = gradcheck(softplus_f, {x_random});
  const GradcheckResult second = gradgradcheck(softplus_f, {x_random});
  std::cout << first.message << '\n' << second.message << '\n';
  t.claim(first.ok, "gradcheck passes for softplus (float64, random 2×3 input)");
  t.claim(second.ok, "gradgradcheck passes for softplus: its backward can be differentiated");

  // The backward pass recorded (create_graph), then differentiated once more. G is the
  // gradient arriving at softplus's output, here all ones.
  //   d/dz softplus = σ(z),   d²/dz² softplus = d/dz σ(z) = σ(z)·(1 − σ(z))
  Tensor z = tensor({-1.0, 0.0, 2.0}).set_requires_grad().name("z");
  const Tensor G = ones({3}).name("G");
  const Tensor soft = my_softplus(z);
  const Tensor slope = grad({soft}, {z}, {.grad_outputs = {G}, .create_graph = true})[0];
  const Tensor curvature = grad({sum(slope)}, {z})[0];
  std::cout << "z = " << z << "\nd/dz my_softplus(z) = " << slope
            << "\nd²/dz² my_softplus(z) = " << curvature << '\n';
  bool curvature_right = true;
  for (std::int64_t i = 0; i < z.numel(); ++i) {
    const double s = sigma_formula(z.at({i}));
    curvature_right = curvature_right && close(curvature.at({i}), s * (1 - s));
  }
  t.claim(curvature_right, "the second derivative is σ(z)·(1 − σ(z)) at z = −1, 0, 2");
  t.diagram(
      "custom_op_backward",
      to_dot({soft}, {.show_values = true,
                      .formulas = true,
                      .gradients = {{slope, z}},
                      .title = "softplus's backward, recorded: G ∘ σ(z), built of gradlab ops"}));

  t.section("3. A forgotten factor, caught by gradcheck");
  // Checked through L = Σ my_softplus(x), so that each element's numbers are ∂L/∂xᵢ itself:
  // at x = 2 the backward returns e² = 7.389 where the slope is σ(2) = 0.881. At −1 and
  // 0.5, eˣ is wrong by less, so x[2] is the worst element.
  const GradcheckResult wrong =
      gradcheck([](const std::vector<Tensor>& in) { return sum(softplus_forgetful(in[0])); },
                {tensor({-1.0, 0.5, 2.0}).name("x")});
  std::cout << wrong.message << '\n';
  t.claim(!wrong.ok, "gradcheck fails for the backward that returns eˣ instead of σ(x)");
  t.claim(wrong.message.find("worst element x[2]") != std::string::npos &&
              std::abs(wrong.analytical - std::exp(2.0)) < 1e-9 &&
              std::abs(wrong.numerical - sigma_formula(2.0)) < 1e-6,
          "its message names the worst element, x[2]: analytical e² = 7.389, numerical σ(2) = "
          "0.881");
  // e² / σ(2) = e²·(1 + e⁻²) = e² + 1: the ratio is the forgotten factor 1 + eˣ.
  t.claim(std::abs(wrong.analytical / wrong.numerical - (1 + std::exp(2.0))) < 1e-5,
          "analytical / numerical = 1 + e² = 8.389, the forgotten factor");

  t.section("4. Numerical care: my_softplus(1000)");
  const Tensor big = tensor({-1000.0, 1000.0}).set_requires_grad().name("big");
  const Tensor naive = log(1.0 + exp(big));  // ln(1 + eˣ) as written
  const Tensor careful = my_softplus(big);
  std::cout << "ln(1 + exp(x)) written out: " << naive
            << "\nsoftplus(x):                " << careful << '\n';
  t.claim(std::isinf(naive.at({1})), "written out, ln(1 + e¹⁰⁰⁰) overflows to infinity");
  // ln(1 + e¹⁰⁰⁰) = 1000 + ln(1 + e⁻¹⁰⁰⁰), and e⁻¹⁰⁰⁰ ≈ 10⁻⁴³⁴ is far below what a double
  // adds to 1000; ln(1 + e⁻¹⁰⁰⁰) ≈ e⁻¹⁰⁰⁰ rounds to 0.
  t.claim(careful.at({1}) == 1000.0 && careful.at({0}) == 0.0,
          "my_softplus(1000) = 1000 and my_softplus(−1000) = 0: finite and right");
  sum(careful).backward();
  std::cout << "its gradient σ(x): " << big.grad() << '\n';
  t.claim(big.grad().at({0}) == 0.0 && big.grad().at({1}) == 1.0,
          "the gradient there is σ(−1000) = 0 and σ(1000) = 1");
  // float32 overflows much sooner: its largest number is 3.4·10³⁸ < e⁸⁹ ≈ 4.5·10³⁸.
  const Tensor x89 = tensor({89.0}, DType::float32).name("x89");
  std::cout << "in float32 at x = 89:  written out " << log(1.0 + exp(x89)).item() << ", softplus "
            << my_softplus(x89).item() << '\n';
  t.claim(std::isinf(log(1.0 + exp(x89)).item()) && my_softplus(x89).item() == 89.0,
          "in float32, written out fails already at x = 89, while my_softplus(89) = 89");

  t.section("5. swish, briefly");
  const Tensor w = tensor({-2.0, 0.0, 1.5}).set_requires_grad().name("w");
  const Tensor sw = swish(w);
  sum(sw).backward();
  std::cout << "swish(w) = " << sw << "\nits gradient = " << w.grad() << '\n';
  bool swish_right = true;
  for (std::int64_t i = 0; i < w.numel(); ++i) {
    const double v = w.at({i}), s = sigma_formula(v);
    swish_right =
        swish_right && close(sw.at({i}), v * s) && close(w.grad().at({i}), s + v * s * (1 - s));
  }
  t.claim(swish_right, "swish(w) = w·σ(w) and its gradient σ(w) + w·σ(w)(1 − σ(w)) at −2, 0, 1.5");
  t.claim(w.grad().at({0}) < 0, "swish falls at w = −2: its gradient there is negative");
  const auto swish_f = [](const std::vector<Tensor>& in) { return swish(in[0]); };
  const GradcheckResult swish_first = gradcheck(swish_f, {x_random});
  const GradcheckResult swish_second = gradgradcheck(swish_f, {x_random});
  std::cout << swish_first.message << '\n' << swish_second.message << '\n';
  t.claim(swish_first.ok && swish_second.ok, "gradcheck and gradgradcheck pass for swish");

  t.section("6. softplus inside a network");
  // h = my_softplus(X·W), ŷ = h·V, C = mean((ŷ − T)²): 8 examples, 3 inputs, 4 hidden units.
  const Tensor X = randn({8, 3}, gen).name("X");
  const Tensor T = randn({8, 1}, gen).name("T");
  Tensor W = (0.5 * randn({3, 4}, gen)).set_requires_grad().name("W");
  Tensor V = (0.5 * randn({4, 1}, gen)).set_requires_grad().name("V");
  // `hidden`, when given, receives h (for the diagram).
  const auto network_loss = [&X, &T](const Tensor& W_, const Tensor& V_, Tensor* hidden = nullptr) {
    Tensor h;
    {
      cluster layer("hidden layer: h = my_softplus(X·W)");
      h = my_softplus(matmul(X, W_)).name("h");
    }
    if (hidden) *hidden = h;
    return mse_loss(matmul(h, V_).name("ŷ"), T).name("C");
  };
  Tensor h;
  const Tensor C = network_loss(W, V, &h);
  t.diagram("custom_op_network",
            to_dot({C}, {.formulas = true,
                         .colours = {{h, "#ffc680"}},
                         .title = "softplus in a network: its own gradient text on its edge"}));
  const GradcheckResult network_check =
      gradcheck([&](const std::vector<Tensor>& p) { return network_loss(p[0], p[1]); }, {W, V});
  std::cout << network_check.message << '\n';
  t.claim(network_check.ok, "gradcheck passes for the network's W and V");

  const int steps = t.quick() ? 30 : 200;
  SGD optimizer({W, V}, 0.1);
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < steps; ++step) {
    optimizer.zero_grad();
    const Tensor loss = network_loss(W, V);
    loss.backward();
    optimizer.step();
    last_loss = loss.item();
    if (step == 0) first_loss = last_loss;
    if (step % (steps / 5) == 0 || step + 1 == steps)
      std::cout << "step " << std::setw(3) << step << "  loss " << last_loss << '\n';
  }
  t.claim(last_loss < 0.5 * first_loss,
          "gradient descent through softplus more than halves the loss");
  return t.finish();
}
