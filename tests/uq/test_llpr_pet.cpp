// uq/llpr_model on NanoPET and PET, models whose energy is not exactly phi w^T: PET's last layers
// have biases, E_s = phi_s w^T + b_n N_s + b_e sum_{i in s} sum_j c_ij, and the edge term moves with
// the atoms. Members E_sk = E_s + phi_s (W_k - w_e)^T (ensemble mean = prediction), sigma against
// closed-form Bayesian linear regression on the model's features, member forces against finite
// differences of the member energies, the prediction's forces against the model's own.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <memory>

#include "autodiff/ops.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/atomistic/trainer.hpp"
#include "nn/pet/nanopet.hpp"
#include "nn/pet/pet.hpp"
#include "tests/cli/cli_helpers.hpp"
#include "tests/helpers.hpp"
#include "tests/uq/llpr_checks.hpp"
#include "tests/nn/atomistic/model_checks.hpp"
#include "tests/nn/pet/tiny_pet_hypers.hpp"
#include "uq/llpr_model.hpp"

using ad::Tensor;
using model_checks::max_abs;
using testing::AllClose;

namespace {

std::shared_ptr<nn::atomistic::AtomisticModel> tiny_model(const std::string& name) {
    ad::Rng rng(3);
    if (name == "nanopet")
        return std::make_shared<nn::pet::NanoPet>(nn_testing::tiny_nanopet_hypers(), std::vector<int>{1, 6, 8}, rng);
    return std::make_shared<nn::pet::Pet>(nn_testing::tiny_pet_hypers(), std::vector<int>{1, 6, 8}, rng);
}

// The composition baseline of the frames' reference energies (H, C, O).
nn::atomistic::CompositionModel fit_composition(const std::vector<desc::System>& frames) {
    std::vector<std::vector<int>> numbers;
    std::vector<double> energies;
    for (const auto& f : frames) {
        numbers.push_back(f.numbers);
        energies.push_back(*f.energy());
    }
    return nn::atomistic::CompositionModel::fit(numbers, energies, {1, 6, 8});
}

}  // namespace

TEST_CASE("llpr_pet: NanoPET and PET: ensemble centred on the prediction, closed-form sigma, member forces",
          "[uq][llpr][pet]") {
    const std::vector<desc::System> all = desc::read_extxyz(cli_testing::repo_file("tests/data/ethanol-xtb-20.xyz"));
    const std::vector<desc::System> train(all.begin(), all.begin() + 14), val(all.begin() + 14, all.end());
    for (const std::string name : {"nanopet", "pet"}) {
        INFO(name);
        auto model = tiny_model(name);
        const auto composition = fit_composition(train);
        const nn::atomistic::EnergyScaler scaler{0.7};
        const double r = 1e-4;  // a given regulariser: the closed form below uses it as is
        uq::LlprFitOptions o;
        o.batch_size = 4;
        o.regularizer = r;
        o.calibration = uq::LlprCalibration::squared_residuals;
        o.num_ensemble_members = 16;
        o.seed = 5;
        uq::LlprModel w = uq::LlprModel::fit(model, composition, scaler, train, val, o);
        const long P = model->n_last_layer_features();

        // The energy is not phi w^T alone for PET (the biases), exactly phi w^T for NanoPET.
        const nn::atomistic::Batch vb = nn::atomistic::make_batch(val, model->cutoff());
        const nn::atomistic::Output out = model->forward(vb);
        const Tensor rest = out.energies - ad::reshape(ad::matmul(out.last_layer_features,
                                                                  ad::reshape(model->last_layer_weights(), {P, 1})), {-1});
        if (name == "pet") CHECK(max_abs(rest) > 1e-3);
        else CHECK(max_abs(rest) < 1e-12);

        // sigma^2 = alpha^2 f (X^T X + r I)^-1 f^T with rows phi_s / N_s of the training split
        const Tensor phi_t = w.predict(train, uq::EnsembleForces::no).last_layer_features;
        Tensor X = phi_t / 9.0;  // ethanol: 9 atoms
        Tensor A = ad::matmul_tn(X, X);
        for (long c = 0; c < P; ++c) A.data()[c * P + c] += r;
        const Tensor Ainv = ad::inverse(A);
        const uq::LlprPrediction pv = w.predict(val, uq::EnsembleForces::no);
        const Tensor quad = ad::sum(ad::mul(ad::matmul(pv.last_layer_features, Ainv), pv.last_layer_features), {1});
        double msz = 0;
        for (long s = 0; s < 6; ++s) {
            const double e = pv.energies[s] - *val[static_cast<size_t>(s)].energy();
            msz += e * e / quad[s];
        }
        const double alpha = std::sqrt(msz / 6.0);
        CHECK(w.llpr().alpha() == Approx(alpha).epsilon(1e-9));
        CHECK_THAT(ad::square(pv.energy_uncertainty), AllClose(quad * (alpha * alpha), 1e-8, 0));
        // the prediction is the model's (scale E + baseline), not phi w_e + baseline
        const nn::atomistic::EnergyForcesStress ref = nn::atomistic::predict_frames(*model, composition, scaler, val);
        CHECK_THAT(pv.energies, AllClose(ref.energies, 1e-12, 1e-10));

        // members: mean = prediction for energies and forces; forces = the model's
        const std::vector<desc::System> test(val.begin(), val.begin() + 3);
        const nn::atomistic::Batch b = nn::atomistic::make_batch(test, model->cutoff());
        const uq::LlprPrediction p = w.predict(b);
        const nn::atomistic::EnergyForcesStress ref3 = nn::atomistic::predict_frames(*model, composition, scaler, test);
        CHECK_THAT(ad::mean(p.energy_ensemble, {1}), AllClose(p.energies, 1e-12, 1e-9));
        CHECK_THAT(ad::mean(p.forces_ensemble, {2}), AllClose(p.forces, 1e-9, 1e-9));
        CHECK_THAT(p.forces, AllClose(ref3.forces, 1e-9, 1e-10));
        CHECK(max_abs(p.forces) > 1e-3);
        llpr_checks::check_member_forces_fd(w, b, p, {0, 7, 15});
    }
}

