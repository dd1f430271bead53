#include "gradlab/core/reference_backward.hpp"

#include <unordered_map>

#include "gradlab/core/errors.hpp"
#include "gradlab/ops/elementwise.hpp"  // the recorded gradient accumulation: a sum of what consumers sent

namespace gradlab::reference {

std::vector<Tensor> walk(const std::vector<Tensor>& order, std::size_t from, const Tensor& seed,
                         const Change& change) {
  no_grad plain;
  std::unordered_map<const TensorImpl*, std::size_t> position;
  for (std::size_t k = 0; k < order.size(); ++k) position[order[k].impl()] = k;
  std::vector<Tensor> g(order.size());
  g[from] = seed;
  for (std::size_t k = from + 1; k-- > 0;) {  // the order reversed: consumers before inputs
    const Node* n = order[k].node();
    if (!n || !g[k].defined() || !n->backward) continue;
    if (n->released)
      throw GraphError("reference::walk: the graph was freed by a backward pass; use retain_graph");
    const BackwardContext ctx{g[k], order[k], n->inputs(), n->saved()};
    Grads sent = n->backward(ctx);
    if (change) sent = change(k, ctx, sent);
    for (std::size_t i = 0; i < n->inputs().size() && i < sent.size(); ++i) {
      if (!sent[i].defined() || !n->inputs()[i].requires_grad()) continue;
      Tensor& into = g[position.at(n->inputs()[i].impl())];
      into = into.defined() ? into + sent[i] : sent[i];
    }
  }
  return g;
}

std::vector<Tensor> grad(const Tensor& output, const std::vector<Tensor>& inputs, const Tensor& seed) {
  const std::vector<Tensor> order = topological_order({output});
  if (seed.defined() && seed.shape() != output.shape())
    throw ShapeError("reference::grad: the seed is " + to_string(seed.shape()) + ", the output " +
                     to_string(output.shape()));
  const std::vector<Tensor> g = walk(order, order.size() - 1, seed.defined() ? seed : ones_like(output));
  std::unordered_map<const TensorImpl*, std::size_t> position;
  for (std::size_t k = 0; k < order.size(); ++k) position[order[k].impl()] = k;
  std::vector<Tensor> out;
  for (const Tensor& x : inputs) {
    const auto it = position.find(x.impl());
    out.push_back(it != position.end() && g[it->second].defined() ? g[it->second] : zeros_like(x));
  }
  return out;
}

}  // namespace gradlab::reference
