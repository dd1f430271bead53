// Checking gradients against finite differences.
//
// gradcheck(f, inputs) compares the engine's gradient with central differences
//   ∂L/∂xⱼ ≈ (L(x + ε·eⱼ) − L(x − ε·eⱼ)) / 2ε
// in float64, element by element, and reports the worst element. For a non-scalar output y
// it checks L = Σ y ∘ r for a fixed random r (a random projection: any wrong entry of the
// Jacobian shows up in it, unless r happens to hide it, which has probability zero); a
// one-element output is checked as it is (r = 1).
//
// Kinks. Where L bends sharply instead of smoothly (relu or |x| at 0, two equal maxima in a
// max-pooling window), it has a derivative from the left and a different one from the
// right, and no derivative at all. The central difference there is their average, while
// the engine, by convention, returns one of them (or 0, for |x|); comparing the two would
// report a mismatch that is no bug. So an element that fails is looked at once more: if
// its left and right difference quotients
//   left = (L(x) − L(x − ε·eⱼ)) / ε,   right = (L(x + ε·eⱼ) − L(x)) / ε
// disagree (by more than a smooth function's would, see gradcheck.cpp) and the engine's
// value lies between them, the element is listed in `kinks`, "not differentiable here",
// and not counted as a failure. Elements that pass cost no extra evaluations.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gradlab/core/tensor.hpp"

namespace gradlab {

using Function = std::function<Tensor(const std::vector<Tensor>&)>;

struct GradcheckOptions {
  double eps = 1e-6;  // finite-difference step
  double atol = 1e-5;  // an element passes when |analytical − numerical| ≤ atol + rtol·|numerical|
  double rtol = 1e-3;
  std::uint64_t seed = 0;  // for the random projection
};

// An element of an input at which L has no derivative, only one-sided ones.
struct Kink {
  std::string input;                // the input's name, or "input 2"
  std::vector<std::int64_t> index;  // the element's index in that input
  double left = 0, right = 0;       // ∂L/∂xⱼ from below and from above
};

struct GradcheckResult {
  bool ok = true;
  std::string input;                // the worst element's input: its name, or "input 2"
  std::vector<std::int64_t> index;  // the worst element's index in that input
  double analytical = 0, numerical = 0;
  std::vector<Kink> kinks;  // elements where L is not differentiable: not failures
  std::string message;      // one line a learner can read, naming all of the above
  explicit operator bool() const { return ok; }
};

// The inputs are copied to float64 leaves that require grad; f is called on those.
GradcheckResult gradcheck(const Function& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

// The same for second derivatives: the backward pass, recorded with create_graph, is itself
// checked with gradcheck, as a function of the inputs and of the gradient flowing into the
// output (reported as the input "grad_output"), through Σᵢ ⟨uᵢ, ∂L/∂xᵢ⟩ for fixed random uᵢ.
// At a kink of f its gradient jumps, so there the one-sided quotients grow like 1/ε; such
// points are listed in `kinks` too.
GradcheckResult gradgradcheck(const Function& f, const std::vector<Tensor>& inputs,
                              const GradcheckOptions& options = {});

// How the error of a central difference depends on its step ε.
//
// The central difference (L(x + ε) − L(x − ε)) / 2ε is wrong in two ways:
//   - truncation: Taylor's theorem gives L′(x) + L‴(x)·ε²/6 + O(ε⁴), so this error falls
//     like ε²: each step 10× smaller makes it 100× smaller;
//   - round-off: each L(…) is computed with a relative error near machine epsilon
//     (2.2·10⁻¹⁶ in float64), and the division by 2ε magnifies that absolute error
//     ≈ 2.2·10⁻¹⁶·|L| into ≈ 2.2·10⁻¹⁶·|L| / ε, which grows as ε shrinks.
// Their sum is smallest near ε ≈ ∛(machine epsilon) ≈ 6·10⁻⁶ for a float64 function of size
// 1 (where ε² and 10⁻¹⁶/ε balance); gradcheck's default 10⁻⁶ is near that floor.
//
// For each step, the largest |analytical − central difference| over all elements of all
// inputs, for the same random projection as gradcheck with its default options. Shows a
// learner the V-shaped curve: the error falls, then rises again.
struct StepError {
  double step = 0;  // ε
  double error = 0;  // maxⱼ |∂L/∂xⱼ (engine) − (L(x + ε·eⱼ) − L(x − ε·eⱼ)) / 2ε|
};
std::vector<StepError> gradcheck_sweep(const Function& f, const std::vector<Tensor>& inputs,
                                       std::vector<double> steps = {1e-1, 1e-2, 1e-3, 1e-4, 1e-5,
                                                                    1e-6, 1e-7, 1e-8, 1e-9, 1e-10});

}  // namespace gradlab
