// Linear-algebra ops: hand values on 2x2 / 3x3 inputs, gradcheck and gradgradcheck (SPD-only ops
// are fed an SPD matrix built from a free input), and the error messages.
#include <cmath>

#include "tests/helpers.hpp"

using ad::Tensor;
using testing::AllClose;

namespace {

Tensor eye(long n) {
    Tensor I = Tensor::zeros({n, n});
    for (long i = 0; i < n; ++i) I.data()[i * n + i] = 1.0;
    return I;
}

// (X + X^T) / 2 + c I: symmetric for any X, positive-definite when c exceeds X's spread.
Tensor sym_shift(const Tensor& X, double c) {
    return ad::add(ad::mul(ad::add(X, ad::transpose(X)), 0.5), ad::mul(eye(X.dim(0)), c));
}

// X X^T + c I: symmetric positive-definite for any X and c > 0.
Tensor spd(const Tensor& X, double c) { return ad::add(ad::matmul_nt(X, X), ad::mul(eye(X.dim(0)), c)); }

}  // namespace

TEST_CASE("tril: values, gradients, second gradients, errors", "[autodiff][linalg][tril]") {
    ad::Rng rng(11);
    Tensor x = rng.normal({3, 4}).set_requires_grad(true);
    Tensor m = ad::tensor({2, 3}, {1, 2, 3, 4, 5, 6});
    CHECK_THAT(ad::tril(m), AllClose(ad::tensor({2, 3}, {1, 0, 0, 4, 5, 0})));
    CHECK_THAT(ad::tril(m, 1), AllClose(ad::tensor({2, 3}, {1, 2, 0, 4, 5, 6})));
    CHECK_THAT(ad::tril(m, -1), AllClose(ad::tensor({2, 3}, {0, 0, 0, 4, 0, 0})));
    for (long k : {-1L, 0L, 2L}) {
        auto f = [k](const ad::Inputs& in) { return ad::tril(in[0], k); };
        CHECK(ad::gradcheck(f, {x}));
        CHECK(ad::gradgradcheck(f, {x}));
    }
    REQUIRE_THROWS_WITH(ad::tril(rng.normal({4})), Catch::Contains("tril: expected a matrix [n, m], got [4]"));
}

TEST_CASE("diagonal: values, gradients, second gradients, errors", "[autodiff][linalg][diagonal]") {
    ad::Rng rng(12);
    Tensor x = rng.normal({3, 3}).set_requires_grad(true);
    auto f = [](const ad::Inputs& in) { return ad::diagonal(in[0]); };
    CHECK_THAT(ad::diagonal(ad::tensor({2, 2}, {1, 2, 3, 4})), AllClose(ad::tensor({1, 4})));
    CHECK(ad::gradcheck(f, {x}));
    CHECK(ad::gradgradcheck(f, {x}));
    REQUIRE_THROWS_WITH(ad::diagonal(rng.normal({2, 3})),
                        Catch::Contains("diagonal: expected a square matrix, got [2, 3]"));
}

TEST_CASE("diag: values, gradients, second gradients, errors", "[autodiff][linalg][diag]") {
    ad::Rng rng(13);
    Tensor v = rng.normal({3}).set_requires_grad(true);
    auto f = [](const ad::Inputs& in) { return ad::diag(in[0]); };
    CHECK_THAT(ad::diag(ad::tensor({1, 2})), AllClose(ad::tensor({2, 2}, {1, 0, 0, 2})));
    CHECK(ad::gradcheck(f, {v}));
    CHECK(ad::gradgradcheck(f, {v}));
    REQUIRE_THROWS_WITH(ad::diag(rng.normal({2, 2})), Catch::Contains("diag: expected a vector [n], got [2, 2]"));
}

