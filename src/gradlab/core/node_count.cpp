// Counting the nodes alive (live_nodes(), LiveNodeCount in graph.hpp), so that tests can
// check that a graph is freed when its last tensor goes.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "gradlab/core/graph.hpp"

namespace gradlab {

// Each thread counts the nodes it makes and frees in a counter of its own, which only it
// writes (a plain store, not a locked add shared by all threads: that would be a tenth of
// a small op); live_nodes() adds up the counters of the threads alive and of those gone.
namespace {

struct NodeCounts {
  std::mutex mutex;
  std::vector<const std::atomic<std::int64_t>*> threads;
  std::atomic<std::int64_t> gone{0};  // what the threads that ended left
};
NodeCounts& node_counts() {
  static NodeCounts* counts = new NodeCounts;  // never destroyed: threads may end after main()
  return *counts;
}

thread_local constinit std::atomic<std::int64_t> nodes_here{0};
thread_local constinit bool counting = false, counted = false;  // registered; and ended
struct CountRegistration {
  CountRegistration() {
    std::lock_guard lock(node_counts().mutex);
    node_counts().threads.push_back(&nodes_here);
  }
  ~CountRegistration() {
    std::lock_guard lock(node_counts().mutex);
    std::erase(node_counts().threads, &nodes_here);
    node_counts().gone += nodes_here.load(std::memory_order_relaxed);
    counting = false;
    counted = true;
  }
};

// A thread's first node: register its counter. Returns false once the thread is ending.
[[gnu::noinline]] bool start_counting(std::int64_t change) {
  if (counted) {  // in the destructors of other thread_local objects, as the thread ends
    node_counts().gone += change;
    return false;
  }
  static thread_local CountRegistration registration;
  counting = true;
  return true;
}

void count_node(std::int64_t change) {
  if (counting || start_counting(change))
    nodes_here.store(nodes_here.load(std::memory_order_relaxed) + change, std::memory_order_relaxed);
}

}  // namespace

LiveNodeCount::LiveNodeCount() { count_node(1); }
LiveNodeCount::LiveNodeCount(const LiveNodeCount&) { count_node(1); }
LiveNodeCount::~LiveNodeCount() { count_node(-1); }
std::int64_t live_nodes() {
  std::lock_guard lock(node_counts().mutex);
  std::int64_t total = node_counts().gone;
  for (const auto* n : node_counts().threads) total += n->load(std::memory_order_relaxed);
  return total;
}

}  // namespace gradlab
