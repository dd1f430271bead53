#include "engine/graph.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "engine/errors.hpp"
#include "engine/kernels.hpp"
#include "ops/elementwise.hpp"

namespace gradlab {

namespace {

thread_local bool grad_mode = true;
thread_local bool in_backward = false;  // a backward pass with create_graph is recording
thread_local std::shared_ptr<const std::string> current_cluster;
thread_local bool anomaly_mode = false;
thread_local std::optional<std::source_location> current_site;  // the outermost CallSite
thread_local const OpInfo* backward_of = nullptr;  // whose backward formula is running

// The first element of t that is NaN or infinite, if any.
std::optional<std::int64_t> first_non_finite(const Tensor& t) {
  if (!t.defined()) return {};
  std::optional<std::int64_t> found;
  kernels::dispatch(t.dtype(), [&]<class T>(T) {
    const T* p = t.data<T>();
    for (std::int64_t i = 0; i < t.numel() && !found; ++i)
      if (!std::isfinite(p[i])) found = i;
  });
  return found;
}

std::string shapes_of(const std::vector<Tensor>& inputs) {
  std::string s;
  for (const Tensor& t : inputs)
    s += (s.empty() ? "" : ", ") + (t.defined() ? to_string(t.shape()) : std::string("none"));
  return s.empty() ? "none" : s;
}

std::string value_at(const Tensor& t, std::int64_t i) {
  const double v = t.values()[static_cast<std::size_t>(i)];
  return std::isnan(v) ? "NaN" : v > 0 ? "+inf" : "-inf";
}

// Forward: the op's output must be finite when its inputs are.
void check_forward(const OpInfo& op, const Tensor& output, const std::vector<Tensor>& inputs) {
  const auto bad = first_non_finite(output);
  if (!bad) return;
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (first_non_finite(inputs[i]) && !inputs[i].node())
      throw AnomalyError("anomaly: input " + std::to_string(i) +
                         (inputs[i].name().empty() ? "" : " ('" + inputs[i].name() + "')") +
                         " of " + op.name + " already holds " +
                         value_at(inputs[i], *first_non_finite(inputs[i])) +
                         ": it came into the graph that way; " + op.name + " was called at " +
                         (current_site ? to_string(*current_site) : "an unknown place"));
  const std::string during =
      backward_of ? " in the backward of " + std::string(backward_of->name) + ", whose forward was"
                  : ";";
  throw AnomalyError("anomaly: " + std::string(op.name) + " produced " + value_at(output, *bad) +
                     " at element " + std::to_string(*bad) + " of its output " +
                     to_string(output.shape()) + " from inputs " + shapes_of(inputs) + during +
                     " called at " +
                     (current_site ? to_string(*current_site) : "an unknown place"));
}

// Sets a thread's flag for a scope and restores it on the way out, also on an exception.
class FlagScope {
 public:
  FlagScope(bool& flag, bool on) : flag_(flag), previous_(flag) { flag = on; }
  ~FlagScope() { flag_ = previous_; }

