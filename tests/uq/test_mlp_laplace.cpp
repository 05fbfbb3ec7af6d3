// All-weights Laplace of an MLP: batched per-sample Jacobians vs the generic autodiff oracle
// (ad::per_sample_jacobian), GGN / Diag / KFLR factors vs naive sums, agreement with the
// last-layer Laplace for a single Linear, lml gradchecks, the laplace-torch Kron sigma-gradient
// switch, marglik_training options, errors.
#include <catch2/catch.hpp>

#include <cmath>

#include "autodiff/gradcheck.hpp"
#include "autodiff/graph.hpp"
#include "autodiff/jacobian.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "tests/helpers.hpp"
#include "uq/last_layer_laplace.hpp"
#include "uq/likelihood.hpp"
#include "uq/marglik_training.hpp"
#include "uq/mlp_laplace.hpp"

using ad::Tensor;
using testing::AllClose;
using uq::HessianStructure;
using uq::MlpLaplace;

namespace {

const HessianStructure kStructures[] = {HessianStructure::full, HessianStructure::kron, HessianStructure::diag};

Tensor oracle_jacobian(const nn::MLP& mlp, const Tensor& x) {
    return ad::per_sample_jacobian([&mlp](const Tensor& xi) { return mlp.forward(xi); }, mlp.parameters(), x);
}

Tensor labels_of(long n, long C) {
    Tensor y = Tensor::empty({n});
    for (long i = 0; i < n; ++i) y.data()[i] = double((i * 7) % C);
    return y;
}

MlpLaplace make(const nn::MLP& mlp, uq::Likelihood lik, HessianStructure s, double sigma = 1.0) {
    uq::LaplaceOptions o;
    o.likelihood = lik;
    o.structure = s;
    o.sigma_noise = sigma;
    return MlpLaplace(mlp, o);
}

// Naive GGN sum_n J_n^T Lambda_n J_n from the oracle Jacobian, one point at a time.
Tensor naive_ggn(const Tensor& J, const Tensor& Lambda) {
    const long n = J.dim(0), C = J.dim(1), P = J.dim(2);
    Tensor H = Tensor::zeros({P, P});
    for (long i = 0; i < n; ++i)
        for (long a = 0; a < C; ++a)
            for (long b = 0; b < C; ++b) {
                const double l = Lambda[(i * C + a) * C + b];
                for (long p = 0; p < P; ++p)
                    for (long q = 0; q < P; ++q) H.data()[p * P + q] += J[(i * C + a) * P + p] * l * J[(i * C + b) * P + q];
            }
    return H;
}

}  // namespace

TEST_CASE("mlp laplace: batched per-sample Jacobians equal the autodiff oracle", "[uq][mlp_laplace]") {
    ad::Rng rng(1);
    for (auto act : {nn::Activation::tanh, nn::Activation::silu, nn::Activation::gelu, nn::Activation::softplus})
        for (bool bias : {true, false}) {
            INFO("activation " << nn::to_string(act) << " bias " << bias);
            nn::MLP mlp(3, {5, 4}, 2, act, rng, bias);
            Tensor x = rng.normal({7, 3});
            Tensor J = uq::mlp_jacobian(uq::mlp_params(mlp), x);
            // 1e-13: the same products summed in a different order (weights ~ 1, J ~ 1).
            CHECK_THAT(J, AllClose(oracle_jacobian(mlp, x), 1e-13, 1e-13));
            Tensor f;
            {
                ad::NoGrad ng;
                f = mlp.forward(x);
            }
            CHECK_THAT(uq::mlp_forward(uq::mlp_params(mlp), x), AllClose(f, 0.0, 0.0));
            CHECK_THAT(uq::mlp_theta(uq::mlp_params(mlp)),
                       AllClose(uq::mlp_theta(uq::mlp_params_from_theta(uq::mlp_params(mlp), uq::mlp_theta(uq::mlp_params(mlp)))), 0.0, 0.0));
        }
    // One Linear (no hidden layer): J = [I_C (x) x^T, I_C], the last-layer Jacobian.
    nn::MLP lin(3, {}, 2, nn::Activation::tanh, rng);
    Tensor x = rng.normal({4, 3});
    uq::LastLayerLaplace ll = uq::LastLayerLaplace::from_mlp(lin, {});
    CHECK_THAT(uq::mlp_jacobian(uq::mlp_params(lin), x), AllClose(ll.jacobian(x), 0.0, 0.0));
}

