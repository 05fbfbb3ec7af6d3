// uq/llpr: the covariance accumulator, LLPR against closed-form Bayesian linear regression and
// last-layer Laplace, the automatic regulariser on rank-deficient, ill-conditioned and rescaled C
// (against metatrain's Cholesky search), the calibration identities, CRPS, ensembles, per-atom
// variances, persistence and the one-line errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "tests/helpers.hpp"
#include "uq/calibration.hpp"
#include "uq/last_layer_laplace.hpp"
#include "uq/llpr.hpp"

using ad::Tensor;
using Catch::Matchers::Contains;
using testing::AllClose;
using uq::Llpr;
using uq::LlprCalibration;
using uq::LlprCovariance;

namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

// Q [d, d] orthogonal: the eigenvectors of a random symmetric matrix.
Tensor random_orthogonal(long d, ad::Rng& rng) {
    Tensor A = rng.normal({d, d});
    return ad::eigh(ad::mul(ad::add(A, ad::transpose(A)), 0.5)).second;
}

// Q diag(lambda) Q^T, exactly symmetric.
Tensor from_spectrum(const Tensor& Q, const std::vector<double>& lambda) {
    const long d = Q.dim(0);
    Tensor C = ad::matmul_nt(ad::mul(Q, ad::tensor({1, d}, lambda)), Q);
    return ad::mul(ad::add(C, ad::transpose(C)), 0.5);
}

// f [n, d] -> the quadratic forms f_i A f_i^T [n].
Tensor quad(const Tensor& f, const Tensor& A) { return ad::sum(ad::mul(ad::matmul(f, A), f), {1}); }

double max_rel(const Tensor& a, const Tensor& b) {
    double m = 0.0;
    for (long i = 0; i < a.numel(); ++i) m = std::max(m, std::fabs(a[i] - b[i]) / std::fabs(b[i]));
    return m;
}

}  // namespace

TEST_CASE("llpr covariance: C = sum (f/N)^T (f/N), independent of the batches", "[uq][llpr]") {
    // Hand values: rows [2, 4] / 2 and [3, 0] / 3 give g = [1, 2] and [1, 0].
    LlprCovariance hand(2);
    hand.add(ad::tensor({2, 2}, {2, 4, 3, 0}), {2, 3});
    CHECK_THAT(hand.matrix(), AllClose(ad::tensor({2, 2}, {2, 2, 2, 4}), 0, 0));
    CHECK(hand.n_rows() == 2);

    ad::Rng rng(3);
    const long n = 37, d = 5;
    Tensor F = rng.normal({n, d});
    std::vector<long> atoms(n);
    for (long s = 0; s < n; ++s) atoms[s] = 1 + static_cast<long>(rng.below(20));
    LlprCovariance all(d);
    all.add(F, atoms);
    for (long batch : {1L, 4L, 10L}) {
        LlprCovariance parts(d);
        for (long s = 0; s < n; s += batch) {
            const long e = std::min(n, s + batch);
            parts.add(ad::slice(F, 0, s, e), std::vector<long>(atoms.begin() + s, atoms.begin() + e));
        }
        CHECK(parts.n_rows() == n);
        // Only the summation order differs.
        CHECK_THAT(parts.matrix(), AllClose(all.matrix(), 1e-13, 1e-14));
    }
    // Unnormalised rows are N = 1.
    LlprCovariance plain(d), ones(d);
    plain.add(F);
    ones.add(F, std::vector<long>(n, 1));
    CHECK_THAT(plain.matrix(), AllClose(ones.matrix(), 0, 0));
}

