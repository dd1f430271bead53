// Checking gradients derived by hand, and saying what went wrong.
//
//   // ∂C/∂V claimed as (ŷ − t) ∘ ŷ ∘ (1 − ŷ): the product with hᵀ forgotten
//   CheckReport r = check_gradient(network, {x, W, V}, {{"V", delta_out}});
//   std::cout << r;   // V: WRONG: shape [1, 2], the true gradient is [4, 2] …
//                     //   the true gradient is hᵀ · (your claim): the product with h is missing
//
// The function is run once on copies of the inputs (float64 leaves that require grad,
// named as the inputs are). Claims are keyed by name: an input's, or that of a value the
// function named along the way (`h = sigmoid(…).name("h")`), so that the steps of a
// derivation can be claimed too (δ at the output layer is the gradient with respect to
// the output layer's pre-activation z). Each claim is compared with the engine's gradient
// of the output (a one-element tensor) with respect to that value.
//
// When a claim disagrees, the checker tries the usual mistakes, in plain words:
//   - wrong shape: the true gradient transposed; a sum over an axis that would fix it (a
//     missing broadcast reduction); a product with a value of the graph that is missing
//     (∂C/∂V written without hᵀ);
//   - transposed; off by a constant factor (sign flipped, 2, ½);
//   - off elementwise by the local derivative of a node of the graph (the missing
//     σ(z) ∘ (1 − σ(z)) of the sigmoid node ŷ, named with the formula its op declares), or
//     by e^(±z) of a node's input (a sign flipped inside an exp);
//   - the gradient with respect to another claimed value or input.
// At points where the function has no derivative (relu at 0, a tie in max pooling) the
// left and right difference quotients differ; a claim between them is reported as
// "not differentiable here", not as wrong. The first wrong step is the claim, in the
// order backward visits them, that disagrees while every claim after the output and before
// it agrees: the step of the derivation that went wrong.
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "engine/dot.hpp"
#include "engine/gradcheck.hpp"
#include "engine/tensor.hpp"

namespace gradlab {

struct CheckOptions {
  double atol = 1e-6;  // a claim matches when |claim − true| ≤ atol + rtol·|true| everywhere
  double rtol = 1e-5;
  double eps = 1e-6;  // step of the left and right difference quotients at kinks
};

enum class Verdict { match, wrong, not_differentiable };
const char* to_string(Verdict v);  // "match", "wrong", "not differentiable here"

struct ClaimReport {
  std::string name;  // the claimed value's name
  Verdict verdict = Verdict::match;
  Shape claimed_shape, true_shape;
  double max_abs_error = 0, max_rel_error = 0;  // over elements (when the shapes agree)
  std::vector<std::int64_t> worst_index;        // where |claim − true| is largest
  double claimed_at_worst = 0, true_at_worst = 0;
  std::vector<std::string> diagnoses;  // plain sentences, the most specific first
  Tensor claimed, truth;               // the two gradients compared
};

struct CheckReport {
  std::vector<ClaimReport> claims;  // in the order backward visits the claimed values
  std::string first_wrong_step;     // a claim's name, or "" when every claim agrees
  std::vector<std::string> warnings;  // e.g. inputs given in float32
  Tensor output;                      // what was differentiated (its graph is kept)
  std::map<std::string, Tensor> values;  // the claimed values, by name, in that graph

  bool ok() const { return first_wrong_step.empty(); }
  explicit operator bool() const { return ok(); }
};

CheckReport check_gradient(const Function& f, const std::vector<Tensor>& inputs,
                           const std::map<std::string, Tensor>& claims,
                           const CheckOptions& options = {});

// A readable report: one block per claim, verdict first, then errors and diagnoses.
std::ostream& operator<<(std::ostream& out, const CheckReport& report);

// The DOT diagram of a check: the function's graph with each claimed value coloured green
// (agrees), red (disagrees) or grey (not differentiable here), titled with the first wrong
// step.
std::string check_diagram(const CheckReport& report, DotOptions options = {});

}  // namespace gradlab
