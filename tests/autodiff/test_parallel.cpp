// ad::parallel_for: every task once, the caller's grad mode, exceptions, nested calls.
#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "autodiff/graph.hpp"
#include "autodiff/parallel.hpp"

TEST_CASE("parallel_for: runs every task once, with the caller's grad mode", "[autodiff][parallel]") {
    for (int threads : {1, 2, 3})
        for (long n : {0L, 1L, 7L, 40L}) {
            std::vector<int> hits(static_cast<size_t>(n), 0);
            std::vector<char> mode(static_cast<size_t>(n), 2);
            ad::NoGrad off;
            ad::parallel_for(n, threads, [&](long t) {
                ++hits[static_cast<size_t>(t)];
                mode[static_cast<size_t>(t)] = ad::grad_enabled();
            });
            for (long t = 0; t < n; ++t) {
                CHECK(hits[static_cast<size_t>(t)] == 1);
                CHECK(mode[static_cast<size_t>(t)] == 0);
            }
        }
}

TEST_CASE("parallel_for: rethrows the lowest task's exception; nested calls run serially", "[autodiff][parallel]") {
    std::atomic<int> done{0};
    try {
        ad::parallel_for(6, 2, [&](long t) {
            ++done;
            if (t == 2 || t == 4) throw std::runtime_error("task " + std::to_string(t));
        });
        FAIL("no exception");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()) == "task 2");
    }
    CHECK(done == 6);
    std::vector<long> inner(4, 0);
    ad::parallel_for(2, 2, [&](long t) {
        ad::parallel_for(2, 2, [&](long u) { inner[static_cast<size_t>(2 * t + u)] = 1; });
    });
    for (long v : inner) CHECK(v == 1);
}