TEST_CASE("mlp laplace: GGN, diagonal and KFLR factors equal naive sums", "[uq][mlp_laplace]") {
    ad::Rng rng(2);
    for (auto lik : {uq::Likelihood::regression, uq::Likelihood::classification}) {
        INFO("likelihood " << uq::to_string(lik));
        const long n = 9, C = 3;
        nn::MLP mlp(2, {4, 3}, C, nn::Activation::tanh, rng);
        Tensor x = rng.normal({n, 2});
        Tensor y = lik == uq::Likelihood::regression ? rng.normal({n, C}) : labels_of(n, C);
        Tensor J = oracle_jacobian(mlp, x);
        Tensor f;
        {
            ad::NoGrad ng;
            f = mlp.forward(x);
        }
        uq::OutputHessian oh = uq::output_hessian(lik, f, y);
        Tensor H = naive_ggn(J, oh.Lambda);
        MlpLaplace full = make(mlp, lik, HessianStructure::full), diag = make(mlp, lik, HessianStructure::diag),
                   kron = make(mlp, lik, HessianStructure::kron);
        full.fit(x, y);
        diag.fit(x, y);
        kron.fit(x, y);
        // 1e-12: the same float64 sums in a different order.
        CHECK_THAT(full.H(), AllClose(H, 1e-12, 1e-12));
        CHECK_THAT(diag.H(), AllClose(ad::diagonal(H), 1e-12, 1e-12));
        CHECK(std::fabs(full.loss() - oh.loss) <= 1e-12 * oh.loss);
        // KFLR per Linear l: B_l = sum_n G_n^T Lambda_n G_n with G_n = df_n/dz_l = the oracle's bias
        // columns of layer l; A_l = (1/n) sum_n a_n a_n^T with a_n the layer input (per-sample forward).
        long off = 0;
        Tensor a = x;
        for (size_t l = 0; l < mlp.layers().size(); ++l) {
            const nn::Linear& layer = *mlp.layers()[l];
            const long out = layer.n_out(), in = layer.n_in(), ob = off + out * in;
            Tensor B = Tensor::zeros({out, out}), A = Tensor::zeros({in, in});
            for (long i = 0; i < n; ++i) {
                for (long o1 = 0; o1 < out; ++o1)
                    for (long o2 = 0; o2 < out; ++o2)
                        for (long c1 = 0; c1 < C; ++c1)
                            for (long c2 = 0; c2 < C; ++c2)
                                B.data()[o1 * out + o2] += J[(i * C + c1) * J.dim(2) + ob + o1] *
                                                           oh.Lambda[(i * C + c1) * C + c2] *
                                                           J[(i * C + c2) * J.dim(2) + ob + o2];
                for (long k1 = 0; k1 < in; ++k1)
                    for (long k2 = 0; k2 < in; ++k2) A.data()[k1 * in + k2] += a[i * in + k1] * a[i * in + k2] / n;
            }
            const auto& F = kron.curvature().kron;
            CHECK_THAT(F[2 * l][0], AllClose(B, 1e-12, 1e-12));
            CHECK_THAT(F[2 * l][1], AllClose(A, 1e-12, 1e-12));
            CHECK_THAT(F[2 * l + 1][0], AllClose(B, 1e-12, 1e-12));
            {
                ad::NoGrad ng;
                a = nn::activate(mlp.activation(), layer.forward(a));
            }
            off = ob + out;
        }
        // Mini-batches give the one-batch curvature (Kron: A scaled by M_b / N per batch).
        for (auto s : kStructures) {
            MlpLaplace one = make(mlp, lik, s), batched = make(mlp, lik, s);
            one.fit(x, y);
            uq::FitOptions fo;
            fo.batch_size = 4;
            batched.fit(x, y, fo);
            CHECK_THAT(batched.H(), AllClose(one.H(), 1e-12, 1e-12));
        }
    }
}

