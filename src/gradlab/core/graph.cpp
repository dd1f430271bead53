#include "gradlab/core/graph.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "gradlab/core/budget.hpp"
#include "gradlab/core/anomaly.hpp"
#include "gradlab/core/errors.hpp"
#include "gradlab/ops/elementwise.hpp"  // a + b: the one op the core calls, to sum gradients (accumulate)

namespace gradlab {

thread_local constinit detail::ThreadModes detail::modes;

namespace {

using detail::modes;

std::vector<const OpInfo*>& registry() {
  static std::vector<const OpInfo*> ops;
  return ops;
}

}  // namespace

OpInfo::OpInfo(const char* name, const char* formula, std::vector<const char*> gradients)
    : name(name), formula(formula), gradients(std::move(gradients)) {
  registry().push_back(this);
}

std::vector<const OpInfo*> registered_ops() { return registry(); }

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
      if (n && next < n->inputs().size()) {
        const Tensor& in = n->inputs()[next++];
        if (entered.insert(in.impl()).second) stack.emplace_back(&in, 0);
        continue;
      }
      order.push_back(*t);
      stack.pop_back();
    }
  }
  return order;
}

std::string to_string(const std::source_location& where) {
  if (where.file_name()[0] == '\0') return "an unknown place";
  return std::string(where.file_name()) + ":" + std::to_string(where.line()) + " (in " +
         where.function_name() + ")";
}

no_grad::no_grad() : ModeScope(modes.grad, false) {}
enable_grad::enable_grad() : ModeScope(modes.grad, true) {}
detect_anomaly::detect_anomaly() : ModeScope(modes.anomaly, true) {}

// Labels are interned: a node keeps a pointer to its label, never a copy of it.
const std::string* interned(std::string label) {
  static std::mutex mutex;
  static auto* labels = new std::set<std::string>;  // never destroyed: nodes point into it
  std::lock_guard lock(mutex);
  return &*labels->insert(std::move(label)).first;
}
cluster::cluster(std::string label) : ModeScope(modes.cluster, interned(std::move(label))) {}

// A million-node chain must fit in 200 MB (bench/, deep_chain_1e6): with its output tensor
// and that tensor's numbers, a node of two tensors costs 176 bytes. (The fuzz build's
// stand-in for std::source_location, fuzz/compat/, is 24 bytes instead of a pointer's 8.)
static_assert(Node::bytes_for(2) <= 72 + sizeof(std::source_location) && sizeof(TensorImpl) <= 80);

// (Inline into make, its one caller: the call was 2% of a small op's instructions.)
[[gnu::always_inline]] inline Node::Node(const OpInfo& op, std::initializer_list<TensorRef> inputs,
                                         std::initializer_list<TensorRef> saved,
                                         BackwardFn backward, std::uint32_t output_version)
    : op(&op), backward(std::move(backward)), output_version_(output_version) {
  input_count_ = static_cast<std::uint8_t>(inputs.size());
  count_ = static_cast<std::uint8_t>(inputs.size() + saved.size());  // (copying cannot throw)
  Tensor* kept = tensors();
  auto* seen = const_cast<std::uint32_t*>(versions_at(count_));
  auto keep = [&](const TensorRef& t) {
    *seen++ = t.tensor.defined() ? t.tensor.impl()->storage->version_stamp() : 0;
    ::new (kept++) Tensor(t.tensor);
  };
  for (const TensorRef& t : inputs) keep(t);
  for (const TensorRef& t : saved) keep(t);
}

// The slow path of recording an op (src/gradlab/core/budget.hpp): charge it to the budget in force,
// if one is, and refuse a node of more tensors than it can count.
namespace {
[[gnu::cold]] void charge_and_check(const OpInfo& op, std::size_t tensors) {
  if (detail::budget_in_force.load(std::memory_order_relaxed)) detail::charge_node(op.name);
  if (tensors > UINT8_MAX)
    throw GraphError(std::string(op.name) + ": more than 255 inputs and saved values in one op");
}
}  // namespace

[[gnu::always_inline]] inline Node* Node::make(const OpInfo& op,
                                               std::initializer_list<TensorRef> inputs,
                                               std::initializer_list<TensorRef> saved,
                                               BackwardFn backward,
                                               std::uint32_t output_version) {
  const std::size_t tensors = inputs.size() + saved.size();
  if (tensors > detail::uncharged_node_tensors.load(std::memory_order_relaxed)) [[unlikely]]
    charge_and_check(op, tensors);
  void* block = PooledObject::operator new(bytes_for(inputs.size() + saved.size()));
  return ::new (block) Node(op, inputs, saved, std::move(backward), output_version);
}

