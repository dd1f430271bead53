#include "gradlab/core/parallel.hpp"

#include <cblas.h>  // openblas_set_num_threads

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace gradlab {

namespace {

using I = std::int64_t;

std::atomic<int> thread_count{static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))};

thread_local bool in_task = false;  // this thread is running a task of a parallel_for

// The helpers are started on first use and then wait for the next call, because starting a
// thread costs about as much as a small convolution. They spin for a few microseconds, then
// sleep (spinning on and on made a busy 2-core machine slower, not faster). The caller
// works too, and never waits for a helper that has not started: only for those that joined.
class Helpers {
 public:
  void run(I tasks, int threads, const std::function<void(I)>& body) {
    std::unique_lock<std::mutex> mine(in_use_, std::try_to_lock);
    if (threads <= 1 || tasks <= 1 || in_task || !mine.owns_lock()) {
      for (I t = 0; t < tasks; ++t) body(t);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(m_);
      while (static_cast<int>(threads_.size()) < threads - 1)
        threads_.emplace_back(&Helpers::serve, this);
      body_ = &body;
      tasks_ = tasks;
      next_ = 0;
      open_ = true;
      ++round_;
    }
    wake_.notify_all();
    work();
    // No task is left to start. Close the round, and wait for the helpers that joined it.
    {
      std::lock_guard<std::mutex> lock(m_);
      open_ = false;
    }
    spin_until([&] { return joined_.load(std::memory_order_acquire) == 0; });
    std::unique_lock<std::mutex> lock(m_);
    done_.wait(lock, [&] { return joined_ == 0; });
  }

 private:
  void work() {
    in_task = true;
    for (I t = next_++; t < tasks_; t = next_++) (*body_)(t);
    in_task = false;
  }
  void serve() {
    long seen = 0;
    for (;;) {
      spin_until([&] { return round_.load(std::memory_order_acquire) != seen; });
      std::unique_lock<std::mutex> lock(m_);
      wake_.wait(lock, [&] { return round_ != seen; });
      seen = round_;
      if (!open_) continue;  // woke too late: the caller has done every task
      ++joined_;
      lock.unlock();
      work();
      lock.lock();
      if (--joined_ == 0) done_.notify_all();
    }
  }

  // Waits up to 50 µs for `ready` before the caller goes to sleep on a condition variable.
  // The parallel ops of a training step follow one another about that closely, and waking a
  // sleeping thread costs more: the MLP step of bench/ ran 5-10% faster with this.
  template <class Ready>
  static void spin_until(Ready ready) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
    while (!ready() && std::chrono::steady_clock::now() < give_up) pause();
  }
  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  std::mutex in_use_, m_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;  // more are started if set_num_threads asks for more
  const std::function<void(I)>* body_ = nullptr;
  I tasks_ = 0;
  std::atomic<I> next_ = 0;
  bool open_ = false;
  std::atomic<int> joined_ = 0;
  std::atomic<long> round_ = 0;
};

}  // namespace

void set_num_threads(int threads) { thread_count = std::max(1, threads); }
int num_threads() { return thread_count; }

void parallel_for(I tasks, const std::function<void(I)>& body) {
  static Helpers& helpers = *new Helpers;  // never destroyed: the helpers sleep until exit
  helpers.run(tasks, thread_count, body);
}

void blas_single_threaded() {
  static const bool once = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)once;
}

}  // namespace gradlab
