// A small persistent thread pool for coarse-grained tasks (structures, chunks of a batch).
// Workers live for the whole process, so their per-thread tensor buffer pools (tensor.hpp) are
// reused from one call to the next instead of touching fresh pages every step.
// Determinism is the caller's part: a task writes only its own outputs, and the caller combines
// them in task order, so results do not depend on which thread ran which task.
#pragma once
#include <functional>

namespace ad {

/// Runs task(0) .. task(n_tasks - 1) on up to `n_threads` threads (the calling thread is one of
/// them) and returns when every task has finished. Tasks are taken in index order by whichever
/// thread is free. Every task runs with the caller's grad mode. While tasks run on more than one
/// thread, OpenBLAS is kept to one thread (restored afterwards). A call from inside a task runs
/// its tasks serially on that thread. If tasks throw, the exception of the lowest task index is
/// rethrown after all tasks have ended. n_threads <= 1 or n_tasks <= 1: a plain loop.
void parallel_for(long n_tasks, int n_threads, const std::function<void(long task)>& task);

}  // namespace ad
