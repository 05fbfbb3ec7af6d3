// nn/atomistic: the generic path without SoapBpnn. A toy AtomisticModel (toy_model.hpp: pair
// Gaussians, d = 3 features, one shared last layer) is registered, trained by train_model,
// evaluated, checkpointed, rebuilt by the registry from its checkpoint, and wrapped by
// uq::LlprModel (generic covariance and reverse-mode last-layer Jacobian). Also the trainer's
// gradient clipping and plateau scheduler, and the registry's one-line errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>

#include "autodiff/ops.hpp"
#include "nn/atomistic/registry.hpp"
#include "nn/atomistic/trainer.hpp"
#include "tests/helpers.hpp"
#include "tests/nn/atomistic/toy_model.hpp"
#include "uq/llpr_model.hpp"

using ad::Tensor;
using Catch::Matchers::Contains;
using nn::atomistic::AtomisticModel;
using nn::atomistic::Batch;
using toy::make_toy;
using toy::toy_builder;
using toy::ToyRegistered;

namespace {

nn::atomistic::TrainerSettings toy_settings() {
    nn::atomistic::TrainerSettings s;
    s.num_epochs = 3;
    s.batch_size = 4;
    s.learning_rate = 0.05;
    s.seed = 3;
    return s;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
    double m = 0;
    for (long k = 0; k < a.numel(); ++k) m = std::max(m, std::fabs(a[k] - b[k]));
    return m;
}

}  // namespace

TEST_CASE("atomistic model: a toy model trains, evaluates, checkpoints, loads by registry and is wrapped by LLPR",
          "[atomistic]") {
    ToyRegistered toy;
    std::vector<desc::System> all = testing::test_frames("ethanol-xtb-20.xyz");
    std::vector<desc::System> train(all.begin(), all.begin() + 14), val(all.begin() + 14, all.end());
    nn::atomistic::TrainedModel m = nn::atomistic::train_model(toy_builder(), train, val, toy_settings());
    REQUIRE(m.model->architecture() == "toy_pair");
    REQUIRE(m.history.size() == 3);
    for (const auto& log : m.history) CHECK(std::isfinite(log.val.forces_rmse));
    const nn::atomistic::SplitMetrics best = m.history[static_cast<size_t>(m.best_epoch - 1)].val;
    // evaluate() of the kept (best) parameters reproduces that epoch's validation metrics
    const nn::atomistic::SplitMetrics again = nn::atomistic::evaluate(*m.model, m.composition, m.scaler, val, toy_settings());
    CHECK(again.energy_rmse_per_atom == Approx(best.energy_rmse_per_atom).epsilon(1e-12));

    // default energy_forces_stress: forces = -dE/dR against central differences of predict_frames
    std::vector<desc::System> one(val.begin(), val.begin() + 1);
    const nn::atomistic::EnergyForcesStress p = nn::atomistic::predict_frames(*m.model, m.composition, m.scaler, one);
    const double h = 1e-5;
    for (long c : {0L, 4L, 13L}) {  // atom 0 x, atom 1 y, atom 4 y
        std::vector<desc::System> plus = one, minus = one;
        plus[0].positions = one[0].positions.clone();  // copies of a System share the tensor's storage
        minus[0].positions = one[0].positions.clone();
        plus[0].positions.data()[c] += h;
        minus[0].positions.data()[c] -= h;
        const double fd = -(nn::atomistic::predict_frames(*m.model, m.composition, m.scaler, plus).energies[0] -
                            nn::atomistic::predict_frames(*m.model, m.composition, m.scaler, minus).energies[0]) / (2 * h);
        CHECK(p.forces[c] == Approx(fd).margin(1e-6));  // central difference error O(h^2 E''') ~ 1e-9 eV/A
    }

    // named outputs, metatrain's names and shapes
    const Batch b = nn::atomistic::make_batch(val, m.model->cutoff());
    const auto named = nn::atomistic::named_outputs(m.model->forward(b));
    REQUIRE(named.size() == 6);
    CHECK(named[4].first == "mtt::aux::energy_last_layer_features");
    CHECK(named[4].second.shape() == ad::Shape{6, 3});
    CHECK(named[5].first == "mtt::aux::energy_last_layer_features/per_atom");
    CHECK(named[5].second.shape() == ad::Shape{54, 3});

    // checkpoint -> registry -> the same model, baseline and scale
    nn::Checkpoint ckpt = m.model->to_checkpoint(m.composition.weights, m.scaler.scale);
    CHECK(ckpt.meta("architecture") == "toy_pair");
    std::map<int, double> weights;
    double scale = 0;
    std::shared_ptr<AtomisticModel> back = nn::atomistic::load_model(ckpt, &weights, &scale);
    CHECK(back->architecture() == "toy_pair");
    CHECK(weights == m.composition.weights);
    CHECK(scale == m.scaler.scale);
    const auto p2 = nn::atomistic::predict_frames(*back, {weights}, {scale}, one);
    CHECK(max_abs_diff(p2.energies, p.energies) == 0.0);
    CHECK(max_abs_diff(p2.forces, p.forces) == 0.0);

    // LLPR around the toy: ensemble means and forces equal the model's, positive uncertainties
    uq::LlprFitOptions o;
    o.batch_size = 4;
    o.num_ensemble_members = 4;
    uq::LlprModel wrapped = uq::LlprModel::fit(back, {weights}, {scale}, train, val, o);
    const uq::LlprPrediction q = wrapped.predict(val);
    const nn::atomistic::EnergyForcesStress ref = nn::atomistic::predict_frames(*back, {weights}, {scale}, val);
    CHECK(max_abs_diff(q.energies, ref.energies) < 1e-9);  // phi w_e + baseline vs scale E + baseline: rounding
    CHECK(max_abs_diff(q.forces, ref.forces) < 1e-9);      // -G w_e vs autodiff forces: rounding
    CHECK(q.forces_ensemble.shape() == ad::Shape{54, 3, 4});
    for (long s = 0; s < 6; ++s) CHECK(q.energy_uncertainty[s] > 0);
    const uq::LlprModel loaded = uq::LlprModel::from_checkpoint(wrapped.to_checkpoint());
    CHECK(max_abs_diff(loaded.predict(val).energy_uncertainty, q.energy_uncertainty) == 0.0);

    // errors: an unknown architecture in a checkpoint, bad hypers
    ckpt.metadata["architecture"] = "nope";
    ckpt.path = "x.ckpt";
    REQUIRE_THROWS_WITH(nn::atomistic::load_model(ckpt), Contains("x.ckpt: expected an architecture of") &&
                                                             Contains("'toy_pair'") && Contains("got 'nope'"));
    ad::Rng rng(0);
    REQUIRE_THROWS_WITH(nn::atomistic::make_model("toy_pair", "width = 2", {1}, rng, "opts.toml"),
                        Contains("opts.toml: expected 'num_features = <n>', got 'width = 2'"));
}

