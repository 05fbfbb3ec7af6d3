// Last-layer Laplace on small synthetic problems: closed-form Bayesian linear regression,
// gradchecks of the lml, mini-batch and online accumulation, save/load, link approximations, errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <limits>
#include <unistd.h>

#include "autodiff/gradcheck.hpp"
#include "autodiff/graph.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "tests/helpers.hpp"
#include "uq/last_layer_laplace.hpp"

using ad::Tensor;
using testing::AllClose;
using uq::HessianStructure;
using uq::LastLayerLaplace;

namespace {

const HessianStructure kStructures[] = {HessianStructure::full, HessianStructure::kron, HessianStructure::diag};

struct Problem {
    Tensor phi, W, b, y;  // phi [n, D], W [C, D], b [C], y targets
};

// n points, D features, C outputs; classification labels cycle through the classes.
Problem make_problem(uq::Likelihood lik, long n, long D, long C, uint64_t seed) {
    ad::Rng rng(seed);
    Problem p;
    p.phi = rng.normal({n, D});
    p.W = rng.normal({C, D}, 0.0, 0.5);
    p.b = rng.normal({C}, 0.0, 0.5);
    if (lik == uq::Likelihood::regression) {
        p.y = rng.normal({n, C});
    } else {
        p.y = Tensor::empty({n});
        for (long i = 0; i < n; ++i) p.y.data()[i] = double(i % C);
    }
    return p;
}

LastLayerLaplace make_laplace(const Problem& p, uq::Likelihood lik, HessianStructure s, double sigma = 1.0) {
    uq::LaplaceOptions o;
    o.likelihood = lik;
    o.structure = s;
    o.sigma_noise = sigma;
    return LastLayerLaplace(p.W, p.b, o);
}

std::string tmp_file(const std::string& name) {
    return (std::filesystem::temp_directory_path() / ("atomgrad_uq_" + std::to_string(::getpid()) + "_" + name)).string();
}

}  // namespace

TEST_CASE("laplace: regression at the exact MAP gives the Bayesian linear regression evidence", "[uq][laplace]") {
    // For f = W phi + b with a Gaussian likelihood, Laplace is exact: at theta_MAP =
    // (Phi~^T Phi~ + sigma^2 tau I)^-1 Phi~^T y the lml equals log N(y; 0, Phi~ Phi~^T / tau + sigma^2 I)
    // and Sigma = (Phi~^T Phi~ / sigma^2 + tau I)^-1 (Phi~ = [Phi, 1]).
    const long n = 20, D = 3;
    const double sigma = 0.4, tau = 2.5;
    ad::Rng rng(3);
    Tensor phi = rng.normal({n, D}), y = rng.normal({n, 1});
    Tensor Pt = ad::concat({phi, Tensor::ones({n, 1})}, 1);
    Tensor I = ad::diag(Tensor::ones({D + 1}));
    Tensor G = ad::add(ad::matmul_tn(Pt, Pt), ad::mul(I, sigma * sigma * tau));
    Tensor theta = ad::cholesky_solve(ad::matmul_tn(Pt, y), ad::cholesky(G));  // [D+1, 1]
    Tensor W = ad::reshape(ad::slice(theta, 0, 0, D), {1, D}), b = ad::reshape(ad::slice(theta, 0, D, D + 1), {1});
    Tensor K = ad::add(ad::mul(ad::matmul_nt(Pt, Pt), 1.0 / tau), ad::mul(ad::diag(Tensor::ones({n})), sigma * sigma));
    Tensor L = ad::cholesky(K);
    Tensor alpha = ad::cholesky_solve(y, L);
    const double evidence = -0.5 * ad::sum(ad::mul(y, alpha)).item() - ad::sum(ad::log(ad::diagonal(L))).item() -
                            0.5 * n * std::log(2 * M_PI);
    uq::LaplaceOptions o;
    o.sigma_noise = sigma;
    o.prior_precision = ad::tensor({tau});
    LastLayerLaplace la(W, b, o);
    la.fit(phi, y);
    // 1e-10: two Cholesky routes through matrices with condition ~1e2.
    CHECK(std::fabs(la.log_marginal_likelihood() - evidence) <= 1e-10 * std::fabs(evidence));
    Tensor Sigma = ad::inverse(ad::add(ad::mul(ad::matmul_tn(Pt, Pt), 1.0 / (sigma * sigma)), ad::mul(I, tau)));
    CHECK_THAT(la.posterior_covariance(), AllClose(Sigma, 1e-10, 1e-12));
}