TEST_CASE("llpr: equals closed-form Bayesian linear regression and last-layer Laplace", "[uq][llpr]") {
    // y = X w + noise, noise ~ N(0, sn^2), prior w ~ N(0, sp^2 I): the posterior covariance is
    // Sigma = sn^2 (X^T X + (sn/sp)^2 I)^{-1}, so LLPR with r = varsigma^2 = (sn/sp)^2 and alpha = sn
    // must give f Sigma f^T. Computed independently: X^T X by matmul and an LU inverse.
    ad::Rng rng(11);
    const long n = 40, d = 6;
    const double sn = 0.3, sp = 2.0, r = (sn / sp) * (sn / sp);
    Tensor X = rng.normal({n, d});
    Tensor Xt = rng.normal({7, d});
    Tensor A = ad::add(ad::matmul_tn(X, X), ad::mul(ad::diag(Tensor::ones({d})), r));
    Tensor Sigma = ad::mul(ad::inverse(A), sn * sn);
    Tensor blr_var = quad(Xt, Sigma);

    // Per-structure rows f_s = N_s x_s with N_s atoms normalise back to g_s = x_s.
    std::vector<long> atoms(n);
    for (long s = 0; s < n; ++s) atoms[s] = 1 + s % 5;
    Tensor Nx = Tensor::empty({n, 1});
    for (long s = 0; s < n; ++s) Nx.data()[s] = static_cast<double>(atoms[s]);
    LlprCovariance cov(d);
    cov.add(ad::mul(X, Nx), atoms);
    Llpr llpr = Llpr::fit(cov, r);
    CHECK_FALSE(llpr.regularizer().automatic);
    llpr.set_alpha(sn);
    Tensor s = llpr.sigma(Xt);
    CHECK_THAT(ad::square(s), AllClose(blr_var, 1e-11, 0));
    CHECK_THAT(ad::mul(llpr.inverse(), sn * sn), AllClose(Sigma, 1e-11, 1e-14));

    // Last-layer Laplace with the same posterior: regression, no bias, sigma_noise = alpha,
    // prior precision tau = r / alpha^2 (P_post = X^T X / alpha^2 + tau I = (X^T X + r I) / alpha^2).
    uq::LaplaceOptions o;
    o.sigma_noise = sn;
    o.prior_precision = ad::tensor({r / (sn * sn)});
    uq::LastLayerLaplace la(rng.normal({1, d}), Tensor{}, o);
    la.fit(X, rng.normal({n, 1}));
    Tensor f_var = la.glm_predictive(Xt, uq::OutputCovariance::diagonal).f_var;  // [n, 1]
    CHECK_THAT(ad::reshape(f_var, {-1}), AllClose(ad::square(s), 1e-10, 0));
}

