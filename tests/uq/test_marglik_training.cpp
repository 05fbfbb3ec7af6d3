// marglik_training against laplace-torch (tests/reference/laplace/marglik_training_sine: 1-16-1
// tanh MLP, 100 sine points, 20 epochs, 10 hyper steps per epoch): losses and margliks per epoch,
// final tau / sigma / lml / weights and the glm predictive at the test points; the Kron runs with
// laplace-torch's truncated sigma-gradient, and how far the true gradient moves the trajectory.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <string>

#include "autodiff/graph.hpp"
#include "autodiff/ops.hpp"
#include "tests/uq/reference_case.hpp"
#include "uq/marglik_training.hpp"

using ad::Tensor;
using namespace uqtest;

namespace {

struct MarglikCase {
    toml::table root;
    Tensor X, y, X_test;
    nn::NamedTensors init;
};

const MarglikCase& marglik_case() {
    static std::unique_ptr<MarglikCase> c;
    if (c) return *c;
    c = std::make_unique<MarglikCase>();
    const std::string dir = reference_dir("marglik_training_sine");
    c->root = toml::parse_file(dir + "/case.toml");
    cli::Table train = cli::read_csv(dir + "/train.csv"), test = cli::read_csv(dir + "/test.csv");
    c->X = columns(train, "x");
    c->y = columns(train, "y");
    c->X_test = columns(test, "x");
    c->init = nn::load_checkpoint(dir + "/init.safetensors").tensors;
    return *c;
}

nn::MLP make_mlp(const MarglikCase& c) {
    ad::Rng rng(0);
    nn::MLP mlp(1, {16}, 1, nn::Activation::tanh, rng);
    mlp.load_state_dict(c.init);
    return mlp;
}

// laplace-torch's arguments of the reference runs (meta.common_args, runs.<run>.config).
uq::MarglikTrainingOptions reference_options(const MarglikCase& c, const std::string& run) {
    const toml::node& a = at(c.root, {"meta", "common_args"});
    const toml::node& cfg = at(c.root, {"runs", run, "config"});
    uq::MarglikTrainingOptions o;
    o.likelihood = uq::parse_likelihood(*at(a, {"likelihood"}).value<std::string>());
    o.hessian_structure = uq::parse_hessian_structure(*at(cfg, {"hessian_structure"}).value<std::string>());
    const std::string ps = *at(cfg, {"prior_structure"}).value<std::string>();
    o.prior_structure = ps == "scalar" ? uq::PriorStructure::scalar
                        : ps == "layerwise" ? uq::PriorStructure::layerwise
                                            : uq::PriorStructure::diagonal;
    o.n_epochs = static_cast<long>(num(at(a, {"n_epochs"})));
    o.lr = num(at(a, {"optimizer_kwargs", "lr"}));
    o.lr_hyp = num(at(a, {"lr_hyp"}));
    o.n_epochs_burnin = static_cast<long>(num(at(a, {"n_epochs_burnin"})));
    o.n_hypersteps = static_cast<long>(num(at(a, {"n_hypersteps"})));
    o.marglik_frequency = static_cast<long>(num(at(a, {"marglik_frequency"})));
    o.prior_prec_init = num(at(a, {"prior_prec_init"}));
    o.sigma_noise_init = num(at(a, {"sigma_noise_init"}));
    o.temperature = num(at(a, {"temperature"}));
    o.fix_sigma_noise = *at(a, {"fix_sigma_noise"}).value<bool>();
    o.batch_size = static_cast<long>(num(at(c.root, {"data", "batch_size"})));
    if (o.hessian_structure == uq::HessianStructure::kron) o.kron_sigma_gradient = uq::KronSigmaGradient::laplace_torch;
    return o;
}

Tensor vec(const std::vector<double>& v) { return ad::tensor({static_cast<long>(v.size())}, v); }

// Largest |a - ref| / |ref| over a list (reported in the docs).
double max_rel(const std::vector<double>& a, const Tensor& ref) {
    double m = 0;
    for (long i = 0; i < ref.numel(); ++i) m = std::max(m, std::fabs(a[i] - ref[i]) / std::fabs(ref[i]));
    return m;
}

}  // namespace