TEST_CASE("trace: values, gradients, second gradients, errors", "[autodiff][linalg][trace]") {
    ad::Rng rng(14);
    Tensor x = rng.normal({3, 3}).set_requires_grad(true);
    // trace(x)^2 so that the second derivative is not identically zero
    auto f = [](const ad::Inputs& in) { return ad::square(ad::trace(in[0])); };
    CHECK(ad::trace(ad::tensor({2, 2}, {1, 2, 3, 4})).item() == 5.0);
    CHECK(ad::gradcheck(f, {x}));
    CHECK(ad::gradgradcheck(f, {x}));
    REQUIRE_THROWS_WITH(ad::trace(rng.normal({2, 3})), Catch::Contains("trace: expected a square matrix, got [2, 3]"));
}

TEST_CASE("cholesky: values, gradients, second gradients, errors", "[autodiff][linalg][cholesky]") {
    ad::Rng rng(15);
    // [[4, 2], [2, 3]] = L L^T with L = [[2, 0], [1, sqrt 2]] (by hand: 2 = sqrt 4, 1 = 2 / 2,
    // sqrt(3 - 1^2) = sqrt 2).
    CHECK_THAT(ad::cholesky(ad::tensor({2, 2}, {4, 2, 2, 3})),
               AllClose(ad::tensor({2, 2}, {2, 0, 1, std::sqrt(2.0)}), 1e-14, 1e-14));

    // Free input A, symmetrised and shifted: sym(A) + 3 I is SPD for entries of size ~0.5.
    Tensor A = rng.normal({3, 3}, 0.0, 0.5).set_requires_grad(true);
    auto f_sym = [](const ad::Inputs& in) { return ad::cholesky(sym_shift(in[0], 3.0)); };
    CHECK(ad::gradcheck(f_sym, {A}));
    CHECK(ad::gradgradcheck(f_sym, {A}));
    // A = X X^T + I: reaches every SPD matrix, not just ones near 3 I.
    Tensor X = rng.normal({3, 3}).set_requires_grad(true);
    auto f_spd = [](const ad::Inputs& in) { return ad::cholesky(spd(in[0], 1.0)); };
    CHECK(ad::gradcheck(f_spd, {X}));
    CHECK(ad::gradgradcheck(f_spd, {X}));
    // The gradient w.r.t. A itself is symmetric (perturbations of a symmetric input are symmetric);
    // with the symmetrised gradchecks above this pins it down completely.
    Tensor S = sym_shift(rng.normal({3, 3}, 0.0, 0.5), 3.0).set_requires_grad(true);
    Tensor gS = ad::grad({ad::cholesky(S)}, {S}, {rng.normal({3, 3})})[0];
    CHECK_THAT(gS, AllClose(ad::transpose(gS)));

    REQUIRE_THROWS_WITH(ad::cholesky(rng.normal({2, 3})),
                        Catch::Contains("cholesky: expected a square matrix, got [2, 3]"));
    REQUIRE_THROWS_WITH(ad::cholesky(ad::tensor({2, 2}, {1, 2, 2, 1})),  // eigenvalues 3, -1
                        Catch::Contains("cholesky: expected a symmetric positive-definite matrix, got a leading "
                                        "minor of order 2 that is not positive (LAPACK dpotrf info=2); add jitter"));
    REQUIRE_THROWS_WITH(ad::cholesky(ad::tensor({2, 2}, {4, 2, 1, 3})),
                        Catch::Contains("cholesky: expected a symmetric matrix, got A[1, 0] = 1 and A[0, 1] = 2"));
}

