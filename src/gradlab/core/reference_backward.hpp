// The backward pass as a reader expects it: a topological order of the graph, walked in
// reverse, each node's backward called once with the sum of what its consumers sent.
//
//   std::vector<Tensor> g = reference::grad(loss, {W, V});   // the same numbers as grad()
//
// No scheduling, no bookkeeping kept in the nodes, nothing freed: the pass to read first,
// and the one the fast pass (src/gradlab/core/graph.cpp) is tested against on random graphs. The
// gradient checker walks it with one node's backward changed (src/gradlab/tools/check.cpp), to see
// which slip of a hand derivation gives the claim. Runs under no_grad: the gradients are
// plain numbers. The graph must still hold its saved values (retain_graph).
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "gradlab/core/graph.hpp"

namespace gradlab::reference {

// ∂ sum(outputs[…] ∘ seed) / ∂ each of `inputs` (zeros where the output does not depend
// on one); the seed defaults to ones.
std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs, const Tensor& seed = {});

// What node `at` of the order sends back instead of what its backward returns: given the
// context of its backward and what that sent.
using Change = std::function<Grads(std::size_t at, const BackwardContext&, const Grads& sent)>;

// The walk itself over `order` (topological_order of the graph): gradients of
// ⟨seed, order[from]⟩ with respect to every tensor of the order (undefined where nothing
// flows), `change` (if any) applied to what each node sends.
std::vector<Tensor> walk(const std::vector<Tensor>& order, std::size_t from, const Tensor& seed,
                         const Change& change = {});

}  // namespace gradlab::reference
