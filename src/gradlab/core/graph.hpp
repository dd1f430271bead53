// The computation graph and reverse-mode differentiation.
//
// Every op on tensors that require grad calls record(): the output gets a Node holding the
// op's name, its inputs, any extra saved values and its backward formula. backward() and
// grad() walk those nodes from the output back to the leaves. The engine never looks at
// what an op is: it only calls the backward each op declared beside its forward.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <new>
#include <source_location>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "gradlab/core/tensor.hpp"

namespace gradlab {

// What an op's backward formula is given.
struct BackwardContext {
  const Tensor& grad;                 // ∂L/∂output: the gradient flowing in from above
  const Tensor& output;               // the op's own result
  std::span<const Tensor> inputs;     // the op's inputs, in order
  std::span<const Tensor> saved;      // extra values the forward chose to keep
  bool needs(std::size_t i) const { return inputs[i].requires_grad(); }
};

// One gradient per input, in order; leave an entry undefined when needs(i) is false.
using Grads = SmallVector<Tensor, 3>;

// A backward formula, as record() keeps it: anything callable as Grads(const
// BackwardContext&), usually a lambda written beside the forward. It is one pointer, to keep
// nodes small: a lambda that captures nothing is shared as one static instance of itself,
// one that captures values is copied to the heap.
class BackwardFn {
 public:
  BackwardFn() = default;
  template <class F>
    requires(!std::is_same_v<std::remove_cvref_t<F>, BackwardFn>)
  BackwardFn(F f) : fn_(hold(std::move(f))) {}  // NOLINT: implicit, like std::function
  BackwardFn(BackwardFn&& other) noexcept : fn_(std::exchange(other.fn_, nullptr)) {}
  BackwardFn& operator=(BackwardFn&& other) noexcept {
    std::swap(fn_, other.fn_);
    return *this;
  }
  ~BackwardFn() { reset(); }

  Grads operator()(const BackwardContext& c) const { return fn_->call(c); }
  explicit operator bool() const { return fn_ != nullptr; }
  void reset() {
    if (fn_) std::exchange(fn_, nullptr)->release();
  }

 private:
  struct Callable {
    virtual Grads call(const BackwardContext& c) const = 0;
    virtual void release() const = 0;
  };
  template <class F>
  struct Shared final : Callable {
    Grads call(const BackwardContext& c) const override { return F{}(c); }
    void release() const override {}
  };
  template <class F>
  struct Owned final : Callable, PooledObject {
    static_assert(alignof(F) <= 16, "a backward formula's captures are at most 16-byte aligned");
    explicit Owned(F f) : f(std::move(f)) {}
    Grads call(const BackwardContext& c) const override { return f(c); }
    void release() const override { delete this; }
    F f;
  };
  template <class F>
  static const Callable* hold(F f) {
    if constexpr (std::is_empty_v<F> && std::is_default_constructible_v<F>) {
      static const Shared<F> shared;
      return &shared;
    } else {
      return new Owned<F>(std::move(f));
    }
  }
  const Callable* fn_ = nullptr;
};

// What an op declares once, beside its backward: its name, what it computes, and for each
// input the gradient it sends back, written with G for the gradient that arrives at its
// output. Diagrams print these on their edges and docs/ops.md lists them all, so the two
// read the same text. Each op file defines its OpInfo objects at namespace scope; the
// constructor adds them to registered_ops() (and so to all_ops(), src/gradlab/ops/registry.hpp).
struct OpInfo {
  OpInfo(const char* name, const char* formula, std::vector<const char*> gradients);
  OpInfo(const OpInfo&) = delete;
  OpInfo& operator=(const OpInfo&) = delete;