Node::Node(const OpInfo& op, std::span<const Tensor> inputs, BackwardFn backward,
           std::uint32_t output_version)
    : op(&op), backward(std::move(backward)), output_version_(output_version) {
  input_count_ = static_cast<std::uint8_t>(inputs.size());
  auto* seen = const_cast<std::uint32_t*>(versions_at(inputs.size()));
  for (const Tensor& t : inputs) {
    seen[count_] = t.defined() ? t.impl()->storage->version_stamp() : 0;
    ::new (tensors() + count_++) Tensor(t);
  }
}

Node* Node::make(const OpInfo& op, std::span<const Tensor> inputs, BackwardFn backward,
                 std::uint32_t output_version) {
  if (inputs.size() > detail::uncharged_node_tensors.load(std::memory_order_relaxed)) [[unlikely]]
    charge_and_check(op, inputs.size());
  void* block = PooledObject::operator new(bytes_for(inputs.size()));
  return ::new (block) Node(op, inputs, std::move(backward), output_version);
}

void Node::give_up_tensors(TensorList& into) {
  const std::span<Tensor> kept{tensors(), live()};
  for (Tensor& t : kept)
    if (t.use_count() == 1) into.push_back(std::move(t));  // the others just lose a holder
  std::destroy(kept.begin(), kept.end());
  released = true;
  input_count_ = 0;
}

namespace {

// An output that already had a node (an op that records over what another op made)
// lets go of it here, out of the way of the usual case.
[[gnu::noinline, gnu::cold]] void drop_node(TensorImpl& t) { t.node.reset(); }

// What both attach()es do once the node is made. (Inline: as a call it was a sixth of
// attach's instructions.)
[[gnu::always_inline]] inline void place(const Tensor& output, Node* node) {
  TensorImpl* impl = output.impl();
  impl->requires_grad = true;
  if (impl->node) [[unlikely]]
    drop_node(*impl);
  (void)impl->node.release();  // null already: tells the compiler that nothing is deleted
  impl->node.reset(node);
  node->from_backward = modes.in_backward;
  node->cluster = modes.cluster;
  if (modes.site_open) node->where = modes.site;
}

}  // namespace

void detail::attach(const OpInfo& op, const Tensor& output, std::initializer_list<TensorRef> inputs,
                    BackwardFn backward, std::initializer_list<TensorRef> saved) {
  place(output, Node::make(op, inputs, saved, std::move(backward),
                           output.impl()->storage->version_stamp()));
}

void detail::attach(const OpInfo& op, const Tensor& output, std::span<const Tensor> inputs,
                    BackwardFn backward) {
  place(output, Node::make(op, inputs, std::move(backward), output.impl()->storage->version_stamp()));
}

namespace {

// Note [Backward scheduling]
// Reverse mode must visit a tensor only after every consumer of it has sent its gradient
// back, so that the gradient is complete (a value used twice gets the sum of both). So:
//   1. walk the graph from the outputs (a worklist, never recursion) and count, for each
//      tensor that requires grad, how many consumers it has in this graph;
//   2. seed the outputs, then repeatedly take a tensor all of whose consumers are done
//      (its count is zero: Kahn's algorithm), run its backward, add what it returns into
//      its inputs' gradients and count each input's consumers down;
//   3. for grad(), first find the order of step 2 without running anything, and mark the
//      tensors from which a requested input can be reached: only their backward runs,
//      and only their part of the graph is released.
// The count and the gradient summed so far live in the node itself (a leaf's, in a small
// table of the pass), so a pass allocates nothing per node: the bookkeeping of a
// million-node chain costs no memory beyond the chain's. The other side of that: one
// graph is walked by one backward pass at a time (a second pass that reaches a node
// while another is still running through it throws GraphError). Separate graphs that
// share only leaves, such as parameters, may run their passes at once in several threads.
//
// Gradients are added out of place when the sum so far is shared with anything else (one
// gradient tensor may be handed to several inputs), in place when nobody else holds it.
// What the caller gets back is a copy of its own.

using Slot = PassSlot;

// The slots of the tensors without a node (leaves), by address: open addressing in a
// power-of-two table, at most half full.
class LeafSlots {
 public:
  LeafSlots() : entries_(16) {}
  // The slot of a tensor already in the table; null if it is not.
  Slot* find(const TensorImpl* t) {
    Entry& e = probe(entries_, t);
    return e.key ? &e.slot : nullptr;
  }
  Slot& find(const TensorImpl* t, bool& fresh) {
    if (2 * (used_ + 1) > entries_.size()) grow();
    Entry& e = probe(entries_, t);
    fresh = e.key == nullptr;
    if (fresh) {
      e.key = t;
      ++used_;
    }
    return e.slot;
  }