TEST_CASE("mlp laplace: a single Linear equals the last-layer Laplace of its inputs", "[uq][mlp_laplace]") {
    ad::Rng rng(3);
    for (auto lik : {uq::Likelihood::regression, uq::Likelihood::classification})
        for (auto s : kStructures) {
            INFO("likelihood " << uq::to_string(lik) << " structure " << uq::to_string(s));
            nn::MLP lin(3, {}, 2, nn::Activation::tanh, rng);
            Tensor x = rng.normal({11, 3});
            Tensor y = lik == uq::Likelihood::regression ? rng.normal({11, 2}) : labels_of(11, 2);
            const double sigma = lik == uq::Likelihood::regression ? 0.5 : 1.0;
            MlpLaplace all = make(lin, lik, s, sigma);
            uq::LaplaceOptions o;
            o.likelihood = lik;
            o.structure = s;
            o.sigma_noise = sigma;
            uq::LastLayerLaplace ll = uq::LastLayerLaplace::from_mlp(lin, o);
            all.fit(x, y);
            ll.fit(x, y);
            for (const Tensor& tau : {ad::tensor({0.7}), ad::tensor({0.7, 3.0})}) {
                all.set_prior_precision(tau);
                ll.set_prior_precision(tau);
                CHECK(std::fabs(all.log_marginal_likelihood() - ll.log_marginal_likelihood()) <=
                      1e-11 * std::fabs(ll.log_marginal_likelihood()));
            }
            CHECK_THAT(all.glm_predictive(x).f_var, AllClose(ll.glm_predictive(x).f_var, 1e-10, 1e-12));
        }
}

TEST_CASE("mlp laplace: lml gradients pass gradcheck; kron sigma-gradient switch", "[uq][mlp_laplace]") {
    ad::Rng rng(4);
    for (auto lik : {uq::Likelihood::regression, uq::Likelihood::classification})
        for (auto s : kStructures) {
            INFO("likelihood " << uq::to_string(lik) << " structure " << uq::to_string(s));
            nn::MLP mlp(2, {3}, 2, nn::Activation::tanh, rng);
            Tensor x = rng.normal({10, 2});
            Tensor y = lik == uq::Likelihood::regression ? rng.normal({10, 2}) : labels_of(10, 2);
            MlpLaplace la = make(mlp, lik, s);
            la.fit(x, y);
            la.set_prior_mean(ad::tensor({0.05}));
            std::vector<Tensor> priors = {ad::tensor({0.8}), ad::tensor({0.7, 3.0, 1.5, 0.4})};
            if (s != HessianStructure::kron) priors.push_back(ad::Rng(5).uniform({la.n_params()}, 0.5, 2.0));
            for (const Tensor& tau0 : priors) {
                Tensor tau = tau0.clone().set_requires_grad(true);
                Tensor sigma = ad::tensor({lik == uq::Likelihood::regression ? 0.7 : 1.0})
                                   .set_requires_grad(lik == uq::Likelihood::regression);
                auto f = [&la](const ad::Inputs& in) { return la.log_marginal_likelihood(in[0], in[1]); };
                CHECK(ad::gradcheck(f, {tau, sigma}));
            }
            if (s != HessianStructure::kron || lik != uq::Likelihood::regression) continue;
            // laplace_torch mode: same value, same tau-gradient, and the sigma-gradient is that of
            // log_likelihood alone (h constant inside log det P_post).
            Tensor tau = ad::tensor({0.7, 3.0, 1.5, 0.4}).set_requires_grad(true);
            Tensor sigma = ad::tensor({0.6}).set_requires_grad(true);
            Tensor lml = la.log_marginal_likelihood(tau, sigma);
            auto g_true = ad::grad(lml, {tau, sigma}, ad::CreateGraph::no);
            la.set_kron_sigma_gradient(uq::KronSigmaGradient::laplace_torch);
            Tensor lml_t = la.log_marginal_likelihood(tau, sigma);
            auto g_t = ad::grad(lml_t, {tau, sigma}, ad::CreateGraph::no);
            CHECK(lml_t.item() == lml.item());
            CHECK_THAT(g_t[0], AllClose(g_true[0], 1e-14, 0.0));
            Tensor ll = la.lml_terms(tau, sigma).log_likelihood;
            CHECK(std::fabs(g_t[1].item() - ad::grad(ll, {sigma}, ad::CreateGraph::no)[0].item()) <= 1e-12 * std::fabs(g_t[1].item()));
            CHECK(std::fabs(g_t[1].item() - g_true[1].item()) > 1e-3 * std::fabs(g_true[1].item()));
        }
}

