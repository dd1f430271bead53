// How gradlab allocates and shares memory: counted references, small blocks, tensor storage.
//
// Every op makes a tensor and, when it records, a Node; on small tensors (the seed network,
// a scalar chain) making them is most of what an op costs. So:
//   - objects are shared through Ref<T>, a counted reference kept inside the object itself
//     (one allocation per object, no separate control block);
//   - blocks of up to 1 KiB (tensors, nodes, small tensors' numbers) come from per-thread
//     free lists carved out of 64 KiB slabs: taking one is a pointer pop, with no lock and
//     no per-block header. Freed blocks are kept for reuse, never returned to the system;
//   - a large block (64 KiB or more) of numbers is not given back when its tensor goes
//     either: fresh large blocks come as untouched pages, and on a virtual machine the page
//     fault of a first touch costs as much as computing on the page. It is kept, up to
//     cache_limit() bytes in all, for the next tensor of its size class.
//
// Built with AddressSanitizer, nothing is pooled or cached, so that every use after free
// is caught.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

namespace gradlab {

// ---- counted references ----

// A shared handle to a T that counts its holders in `T::refs` (a std::atomic<uint32_t>
// starting at 1) and calls T::destroy(p) when the last one goes.
template <class T>
class Ref {
 public:
  Ref() = default;
  Ref(std::nullptr_t) {}  // NOLINT: implicit, as for a pointer
  static Ref adopt(T* fresh) { return Ref(fresh); }  // takes over a new object's first count
  static Ref share(T* p) {                           // one more holder of an existing object
    if (p) p->refs.fetch_add(1, std::memory_order_relaxed);
    return Ref(p);
  }
  Ref(const Ref& other) : p_(other.p_) {
    if (p_) p_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  Ref(Ref&& other) noexcept : p_(std::exchange(other.p_, nullptr)) {}
  Ref& operator=(Ref other) noexcept {
    std::swap(p_, other.p_);
    return *this;
  }
  ~Ref() { reset(); }

  void reset() {
    // The last holder need not count down atomically: nobody else can be copying it.
    if (T* p = std::exchange(p_, nullptr);
        p && (p->refs.load(std::memory_order_acquire) == 1 ||
              p->refs.fetch_sub(1, std::memory_order_acq_rel) == 1))
      T::destroy(p);
  }
  T* get() const { return p_; }
  T* operator->() const { return p_; }
  T& operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }
  std::uint32_t use_count() const { return p_ ? p_->refs.load(std::memory_order_acquire) : 0; }
  friend bool operator==(const Ref& a, const Ref& b) { return a.p_ == b.p_; }

 private:
  explicit Ref(T* p) : p_(p) {}
  T* p_ = nullptr;
};

// ---- small blocks ----

constexpr std::size_t small_block_limit = 1024;  // bytes; larger requests are not pooled

// A block of at least `bytes` (1 … small_block_limit) bytes, 16-byte aligned, uninitialised.
void* allocate_small(std::size_t bytes);
// Gives back a block from allocate_small, with the size it was asked for. Any thread may
// free a block another one took.
void free_small(void* block, std::size_t bytes);

// Classes allocated this way derive from this: `new TensorImpl(…)` takes a small block
// (an object larger than small_block_limit, the general heap). At most 16-byte aligned.
struct PooledObject {
  static void* operator new(std::size_t bytes) {
    return bytes <= small_block_limit ? allocate_small(bytes) : ::operator new(bytes);
  }
  static void operator delete(void* p, std::size_t bytes) {
    if (bytes <= small_block_limit)
      free_small(p, bytes);
    else
      ::operator delete(p);
  }
};

// ---- storage: the numbers of tensors ----

// A block of numbers, shared by the tensors that view it (reshape and detach share it),
// freed or cached when the last of them goes. Small ones follow this 8-byte header in the
// same small block; larger ones have a block of their own, 64-byte aligned when large.
//
// The header also counts the writes to the numbers, for Note [Version counters]
// (src/gradlab/core/graph.cpp): each in-place write bumps the version, and a node remembers the
// version of each tensor it keeps. To keep the header at 8 bytes (a one-element tensor and
// its numbers fill 96), the count shares a word with where the block is: the low 8 bits
// say that, the upper 24 count, wrapping round after 16.7 million writes (a change is
// still seen unless exactly a multiple of that many writes come between recording and
// backward).
class Storage {
 public:
  static Ref<Storage> allocate(std::size_t bytes);  // uninitialised numbers
  // The bytes of the one object a small block may hold before the header: a TensorImpl,
  // whose numbers then share its block (src/gradlab/core/tensor.cpp asserts the size).
  static constexpr std::size_t tensor_bytes = 80;
  // A storage whose numbers follow its header at `at`, inside a small block of
  // `block_bytes` that begins at `at`, or `tensor_bytes` before it when `behind_tensor`:
  // the block is freed with it.
  static Ref<Storage> place(void* at, bool behind_tensor, std::size_t block_bytes) {
    Storage* s = ::new (at) Storage;
    s->stamp_.store(static_cast<std::uint32_t>((block_bytes + 15) / 16) |
                        (behind_tensor ? behind_bit : 0u),
                    std::memory_order_relaxed);
    return Ref<Storage>::adopt(s);
  }
  static constexpr std::size_t header = 8;
  void* data() { return small_block() ? after() : outside().data; }
  // The small block it is in (its size rounded up to 16 bytes); 0 if none.
  std::size_t small_block() const { return (stamp() & units_mask) * 16; }

