#include "engine/memory.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <map>
#include <mutex>
#include <new>
#include <vector>

namespace gradlab {

namespace {

constexpr std::align_val_t alignment{64};
constexpr std::size_t large = std::size_t(64) << 10;  // blocks this big or bigger are cached

// GCC says it builds with AddressSanitizer by __SANITIZE_ADDRESS__, clang by __has_feature.
#if defined(__SANITIZE_ADDRESS__)
#define GRADLAB_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GRADLAB_ADDRESS_SANITIZER 1
#endif
#endif

#if defined(GRADLAB_ADDRESS_SANITIZER)
constexpr std::size_t default_limit = 0;  // let AddressSanitizer see every free
#else
constexpr std::size_t default_limit = std::size_t(512) << 20;
#endif

// Sizes are rounded up to one of four classes per power of two (at most 25% more), so that
// tensors of nearly the same size share blocks.
std::size_t size_class(std::size_t bytes) {
  const std::size_t step = std::bit_floor(bytes) / 4;
  return (bytes + step - 1) / step * step;
}

struct Cache {
  std::mutex mutex;
  std::map<std::size_t, std::vector<void*>> free_blocks;  // by size class
  std::size_t bytes = 0;
  std::atomic<std::size_t> limit = default_limit;

  void* take(std::size_t size) {
    {
      std::lock_guard lock(mutex);
      auto it = free_blocks.find(size);
      if (it != free_blocks.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        bytes -= size;
        return p;
      }
    }
    return ::operator new(size, alignment);
  }

  void give_back(void* p, std::size_t size) {
    {
      std::lock_guard lock(mutex);
      if (bytes + size <= limit) {
        free_blocks[size].push_back(p);
        bytes += size;
        return;
      }
    }
    ::operator delete(p, alignment);
  }

  // Frees cached blocks, largest first, until the cache holds at most `limit` bytes.
  void trim() {
    std::vector<std::pair<void*, std::size_t>> freed;
    {
      std::lock_guard lock(mutex);
      for (auto it = free_blocks.rbegin(); it != free_blocks.rend() && bytes > limit; ++it)
        while (!it->second.empty() && bytes > limit) {
          freed.emplace_back(it->second.back(), it->first);
          it->second.pop_back();
          bytes -= it->first;
        }
    }
    for (auto [p, size] : freed) ::operator delete(p, alignment);
  }
};

// Never destroyed: tensors that outlive main() (in static variables) still give their
// blocks back to it.
Cache& cache() {
  static Cache* c = new Cache;
  return *c;
}

}  // namespace


// ---- small blocks ----
//
// Each thread keeps a free list per size class (multiples of 16 bytes): a freed block
// holds the pointer to the next one. An empty list is refilled from the depot, the blocks
// all threads handed back, or else by cutting a new 64 KiB slab into blocks of its class;
// a list grown past `keep` blocks hands `batch` of them to the depot. So a thread that
// frees what another allocated (a tensor passed between threads) returns the blocks
// to circulation, and a thread that ends gives all of its blocks to the depot.

namespace {

constexpr std::size_t granule = 16;
constexpr std::size_t classes = small_block_limit / granule;
constexpr std::size_t slab_bytes = std::size_t(64) << 10;
constexpr std::uint32_t batch = 256, keep = 4 * batch;

std::size_t class_of(std::size_t bytes) { return (bytes + granule - 1) / granule - 1; }
std::size_t block_bytes(std::size_t c) { return (c + 1) * granule; }

struct FreeBlock {
  FreeBlock* next;
};

struct FreeList {
  FreeBlock* head = nullptr;
  std::uint32_t count = 0;