 private:
  struct Entry {
    const TensorImpl* key = nullptr;
    Slot slot;
  };
  static Entry& probe(SmallVector<Entry, 16>& table, const TensorImpl* t) {
    const std::size_t mask = table.size() - 1;
    std::size_t i = (reinterpret_cast<std::uintptr_t>(t) >> 4) * 0x9E3779B97F4A7C15ull >> 32;
    while (table[i & mask].key && table[i & mask].key != t) ++i;
    return table[i & mask];
  }
  void grow() {
    SmallVector<Entry, 16> bigger(2 * entries_.size());
    for (Entry& e : entries_)
      if (e.key) probe(bigger, e.key) = std::move(e);
    entries_ = std::move(bigger);
  }
  SmallVector<Entry, 16> entries_;
  std::size_t used_ = 0;
};

// Adds g into the sum `into`: in place when nobody else holds the sum or its numbers and
// the pass is not recorded, otherwise as a new tensor.
void accumulate(Tensor& into, Tensor&& g, bool recorded) {
  if (!into.defined()) {
    into = std::move(g);
    return;
  }
  const bool alone = into.use_count() == 1 && into.impl()->storage.use_count() == 1;
  if (recorded || !alone || into.shape() != g.shape() || into.dtype() != g.dtype()) {
    into = into + g;
    return;
  }
  const std::int64_t n = into.numel();
  dispatch(into.dtype(), [&]<class T>(T) {
    T* sum = into.data<T>();
    const T* add = std::as_const(g).data<T>();  // (read: its version stays)
    for (std::int64_t i = 0; i < n; ++i) sum[i] += add[i];
  });
}

// Note [Leaf gradients across threads]
// Two threads back-propagating separate graphs that share a parameter both add into its
// .grad(): without a lock, one thread's sum overwrites the other's and updates are lost.
// As PyTorch's AccumulateGrad does, each addition into a tensor's .grad() holds a lock,
// one of a fixed set chosen by the tensor's address (a tensor has no room for a mutex of
// its own, and a pass takes the lock once per leaf, not per op). Nothing is done while
// holding it but that one addition, so two of them never nest.
std::mutex& grad_lock(const TensorImpl* t) {
  static std::array<std::mutex, 64> locks;
  return locks[(reinterpret_cast<std::uintptr_t>(t) >> 4) % locks.size()];
}

// Note [Passes in threads]
// A pass keeps its bookkeeping in the nodes (Note [Backward scheduling]), so two passes
// through one graph at once would write the same slots: memory corruption, not just a
// wrong sum. So a pass claims each node as it first reaches it, swapping its number into
// `pass_` with a compare-and-swap, and refuses (GraphError) a node whose number belongs to
// a pass still running. Which passes are running is kept here: their count, read on every
// claim, and, consulted only when more than one runs, their numbers.
class RunningPasses {
 public:
  void enter(std::uint32_t id) {
    count_.fetch_add(1, std::memory_order_acq_rel);
    for (std::atomic<std::uint32_t>& entry : ids_) {
      std::uint32_t free = 0;
      if (entry.compare_exchange_strong(free, id, std::memory_order_acq_rel)) return;
    }
    count_.fetch_sub(1, std::memory_order_acq_rel);
    throw GraphError("backward: more than " + std::to_string(ids_.size()) +
                     " backward passes running at once");
  }
  void leave(std::uint32_t id) {
    for (std::atomic<std::uint32_t>& entry : ids_)
      if (entry.load(std::memory_order_relaxed) == id) {
        entry.store(0, std::memory_order_release);
        break;
      }
    count_.fetch_sub(1, std::memory_order_acq_rel);  // orders this pass's writes before any later claim
  }
  // Whether pass `id`, which is not the caller's, is running. Once a pass has left it
  // never runs again, so a "no" stays true.
  bool running(std::uint32_t id) const {
    if (count_.load(std::memory_order_acquire) <= 1) return false;  // only the caller's
    return std::any_of(ids_.begin(), ids_.end(), [id](const std::atomic<std::uint32_t>& entry) {
      return entry.load(std::memory_order_acquire) == id;
    });
  }

