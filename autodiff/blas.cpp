#include "autodiff/blas.hpp"

#include <cblas.h>

namespace ad::blas {

void gemm(bool trans_a, bool trans_b, long m, long n, long k, double alpha, const double* A, long lda,
          const double* B, long ldb, double beta, double* C, long ldc) {
    if (m == 0 || n == 0) return;
    if (k == 0) {  // BLAS leaves C untouched (times beta) -- make that explicit for beta == 0
        for (long i = 0; i < m; ++i)
            for (long j = 0; j < n; ++j) C[i * ldc + j] = beta == 0 ? 0.0 : beta * C[i * ldc + j];
        return;
    }
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, A, static_cast<int>(lda), B,
                static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
}

void set_num_threads(int n) { openblas_set_num_threads(n); }

}  // namespace ad::blas
