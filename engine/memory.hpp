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
class Storage {
 public:
  static Ref<Storage> allocate(std::size_t bytes);  // uninitialised numbers
  // A storage whose numbers follow its header at `at`, inside a small block of
  // `block_bytes` that begins `offset` bytes before it: the block is freed with it.
  static Ref<Storage> place(void* at, std::size_t offset, std::size_t block_bytes) {
    Storage* s = ::new (at) Storage;
    s->small_ = static_cast<std::uint16_t>(block_bytes);
    s->offset_ = static_cast<std::uint16_t>(offset);
    return Ref<Storage>::adopt(s);
  }
  static constexpr std::size_t header = 8;
  void* data() { return small_ ? after() : outside().data; }
  std::size_t small_block() const { return small_; }  // the small block it is in; 0 if none

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

  std::uint16_t small_ = 0;   // > 0: the numbers follow, in a small block of this many bytes …
  std::uint16_t offset_ = 0;  // … that begins this many bytes before the header
};
static_assert(sizeof(Storage) == Storage::header && small_block_limit <= UINT16_MAX);

// How many bytes freed large blocks may hold in all (default 512 MiB); setting it lower
// releases cached blocks down to the new limit, 0 turns the cache off.
void set_cache_limit(std::size_t bytes);
std::size_t cache_limit();
std::size_t cached_bytes();  // what the cache holds now

// ---- the small-block fast paths, inline (engine/memory.cpp has the rest) ----

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
