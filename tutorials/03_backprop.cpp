// Tutorial 3: backprop with Hadamard products.
//
//   δ_out = (ŷ − t) ∘ ŷ ∘ (1 − ŷ)        ∂C/∂V = hᵀ · δ_out
//   δ_hid = (δ_out · Vᵀ) ∘ h ∘ (1 − h)   ∂C/∂W = xᵀ · δ_hid
//
// Derives the seed network's gradients by hand, compares them with the engine's and with
// finite differences, draws the backward pass as a graph, lets the checker catch three
// classic slips, and trains the network by gradient descent.
#include <iomanip>
#include <iostream>
#include <sstream>

#include "tutorial.hpp"

using namespace gradlab;

namespace {

// The network of tutorial 2, its steps named so that the checker can refer to them:
//   h = σ(x · W),  z = h · V,  ŷ = σ(z),  C = ½‖ŷ − t‖²
struct SeedNetwork {
  Tensor x = tensor({{0.5, -1.0, 2.0}}).name("x");
  Tensor t = tensor({{1.0, 0.0}}).name("t");
  Tensor W, V;

  SeedNetwork() {
    Generator gen(42);
    W = randn({3, 4}, gen).set_requires_grad().name("W");
    V = randn({4, 2}, gen).set_requires_grad().name("V");
  }

  // The cost for weights (W, V), as the checker and gradcheck want it: a function of them.
  Function cost() const {
    return [this](const std::vector<Tensor>& p) {
      Tensor h, y;
      {
        cluster layer("hidden layer");
        h = sigmoid(matmul(x, p[0])).name("h");
      }
      {
        cluster layer("output layer");
        y = sigmoid(matmul(h, p[1]).name("z")).name("ŷ");
      }
      return (0.5 * sum(pow(y - t, 2))).name("C");
    };
  }
};

bool mentions(const ClaimReport& c, const std::string& text) {
  for (const std::string& d : c.diagnoses)
    if (d.find(text) != std::string::npos) return true;
  return false;
}

const ClaimReport* find_claim(const CheckReport& r, const std::string& name) {
  for (const ClaimReport& c : r.claims)
    if (c.name == name) return &c;
  return nullptr;
}

// In the gradient graph, is there a matmul whose left operand is `of` transposed? (hᵀ · δ)
// Compared by value: xᵀ needs no gradient, so it enters the graph as a constant, not an op.
bool has_transposed_product(const std::vector<Tensor>& gradients, const Tensor& of) {
  const Tensor of_transposed = transpose(of.detach());
  for (const Tensor& v : topological_order(gradients)) {
    const Node* n = v.node();
    if (!n || std::string(n->op->name) != "matmul") continue;
    const Tensor& left = n->inputs()[0];
    if (left.shape() == of_transposed.shape() && allclose(left, of_transposed)) return true;
  }
  return false;
}

// The value called `name` in the graph of `roots` (undefined if there is none).
Tensor named(const std::vector<Tensor>& roots, const std::string& name) {
  for (const Tensor& v : topological_order(roots))
    if (v.name() == name) return v;
  return {};
}

std::int64_t count_ops(const std::vector<Tensor>& roots, const std::string& op) {
  std::int64_t count = 0;
  for (const Tensor& v : topological_order(roots))
    if (v.node() && op == v.node()->op->name) ++count;
  return count;
}

}  // namespace