TEST_CASE("AtomisticModel::energy_forces_stress: forces and stress are differentiable (gradcheck, CreateGraph::yes)",
          "[atomistic]") {
    // the default implementation on the toy: f(R, eps) = [F, stress] of a rattled periodic fcc Cu cell
    // (4 atoms, 3.61 A) whose pair vectors are strained by eps; gradcheck compares d[F, stress]/d(R, eps)
    // (second derivatives of E, recorded by CreateGraph::yes) with central differences
    std::vector<desc::System> cu = testing::test_frames("cu_fcc4.xyz");
    ad::Rng rng(1);
    std::shared_ptr<AtomisticModel> model = make_toy("", {29}, rng, "test");
    const Batch b = nn::atomistic::make_batch(cu, model->cutoff());
    ad::Function f = [&](const ad::Inputs& x) {
        Batch bx = b;
        bx.positions = x[0];
        bx.strains[0] = x[1];
        const nn::atomistic::EnergyForcesStress efs = model->energy_forces_stress(bx, ad::CreateGraph::yes);
        return ad::concat({ad::reshape(efs.forces, {-1}), ad::reshape(efs.stress, {-1})}, 0);
    };
    const Tensor R = b.positions.clone().set_requires_grad(true);
    const Tensor eps = (Tensor::zeros({3, 3}) + 0.01).set_requires_grad(true);  // away from 0: a general point
    CHECK(ad::gradcheck(f, {R, eps}));
    // values at eps = 0: F sums to zero (translation invariance), the stress is symmetric (rotation invariance)
    const Tensor v = f({R, Tensor::zeros({3, 3}).set_requires_grad(true)});
    for (long a = 0; a < 3; ++a) {
        double sum = 0;
        for (long i = 0; i < b.n_atoms(); ++i) sum += v[3 * i + a];
        CHECK(sum == Approx(0).margin(1e-12));  // pair forces cancel in pairs: rounding only
    }
    const long o = 3 * b.n_atoms();
    CHECK(v[o + 1] == Approx(v[o + 3]).margin(1e-12));  // sum_p v_x dE/dv_y = sum_p v_y dE/dv_x for radial pairs
    // stress = (1/V) dE/d(eps) at 0 against central differences of E in eps_01 and eps_22
    for (long c : {1L, 8L}) {
        auto energy = [&](double h) {
            Batch bx = b;
            bx.strains[0] = Tensor::zeros({3, 3});
            bx.strains[0].data()[c] = h;
            return model->energies(bx)[0];
        };
        const double h = 1e-5;
        CHECK(v[o + c] == Approx((energy(h) - energy(-h)) / (2 * h) / b.volumes[0]).margin(1e-9));  // O(h^2) ~ 1e-10
    }
}