TEST_CASE("marglik_training: options (classification, mini-batches, sgd, cosine, burn-in, fixed sigma)",
          "[uq][marglik]") {
    ad::Rng rng(6);
    const long n = 24;
    Tensor x = rng.normal({n, 2});
    {
        nn::MLP mlp(2, {5}, 3, nn::Activation::tanh, rng);
        uq::MarglikTrainingOptions o;  // laplace-torch defaults: classification, kron, layerwise
        o.n_epochs = 6;
        o.lr = 1e-2;
        o.batch_size = 10;  // 3 batches (10, 10, 4)
        o.n_epochs_burnin = 2;
        o.marglik_frequency = 2;
        o.n_hypersteps = 3;
        o.scheduler = nn::ScheduleKind::cosine;
        std::vector<uq::MarglikProgress> calls;
        o.progress = [&calls](const uq::MarglikProgress& p) { calls.push_back(p); };
        uq::MarglikTrainingResult r = uq::marglik_training(mlp, x, labels_of(n, 3), o);
        CHECK(r.losses.size() == 6);
        CHECK(r.margliks.size() == 9);  // epochs 2, 4, 6
        REQUIRE(calls.size() == 6);
        CHECK(!calls[0].hyper_step);
        CHECK(calls[1].hyper_step);
        CHECK(calls[5].neg_log_marglik == r.margliks.back());
        CHECK(r.best_epoch % 2 == 0);
        CHECK(r.laplace.prior_precision().numel() == 4);
        CHECK(r.laplace.sigma_noise() == 1.0);
        CHECK(std::isfinite(r.laplace.log_marginal_likelihood()));
        // The MLP holds the returned weights.
        for (const auto& kv : mlp.state_dict()) {
            for (const auto& w : r.weights)
                if (w.first == kv.first) CHECK_THAT(kv.second.detach(), AllClose(w.second, 0.0, 0.0));
        }
    }
    {
        nn::MLP mlp(2, {4}, 1, nn::Activation::tanh, rng);
        Tensor y = rng.normal({n, 1});
        uq::MarglikTrainingOptions o;
        o.likelihood = uq::Likelihood::regression;
        o.hessian_structure = HessianStructure::diag;
        o.prior_structure = uq::PriorStructure::diagonal;
        o.optimizer = uq::ModelOptimizer::sgd;
        o.momentum = 0.9;
        o.lr = 1e-2;
        o.n_epochs = 4;
        o.n_hypersteps = 2;
        o.fix_sigma_noise = true;
        o.sigma_noise_init = 0.4;
        uq::MarglikTrainingResult r = uq::marglik_training(mlp, x, y, o);
        CHECK(r.margliks.size() == 8);
        CHECK(r.laplace.sigma_noise() == Approx(0.4).epsilon(1e-15));
        CHECK(r.laplace.prior_precision().numel() == r.laplace.n_params());
    }
    nn::MLP mlp(2, {4}, 1, nn::Activation::tanh, rng);
    uq::MarglikTrainingOptions o;
    o.likelihood = uq::Likelihood::regression;
    o.prior_structure = uq::PriorStructure::diagonal;
    REQUIRE_THROWS_WITH(uq::marglik_training(mlp, x, rng.normal({n, 1}), o),
                        Catch::Contains("prior_structure scalar or layerwise for hessian_structure kron"));
    o.prior_structure = uq::PriorStructure::scalar;
    REQUIRE_THROWS_WITH(uq::marglik_training(mlp, x, rng.normal({n, 2}), o),
                        Catch::Contains("regression targets [24, 1], got [24, 2]"));
    REQUIRE_THROWS_WITH(uq::marglik_training(mlp, rng.normal({n, 3}), rng.normal({n, 1}), o),
                        Catch::Contains("expected inputs x [N, 2]"));
    o.n_hypersteps = 0;
    REQUIRE_THROWS_WITH(uq::marglik_training(mlp, x, rng.normal({n, 1}), o), Catch::Contains("n_hypersteps >= 1"));
}