TEST_CASE("llpr: automatic regulariser on a rank-deficient C", "[uq][llpr]") {
    // C = V (A^T A) V^T with V [d, k] orthonormal columns: rank k < d. For features in the span,
    // f = b V^T, the r -> 0 limit is f C^+ f^T = b (A^T A)^{-1} b^T (computed from the small
    // well-conditioned k x k matrix); out of the span the variance is |f|^2 / r.
    ad::Rng rng(5);
    const long n = 30, d = 12, k = 5;
    Tensor V = ad::slice(random_orthogonal(d, rng), 1, 0, k);  // [d, k]
    Tensor Acoef = rng.normal({n, k});
    LlprCovariance cov(d);
    cov.add(ad::matmul_nt(Acoef, V));  // rows a_s V^T
    Llpr llpr = Llpr::fit(cov);
    const auto& reg = llpr.regularizer();
    CHECK(reg.automatic);
    CHECK(reg.value == Approx(d * kEps * reg.lambda_max).epsilon(1e-15));
    CHECK(reg.n_unresolved == d - k);
    CHECK(reg.describe(d) == "regularizer 1.34e-13 (automatic: d eps lambda_max = 12 * 2.22e-16 * 50.2); "
                             "7 of 12 eigenvalues of C below it");

    Tensor b = rng.normal({4, k});
    Tensor in_span = ad::matmul_nt(b, V);
    Tensor exact = quad(b, ad::inverse(ad::matmul_tn(Acoef, Acoef)));
    // Relative error r / lambda_min(resolved) ~ 1e-14, plus rounding of the rank-k structure.
    CHECK(max_rel(llpr.variance(in_span), exact) < 1e-9);

    // A direction orthogonal to the span: variance between |u|^2 / (r + rounding) and |u|^2 / r.
    Tensor P = ad::sub(ad::diag(Tensor::ones({d})), ad::matmul_nt(V, V));
    Tensor u = ad::matmul(rng.normal({1, d}), P);
    const double uu = ad::sum(ad::square(u)).item();
    const double vu = llpr.variance(u)[0];
    CHECK(vu <= uu / reg.value * (1 + 1e-12));
    CHECK(vu >= 0.5 * uu / reg.value);

    // metatrain's search (1e-20 * 10^k until a Cholesky succeeds) stops at r of the order of the
    // rounding-level eigenvalues; its explicit inverse of C + r I (cond ~ 5e15) then gets the in-span
    // variances wrong (measured here: r = 1e-14, 13 % error; ours 1e-14).
    auto r_search = uq::cholesky_search_regularizer(cov.matrix());
    REQUIRE(r_search);
    Tensor via_inverse = quad(in_span, ad::inverse(ad::add(cov.matrix(), ad::mul(ad::diag(Tensor::ones({d})), *r_search))));
    CHECK(max_rel(via_inverse, exact) > 1e-6);

    // Rescaling C (other feature units, bigger systems) rescales r and the variances exactly (powers
    // of two, so without rounding); the absolute 1e-20 start of the search does not: at 2^-80 C
    // (lambda_max ~ 4e-23) it picks r = 1e-20, far above the whole spectrum, so the variances lose
    // their structure (only |f|^2 / r is left, which no alpha can undo); at 2^120 C the rounding
    // eigenvalues (~1e22) exceed its last step 1e16 and it fails.
    for (double scale : {std::ldexp(1.0, -80), std::ldexp(1.0, 120)}) {
        Tensor Cs = ad::mul(cov.matrix(), scale);
        Llpr scaled = Llpr::fit(Cs);
        CHECK_THAT(ad::mul(scaled.variance(in_span), scale), AllClose(llpr.variance(in_span), 0, 0));
        CHECK(scaled.regularizer().value == reg.value * scale);
    }
    Tensor Csmall = ad::mul(cov.matrix(), std::ldexp(1.0, -80));
    auto r_small = uq::cholesky_search_regularizer(Csmall);
    REQUIRE(r_small);
    CHECK(*r_small == 1e-20);
    Tensor b20 = rng.normal({20, k});
    Tensor ratio = ad::mul(ad::div(Llpr::fit(Csmall, *r_small).variance(ad::matmul_nt(b20, V)),
                                   quad(b20, ad::inverse(ad::matmul_tn(Acoef, Acoef)))),
                           std::ldexp(1.0, -80));  // 1 where the variance is right
    const double hi = ad::max(ratio, 0).item(), lo = -ad::max(ad::neg(ratio), 0).item();
    CHECK(hi < 0.01);      // every variance over 100 times too small (300 to 700 times here)
    CHECK(hi / lo > 1.5);  // and unevenly so (2.3 here): no alpha can fix it
    CHECK_FALSE(uq::cholesky_search_regularizer(ad::mul(cov.matrix(), std::ldexp(1.0, 120))));
}

TEST_CASE("llpr: automatic regulariser on an ill-conditioned C (cond 1e14)", "[uq][llpr]") {
    // lambda = 1 .. 1e-6 (19 values) and one isolated 1e-14, like the SOAP-BPNN covariance of the
    // PyTorch peer (/work/shared/peers/torch_accuracy.md).
    ad::Rng rng(9);
    const long d = 20;
    Tensor Q = random_orthogonal(d, rng);
    std::vector<double> lambda(d);
    lambda[0] = 1e-14;
    for (long k = 1; k < d; ++k) lambda[k] = std::pow(10.0, -6.0 * (d - 1 - k) / (d - 2));
    Tensor C = from_spectrum(Q, lambda);
    Llpr llpr = Llpr::fit(C);
    const double r = llpr.regularizer().value;
    CHECK(r == Approx(d * kEps).epsilon(1e-12));

    // Features in the resolved subspace (no component on the 1e-14 direction).
    Tensor Qres = ad::slice(Q, 1, 1, d);
    Tensor b = rng.normal({5, d - 1});
    Tensor f = ad::matmul_nt(b, Qres);
    std::vector<double> inv_lambda(lambda.begin() + 1, lambda.end());
    for (auto& x : inv_lambda) x = 1.0 / x;
    Tensor exact = ad::sum(ad::mul(ad::square(b), ad::tensor({1, d - 1}, inv_lambda)), {1});
    // Bias r / lambda_k <= 4.4e-15 / 1e-6 on the resolved directions.
    CHECK(max_rel(llpr.variance(f), exact) < 1e-8);
    // The isolated direction keeps 1 / (1e-14 + r): its eigenvalue is only 2.3 r, within a factor of
    // a few of the rounding level, so it is partly regularised (6.9e13 instead of 1e14).
    Tensor q0 = ad::reshape(ad::slice(Q, 1, 0, 1), {1, d});
    CHECK(llpr.variance(q0)[0] == Approx(1.0 / (lambda[0] + r)).epsilon(0.02));
    // metatrain's search succeeds at once (r = 1e-20: no regularisation); its answer differs from ours
    // only along that direction (1e14), and equals ours on the resolved ones.
    auto r_search = uq::cholesky_search_regularizer(C);
    REQUIRE(r_search);
    CHECK(*r_search == 1e-20);
    CHECK(max_rel(Llpr::fit(C, *r_search).variance(f), exact) < 1e-8);
}