  const char* name;                    // "matmul"
  const char* formula;                 // "A · B"
  std::vector<const char*> gradients;  // one per input: "∂A = G · Bᵀ", "∂B = Aᵀ · G"
};

// The OpInfo objects constructed so far, in no order: those of the op files linked into the
// program. all_ops() (src/gradlab/ops/registry.hpp) makes sure every op file of the library is.
std::vector<const OpInfo*> registered_ops();

// Counts the Nodes alive in the program (all threads), so that tests can check that a graph
// is freed when its last tensor goes.
struct LiveNodeCount {
  LiveNodeCount();
  LiveNodeCount(const LiveNodeCount&);
  LiveNodeCount& operator=(const LiveNodeCount&) = default;
  ~LiveNodeCount();
};
std::int64_t live_nodes();

// How record() takes the tensors of `{a, b}`: by reference, so that each is copied once,
// into the node.
struct TensorRef {
  TensorRef(const Tensor& t) : tensor(t) {}  // NOLINT: implicit, for `{a, b}`
  const Tensor& tensor;
};

// What a backward pass keeps for each tensor it goes through (src/gradlab/core/graph.cpp).
struct PassSlot {
  Tensor gradient;              // the sum of what the tensor's consumers sent so far
  std::uint32_t consumers = 0;  // its consumers that have not sent theirs yet
  bool wanted = true;           // for grad(): a requested input can be reached from here
};

// An op's record in the graph. The tensors it keeps, its inputs and then its saved values,
// follow it in the same block, each with the version its numbers had when recorded (Note
// [Version counters] in src/gradlab/core/graph.cpp): a node of two tensors fills 80 bytes, and a
// node of many needs no second allocation for them.
struct Node {
  static Node* make(const OpInfo& op, std::initializer_list<TensorRef> inputs,
                    std::initializer_list<TensorRef> saved, BackwardFn backward,
                    std::uint32_t output_version);
  // A node of any number of inputs (at most 255) and no saved values: record_list's.
  static Node* make(const OpInfo& op, std::span<const Tensor> inputs, BackwardFn backward,
                    std::uint32_t output_version);
  // `delete node` (TensorImpl::node does it) frees the block with the tensors' room in it.
  // (Inline, as the destructor is: a small op frees a node.)
  static void operator delete(Node* node, std::destroying_delete_t) {
    const std::size_t bytes = bytes_for(node->count_);
    node->~Node();
    PooledObject::operator delete(node, bytes);
  }
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  // Public only because clang (14) checks the destructor's access at `delete node` even
  // with the destroying operator delete above, which is what runs it.
  ~Node() { std::destroy_n(tensors(), live()); }

  std::span<const Tensor> inputs() const { return {tensors(), input_count_}; }
  std::span<const Tensor> saved() const { return {tensors() + input_count_, live() - input_count_}; }
  // Moves out the inputs and saved values it holds the last reference to and lets go of
  // the rest: what TensorImpl::destroy needs to free a graph without recursion.
  void give_up_tensors(TensorList& into);
  // The bytes of a node that keeps this many tensors.
  static constexpr std::size_t bytes_for(std::size_t tensors) {
    return sizeof(Node) + tensors * (sizeof(Tensor) + sizeof(std::uint32_t));
  }

  const OpInfo* op;
  BackwardFn backward;
  const std::string* cluster = nullptr;  // the label of the enclosing `cluster` scope, if any
  std::source_location where = {};       // the user's call that recorded it (see CallSite)

 private:
  friend struct BackwardPass;  // src/gradlab/core/graph.cpp: the bookkeeping below is its own
  Node(const OpInfo& op, std::initializer_list<TensorRef> inputs,
       std::initializer_list<TensorRef> saved, BackwardFn backward, std::uint32_t output_version);
  Node(const OpInfo& op, std::span<const Tensor> inputs, BackwardFn backward,
       std::uint32_t output_version);
  Tensor* tensors() const {
    return std::launder(reinterpret_cast<Tensor*>(const_cast<Node*>(this) + 1));
  }
  // The version stamps seen (Storage::version_stamp), one per tensor kept: after the room
  // for `count` tensors.
  const std::uint32_t* versions_at(std::size_t count) const {
    return std::launder(reinterpret_cast<const std::uint32_t*>(tensors() + count));
  }
  const std::uint32_t* versions() const { return versions_at(count_); }