TEST_CASE("cholesky_solve: values, gradients, second gradients, errors", "[autodiff][linalg][cholesky_solve]") {
    ad::Rng rng(16);
    // A = [[4, 2], [2, 3]], L = [[2, 0], [1, sqrt 2]]; A [1, 2] = [8, 8].
    Tensor L = ad::tensor({2, 2}, {2, 0, 1, std::sqrt(2.0)});
    CHECK_THAT(ad::cholesky_solve(ad::tensor({8, 8}), L), AllClose(ad::tensor({1, 2}), 1e-14, 1e-14));
    CHECK_THAT(ad::cholesky_solve(ad::tensor({2, 2}, {8, 4, 8, 2}), L),
               AllClose(ad::tensor({2, 2}, {1, 1, 2, 0}), 1e-14, 1e-14));

    // L free (only its lower triangle matters) with a diagonal kept away from zero.
    Tensor Lf = ad::add(ad::tril(rng.normal({3, 3}, 0.0, 0.3)), ad::mul(eye(3), 2.0)).set_requires_grad(true);
    Tensor B = rng.normal({3, 2}).set_requires_grad(true);
    Tensor b = rng.normal({3}).set_requires_grad(true);
    auto f = [](const ad::Inputs& in) { return ad::cholesky_solve(in[0], in[1]); };
    CHECK(ad::gradcheck(f, {B, Lf}));
    CHECK(ad::gradgradcheck(f, {B, Lf}));
    CHECK(ad::gradcheck(f, {b, Lf}));
    CHECK(ad::gradgradcheck(f, {b, Lf}));
    // Composed with cholesky, as in a Gaussian-process solve: X = A^{-1} B with A = Y Y^T + I.
    Tensor Y = rng.normal({3, 3}).set_requires_grad(true);
    auto g = [](const ad::Inputs& in) { return ad::cholesky_solve(in[0], ad::cholesky(spd(in[1], 1.0))); };
    CHECK(ad::gradcheck(g, {B, Y}));
    CHECK(ad::gradgradcheck(g, {B, Y}));

    REQUIRE_THROWS_WITH(ad::cholesky_solve(rng.normal({2}), rng.normal({3, 3})),
                        Catch::Contains("cholesky_solve: expected B [3, m] or [3] for L [3, 3], got B [2]"));
    REQUIRE_THROWS_WITH(ad::cholesky_solve(rng.normal({2}), rng.normal({2, 3})),
                        Catch::Contains("cholesky_solve: expected a square matrix, got [2, 3]"));
    REQUIRE_THROWS_WITH(
        ad::cholesky_solve(rng.normal({2}), ad::tensor({2, 2}, {1, 0, 1, 0})),
        Catch::Contains("cholesky_solve: expected a Cholesky factor with a non-zero diagonal, got L[1, 1] = 0"));
}

TEST_CASE("triangular_solve: values, gradients, second gradients, errors", "[autodiff][linalg][triangular_solve]") {
    ad::Rng rng(17);
    using ad::Transpose;
    using ad::Triangle;
    Tensor T = ad::tensor({2, 2}, {2, 0, 1, 4});  // lower
    // [[2, 0], [1, 4]] x = [2, 9]  -> x = [1, 2];  [[2, 1], [0, 4]] x = [4, 8] -> x = [1, 2]
    CHECK_THAT(ad::triangular_solve(ad::tensor({2, 9}), T, Triangle::lower), AllClose(ad::tensor({1, 2})));
    CHECK_THAT(ad::triangular_solve(ad::tensor({4, 8}), T, Triangle::lower, Transpose::yes),
               AllClose(ad::tensor({1, 2})));
    Tensor U = ad::tensor({2, 2}, {2, 1, 7, 4});  // upper triangle [[2, 1], [0, 4]]; the 7 is never read
    CHECK_THAT(ad::triangular_solve(ad::tensor({2, 1}, {4, 8}), U, Triangle::upper),
               AllClose(ad::tensor({2, 1}, {1, 2})));
    CHECK_THAT(ad::triangular_solve(ad::tensor({2, 9}), U, Triangle::upper, Transpose::yes),
               AllClose(ad::tensor({1, 2})));

    // A full random T: the unread triangle must get a zero gradient (gradcheck sees it has none).
    Tensor Tf = ad::add(rng.normal({3, 3}, 0.0, 0.3), ad::mul(eye(3), 2.0)).set_requires_grad(true);
    Tensor B = rng.normal({3, 2}).set_requires_grad(true);
    Tensor b = rng.normal({3}).set_requires_grad(true);
    for (Triangle tri : {Triangle::lower, Triangle::upper})
        for (Transpose trans : {Transpose::no, Transpose::yes}) {
            auto f = [tri, trans](const ad::Inputs& in) { return ad::triangular_solve(in[0], in[1], tri, trans); };
            CHECK(ad::gradcheck(f, {B, Tf}));
            CHECK(ad::gradgradcheck(f, {B, Tf}));
            CHECK(ad::gradcheck(f, {b, Tf}));
        }

    REQUIRE_THROWS_WITH(ad::triangular_solve(rng.normal({3, 2}), rng.normal({2, 2}), Triangle::lower),
                        Catch::Contains("triangular_solve: expected B [2, m] or [2] for T [2, 2], got B [3, 2]"));
    REQUIRE_THROWS_WITH(
        ad::triangular_solve(rng.normal({2}), ad::tensor({2, 2}, {1, 0, 1, 0}), Triangle::lower),
        Catch::Contains("triangular_solve: expected a non-singular triangular matrix, got T[1, 1] = 0"));
}

