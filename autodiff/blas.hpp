// The only code that knows CBLAS and LAPACKE calling conventions and info codes.
// Row-major throughout; leading dimensions are row lengths.
#pragma once
#include <vector>

namespace ad::blas {

/// C[m, n] = alpha op(A) op(B) + beta C, op(X) = X or X^T; A is [m, k] (or [k, m] if trans_a).
void gemm(bool trans_a, bool trans_b, long m, long n, long k, double alpha, const double* A, long lda,
          const double* B, long ldb, double beta, double* C, long ldc);

// ---- LAPACK (row-major; A[n, n] with leading dimension lda >= n). Routines return LAPACK's info
// when a positive value carries meaning for the caller; a negative info (an illegal argument) is
// an internal bug and throws ad::Error naming the routine.

/// Cholesky factorisation in place (dpotrf, lower): the lower triangle of A becomes L with
/// A = L L^T; only the lower triangle is read, the strict upper triangle is left unspecified.
/// Returns 0, or k > 0 when the leading minor of order k is not positive.
int potrf(long n, double* A, long lda);

/// Solves (L L^T) X = B in place, B[n, m] -> X, given the lower Cholesky factor L[n, n] (dpotrs).
void potrs(long n, long m, const double* L, long ldl, double* B, long ldb);

/// Solves op(T) X = B in place, B[n, m] -> X, for triangular T[n, n] with a non-zero diagonal;
/// op(T) = T or T^T (cblas_dtrsm, left side); only the `lower` (or upper) triangle of T is read.
void trsm(bool lower, bool trans, long n, long m, const double* T, long ldt, double* B, long ldb);

/// LU factorisation with partial pivoting in place (dgetrf): A = P L U, unit-diagonal L below the
/// diagonal, U on and above it; row i was swapped with row ipiv[i] - 1 (1-based, as LAPACK).
/// Returns 0, or k > 0 when U[k-1, k-1] is exactly zero (A is singular).
int getrf(long n, double* A, long lda, std::vector<long>& ipiv);

/// A^{-1} in place from getrf's factors and pivots (dgetri). Returns 0, or k > 0 when
/// U[k-1, k-1] is exactly zero.
int getri(long n, double* A, long lda, const std::vector<long>& ipiv);

/// Eigen-decomposition of symmetric A in place (dsyevd, lower triangle read): w[n] ascending and
/// A's columns become the orthonormal eigenvectors. Returns 0, or k > 0 when it did not converge.
int syevd(long n, double* A, long lda, double* w);
/// Eigenvalues only of symmetric A (dsyevd, jobz 'N'; A is overwritten): w[n] ascending.
int syevd_values(long n, double* A, long lda, double* w);

/// Sets OpenBLAS's thread count (1 for small matrices, where threads only cost).
void set_num_threads(int n);
/// OpenBLAS's current thread count.
int num_threads();

}  // namespace ad::blas