 private:
  std::atomic<int> count_{0};
  std::array<std::atomic<std::uint32_t>, 256> ids_{};  // 0: a free entry
};
constinit RunningPasses running_passes;

struct Pass {
  bool retain_graph = false;
  bool create_graph = false;
  bool into_leaves = false;  // backward(): fill .grad(); grad(): only return results
  const std::unordered_map<TensorImpl*, std::size_t>* targets = nullptr;
  std::vector<Tensor>* results = nullptr;
};

}  // namespace

struct BackwardPass {
  BackwardPass(const char* caller, const Pass& options) : caller(caller), options(options) {
    static std::atomic<std::uint32_t> passes{0};
    do id = ++passes;
    while (id == 0);  // 0 marks a node no pass has reached yet
    running_passes.enter(id);
  }
  ~BackwardPass() { running_passes.leave(id); }
  BackwardPass(const BackwardPass&) = delete;
  BackwardPass& operator=(const BackwardPass&) = delete;

  // The slot of t in this pass, made if `fresh` comes back true.
  Slot& slot(TensorImpl* t, bool& fresh) {
    if (!t->node) return leaves.find(t, fresh);
    Node& n = *t->node;
    std::uint32_t last = n.pass_.load(std::memory_order_acquire);
    fresh = last != id;
    if (fresh) {  // claim it (Note [Passes in threads]), or touch nothing
      if ((last != 0 && running_passes.running(last)) ||
          !n.pass_.compare_exchange_strong(last, id, std::memory_order_acq_rel)) [[unlikely]]
        overtaken(t);
      n.slot_ = Slot{};
    }
    return n.slot_;
  }
  // The slot of a tensor step 1 reached.
  Slot& reached(TensorImpl* t) {
    if (t->node && t->node->pass_.load(std::memory_order_relaxed) == id) [[likely]]
      return t->node->slot_;
    return reached_leaf(t);
  }
  Slot& reached_leaf(TensorImpl* t) {
    Slot* s = t->node ? nullptr : leaves.find(t);  // a node: another pass claimed it since
    if (!s) [[unlikely]]
      overtaken(t);
    return *s;
  }
  [[noreturn]] void overtaken(const TensorImpl* t) const {
    throw GraphError(std::string(caller) + ": another backward pass is running through the "
                     "graph of " +
                     (t->node ? "'" + std::string(t->node->op->name) + "'" : "a leaf") +
                     " (another thread's, or one started inside a backward formula); run one "
                     "pass at a time through a graph (separate graphs may share leaves)");
  }

  // Note [Version counters]
  // A backward formula reads the values its node kept (inputs, saved values) and trusts
  // them to be what the forward pass saw. Changing one in place in between (x.set(…), an
  // optimizer's step, load_checkpoint, a write through data<T>() of a view or of a detached
  // copy, which share the numbers) would make the gradient silently wrong. So every
  // storage counts its in-place writes (Storage::version), a node remembers the version of
  // each tensor it keeps, and before a node's backward runs the two must agree, as in
  // PyTorch. The cost: a load and a compare per kept tensor, and four bytes of the node.
  // (Stamps, not versions, are compared: the version with its storage's constant low bits,
  // one shift fewer per tensor.)
  // (The differences are gathered and tested once; the cold path finds which it was.)
  void check_versions(const Tensor& output, const Node& node) const {
    const Tensor* kept = node.tensors();  // all of them: a released node never gets here
    const std::uint32_t* seen = node.versions();
    std::uint32_t differ = output.impl()->storage->version_stamp() ^ node.output_version_;
    for (std::size_t i = 0, n = node.count_; i < n; ++i)
      if (const TensorImpl* t = kept[i].impl()) differ |= t->storage->version_stamp() ^ seen[i];
    if (differ) [[unlikely]]
      report_change(output, node);
  }
  [[gnu::cold, noreturn]] void report_change(const Tensor& output, const Node& node) const {
    const Tensor* kept = node.tensors();
    const std::uint32_t* seen = node.versions();
    for (std::size_t i = 0; i < node.count_; ++i)
      if (kept[i].defined() && kept[i].impl()->storage->version_stamp() != seen[i])
        changed_in_place(node, kept[i],
                         i < node.input_count_
                             ? "input " + std::to_string(i)
                             : "saved value " + std::to_string(i - node.input_count_),
                         seen[i]);
    changed_in_place(node, output, "output", node.output_version_);
  }
  [[gnu::cold, noreturn]] void changed_in_place(const Node& node, const Tensor& t,
                                                const std::string& which,
                                                std::uint32_t seen_stamp) const {
    const std::uint32_t seen = Storage::version_of(seen_stamp);
    const std::string& name = t.name();
    throw GraphError(std::string(caller) + ": a tensor needed for the gradient was changed in "
                     "place: the " + which + (name.empty() ? "" : " ('" + name + "')") + " " +
                     to_string(t.shape()) + " of '" + node.op->name + "' was at version " +
                     std::to_string(seen) + " when recorded and is at version " +
                     std::to_string(t.impl()->storage->version()) + " now; that '" +
                     node.op->name + "' was called at " + to_string(node.where) +
                     ". Clone it before changing it (x.clone()), or change it after backward");
  }