TEST_CASE("inverse: values, gradients, second gradients, errors", "[autodiff][linalg][inverse]") {
    ad::Rng rng(18);
    // [[4, 7], [2, 6]]^{-1} = [[6, -7], [-2, 4]] / 10 (det = 10)
    CHECK_THAT(ad::inverse(ad::tensor({2, 2}, {4, 7, 2, 6})),
               AllClose(ad::tensor({2, 2}, {0.6, -0.7, -0.2, 0.4}), 1e-14, 1e-14));
    // Random plus 3 I: well conditioned, so central differences stay accurate.
    Tensor A = ad::add(rng.normal({3, 3}, 0.0, 0.5), ad::mul(eye(3), 3.0)).set_requires_grad(true);
    auto f = [](const ad::Inputs& in) { return ad::inverse(in[0]); };
    CHECK(ad::gradcheck(f, {A}));
    CHECK(ad::gradgradcheck(f, {A}));
    REQUIRE_THROWS_WITH(ad::inverse(rng.normal({3, 2})),
                        Catch::Contains("inverse: expected a square matrix, got [3, 2]"));
    REQUIRE_THROWS_WITH(ad::inverse(ad::tensor({2, 2}, {1, 2, 2, 4})),
                        Catch::Contains("inverse: expected a non-singular matrix") &&
                            Catch::Contains("LAPACK dgetrf info=2") && Catch::Contains("add a small ridge"));
}

TEST_CASE("logdet: values, gradients, second gradients, errors", "[autodiff][linalg][logdet]") {
    ad::Rng rng(19);
    // det [[3, 1], [2, 4]] = 12 - 2 = 10; det [[0, 2], [-1, 3]] = 0 + 2 = 2 (LU swaps the rows: one
    // sign flip, one negative pivot); det [[-1, 0], [0, -3]] = 3 (two negative pivots).
    CHECK(ad::logdet(ad::tensor({2, 2}, {3, 1, 2, 4})).item() == Approx(std::log(10.0)).epsilon(1e-14));
    CHECK(ad::logdet(ad::tensor({2, 2}, {0, 2, -1, 3})).item() == Approx(std::log(2.0)).epsilon(1e-14));
    CHECK(ad::logdet(ad::tensor({2, 2}, {-1, 0, 0, -3})).item() == Approx(std::log(3.0)).epsilon(1e-14));
    // Random plus 3 I: positive determinant, not symmetric (logdet needs neither symmetry nor SPD).
    Tensor A = ad::add(rng.normal({3, 3}, 0.0, 0.5), ad::mul(eye(3), 3.0)).set_requires_grad(true);
    auto f = [](const ad::Inputs& in) { return ad::logdet(in[0]); };
    CHECK(ad::gradcheck(f, {A}));
    CHECK(ad::gradgradcheck(f, {A}));
    REQUIRE_THROWS_WITH(ad::logdet(rng.normal({1, 2})),
                        Catch::Contains("logdet: expected a square matrix, got [1, 2]"));
    REQUIRE_THROWS_WITH(ad::logdet(ad::tensor({2, 2}, {0, 1, 1, 0})),  // det = -1
                        Catch::Contains("logdet: expected a matrix with positive determinant, got det < 0"));
    REQUIRE_THROWS_WITH(ad::logdet(ad::tensor({2, 2}, {1, 2, 2, 4})),
                        Catch::Contains("logdet: expected a matrix with positive determinant, got a singular one "
                                        "(LAPACK dgetrf info=2"));
}