TEST_CASE("llpr_pet: PET ensemble training targets leave the biases out", "[uq][llpr][pet]") {
    // The ensemble training's targets are the reference minus everything outside phi W^T (here
    // the biases' energies and forces): two members both at w_e then reproduce the model, and
    // their empirical CRPS (zero spread: mean |y - t|) is the model's per-atom energy MAE plus its
    // force MAE. With the biases left in the targets it would not be.
    const std::vector<desc::System> all = desc::read_extxyz(cli_testing::repo_file("tests/data/ethanol-xtb-20.xyz"));
    const std::vector<desc::System> train(all.begin(), all.begin() + 14), val(all.begin() + 14, all.end());
    auto model = tiny_model("pet");
    const auto composition = fit_composition(train);
    const nn::atomistic::EnergyScaler scaler{0.7};
    uq::LlprFitOptions o;
    o.batch_size = 4;
    o.regularizer = 1e-4;
    o.num_ensemble_members = 2;
    o.num_epochs = 1;
    o.learning_rate = 1e-12;  // the loss of the starting weights is what is checked
    o.loss = uq::EnsembleLoss::empirical_crps;
    o.forces_loss = uq::EnsembleLoss::empirical_crps;
    uq::LlprModel w = uq::LlprModel::fit(model, composition, scaler, train, val, o);
    const Tensor we = ad::reshape(w.last_layer_weights(), {1, -1});
    const Tensor W0 = ad::concat({we, we}, 0);
    uq::LlprFitInfo info;
    uq::train_llpr_ensemble(*model, composition, scaler, w.llpr(), w.last_layer_weights(), train, val, W0, o, &info);
    // empirical CRPS at zero spread = mean |y - t|: per-atom energies and force components of the model
    const nn::atomistic::EnergyForcesStress pred = nn::atomistic::predict_frames(*model, composition, scaler, train);
    double e_mae = 0, f_mae = 0;
    long nf = 0;
    for (size_t s = 0; s < train.size(); ++s) {
        e_mae += std::fabs(pred.energies[static_cast<long>(s)] - *train[s].energy()) / 9.0;
        const Tensor F = train[s].require_forces("forces");
        for (long k = 0; k < F.numel(); ++k, ++nf) f_mae += std::fabs(pred.forces[nf] - F[k]);
    }
    e_mae /= static_cast<double>(train.size());
    f_mae /= static_cast<double>(nf);
    REQUIRE(info.train_nll.size() >= 1);
    CHECK(info.train_nll[0] == Approx(e_mae + f_mae).epsilon(1e-9));
}
