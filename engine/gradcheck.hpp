// Checking gradients against finite differences.
//
// gradcheck(f, inputs) compares the engine's gradient with central differences
//   ∂L/∂xⱼ ≈ (L(x + ε·eⱼ) − L(x − ε·eⱼ)) / 2ε
// in float64, element by element, and reports the worst element. For a non-scalar output y
// it checks L = Σ y ∘ r for a fixed random r (a random projection: any wrong entry of the
// Jacobian shows up in it, unless r happens to hide it, which has probability zero).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/tensor.hpp"

namespace gradlab {

using Function = std::function<Tensor(const std::vector<Tensor>&)>;

struct GradcheckOptions {
  double eps = 1e-6;  // finite-difference step
  double atol = 1e-5;  // an element passes when |analytical − numerical| ≤ atol + rtol·|numerical|
  double rtol = 1e-3;
  std::uint64_t seed = 0;  // for the random projection
};

struct GradcheckResult {
  bool ok = true;
  std::string input;                // the worst element's input: its name, or "input 2"
  std::vector<std::int64_t> index;  // the worst element's index in that input
  double analytical = 0, numerical = 0;
  std::string message;  // one line a learner can read, naming all of the above
  explicit operator bool() const { return ok; }
};

// The inputs are copied to float64 leaves that require grad; f is called on those.
GradcheckResult gradcheck(const Function& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

// The same for second derivatives: the backward pass, recorded with create_graph, is itself
// checked with gradcheck, as a function of the inputs and of the gradient flowing into the
// output (reported as the input "grad_output"), through Σᵢ ⟨uᵢ, ∂L/∂xᵢ⟩ for fixed random uᵢ.
GradcheckResult gradgradcheck(const Function& f, const std::vector<Tensor>& inputs,
                              const GradcheckOptions& options = {});

}  // namespace gradlab
