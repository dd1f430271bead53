// The seed network: 3 inputs, 4 sigmoid hidden units, 2 sigmoid outputs.
//
//   x[1×3] · W[3×4] → σ → h[1×4] · V[4×2] → σ → ŷ[1×2],   C = ½‖ŷ − t‖²
//
// Prints the forward values, the gradients the engine finds next to the ones written by
// hand with Hadamard products, and a training run whose loss falls. Exits non-zero if the
// two gradients disagree or the loss does not fall, so the test suite runs it too.
#include <cstdlib>
#include <cstring>
#include <gradlab/gradlab.hpp>
#include <iomanip>
#include <iostream>
#include <string>

using namespace gradlab;

namespace {

struct Args {
  int steps = 200;
  double lr = 0.5;
};

Args parse(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << "usage: seed_network_demo [--steps N] [--lr RATE]\n"
                   "Trains the 3-4-2 sigmoid network by gradient descent and prints its\n"
                   "forward values, its gradients (engine and hand-derived) and its loss.\n";
      std::exit(0);
    }
    if ((a == "--steps" || a == "--lr") && i + 1 < argc) {
      const std::string value = argv[++i];
      try {
        if (a == "--steps")
          args.steps = std::stoi(value);
        else
          args.lr = std::stod(value);
      } catch (const std::exception&) {
        std::cerr << "seed_network_demo: " << a << " needs a number, got '" << value << "'\n";
        std::exit(2);
      }
      continue;
    }
    std::cerr << "seed_network_demo: unknown argument '" << a << "' (try --help)\n";
    std::exit(2);
  }
  if (args.steps < 1 || !(args.lr > 0)) {
    std::cerr << "seed_network_demo: --steps must be ≥ 1 and --lr > 0\n";
    std::exit(2);
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);

  Generator gen(42);
  const Tensor x = tensor({{0.5, -1.0, 2.0}}).name("x");
  const Tensor t = tensor({{1.0, 0.0}}).name("t");
  Tensor W = randn({3, 4}, gen).set_requires_grad().name("W");
  Tensor V = randn({4, 2}, gen).set_requires_grad().name("V");

  std::cout << "== Forward ==\n";
  const Tensor h = sigmoid(matmul(x, W)).name("h");
  const Tensor y = sigmoid(matmul(h, V)).name("ŷ");
  const Tensor C = 0.5 * sum(pow(y - t, 2));
  std::cout << "x =\n"
            << x << "\nW =\n"
            << W << "\nh = σ(x·W) =\n"
            << h << "\nV =\n"
            << V << "\nŷ = σ(h·V) =\n"
            << y << "\nC = ½‖ŷ − t‖² = " << C.item() << "\n\n";

  std::cout << "== Backward ==\n";
  C.backward();
  Tensor dV, dW;
  {
    no_grad plain;  // the hand formulas are just arithmetic, not part of the graph
    const Tensor delta_out = (y - t) * y * (1.0 - y);  // (ŷ − t) ∘ ŷ ∘ (1 − ŷ)
    dV = matmul(transpose(h), delta_out);              // hᵀ δ_out
    const Tensor delta_hid = matmul(delta_out, transpose(V)) * h * (1.0 - h);
    dW = matmul(transpose(x), delta_hid);  // xᵀ δ_hid
  }
  std::cout << "∂C/∂V from the engine:\n"
            << V.grad() << "\n∂C/∂V = hᵀ δ_out by hand:\n"
            << dV << "\n∂C/∂W from the engine:\n"
            << W.grad() << "\n∂C/∂W = xᵀ δ_hid by hand:\n"
            << dW << '\n';
  const double gap = std::max(max_abs_diff(V.grad(), dV), max_abs_diff(W.grad(), dW));
  std::cout << "largest difference: " << gap << "\n\n";

  std::cout << "== Training: " << args.steps << " steps of gradient descent, lr " << args.lr
            << " ==\n";
  SGD opt({W, V}, args.lr);
  double first = 0, last = 0;
  for (int step = 0; step < args.steps; ++step) {
    opt.zero_grad();
    const Tensor loss = 0.5 * sum(pow(sigmoid(matmul(sigmoid(matmul(x, W)), V)) - t, 2));
    loss.backward();
    opt.step();
    last = loss.item();
    if (step == 0) first = last;
    if (step % (args.steps >= 10 ? args.steps / 10 : 1) == 0 || step + 1 == args.steps)
      std::cout << "step " << std::setw(4) << step << "  loss " << std::fixed
                << std::setprecision(6) << last << '\n';
  }
  std::cout << std::defaultfloat;

  bool ok = true;
  if (!(gap < 1e-12)) {
    std::cerr << "FAIL: engine and hand-derived gradients differ by " << gap << '\n';
    ok = false;
  }
  if (!(last < first)) {
    std::cerr << "FAIL: the loss did not fall (" << first << " → " << last << ")\n";
    ok = false;
  }
  if (ok) std::cout << "loss fell from " << first << " to " << last << '\n';
  return ok ? 0 : 1;
}