int main(int argc, char** argv) {
  tutorial::Tutorial t(argc, argv, "3. Backprop with Hadamard products",
                       "the seed network's gradients by hand, checked, drawn and trained");
  const SeedNetwork net;
  const Function cost = net.cost();

  t.section("Forward, then backward by the engine");
  const Tensor C = cost({net.W, net.V});
  C.backward();
  std::cout << "C = " << C.item() << "\n∂C/∂W from the engine =\n"
            << net.W.grad() << "\n∂C/∂V from the engine =\n" << net.V.grad() << '\n';

  t.section("Backward by hand, with Hadamard products");
  // The same numbers as the forward pass, recomputed outside the graph: the hand formulas
  // are plain arithmetic on them.
  Tensor h, y, delta_out, dV, dh, delta_hid, dW;
  {
    no_grad plain;
    h = sigmoid(matmul(net.x, net.W));
    y = sigmoid(matmul(h, net.V));
    // C = ½‖ŷ − t‖² gives ∂C/∂ŷ = ŷ − t; through ŷ = σ(z), each element is multiplied by
    // σ′(z) = ŷ ∘ (1 − ŷ). Elementwise, so a Hadamard product: δ_out = ∂C/∂z.
    delta_out = (y - net.t) * y * (1.0 - y);
    // z = h · V: each Vⱼₖ multiplies hⱼ into zₖ, so ∂C/∂Vⱼₖ = hⱼ δ_outₖ — an outer product.
    dV = matmul(transpose(h), delta_out);
    // Back through V to h (∂C/∂h = δ_out · Vᵀ), then through h = σ(x · W).
    dh = matmul(delta_out, transpose(net.V));
    delta_hid = dh * h * (1.0 - h);
    dW = matmul(transpose(net.x), delta_hid);
  }
  std::cout << "δ_out = (ŷ − t) ∘ ŷ ∘ (1 − ŷ) =\n" << delta_out
            << "\n∂C/∂V = hᵀ · δ_out  (a [4×1] column times a [1×2] row) =\n" << dV
            << "\nδ_hid = (δ_out · Vᵀ) ∘ h ∘ (1 − h) =\n" << delta_hid
            << "\n∂C/∂W = xᵀ · δ_hid =\n" << dW << '\n';
  t.claim(max_abs_diff(dV, net.V.grad()) < 1e-12, "hᵀ · δ_out equals the engine's ∂C/∂V");
  t.claim(max_abs_diff(dW, net.W.grad()) < 1e-12, "xᵀ · δ_hid equals the engine's ∂C/∂W");
  // Neither side above is independent of calculus done right; finite differences are:
  // (C(w + ε) − C(w − ε)) / 2ε for every weight, compared with the engine.
  const GradcheckResult fd = gradcheck(cost, {net.W, net.V});
  std::cout << "gradcheck: " << fd.message << '\n';
  t.claim(fd.ok, "the engine's gradients agree with finite differences");

  t.section("The backward pass is a graph too");
  // grad(…, create_graph) records the backward computation as ops, which can be drawn:
  // the Hadamard products and the products with hᵀ and xᵀ appear as nodes.
  const SeedNetwork fresh;
  const Tensor C2 = fresh.cost()({fresh.W, fresh.V});
  t.diagram("seed_formulas",
            to_dot({C2}, {.formulas = true,
                          .title = "What each op sends back: G is the gradient arriving at its "
                                   "output"}));
  std::vector<Tensor> g;
  {
    cluster pass("backward pass");
    g = grad({C2}, {fresh.W, fresh.V}, {.create_graph = true});
  }
  const Tensor h2 = named({C2}, "h");
  std::cout << "the gradient graph has " << count_ops(g, "hadamard") << " Hadamard products, "
            << count_ops(g, "matmul") << " matrix products and " << count_ops(g, "transpose")
            << " transposes\n";
  t.claim(h2.defined() && has_transposed_product({g[1]}, h2),
          "∂C/∂V is computed as a matmul with hᵀ on the left");
  t.claim(has_transposed_product({g[0]}, fresh.x), "∂C/∂W is computed as a matmul with xᵀ on the left");
  t.claim(count_ops({g[1]}, "hadamard") >= 2,
          "∂C/∂V's graph has the Hadamard products of δ_out = (ŷ − t) ∘ ŷ ∘ (1 − ŷ)");
  t.claim(max_abs_diff(g[0], dW) < 1e-12 && max_abs_diff(g[1], dV) < 1e-12,
          "and it computes the same numbers as the hand derivation");
  t.diagram("seed_gradient",
            to_dot({C2}, {.gradients = {{g[0], fresh.W}, {g[1], fresh.V}},
                          .title = "The backward pass as a graph: ∂C/∂V and ∂C/∂W"}));

  t.section("Checking a hand derivation");
  // Claims name the value they are the gradient for: an input (W, V) or a named step (z is
  // the output layer's pre-activation, so ∂C/∂z is δ_out; h is the hidden layer).
  const CheckReport right =
      check_gradient(cost, {net.W, net.V}, {{"z", delta_out}, {"V", dV}, {"h", dh}, {"W", dW}});
  std::cout << right;
  t.claim(right.ok(), "the derivation above passes, step by step");

  // Three slips a learner makes, each checked with claims for every step of the
  // derivation; the checker names the first step that goes wrong and what is wrong with it.
  struct Slip {
    const char* diagram;
    const char* title;  // of the diagram
    const char* what;
    std::map<std::string, Tensor> claims;
    const char* first_wrong_step;
    const char* diagnosis;  // part of what the checker must say
  };
  Tensor flipped, no_sigma;
  {
    no_grad plain;
    // 1 / (1 + e^(+z)) written for σ(z) in the factor (1 − ŷ).
    flipped = (y - net.t) * y * (1.0 - 1.0 / (1.0 + exp(matmul(h, net.V))));
    // σ′ of the hidden layer forgotten: δ_hid = δ_out · Vᵀ.
    no_sigma = matmul(transpose(net.x), dh);
  }
  const std::vector<Slip> slips = {
      {"seed_check_no_outer_product", "Slip 1, hᵀ forgotten",
       "∂C/∂V written as the elementwise product δ_out, without hᵀ (as the source material does)",
       {{"z", delta_out}, {"V", delta_out}},
       "V",
       "product with h is missing"},
      {"seed_check_exp_sign", "Slip 2, the sign inside exp flipped",
       "the sign inside exp flipped in one factor: 1 − 1/(1 + e^(+z)) for 1 − ŷ",
       {{"z", flipped}, {"V", matmul(transpose(h), flipped)}},
       "z",
       "sign flipped inside an exp"},
      {"seed_check_no_sigmoid_derivative", "Slip 3, the hidden layer's σ′ forgotten",
       "σ(1 − σ) of the hidden layer forgotten: ∂C/∂W = xᵀ · (δ_out · Vᵀ)",
       {{"z", delta_out}, {"V", dV}, {"h", dh}, {"W", no_sigma}},
       "W",
       "sigmoid node h"},
  };
  for (const Slip& slip : slips) {
    std::cout << "\n» " << slip.what << "\n";
    const CheckReport r = check_gradient(cost, {net.W, net.V}, slip.claims);
    std::cout << r;
    const ClaimReport* wrong = find_claim(r, slip.first_wrong_step);
    t.claim(r.first_wrong_step == slip.first_wrong_step && wrong &&
                mentions(*wrong, slip.diagnosis),
            std::string("the first wrong step is ") + slip.first_wrong_step + ", and the checker says \"…" +
                slip.diagnosis + "…\"");
    const std::string title = std::string(slip.title) + ": the first wrong step is " +
                              r.first_wrong_step + " (red); green steps agree";
    t.diagram(slip.diagram, check_diagram(r, {.title = title}));
  }
  // The source material flips the sign in *both* σ factors: σ(−z) ∘ (1 − σ(−z)) equals
  // σ(z) ∘ (1 − σ(z)), so there the two slips cancel, and the checker agrees.
  Tensor both_flipped;
  {
    no_grad plain;
    const Tensor s = 1.0 / (1.0 + exp(matmul(h, net.V)));
    both_flipped = matmul(transpose(h), (y - net.t) * s * (1.0 - s));
  }
  t.claim(check_gradient(cost, {net.W, net.V}, {{"V", both_flipped}}).ok(),
          "with the sign flipped in both factors, σ(−z)(1 − σ(−z)) = σ(z)(1 − σ(z)): no harm done");

  t.section("A mini-batch, a bias, relu and cross-entropy");
  // Four examples at once, a bias in the hidden layer, relu, and three classes:
  //   z₁ = X·W₁ + b₁,  h = relu(z₁),  s = h·W₂,  L = cross_entropy(s, y) (the mean over rows)
  // By hand: ∂L/∂s = (softmax(s) − Y)/N, with Y the one-hot targets;
  //   ∂L/∂W₂ = hᵀ·∂L/∂s,  ∂L/∂z₁ = (∂L/∂s · W₂ᵀ) ∘ [z₁ > 0],
  //   ∂L/∂W₁ = Xᵀ·∂L/∂z₁,  ∂L/∂b₁ = Σ over the rows of ∂L/∂z₁ (b₁ was broadcast to every row).
  const std::vector<std::int64_t> classes = {0, 2, 1, 2};
  const Tensor X = tensor({{0.5, -1.0, 2.0}, {1.0, 0.5, -0.5}, {-1.5, 2.0, 0.0}, {0.2, 0.3, 1.0}});
  const Tensor Y = tensor({{1, 0, 0}, {0, 0, 1}, {0, 1, 0}, {0, 0, 1}});
  Tensor W1, b1, W2;
  {
    Generator gen(7);
    W1 = randn({3, 4}, gen).name("W1");
    b1 = (0.1 * randn({4}, gen)).name("b1");
    W2 = randn({4, 3}, gen).name("W2");
  }
  const Function batch = [&](const std::vector<Tensor>& p) {
    const Tensor z1 = (matmul(X, p[0]) + p[1]).name("z1");
    const Tensor s = matmul(relu(z1).name("h"), p[2]).name("s");
    return cross_entropy(s, classes);
  };
  Tensor ds, dW2, dz1, dW1, db1, mask;
  {
    no_grad plain;
    const Tensor z1 = matmul(X, W1) + b1;
    const Tensor hb = relu(z1);
    std::vector<double> positive;
    for (const double v : z1.values()) positive.push_back(v > 0 ? 1.0 : 0.0);
    mask = from_vector(positive, z1.shape());  // [z₁ > 0]
    ds = (softmax(matmul(hb, W2)) - Y) / 4.0;
    dW2 = matmul(transpose(hb), ds);
    dz1 = matmul(ds, transpose(W2)) * mask;
    dW1 = matmul(transpose(X), dz1);
    db1 = sum(dz1, 0);
  }
  const CheckReport batch_right =
      check_gradient(batch, {W1, b1, W2}, {{"s", ds}, {"W2", dW2}, {"z1", dz1}, {"W1", dW1}, {"b1", db1}});
  std::cout << batch_right;
  t.claim(batch_right.ok(), "the mini-batch derivation passes, step by step");
  struct BatchSlip {
    const char* what;
    std::map<std::string, Tensor> claims;
    const char* first_wrong_step;
    const char* diagnosis;
  };
  const std::vector<BatchSlip> batch_slips = {
      {"the 1/N of the mean forgotten: ∂L/∂s = softmax(s) − Y", {{"s", ds * 4.0}}, "s",
       "the 1/4 of the mean in cross_entropy"},
      {"∂L/∂b₁ not summed over the batch: the rows of ∂L/∂z₁ themselves", {{"b1", dz1}}, "b1",
       "summing it over axis 0 gives the true gradient"},
      {"the relu mask forgotten, only ∂L/∂W₁ claimed: Xᵀ · (∂L/∂s · W₂ᵀ)",
       {{"W1", matmul(transpose(X), matmul(ds, transpose(W2)))}}, "W1",
       "lacks the factor the local derivative of the relu node h"},
  };
  for (const BatchSlip& slip : batch_slips) {
    std::cout << "\n» " << slip.what << "\n";
    const CheckReport r = check_gradient(batch, {W1, b1, W2}, slip.claims);
    std::cout << r;
    const ClaimReport* wrong = find_claim(r, slip.first_wrong_step);
    t.claim(r.first_wrong_step == slip.first_wrong_step && wrong && mentions(*wrong, slip.diagnosis),
            std::string("the checker says \"…") + slip.diagnosis + "…\"");
  }

  t.section("Training by gradient descent");
  // W ← W − η ∂C/∂W, V ← V − η ∂C/∂V, repeated: the loss should fall towards 0.
  const SeedNetwork train;
  SGD opt({train.W, train.V}, 0.5);
  const int steps = 200;
  double first = 0, last = 0;
  for (int step = 0; step < steps; ++step) {
    opt.zero_grad();
    const Tensor loss = train.cost()({train.W, train.V});
    loss.backward();
    opt.step();
    last = loss.item();
    if (step == 0) first = last;
    if (step % 20 == 0 || step + 1 == steps)
      std::cout << "step " << std::setw(3) << step << "  C = " << std::fixed
                << std::setprecision(6) << last << std::defaultfloat << '\n';
  }
  const Tensor trained = sigmoid(matmul(sigmoid(matmul(train.x, train.W)), train.V));
  std::cout << "ŷ after training = " << trained << " (target " << train.t << ")\n";
  t.claim(last < first / 10, "the loss fell to less than a tenth of where it started");
  return t.finish();
}