  // The tensors held now: the inputs alone once released; none once given up (which
  // releases the node with no inputs left).
  std::size_t live() const { return released ? input_count_ : count_; }

  // The backward pass running through this node keeps here its count of consumers still
  // to come and the sum of the gradients sent so far (see Note [Backward scheduling]);
  // `pass_` says which pass they belong to, so that nothing needs resetting between passes.
  std::atomic<std::uint32_t> pass_ = 0;  // claimed atomically: see Note [Passes in threads]
  std::uint32_t output_version_ = 0;  // the version stamp of its output's numbers when recorded
  [[no_unique_address]] PassSlot slot_;  // (the bytes below fill its tail padding)
  std::uint8_t input_count_ = 0;
  std::uint8_t count_ = 0;  // tensors kept (the block's room): inputs and saved values

 public:
  bool released : 1 = false;       // backward ran without retain_graph: saved values are gone
  bool from_backward : 1 = false;  // recorded by a backward pass with create_graph

 private:
  [[no_unique_address]] LiveNodeCount counted_ = {};
};

namespace detail {

// A thread's modes: set by the scope guards below and by the backward pass, read by every
// op, so kept where ops can read them inline.
struct ThreadModes {
  bool grad = true;                      // grad mode (no_grad turns it off)
  bool anomaly = false;                  // inside detect_anomaly
  bool in_backward = false;              // a backward pass with create_graph is recording
  bool site_open = false;                // an outermost CallSite is open …
  std::source_location site = {};        // … at this place in the user's program …
  const char* site_op = nullptr;         // … for this op (for messages; may be null)
  const std::string* cluster = nullptr;  // the label of the innermost `cluster` scope
  const OpInfo* backward_of = nullptr;   // the op whose backward formula is running
};
extern thread_local constinit ThreadModes modes;

void check_forward(const OpInfo& op, const Tensor& output, std::initializer_list<TensorRef> inputs);
void attach(const OpInfo& op, const Tensor& output, std::initializer_list<TensorRef> inputs,
            BackwardFn backward, std::initializer_list<TensorRef> saved);
void check_forward(const OpInfo& op, const Tensor& output, std::span<const Tensor> inputs);
void attach(const OpInfo& op, const Tensor& output, std::span<const Tensor> inputs,
            BackwardFn backward);

}  // namespace detail

// Attaches a Node to `output` when grad mode is on and some input requires grad; returns
// output either way (the backward formula is only kept in the first case). Backward
// formulas are written with gradlab's own ops, so with create_graph the backward pass is
// recorded too. They must not capture Tensors (pass them as `saved`): the graph frees
// itself through inputs and saved only.
template <class F>
Tensor record(const OpInfo& op, Tensor output, std::initializer_list<TensorRef> inputs,
              F&& backward, std::initializer_list<TensorRef> saved = {}) {
  if (detail::modes.anomaly) detail::check_forward(op, output, inputs);
  if (detail::modes.grad && std::any_of(inputs.begin(), inputs.end(), [](const TensorRef& t) {
        return t.tensor.requires_grad();
      }))
    detail::attach(op, output, inputs, BackwardFn(std::forward<F>(backward)), saved);
  return output;
}

// record() for an op whose inputs are a list of any length (concat([a, b, c])): the same,
// the inputs (at most 255) given as a span, and no saved values.
template <class F>
Tensor record_list(const OpInfo& op, Tensor output, std::span<const Tensor> inputs,
                   F&& backward) {
  if (detail::modes.anomaly) detail::check_forward(op, output, inputs);
  if (detail::modes.grad && std::any_of(inputs.begin(), inputs.end(), [](const Tensor& t) {
        return t.requires_grad();
      }))
    detail::attach(op, output, inputs, BackwardFn(std::forward<F>(backward)));
  return output;
}

// Every tensor the roots were computed from, each after the inputs of the op that made it
// (the roots last). Walks with an explicit stack, so a deep chain is fine.
std::vector<Tensor> topological_order(const std::vector<Tensor>& roots);

// Grad mode: on by default, per thread.
inline bool grad_enabled() { return detail::modes.grad; }

// Would an op given these tensors record a node? Grad mode is on and one of them requires
// grad: record() asks the same. A backward formula asks it to choose between the ops that
// record (with create_graph, so that the gradient is a graph that can be differentiated
// again) and a loop that records nothing (fused, matmul's product, layer_norm's backward).
template <class... Ts>
bool records(const Ts&... tensors) {
  return detail::modes.grad && (tensors.requires_grad() || ...);
}

// Scope guard: sets one of the thread's modes (detail::modes) for a scope and restores it on
// the way out, also on an exception. no_grad, enable_grad, detect_anomaly and cluster are
// this one guard with a mode and a value of their own; the backward pass uses it too.
// (Their constructors are in graph.cpp, beside the modes: GCC 12's UndefinedBehaviorSanitizer
// takes the thread_local's address, reached from an inline constructor elsewhere, for null.)
template <class T>
class ModeScope {
 public:
  ModeScope(T& mode, T value) : mode_(mode), previous_(mode) { mode = value; }
  ~ModeScope() { mode_ = previous_; }
  ModeScope(const ModeScope&) = delete;
  ModeScope& operator=(const ModeScope&) = delete;