  void push(void* p) {
    head = ::new (p) FreeBlock{head};
    ++count;
  }
  void* pop() {
    FreeBlock* b = head;
    head = b->next;
    --count;
    return b;
  }
  // Moves up to n blocks from the front of this list to the front of `to`.
  void move_to(FreeList& to, std::uint32_t n) {
    while (n-- > 0 && head) to.push(pop());
  }
};

struct Depot {
  std::mutex mutex;
  std::array<FreeList, classes> lists;
  std::vector<void*> slabs;  // every slab ever cut; blocks are reused, slabs never freed
};
Depot& depot() {
  static Depot* d = new Depot;  // never destroyed: blocks may be freed after main() ends
  return *d;
}

// A thread's lists. Plain data, so that a thread_local of it costs no guard on each access;
// the Farewell below hands them to the depot when the thread ends.
struct ThreadLists {
  std::array<FreeList, classes> lists;
  bool ended = false;  // after the Farewell ran: frees go straight to the depot
};
thread_local ThreadLists mine;

struct Farewell {
  ~Farewell() {
    std::lock_guard lock(depot().mutex);
    for (std::size_t c = 0; c < classes; ++c) mine.lists[c].move_to(depot().lists[c], UINT32_MAX);
    mine.ended = true;
  }
};
// Touched whenever a thread's list runs empty or is first used, so that every thread that
// holds blocks has one.
thread_local Farewell farewell;

void refill(std::size_t c) {
  (void)&farewell;
  FreeList& list = mine.lists[c];
  std::lock_guard lock(depot().mutex);
  depot().lists[c].move_to(list, batch);
  if (list.head) return;
  std::byte* slab = static_cast<std::byte*>(::operator new(slab_bytes));
  depot().slabs.push_back(slab);
  const std::size_t size = block_bytes(c);
  for (std::size_t offset = slab_bytes / size * size; offset >= size; offset -= size)
    list.push(slab + offset - size);  // the slab's first block ends up on top
}

}  // namespace

void* allocate_small(std::size_t bytes) {
#if defined(GRADLAB_ADDRESS_SANITIZER)
  return ::operator new(bytes);
#else
  const std::size_t c = class_of(bytes);
  if (!mine.lists[c].head) refill(c);
  return mine.lists[c].pop();
#endif
}

void free_small(void* block, std::size_t bytes) {
#if defined(GRADLAB_ADDRESS_SANITIZER)
  (void)bytes;
  ::operator delete(block);
#else
  const std::size_t c = class_of(bytes);
  if (mine.ended) {
    std::lock_guard lock(depot().mutex);
    depot().lists[c].push(block);
    return;
  }
  FreeList& list = mine.lists[c];
  if (list.count == 0) (void)&farewell;
  list.push(block);
  if (list.count > keep) {
    std::lock_guard lock(depot().mutex);
    list.move_to(depot().lists[c], batch);
  }
#endif
}

// ---- storage ----

Ref<Storage> Storage::allocate(std::size_t bytes) {
  const std::size_t small = sizeof(Storage) + bytes;
  if (small <= small_block_limit) {
    Storage* s = ::new (allocate_small(small)) Storage;
    s->small_ = static_cast<std::uint32_t>(small);
    return Ref<Storage>::adopt(s);
  }
  Storage* s = ::new (allocate_small(sizeof(Storage) + sizeof(Outside))) Storage;
  Outside& o = s->outside();
  if (bytes < large) {
    o = {::operator new(bytes), 0};  // as malloc aligns it: asking for 64 costs more here
  } else {  // with the cache off, an exact size that give_back then frees
    o.size_class = cache().limit == 0 ? bytes : size_class(bytes);
    o.data = cache().take(o.size_class);
  }
  return Ref<Storage>::adopt(s);
}

void Storage::destroy(Storage* s) {
  if (s->small_) {
    const std::size_t bytes = s->small_;
    s->~Storage();
    free_small(s, bytes);
    return;
  }
  const Outside o = s->outside();
  s->~Storage();
  free_small(s, sizeof(Storage) + sizeof(Outside));
  if (o.size_class)
    cache().give_back(o.data, o.size_class);
  else
    ::operator delete(o.data);
}

void set_cache_limit(std::size_t bytes) {
  cache().limit = bytes;
  cache().trim();
}

std::size_t cache_limit() { return cache().limit; }

std::size_t cached_bytes() {
  std::lock_guard lock(cache().mutex);
  return cache().bytes;
}

}  // namespace gradlab