TEST_CASE("laplace: lml gradients w.r.t. prior precision and sigma pass gradcheck", "[uq][laplace]") {
    for (auto lik : {uq::Likelihood::regression, uq::Likelihood::classification})
        for (auto s : kStructures) {
            INFO("likelihood " << uq::to_string(lik) << ", structure " << uq::to_string(s));
            Problem p = make_problem(lik, 15, 3, 2, 11);
            LastLayerLaplace la = make_laplace(p, lik, s);
            la.fit(p.phi, p.y);
            la.set_prior_mean(ad::tensor({0.1}));
            std::vector<Tensor> priors = {ad::tensor({0.8}), ad::tensor({0.7, 3.0})};
            if (s != HessianStructure::kron) priors.push_back(ad::Rng(5).uniform({la.n_params()}, 0.5, 2.0));
            for (const Tensor& tau0 : priors) {
                Tensor tau = tau0.clone().set_requires_grad(true);
                Tensor sigma = ad::tensor({lik == uq::Likelihood::regression ? 0.7 : 1.0})
                                   .set_requires_grad(lik == uq::Likelihood::regression);
                auto f = [&la](const ad::Inputs& x) { return la.log_marginal_likelihood(x[0], x[1]); };
                CHECK(ad::gradcheck(f, {tau, sigma}));
                if (s == HessianStructure::full && tau0.numel() == 1) CHECK(ad::gradgradcheck(f, {tau, sigma}));
            }
        }
}

TEST_CASE("laplace: mini-batches and online fits accumulate like one batch", "[uq][laplace]") {
    for (auto lik : {uq::Likelihood::regression, uq::Likelihood::classification})
        for (auto s : kStructures) {
            INFO("likelihood " << uq::to_string(lik) << ", structure " << uq::to_string(s));
            Problem p = make_problem(lik, 23, 4, 3, 2);
            LastLayerLaplace one = make_laplace(p, lik, s), batched = make_laplace(p, lik, s);
            one.fit(p.phi, p.y);
            uq::FitOptions fo;
            fo.batch_size = 5;  // 4 batches of 5 and one of 3: A scaled by M_b / N each
            batched.fit(p.phi, p.y, fo);
            // 1e-12: the same sums in a different order.
            CHECK_THAT(batched.H(), AllClose(one.H(), 1e-12, 1e-12));
            CHECK(std::fabs(batched.loss() - one.loss()) <= 1e-12 * one.loss());
            CHECK(std::fabs(batched.log_marginal_likelihood() - one.log_marginal_likelihood()) <=
                  1e-12 * std::fabs(one.log_marginal_likelihood()));
            CHECK(batched.n_data() == 23);
            // A second fit with reset replaces the posterior.
            batched.fit(p.phi, p.y, fo);
            CHECK(batched.n_data() == 23);
            // Online (reset = false) over two halves: Full and Diag sum exactly to the one-batch
            // GGN; Kron sums its factors, each half scaled by its own N (laplace-torch's rule).
            LastLayerLaplace online = make_laplace(p, lik, s);
            Tensor y1 = ad::slice(p.y, 0, 0, 10), y2 = ad::slice(p.y, 0, 10, 23);
            online.fit(ad::slice(p.phi, 0, 0, 10), y1);
            uq::FitOptions add;
            add.reset = false;
            online.fit(ad::slice(p.phi, 0, 10, 23), y2, add);
            CHECK(online.n_data() == 23);
            CHECK(std::fabs(online.loss() - one.loss()) <= 1e-12 * one.loss());
            if (s != HessianStructure::kron) {
                CHECK_THAT(online.H(), AllClose(one.H(), 1e-12, 1e-12));
            } else {
                Tensor p1 = ad::slice(p.phi, 0, 0, 10), p2 = ad::slice(p.phi, 0, 10, 23);
                Tensor A = ad::add(ad::mul(ad::matmul_tn(p1, p1), 0.1), ad::mul(ad::matmul_tn(p2, p2), 1.0 / 13));
                CHECK_THAT(online.curvature().kron[0][1], AllClose(A, 1e-12, 1e-12));
                CHECK_THAT(online.curvature().kron[0][0], AllClose(one.curvature().kron[0][0], 1e-12, 1e-12));
            }
        }
}