 private:
  T& mode_;
  T previous_;
};

// Scope guard: ops inside record nothing (e.g. optimizer updates, evaluation).
class no_grad : ModeScope<bool> {
 public:
  no_grad();
};

// Note [Anomaly mode]
// Inside a detect_anomaly scope every op checks what it produced: the first NaN or infinity
// in an op's output (forward) or in a gradient its backward returns throws AnomalyError,
// naming the op, its input shapes, and the line of the user's program that called it.
// The checks read every number, so the scope is for hunting a NaN, not for training runs.
class detect_anomaly : ModeScope<bool> {
 public:
  detect_anomaly();
};

// Where the user's program called an op. Each public op takes
// `std::source_location where = std::source_location::current()`, which the compiler fills
// in at the caller's line, and opens a CallSite with it (and its name, `__func__`) first
// thing; the outermost one
// counts, so that the nodes an op records through other ops (conv2d through pad) carry the
// user's line, not the library's. A backward pass opens one with its node's line.
class CallSite {
 public:
  explicit CallSite(const std::source_location& where, const char* op = nullptr)
      : outermost_(!detail::modes.site_open) {
    if (outermost_) {
      detail::modes.site = where;
      detail::modes.site_op = op;
      detail::modes.site_open = true;
    }
  }
  ~CallSite() {
    if (outermost_) detail::modes.site_open = false;
  }
  CallSite(const CallSite&) = delete;
  CallSite& operator=(const CallSite&) = delete;

 private:
  bool outermost_;
};
std::string to_string(const std::source_location& where);  // "main.cpp:12 (in main)"

// Scope guard: grad mode on again inside a no_grad scope (for code that must record, such
// as check_gradient).
class enable_grad : ModeScope<bool> {
 public:
  enable_grad();
};

// Scope guard: the ops recorded inside are drawn together in one labelled box by to_dot
// (src/gradlab/tools/dot.hpp), e.g. `cluster c("hidden layer");`. An inner scope replaces the label
// of an outer one until it ends. Labels are kept for the life of the program (nodes point
// to them), so use a fixed set of them, not a fresh one per step.
class cluster : ModeScope<const std::string*> {
 public:
  explicit cluster(std::string label);
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
