// FunctionalLLLaplace (GP view) against laplace-torch (sine n_subset 150 and 60, blobs2d with and
// without independent_outputs; README section 8 tolerances, GP variances with a 1e-9 max|ref|
// floor), and its identities: M = N regression equals the weight-space glm variance; the lml is
// differentiable in tau and sigma.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "autodiff/gradcheck.hpp"
#include "autodiff/graph.hpp"
#include "autodiff/ops.hpp"
#include "tests/helpers.hpp"
#include "tests/uq/reference_case.hpp"
#include "uq/functional_laplace.hpp"

using ad::Tensor;
using uq::FunctionalLLLaplace;
using namespace uqtest;

namespace {

Tensor map_outputs(const Case& c) {
    ad::NoGrad ng;
    return c.mlp->forward(c.X_train);
}

FunctionalLLLaplace fitted_functional(const Case& c, const toml::node& R) {
    uq::FunctionalOptions o;
    o.likelihood = c.classification ? uq::Likelihood::classification : uq::Likelihood::regression;
    o.sigma_noise = num(at(c.root, {"hyper", "sigma_noise"}));
    o.temperature = num(at(c.root, {"hyper", "temperature"}));
    o.prior_precision = num(at(c.root, {"hyper", "prior_precision"}));
    o.prior_mean = ad::tensor({num(at(c.root, {"hyper", "prior_mean"}))});
    o.n_subset = static_cast<long>(num(at(R, {"n_subset"})));
    o.independent_outputs = *at(R, {"independent_outputs"}).value<bool>();
    Tensor idx = to_tensor(at(R, {"subset_indices"}));
    for (long i = 0; i < idx.numel(); ++i) o.subset_indices.push_back(static_cast<long>(idx[i]));
    FunctionalLLLaplace la = FunctionalLLLaplace::from_mlp(*c.mlp, o);
    la.fit(c.phi_train, map_outputs(c), c.y_train);
    return la;
}

}  // namespace

TEST_CASE("functional laplace: GP terms, variances and marglik match laplace-torch", "[uq][functional]") {
    const std::pair<const char*, const char*> runs[] = {
        {"regression_sine_lllaplace", "n_subset_150"},
        {"regression_sine_lllaplace", "n_subset_60"},
        {"classification_blobs2d_lllaplace", "n_subset_180"},
        {"classification_blobs2d_lllaplace", "n_subset_180_independent_outputs"}};
    for (const auto& run : runs) {
        INFO(run.first << " " << run.second);
        const Case& c = load_case(run.first);
        const toml::node& R = at(c.root, {"results", "FunctionalLLLaplace", run.second});
        FunctionalLLLaplace la = fitted_functional(c, R);
        CHECK(la.n_subset() == static_cast<long>(num(at(R, {"n_subset"}))));
        CHECK_SCALAR_REF(la.log_likelihood(), num(at(R, {"log_likelihood"})));
        CHECK_SCALAR_REF(la.log_det_ratio(), num(at(R, {"log_det_ratio"})));
        CHECK_SCALAR_REF(la.scatter(), num(at(R, {"scatter"})));
        CHECK_SCALAR_REF(la.log_marginal_likelihood(), num(at(R, {"log_marginal_likelihood"})));
        uq::GlmPredictive g = la.glm_predictive(c.phi_test);
        CHECK_ARRAY_REF(g.f_mu, to_tensor(at(R, {"f_mu"})));
        // GP variances: K~MM + diag(1/(h Lambda)) is ill-conditioned (K has rank <= P < M C), so the
        // floor is 1e-9 max|ref| (README section 8; our float64 re-derivation: 1.2e-11).
        CHECK(array_mismatch(g.f_var, to_tensor(at(R, {"functional_variance"})), 1e-8, 1e-9).empty());
        if (has(R, {"gp_var"})) {
            CHECK_ARRAY_REF(g.f_mu, to_tensor(at(R, {"gp_mean"})));
            CHECK(array_mismatch(g.f_var, to_tensor(at(R, {"gp_var"})), 1e-8, 1e-9).empty());
        }
        if (has(R, {"probit"}))
            CHECK_ARRAY_REF(la.predict_probs(c.phi_test, uq::LinkApprox::probit), to_tensor(at(R, {"probit"})));
        // Adam on log tau (100 steps, lr 0.1, from 1) as the weight-space classes.
        const toml::node& O = at(R, {"optimize_prior_precision_marglik_scalar"});
        uq::MarglikOptions mo;
        CHECK_SCALAR_REF(la.optimize_prior_precision_marglik(mo), to_tensor(at(O, {"prior_precision"}))[0]);
        CHECK_SCALAR_REF(la.log_marginal_likelihood(), num(at(O, {"log_marginal_likelihood"})));
    }
}