TEST_CASE("mlp laplace: errors name the problem", "[uq][mlp_laplace]") {
    ad::Rng rng(7);
    nn::MLP mlp(2, {3}, 2, nn::Activation::tanh, rng);
    MlpLaplace la = make(mlp, uq::Likelihood::classification, HessianStructure::full);
    REQUIRE_THROWS_WITH(la.fit(rng.normal({5, 3}), labels_of(5, 2)), Catch::Contains("expected inputs x [n, 2]"));
    REQUIRE_THROWS_WITH(la.fit(rng.normal({5, 2}), ad::tensor({5}, {0, 1, 2, 0, 1})),
                        Catch::Contains("class labels in [0, 2), got 2"));
    REQUIRE_THROWS_WITH(la.glm_predictive(rng.normal({5, 2})), Catch::Contains("before fit()"));
    REQUIRE_THROWS_WITH(uq::mlp_jacobian(uq::mlp_params(mlp), rng.normal({5, 4})), Catch::Contains("expected x [n, 2]"));
    MlpLaplace kr = make(mlp, uq::Likelihood::regression, HessianStructure::kron);
    REQUIRE_THROWS_WITH(kr.set_prior_precision(Tensor::ones({kr.n_params()})), Catch::Contains("scalar or per-layer"));
    REQUIRE_THROWS_WITH(kr.set_prior_precision(Tensor::ones({3})), Catch::Contains("[4] (per tensor)"));
}

TEST_CASE("mlp laplace: nn predictive of a tiny posterior is f_MAP plus the linearised spread", "[uq][mlp_laplace][sample]") {
    // Huge prior precision tau: Sigma ~ I / tau, theta_s = theta_MAP + O(tau^-1/2), so
    // f(theta_s) = f_MAP + J z_s + O(1/tau). Then mean -> f_MAP within 5 sqrt(f_var / S) (the
    // O(1/tau) curvature bias is ~100x smaller at tau >= 1e6), variance -> J Sigma J^T (glm)
    // within 5 sqrt(2 / (S - 1)) relative, and the variance scales as 1/tau.
    ad::Rng rng(31);
    nn::MLP mlp(2, {6}, 2, nn::Activation::tanh, rng);
    Tensor x = rng.normal({5, 2}), y = rng.normal({5, 2});
    const long S = 2000;
    const double se_var = 5 * std::sqrt(2.0 / (S - 1));
    for (auto s : kStructures) {
        INFO("structure " << uq::to_string(s));
        MlpLaplace la = make(mlp, uq::Likelihood::regression, s, 0.5);
        la.fit(x, y);
        Tensor f = la.f_mu(x);
        std::vector<Tensor> vars;
        for (double tau : {1e6, 1e8}) {
            INFO("tau " << tau);
            la.set_prior_precision(ad::tensor({tau}));
            uq::NnPredictive nn = la.nn_predictive(x, S, 1);
            Tensor glm = la.glm_predictive(x, uq::OutputCovariance::diagonal).f_var;
            for (long i = 0; i < 10; ++i) {
                CHECK(std::fabs(nn.mean[i] - f[i]) <= 5 * std::sqrt(glm[i] / S));
                CHECK(std::fabs(nn.variance[i] / glm[i] - 1) <= se_var);
            }
            vars.push_back(nn.variance);
        }
        // 100x the precision, 1/100 the variance (same draws: the ratio is tighter than the bound)
        for (long i = 0; i < 10; ++i) CHECK(std::fabs(vars[0][i] / vars[1][i] / 100 - 1) <= 2 * se_var);
    }
    // classification: the sampled softmax mean tends to softmax(f_MAP); the spread of f is
    // ~ |J| 1e-4 at tau = 1e8, so 1e-3 bounds it with room
    Tensor labels = labels_of(5, 2);
    MlpLaplace cl = make(mlp, uq::Likelihood::classification, HessianStructure::full);
    cl.fit(x, labels);
    cl.set_prior_precision(ad::tensor({1e8}));
    uq::NnPredictive p = cl.nn_predictive(x, 200, 2);
    CHECK_THAT(p.mean, AllClose(ad::softmax(cl.f_mu(x), 1), 0, 1e-3));
    CHECK_FALSE(p.variance.defined());
    // errors
    uq::LaplaceOptions o;
    o.feature_reduction = uq::FeatureReduction::average;
    REQUIRE_THROWS_WITH(MlpLaplace(mlp, o), Catch::Contains("applies to the last-layer Laplace only"));
    REQUIRE_THROWS_WITH(cl.nn_predictive(x, 0, 0), Catch::Contains("n_samples > 0"));
}