 private:
  bool& flag_;
  bool previous_;
};

std::vector<const OpInfo*>& registry() {
  static std::vector<const OpInfo*> ops;
  return ops;
}

}  // namespace

OpInfo::OpInfo(const char* name, const char* formula, std::vector<const char*> gradients)
    : name(name), formula(formula), gradients(std::move(gradients)) {
  registry().push_back(this);
}

std::vector<const OpInfo*> all_ops() {
  std::vector<const OpInfo*> ops = registry();
  std::sort(ops.begin(), ops.end(),
            [](const OpInfo* a, const OpInfo* b) { return std::string(a->name) < b->name; });
  return ops;
}

namespace {
std::atomic<std::int64_t> node_count{0};
}  // namespace

LiveNodeCount::LiveNodeCount() { ++node_count; }
LiveNodeCount::LiveNodeCount(const LiveNodeCount&) { ++node_count; }
LiveNodeCount::~LiveNodeCount() { --node_count; }
std::int64_t live_nodes() { return node_count.load(); }

std::vector<Tensor> topological_order(const std::vector<Tensor>& roots) {
  std::vector<Tensor> order;
  std::unordered_set<const TensorImpl*> entered;
  std::vector<std::pair<const Tensor*, std::size_t>> stack;  // tensor, next input to visit
  for (const Tensor& root : roots) {
    if (!root.defined() || !entered.insert(root.impl()).second) continue;
    stack.emplace_back(&root, 0);
    while (!stack.empty()) {
      auto& [t, next] = stack.back();
      const Node* n = t->node();
      if (n && next < n->inputs.size()) {
        const Tensor& in = n->inputs[next++];
        if (entered.insert(in.impl()).second) stack.emplace_back(&in, 0);
        continue;
      }
      order.push_back(*t);
      stack.pop_back();
    }
  }
  return order;
}

bool grad_enabled() { return grad_mode; }
no_grad::no_grad() : previous_(grad_mode) { grad_mode = false; }
no_grad::~no_grad() { grad_mode = previous_; }
detect_anomaly::detect_anomaly() : previous_(anomaly_mode) { anomaly_mode = true; }
detect_anomaly::~detect_anomaly() { anomaly_mode = previous_; }

CallSite::CallSite(const std::source_location& where) : outermost_(!current_site) {
  if (outermost_) current_site = where;
}
CallSite::~CallSite() {
  if (outermost_) current_site.reset();
}

std::string to_string(const std::source_location& where) {
  if (where.file_name()[0] == '\0') return "an unknown place";
  return std::string(where.file_name()) + ":" + std::to_string(where.line()) + " (in " +
         where.function_name() + ")";
}

enable_grad::enable_grad() : previous_(grad_mode) { grad_mode = true; }
enable_grad::~enable_grad() { grad_mode = previous_; }

cluster::cluster(std::string label)
    : previous_(std::exchange(current_cluster,
                              std::make_shared<const std::string>(std::move(label)))) {}
cluster::~cluster() { current_cluster = std::move(previous_); }

Tensor record(const OpInfo& op, Tensor output, std::vector<Tensor> inputs, BackwardFn backward,
              std::vector<Tensor> saved) {
  if (anomaly_mode) check_forward(op, output, inputs);
  if (!grad_mode) return output;
  bool any = false;
  for (const Tensor& t : inputs) any = any || t.requires_grad();
  if (!any) return output;
  TensorImpl* impl = output.impl();
  impl->requires_grad = true;
  impl->node = std::make_unique<Node>(Node{&op, std::move(inputs), std::move(saved),
                                           std::move(backward), false, in_backward,
                                           current_cluster, current_site.value_or(
                                                                std::source_location{})});
  return output;
}

namespace {

// Note [Backward scheduling]
// Reverse mode must visit a tensor only after every consumer of it has sent its gradient
// back, so that the gradient is complete (a value used twice gets the sum of both). So:
//   1. walk the graph from the outputs (an explicit stack, never recursion) and count, for
//      each tensor that requires grad, how many consumers it has in this graph;
//   2. order the tensors so that each one comes after all of its consumers (Kahn's
//      algorithm: take a tensor whose count is zero, count its inputs down);
//   3. for grad(), mark the tensors from which a requested input can be reached: only
//      their backward runs, and only their part of the graph is released;
//   4. seed the outputs and walk the order, running each backward and adding what it
//      returns into its inputs' gradients.
// Gradients are added out of place, since one gradient tensor may be handed to several
// inputs; what the caller gets back is a copy of its own.
struct Pending {
  Tensor grad;
  std::int64_t consumers = 0;
  bool wanted = true;  // step 3: a requested input can be reached from here
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
  // 1. Count consumers.
  std::unordered_map<TensorImpl*, Pending> pending;
  std::vector<TensorImpl*> stack, ready;
  for (const Tensor& r : roots)
    if (pending.try_emplace(r.impl()).second) stack.push_back(r.impl());
  ready = stack;
  while (!stack.empty()) {
    TensorImpl* t = stack.back();
    stack.pop_back();
    if (!t->node) continue;
    for (const Tensor& in : t->node->inputs) {
      if (!in.requires_grad()) continue;
      auto [it, fresh] = pending.try_emplace(in.impl());
      ++it->second.consumers;
      if (fresh) stack.push_back(in.impl());
    }
  }

  // 2. Order: consumers before the tensors they consume.
  std::erase_if(ready, [&](TensorImpl* r) { return pending[r].consumers > 0; });
  std::vector<TensorImpl*> order;
  order.reserve(pending.size());
  while (!ready.empty()) {
    TensorImpl* t = ready.back();
    ready.pop_back();
    order.push_back(t);
    if (!t->node) continue;
    for (const Tensor& in : t->node->inputs)
      if (in.requires_grad() && --pending[in.impl()].consumers == 0) ready.push_back(in.impl());
  }

  // 3. Only what leads to a requested input (inputs come later in the order).
  if (pass.targets) {
    for (auto t = order.rbegin(); t != order.rend(); ++t) {
      Pending& p = pending[*t];
      p.wanted = pass.targets->contains(*t);
      if ((*t)->node)
        for (const Tensor& in : (*t)->node->inputs)
          p.wanted = p.wanted || (in.requires_grad() && pending[in.impl()].wanted);
    }
  }