TEST_CASE("functional laplace: regression on all points equals the weight-space glm variance", "[uq][functional]") {
    // Woodbury: J (J^T J / sigma^2 + tau I)^-1 J*^T = K~** - K~*N (K~NN + sigma^2 I)^-1 K~N*, s = 1/tau.
    const Case& c = load_case("regression_sine_lllaplace");
    const toml::node& R = at(c.root, {"results", "FunctionalLLLaplace", "n_subset_150"});
    FunctionalLLLaplace la = fitted_functional(c, R);
    CHECK(array_mismatch(la.glm_predictive(c.phi_test).f_var,
                         to_tensor(at(c.root, {"results", "FullLLLaplace", "predictive", "glm_var"})), 1e-8, 1e-9)
              .empty());
    // A drawn subset of all N points gives the same numbers (the kernel order does not matter).
    uq::FunctionalOptions o;
    o.sigma_noise = 0.3;
    o.seed = 5;
    FunctionalLLLaplace drawn = FunctionalLLLaplace::from_mlp(*c.mlp, o);
    drawn.fit(c.phi_train, c.y_train);
    CHECK(drawn.n_subset() == 150);
    CHECK(drawn.subset_indices() != la.subset_indices());
    CHECK(std::fabs(drawn.log_marginal_likelihood() - la.log_marginal_likelihood()) < 1e-9 * std::fabs(la.log_marginal_likelihood()));
}

TEST_CASE("functional laplace: lml gradients pass gradcheck; errors", "[uq][functional]") {
    ad::Rng rng(3);
    const long n = 12, D = 3, C = 2;
    Tensor phi = rng.normal({n, D}), W = rng.normal({C, D}, 0.0, 0.5), b = rng.normal({C}, 0.0, 0.5);
    Tensor y = rng.normal({n, C}), labels = Tensor::empty({n});
    for (long i = 0; i < n; ++i) labels.data()[i] = double(i % C);
    for (bool independent : {false, true}) {
        for (auto lik : {uq::Likelihood::regression, uq::Likelihood::classification}) {
            INFO("independent " << independent << " likelihood " << uq::to_string(lik));
            uq::FunctionalOptions o;
            o.likelihood = lik;
            o.n_subset = 8;
            o.independent_outputs = independent;
            o.prior_mean = ad::tensor({0.1});
            FunctionalLLLaplace la(W, b, o);
            la.fit(phi, lik == uq::Likelihood::regression ? y : labels);
            CHECK(la.n_subset() == 8);
            Tensor tau = ad::tensor({0.8}).set_requires_grad(true);
            Tensor sigma = ad::tensor({lik == uq::Likelihood::regression ? 0.7 : 1.0})
                               .set_requires_grad(lik == uq::Likelihood::regression);
            auto f = [&la](const ad::Inputs& x) { return la.log_marginal_likelihood(x[0], x[1]); };
            CHECK(ad::gradcheck(f, {tau, sigma}));
        }
    }
    uq::FunctionalOptions o;
    o.subset_indices = {0, 3, 3};
    FunctionalLLLaplace bad(W, b, o);
    REQUIRE_THROWS_WITH(bad.fit(phi, y), Catch::Contains("distinct subset indices"));
    o.subset_indices = {0, 30};
    FunctionalLLLaplace out(W, b, o);
    REQUIRE_THROWS_WITH(out.fit(phi, y), Catch::Contains("subset indices in [0, 12)"));
    o.subset_indices.clear();
    o.n_subset = 13;
    FunctionalLLLaplace big(W, b, o);
    REQUIRE_THROWS_WITH(big.fit(phi, y), Catch::Contains("n_subset <= N = 12"));
    o.n_subset = 0;
    FunctionalLLLaplace la(W, b, o);
    REQUIRE_THROWS_WITH(la.log_marginal_likelihood(), Catch::Contains("before fit()"));
    la.fit(phi, y);
    REQUIRE_THROWS_WITH(la.log_marginal_likelihood(ad::tensor({1.0, 2.0}), ad::tensor({1.0})),
                        Catch::Contains("scalar prior precision"));
    REQUIRE_THROWS_WITH(la.glm_predictive(phi, uq::OutputCovariance::joint), Catch::Contains("got joint"));
    REQUIRE_THROWS_WITH(la.set_prior_precision(0.0), Catch::Contains("prior precision > 0"));
    uq::MarglikOptions lw;
    lw.prior_structure = uq::PriorStructure::layerwise;
    REQUIRE_THROWS_WITH(la.optimize_prior_precision_marglik(lw), Catch::Contains("expected prior_structure scalar"));
}
