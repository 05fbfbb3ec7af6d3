// Seeded random numbers, identical on every machine and compiler: xoshiro256** seeded through
// splitmix64, uniform doubles from the top 53 bits, normals by Box-Muller. (std:: distributions
// are implementation-defined, so they would break "same seed, same result, bit for bit".)
#pragma once
#include <cstdint>
#include <vector>

#include "autodiff/tensor.hpp"

namespace ad {

class Rng {
  public:
    explicit Rng(uint64_t seed = 0);
    uint64_t next_u64();
    double uniform();                       ///< [0, 1)
    double uniform(double lo, double hi);   ///< [lo, hi)
    double normal();                        ///< standard normal
    uint64_t below(uint64_t n);             ///< uniform integer in [0, n), unbiased
    Tensor uniform(const Shape& shape, double lo = 0.0, double hi = 1.0);
    Tensor normal(const Shape& shape, double mean = 0.0, double stddev = 1.0);
    std::vector<long> permutation(long n);  ///< Fisher-Yates shuffle of 0..n-1

    /// The full generator state (for checkpoints: resuming continues the same stream).
    std::vector<uint64_t> state() const;
    void set_state(const std::vector<uint64_t>& s);

  private:
    uint64_t s_[4];
    bool has_spare_ = false;
    double spare_ = 0.0;
};

}  // namespace ad