  // 4. Walk.
  FlagScope mode(grad_mode, pass.create_graph);
  FlagScope recording(in_backward, pass.create_graph);
  for (std::size_t i = 0; i < roots.size(); ++i)
    accumulate(pending[roots[i].impl()].grad, root_grads[i]);
  // What grad() and the results keep must not share numbers with another tensor (the same
  // gradient handed by an add to both its inputs, the caller's seed): such a gradient is
  // copied. One that nothing else holds is kept as it is — copying it would cost as much as
  // the op that made it. With create_graph the gradient is part of a graph and kept as is.
  const auto own = [&pass](const Tensor& g) {
    const bool alone = g.shared_impl().use_count() == 1 && g.impl()->storage.use_count() == 1;
    return pass.create_graph || alone ? g : g.clone();
  };

  for (TensorImpl* t : order) {
    Pending& here = pending[t];
    if (!here.wanted) continue;
    const Tensor g = std::move(here.grad);
    if (!g.defined()) continue;  // nothing flowed here (every consumer's gradient was empty)

    if (pass.targets) {
      if (auto it = pass.targets->find(t); it != pass.targets->end())
        (*pass.results)[it->second] = own(g);
    }
    if (pass.into_leaves && (!t->node || t->retains_grad))
      t->grad = t->grad.defined() ? t->grad + g : own(g);
    if (!t->node) continue;

    Node& node = *t->node;
    const bool needed = std::any_of(node.inputs.begin(), node.inputs.end(), [&](const Tensor& in) {
      return in.requires_grad() && pending[in.impl()].wanted;
    });
    if (!needed) continue;  // a requested intermediate value: no need to go further down
    if (node.released)
      throw GraphError(std::string(caller) + ": the graph through '" + node.op->name +
                       "' was freed by an earlier backward; pass retain_graph = true to that "
                       "earlier call to go through it again");
    const Tensor self(t->shared_from_this());
    const CallSite site(node.where);  // what the backward records comes from that line too
    const Grads grads = [&] {
      const OpInfo* outer = std::exchange(backward_of, node.op);
      struct Restore {
        const OpInfo* outer;
        ~Restore() { backward_of = outer; }
      } restore{outer};
      return node.backward(BackwardContext{g, self, node.inputs, node.saved});
    }();
    // A backward formula that breaks its contract is a bug in that op — perhaps one a
    // learner is writing (tutorial 8): say which op and what it returned.
    if (grads.size() != node.inputs.size())
      throw GraphError("backward of '" + std::string(node.op->name) + "' returned " +
                       std::to_string(grads.size()) + " gradients for its " +
                       std::to_string(node.inputs.size()) + " inputs: it must return one per input");
    for (std::size_t i = 0; i < node.inputs.size(); ++i) {
      const Tensor& in = node.inputs[i];
      if (!in.requires_grad() || !grads[i].defined() || !pending[in.impl()].wanted) continue;
      if (grads[i].shape() != in.shape())
        throw ShapeError("backward of '" + std::string(node.op->name) +
                         "' returned a gradient of shape " + to_string(grads[i].shape()) +
                         " for its input " + std::to_string(i) + " of shape " +
                         to_string(in.shape()) + ": a gradient has its input's shape");
      if (anomaly_mode)
        if (const auto bad = first_non_finite(grads[i]))
          throw AnomalyError("anomaly: the backward of " + std::string(node.op->name) +
                             " returned " + value_at(grads[i], *bad) + " at element " +
                             std::to_string(*bad) + " of the gradient of its input " +
                             std::to_string(i) + " " + to_string(in.shape()) + " (inputs " +
                             shapes_of(node.inputs) + "); that " + node.op->name +
                             " was called at " + to_string(node.where));
      accumulate(pending[in.impl()].grad, grads[i]);
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
  if (!output.defined())
    throw GraphError(std::string(caller) + ": the output is an undefined tensor");
  if (!output.requires_grad())
    throw GraphError(std::string(caller) +
                     ": this tensor does not require grad: nothing it was computed from has "
                     "requires_grad set (call set_requires_grad() on the parameters)" +
                     (grad_enabled() ? "" : ", or it was computed inside no_grad"));
  if (!given || !given->defined()) {
    if (output.numel() != 1)
      throw GraphError(std::string(caller) + ": the output has shape " + to_string(output.shape()) +
                       "; only a one-element output seeds its own gradient. Pass grad_output "
                       "of shape " +
                       to_string(output.shape()) + ", or reduce first (e.g. sum)");
    return ones_like(output);
  }
  if (given->shape() != output.shape())
    throw ShapeError(std::string(caller) + ": grad_output has shape " + to_string(given->shape()) +
                     " but the output has shape " + to_string(output.shape()));
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
    throw GraphError("grad: " + std::to_string(options.grad_outputs.size()) + " grad_outputs for " +
                     std::to_string(outputs.size()) + " outputs");
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
    if (i != first)
      results[i] = options.create_graph || !results[first].defined() ? results[first]
                                                                     : results[first].clone();
    if (!results[i].defined()) results[i] = zeros_like(inputs[i]);
  }
  return results;
}

}  // namespace gradlab