TEST_CASE("laplace: from_mlp and fit(mlp, x, y) equal fitting the features", "[uq][laplace]") {
    ad::Rng rng(4);
    nn::MLP mlp(2, {5, 4}, 3, nn::Activation::tanh, rng);
    Tensor x = rng.normal({9, 2}), y = ad::tensor({9}, {0, 1, 2, 0, 1, 2, 0, 1, 2});
    uq::LaplaceOptions o;
    o.likelihood = uq::Likelihood::classification;
    LastLayerLaplace a = LastLayerLaplace::from_mlp(mlp, o), b = LastLayerLaplace::from_mlp(mlp, o);
    a.fit(mlp, x, y);
    Tensor phi, f;
    {
        ad::NoGrad ng;
        phi = mlp.features(x);
        f = mlp.forward(x);
    }
    b.fit(phi, f, y);
    CHECK(a.log_marginal_likelihood() == b.log_marginal_likelihood());
    CHECK_THAT(a.f_mu(phi), AllClose(f, 1e-12, 1e-12));
}

TEST_CASE("laplace: save and load reproduce the posterior exactly", "[uq][laplace]") {
    for (auto lik : {uq::Likelihood::regression, uq::Likelihood::classification})
        for (auto s : kStructures) {
            INFO("likelihood " << uq::to_string(lik) << ", structure " << uq::to_string(s));
            Problem p = make_problem(lik, 12, 3, 2, 8);
            LastLayerLaplace la = make_laplace(p, lik, s, lik == uq::Likelihood::regression ? 0.3 : 1.0);
            la.fit(p.phi, p.y);
            la.set_prior_precision(ad::tensor({0.7, 3.0}));
            la.set_prior_mean(ad::tensor({0.05}));
            la.set_temperature(0.5);
            const std::string path = tmp_file("laplace_" + uq::to_string(lik) + uq::to_string(s) + ".safetensors");
            la.save(path);
            LastLayerLaplace back = LastLayerLaplace::load(path);
            std::filesystem::remove(path);
            CHECK(back.structure() == s);
            CHECK(back.likelihood() == lik);
            CHECK(back.n_data() == la.n_data());
            CHECK(back.loss() == la.loss());
            CHECK(back.sigma_noise() == la.sigma_noise());
            CHECK(back.temperature() == la.temperature());
            CHECK(back.log_marginal_likelihood() == la.log_marginal_likelihood());  // bit for bit
            CHECK_THAT(back.posterior_covariance(), AllClose(la.posterior_covariance(), 0.0, 0.0));
            CHECK_THAT(back.glm_predictive(p.phi).f_var, AllClose(la.glm_predictive(p.phi).f_var, 0.0, 0.0));
        }
}