  // 1. Count consumers.
  void count(std::span<const Tensor> roots) {
    SmallVector<TensorImpl*, 16> work;
    for (const Tensor& r : roots) {
      bool fresh = false;
      slot(r.impl(), fresh);
      if (fresh) work.push_back(r.impl());
    }
    while (!work.empty()) {
      const TensorImpl* t = work.back();
      work.pop_back();
      if (!t->node) continue;
      for (const Tensor& in : t->node->inputs()) {
        if (!in.requires_grad()) continue;
        bool fresh = false;
        ++slot(in.impl(), fresh).consumers;
        if (fresh) work.push_back(in.impl());
      }
    }
  }

  // Calls visit(t) on every tensor in turn, each after all of its consumers: Kahn's
  // algorithm over the counts of step 1, which it uses up. The tensors are handles held
  // by the roots or by the nodes' input lists, which outlive the pass.
  template <class Visit>
  void in_order(std::span<const Tensor> roots, Visit&& visit) {
    SmallVector<const Tensor*, 16> ready;
    for (const Tensor& r : roots)
      if (reached(r.impl()).consumers == 0 &&
          std::none_of(ready.begin(), ready.end(), [&](const Tensor* t) { return t->impl() == r.impl(); }))
        ready.push_back(&r);
    while (!ready.empty()) {
      const Tensor& t = *ready.back();
      ready.pop_back();
      visit(t);
      if (const Node* n = t.impl()->node.get())
        for (const Tensor& in : n->inputs())
          if (in.requires_grad() && --reached(in.impl()).consumers == 0) ready.push_back(&in);
    }
  }

  // 3. Which tensors lead to a requested input, from the last of `order` (a tensor comes
  // after its consumers there) to the first.
  void mark_wanted(const std::vector<const Tensor*>& order) {
    for (auto t = order.rbegin(); t != order.rend(); ++t) {
      TensorImpl* impl = (*t)->impl();
      bool wanted = options.targets->contains(impl);
      if (impl->node)
        for (const Tensor& in : impl->node->inputs())
          wanted = wanted || (in.requires_grad() && reached(in.impl()).wanted);
      reached(impl).wanted = wanted;
    }
  }

  // What grad() and .grad() keep must not share numbers with another tensor (the same
  // gradient handed by an add to both its inputs, the caller's seed): such a gradient is
  // copied. One that nothing else holds is kept as it is — copying it would cost as much as
  // the op that made it. With create_graph the gradient is part of a graph and kept as is.
  Tensor own(const Tensor& g) const {
    const bool alone = g.use_count() == 1 && g.impl()->storage.use_count() == 1;
    return options.create_graph || alone ? g : g.clone();
  }

