// A small persistent thread pool for coarse-grained tasks (structures, chunks of a batch).
// Workers live for the whole process, so their per-thread tensor buffer pools (tensor.hpp) are
// reused from one call to the next instead of touching fresh pages every step.
// Determinism is the caller's part: a task writes only its own outputs, and the caller combines
// them in task order, so results do not depend on which thread ran which task.
#pragma once
#include <functional>

namespace ad {

/// Runs task(0) .. task(n_tasks - 1) on T = min(n_threads, n_tasks) threads (the calling thread is
/// one of them) and returns when every task has finished. Static schedule: thread q (the caller
/// is q = 0, pool worker w is q = w + 1) runs tasks q, q + T, q + 2T, ..., so two calls with the
/// same T run task t on the same thread (tensors a task made can be freed there by a later call,
/// back into that thread's buffer pool). Every task runs with the caller's grad mode. While tasks run on more than one
/// thread, OpenBLAS is kept to one thread (restored afterwards). A call from inside a task runs
/// its tasks serially on that thread. If tasks throw, the exception of the lowest task index is
/// rethrown after all tasks have ended. n_threads <= 1 or n_tasks <= 1: a plain loop.
void parallel_for(long n_tasks, int n_threads, const std::function<void(long task)>& task);

}  // namespace ad
