// Run-time dispatch for vector kernels: AD_VECTOR_CLONES compiles a function twice, for
// x86-64-v3 (AVX2, FMA) and for the baseline, and picks one by CPU features at load time.
// Functions it calls must be inlined into it to benefit (mark them AD_INLINE), as sum4 below is.
#pragma once

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define AD_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define AD_VECTOR_CLONES
#endif

#define AD_INLINE inline __attribute__((always_inline))

namespace ad {

// sum_f h(f), f = 0..n-1, with four partial sums: the compiler may not reorder a floating-point
// reduction, and one accumulator leaves the loop bound by the add latency.
template <class H>
AD_INLINE double sum4(long n, H h) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    long f = 0;
    for (; f + 4 <= n; f += 4) {
        s0 += h(f);
        s1 += h(f + 1);
        s2 += h(f + 2);
        s3 += h(f + 3);
    }
    for (; f < n; ++f) s0 += h(f);
    return (s0 + s1) + (s2 + s3);
}

}  // namespace ad