TEST_CASE("mlp laplace: for a single Linear the nn predictive equals the last-layer one", "[uq][mlp_laplace][sample]") {
    // Same layout (weight, bias), same posterior, same draws: the sampled outputs agree.
    ad::Rng rng(37);
    nn::MLP mlp(3, {}, 2, nn::Activation::tanh, rng);
    Tensor x = rng.normal({8, 3}), y = rng.normal({8, 2});
    for (auto s : kStructures) {
        INFO("structure " << uq::to_string(s));
        MlpLaplace all = make(mlp, uq::Likelihood::regression, s);
        uq::LaplaceOptions o;
        o.structure = s;
        uq::LastLayerLaplace last = uq::LastLayerLaplace::from_mlp(mlp, o);
        all.fit(x, y);
        last.fit(x, y);
        uq::NnPredictive a = all.nn_predictive(x, 300, 5), b = last.nn_predictive(x, 300, 5);
        // 1e-10: the posteriors agree to rounding, then the same eps through them
        CHECK_THAT(a.mean, AllClose(b.mean, 1e-10, 1e-12));
        CHECK_THAT(a.variance, AllClose(b.variance, 1e-10, 1e-12));
    }
}

TEST_CASE("mlp laplace: gridsearch of a one-layer MLP equals the last-layer gridsearch", "[uq][mlp_laplace]") {
    // With no hidden layer every weight is a last-layer weight: both objects see the same posterior.
    ad::Rng rng(31);
    nn::MLP mlp(3, {}, 2, nn::Activation::tanh, rng);
    ad::Tensor x = rng.normal({20, 3}), y = rng.normal({20, 2});
    ad::Tensor xv = rng.normal({9, 3}), yv = rng.normal({9, 2});
    uq::LaplaceOptions o;
    o.structure = uq::HessianStructure::full;
    o.sigma_noise = 0.5;
    uq::MlpLaplace all(mlp, o);
    all.fit(x, y);
    uq::LastLayerLaplace last = uq::LastLayerLaplace::from_mlp(mlp, o);
    last.fit(mlp, x, y);
    uq::GridsearchResult a = all.optimize_prior_precision_gridsearch(xv, yv);
    uq::GridsearchResult b = last.optimize_prior_precision_gridsearch(xv, yv);
    CHECK(a.prior_precision == b.prior_precision);
    REQUIRE(a.nll.size() == b.nll.size());
    for (size_t k = 0; k < a.nll.size(); ++k) CHECK(std::fabs(a.nll[k] - b.nll[k]) <= 1e-10 * std::fabs(b.nll[k]));
}
