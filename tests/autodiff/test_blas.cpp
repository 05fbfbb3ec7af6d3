// blas::gemm against the naive triple loop (its oracle), for every transpose combination and the
// skinny shapes that take the dgemv / outer-product paths.
#include "autodiff/blas.hpp"
#include "tests/helpers.hpp"

namespace {
// C[m, n] = alpha op(A) op(B) + beta C, by definition
void naive_gemm(bool ta, bool tb, long m, long n, long k, double alpha, const double* A, long lda, const double* B,
                long ldb, double beta, double* C, long ldc) {
    for (long i = 0; i < m; ++i)
        for (long j = 0; j < n; ++j) {
            double s = 0;
            for (long p = 0; p < k; ++p) s += (ta ? A[p * lda + i] : A[i * lda + p]) * (tb ? B[j * ldb + p] : B[p * ldb + j]);
            C[i * ldc + j] = alpha * s + (beta == 0 ? 0.0 : beta * C[i * ldc + j]);
        }
}
}  // namespace

TEST_CASE("blas gemm: every path equals the naive product", "[autodiff][blas]") {
    ad::Rng rng(11);
    const long shapes[][3] = {{5, 7, 3}, {1, 7, 3}, {5, 1, 3}, {5, 7, 1}, {1, 1, 4}, {1, 6, 1}, {4, 1, 1}, {3, 4, 0}};
    for (auto& s : shapes)
        for (int ta = 0; ta < 2; ++ta)
            for (int tb = 0; tb < 2; ++tb)
                for (double beta : {0.0, 0.5}) {
                    const long m = s[0], n = s[1], k = s[2];
                    // leading dimensions larger than needed, to catch stride mistakes
                    const long lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 1, ldc = n + 3;
                    ad::Tensor A = rng.normal({(ta ? k : m) + 1, lda});
                    ad::Tensor B = rng.normal({(tb ? n : k) + 1, ldb});
                    ad::Tensor C0 = rng.normal({m, ldc});
                    ad::Tensor C1 = C0.clone(), C2 = C0.clone();
                    ad::blas::gemm(ta, tb, m, n, k, 1.5, A.data(), lda, B.data(), ldb, beta, C1.data(), ldc);
                    naive_gemm(ta, tb, m, n, k, 1.5, A.data(), lda, B.data(), ldb, beta, C2.data(), ldc);
                    INFO("m=" << m << " n=" << n << " k=" << k << " ta=" << ta << " tb=" << tb << " beta=" << beta);
                    // sums of <= 4 products in another order: equal to a few ulp
                    CHECK_THAT(C1, testing::AllClose(C2, 1e-13, 1e-13));
                }
}