TEST_CASE("gaussian_crps: closed form equals the integral definition", "[uq][llpr]") {
    // CRPS(F, e) = int_{-inf}^{e} F(x)^2 dx + int_{e}^{inf} (1 - F(x))^2 dx, Simpson on +-12 sigma
    // around 0 and e (the tails beyond are < 1e-30).
    auto Phi = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
    for (auto [e, s] : {std::pair{0.3, 1.0}, std::pair{-2.0, 0.5}, std::pair{0.0, 1.7}, std::pair{5.0, 0.8}}) {
        const double lo = std::min(0.0, e) - 12 * s, hi = std::max(0.0, e) + 12 * s;
        auto left = [&](double x) { return std::pow(Phi(x / s), 2); };       // x < e
        auto right = [&](double x) { return std::pow(1 - Phi(x / s), 2); };  // x > e
        // Each piece is smooth, so Simpson with 100000 intervals is accurate to ~1e-15.
        auto simpson = [](auto g, double a, double b) {
            const long m = 100000;
            const double h = (b - a) / m;
            double acc = g(a) + g(b);
            for (long i = 1; i < m; ++i) acc += (i % 2 ? 4 : 2) * g(a + i * h);
            return acc * h / 3;
        };
        const double integral = simpson(left, lo, e) + simpson(right, e, hi);
        CHECK(uq::gaussian_crps(e, s) == Approx(integral).epsilon(1e-9));
    }
    // At e = 0: sigma (2 phi(0) - 1/sqrt(pi)) = sigma (sqrt(2/pi) - 1/sqrt(pi)).
    CHECK(uq::gaussian_crps(0.0, 2.0) == Approx(2.0 * (std::sqrt(2 / M_PI) - 1 / std::sqrt(M_PI))).epsilon(1e-15));
}

