#include "gradlab/core/tensor.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <ostream>

#include "gradlab/core/budget.hpp"
#include "gradlab/core/graph.hpp"
#include "gradlab/core/memory.hpp"

namespace gradlab {

std::int64_t normalize_axis(const char* op, std::int64_t axis, std::int64_t rank) {
  if (axis < -rank || axis >= rank)
    throw ValueError(std::string(op) + ": axis " + std::to_string(axis) +
                     " is out of range for a tensor of rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

const char* to_string(DType dtype) { return dtype == DType::float32 ? "float32" : "float64"; }
std::ostream& operator<<(std::ostream& out, DType dtype) { return out << to_string(dtype); }

std::string to_string(std::span<const std::int64_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// A shape that is only asked for (reshape(W, {3e14, 3e12})) can have more elements than an
// int64 holds: such a product comes back as the largest int64, which no tensor has, so that
// it compares unequal and fails the element limit instead of overflowing.
std::int64_t numel(const Shape& shape) {
  std::int64_t n = 1;
  bool overflow = false, empty = false;
  for (std::int64_t d : shape) {
    overflow = __builtin_mul_overflow(n, d, &n) || overflow;
    empty = empty || d == 0;
  }
  return empty ? 0 : overflow ? std::numeric_limits<std::int64_t>::max() : n;
}

std::vector<std::int64_t> unravel_index(std::int64_t flat, const Shape& shape) {
  std::vector<std::int64_t> index(shape.size());
  for (std::size_t k = shape.size(); k-- > 0;) {
    index[k] = flat % shape[k];
    flat /= shape[k];
  }
  return index;
}

namespace {

std::atomic<std::int64_t> element_limit{std::numeric_limits<std::int64_t>::max()};

[[noreturn, gnu::cold]] void reject(const Shape& shape, std::int64_t n, bool overflow) {
  if (std::any_of(shape.begin(), shape.end(), [](std::int64_t d) { return d < 0; }))
    throw ShapeError("tensor: negative dimension in shape " + to_string(shape));
  if (overflow) throw ShapeError("tensor: shape " + to_string(shape) + " has too many elements");
  throw ShapeError("tensor: shape " + to_string(shape) + " has " + std::to_string(n) +
                   " elements, more than the " + std::to_string(element_limit.load()) +
                   " allowed here");
}

// The bytes of a tensor of this shape. Rejects shapes no buffer could hold, before
// numel() could overflow, and shapes over the limit a program set.
std::size_t bytes_for(const Shape& shape, DType dtype) {
  constexpr std::int64_t most = std::numeric_limits<std::int64_t>::max();
  std::int64_t n = 1;
  bool bad = false;
  for (std::int64_t d : shape) bad = __builtin_mul_overflow(n, d, &n) || d < 0 || bad;
  bad = bad || n > (dtype == DType::float32 ? most / 4 : most / 8);
  if (bad || n > element_limit.load(std::memory_order_relaxed)) [[unlikely]]
    reject(shape, n, bad);
  return static_cast<std::size_t>(n) * size_of(dtype);
}

}  // namespace

void set_max_elements(std::int64_t limit) { element_limit = limit; }
std::int64_t max_elements() { return element_limit; }

// (Inline, as is make: a small op makes two tensors, and the calls cost it 5% of its
// instructions.)
[[gnu::always_inline]] inline TensorImpl::TensorImpl(const Shape& s, DType d, Ref<Storage> st)
    : storage(std::move(st)), dtype(d), shape(s) {}

namespace {
// std::bad_alloc says nothing of what was being made: say which op wanted what.
[[noreturn, gnu::cold]] void out_of_memory(const Shape& shape, DType dtype, std::size_t bytes) {
  const bool known = detail::modes.site_open && detail::modes.site_op;
  throw MemoryError(std::string(known ? detail::modes.site_op : "empty") +
                    ": out of memory allocating a " + to_string(dtype) + " tensor of shape " +
                    to_string(shape) + " (" + std::to_string(bytes) + " bytes)" +
                    (known ? "; called at " + to_string(detail::modes.site) : ""));
}
}  // namespace

// A small tensor's numbers follow it in the same small block: one allocation instead of
// two, and one cache line fewer to touch. The numbers' Storage header sits right after the
// TensorImpl and frees the whole block when the last tensor viewing it goes; that is
// usually this one, at the very end of its destructor (storage is its first member).
static_assert(sizeof(TensorImpl) == Storage::tensor_bytes);  // Storage::place relies on it
namespace {
[[gnu::always_inline]] inline Ref<TensorImpl> make_small(const Shape& shape, DType dtype,
                                                         std::size_t together) {
  std::byte* block = static_cast<std::byte*>(allocate_small(together));
  Ref<Storage> numbers = Storage::place(block + sizeof(TensorImpl), true, together);
  return Ref<TensorImpl>::adopt(::new (block) TensorImpl(shape, dtype, std::move(numbers)));
}
}  // namespace

[[gnu::always_inline]] inline Ref<TensorImpl> TensorImpl::make(const Shape& shape, DType dtype,
                                                               std::size_t bytes) {
  const std::size_t together = sizeof(TensorImpl) + Storage::header + bytes;
  // (Past it: a large tensor, or any while a budget is in force, see src/gradlab/core/budget.hpp.)
  if (together > detail::uncharged_tensor_bytes.load(std::memory_order_relaxed)) [[unlikely]]
    return make_slow(shape, dtype, bytes);
  return make_small(shape, dtype, together);
}

// A tensor off the fast path: charged to the budget in force, if one is; then in a small
// block still, or with its numbers in a block of their own, where an allocation can fail
// (small blocks come from slabs that a failure there would hardly leave room for anyway).
Ref<TensorImpl> TensorImpl::make_slow(const Shape& shape, DType dtype, std::size_t bytes) try {
  if (detail::budget_in_force.load(std::memory_order_relaxed))
    detail::charge_elements(static_cast<std::int64_t>(bytes / size_of(dtype)), shape);
  const std::size_t together = sizeof(TensorImpl) + Storage::header + bytes;
  if (together <= small_block_limit) return make_small(shape, dtype, together);
  return Ref<TensorImpl>::adopt(new TensorImpl(shape, dtype, Storage::allocate(bytes)));
} catch (const std::bad_alloc&) {
  out_of_memory(shape, dtype, bytes);
}

void TensorImpl::free(TensorImpl* t) {
  const void* after = reinterpret_cast<const std::byte*>(t) + sizeof(TensorImpl);
  if (t->storage.get() != after) {
    delete t;
    return;
  }
  // Most tensors that go are a backward pass's plain temporaries: no name, no node, no
  // gradient, a short shape and numbers nobody else views. Their members hold nothing to
  // release, so the block goes straight back; any other runs the destructor, and its
  // storage frees the block, now or when the last view of the numbers goes.
  if (t->storage.use_count() == 1 && !t->name && !t->node && !t->grad.defined() &&
      !t->shape.on_heap())
    free_small(t, t->storage->small_block());
  else
    t->~TensorImpl();
}

TensorImpl::~TensorImpl() = default;

// Note [Iterative teardown]
// A tensor owns its Node, the Node owns its inputs, and they own theirs: a chain of a
// million ops is a million nested references. Letting the destructors recurse would
// overflow the stack. Instead, the dying tensor moves its node's inputs and saved values
// onto a local stack; each one we hold the last reference to gives up its own node's
// tensors the same way before it dies, so no destructor ever has a graph behind it.
void TensorImpl::destroy(TensorImpl* dying) {
  // Most tensors that go have no graph behind them: they go at once, and only the others
  // pay for the stack below (as one function, all paid for saving its registers).
  if (!dying->node)
    free(dying);
  else
    destroy_graph(dying);
}

void TensorImpl::destroy_graph(TensorImpl* dying) {
  TensorList pending;
  auto take = [&pending](TensorImpl& t) {
    if (t.node) {
      t.node->give_up_tensors(pending);
      t.node.reset();  // now empty; without it, t can go back to its block straight away
    }
    if (t.grad.defined()) pending.push_back(std::move(t.grad));
  };
  take(*dying);
  free(dying);
  while (!pending.empty()) {
    Tensor t = std::move(pending.back());
    pending.pop_back();
    if (t.use_count() == 1) take(*t.impl());
  }
}

Tensor share_numbers(const Tensor& x, Shape shape) {
  const TensorImpl& from = *x.impl();
  return Tensor(Ref<TensorImpl>::adopt(new TensorImpl(shape, from.dtype, from.storage)));
}

// ---- Tensor ----

void Tensor::throw_wrong_dtype(DType wanted) const {
  throw DTypeError(std::string("data: tensor is ") + to_string(impl_->dtype) + ", not " +
                   to_string(wanted));
}

void Tensor::throw_undefined() {
  throw GraphError(
      "tensor: use of an undefined tensor (a Tensor() with no value, such as grad() before "
      "backward)");
}

std::int64_t Tensor::dim() const { return static_cast<std::int64_t>(shape().size()); }

std::int64_t Tensor::size(std::int64_t axis) const {
  return shape()[normalize_axis("size", axis, dim())];
}

namespace {

std::int64_t flat_index(const Tensor& t, const std::vector<std::int64_t>& index) {
  const Shape& shape = t.shape();
  auto fail = [&] {
    return IndexError("at: index " + to_string(index) + " is outside a tensor of shape " +
                      to_string(shape));
  };
  if (index.size() != shape.size()) throw fail();
  std::int64_t flat = 0;
  for (std::size_t k = 0; k < shape.size(); ++k) {
    if (index[k] < 0 || index[k] >= shape[k]) throw fail();
    flat = flat * shape[k] + index[k];
  }
  return flat;
}

double read(const Tensor& t, std::int64_t i) {
  return dispatch(t.dtype(), [&]<class T>(T) { return double(t.data<T>()[i]); });
}

}  // namespace

double Tensor::item() const {
  if (numel() != 1)
    throw ShapeError("item: needs a tensor with one element, got shape " + to_string(shape()));
  return read(*this, 0);
}

double Tensor::at(const std::vector<std::int64_t>& index) const {
  return read(*this, flat_index(*this, index));
}

void Tensor::set(const std::vector<std::int64_t>& index, double value) {
  const std::int64_t i = flat_index(*this, index);
  dispatch(dtype(), [&]<class T>(T) { data<T>()[i] = static_cast<T>(value); });
}

std::vector<double> Tensor::values() const {
  std::vector<double> out(numel());
  for (std::int64_t i = 0; i < numel(); ++i) out[i] = read(*this, i);
  return out;
}


Tensor& Tensor::set_requires_grad(bool on) {
  if (checked().node)
    throw GraphError("set_requires_grad: only leaves can change requires_grad; '" +
                     std::string(impl_->node->op->name) +
                     "' made this tensor (use detach() for a leaf copy)");
  impl_->requires_grad = on;
  return *this;
}

const std::string& Tensor::name() const {
  static const std::string none;
  const TensorImpl& t = checked();
  return t.name ? *t.name : none;
}
Tensor& Tensor::name(std::string n) {
  checked();
  if (n.empty())
    impl_->name.reset();
  else
    impl_->name = std::make_unique<std::string>(std::move(n));
  return *this;
}

bool Tensor::is_leaf() const { return checked().node == nullptr; }
const Node* Tensor::node() const { return checked().node.get(); }
Tensor Tensor::grad() const { return checked().grad; }

void Tensor::zero_grad() {
  checked();
  if (impl_->grad.defined()) impl_->grad = zeros(shape(), dtype());
}

void Tensor::reset_grad() {
  checked();
  impl_->grad = Tensor();
}

Tensor& Tensor::retain_grad() {
  checked();
  impl_->retains_grad = true;
  return *this;
}

Tensor Tensor::detach() const { return share_numbers(*this, checked().shape); }

Tensor Tensor::clone() const {
  Tensor out = empty_like(*this);
  std::memcpy(out.impl()->storage->data(), impl_->storage->data(), numel() * size_of(dtype()));
  return out;
}

// ---- making tensors ----

Tensor empty(const Shape& shape, DType dtype) {
  return Tensor(TensorImpl::make(shape, dtype, bytes_for(shape, dtype)));
}

Tensor empty_like(const Tensor& t) {
  // (Shape, dtype and size read once, before make's atomic load: the compiler would read
  // them all again after it, a fifth of this function's instructions.)
  const Shape& shape = t.shape();
  const DType dtype = t.dtype();
  const std::int64_t n = t.numel();
  return Tensor(TensorImpl::make(shape, dtype, n * size_of(dtype)));
}

Tensor full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  dispatch(
      dtype, [&]<class T>(T) { std::fill_n(t.data<T>(), t.numel(), static_cast<T>(value)); });
  return t;
}

Tensor zeros(const Shape& shape, DType dtype) { return full(shape, 0.0, dtype); }
Tensor ones(const Shape& shape, DType dtype) { return full(shape, 1.0, dtype); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype()); }
Tensor scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  if (static_cast<std::int64_t>(values.size()) != t.numel())
    throw ShapeError("from_vector: " + std::to_string(values.size()) +
                     " values do not fill shape " + to_string(shape));
  dispatch(dtype, [&]<class T>(T) {
    std::transform(values.begin(), values.end(), t.data<T>(),
                   [](double v) { return static_cast<T>(v); });
  });
  return t;
}

namespace {

// Flattens a nested list, checking that every row at one depth has the same length.
void flatten(const NestedList& list, Shape& shape, std::size_t depth, std::vector<double>& out) {
  if (list.is_number()) {
    if (depth != shape.size())
      throw ShapeError("tensor: ragged nested list: a number at depth " + std::to_string(depth) +
                       " where rows of depth " + std::to_string(shape.size()) + " were expected");
    out.push_back(list.value());
    return;
  }
  const auto n = static_cast<std::int64_t>(list.items().size());
  if (shape.size() <= depth && out.empty())
    shape.push_back(n);
  else if (shape.size() <= depth || shape[depth] != n)
    throw ShapeError("tensor: ragged nested list: a row of length " + std::to_string(n) +
                     " at depth " + std::to_string(depth) + " where " +
                     (shape.size() <= depth ? std::string("a number")
                                            : "length " + std::to_string(shape[depth])) +
                     " was expected");
  for (const NestedList& item : list.items()) flatten(item, shape, depth + 1, out);
}

}  // namespace

Tensor tensor(const NestedList& values, DType dtype) {
  Shape shape;
  std::vector<double> flat;
  flatten(values, shape, 0, flat);
  return from_vector(flat, shape, dtype);
}

// ---- comparing ----

double max_abs_diff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape())
    throw ShapeError("max_abs_diff: shapes differ: " + to_string(a.shape()) + " vs " +
                     to_string(b.shape()));
  const std::vector<double> va = a.values(), vb = b.values();
  double worst = 0;
  for (std::size_t i = 0; i < va.size(); ++i) {
    const double d = std::abs(va[i] - vb[i]);
    if (std::isnan(d)) return d;
    worst = std::max(worst, d);
  }
  return worst;
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  if (a.shape() != b.shape()) return false;
  const std::vector<double> va = a.values(), vb = b.values();
  for (std::size_t i = 0; i < va.size(); ++i)
    if (!(std::abs(va[i] - vb[i]) <= atol + rtol * std::abs(vb[i]))) return false;
  return true;
}

}  // namespace gradlab