  // How many in-place writes the numbers have had (modulo 2²⁴).
  std::uint32_t version() const { return version_of(stamp()); }
  // The version with constant bits below it: two stamps of one storage are equal exactly
  // when its versions are, and comparing them saves a shift.
  std::uint32_t version_stamp() const { return stamp(); }
  static std::uint32_t version_of(std::uint32_t stamp) { return stamp >> layout_bits; }
  // An in-place write: Tensor::set, data<T>() on a non-const tensor, an optimizer's step.
  // Not an atomic add: two threads writing the same numbers at once is a race on the
  // numbers already, and either write alone changes the version.
  void bump_version() {
    stamp_.store(stamp() + (1u << layout_bits), std::memory_order_relaxed);
  }
  // data() for writing: bumps the version too, from one load of the word that says both
  // (Tensor::data<T>() on a non-const tensor; every op's output is written this way).
  void* data_for_writing() {
    const std::uint32_t word = stamp();
    stamp_.store(word + (1u << layout_bits), std::memory_order_relaxed);
    return word & units_mask ? after() : outside().data;
  }

  std::atomic<std::uint32_t> refs{1};
  static void destroy(Storage* s);

 private:
  struct Outside {  // what follows the header when the numbers have a block of their own
    void* data;
    std::size_t size_class;  // for the large-block cache; 0 when not cached
  };
  Storage() = default;
  void* after() { return reinterpret_cast<std::byte*>(this) + sizeof(Storage); }
  Outside& outside() { return *static_cast<Outside*>(after()); }
  std::uint32_t stamp() const { return stamp_.load(std::memory_order_relaxed); }

  // The version above `layout_bits`; below, the small block's size in units of 16 bytes
  // (0: the numbers have a block of their own) and whether a tensor comes first in it.
  static constexpr unsigned layout_bits = 8;
  static constexpr std::uint32_t units_mask = 0x7F, behind_bit = 0x80;
  std::atomic<std::uint32_t> stamp_{0};
};
static_assert(sizeof(Storage) == Storage::header && small_block_limit / 16 <= 0x7F);

// How many bytes freed large blocks may hold in all (default 512 MiB); setting it lower
// releases cached blocks down to the new limit, 0 turns the cache off.
void set_cache_limit(std::size_t bytes);
std::size_t cache_limit();
std::size_t cached_bytes();  // what the cache holds now

// ---- the small-block fast paths, inline (src/gradlab/core/memory.cpp has the rest) ----

// GCC says it builds with AddressSanitizer by __SANITIZE_ADDRESS__, clang by __has_feature.
#if defined(__SANITIZE_ADDRESS__)
#define GRADLAB_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GRADLAB_ADDRESS_SANITIZER 1
#endif
#endif

namespace detail {

constexpr std::size_t granule = 16;  // size classes are multiples of this
constexpr std::size_t classes = small_block_limit / granule;
constexpr std::size_t class_of(std::size_t bytes) { return (bytes - 1) / granule; }

struct FreeBlock {
  FreeBlock* next;
};
struct FreeList {
  FreeBlock* head = nullptr;
  std::uint32_t count = 0;  // blocks in the list
  std::uint32_t keep = 0;   // more than this many, and a batch goes to the depot
};
// A thread's lists: plain data, constant-initialised, so that reaching them is one
// thread-pointer-relative load.
extern thread_local constinit FreeList thread_lists[classes];

void* allocate_slow(std::size_t c);
void free_slow(void* block, std::size_t c);

}  // namespace detail

inline void* allocate_small(std::size_t bytes) {
#if defined(GRADLAB_ADDRESS_SANITIZER)
  return ::operator new(bytes);
#else
  const std::size_t c = detail::class_of(bytes);
  detail::FreeList& list = detail::thread_lists[c];
  detail::FreeBlock* block = list.head;
  if (!block) [[unlikely]]
    return detail::allocate_slow(c);
  list.head = block->next;
  --list.count;
  return block;
#endif
}

inline void free_small(void* block, std::size_t bytes) {
#if defined(GRADLAB_ADDRESS_SANITIZER)
  (void)bytes;
  ::operator delete(block);
#else
  const std::size_t c = detail::class_of(bytes);
  detail::FreeList& list = detail::thread_lists[c];
  if (list.count >= list.keep) [[unlikely]]
    return detail::free_slow(block, c);
  list.head = ::new (block) detail::FreeBlock{list.head};
  ++list.count;
#endif
}

}  // namespace gradlab