TEST_CASE("llpr calibration: the identities hold exactly; crps is the minimum", "[uq][llpr]") {
    ad::Rng rng(21);
    const long n = 50;
    Tensor s = ad::exp(rng.normal({n}, 0.0, 0.5));
    Tensor e = ad::mul(rng.normal({n}), ad::mul(s, 3.0));
    auto mean = [](const Tensor& t) { return ad::mean(t).item(); };

    const double a_sq = uq::llpr_calibration_factor(e, s, LlprCalibration::squared_residuals);
    CHECK(mean(ad::square(ad::div(e, ad::mul(s, a_sq)))) == Approx(1.0).epsilon(1e-14));
    const double a_abs = uq::llpr_calibration_factor(e, s, LlprCalibration::absolute_residuals);
    CHECK(mean(ad::abs(ad::div(e, ad::mul(s, a_abs)))) == Approx(std::sqrt(2 / M_PI)).epsilon(1e-14));

    // crps: the stationarity condition sum_i s_i (2 phi(z_i) - 1/sqrt(pi)) = 0, z_i = e_i / (alpha s_i)
    // (relative to sum_i s_i / sqrt(pi)), and the CRPS sum is larger on either side.
    const double a_crps = uq::llpr_calibration_factor(e, s, LlprCalibration::crps);
    double slope = 0, scale = 0;
    auto crps_sum = [&](double a) {
        double acc = 0;
        for (long i = 0; i < n; ++i) acc += uq::gaussian_crps(e[i], a * s[i]);
        return acc;
    };
    for (long i = 0; i < n; ++i) {
        const double z = e[i] / (a_crps * s[i]);
        slope += s[i] * (2 * std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI) - 1 / std::sqrt(M_PI));
        scale += s[i] / std::sqrt(M_PI);
    }
    CHECK(std::fabs(slope) < 1e-13 * scale);
    CHECK(crps_sum(a_crps) < crps_sum(a_crps * (1 + 1e-4)));
    CHECK(crps_sum(a_crps) < crps_sum(a_crps * (1 - 1e-4)));
    // Independent check: golden-section search on the CRPS sum itself.
    double lo = 0.1, hi = 30;
    const double phi = (std::sqrt(5.0) - 1) / 2;
    for (int it = 0; it < 200; ++it) {
        const double x1 = hi - phi * (hi - lo), x2 = lo + phi * (hi - lo);
        (crps_sum(x1) < crps_sum(x2) ? hi : lo) = (crps_sum(x1) < crps_sum(x2) ? x2 : x1);
    }
    CHECK(a_crps == Approx(0.5 * (lo + hi)).epsilon(1e-6));  // golden section on a flat minimum: ~sqrt(eps)

    // Llpr::calibrate on features sets alpha, and sigma() then satisfies the identity.
    LlprCovariance cov(4);
    cov.add(rng.normal({30, 4}));
    Llpr llpr = Llpr::fit(cov);
    Tensor fv = rng.normal({20, 4});
    Tensor ev = ad::mul(rng.normal({20}), 0.1);
    const double alpha = llpr.calibrate(fv, ev, LlprCalibration::squared_residuals);
    CHECK(llpr.alpha() == alpha);
    CHECK(mean(ad::square(ad::div(ev, llpr.sigma(fv)))) == Approx(1.0).epsilon(1e-14));
    CHECK(uq::parse_llpr_calibration("crps") == LlprCalibration::crps);
    CHECK(std::string(uq::to_string(LlprCalibration::absolute_residuals)) == "absolute_residuals");
}

TEST_CASE("llpr calibration: every method recovers a known scale", "[uq][llpr]") {
    // e_i ~ N(0, (2.5 s_i)^2): alpha -> 2.5. Standard errors at n = 20000: 0.0125 (squared),
    // 0.0134 (absolute), about the same for crps; tolerance 0.07 is above 5 of them.
    ad::Rng rng(4);
    const long n = 20000;
    Tensor s = ad::exp(rng.normal({n}, 0.0, 0.7));
    Tensor e = ad::mul(rng.normal({n}), ad::mul(s, 2.5));
    for (auto m : {LlprCalibration::squared_residuals, LlprCalibration::absolute_residuals, LlprCalibration::crps})
        CHECK(uq::llpr_calibration_factor(e, s, m) == Approx(2.5).margin(0.07));
}