TEST_CASE("marglik_training: reproduces laplace-torch's runs epoch by epoch", "[uq][marglik]") {
    const MarglikCase& c = marglik_case();
    for (const char* run : {"full_scalar_backpack", "full_layerwise_backpack", "diag_diag_backpack",
                            "kron_layerwise_asdl_default", "kron_layerwise_backpack"}) {
        INFO("run " << run);
        const toml::node& R = at(c.root, {"runs", run});
        nn::MLP mlp = make_mlp(c);
        uq::MarglikTrainingOptions o = reference_options(c, run);
        long calls = 0;
        o.progress = [&calls](const uq::MarglikProgress& p) { calls += p.hyper_step ? 1 : 0; };
        uq::MarglikTrainingResult r = uq::marglik_training(mlp, c.X, c.y, o);
        CHECK(calls == o.n_epochs);
        // 1e-10 relative (a replay of the same float64 arithmetic in another order; observed <= 4e-15,
        // far inside the 1e-6 required of a 20-epoch trajectory).
        const Tensor losses = to_tensor(at(R, {"losses"})), margliks = to_tensor(at(R, {"margliks"}));
        REQUIRE(r.losses.size() == static_cast<size_t>(losses.numel()));
        REQUIRE(r.margliks.size() == static_cast<size_t>(margliks.numel()));
        INFO(run << ": max rel. deviation losses " << max_rel(r.losses, losses) << ", margliks "
                 << max_rel(r.margliks, margliks));
        CHECK(array_mismatch(vec(r.losses), losses, 1e-10, 0.0).empty());
        CHECK(array_mismatch(vec(r.margliks), margliks, 1e-10, 0.0).empty());
        CHECK(array_mismatch(r.laplace.prior_precision(), to_tensor(at(R, {"final_prior_precision"})), 1e-10, 0.0).empty());
        CHECK(scalar_mismatch(r.laplace.sigma_noise(), num(at(R, {"final_sigma_noise"})), 1e-10).empty());
        CHECK(scalar_mismatch(r.laplace.log_marginal_likelihood(), num(at(R, {"final_log_marginal_likelihood"})), 1e-10).empty());
        // Final weights and predictive: 1e-10 relative with a 1e-12 max|ref| floor for entries near 0.
        nn::Checkpoint fin = nn::load_checkpoint(reference_dir("marglik_training_sine") + "/final_" + run + ".safetensors");
        for (const auto& kv : r.weights) {
            INFO(kv.first);
            CHECK(array_mismatch(kv.second, fin.get(kv.first), 1e-10, 1e-12).empty());
        }
        uq::GlmPredictive g = r.laplace.glm_predictive(c.X_test);
        CHECK(array_mismatch(g.f_mu, to_tensor(at(R, {"glm_mean_test"})), 1e-10, 1e-12).empty());
        CHECK(array_mismatch(g.f_var, to_tensor(at(R, {"glm_var_test"})), 1e-10, 1e-12).empty());
    }
}

TEST_CASE("marglik_training: kron with the true sigma-gradient (difference from laplace-torch)", "[uq][marglik]") {
    const MarglikCase& c = marglik_case();
    const toml::node& R = at(c.root, {"runs", "kron_layerwise_backpack"});
    nn::MLP mlp = make_mlp(c);
    uq::MarglikTrainingOptions o = reference_options(c, "kron_layerwise_backpack");
    o.kron_sigma_gradient = uq::KronSigmaGradient::true_gradient;
    uq::MarglikTrainingResult r = uq::marglik_training(mlp, c.X, c.y, o);
    const Tensor margliks = to_tensor(at(R, {"margliks"})), losses = to_tensor(at(R, {"losses"}));
    // Before the first hyper update both modes evaluate the same lml (only its gradient differs),
    // and Adam's first step is lr sign(g) for both (same sign), so they part at the second step.
    CHECK(scalar_mismatch(r.margliks[0], margliks[0], 1e-10).empty());
    CHECK(scalar_mismatch(r.margliks[1], margliks[1], 1e-10).empty());
    CHECK(std::fabs(r.margliks[2] - margliks[2]) > 1e-5 * margliks[2]);
    // The truncated gradient lacks +h tr(Sigma H) 2/sigma > 0 in d lml / d sigma, so laplace-torch
    // shrinks sigma too fast. With the true gradient (docs/uq.md): final lml -123.8806 vs
    // -124.1720, sigma 0.7329 vs 0.6977, tau within 1.2 %; margliks differ by <= 1.8 % and losses
    // by <= 1.1 % per epoch. Asserted loosely (the numbers are a report, not a reference).
    const double lml = r.laplace.log_marginal_likelihood(), ref_lml = num(at(R, {"final_log_marginal_likelihood"}));
    CHECK(std::fabs(lml - (-123.8806)) < 1e-3);
    CHECK(lml > ref_lml);
    CHECK(std::fabs(r.laplace.sigma_noise() - 0.7329) < 1e-3);
    CHECK(r.laplace.sigma_noise() > num(at(R, {"final_sigma_noise"})));
    CHECK(max_rel(r.margliks, margliks) < 0.02);
    CHECK(max_rel(r.losses, losses) < 0.02);
    const Tensor tau_ref = to_tensor(at(R, {"final_prior_precision"}));
    double tau_rel = 0;
    for (long i = 0; i < 4; ++i) tau_rel = std::max(tau_rel, std::fabs(r.laplace.prior_precision()[i] / tau_ref[i] - 1));
    CHECK(tau_rel < 0.015);
}
