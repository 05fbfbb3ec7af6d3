// Persistent worker pool behind ad::parallel_for (see parallel.hpp).
#include "autodiff/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "autodiff/blas.hpp"
#include "autodiff/graph.hpp"

namespace ad {

namespace {

thread_local bool t_inside_task = false;

// One job at a time (run_mutex). Worker w (0-based) takes part when w < job_workers; the caller
// takes part too. Tasks are claimed through the atomic counter `next`.
struct Pool {
    std::mutex run_mutex;
    std::mutex m;
    std::condition_variable start, done;
    std::vector<std::thread> workers;
    unsigned long generation = 0;
    int job_workers = 0, running = 0;
    const std::function<void(long)>* task = nullptr;
    long n_tasks = 0;
    bool grad_mode = true;
    std::atomic<long> next{0};
    std::vector<std::exception_ptr> errors;  ///< per task

    void run_tasks() {
        GradMode mode(grad_mode);
        t_inside_task = true;
        for (long t; (t = next.fetch_add(1)) < n_tasks;) {
            try {
                (*task)(t);
            } catch (...) {
                errors[static_cast<size_t>(t)] = std::current_exception();
            }
        }
        t_inside_task = false;
    }

    void worker_loop(int w) {
        unsigned long seen = 0;
        for (;;) {
            {
                std::unique_lock<std::mutex> lock(m);
                start.wait(lock, [&] { return generation != seen; });
                seen = generation;
                if (w >= job_workers) continue;
            }
            run_tasks();
            std::lock_guard<std::mutex> lock(m);
            if (--running == 0) done.notify_one();
        }
    }
};

// Deliberately leaked, with detached workers: they sleep on `start` until the process exits.
Pool& pool() {
    static Pool* p = new Pool();
    return *p;
}

}  // namespace

void parallel_for(long n_tasks, int n_threads, const std::function<void(long)>& task) {
    if (n_tasks <= 0) return;
    const long threads = std::min<long>(n_threads, n_tasks);
    if (threads <= 1 || t_inside_task) {
        for (long t = 0; t < n_tasks; ++t) task(t);
        return;
    }
    Pool& p = pool();
    std::lock_guard<std::mutex> run(p.run_mutex);
    const int blas_threads = blas::num_threads();
    if (blas_threads != 1) blas::set_num_threads(1);  // two BLAS pools on two cores only contend
    {
        std::lock_guard<std::mutex> lock(p.m);
        while (static_cast<long>(p.workers.size()) < threads - 1) {
            const int w = static_cast<int>(p.workers.size());
            p.workers.emplace_back([&p, w] { p.worker_loop(w); });
            p.workers.back().detach();
        }
        p.task = &task;
        p.n_tasks = n_tasks;
        p.grad_mode = grad_enabled();
        p.next.store(0);
        p.errors.assign(static_cast<size_t>(n_tasks), nullptr);
        p.job_workers = static_cast<int>(threads - 1);
        p.running = p.job_workers;
        ++p.generation;
    }
    p.start.notify_all();
    p.run_tasks();
    {
        std::unique_lock<std::mutex> lock(p.m);
        p.done.wait(lock, [&] { return p.running == 0; });
        p.task = nullptr;
    }
    if (blas_threads != 1) blas::set_num_threads(blas_threads);
    for (const auto& e : p.errors)
        if (e) std::rethrow_exception(e);
}

}  // namespace ad
