#include "engine/graph.hpp"

#include <unordered_map>

#include "ops/elementwise.hpp"

namespace gradlab {

namespace {

thread_local bool grad_mode = true;

// Sets grad mode for a scope and restores it on the way out, also on an exception.
class GradModeScope {
 public:
  explicit GradModeScope(bool on) : previous_(grad_mode) { grad_mode = on; }
  ~GradModeScope() { grad_mode = previous_; }

 private:
  bool previous_;
};

}  // namespace

bool grad_enabled() { return grad_mode; }
no_grad::no_grad() : previous_(grad_mode) { grad_mode = false; }
no_grad::~no_grad() { grad_mode = previous_; }

Tensor record(const char* op, Tensor output, std::vector<Tensor> inputs, BackwardFn backward,
              std::vector<Tensor> saved) {
  if (!grad_mode) return output;
  bool any = false;
  for (const Tensor& t : inputs) any = any || t.requires_grad();
  if (!any) return output;
  TensorImpl* impl = output.impl();
  impl->requires_grad = true;
  impl->node = std::make_unique<Node>(
      Node{op, std::move(inputs), std::move(saved), std::move(backward)});
  return output;
}

namespace {

// Note [Backward scheduling]
// Reverse mode must visit a tensor only after every consumer of it has sent its gradient
// back, so that the gradient is complete (a value used twice gets the sum of both). So:
//   1. walk the graph from the outputs (with an explicit stack, never recursion) and count,
//      for each tensor that requires grad, how many consumers it has in this graph;
//   2. seed the outputs, and run each tensor's backward once its count drops to zero,
//      adding what it returns into its inputs' buffers and counting them down.
// That is a topological order (Kahn's algorithm) found on the fly. Gradients are added
// out of place, since one gradient tensor may be handed to several inputs.
struct Pending {
  Tensor grad;
  std::int64_t consumers = 0;
};

void accumulate(Tensor& slot, const Tensor& g) { slot = slot.defined() ? slot + g : g; }

struct Pass {
  bool retain_graph = false;
  bool create_graph = false;
  bool into_leaves = false;  // backward(): fill .grad(); grad(): only return results
  const std::unordered_map<TensorImpl*, std::size_t>* targets = nullptr;
  std::vector<Tensor>* results = nullptr;
};

void run_backward(const char* caller, const std::vector<Tensor>& roots,
                  const std::vector<Tensor>& root_grads, const Pass& pass) {
  std::unordered_map<TensorImpl*, Pending> pending;
  std::vector<TensorImpl*> stack;
  for (const Tensor& r : roots)
    if (pending.try_emplace(r.impl()).second) stack.push_back(r.impl());
  while (!stack.empty()) {
    TensorImpl* t = stack.back();
    stack.pop_back();
    if (!t->node) continue;
    if (t->node->released)
      throw GraphError(std::string(caller) + ": the graph through '" + t->node->op +
                       "' was freed by an earlier backward; pass retain_graph = true to that "
                       "earlier call to go through it again");
    for (const Tensor& in : t->node->inputs) {
      if (!in.requires_grad()) continue;
      auto [it, fresh] = pending.try_emplace(in.impl());
      ++it->second.consumers;
      if (fresh) stack.push_back(in.impl());
    }
  }

  GradModeScope mode(pass.create_graph);
  std::vector<TensorImpl*> ready;
  for (std::size_t i = 0; i < roots.size(); ++i) {
    Pending& p = pending[roots[i].impl()];
    if (!p.grad.defined() && p.consumers == 0) ready.push_back(roots[i].impl());
    accumulate(p.grad, root_grads[i]);
  }

  while (!ready.empty()) {
    TensorImpl* t = ready.back();
    ready.pop_back();
    const Tensor g = std::move(pending[t].grad);

    if (pass.targets) {
      if (auto it = pass.targets->find(t); it != pass.targets->end())
        (*pass.results)[it->second] = g;
    }
    if (pass.into_leaves && g.defined() && (!t->node || t->retains_grad))
      accumulate(t->grad, pass.create_graph ? g : g.detach());
    if (!t->node) continue;

    Node& node = *t->node;
    Grads grads;
    if (g.defined()) {
      const Tensor self(t->shared_from_this());
      grads = node.backward(BackwardContext{g, self, node.inputs, node.saved});
      if (grads.size() != node.inputs.size())
        throw Error("internal error: backward of '" + std::string(node.op) + "' returned " +
                    std::to_string(grads.size()) + " gradients for " +
                    std::to_string(node.inputs.size()) + " inputs");
    }
    for (std::size_t i = 0; i < node.inputs.size(); ++i) {
      const Tensor& in = node.inputs[i];
      if (!in.requires_grad()) continue;
      Pending& p = pending[in.impl()];
      if (g.defined() && grads[i].defined()) {
        if (grads[i].shape() != in.shape())
          throw Error("internal error: backward of '" + std::string(node.op) +
                      "' returned a gradient of shape " + to_string(grads[i].shape()) +
                      " for an input of shape " + to_string(in.shape()));
        accumulate(p.grad, grads[i]);
      }
      if (--p.consumers == 0) ready.push_back(in.impl());
    }
    if (!pass.retain_graph) {
      node.released = true;
      node.backward = nullptr;
      node.saved.clear();
    }
  }
}

// The gradient that starts reverse mode at `output`.
Tensor seed_gradient(const char* caller, const Tensor& output, const Tensor* given) {
  if (!output.requires_grad())
    throw GraphError(std::string(caller) +
                     ": this tensor does not require grad: nothing it was computed from has "
                     "requires_grad set (call set_requires_grad() on the parameters)" +
                     (grad_enabled() ? "" : ", or it was computed inside no_grad"));
  if (!given || !given->defined()) {
    if (output.numel() != 1)
      throw GraphError(std::string(caller) + ": the output has shape " +
                       to_string(output.shape()) +
                       "; only a one-element output seeds its own gradient. Pass grad_output "
                       "of shape " + to_string(output.shape()) + ", or reduce first (e.g. sum)");
    return ones_like(output);
  }
  if (given->shape() != output.shape())
    throw ShapeError(std::string(caller) + ": grad_output has shape " +
                     to_string(given->shape()) + " but the output has shape " +
                     to_string(output.shape()));
  if (given->dtype() != output.dtype())
    throw DTypeError(std::string(caller) + ": grad_output is " + to_string(given->dtype()) +
                     " but the output is " + to_string(output.dtype()));
  return *given;
}

void backward_from(const Tensor& output, const Tensor* grad_output, BackwardOptions options) {
  const Tensor seed = seed_gradient("backward", output, grad_output);
  run_backward("backward", {output}, {seed},
               Pass{.retain_graph = options.retain_graph || options.create_graph,
                    .create_graph = options.create_graph,
                    .into_leaves = true});
}

}  // namespace

void Tensor::backward(BackwardOptions options) const { backward_from(*this, nullptr, options); }
void Tensor::backward(const Tensor& grad_output, BackwardOptions options) const {
  backward_from(*this, &grad_output, options);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const GradOptions& options) {
  if (outputs.empty()) throw GraphError("grad: no outputs given");
  if (!options.grad_outputs.empty() && options.grad_outputs.size() != outputs.size())
    throw GraphError("grad: " + std::to_string(options.grad_outputs.size()) +
                     " grad_outputs for " + std::to_string(outputs.size()) + " outputs");
  std::vector<Tensor> seeds;
  for (std::size_t i = 0; i < outputs.size(); ++i)
    seeds.push_back(seed_gradient(
        "grad", outputs[i], options.grad_outputs.empty() ? nullptr : &options.grad_outputs[i]));

  std::unordered_map<TensorImpl*, std::size_t> targets;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad())
      throw GraphError("grad: input " + std::to_string(i) +
                       (inputs[i].name().empty() ? "" : " ('" + inputs[i].name() + "')") +
                       " does not require grad, so it has no gradient");
    targets.emplace(inputs[i].impl(), i);
  }
  std::vector<Tensor> results(inputs.size());
  run_backward("grad", outputs, seeds,
               Pass{.retain_graph = options.retain_graph || options.create_graph,
                    .create_graph = options.create_graph,
                    .targets = &targets,
                    .results = &results});
  // Duplicated inputs share one slot in `targets`; give every position its gradient.
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::size_t first = targets.at(inputs[i].impl());
    if (i != first) results[i] = results[first];
    if (!results[i].defined()) results[i] = zeros_like(inputs[i]);
  }
  return results;
}

}  // namespace gradlab