TEST_CASE("llpr ensemble: mean weights = w, mean prediction = f w^T, std -> sigma", "[uq][llpr]") {
    ad::Rng rng(8);
    const long d = 6;
    LlprCovariance cov(d);
    cov.add(rng.normal({50, d}), std::vector<long>(50, 3));
    Llpr llpr = Llpr::fit(cov);
    llpr.set_alpha(0.7);
    Tensor w = rng.normal({d});
    Tensor f = rng.normal({5, d});
    Tensor sigma = llpr.sigma(f);

    Tensor W = llpr.sample_ensemble(w, 1000, rng);
    REQUIRE(W.shape() == ad::Shape{1000, d});
    CHECK_THAT(ad::mean(W, {0}), AllClose(w, 1e-14, 1e-15));
    Tensor P = uq::llpr_ensemble_predictions(f, W);  // [5, 1000]
    CHECK_THAT(ad::mean(P, {1}), AllClose(ad::reshape(ad::matmul(f, ad::reshape(w, {d, 1})), {-1}), 1e-13, 1e-14));

    // Sample std (1/(m-1)) of the members' predictions for row f_0, over independent ensembles: its
    // relative error has standard deviation 1/sqrt(2 (m - 1)) (2.24 % at m = 1000, 7.1 % at 100).
    auto rms_error = [&](long m, int n_ensembles) {
        double acc = 0;
        for (int t = 0; t < n_ensembles; ++t) {
            Tensor p = ad::reshape(uq::llpr_ensemble_predictions(ad::slice(f, 0, 0, 1), llpr.sample_ensemble(w, m, rng)), {-1});
            const double var = ad::sum(ad::square(ad::sub(p, ad::mean(p)))).item() / static_cast<double>(m - 1);
            acc += std::pow(std::sqrt(var) / sigma[0] - 1, 2);
        }
        return std::sqrt(acc / n_ensembles);
    };
    const double rms100 = rms_error(100, 200), rms1000 = rms_error(1000, 200);
    CHECK(rms1000 < 0.03);
    CHECK(rms1000 == Approx(1 / std::sqrt(2.0 * 999)).epsilon(0.25));
    CHECK(rms100 == Approx(1 / std::sqrt(2.0 * 99)).epsilon(0.25));
    // One large ensemble: every row within 3 % (standard error 0.5 % at 20000 members).
    Tensor Pbig = uq::llpr_ensemble_predictions(f, llpr.sample_ensemble(w, 20000, rng));
    Tensor mu = ad::mean(Pbig, {1}, true);
    Tensor std_big = ad::sqrt(ad::sum(ad::square(ad::sub(Pbig, mu)), {1}) / 19999.0);
    CHECK_THAT(std_big, AllClose(sigma, 0.03, 0));
}

TEST_CASE("llpr: per-atom (local prediction rigidity) and per-structure variances", "[uq][llpr]") {
    ad::Rng rng(12);
    const long d = 5;
    LlprCovariance cov(d);
    cov.add(rng.normal({40, d}), std::vector<long>(40, 4));
    Llpr llpr = Llpr::fit(cov);
    // Two structures of 3 and 2 atoms: per-atom rows phi_i and their per-structure sums.
    Tensor phi = rng.normal({5, d});
    Tensor structures = ad::index_add(Tensor::zeros({2, d}), 0, {0, 0, 0, 1, 1}, phi);
    Tensor A = llpr.inverse();
    CHECK_THAT(llpr.variance(phi), AllClose(quad(phi, A), 1e-12, 0));          // sigma_i^2 = 1 / LPR_i
    CHECK_THAT(llpr.variance(structures), AllClose(quad(structures, A), 1e-12, 0));
    // A single row [d] is one row.
    CHECK_THAT(llpr.variance(ad::reshape(ad::slice(phi, 0, 0, 1), {d})), AllClose(ad::slice(llpr.variance(phi), 0, 0, 1), 1e-15, 0));
    // (C + r I)^{-1} from L L^T matches an LU inverse.
    Tensor Creg = ad::add(cov.matrix(), ad::mul(ad::diag(Tensor::ones({d})), llpr.regularizer().value));
    CHECK_THAT(A, AllClose(ad::inverse(Creg), 1e-12, 1e-15));
}

TEST_CASE("llpr: checkpoint round trip is exact", "[uq][llpr]") {
    ad::Rng rng(2);
    LlprCovariance cov(4);
    cov.add(rng.normal({9, 4}), std::vector<long>(9, 2));
    Llpr llpr = Llpr::fit(cov);
    llpr.calibrate(rng.normal({6, 4}), rng.normal({6}), LlprCalibration::crps);
    testing::TempDir dir;
    llpr.save(dir.file("llpr.safetensors"));
    Llpr back = Llpr::load(dir.file("llpr.safetensors"));
    Tensor f = rng.normal({3, 4});
    CHECK_THAT(back.sigma(f), AllClose(llpr.sigma(f), 0, 0));
    CHECK(back.alpha() == llpr.alpha());
    CHECK(back.regularizer().value == llpr.regularizer().value);
    CHECK(back.regularizer().automatic);
    nn::Checkpoint other = llpr.to_checkpoint();
    other.metadata["format"] = "atomgrad.uq.laplace";
    REQUIRE_THROWS_WITH(Llpr::from_checkpoint(other), Contains("expected an LLPR checkpoint"));
}

