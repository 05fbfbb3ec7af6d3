// Vectorisable exp, expm1-based tanh, sigmoid over arrays. libm's scalar calls dominated small
// MLP steps (tanh was 60% of a sine training step); these loops have no calls or branches in the
// body, so the compiler vectorises them (x86-64-v3 (AVX2, FMA) clone chosen at run time by CPU features).
//
// exp(x) = 2^k (1 + q(r)),  x = k ln2 + r,  |r| <= ln2/2,  q(r) = expm1(r) by its Taylor series to
// degree 13 (truncation < 1e-17 relative). ln2 is split into hi + lo so k ln2 is exact.
// tanh(x) = sign(x) m / (m + 2),  m = expm1(2|x|) = 2^k q(r) + (2^k - 1)  (exact for k = 0, so
// no cancellation near 0); |x| is clamped at 20, where tanh is 1 to double precision.
// The naive libm versions are the test oracle (tests/autodiff/test_fastmath.cpp): <= 4 ulp.
#pragma once

namespace ad::fast {

void exp(const double* x, double* y, long n);      ///< y = e^x (inf / 0 / nan as libm)
void tanh(const double* x, double* y, long n);     ///< y = tanh x
void sigmoid(const double* x, double* y, long n);  ///< y = 1 / (1 + e^-x)

}  // namespace ad::fast
