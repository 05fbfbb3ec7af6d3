// Run-time dispatch for vector kernels: AD_VECTOR_CLONES compiles a function twice, for
// x86-64-v3 (AVX2, FMA) and for the baseline, and picks one by CPU features at load time.
// Functions it calls must be inlined into it to benefit (mark them AD_INLINE).
#pragma once

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define AD_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define AD_VECTOR_CLONES
#endif

#define AD_INLINE inline __attribute__((always_inline))
