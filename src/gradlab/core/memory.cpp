#include "gradlab/core/memory.hpp"

#include <algorithm>
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
// a list grown past its `keep` (about 1 MiB of blocks) hands a batch of them to the depot.
// So a thread that frees what another allocated (a tensor passed between threads)
// returns the blocks to circulation, and a thread that ends gives all of its blocks to
// the depot.

namespace detail {
thread_local constinit FreeList thread_lists[classes];
}  // namespace detail

namespace {

using detail::classes;
using detail::FreeBlock;
using detail::FreeList;
using detail::granule;
using detail::thread_lists;

constexpr std::size_t slab_bytes = std::size_t(64) << 10;
constexpr std::size_t thread_keeps = std::size_t(1) << 20;  // bytes per class and thread
constexpr std::uint32_t batch = 256;                        // blocks moved at a time

std::size_t block_bytes(std::size_t c) { return (c + 1) * granule; }

void push(FreeList& list, void* p) {
  list.head = ::new (p) FreeBlock{list.head};
  ++list.count;
}
void* pop(FreeList& list) {
  FreeBlock* b = list.head;
  list.head = b->next;
  --list.count;
  return b;
}
// Moves up to n blocks from the front of one list to the front of another.
void move(FreeList& from, FreeList& to, std::uint32_t n) {
  while (n-- > 0 && from.head) push(to, pop(from));
}

struct Depot {
  std::mutex mutex;
  FreeList lists[classes];
  std::vector<void*> slabs;  // every slab ever cut; blocks are reused, slabs never freed
};
Depot& depot() {
  static Depot* d = new Depot;  // never destroyed: blocks may be freed after main() ends
  return *d;
}

// When a thread ends, its blocks go to the depot, and so does anything it frees after that
// (in the destructors of other thread_local objects).
thread_local constinit bool ended = false;
struct Farewell {
  ~Farewell() {
    std::lock_guard lock(depot().mutex);
    for (std::size_t c = 0; c < classes; ++c) {
      move(thread_lists[c], depot().lists[c], UINT32_MAX);
      thread_lists[c].keep = 0;
    }
    ended = true;
  }
};
// Touched whenever a thread starts using a list, so that every thread holding blocks has one.
thread_local Farewell farewell;

// A list's first use in a thread (or any use once the thread is ending): `keep` is 0.
void start(FreeList& list, std::size_t c) {
  if (ended) return;
  (void)&farewell;
  list.keep = static_cast<std::uint32_t>(thread_keeps / block_bytes(c));
}

void cut_slab(FreeList& into, std::size_t c) {
  std::byte* slab = static_cast<std::byte*>(::operator new(slab_bytes));
  depot().slabs.push_back(slab);
  const std::size_t size = block_bytes(c);
  for (std::size_t end = slab_bytes / size * size; end >= size; end -= size)
    push(into, slab + end - size);  // the slab's first block ends up on top
}

}  // namespace

void* detail::allocate_slow(std::size_t c) {
  FreeList& list = thread_lists[c];
  if (list.keep == 0) start(list, c);
  std::lock_guard lock(depot().mutex);
  FreeList& from = depot().lists[c];
  if (!from.head) cut_slab(from, c);
  if (ended) return pop(from);
  move(from, list, batch);
  return pop(list);
}

void detail::free_slow(void* block, std::size_t c) {
  FreeList& list = thread_lists[c];
  if (list.keep == 0) start(list, c);
  if (list.count < list.keep) {  // the list's first block
    push(list, block);
    return;
  }
  std::lock_guard lock(depot().mutex);
  push(depot().lists[c], block);
  move(list, depot().lists[c], batch);
}

// ---- storage ----

Ref<Storage> Storage::allocate(std::size_t bytes) {
  const std::size_t small = sizeof(Storage) + bytes;
  if (small <= small_block_limit) return place(allocate_small(small), false, small);
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
  if (const std::size_t bytes = s->small_block()) {
    std::byte* block = reinterpret_cast<std::byte*>(s) - (s->stamp() & behind_bit ? tensor_bytes : 0);
    s->~Storage();
    free_small(block, bytes);
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
