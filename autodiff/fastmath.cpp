#include "autodiff/fastmath.hpp"
#include "autodiff/simd.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

namespace ad::fast {

namespace {

constexpr double kLog2e = 1.4426950408889634074;
constexpr double kLn2Hi = 6.93147180369123816490e-01;  // trailing zero bits: k * kLn2Hi is exact
constexpr double kLn2Lo = 1.90821492927058770002e-10;
constexpr double kShifter = 0x1.8p52;  // adding it rounds to an integer held in the low mantissa bits

}  // namespace


// Four lanes at a time with GCC/Clang vector extensions (AVX2+FMA in the x86-64-v3 clone, SSE2 pairs
// otherwise); the tail runs the same formulas on one element.
typedef double v4d __attribute__((vector_size(32)));
typedef int64_t v4i __attribute__((vector_size(32)));
// Everything below is inlined into each clone, so it is compiled for that clone's instruction set.

namespace {

AD_INLINE v4d load4(const double* p) {
    v4d v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
AD_INLINE void store4(double* p, v4d v) { std::memcpy(p, &v, sizeof v); }
AD_INLINE v4d splat(double a) { return v4d{a, a, a, a}; }
AD_INLINE v4i splat_i(int64_t a) { return v4i{a, a, a, a}; }
AD_INLINE v4d vmin(v4d a, v4d b) { return a < b ? a : b; }
AD_INLINE v4d vmax(v4d a, v4d b) { return a > b ? a : b; }
constexpr int64_t kSignBit = INT64_MIN;

AD_INLINE v4d vexpm1_reduced(v4d r) {
    v4d p = splat(1.0 / 6227020800.0);
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    return p * r;
}

// x = k ln2 + r; returns r and writes 2^k to *scale. Valid for |x| <= 700.
AD_INLINE v4d vreduce(v4d x, v4d* scale) {
    v4d t = x * kLog2e + kShifter;
    v4d k = t - kShifter;
    v4i ki = (v4i)t - splat_i(0x4338000000000000LL);
    *scale = (v4d)((ki + 1023) << 52);
    return (x - k * kLn2Hi) - k * kLn2Lo;
}

AD_INLINE v4d vexp(v4d x) {
    v4d s;
    v4d r = vreduce(vmin(vmax(x, splat(-700.0)), splat(700.0)), &s);
    return s * (1.0 + vexpm1_reduced(r));
}

AD_INLINE v4d vtanh(v4d x) {
    v4d a = (v4d)((v4i)x & ~splat_i(kSignBit));
    a = vmin(a, splat(20.0));
    v4d s;
    v4d r = vreduce(2.0 * a, &s);
    v4d m = s * vexpm1_reduced(r) + (s - 1.0);
    v4d t = m / (m + 2.0);
    return (v4d)((v4i)t | ((v4i)x & splat_i(kSignBit)));
}

AD_INLINE v4d vsigmoid(v4d x) {
    // sigmoid(x) = 1 / (1 + e^-x); for x < 0, e^x / (1 + e^x), so e^{|x|} never overflows
    v4d a = vmin((v4d)((v4i)x & ~splat_i(kSignBit)), splat(700.0));
    v4d s;
    v4d r = vreduce(-a, &s);
    v4d e = s * (1.0 + vexpm1_reduced(r));
    v4d pos = 1.0 / (1.0 + e);
    return x >= 0.0 ? pos : e * pos;
}

}  // namespace

// Applies the vector function F to 4 lanes at a time; the tail is padded into one more vector.
// (A macro, not a template taking F: a callable would be compiled outside the clone's target.)
#define AD_APPLY(F)                                                         \
    long i = 0;                                                             \
    for (; i + 4 <= n; i += 4) store4(y + i, F(load4(x + i)));              \
    if (i < n) {                                                            \
        double in[4] = {0, 0, 0, 0}, out[4];                                \
        for (long j = i; j < n; ++j) in[j - i] = x[j];                      \
        store4(out, F(load4(in)));                                          \
        for (long j = i; j < n; ++j) y[j] = out[j - i];                     \
    }

AD_VECTOR_CLONES
void exp(const double* x, double* y, long n) {
    AD_APPLY(vexp)
    // outside [-700, 700] (overflow, underflow to subnormals, nan): libm
    for (i = 0; i < n; ++i)
        if (!(std::fabs(x[i]) <= 700.0)) y[i] = std::exp(x[i]);
}

AD_VECTOR_CLONES
void tanh(const double* x, double* y, long n) {
    AD_APPLY(vtanh)
    for (i = 0; i < n; ++i)
        if (std::isnan(x[i])) y[i] = x[i];
}

AD_VECTOR_CLONES
void sigmoid(const double* x, double* y, long n) {
    AD_APPLY(vsigmoid)
    // beyond |x| = 700 (where e^{-|x|} is subnormal or 0) and for nan: libm
    for (i = 0; i < n; ++i)
        if (!(std::fabs(x[i]) <= 700.0)) y[i] = x[i] >= 0 ? 1.0 / (1.0 + std::exp(-x[i])) : std::exp(x[i]) / (1.0 + std::exp(x[i]));
}

}  // namespace ad::fast
