// The only code that knows CBLAS and LAPACKE calling conventions and info codes.
// Row-major throughout; leading dimensions are row lengths.
#pragma once

namespace ad::blas {

/// C[m, n] = alpha op(A) op(B) + beta C, op(X) = X or X^T; A is [m, k] (or [k, m] if trans_a).
void gemm(bool trans_a, bool trans_b, long m, long n, long k, double alpha, const double* A, long lda,
          const double* B, long ldb, double beta, double* C, long ldc);

/// Sets OpenBLAS's thread count (1 for small matrices, where threads only cost).
void set_num_threads(int n);

}  // namespace ad::blas
