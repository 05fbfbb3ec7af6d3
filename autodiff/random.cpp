#include "autodiff/random.hpp"

#include <cmath>
#include <cstring>

#include "autodiff/error.hpp"

namespace ad {

namespace {
uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(uint64_t seed) {
    uint64_t x = seed;
    for (auto& s : s_) s = splitmix64(x);
}

uint64_t Rng::next_u64() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
double Rng::uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

double Rng::normal() {
    if (has_spare_) {
        has_spare_ = false;
        return spare_;
    }
    double u1 = 1.0 - uniform();  // (0, 1]: log is finite
    double u2 = uniform();
    double r = std::sqrt(-2.0 * std::log(u1));
    double t = 6.283185307179586476925 * u2;
    spare_ = r * std::sin(t);
    has_spare_ = true;
    return r * std::cos(t);
}

uint64_t Rng::below(uint64_t n) {
    AD_CHECK(n > 0, "Rng::below: expected n > 0, got 0");
    // rejection sampling on the top of the range keeps every value equally likely
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next_u64();
    while (x >= limit);
    return x % n;
}

Tensor Rng::uniform(const Shape& shape, double lo, double hi) {
    Tensor t = Tensor::empty(shape);
    for (long i = 0; i < t.numel(); ++i) t.data()[i] = uniform(lo, hi);
    return t;
}

Tensor Rng::normal(const Shape& shape, double mean, double stddev) {
    Tensor t = Tensor::empty(shape);
    for (long i = 0; i < t.numel(); ++i) t.data()[i] = mean + stddev * normal();
    return t;
}

std::vector<long> Rng::permutation(long n) {
    std::vector<long> p(n);
    for (long i = 0; i < n; ++i) p[i] = i;
    for (long i = n - 1; i > 0; --i) std::swap(p[i], p[below(static_cast<uint64_t>(i + 1))]);
    return p;
}

std::vector<uint64_t> Rng::state() const {
    uint64_t spare_bits;
    static_assert(sizeof(spare_bits) == sizeof(spare_), "double is 64 bits");
    std::memcpy(&spare_bits, &spare_, sizeof spare_bits);
    return {s_[0], s_[1], s_[2], s_[3], has_spare_ ? 1u : 0u, spare_bits};
}

void Rng::set_state(const std::vector<uint64_t>& s) {
    AD_CHECK(s.size() == 6, "Rng::set_state: expected 6 words, got " << s.size());
    for (int k = 0; k < 4; ++k) s_[k] = s[k];
    has_spare_ = s[4] != 0;
    std::memcpy(&spare_, &s[5], sizeof spare_);
}

}  // namespace ad