TEST_CASE("atomistic model: the generic last-layer Jacobian gives the stress of periodic structures", "[atomistic]") {
    ToyRegistered toy;
    std::vector<desc::System> cu = testing::test_frames("cu-emt-6.xyz");
    ad::Rng rng(2);
    std::shared_ptr<AtomisticModel> model = nn::atomistic::make_model("toy_pair", "", {29}, rng);
    const Batch b = nn::atomistic::make_batch({cu[0], cu[1]}, model->cutoff());
    const nn::atomistic::EnergyForcesStress efs = model->energy_forces_stress(b, ad::CreateGraph::no);
    const Tensor G = uq::last_layer_jacobian(*model, b);  // [n + 6, 3, 3]
    const Tensor w = ad::reshape(model->last_layer_weights().detach(), {3, 1});
    const Tensor dE = ad::reshape(ad::matmul(ad::reshape(G, {-1, 3}), w), {-1});  // [(n + 6) 3]
    const long n = b.n_atoms();
    for (long r = 0; r < 3 * n; ++r) REQUIRE(-dE[r] == Approx(efs.forces[r]).margin(1e-12));  // same sums, other order
    for (long s = 0; s < 2; ++s)
        for (long c = 0; c < 9; ++c)
            CHECK(dE[3 * n + 9 * s + c] / b.volumes[static_cast<size_t>(s)] == Approx(efs.stress[9 * s + c]).margin(1e-12));
}

TEST_CASE("trainer: grad_clip_norm clips every step; the plateau scheduler lowers the learning rate", "[atomistic]") {
    std::vector<desc::System> all = testing::test_frames("ethanol-xtb-20.xyz");
    std::vector<desc::System> train(all.begin(), all.begin() + 8);
    nn::atomistic::TrainerSettings s = toy_settings();
    s.num_epochs = 1;
    s.batch_size = 8;  // one step
    s.warmup_fraction = 0;
    ad::Rng rng(static_cast<uint64_t>(s.seed));
    const nn::NamedTensors init = make_toy("", {1, 6, 8}, rng, "test")->state_dict();
    auto moved = [&](const nn::atomistic::TrainerSettings& settings) {
        nn::atomistic::TrainedModel m = nn::atomistic::train_model(toy_builder(), train, {}, settings);
        double d = 0;
        const nn::NamedTensors now = m.model->state_dict();
        for (size_t k = 0; k < now.size(); ++k) d = std::max(d, max_abs_diff(now[k].second, init[k].second));
        return d;
    };
    const double free_step = moved(s);
    s.grad_clip_norm = 1e-12;  // Adam's first step is lr g / (|g| + eps): with |g| <= 1e-12 << eps = 1e-8 it is ~1e-4 lr
    const double clipped_step = moved(s);
    CHECK(free_step > 0.5 * s.learning_rate);  // unclipped first Adam step: ~lr per parameter
    CHECK(clipped_step < 1e-3 * s.learning_rate);
    s.grad_clip_norm = 0;
    REQUIRE_THROWS_WITH(moved(s), Contains("grad_clip_norm: expected > 0 (inf: no clipping), got 0"));

    // plateau, patience 0: with a learning rate too small to change the loss every epoch after the
    // first is "bad", so lr halves after epochs 2, 3, ... (log.lr is the lr used in that epoch)
    s = toy_settings();
    s.scheduler = nn::atomistic::parse_lr_scheduler("plateau");
    s.scheduler_patience = 0;
    s.scheduler_factor = 0.5;
    s.learning_rate = 1e-6;  // steps change the loss by ~1e-6 relative, below the 1e-4 threshold
    s.warmup_fraction = 0;
    s.num_epochs = 4;
    nn::atomistic::TrainedModel m = nn::atomistic::train_model(toy_builder(), train, {}, s);
    REQUIRE(m.history.size() == 4);
    CHECK(m.history[0].lr == 1e-6);
    CHECK(m.history[1].lr == 1e-6);
    CHECK(m.history[2].lr == 0.5e-6);  // halving is exact in binary
    CHECK(m.history[3].lr == 0.25e-6);
    REQUIRE_THROWS_WITH(nn::atomistic::parse_lr_scheduler("cosine"),
                        Contains("scheduler: expected one of warmup_cosine, plateau, got 'cosine'"));
}