TEST_CASE("llpr: bad input gives one-line errors", "[uq][llpr]") {
    auto one_line = [](auto&& fn, const std::string& what) {
        try {
            fn();
        } catch (const ad::Error& err) {
            const std::string msg = err.what();
            CHECK_THAT(msg, Contains(what));
            CHECK(msg.find('\n') == std::string::npos);
            return;
        }
        FAIL("no error for: " << what);
    };
    ad::Rng rng(1);
    LlprCovariance zero(3);
    zero.add(Tensor::zeros({4, 3}), {1, 2, 3, 4});
    one_line([&] { Llpr::fit(zero); }, "the training last-layer features are all zero");
    one_line([&] { Llpr::fit(LlprCovariance(3)); }, "no rows were added");
    one_line([&] { uq::llpr_calibration_factor(ad::tensor({0.1}), ad::tensor({1.0}), LlprCalibration::crps); },
             "expected at least 2 validation residuals, got 1");
    LlprCovariance cov(3);
    cov.add(rng.normal({10, 3}));
    Llpr llpr = Llpr::fit(cov);
    one_line([&] { llpr.calibrate(rng.normal({1, 3}), ad::tensor({0.2}), LlprCalibration::squared_residuals); },
             "one validation frame cannot calibrate alpha");
    one_line([&] { llpr.calibrate(Tensor::zeros({2, 3}), ad::tensor({0.2, 0.1}), LlprCalibration::absolute_residuals); },
             "expected uncalibrated sigmas > 0");
    one_line([&] { uq::llpr_calibration_factor(Tensor::zeros({3}), Tensor::ones({3}), LlprCalibration::crps); },
             "all zero");
    one_line([&] { uq::parse_llpr_calibration("mae"); }, "absolute_residuals | squared_residuals | crps, got 'mae'");
    one_line([&] { cov.add(rng.normal({2, 4})); }, "expected features [n, 3], got [2, 4]");
    one_line([&] { cov.add(rng.normal({2, 3}), {1}); }, "one atom count per row (2), got 1");
    one_line([&] { cov.add(rng.normal({2, 3}), {1, 0}); }, "expected n_atoms > 0, got 0");
    one_line([&] { cov.add(ad::tensor({1, 3}, {1, NAN, 0})); }, "NaN or Inf");
    one_line([&] { Llpr::fit(cov, -1.0); }, "expected regularizer >= 0, got -1");
    LlprCovariance rank1(3);
    rank1.add(ad::tensor({1, 3}, {1, 2, 3}));
    one_line([&] { Llpr::fit(rank1, 0.0); }, "singular with regularizer 0");
    CHECK_NOTHROW(Llpr::fit(rank1));  // automatic: always succeeds
    one_line([&] { llpr.sample_ensemble(Tensor::zeros({3}), 1, rng); }, "at least 2 members, got 1");
    one_line([&] { llpr.sample_ensemble(Tensor::zeros({4}), 8, rng); }, "expected weights w [3]");
    one_line([&] { llpr.set_alpha(0.0); }, "expected alpha > 0");
}