TEST_CASE("laplace: link approximations on hand values", "[uq][laplace]") {
    Tensor mu = ad::tensor({2, 3}, {1.0, 0.0, -1.0, 0.5, 0.5, 0.5});
    Tensor zero = Tensor::zeros({2, 3, 3});
    Tensor soft = ad::softmax(mu, 1);
    // Without variance, probit and Monte Carlo are the softmax of the mean.
    CHECK_THAT(uq::link_probs(uq::LinkApprox::probit, mu, zero), AllClose(soft, 1e-14, 1e-15));
    CHECK_THAT(uq::mc_probs(mu, zero, 10, 1), AllClose(soft, 1e-14, 1e-15));
    // probit: kappa = 1 / sqrt(1 + pi/8 v) scales each logit.
    Tensor V = Tensor::zeros({2, 3, 3});
    for (long i = 0; i < 2; ++i)
        for (long c = 0; c < 3; ++c) V.data()[(i * 3 + c) * 3 + c] = 1.0 + c;
    Tensor scaled = Tensor::empty({2, 3});
    for (long i = 0; i < 2; ++i)
        for (long c = 0; c < 3; ++c) scaled.data()[i * 3 + c] = mu[i * 3 + c] / std::sqrt(1 + M_PI / 8 * (1.0 + c));
    CHECK_THAT(uq::link_probs(uq::LinkApprox::probit, mu, V), AllClose(ad::softmax(scaled, 1), 1e-14, 1e-15));
    // Bridge: probabilities; with equal means and variances, uniform.
    Tensor eq = uq::link_probs(uq::LinkApprox::bridge, ad::tensor({1, 3}, {0.5, 0.5, 0.5}), ad::slice(V, 0, 0, 1));
    Tensor Vs = Tensor::zeros({1, 3, 3});
    for (long c = 0; c < 3; ++c) Vs.data()[c * 3 + c] = 2.0;
    CHECK_THAT(uq::link_probs(uq::LinkApprox::bridge, ad::tensor({1, 3}, {0.5, 0.5, 0.5}), Vs),
               AllClose(Tensor::full({1, 3}, 1.0 / 3), 1e-14, 1e-15));
    CHECK(std::fabs(ad::sum(eq).item() - 1.0) < 1e-14);
    // Monte Carlo with variance: reproducible per seed; two seeds agree within 5 standard errors
    // of a difference (std of a softmax entry <= 1/2, so <= 5 sqrt(2 / 4 / 20000) = 0.025).
    Tensor mc = uq::mc_probs(mu, V, 20000, 7);
    CHECK_THAT(uq::mc_probs(mu, V, 20000, 7), AllClose(mc, 0.0, 0.0));
    CHECK_THAT(uq::mc_probs(mu, V, 20000, 8), AllClose(mc, 0.0, 0.025));
    CHECK(std::fabs(ad::sum(mc).item() - 2.0) < 1e-12);
    CHECK(uq::nll_classification(soft, {0, 2}) == Approx(-(std::log(soft[0]) + std::log(soft[5])) / 2).epsilon(1e-14));
}

