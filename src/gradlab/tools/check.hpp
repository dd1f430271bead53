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
// of the loss with respect to that value: the function's one-number result, or
// sum(result ∘ seed) when CheckOptions::seed is given (the upstream gradient, `dout`).
//
// Note [Verdicts]
// A claim matches when every element is within rtol · ‖true‖∞ + atol of the true
// gradient: relative to the size of the whole gradient, so that a gradient of 1e-7 is
// judged as strictly as one of 1, and elements near zero are not held to a relative error
// of their own. atol is at least the rounding floor of each element: a thousand float64
// rounding units of the size of the terms its gradient is summed from, through every op of
// the backward pass (Note [Rounding floor] in src/gradlab/tools/check.cpp), so that a gradient that is
// zero by cancellation (0.1 + 0.2 − 0.3) is zero to the checker too, however the engine's
// rounding left it. A claim of all zeros is wrong whenever the true gradient is not zero
// beyond that floor, whatever atol says.
// Claims given in float32 are judged with float32_rtol instead.
//
// Note [Diagnoses]
// A wrong claim is explained by testing candidate slips, each made from the structure of
// the recorded graph and computed numerically, against the claim; what fits within the
// tolerance is reported in plain words (src/gradlab/tools/check.cpp lists the families). Because
// each candidate is a whole alternative gradient (a backward pass with one node's local
// derivative left out, say), it works for any batch size and whether or not the learner
// also claimed the steps in between.
//
// At points where the function has no derivative (relu at 0, a tie in max pooling) the
// left and right derivatives differ; a claim between them is reported as "not
// differentiable here", not as wrong. The first wrong step is the claim, in the order
// backward visits them, that disagrees while every claim after the output and before it
// agrees: the step of the derivation that went wrong.
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "gradlab/tools/dot.hpp"
#include "gradlab/tools/gradcheck.hpp"
#include "gradlab/core/tensor.hpp"

namespace gradlab {

struct CheckOptions {
  double rtol = 1e-5;          // relative to ‖true‖∞ (Note [Verdicts])
  double atol = 0;             // an absolute floor; the rounding floor when smaller
  double float32_rtol = 1e-4;  // rtol for claims given in float32
  double eps = 1e-6;           // the step of the one-sided derivatives at kinks
  // The upstream gradient: when given, the function may return a tensor of this shape and
  // the claims are gradients of sum(result ∘ seed).
  Tensor seed = {};
};

enum class Verdict { match, wrong, not_differentiable };
const char* to_string(Verdict v);  // "match", "wrong", "not differentiable here"

struct ClaimReport {
  std::string name;  // the claimed value's name
  Verdict verdict = Verdict::match;
  Shape claimed_shape, true_shape;
  double max_abs_error = 0, max_rel_error = 0;  // over elements (when the shapes agree)
  double rel_error = 0;     // max |claim − true| / ‖true‖∞ (infinite for a true gradient of 0)
  double tolerance = 0;     // the largest |claim − true| that still matches, per element
  double rtol = 0, atol = 0;  // what it was made of: tolerance = atol + rtol · ‖true‖∞
  // The rounding floor of each element (Note [Verdicts]); element e matches when within
  // max(CheckOptions::atol, rounding[e]) + rtol · ‖true‖∞, and atol above is the largest.
  Tensor rounding;
  std::vector<std::int64_t> worst_index;  // where |claim − true| is largest
  double claimed_at_worst = 0, true_at_worst = 0;
  std::vector<std::string> diagnoses;  // plain sentences, the most specific first
  bool explained = false;              // a diagnosis names what is wrong
  Tensor claimed, truth;               // the two gradients compared
  Tensor culprit;  // the value of the graph the diagnosis points at, when there is one
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
// (agrees), red (disagrees) or grey (not differentiable here) and labelled with its verdict,
// largest error and diagnosis; the first wrong step has a heavy border, and the value a
// diagnosis points at (a node whose local derivative is missing, say) a dashed one.
std::string check_diagram(const CheckReport& report, DotOptions options = {});

}  // namespace gradlab
