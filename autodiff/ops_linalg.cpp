// Linear algebra beyond products: triangle and diagonal helpers, Cholesky factor and solves,
// triangular solve, inverse, log-determinant and the symmetric eigendecomposition. Forward kernels
// call LAPACK through blas::; every backward is written with public ops (matmul, triangular_solve,
// tril, diag, where, ...), so each op can be differentiated again.
// Notation: A [n, n] square input, L its lower Cholesky factor (A = L L^T), T triangular [n, n],
// B right-hand sides [n, m], X solutions, g = dLoss/d(output), sym(M) = (M + M^T) / 2.
// Symmetric inputs (cholesky, eigh) get symmetric gradients: perturbations of A are taken to be
// symmetric, as in Murray 2016, "Differentiation of the Cholesky decomposition" (arXiv:1602.07527),
// and Giles 2008, "An extended collection of matrix derivative results" (eigenvalue section).
#include <algorithm>
#include <cmath>

#include "autodiff/blas.hpp"
#include "autodiff/ops.hpp"

namespace ad {

namespace {

Tensor eye(long n) {
    Tensor I = Tensor::zeros({n, n});
    for (long i = 0; i < n; ++i) I.data()[i * n + i] = 1.0;
    return I;
}

// (M + M^T) / 2: projects a gradient onto symmetric matrices.
Tensor sym(const Tensor& M) { return mul(add(M, transpose(M)), 0.5); }

// Upper triangle including the diagonal (zero below).
Tensor triu(const Tensor& M) { return transpose(tril(transpose(M))); }

Tensor keep_triangle(const Tensor& M, Triangle tri) { return tri == Triangle::lower ? tril(M) : triu(M); }

void check_square(const Tensor& A, const char* op) {
    AD_CHECK(A.ndim() == 2 && A.dim(0) == A.dim(1), op << ": expected a square matrix, got " << A.shape());
}

// Symmetric up to rounding: |A[i,j] - A[j,i]| <= 1e-8 max|A|. Sums and products such as X X^T + c I
// can differ from exact symmetry by a few ulps per term (summation order inside gemm), far below
// this; an unsymmetrised input is far above it.
void check_symmetric(const Tensor& A, const char* op) {
    const long n = A.dim(0);
    const double* a = A.data();
    double scale = 0;
    for (long i = 0; i < n * n; ++i) scale = std::max(scale, std::fabs(a[i]));
    for (long i = 0; i < n; ++i)
        for (long j = 0; j < i; ++j)
            AD_CHECK(std::fabs(a[i * n + j] - a[j * n + i]) <= 1e-8 * scale,
                     op << ": expected a symmetric matrix, got A[" << i << ", " << j << "] = " << a[i * n + j]
                        << " and A[" << j << ", " << i << "] = " << a[j * n + i] << "; symmetrise with (A + A^T) / 2");
}

// Runs a 2-D solve on a vector right-hand side b [n] as the matrix [n, 1] (reshape is an op, so
// gradients flow through it).
template <class Solve>
Tensor solve_columns(const Tensor& B, Solve solve) {
    if (B.ndim() != 1) return solve(B);
    return reshape(solve(reshape(B, {B.dim(0), 1})), {B.dim(0)});
}

}  // namespace

// y[i, j] = x[i, j] if j - i <= k else 0, x [n, m];  gx = tril(g, k)
Tensor tril(const Tensor& x, long k) {
    AD_CHECK(x.ndim() == 2, "tril: expected a matrix [n, m], got " << x.shape());
    const long n = x.dim(0), m = x.dim(1);
    Tensor y = Tensor::empty(x.shape());
    const double* px = x.data();
    double* py = y.data();
    for (long i = 0; i < n; ++i)
        for (long j = 0; j < m; ++j) py[i * m + j] = j - i <= k ? px[i * m + j] : 0.0;
    return record("tril", y, {x}, [k](const Tensor& g, const Ctx&) { return Grads{tril(g, k)}; });
}

// y[i] = x[i, i], x [n, n] -> y [n];  gx = diag(g)
Tensor diagonal(const Tensor& x) {
    check_square(x, "diagonal");
    const long n = x.dim(0);
    Tensor y = Tensor::empty({n});
    for (long i = 0; i < n; ++i) y.data()[i] = x.data()[i * n + i];
    return record("diagonal", y, {x}, [](const Tensor& g, const Ctx&) { return Grads{diag(g)}; });
}

// y[i, j] = v[i] if i == j else 0, v [n] -> y [n, n];  gv = diagonal(g)
Tensor diag(const Tensor& v) {
    AD_CHECK(v.ndim() == 1, "diag: expected a vector [n], got " << v.shape());
    const long n = v.dim(0);
    Tensor y = Tensor::zeros({n, n});
    for (long i = 0; i < n; ++i) y.data()[i * n + i] = v.data()[i];
    return record("diag", y, {v}, [](const Tensor& g, const Ctx&) { return Grads{diagonal(g)}; });
}

// y = sum_i x[i, i], x [n, n] -> y [];  gx = g I
Tensor trace(const Tensor& x) {
    check_square(x, "trace");
    const long n = x.dim(0);
    double s = 0;
    for (long i = 0; i < n; ++i) s += x.data()[i * n + i];
    return record("trace", Tensor::scalar(s), {x},
                  [](const Tensor& g, const Ctx& c) { return Grads{mul(eye(c.in[0].dim(0)), g)}; });
}

// L [n, n] lower triangular with A = L L^T (dpotrf), A [n, n] symmetric positive-definite.
// gA = sym(L^{-T} Phi(L^T gL) L^{-1}), Phi(M) = tril(M) with its diagonal halved (Murray 2016).
// Phi reads only the lower triangle of L^T gL, which depends only on the lower triangle of gL, so
// gradients reaching the structural zeros above the diagonal are ignored, as they should be.
Tensor cholesky(const Tensor& A) {
    check_square(A, "cholesky");
    check_symmetric(A, "cholesky");
    const long n = A.dim(0);
    Tensor L = A.clone();
    const int info = blas::potrf(n, L.data(), n);
    AD_CHECK(info == 0, "cholesky: expected a symmetric positive-definite matrix, got a leading minor of order "
                            << info << " that is not positive (LAPACK dpotrf info=" << info
                            << "); add jitter or a larger prior precision");
    double* pl = L.data();
    for (long i = 0; i < n; ++i)
        for (long j = i + 1; j < n; ++j) pl[i * n + j] = 0.0;
    return record("cholesky", L, {A}, [](const Tensor& g, const Ctx& c) {
        const Tensor& Lc = c.out;
        Tensor P = matmul_tn(Lc, g);                                            // L^T gL
        Tensor phi = add(tril(P, -1), mul(diag(diagonal(P)), 0.5));             // Phi(L^T gL)
        Tensor Y = triangular_solve(phi, Lc, Triangle::lower, Transpose::yes);  // L^{-T} Phi
        // Y L^{-1} = (L^{-T} Y^T)^T
        Tensor S = transpose(triangular_solve(transpose(Y), Lc, Triangle::lower, Transpose::yes));
        return Grads{sym(S)};
    });
}

// X [n, m] = (L L^T)^{-1} B (dpotrs), L [n, n] lower Cholesky factor, B [n, m] (or [n] -> [n]).
//   gB = (L L^T)^{-1} g = cholesky_solve(g, L)
//   gL = -tril((gB X^T + X gB^T) L)   [from gA = -gB X^T and dA = dL L^T + L dL^T; only the lower
//                                      triangle of L is read]
Tensor cholesky_solve(const Tensor& B, const Tensor& L) {
    check_square(L, "cholesky_solve");
    const long n = L.dim(0);
    AD_CHECK((B.ndim() == 1 || B.ndim() == 2) && B.dim(0) == n, "cholesky_solve: expected B ["
                                                                    << n << ", m] or [" << n << "] for L " << L.shape()
                                                                    << ", got B " << B.shape());
    for (long i = 0; i < n; ++i)
        AD_CHECK(L.data()[i * n + i] != 0.0,
                 "cholesky_solve: expected a Cholesky factor with a non-zero diagonal, got L["
                     << i << ", " << i << "] = 0; factor A with cholesky(A) first");
    return solve_columns(B, [&L, n](const Tensor& B2) {
        const long m = B2.dim(1);
        Tensor X = B2.clone();
        blas::potrs(n, m, L.data(), n, X.data(), m);
        return record("cholesky_solve", X, {B2, L}, [](const Tensor& g, const Ctx& c) {
            const Tensor &Lc = c.in[1], &X2 = c.out;
            Tensor gB = cholesky_solve(g, Lc);
            Tensor gL;
            if (c.needs[1]) gL = neg(tril(matmul(add(matmul_nt(gB, X2), matmul_nt(X2, gB)), Lc)));
            return Grads{c.needs[0] ? gB : Tensor(), gL};
        });
    });
}

// X [n, m] with op(T) X = B (dtrsm), T [n, n] lower or upper triangular, op(T) = T or T^T,
// B [n, m] (or [n] -> [n]). Only the named triangle of T is read.
//   gB = op(T)^{-T} g = triangular_solve(g, T, tri, !trans)
//   gT = -gB X^T (trans = no) or -X gB^T (trans = yes), restricted to the triangle of T
Tensor triangular_solve(const Tensor& B, const Tensor& T, Triangle tri, Transpose trans) {
    check_square(T, "triangular_solve");
    const long n = T.dim(0);
    AD_CHECK((B.ndim() == 1 || B.ndim() == 2) && B.dim(0) == n, "triangular_solve: expected B ["
                                                                    << n << ", m] or [" << n << "] for T " << T.shape()
                                                                    << ", got B " << B.shape());
    for (long i = 0; i < n; ++i)
        AD_CHECK(T.data()[i * n + i] != 0.0,
                 "triangular_solve: expected a non-singular triangular matrix, got T[" << i << ", " << i << "] = 0");
    return solve_columns(B, [&T, n, tri, trans](const Tensor& B2) {
        const long m = B2.dim(1);
        Tensor X = B2.clone();
        blas::trsm(tri == Triangle::lower, trans == Transpose::yes, n, m, T.data(), n, X.data(), m);
        return record("triangular_solve", X, {B2, T}, [tri, trans](const Tensor& g, const Ctx& c) {
            const Tensor &Tc = c.in[1], &X2 = c.out;
            const Transpose flipped = trans == Transpose::yes ? Transpose::no : Transpose::yes;
            Tensor gB = triangular_solve(g, Tc, tri, flipped);
            Tensor gT;
            if (c.needs[1])
                gT = neg(keep_triangle(trans == Transpose::no ? matmul_nt(gB, X2) : matmul_nt(X2, gB), tri));
            return Grads{c.needs[0] ? gB : Tensor(), gT};
        });
    });
}

// Y [n, n] = A^{-1} (dgetrf + dgetri), A [n, n] non-singular.
//   gA = -Y^T g Y^T   [dY = -Y dA Y]
Tensor inverse(const Tensor& A) {
    check_square(A, "inverse");
    const long n = A.dim(0);
    Tensor Y = A.clone();
    std::vector<long> ipiv;
    int info = blas::getrf(n, Y.data(), n, ipiv);
    if (info == 0) info = blas::getri(n, Y.data(), n, ipiv);
    AD_CHECK(info == 0, "inverse: expected a non-singular matrix, got one whose LU factor has U["
                            << info - 1 << ", " << info - 1 << "] = 0 (LAPACK dgetrf info=" << info
                            << "); check for linearly dependent rows or columns, or add a small ridge to the diagonal");
    return record("inverse", Y, {A},
                  [](const Tensor& g, const Ctx& c) { return Grads{neg(matmul_tn(c.out, matmul_nt(g, c.out)))}; });
}

// y [] = log det A from the LU factors (dgetrf): det A = prod_i U[i, i] * (-1)^(row swaps),
// A [n, n] with det A > 0.
//   gA = g A^{-T}
Tensor logdet(const Tensor& A) {
    check_square(A, "logdet");
    const long n = A.dim(0);
    Tensor LU = A.clone();
    std::vector<long> ipiv;
    const int info = blas::getrf(n, LU.data(), n, ipiv);
    AD_CHECK(info == 0, "logdet: expected a matrix with positive determinant, got a singular one (LAPACK dgetrf info="
                            << info << ": U[" << info - 1 << ", " << info - 1 << "] = 0)");
    // Sum of logs rather than log of the product: the product of n diagonal entries over- or
    // underflows long before the log-determinant itself is large.
    double log_abs = 0;
    int sign = 1;
    for (long i = 0; i < n; ++i) {
        const double u = LU.data()[i * n + i];
        if (u < 0) sign = -sign;
        if (ipiv[i] - 1 != i) sign = -sign;
        log_abs += std::log(std::fabs(u));
    }
    AD_CHECK(sign > 0, "logdet: expected a matrix with positive determinant, got det < 0 (log|det| = "
                           << log_abs
                           << "); for a covariance or precision matrix this means it is not "
                              "positive-definite: add jitter to the diagonal");
    return record("logdet", Tensor::scalar(log_abs), {A},
                  [](const Tensor& g, const Ctx& c) { return Grads{mul(transpose(inverse(c.in[0])), g)}; });
}

// Eigenvalues w [n] ascending and eigenvectors V [n, n] (columns; A V = V diag(w), V^T V = I) of a
// symmetric A [n, n] (dsyevd). Two graph nodes:
//   V = eigh_vectors(A):     gA = sym(V (F o (V^T gV)) V^T),  F[i, j] = 1 / (w[j] - w[i]) for
//                            i != j, 0 on the diagonal  [dV = V (F o (V^T dA V))]
//   w = eigh_values(A, V):   gA = V diag(gw) V^T  [dw[k] = v_k^T dA v_k]; V is an input only so that
//                            this backward is differentiable through V, w gets no gradient from it.
// The vectors' backward rebuilds w = diagonal(V^T A V) from ops on its own input and output (rather
// than reading the values node, which would tie the two nodes into a reference cycle), so F, and
// with it the gradient, is differentiable again. Repeated eigenvalues make F infinite: the
// eigenvectors' gradient then throws. Eigenvector signs are LAPACK's; differentiate functions that
// do not depend on them (V diag(f(w)) V^T, V o V, ...).
std::pair<Tensor, Tensor> eigh(const Tensor& A) {
    check_square(A, "eigh");
    check_symmetric(A, "eigh");
    const long n = A.dim(0);
    Tensor V = A.clone();
    Tensor w = Tensor::empty({n});
    const int info = blas::syevd(n, V.data(), n, w.data());
    AD_CHECK(info == 0, "eigh: expected the symmetric eigensolver to converge, got LAPACK dsyevd info="
                            << info << "; check the matrix for NaN or Inf entries");
    V = record("eigh_vectors", V, {A}, [](const Tensor& gV, const Ctx& c) {
        const Tensor &Ac = c.in[0], &Vc = c.out;
        const long m = Vc.dim(0);
        Tensor wv = diagonal(matmul_tn(Vc, matmul(Ac, Vc)));         // [n]
        Tensor gap = sub(reshape(wv, {1, m}), reshape(wv, {m, 1}));  // [i, j] = w[j] - w[i]
        Tensor off = sub(Tensor::ones({m, m}), eye(m));              // 1 off the diagonal
        // Gaps below 1e-12 max|w| are rounding noise of a repeated eigenvalue (dsyevd resolves
        // eigenvalues to ~1e-16 max|w|), where F, and the gradient, would be noise over noise.
        double scale = 0, min_gap = HUGE_VAL;
        for (long i = 0; i < m; ++i) scale = std::max(scale, std::fabs(wv[i]));
        for (long i = 0; i + 1 < m; ++i) min_gap = std::min(min_gap, std::fabs(wv[i + 1] - wv[i]));
        AD_CHECK(m < 2 || min_gap > 1e-12 * scale,
                 "eigh: expected distinct eigenvalues for the eigenvectors' gradient, got a gap of "
                     << min_gap
                     << " between neighbouring eigenvalues; the eigenvectors of a repeated eigenvalue "
                        "are not unique, differentiate a function of the eigenspace such as V diag(f(w)) V^T instead");
        Tensor F = where(off, div(Tensor::scalar(1.0), add(gap, eye(m))), Tensor::scalar(0.0));  // [n, n]
        Tensor inner = mul(F, matmul_tn(Vc, gV));                                                // F o (V^T gV)
        return Grads{sym(matmul(Vc, matmul_nt(inner, Vc)))};
    });
    w = record("eigh_values", w, {A, V}, [](const Tensor& gw, const Ctx& c) {
        const Tensor& Vc = c.in[1];
        Tensor gA;
        if (c.needs[0]) gA = matmul_nt(mul(Vc, reshape(gw, {1, gw.dim(0)})), Vc);  // V diag(gw) V^T
        return Grads{gA, Tensor()};
    });
    return {w, V};
}

}  // namespace ad
