// MlpLaplace persistence: to_checkpoint() -> file -> from_checkpoint() rebuilds the network and
// the posterior bit for bit (every structure, both likelihoods, layerwise and diagonal priors,
// with and without biases); wrong checkpoints are refused with the reason.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>

#include "autodiff/graph.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "tests/helpers.hpp"
#include "uq/last_layer_laplace.hpp"
#include "uq/mlp_laplace.hpp"

using ad::Tensor;
using testing::AllClose;
using uq::HessianStructure;
using uq::MlpLaplace;

namespace {

// Exact equality (rtol = atol = 0): the checkpoint stores float64 tensors, nothing is recomputed
// from text.
void require_same(const Tensor& a, const Tensor& b) { CHECK_THAT(a, AllClose(b, 0.0, 0.0)); }

}  // namespace

TEST_CASE("mlp laplace: checkpoint round trip is exact", "[uq][mlp_laplace][checkpoint]") {
    ad::Rng rng(11);
    const Tensor x = rng.normal({12, 3});
    const Tensor x_test = rng.normal({5, 3});
    struct Setup {
        uq::Likelihood likelihood;
        HessianStructure structure;
        bool bias;
        const char* prior;  // scalar | layerwise | diagonal
    };
    const Setup setups[] = {
        {uq::Likelihood::regression, HessianStructure::full, true, "layerwise"},
        {uq::Likelihood::regression, HessianStructure::kron, true, "layerwise"},
        {uq::Likelihood::regression, HessianStructure::diag, false, "diagonal"},
        {uq::Likelihood::classification, HessianStructure::full, true, "scalar"},
        {uq::Likelihood::classification, HessianStructure::kron, false, "scalar"},
        {uq::Likelihood::classification, HessianStructure::diag, true, "layerwise"},
    };
    const std::string path = (std::filesystem::temp_directory_path() / "atomgrad_mlp_laplace_rt.ckpt").string();
    for (const Setup& s : setups) {
        INFO(uq::to_string(s.likelihood) << " " << uq::to_string(s.structure) << " bias " << s.bias << " " << s.prior);
        const long C = s.likelihood == uq::Likelihood::regression ? 2 : 3;
        nn::MLP mlp(3, {4, 5}, C, nn::Activation::silu, rng, s.bias);
        uq::LaplaceOptions o;
        o.likelihood = s.likelihood;
        o.structure = s.structure;
        o.sigma_noise = s.likelihood == uq::Likelihood::regression ? 0.4 : 1.0;
        o.temperature = 0.8;
        MlpLaplace la(mlp, o);
        const long n_tensors = static_cast<long>(la.layout().size());
        const std::string prior = s.prior;
        const long n_tau = prior == "scalar" ? 1 : prior == "layerwise" ? n_tensors : la.n_params();
        Tensor tau = Tensor::empty({n_tau});
        for (long k = 0; k < n_tau; ++k) tau.data()[k] = 0.5 + 0.1 * double(k);
        la.set_prior_precision(tau);
        la.set_prior_mean(ad::tensor({0.01}));
        Tensor y = s.likelihood == uq::Likelihood::regression ? rng.normal({12, C})
                                                               : ad::tensor({0, 1, 2, 0, 1, 2, 2, 1, 0, 0, 1, 2});
        la.fit(x, y);

        nn::save_checkpoint(path, la.to_checkpoint());
        nn::Checkpoint c = nn::load_checkpoint(path);
        CHECK(c.meta("kind") == "mlp");
        CHECK(c.meta("layer_sizes") == "3,4,5," + std::to_string(C));
        CHECK(c.meta("activation") == "silu");
        CHECK(c.meta("bias") == (s.bias ? "true" : "false"));
        MlpLaplace back = MlpLaplace::from_checkpoint(c);

        CHECK(back.likelihood() == la.likelihood());
        CHECK(back.structure() == la.structure());
        CHECK(back.n_data() == la.n_data());
        CHECK(back.sigma_noise() == la.sigma_noise());
        CHECK(back.temperature() == la.temperature());
        CHECK(back.params().activation == nn::Activation::silu);
        CHECK(back.params().has_bias() == s.bias);
        require_same(back.mean(), la.mean());
        require_same(back.prior_precision(), la.prior_precision());
        require_same(back.prior_mean(), la.prior_mean());
        require_same(back.H(), la.H());
        CHECK(back.log_marginal_likelihood() == la.log_marginal_likelihood());
        CHECK(back.loss() == la.loss());
        require_same(back.posterior_precision(), la.posterior_precision());
        require_same(back.f_mu(x_test), la.f_mu(x_test));
        uq::GlmPredictive g = la.glm_predictive(x_test), gb = back.glm_predictive(x_test);
        require_same(gb.f_mu, g.f_mu);
        require_same(gb.f_var, g.f_var);
    }
    std::remove(path.c_str());
}

TEST_CASE("mlp laplace: from_checkpoint refuses other checkpoints", "[uq][mlp_laplace][checkpoint]") {
    ad::Rng rng(2);
    nn::MLP mlp(2, {3}, 1, nn::Activation::tanh, rng);
    uq::LaplaceOptions o;
    uq::LastLayerLaplace ll = uq::LastLayerLaplace::from_mlp(mlp, o);
    ll.fit(mlp, rng.normal({6, 2}), rng.normal({6, 1}));
    REQUIRE_THROWS_WITH(MlpLaplace::from_checkpoint(ll.to_checkpoint()),
                        Catch::Contains("expected an all-weights MLP Laplace checkpoint") &&
                            Catch::Contains("got kind 'last_layer'"));
    MlpLaplace la(mlp, o);
    la.fit(rng.normal({6, 2}), rng.normal({6, 1}));
    nn::Checkpoint c = la.to_checkpoint();
    c.metadata["layer_sizes"] = "2,4,1";
    REQUIRE_THROWS_WITH(MlpLaplace::from_checkpoint(c), Catch::Contains("expected mean [17] for layer_sizes 2,4,1, got [13]"));
    c.metadata["layer_sizes"] = "2,x,1";
    REQUIRE_THROWS_WITH(MlpLaplace::from_checkpoint(c), Catch::Contains("layer_sizes as positive integers"));
}
