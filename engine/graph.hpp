// The computation graph and reverse-mode differentiation.
//
// Every op on tensors that require grad calls record(): the output gets a Node holding the
// op's name, its inputs, any extra saved values and its backward formula. backward() and
// grad() walk those nodes from the output back to the leaves. The engine never looks at
// what an op is: it only calls the backward each op declared beside its forward.
#pragma once

#include <functional>
#include <vector>

#include "engine/tensor.hpp"

namespace gradlab {

// What an op's backward formula is given.
struct BackwardContext {
  const Tensor& grad;                 // ∂L/∂output: the gradient flowing in from above
  const Tensor& output;               // the op's own result
  const std::vector<Tensor>& inputs;  // the op's inputs, in order
  const std::vector<Tensor>& saved;   // extra values the forward chose to keep
  bool needs(std::size_t i) const { return inputs[i].requires_grad(); }
};

// One gradient per input, in order; leave an entry undefined when needs(i) is false.
using Grads = std::vector<Tensor>;
using BackwardFn = std::function<Grads(const BackwardContext&)>;

struct Node {
  const char* op;  // "matmul", "sigmoid", …
  std::vector<Tensor> inputs;
  std::vector<Tensor> saved;
  BackwardFn backward;
  bool released = false;  // backward ran without retain_graph: saved values are gone
};

// Attaches a Node to `output` when grad mode is on and some input requires grad; returns
// output either way. Backward formulas are written with gradlab's own ops, so with
// create_graph the backward pass is recorded too. They must not capture Tensors (pass them
// as `saved`): the graph frees itself through inputs and saved only.
Tensor record(const char* op, Tensor output, std::vector<Tensor> inputs, BackwardFn backward,
              std::vector<Tensor> saved = {});

// Grad mode: on by default, per thread.
bool grad_enabled();

// Scope guard: ops inside record nothing (e.g. optimizer updates, evaluation).
class no_grad {
 public:
  no_grad();
  ~no_grad();
  no_grad(const no_grad&) = delete;
  no_grad& operator=(const no_grad&) = delete;

 private:
  bool previous_;
};

struct GradOptions {
  std::vector<Tensor> grad_outputs = {};  // one per output; may be empty for one-element outputs
  bool retain_graph = false;
  bool create_graph = false;  // the returned gradients are themselves graphs (implies retain)
};

// Like torch.autograd.grad: the gradients of the outputs with respect to `inputs` (leaves or
// intermediate values), returned instead of accumulated into .grad(). An input the outputs
// do not depend on gets zeros.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const GradOptions& options = {});

}  // namespace gradlab
