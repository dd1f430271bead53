// Tutorial 2: the 3-4-2 sigmoid network, forward.
//
//   x[1×3] · W[3×4] = h′ → σ → h[1×4] · V[4×2] = ŷ′ → σ → ŷ[1×2],   C = ½‖ŷ − t‖²
//
// Prints every matrix on the way, checks each against the same sums written out as plain
// loops, and draws the forward graph (docs/diagrams/seed_forward.svg).
#include <cmath>
#include <iostream>

#include "tutorial.hpp"

using namespace gradlab;

namespace {

double sigma(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// The row vector times a matrix, one output column at a time: outᵢ = Σₖ rowₖ · Mₖᵢ.
std::vector<double> row_times(const std::vector<double>& row, const Tensor& M) {
  std::vector<double> out(M.size(1), 0.0);
  for (std::int64_t i = 0; i < M.size(1); ++i)
    for (std::int64_t k = 0; k < M.size(0); ++k) out[i] += row[k] * M.at({k, i});
  return out;
}

bool same(const Tensor& t, const std::vector<double>& want) {
  const std::vector<double> got = t.values();
  if (got.size() != want.size()) return false;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (std::abs(got[i] - want[i]) > 1e-12) return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  tutorial::Tutorial t(argc, argv, "2. The 3-4-2 sigmoid network, forward",
                       "x·W → σ → ·V → σ with every matrix printed and the graph drawn");

  t.section("The input and the weights");
  // Three input features, a target for the two outputs, and weights drawn at random
  // (seeded, so every run and every diagram is the same).
  Generator gen(42);
  const Tensor x = tensor({{0.5, -1.0, 2.0}}).name("x");
  const Tensor target = tensor({{1.0, 0.0}}).name("t");
  const Tensor W = randn({3, 4}, gen).set_requires_grad().name("W");
  const Tensor V = randn({4, 2}, gen).set_requires_grad().name("V");
  std::cout << "x " << to_string(x.shape()) << " =\n" << x << "\nW " << to_string(W.shape())
            << " =\n" << W << "\nV " << to_string(V.shape()) << " =\n" << V << '\n';

  t.section("The hidden layer: h = σ(x · W)");
  // A matrix product first: each of the 4 hidden units adds up the 3 inputs, each times
  // its own weight. Then σ acts on each number on its own (elementwise).
  Tensor pre_hidden, h;
  {
    cluster layer("hidden layer");
    pre_hidden = matmul(x, W).name("h′");
    h = sigmoid(pre_hidden).name("h");
  }
  std::cout << "h′ = x · W  " << to_string(pre_hidden.shape()) << " =\n" << pre_hidden
            << "\nh = σ(h′) = 1 / (1 + e^(−h′)) =\n" << h << '\n';
  const std::vector<double> by_hand_pre = row_times(x.values(), W);
  std::vector<double> by_hand_h;
  for (double v : by_hand_pre) by_hand_h.push_back(sigma(v));
  t.claim(pre_hidden.shape() == Shape{1, 4}, "[1×3] · [3×4] gives [1×4]: one number per hidden unit");
  t.claim(same(pre_hidden, by_hand_pre), "h′ⱼ = Σᵢ xᵢ Wᵢⱼ, the sum written as a loop, equals x · W");
  t.claim(same(h, by_hand_h), "hⱼ = 1 / (1 + e^(−h′ⱼ)), with the minus sign inside exp");

  t.section("The output layer: ŷ = σ(h · V)");
  Tensor pre_output, y;
  {
    cluster layer("output layer");
    pre_output = matmul(h, V).name("ŷ′");
    y = sigmoid(pre_output).name("ŷ");
  }
  std::cout << "ŷ′ = h · V  " << to_string(pre_output.shape()) << " =\n" << pre_output
            << "\nŷ = σ(ŷ′) =\n" << y << '\n';
  std::vector<double> by_hand_y;
  for (double v : row_times(by_hand_h, V)) by_hand_y.push_back(sigma(v));
  t.claim(same(y, by_hand_y), "ŷₖ = σ(Σⱼ hⱼ Vⱼₖ), written as loops, equals σ(h · V)");
  bool in_range = true;
  for (double v : y.values()) in_range = in_range && v > 0 && v < 1;
  t.claim(in_range, "both outputs lie strictly between 0 and 1, as a sigmoid's must");

  t.section("The cost: C = ½‖ŷ − t‖²");
  const Tensor C = (0.5 * sum(pow(y - target, 2))).name("C");
  std::cout << "t = " << target << "\nC = " << C.item() << '\n';
  const double by_hand_C =
      0.5 * (std::pow(by_hand_y[0] - 1.0, 2) + std::pow(by_hand_y[1] - 0.0, 2));
  t.claim(std::abs(C.item() - by_hand_C) < 1e-12, "C = ½((ŷ₁ − 1)² + (ŷ₂ − 0)²)");

  t.section("The order of a matrix product matters");
  // W · x is not defined: a [3×4] matrix cannot multiply a [1×3] one. gradlab says so, naming
  // the op and both shapes, instead of guessing.
  try {
    (void)matmul(W, x);
    t.claim(false, "W · x is rejected");
  } catch (const ShapeError& e) {
    std::cout << "matmul(W, x) → " << e.what() << '\n';
    const std::string m = e.what();
    t.claim(m.find("matmul") != std::string::npos && m.find("[3, 4]") != std::string::npos &&
                m.find("[1, 3]") != std::string::npos,
            "W · x is rejected with an error naming matmul and both shapes");
  }

  t.section("The forward graph");
  // Every op above was recorded: the graph goes from the leaves x, W, V and t to C.
  const std::vector<Tensor> order = topological_order({C});
  std::int64_t ops = 0;
  for (const Tensor& v : order) ops += v.is_leaf() ? 0 : 1;
  std::cout << order.size() << " tensors in the graph, " << ops << " of them made by ops\n";
  t.claim(ops == 8, "8 ops: 2 matmuls, 2 sigmoids, and subtract, square, sum, scale for C");
  t.diagram("seed_forward",
            to_dot({C}, {.show_values = true, .title = "The 3-4-2 network: forward pass"}));
  return t.finish();
}
