#include "autodiff/blas.hpp"

#include <cblas.h>
#include <lapacke.h>

#include <vector>

#include "autodiff/error.hpp"

namespace ad::blas {

// Skinny products (one of m, n, k equal to 1) go to dgemv or a plain loop: dgemm's packing costs
// more than the arithmetic there (the sine MLP's first and last layers). The naive triple loop in
// tests/autodiff/test_blas.cpp is the oracle for every path.
void gemm(bool trans_a, bool trans_b, long m, long n, long k, double alpha, const double* A, long lda,
          const double* B, long ldb, double beta, double* C, long ldc) {
    if (m == 0 || n == 0) return;
    if (k == 0) {  // BLAS leaves C untouched (times beta) -- make that explicit for beta == 0
        for (long i = 0; i < m; ++i)
            for (long j = 0; j < n; ++j) C[i * ldc + j] = beta == 0 ? 0.0 : beta * C[i * ldc + j];
        return;
    }
    // element strides of op(A)[i, p] and op(B)[p, j]
    const long a_i = trans_a ? 1 : lda, a_p = trans_a ? lda : 1;
    const long b_p = trans_b ? 1 : ldb, b_j = trans_b ? ldb : 1;
    if (k == 1) {  // outer product C = alpha a b^T + beta C
        for (long i = 0; i < m; ++i) {
            const double ai = alpha * A[i * a_i];
            double* c = C + i * ldc;
            if (beta == 0)
                for (long j = 0; j < n; ++j) c[j] = ai * B[j * b_j];
            else
                for (long j = 0; j < n; ++j) c[j] = beta * c[j] + ai * B[j * b_j];
        }
        return;
    }
    if (n == 1) {  // C[:, 0] = alpha op(A) b + beta C[:, 0]
        if (beta == 0)
            for (long i = 0; i < m; ++i) C[i * ldc] = 0.0;
        cblas_dgemv(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, static_cast<int>(trans_a ? k : m),
                    static_cast<int>(trans_a ? m : k), alpha, A, static_cast<int>(lda), B, static_cast<int>(b_p), beta,
                    C, static_cast<int>(ldc));
        return;
    }
    if (m == 1) {  // C[0, :] = alpha op(B)^T a + beta C[0, :]
        if (beta == 0)
            for (long j = 0; j < n; ++j) C[j] = 0.0;
        cblas_dgemv(CblasRowMajor, trans_b ? CblasNoTrans : CblasTrans, static_cast<int>(trans_b ? n : k),
                    static_cast<int>(trans_b ? k : n), alpha, B, static_cast<int>(ldb), A, static_cast<int>(a_p), beta, C,
                    1);
        return;
    }
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, A, static_cast<int>(lda), B,
                static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
}

namespace {

// LAPACK's info < 0 means argument -info was illegal: a bug in the caller inside this library.
int checked(int info, const char* routine) {
    AD_CHECK(info >= 0, "blas: LAPACK " << routine << " rejected argument " << -info
                                        << " (info=" << info << "); this is a bug in atomgrad, please report it");
    return info;
}

}  // namespace

int potrf(long n, double* A, long lda) {
    if (n == 0) return 0;
    return checked(LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', static_cast<lapack_int>(n), A, static_cast<lapack_int>(lda)),
                   "dpotrf");
}

void potrs(long n, long m, const double* L, long ldl, double* B, long ldb) {
    if (n == 0 || m == 0) return;
    checked(LAPACKE_dpotrs(LAPACK_ROW_MAJOR, 'L', static_cast<lapack_int>(n), static_cast<lapack_int>(m), L,
                           static_cast<lapack_int>(ldl), B, static_cast<lapack_int>(ldb)),
            "dpotrs");
}

void trsm(bool lower, bool trans, long n, long m, const double* T, long ldt, double* B, long ldb) {
    if (n == 0 || m == 0) return;
    cblas_dtrsm(CblasRowMajor, CblasLeft, lower ? CblasLower : CblasUpper, trans ? CblasTrans : CblasNoTrans,
                CblasNonUnit, static_cast<int>(n), static_cast<int>(m), 1.0, T, static_cast<int>(ldt), B,
                static_cast<int>(ldb));
}

int getrf(long n, double* A, long lda, std::vector<long>& ipiv) {
    ipiv.assign(static_cast<size_t>(n), 0);
    if (n == 0) return 0;
    std::vector<lapack_int> piv(static_cast<size_t>(n));
    int info = checked(LAPACKE_dgetrf(LAPACK_ROW_MAJOR, static_cast<lapack_int>(n), static_cast<lapack_int>(n), A,
                                      static_cast<lapack_int>(lda), piv.data()),
                       "dgetrf");
    for (size_t i = 0; i < piv.size(); ++i) ipiv[i] = piv[i];
    return info;
}

int getri(long n, double* A, long lda, const std::vector<long>& ipiv) {
    if (n == 0) return 0;
    std::vector<lapack_int> piv(ipiv.begin(), ipiv.end());
    return checked(LAPACKE_dgetri(LAPACK_ROW_MAJOR, static_cast<lapack_int>(n), A, static_cast<lapack_int>(lda),
                                  piv.data()),
                   "dgetri");
}

int syevd(long n, double* A, long lda, double* w) {
    if (n == 0) return 0;
    return checked(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'L', static_cast<lapack_int>(n), A,
                                  static_cast<lapack_int>(lda), w),
                   "dsyevd");
}

int syevd_values(long n, double* A, long lda, double* w) {
    if (n == 0) return 0;
    return checked(LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'N', 'L', static_cast<lapack_int>(n), A,
                                  static_cast<lapack_int>(lda), w),
                   "dsyevd");
}

void set_num_threads(int n) { openblas_set_num_threads(n); }
int num_threads() { return openblas_get_num_threads(); }

}  // namespace ad::blas