TEST_CASE("laplace: errors name the problem", "[uq][laplace]") {
    Problem p = make_problem(uq::Likelihood::regression, 10, 3, 2, 1);
    LastLayerLaplace la = make_laplace(p, uq::Likelihood::regression, HessianStructure::full);
    // Before fit.
    REQUIRE_THROWS_WITH(la.log_marginal_likelihood(), Catch::Contains("before fit()"));
    REQUIRE_THROWS_WITH(la.glm_predictive(p.phi), Catch::Contains("before fit()"));
    REQUIRE_THROWS_WITH(la.posterior_covariance(), Catch::Contains("before fit()"));
    // Hyperparameters.
    const double nan = std::numeric_limits<double>::quiet_NaN();
    REQUIRE_THROWS_WITH(la.set_prior_precision(ad::tensor({-1.0})), Catch::Contains("prior precision >= 0"));
    REQUIRE_THROWS_WITH(la.set_prior_precision(ad::tensor({nan})), Catch::Contains("finite prior precision"));
    REQUIRE_THROWS_WITH(la.set_prior_precision(ad::tensor({1.0, 2.0, 3.0})), Catch::Contains("got [3]"));
    REQUIRE_THROWS_WITH(la.set_sigma_noise(0.0), Catch::Contains("sigma_noise > 0"));
    REQUIRE_THROWS_WITH(la.set_sigma_noise(nan), Catch::Contains("sigma_noise > 0"));
    REQUIRE_THROWS_WITH(la.set_temperature(-1.0), Catch::Contains("temperature > 0"));
    REQUIRE_THROWS_WITH(la.set_prior_mean(ad::tensor({1.0, 2.0})), Catch::Contains("prior mean of shape [1] or [8]"));
    // Shapes.
    REQUIRE_THROWS_WITH(la.fit(ad::slice(p.phi, 1, 0, 2), p.y), Catch::Contains("expected features phi [n, 3], got [10, 2]"));
    REQUIRE_THROWS_WITH(la.fit(p.phi, Tensor::zeros({10, 3}), p.y), Catch::Contains("expected outputs f [10, 2]"));
    REQUIRE_THROWS_WITH(la.fit(p.phi, Tensor::zeros({10})), Catch::Contains("regression targets [10, 2]"));
    REQUIRE_THROWS_WITH(LastLayerLaplace(p.W, Tensor::zeros({3}), {}), Catch::Contains("expected b [2]"));
    // Classification: sigma must be 1, labels integers in range.
    uq::LaplaceOptions co;
    co.likelihood = uq::Likelihood::classification;
    co.sigma_noise = 0.5;
    REQUIRE_THROWS_WITH(LastLayerLaplace(p.W, p.b, co), Catch::Contains("sigma_noise = 1 for classification"));
    co.sigma_noise = 1.0;
    LastLayerLaplace cl(p.W, p.b, co);
    REQUIRE_THROWS_WITH(cl.fit(p.phi, ad::tensor({10}, {0, 1, 2, 0, 1, 0, 1, 0, 1, 0})),
                        Catch::Contains("class labels in [0, 2), got 2"));
    cl.fit(p.phi, Problem(make_problem(uq::Likelihood::classification, 10, 3, 2, 1)).y);
    REQUIRE_THROWS_WITH(cl.log_marginal_likelihood(ad::tensor({1.0}), ad::tensor({0.5})),
                        Catch::Contains("sigma_noise = 1 for classification"));
    // Kron refuses a per-parameter prior, as laplace-torch.
    LastLayerLaplace kr = make_laplace(p, uq::Likelihood::regression, HessianStructure::kron);
    kr.fit(p.phi, p.y);
    REQUIRE_THROWS_WITH(kr.set_prior_precision(Tensor::ones({8})), Catch::Contains("scalar or per-layer"));
    REQUIRE_THROWS_WITH(kr.log_marginal_likelihood(Tensor::ones({8}), ad::tensor({1.0})),
                        Catch::Contains("scalar or per-layer"));
    // Zero prior precision with a singular curvature: 2 points cannot determine 8 parameters.
    for (auto s : kStructures) {
        INFO("structure " << uq::to_string(s));
        Problem q = p;
        q.phi = ad::slice(p.phi, 0, 0, 2);
        if (s == HessianStructure::diag) q.phi = ad::concat({ad::slice(q.phi, 1, 0, 2), Tensor::zeros({2, 1})}, 1);
        LastLayerLaplace z = make_laplace(q, uq::Likelihood::regression, s);
        z.fit(q.phi, ad::slice(p.y, 0, 0, 2));
        z.set_prior_precision(ad::tensor({0.0}));
        REQUIRE_THROWS_WITH(z.log_marginal_likelihood(), Catch::Contains("add prior precision"));
        REQUIRE_THROWS_WITH(z.posterior_covariance(), Catch::Contains("add prior precision"));
    }
}

TEST_CASE("laplace: the structured glm variance equals J Sigma J^T with the dense Jacobian (its oracle)",
          "[uq][laplace]") {
    for (auto lik : {uq::Likelihood::regression, uq::Likelihood::classification})
        for (auto s : kStructures)
            for (bool bias : {true, false}) {
                INFO("likelihood " << uq::to_string(lik) << ", structure " << uq::to_string(s) << ", bias " << bias);
                Problem p = make_problem(lik, 15, 4, 3, 21);
                uq::LaplaceOptions o;
                o.likelihood = lik;
                o.structure = s;
                LastLayerLaplace la(p.W, bias ? p.b : Tensor(), o);
                la.fit(p.phi, p.y);
                la.set_prior_precision(ad::tensor({0.8}));
                Tensor phi_test = ad::Rng(4).normal({7, 4});
                Tensor fast = la.glm_predictive(phi_test).f_var;
                Tensor oracle = la.functional_variance(la.jacobian(phi_test));
                // the same sums in another order: a few ulp of the largest entry
                CHECK_THAT(fast, testing::AllClose(oracle, 1e-11, 1e-12));
            }
}

