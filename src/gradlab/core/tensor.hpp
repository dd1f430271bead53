// Tensor: an N-dimensional, row-major array of float32 or float64 that can take part in a
// computation graph.
//
// A Tensor is a cheap handle (a counted reference) to a TensorImpl. Copying a Tensor copies
// the handle, not the numbers. A tensor made by an op on tensors that require grad carries a
// Node (src/gradlab/core/graph.hpp): the op's name, its inputs and its backward formula. Leaves are
// the tensors you make yourself: inputs and parameters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <source_location>
#include <span>
#include <string>
#include <vector>

#include "gradlab/core/errors.hpp"
#include "gradlab/core/memory.hpp"
#include "gradlab/core/small_vector.hpp"

namespace gradlab {

enum class DType : std::uint8_t { float32, float64 };
const char* to_string(DType dtype);
std::ostream& operator<<(std::ostream& out, DType dtype);

// Calls f(T{}) with T = float or double, following dtype:
//   dispatch(x.dtype(), [&]<class T>(T) { … x.data<T>() … });
template <class F>
decltype(auto) dispatch(DType dtype, F&& f) {
  if (dtype == DType::float32) return f(float{});
  return f(double{});
}

// Normalises an axis that may be negative; throws ValueError naming the op.
std::int64_t normalize_axis(const char* op, std::int64_t axis, std::int64_t rank);

// The place in the caller's program an op was called from. Every op ends with a
// `Here where = Here::current()` parameter, which the compiler fills in at the call, for
// detect_anomaly's messages (see CallSite in src/gradlab/core/graph.hpp); callers never pass it.
using Here = std::source_location;

// A shape is a short list of sizes: up to four of them are kept inline.
using Shape = SmallVector<std::int64_t, 4>;
std::string to_string(std::span<const std::int64_t> shape);  // "[1, 3]" (a shape or an index)
std::int64_t numel(const Shape& shape);  // past the int64 range: the largest int64
// The index of the element at row-major position `flat`: {1, 2} for 5 in a [2, 3] tensor.
std::vector<std::int64_t> unravel_index(std::int64_t flat, const Shape& shape);
// The most elements a new tensor may have: a larger one is a ShapeError naming its shape,
// not a failed allocation of gigabytes. No limit unless a program sets one; the command
// line does, as its sizes come from whoever wrote the document: pad(W, 30000).
void set_max_elements(std::int64_t limit);
std::int64_t max_elements();

struct Node;
struct TensorImpl;

struct BackwardOptions {
  bool retain_graph = false;  // keep the graph so that backward can run through it again
  bool create_graph = false;  // record the backward pass itself, for gradients of gradients
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: no shape, no data (e.g. grad() before backward)
  explicit Tensor(Ref<TensorImpl> impl) : impl_(std::move(impl)) {}
  static Tensor share(TensorImpl* impl) { return Tensor(Ref<TensorImpl>::share(impl)); }

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  std::int64_t dim() const;
  std::int64_t numel() const;
  std::int64_t size(std::int64_t axis) const;  // negative axes count from the end
  DType dtype() const;

  // Raw element pointer; T must match dtype() (float or double).
  template <class T>
  T* data();
  template <class T>
  const T* data() const;

  double item() const;                                      // the value of a one-element tensor
  double at(const std::vector<std::int64_t>& index) const;  // t.at({0, 2})
  void set(const std::vector<std::int64_t>& index, double value);
  std::vector<double> values() const;  // every element, row-major, as double

  // ---- autograd ----
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on = true);  // leaves only
  const std::string& name() const;
  Tensor& name(std::string name);  // a readable name for messages and diagrams
  bool is_leaf() const;            // made by you, not by an op
  const Node* node() const;        // the op that made this tensor; null for a leaf
  Tensor grad() const;             // accumulated by backward(); undefined before
  void zero_grad();                // grad becomes zeros (a fresh tensor)
  void reset_grad();               // grad becomes undefined again, as before any backward
  Tensor& retain_grad();           // also keep grad() for this non-leaf tensor

  // Reverse mode from this tensor. A one-element tensor seeds with 1; any other needs the
  // gradient of the final scalar with respect to it, of the same shape. With create_graph
  // a parameter's grad() refers back to the parameter (a reference cycle, as in PyTorch):
  // call zero_grad() when done with it, or use grad(), which returns the gradients instead.
  void backward(BackwardOptions options = {}) const;
  void backward(const Tensor& grad_output, BackwardOptions options = {}) const;

  Tensor detach() const;  // the same numbers, cut from the graph
  // How many in-place writes its numbers have had, counted with every tensor that shares
  // them (views, detach); backward refuses a kept value whose version moved since it was
  // recorded (Note [Version counters] in src/gradlab/core/graph.cpp).
  std::uint32_t version() const;
  Tensor clone() const;   // a copy of the numbers, cut from the graph

  TensorImpl* impl() const { return impl_.get(); }
  // How many Tensor handles share this tensor (1: only this one).
  std::uint32_t use_count() const { return impl_.use_count(); }

 private:
  const TensorImpl& checked() const {
    if (!impl_) [[unlikely]]
      throw_undefined();
    return *impl_;
  }
  [[noreturn]] static void throw_undefined();
  [[noreturn]] void throw_wrong_dtype(DType wanted) const;
  template <class T>
  void check_dtype() const;  // DTypeError unless T is the tensor's element type
  Ref<TensorImpl> impl_;
};

// A short list of tensors (an op's inputs): two of them are kept inline.
using TensorList = SmallVector<Tensor, 2>;