TEST_CASE("eigh: values, gradients, second gradients, errors", "[autodiff][linalg][eigh]") {
    ad::Rng rng(20);
    // [[2, 1], [1, 2]]: eigenvalues 1 and 3, eigenvectors (1, -1) / sqrt 2 and (1, 1) / sqrt 2.
    Tensor A2 = ad::tensor({2, 2}, {2, 1, 1, 2});
    auto [w2, V2] = ad::eigh(A2);
    CHECK_THAT(w2, AllClose(ad::tensor({1, 3}), 1e-14, 1e-14));
    // Signs are LAPACK's choice: compare |V| and check A V = V diag(w), V^T V = I (1e-14: a few ulps).
    CHECK_THAT(ad::abs(V2), AllClose(ad::mul(Tensor::ones({2, 2}), std::sqrt(0.5)), 1e-14, 1e-14));
    CHECK_THAT(ad::matmul(A2, V2), AllClose(ad::mul(V2, ad::reshape(w2, {1, 2})), 1e-14, 1e-14));
    CHECK_THAT(ad::matmul_tn(V2, V2), AllClose(eye(2), 1e-14, 1e-14));

    // diag(1, 2, 4) plus a small symmetric perturbation: eigenvalue gaps ~1, far from degenerate.
    Tensor D = ad::diag(ad::tensor({1, 2, 4}));
    Tensor E = rng.normal({3, 3}, 0.0, 0.1).set_requires_grad(true);
    auto sym_input = [D](const Tensor& e) { return ad::add(D, ad::mul(ad::add(e, ad::transpose(e)), 0.5)); };
    auto values = [sym_input](const ad::Inputs& in) { return ad::eigh(sym_input(in[0])).first; };
    // V o V and V diag(exp w) V^T do not depend on the eigenvectors' signs.
    auto vectors = [sym_input](const ad::Inputs& in) {
        Tensor V = ad::eigh(sym_input(in[0])).second;
        return ad::mul(V, V);
    };
    auto expm = [sym_input](const ad::Inputs& in) {
        auto [w, V] = ad::eigh(sym_input(in[0]));
        return ad::matmul_nt(ad::mul(V, ad::reshape(ad::exp(w), {1, 3})), V);
    };
    for (const ad::Function& f : {ad::Function(values), ad::Function(vectors), ad::Function(expm)}) {
        CHECK(ad::gradcheck(f, {E}));
        CHECK(ad::gradgradcheck(f, {E}));
    }
    // The gradient w.r.t. A itself is symmetric, from the values and from the vectors.
    Tensor S = sym_input(E.detach()).set_requires_grad(true);
    auto [wS, VS] = ad::eigh(S);
    std::vector<Tensor> gS = ad::grad({wS, VS}, {S}, {rng.normal({3}), rng.normal({3, 3})});
    CHECK_THAT(gS[0], AllClose(ad::transpose(gS[0])));

    REQUIRE_THROWS_WITH(ad::eigh(rng.normal({2, 3})), Catch::Contains("eigh: expected a square matrix, got [2, 3]"));
    REQUIRE_THROWS_WITH(ad::eigh(ad::tensor({2, 2}, {1, 2, 0, 1})),
                        Catch::Contains("eigh: expected a symmetric matrix, got A[1, 0] = 0 and A[0, 1] = 2"));
    // The eigenvectors of a repeated eigenvalue are not unique: their gradient refuses.
    Tensor I = eye(2).set_requires_grad(true);
    Tensor V = ad::eigh(I).second;
    REQUIRE_THROWS_WITH(ad::grad(ad::sum(ad::mul(V, V)), {I}, ad::CreateGraph::no),
                        Catch::Contains("eigh: expected distinct eigenvalues for the eigenvectors' gradient"));
}