namespace {

// Largest |estimate - truth| / standard error over the sample mean and sample covariance of
// theta [S, P] against N(mu, Sigma) (Sigma [P, P]): SE(mean_p) = sqrt(Sigma_pp / S),
// SE(cov_pq) = sqrt((Sigma_pp Sigma_qq + Sigma_pq^2) / (S - 1)) (Gaussian fourth moments).
double worst_z(const Tensor& theta, const Tensor& mu, const Tensor& Sigma) {
    const long S = theta.dim(0), P = theta.dim(1);
    Tensor m = ad::mean(theta, {0});
    Tensor d = ad::sub(theta, ad::reshape(m, {1, P}));
    Tensor cov = ad::mul(ad::matmul_tn(d, d), 1.0 / double(S - 1));
    double worst = 0;
    for (long p = 0; p < P; ++p) {
        worst = std::max(worst, std::fabs(m[p] - mu[p]) / std::sqrt(Sigma[p * P + p] / S));
        for (long q = 0; q < P; ++q) {
            const double se = std::sqrt((Sigma[p * P + p] * Sigma[q * P + q] + Sigma[p * P + q] * Sigma[p * P + q]) / (S - 1));
            worst = std::max(worst, std::fabs(cov[p * P + q] - Sigma[p * P + q]) / se);
        }
    }
    return worst;
}

// f_s = phi W_s^T + b_s for every row theta_s = [W_s.flatten(), b_s] of theta [S, P]: [S, n, C].
Tensor linear_model_outputs(const Tensor& theta, const Tensor& phi, long C) {
    const long S = theta.dim(0), n = phi.dim(0), D = phi.dim(1);
    Tensor f = Tensor::zeros({S, n, C});
    for (long s = 0; s < S; ++s)
        for (long i = 0; i < n; ++i)
            for (long c = 0; c < C; ++c) {
                double v = theta[s * theta.dim(1) + C * D + c];
                for (long d = 0; d < D; ++d) v += phi[i * D + d] * theta[s * theta.dim(1) + c * D + d];
                f.data()[(s * n + i) * C + c] = v;
            }
    return f;
}

}  // namespace

TEST_CASE("laplace: samples have the posterior mean and covariance (Full, Kron, Diag)", "[uq][laplace][sample]") {
    // 20000 draws of 8 parameters: every sample mean and covariance entry within 5 standard errors
    // (72 entries per case: a chance failure has probability ~4e-5; the seed is fixed anyway).
    const long S = 20000;
    for (auto lik : {uq::Likelihood::regression, uq::Likelihood::classification})
        for (auto s : kStructures) {
            INFO("likelihood " << uq::to_string(lik) << ", structure " << uq::to_string(s));
            Problem p = make_problem(lik, 15, 3, 2, 13);
            LastLayerLaplace la = make_laplace(p, lik, s, lik == uq::Likelihood::regression ? 0.5 : 1.0);
            la.fit(p.phi, p.y);
            la.set_prior_precision(ad::tensor({0.8, 3.0}));  // per tensor: W and b differ
            Tensor theta = la.sample(S, 1);
            REQUIRE(theta.shape() == ad::Shape({S, la.n_params()}));
            CHECK_THAT(la.sample(S, 1), AllClose(theta, 0.0, 0.0));  // same seed, same bits
            CHECK(la.sample(2, 2)[0] != theta[0]);
            Tensor Sigma = s == HessianStructure::diag ? ad::diag(la.posterior_covariance()) : la.posterior_covariance();
            CHECK(worst_z(theta, la.mean(), Sigma) < 5.0);
        }
    Problem p = make_problem(uq::Likelihood::regression, 10, 3, 2, 1);
    LastLayerLaplace la = make_laplace(p, uq::Likelihood::regression, HessianStructure::full);
    REQUIRE_THROWS_WITH(la.sample(10, 0), Catch::Contains("before fit()"));
    la.fit(p.phi, p.y);
    REQUIRE_THROWS_WITH(la.sample(0, 0), Catch::Contains("expected n_samples > 0, got 0"));
}