  // 2. One tensor's turn: hand its gradient on through its node's backward.
  void visit(const Tensor& self) {
    TensorImpl* t = self.impl();
    Slot& here = reached(t);
    if (!here.wanted) return;
    const Tensor g = std::move(here.gradient);
    if (!g.defined()) return;  // nothing flowed here (every consumer's gradient was empty)

    if (options.targets) {
      if (auto it = options.targets->find(t); it != options.targets->end())
        (*options.results)[it->second] = own(g);
    }
    if (options.into_leaves && (!t->node || t->retains_grad)) {
      const std::lock_guard lock(grad_lock(t));  // Note [Leaf gradients across threads]
      if (t->grad.defined())
        accumulate(t->grad, Tensor(g), options.create_graph);
      else
        t->grad = own(g);
    }
    if (!t->node) return;

    Node& node = *t->node;
    const std::span<const Tensor> inputs = node.inputs();
    // A requested intermediate value needs nothing below it. (Without targets, every input
    // that requires grad is wanted, and a node has one such input, or it would not exist.)
    if (options.targets && std::none_of(inputs.begin(), inputs.end(), [&](const Tensor& in) {
          return in.requires_grad() && reached(in.impl()).wanted;
        }))
      return;
    if (node.released) [[unlikely]]
      throw GraphError(std::string(caller) + ": the graph through '" + node.op->name +
                       "' was freed by an earlier backward; pass retain_graph = true to that "
                       "earlier call to go through it again");
    check_versions(self, node);
    Grads grads = [&] {
      const CallSite site(node.where);  // what the backward records comes from that line too
      const ModeScope<const OpInfo*> running(modes.backward_of, node.op);
      return node.backward(BackwardContext{g, self, inputs, node.saved()});
    }();
    // A backward formula that breaks its contract is a bug in that op — perhaps one a
    // learner is writing (tutorial 8): say which op and what it returned.
    if (grads.size() != inputs.size()) [[unlikely]]
      throw GraphError("backward of '" + std::string(node.op->name) + "' returned " +
                       std::to_string(grads.size()) + " gradients for its " +
                       std::to_string(inputs.size()) + " inputs: it must return one per input");
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const Tensor& in = inputs[i];
      if (!in.requires_grad() || !grads[i].defined()) continue;
      Slot& there = reached(in.impl());
      if (!there.wanted) continue;
      if (grads[i].shape() != in.shape()) [[unlikely]]
        throw ShapeError("backward of '" + std::string(node.op->name) +
                         "' returned a gradient of shape " + to_string(grads[i].shape()) +
                         " for its input " + std::to_string(i) + " of shape " +
                         to_string(in.shape()) + ": a gradient has its input's shape");
      if (modes.anomaly) detail::check_backward(*node.op, grads[i], i, inputs, node.where);
      accumulate(there.gradient, std::move(grads[i]), options.create_graph);
    }
    if (!options.retain_graph) {
      node.released = true;
      node.backward.reset();
      std::destroy_n(node.tensors() + node.input_count_, node.count_ - node.input_count_);
    }
  }

  void run(std::span<const Tensor> roots, std::span<const Tensor> seeds) {
    try {
      run_pass(roots, seeds);
    } catch (...) {
      drop_partial_sums(roots);
      throw;
    }
  }

  // A pass that throws part-way (a backward formula's error, a budget's) leaves partial
  // sums in the slots of the nodes it claimed. With create_graph such a sum is a graph that
  // holds the node's own output: a cycle that would never be freed. So they go.
  void drop_partial_sums(std::span<const Tensor> roots) {
    std::unordered_set<const TensorImpl*> seen;
    SmallVector<const TensorImpl*, 16> work;
    for (const Tensor& r : roots) work.push_back(r.impl());
    while (!work.empty()) {
      const TensorImpl* t = work.back();
      work.pop_back();
      Node* n = t->node.get();
      if (!n || n->pass_.load(std::memory_order_relaxed) != id || !seen.insert(t).second) continue;
      n->slot_.gradient = Tensor();
      for (const Tensor& in : n->inputs())
        if (in.requires_grad()) work.push_back(in.impl());
    }
  }

  void run_pass(std::span<const Tensor> roots, std::span<const Tensor> seeds) {
    count(roots);
    ModeScope<bool> mode(modes.grad, options.create_graph);
    ModeScope<bool> recording(modes.in_backward, options.create_graph);
    for (std::size_t i = 0; i < roots.size(); ++i)
      accumulate(reached(roots[i].impl()).gradient, Tensor(seeds[i]), options.create_graph);
    if (!options.targets) {
      in_order(roots, [&](const Tensor& t) { visit(t); });
      return;
    }
    std::vector<const Tensor*> order;
    in_order(roots, [&](const Tensor& t) { order.push_back(&t); });
    mark_wanted(order);
    for (const Tensor* t : order) visit(*t);
  }

  const char* caller;
  const Pass& options;
  std::uint32_t id;
  LeafSlots leaves;
};

namespace {

void run_backward(const char* caller, std::span<const Tensor> roots,
                  std::span<const Tensor> root_grads, const Pass& pass) {
  BackwardPass(caller, pass).run(roots, root_grads);
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
  run_backward("backward", {&output, 1}, {&seed, 1},
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