TEST_CASE("llpr laplace: (tau, sigma) maximise the evidence and agree with LastLayerLaplace", "[uq][llpr]") {
    // Rows G [n, d] with a wide spectrum, weights w near the least-squares fit, targets with noise.
    ad::Rng rng(23);
    const long n = 60, d = 8;
    Tensor G = ad::mul(rng.normal({n, d}), ad::tensor({1, d}, {3.0, 2.0, 1.0, 0.5, 0.2, 0.1, 0.05, 0.01}));
    Tensor w_true = rng.normal({d, 1});
    Tensor y = ad::add(ad::matmul(G, w_true), ad::mul(rng.normal({n, 1}), 0.1));
    Tensor w = ad::add(w_true, ad::mul(rng.normal({d, 1}), 0.02));  // "trained" weights, not the LS fit
    Tensor res = ad::sub(y, ad::matmul(G, w));
    double sse = 0, w2 = 0;
    for (long i = 0; i < n; ++i) sse += res[i] * res[i];
    for (long k = 0; k < d; ++k) w2 += w[k] * w[k];
    Tensor lambda = ad::eigh(ad::matmul_tn(G, G)).first;
    const uq::LinearEvidence ev = uq::maximize_linear_evidence(lambda, n, sse, w2);
    CHECK(ev.regularizer == Approx(ev.sigma * ev.sigma * ev.tau).epsilon(1e-12));

    // the maximum: perturbed values are lower; the gradient in (log tau, log sigma) vanishes;
    // MacKay's stationarity conditions hold
    auto lml = [&](double tau, double sigma) { return uq::linear_evidence_lml(lambda, n, sse, w2, tau, sigma); };
    CHECK(ev.lml == Approx(lml(ev.tau, ev.sigma)).epsilon(1e-14));
    for (double ft : {0.9, 1.0, 1.1})
        for (double fs : {0.97, 1.0, 1.03})
            if (ft != 1.0 || fs != 1.0) CHECK(lml(ev.tau * ft, ev.sigma * fs) < ev.lml);
    const double h = 1e-5;
    const double g_tau = (lml(ev.tau * std::exp(h), ev.sigma) - lml(ev.tau * std::exp(-h), ev.sigma)) / (2 * h);
    const double g_sig = (lml(ev.tau, ev.sigma * std::exp(h)) - lml(ev.tau, ev.sigma * std::exp(-h))) / (2 * h);
    CHECK(std::fabs(g_tau) < 1e-5);
    CHECK(std::fabs(g_sig) < 1e-5);
    CHECK(ev.tau * w2 == Approx(ev.gamma).epsilon(1e-7));
    CHECK(ev.sigma * ev.sigma == Approx(sse / (n - ev.gamma)).epsilon(1e-7));

    // uq::LastLayerLaplace on the same features, targets and weights (no bias, full GGN): the same
    // lml at (tau, sigma) and its own marglik optimisation of tau at that sigma finds the same tau
    uq::LaplaceOptions o;
    o.sigma_noise = ev.sigma;
    o.prior_precision = ad::tensor({1.0});
    uq::LastLayerLaplace la(ad::reshape(w, {1, d}), Tensor{}, o);
    la.fit(G, y);
    CHECK(la.log_marginal_likelihood(ad::tensor({ev.tau}), ad::tensor({ev.sigma})).item() ==
          Approx(ev.lml).epsilon(1e-10));
    uq::MarglikOptions mo;
    mo.n_steps = 1000;
    mo.lr = 0.05;
    const double tau_la = la.optimize_prior_precision_marglik(mo)[0];
    CHECK(tau_la == Approx(ev.tau).epsilon(1e-4));

    // the predictive equals the closed-form posterior (G^T G / sigma^2 + tau I)^-1 and Laplace's
    Llpr llpr = Llpr::fit(ad::matmul_tn(G, G), ev.regularizer);
    llpr.set_alpha(ev.sigma);
    Tensor Xt = rng.normal({5, d});
    Tensor P = ad::add(ad::mul(ad::matmul_tn(G, G), 1.0 / (ev.sigma * ev.sigma)), ad::mul(ad::diag(Tensor::ones({d})), ev.tau));
    CHECK_THAT(ad::square(llpr.sigma(Xt)), AllClose(quad(Xt, ad::inverse(P)), 1e-9, 0));
    la.set_prior_precision(ad::tensor({ev.tau}));
    Tensor f_var = la.glm_predictive(Xt, uq::OutputCovariance::diagonal).f_var;
    CHECK_THAT(ad::reshape(f_var, {-1}), AllClose(ad::square(llpr.sigma(Xt)), 1e-9, 0));

    // errors: a model that fits exactly, zero weights
    CHECK_THROWS_WITH(uq::maximize_linear_evidence(lambda, n, 0.0, w2), Contains("fits its training data exactly"));
    CHECK_THROWS_WITH(uq::maximize_linear_evidence(lambda, n, sse, 0.0), Contains("non-zero last-layer weights"));
}