TEST_CASE("last-layer laplace: the nn predictive is the linear model with sampled weights; it converges to glm",
          "[uq][laplace][sample]") {
    const long S = 20000;
    for (auto lik : {uq::Likelihood::regression, uq::Likelihood::classification})
        for (auto s : kStructures) {
            INFO("likelihood " << uq::to_string(lik) << ", structure " << uq::to_string(s));
            Problem p = make_problem(lik, 20, 3, 2, 17);
            LastLayerLaplace la = make_laplace(p, lik, s, lik == uq::Likelihood::regression ? 0.5 : 1.0);
            la.fit(p.phi, p.y);
            la.set_prior_precision(ad::tensor({0.8}));
            Tensor phi = ad::Rng(5).normal({6, 3});
            uq::NnPredictive nn = la.nn_predictive(phi, S, 3);
            // exactly the sampled linear model (same draws as sample(S, 3)); 1e-12: summation order
            Tensor fs = linear_model_outputs(la.sample(S, 3), phi, 2);
            uq::GlmPredictive glm = la.glm_predictive(phi, uq::OutputCovariance::diagonal);
            if (lik == uq::Likelihood::regression) {
                Tensor m = ad::mean(fs, {0});
                Tensor v = ad::mul(ad::sum(ad::square(ad::sub(fs, m)), {0}), 1.0 / (S - 1));
                CHECK_THAT(nn.mean, AllClose(m, 1e-12, 1e-12));
                CHECK_THAT(nn.variance, AllClose(v, 1e-10, 1e-14));
                // f_s ~ N(f_mu, f_var) exactly: SE(mean) = sqrt(v / S), SE(var) = v sqrt(2 / (S - 1))
                for (long i = 0; i < 12; ++i) {
                    const double var = glm.f_var[i];
                    CHECK(std::fabs(nn.mean[i] - glm.f_mu[i]) <= 5 * std::sqrt(var / S));
                    CHECK(std::fabs(nn.variance[i] - var) <= 5 * var * std::sqrt(2.0 / (S - 1)));
                }
            } else {
                CHECK_THAT(nn.mean, AllClose(ad::mean(ad::softmax(fs, 2), {0}), 1e-12, 1e-12));
                CHECK_FALSE(nn.variance.defined());
                // both estimate E softmax(f), f ~ N(f_mu, f_var): 5 standard errors of a difference
                // (std of a softmax entry <= 1/2: 5 sqrt(2 / 4 / 20000) = 0.025)
                Tensor mc = uq::mc_probs(glm.f_mu, la.glm_predictive(phi).f_var, S, 9);
                CHECK_THAT(nn.mean, AllClose(mc, 0.0, 0.025));
            }
        }
    Problem p = make_problem(uq::Likelihood::regression, 10, 3, 2, 1);
    LastLayerLaplace la = make_laplace(p, uq::Likelihood::regression, HessianStructure::full);
    la.fit(p.phi, p.y);
    REQUIRE_THROWS_WITH(la.nn_predictive(p.phi, 1, 0), Catch::Contains("at least 2 samples"));
    REQUIRE_THROWS_WITH(la.nn_predictive(ad::slice(p.phi, 1, 0, 2), 10, 0), Catch::Contains("expected features phi [n, 3]"));
}

