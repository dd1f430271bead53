#include "engine/memory.hpp"

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

std::shared_ptr<void> allocate_storage(std::size_t bytes) {
  bytes = std::max<std::size_t>(bytes, 1);
  // Small blocks as malloc aligns them (16 bytes): asking it for 64 makes it carve and
  // consolidate chunks, which costs more than a small op's arithmetic.
  if (bytes < large) return {::operator new(bytes), [](void* p) { ::operator delete(p); }};
  if (cache().limit == 0)
    return {::operator new(bytes, alignment), [](void* p) { ::operator delete(p, alignment); }};
  const std::size_t size = size_class(bytes);
  return {cache().take(size), [size](void* p) { cache().give_back(p, size); }};
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