struct TensorImpl : PooledObject {
  // A new tensor with uninitialised numbers, `bytes` of them (its shape already checked).
  // A small tensor and its numbers share one small block.
  static Ref<TensorImpl> make(const Shape& shape, DType dtype, std::size_t bytes);
  TensorImpl(const Shape& shape, DType dtype, Ref<Storage> storage);  // over existing numbers
  ~TensorImpl();
  TensorImpl(const TensorImpl&) = delete;
  TensorImpl& operator=(const TensorImpl&) = delete;

  // First, so that it goes last: it may free the block this tensor lives in (see make).
  const Ref<Storage> storage;  // numel · size_of(dtype) bytes, shared by reshape/detach
  std::atomic<std::uint32_t> refs{1};  // Tensor handles to this one (see Ref)
  DType dtype;
  bool requires_grad = false;
  bool retains_grad = false;
  Shape shape;
  std::unique_ptr<std::string> name;  // null while it has none
  std::unique_ptr<Node> node;  // null for leaves
  Tensor grad;

  // The last handle went: frees a deep graph without recursion, see Note [Iterative teardown].
  static void destroy(TensorImpl* t);

 private:
  static void free(TensorImpl* t);  // deletes t, or ends it if its numbers share its block
  [[gnu::noinline]] static void destroy_graph(TensorImpl* t);  // destroy() of one with a node
  static Ref<TensorImpl> make_slow(const Shape& shape, DType dtype, std::size_t bytes);
};

// A new leaf tensor of the given shape (with as many elements) over the numbers of x.
Tensor share_numbers(const Tensor& x, Shape shape);

// The accessors every op calls, inline.
inline const Shape& Tensor::shape() const { return checked().shape; }
inline DType Tensor::dtype() const { return checked().dtype; }
inline std::uint32_t Tensor::version() const { return checked().storage->version(); }
inline std::size_t size_of(DType dtype) { return dtype == DType::float32 ? 4 : 8; }
inline bool Tensor::requires_grad() const { return impl_ && impl_->requires_grad; }
// A tensor's shape was checked when it was made: its product fits.
inline std::int64_t Tensor::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape()) n *= d;
  return n;
}

// ---- making tensors ----
Tensor empty(const Shape& shape, DType dtype = DType::float64);  // numbers uninitialised
Tensor empty_like(const Tensor& t);  // t's shape and dtype, numbers uninitialised
Tensor zeros(const Shape& shape, DType dtype = DType::float64);
Tensor ones(const Shape& shape, DType dtype = DType::float64);
Tensor full(const Shape& shape, double value, DType dtype = DType::float64);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor scalar(double value, DType dtype = DType::float64);  // a 0-dimensional tensor
Tensor from_vector(const std::vector<double>& values, const Shape& shape,
                   DType dtype = DType::float64);

// Nested lists give the shape: tensor({{0.5, -1.0, 2.0}}) is 1×3, tensor({1.0, 2.0}) has
// shape [2], tensor(3.0) is 0-dimensional. A NestedList is a number or a list of them.
class NestedList {
 public:
  NestedList(double value) : value_(value), is_number_(true) {}  // NOLINT: implicit on purpose
  NestedList(std::initializer_list<NestedList> items) : items_(items) {}
  bool is_number() const { return is_number_; }
  double value() const { return value_; }
  const std::vector<NestedList>& items() const { return items_; }

 private:
  std::vector<NestedList> items_;
  double value_ = 0;
  bool is_number_ = false;
};
Tensor tensor(const NestedList& values, DType dtype = DType::float64);

// A seedable source of random numbers; the same seed gives the same numbers on every
// machine (its normal numbers come from our own Box–Muller, not the standard library's).
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0);
  void seed(std::uint64_t seed);
  double uniform();  // [0, 1)
  double normal();   // mean 0, standard deviation 1

 private:
  std::uint64_t state_;
  double spare_ = 0;
  bool has_spare_ = false;
};
Generator& default_generator();
void manual_seed(std::uint64_t seed);  // reseeds default_generator()

Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::float64);
Tensor randn(const Shape& shape, DType dtype = DType::float64);
Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::float64);  // U[0, 1)
Tensor rand(const Shape& shape, DType dtype = DType::float64);

// ---- comparing ----
double max_abs_diff(const Tensor& a, const Tensor& b);  // shapes must match
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-9, double atol = 1e-12);

// Prints matrices as aligned rows: tensor([[ 0.5000, -1.0000,  2.0000]], name="x")
std::ostream& operator<<(std::ostream& out, const Tensor& t);
std::string to_string(const Tensor& t);

// ---- templates ----
// (Always inline: every elementwise loop calls these, and a call to them cost more than a
// small op's arithmetic.)
// Writable access counts as an in-place write: it bumps the numbers' version, so that a
// graph that kept them sees the change (Note [Version counters] in src/gradlab/core/graph.cpp). Read
// through a const Tensor to leave the version alone.
template <class T>
[[gnu::always_inline]] inline T* Tensor::data() {
  check_dtype<T>();
  return static_cast<T*>(impl_->storage->data_for_writing());
}
template <class T>
[[gnu::always_inline]] inline const T* Tensor::data() const {
  check_dtype<T>();
  return static_cast<const T*>(impl_->storage->data());
}
template <class T>
[[gnu::always_inline]] inline void Tensor::check_dtype() const {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  constexpr DType wanted = std::is_same_v<T, float> ? DType::float32 : DType::float64;
  if (checked().dtype != wanted) [[unlikely]]
    throw_wrong_dtype(wanted);
}

}  // namespace gradlab