TEST_CASE("last-layer laplace: feature_reduction pick_first / pick_last / average of phi [n, T, D]",
          "[uq][laplace][feature_reduction]") {
    using uq::FeatureReduction;
    // phi [2, 3, 2] = 1..12: token t of point i is [6 i + 2 t + 1, 6 i + 2 t + 2]
    Tensor phi3 = ad::tensor({2, 3, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
    const std::pair<FeatureReduction, Tensor> hand[] = {
        {FeatureReduction::pick_first, ad::tensor({2, 2}, {1, 2, 7, 8})},
        {FeatureReduction::pick_last, ad::tensor({2, 2}, {5, 6, 11, 12})},
        {FeatureReduction::average, ad::tensor({2, 2}, {3, 4, 9, 10})},
    };
    Tensor W = ad::tensor({2, 2}, {1, 0, 0, 1}), b = ad::tensor({2}, {0.5, -0.5});
    for (const auto& [r, phi2] : hand) {
        INFO("feature_reduction " << uq::to_string(r));
        uq::LaplaceOptions o;
        o.feature_reduction = r;
        // f = I phi + b shows the reduced features; [n, D] passes through unchanged
        CHECK_THAT(LastLayerLaplace(W, b, o).f_mu(phi3), AllClose(ad::add(phi2, ad::tensor({1, 2}, {0.5, -0.5})), 0, 0));
        CHECK_THAT(LastLayerLaplace(W, b, o).f_mu(phi2), AllClose(ad::add(phi2, ad::tensor({1, 2}, {0.5, -0.5})), 0, 0));
        CHECK(uq::parse_feature_reduction(uq::to_string(r)) == r);
    }
    // Fit and every predictive on [n, T, D] equal the plain posterior on the hand-reduced [n, D].
    ad::Rng rng(23);
    const long n = 14, T = 4, D = 3;
    Tensor big = rng.normal({n, T, D});
    for (auto lik : {uq::Likelihood::regression, uq::Likelihood::classification})
        for (auto s : kStructures)
            for (const auto& [r, unused] : hand) {
                (void)unused;
                INFO("likelihood " << uq::to_string(lik) << ", structure " << uq::to_string(s) << ", "
                                   << uq::to_string(r));
                Tensor red = Tensor::zeros({n, D});
                for (long i = 0; i < n; ++i)
                    for (long d = 0; d < D; ++d) {
                        double v = 0;
                        if (r == FeatureReduction::pick_first) v = big[(i * T + 0) * D + d];
                        if (r == FeatureReduction::pick_last) v = big[(i * T + T - 1) * D + d];
                        if (r == FeatureReduction::average)
                            for (long t = 0; t < T; ++t) v += big[(i * T + t) * D + d] / T;
                        red.data()[i * D + d] = v;
                    }
                Problem p = make_problem(lik, n, D, 2, 29);
                uq::LaplaceOptions o;
                o.likelihood = lik;
                o.structure = s;
                LastLayerLaplace plain(p.W, p.b, o);
                o.feature_reduction = r;
                LastLayerLaplace reduced(p.W, p.b, o);
                plain.fit(red, p.y);
                reduced.fit(big, p.y);
                // 1e-12: the average is summed in another order than by hand
                CHECK_THAT(reduced.H(), AllClose(plain.H(), 1e-12, 1e-12));
                CHECK(reduced.log_marginal_likelihood() == Approx(plain.log_marginal_likelihood()).epsilon(1e-12));
                Tensor test3 = ad::slice(big, 0, 0, 5), test2 = ad::slice(red, 0, 0, 5);
                CHECK_THAT(reduced.glm_predictive(test3).f_var, AllClose(plain.glm_predictive(test2).f_var, 1e-12, 1e-12));
                CHECK_THAT(reduced.jacobian(test3), AllClose(plain.jacobian(test2), 1e-12, 1e-12));
                CHECK_THAT(reduced.nn_predictive(test3, 50, 4).mean, AllClose(plain.nn_predictive(test2, 50, 4).mean, 1e-12, 1e-12));
                if (lik == uq::Likelihood::classification)
                    CHECK_THAT(reduced.predict_probs(test3, uq::LinkApprox::probit),
                               AllClose(plain.predict_probs(test2, uq::LinkApprox::probit), 1e-12, 1e-12));
                // the reduction is part of the saved posterior
                LastLayerLaplace back = LastLayerLaplace::from_checkpoint(reduced.to_checkpoint());
                CHECK(back.feature_reduction() == r);
                CHECK_THAT(back.f_mu(test3), AllClose(reduced.f_mu(test3), 0, 0));
            }
    // errors: an extra dimension without a reduction; a wrong feature size
    uq::LaplaceOptions none;
    REQUIRE_THROWS_WITH(LastLayerLaplace(W, b, none).f_mu(phi3),
                        Catch::Contains("expected features phi [n, 2], got [2, 3, 2]; set LaplaceOptions::feature_reduction"));
    uq::LaplaceOptions avg;
    avg.feature_reduction = FeatureReduction::average;
    REQUIRE_THROWS_WITH(LastLayerLaplace(W, b, avg).f_mu(Tensor::zeros({2, 3, 4})),
                        Catch::Contains("expected features phi [n, T, 2] with T > 0, got [2, 3, 4]"));
    REQUIRE_THROWS_WITH(LastLayerLaplace(W, b, avg).f_mu(Tensor::zeros({2, 4})),
                        Catch::Contains("expected features phi [n, 2] or [n, T, 2], got [2, 4]"));
    REQUIRE_THROWS_WITH(uq::parse_feature_reduction("mean"), Catch::Contains("got 'mean'"));
}
