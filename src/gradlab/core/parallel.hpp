// Threads: one pool for all of gradlab's parallel work.
//
// parallel_for(tasks, body) calls body(0), …, body(tasks − 1), each once, on the calling
// thread and on helper threads, num_threads() threads in all. The convolution kernels hand
// out one image per task; matrix products one block of rows per task, each block a
// single-threaded BLAS call.
//
// Why not OpenBLAS's own threads for the products: after every call they spin for a while
// (about 0.1 s), each on a core of its own, waiting for the next one. A convolution right
// after a matrix product then had its helper thread fighting a spinning BLAS thread for the
// second of two cores, and ran slower with two threads than with one. So gradlab sets
// OpenBLAS to one thread and keeps a single pool of its own.
#pragma once

#include <cstdint>
#include <functional>

namespace gradlab {

// How many threads gradlab's ops use (default: the machine's hardware threads); 1 runs
// everything on the calling thread.
void set_num_threads(int threads);
int num_threads();

// Calls body(t) for every t in [0, tasks), spread over num_threads() threads; returns when
// all are done. Tasks are handed out one at a time, so a thread whose core is busy simply
// takes fewer. One call at a time: a parallel_for from inside a task, or from a second
// thread while one is running, runs its tasks on the thread that called it.
void parallel_for(std::int64_t tasks, const std::function<void(std::int64_t)>& body);

// Tells OpenBLAS to use one thread (gradlab does the threading): called by every op that
// calls BLAS, before it does.
void blas_single_threaded();

}  // namespace gradlab
