// uq/llpr_model: the LLPR-wrapped SOAP-BPNN. sigma against closed-form Bayesian linear regression
// on the model's own features, alpha by hand, ensemble means equal the model, member forces and
// stress from the one batched Jacobian against the model's autodiff forces and finite
// differences, the member spread against the closed form, checkpoint round trip, larger sigma on
// displaced geometries, and the one-line errors. Tiny models (cutoff 4, l_max 2, n_max 2, one hidden
// layer of 8) on the 20 ethanol test frames keep every case well under a second.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "autodiff/ops.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/bpnn/trainer.hpp"
#include "nn/tabular.hpp"
#include "tests/cli/cli_helpers.hpp"
#include "tests/helpers.hpp"
#include "tests/uq/llpr_checks.hpp"
#include "uq/calibration.hpp"
#include "uq/llpr_model.hpp"

using ad::Tensor;
using Catch::Matchers::Contains;
using testing::AllClose;

using testing::max_abs;

namespace {

nn::bpnn::BpnnHypers tiny_hypers() {
    nn::bpnn::BpnnHypers h;
    h.cutoff = 4.0;
    h.max_angular = 2;
    h.max_radial = 2;
    h.num_hidden_layers = 1;
    h.num_neurons_per_layer = 8;
    return h;
}

std::vector<desc::System> frames(const std::string& file) { return desc::read_extxyz(cli_testing::repo_file(file)); }

struct Setup {
    std::shared_ptr<nn::bpnn::SoapBpnn> model;
    nn::bpnn::CompositionModel composition;
    nn::bpnn::EnergyScaler scaler;
    std::vector<desc::System> train, val;
};

// A tiny model trained briefly on frames [0, n_train) of `file`, validated on [n_train, n_end).
Setup trained(const std::string& file, long n_train, long n_end, int epochs, uint64_t seed) {
    Setup r;
    std::vector<desc::System> all = frames(file);
    r.train.assign(all.begin(), all.begin() + n_train);
    r.val.assign(all.begin() + n_train, all.begin() + n_end);
    nn::bpnn::TrainerSettings t;
    t.hypers = tiny_hypers();
    t.num_epochs = epochs;
    t.batch_size = 4;
    t.learning_rate = 0.01;
    t.seed = seed;
    nn::bpnn::TrainedModel m = nn::bpnn::train_soap_bpnn(r.train, r.val, t);
    r.model = m.model;
    r.composition = m.composition;
    r.scaler = m.scaler;
    return r;
}

// 4 epochs on 14 ethanol frames, 6 for validation.
Setup trained_setup() {
    static Setup s = trained("tests/data/ethanol-xtb-20.xyz", 14, 20, 4, 1);
    return s;
}

uq::LlprModel wrap(const Setup& s, long members = 0, std::optional<double> regularizer = std::nullopt,
                   uq::LlprCalibration method = uq::LlprCalibration::absolute_residuals) {
    uq::LlprFitOptions o;
    o.batch_size = 4;
    o.num_ensemble_members = members;
    o.regularizer = regularizer;
    o.calibration = method;
    o.seed = 5;
    return uq::LlprModel::fit(s.model, s.composition, s.scaler, s.train, s.val, o);
}

// sigma^2 = alpha^2 f (X^T X + r I)^-1 f^T with X the per-atom-normalised training features and
// alpha by hand from the validation residuals (squared_residuals), per structure and per atom.
void check_closed_form_blr(const Setup& s) {
    const double r = 1e-4;  // a given regulariser: the closed form below uses it as is
    uq::LlprModel w = wrap(s, 0, r, uq::LlprCalibration::squared_residuals);
    const long nt = static_cast<long>(s.train.size()), nv = static_cast<long>(s.val.size());
    // Design matrix of the training split: rows phi_s / N_s (per-atom normalised, as the loss).
    nn::bpnn::Batch tb = nn::bpnn::make_batch(s.train, s.model->cutoff());
    Tensor phi = w.predict(tb, uq::EnsembleForces::no).last_layer_features;  // [nt, P]
    const long P = phi.dim(1);
    Tensor Xd = phi.clone();
    for (long i = 0; i < nt; ++i)
        for (long c = 0; c < P; ++c) Xd.data()[i * P + c] /= static_cast<double>(s.train[static_cast<size_t>(i)].n_atoms());
    Tensor A = ad::matmul_tn(Xd, Xd);
    for (long c = 0; c < P; ++c) A.data()[c * P + c] += r;
    Tensor Ainv = ad::inverse(A);
    // alpha by hand: squared residuals on the validation split, in eV.
    uq::LlprPrediction pv = w.predict(s.val, uq::EnsembleForces::no);
    Tensor quad_v = ad::sum(ad::mul(ad::matmul(pv.last_layer_features, Ainv), pv.last_layer_features), {1});
    std::vector<double> ref(static_cast<size_t>(nv));
    double msz = 0;
    for (long i = 0; i < nv; ++i) {
        ref[static_cast<size_t>(i)] = *s.val[static_cast<size_t>(i)].energy();
        const double e = pv.energies[i] - ref[static_cast<size_t>(i)];
        msz += e * e / quad_v[i];
    }
    const double alpha = std::sqrt(msz / static_cast<double>(nv));
    CHECK(w.llpr().alpha() == Approx(alpha).epsilon(1e-9));
    // per structure and per atom: sigma^2 = alpha^2 f (X^T X + r I)^-1 f^T
    for (const Tensor& f : {pv.last_layer_features, pv.atom_last_layer_features}) {
        Tensor var = ad::sum(ad::mul(ad::matmul(f, Ainv), f), {1}) * (alpha * alpha);
        Tensor sig = f.dim(0) == nv ? pv.energy_uncertainty : pv.atom_energy_uncertainty;
        CHECK_THAT(ad::square(sig), AllClose(var, 1e-8, 0));
    }
    // calibrated on these residuals: the validation mean squared z is 1
    CHECK(uq::mean_squared_z(pv.energies, ad::square(pv.energy_uncertainty), ad::tensor(ref)) == Approx(1.0).epsilon(1e-9));
    // per-atom features sum to the structure's; the energy is phi w_e + baseline
    nn::bpnn::Batch vb = nn::bpnn::make_batch(s.val, s.model->cutoff());
    Tensor sum_atoms = ad::index_add(Tensor::zeros({nv, P}), 0, vb.structure, pv.atom_last_layer_features);
    CHECK_THAT(sum_atoms, AllClose(pv.last_layer_features, 1e-12, 1e-12));
    Tensor E = ad::add(ad::reshape(ad::matmul(pv.last_layer_features, ad::reshape(w.last_layer_weights(), {P, 1})), {nv}),
                       s.composition.baseline(vb));
    CHECK_THAT(E, AllClose(pv.energies, 1e-12, 1e-9));
    // 1000 members: the ensemble mean is the prediction; the members' standard deviation estimates
    // sigma with relative standard error 1/sqrt(2 * 999) = 2.24 % per structure, so its RMS over the
    // nt + nv structures stays below 3 % (chi-squared bound: fails with probability ~1 % at 22 structures)
    uq::LlprModel big = wrap(s, 1000, r, uq::LlprCalibration::squared_residuals);
    std::vector<desc::System> all = s.train;
    all.insert(all.end(), s.val.begin(), s.val.end());
    uq::LlprPrediction pe = big.predict(all, uq::EnsembleForces::no);
    const long n = nt + nv;
    CHECK_THAT(ad::mean(pe.energy_ensemble, {1}), AllClose(pe.energies, 1e-12, 1e-9));
    Tensor sd = ad::sqrt(ad::sum(ad::square(ad::sub(pe.energy_ensemble, ad::reshape(pe.energies, {n, 1}))), {1}) / 999.0);
    double acc = 0;
    for (long i = 0; i < n; ++i) acc += std::pow(sd[i] / pe.energy_uncertainty[i] - 1, 2);
    CHECK(std::sqrt(acc / static_cast<double>(n)) < 0.03);
}

// A briefly trained tiny model on 16 periodic Cu frames (32 atoms each) of examples/copper, 6 for
// validation.
Setup copper_setup() {
    static Setup s = trained("examples/copper/train.xyz", 16, 22, 3, 2);
    return s;
}

}  // namespace

TEST_CASE("llpr_model: sigma equals closed-form Bayesian linear regression on the model's features", "[uq][llpr]") {
    SECTION("ethanol") { check_closed_form_blr(trained_setup()); }
    SECTION("copper (periodic)") { check_closed_form_blr(copper_setup()); }
}

TEST_CASE("llpr_model: ensemble means equal the model; member forces by one Jacobian", "[uq][llpr]") {
    Setup s = trained_setup();
    uq::LlprModel w = wrap(s, 16);
    REQUIRE(w.n_members() == 16);
    std::vector<desc::System> test(s.val.begin(), s.val.begin() + 3);
    nn::bpnn::Batch b = nn::bpnn::make_batch(test, 4.0);
    uq::LlprPrediction p = w.predict(b);
    const long n = b.n_atoms(), K = 16;
    REQUIRE(p.energy_ensemble.shape() == ad::Shape{3, K});
    REQUIRE(p.forces_ensemble.shape() == ad::Shape{n, 3, K});
    // the outputs of the Jacobian's pass equal the model's forward ones
    uq::LlprPrediction pn = w.predict(b, uq::EnsembleForces::no);
    CHECK_THAT(p.energies, AllClose(pn.energies, 1e-13, 1e-10));
    CHECK_THAT(p.last_layer_features, AllClose(pn.last_layer_features, 1e-12, 1e-12));
    CHECK_THAT(p.atom_last_layer_features, AllClose(pn.atom_last_layer_features, 1e-12, 1e-12));
    CHECK_THAT(p.features, AllClose(pn.features, 1e-12, 1e-12));
    CHECK_THAT(p.energy_uncertainty, AllClose(pn.energy_uncertainty, 1e-10, 0));
    // members re-centred on the model: the ensemble means are the prediction
    CHECK_THAT(ad::mean(p.energy_ensemble, {1}), AllClose(p.energies, 1e-12, 1e-9));
    CHECK_THAT(ad::mean(p.forces_ensemble, {2}), AllClose(p.forces, 1e-9, 1e-9));
    // metatrain's names
    CHECK(uq::named_output(p, "mtt::aux::energy_uncertainty").data() == p.energy_uncertainty.data());
    CHECK(uq::named_output(p, "mtt::aux::energy_last_layer_features/per_atom").shape() == ad::Shape{n, 24});
    CHECK(uq::named_output(p, "energy_ensemble/forces").shape() == ad::Shape{n, 3, K});
    CHECK(uq::named_outputs(p).size() == 15);
    REQUIRE_THROWS_WITH(uq::named_output(p, "energy_variance"),
                        Contains("expected one of the outputs energy, energy_uncertainty,") && Contains("got 'energy_variance'"));
    CHECK(uq::named_outputs(w.predict(b, uq::EnsembleForces::no)).size() == 12);  // no member forces
    // the model's own forces, from its autodiff graph, equal -G w_e
    nn::bpnn::EnergyForcesStress ref = nn::bpnn::predict(s.model->energy_forces_stress(b, ad::CreateGraph::no), s.scaler,
                                                         s.composition.baseline(b));
    CHECK_THAT(p.forces, AllClose(ref.forces, 1e-9, 1e-10));
    CHECK(max_abs(p.forces) > 1e-3);
    llpr_checks::check_member_forces_fd(w, b, p, {0, 7, 15});
    // the spread of many members estimates the closed form alpha |G_ia L| (relative error ~ 1/sqrt(2(K-1)))
    uq::LlprModel big = wrap(s, 4000);
    uq::LlprPrediction pb = big.predict(b);
    CHECK_THAT(pb.forces_llpr_uncertainty, AllClose(p.forces_llpr_uncertainty, 1e-12, 1e-15));
    double worst = 0;
    for (long r = 0; r < 3 * n; ++r)
        worst = std::max(worst, std::fabs(pb.forces_uncertainty[r] / pb.forces_llpr_uncertainty[r] - 1));
    CHECK(worst < 0.08);  // 4000 members: 1.1 % standard error per entry, 81 entries
    Tensor e_sd = ad::sqrt(ad::sum(ad::square(ad::sub(pb.energy_ensemble, ad::reshape(pb.energies, {3, 1}))), {1}) / 3999.0);
    CHECK_THAT(e_sd, AllClose(pb.energy_uncertainty, 0.08, 0));
}

TEST_CASE("llpr_model: ensemble stress of periodic frames equals the model's", "[uq][llpr]") {
    std::vector<desc::System> cu = frames("tests/data/cu-emt-6.xyz");
    std::vector<desc::System> train(cu.begin(), cu.begin() + 3), val(cu.begin() + 3, cu.end());
    nn::bpnn::BpnnHypers h = tiny_hypers();
    ad::Rng rng(2);
    auto model = std::make_shared<nn::bpnn::SoapBpnn>(h, std::vector<int>{29}, rng);
    std::vector<std::vector<int>> numbers;
    std::vector<double> energies;
    for (const auto& f : train) {
        numbers.push_back(f.numbers);
        energies.push_back(*f.energy());
    }
    auto comp = nn::bpnn::CompositionModel::fit(numbers, energies, {29});
    uq::LlprFitOptions o;
    o.num_ensemble_members = 4;
    uq::LlprModel w = uq::LlprModel::fit(model, comp, nn::bpnn::EnergyScaler{0.7}, train, val, o);
    std::vector<desc::System> two(cu.begin(), cu.begin() + 2);
    nn::bpnn::Batch b = nn::bpnn::make_batch(two, 4.0);
    uq::LlprPrediction p = w.predict(b);
    nn::bpnn::EnergyForcesStress ref = nn::bpnn::predict(model->energy_forces_stress(b, ad::CreateGraph::no),
                                                         nn::bpnn::EnergyScaler{0.7}, comp.baseline(b));
    CHECK_THAT(p.stress, AllClose(ref.stress, 1e-9, 1e-12));
    CHECK_THAT(p.forces, AllClose(ref.forces, 1e-9, 1e-12));
    CHECK(max_abs(p.stress) > 1e-6);
    CHECK_THAT(ad::mean(p.stress_ensemble, {3}), AllClose(p.stress, 1e-9, 1e-12));
}

TEST_CASE("llpr_model: checkpoint round trip; the wrapped file still holds the plain model", "[uq][llpr]") {
    Setup s = trained_setup();
    uq::LlprModel w = wrap(s, 6);
    testing::TempDir dir;
    w.save(dir.file("w.ckpt"));
    nn::Checkpoint ck = nn::load_checkpoint(dir.file("w.ckpt"));
    CHECK(uq::holds_llpr(ck));
    uq::LlprModel back = uq::LlprModel::load(dir.file("w.ckpt"));
    uq::LlprPrediction a = w.predict(s.val), b = back.predict(s.val);
    CHECK_THAT(b.energies, AllClose(a.energies, 0, 0));
    CHECK_THAT(b.energy_uncertainty, AllClose(a.energy_uncertainty, 0, 0));
    CHECK_THAT(b.energy_ensemble, AllClose(a.energy_ensemble, 0, 0));
    CHECK_THAT(b.forces_ensemble, AllClose(a.forces_ensemble, 0, 0));
    CHECK(back.llpr().alpha() == w.llpr().alpha());
    auto plain = nn::bpnn::SoapBpnn::from_checkpoint(uq::without_llpr(ck));
    CHECK(plain->species() == s.model->species());
    // a model without an ensemble round-trips too
    uq::LlprModel none = wrap(s, 0);
    none.save(dir.file("n.ckpt"));
    CHECK(uq::LlprModel::load(dir.file("n.ckpt")).n_members() == 0);
}

TEST_CASE("llpr_model: displaced geometries get larger sigma than training-like ones", "[uq][llpr]") {
    // No hotter trajectory is stored: the validation frames with every coordinate displaced by
    // N(0, 0.15^2) A stand in for one (the 500 K frames move atoms by ~0.05-0.1 A about their means).
    Setup s = trained_setup();
    uq::LlprModel w = wrap(s);
    std::vector<desc::System> hot = s.val;
    ad::Rng rng(11);
    for (auto& f : hot) f.positions = ad::add(f.positions, rng.normal(f.positions.shape(), 0.0, 0.15));
    Tensor cold_sigma = w.predict(s.val, uq::EnsembleForces::no).energy_uncertainty;
    Tensor hot_sigma = w.predict(hot, uq::EnsembleForces::no).energy_uncertainty;
    CHECK(ad::mean(hot_sigma).item() > 2 * ad::mean(cold_sigma).item());
}

TEST_CASE("llpr_model: frames from a hotter trajectory get larger sigma (copper, trained at 300 K)", "[uq][llpr]") {
    // examples/copper holds frames of 300, 600 and 900 K EMT trajectories (config_type
    // bulk32_T300, strained32_T900, ...). Train and calibrate on the 32-atom 300 K frames of
    // train.xyz only; the 300 K frames of test.xyz are "like the training set", the 900 K ones hotter.
    auto at = [](const std::vector<desc::System>& all, const std::string& T) {
        std::vector<desc::System> out;
        for (const auto& f : all) {
            const std::string* c = f.find_info("config_type");
            if (c && f.n_atoms() == 32 && c->size() > T.size() && c->compare(c->size() - T.size(), T.size(), T) == 0)
                out.push_back(f);
        }
        return out;
    };
    std::vector<desc::System> cold = at(frames("examples/copper/train.xyz"), "_T300");
    std::vector<desc::System> test = frames("examples/copper/test.xyz");
    std::vector<desc::System> test_cold = at(test, "_T300"), test_hot = at(test, "_T900");
    REQUIRE(cold.size() == 26);
    REQUIRE(test_cold.size() == 10);
    REQUIRE(test_hot.size() == 6);
    Setup s;
    s.train.assign(cold.begin(), cold.begin() + 20);
    s.val.assign(cold.begin() + 20, cold.end());
    nn::bpnn::TrainerSettings t;
    t.hypers = tiny_hypers();
    t.num_epochs = 12;
    t.batch_size = 4;
    t.learning_rate = 0.01;
    t.seed = 3;
    nn::bpnn::TrainedModel m = nn::bpnn::train_soap_bpnn(s.train, s.val, t);
    s.model = m.model;
    s.composition = m.composition;
    s.scaler = m.scaler;
    uq::LlprModel w = wrap(s);
    const double sigma_cold = ad::mean(w.predict(test_cold, uq::EnsembleForces::no).energy_uncertainty).item();
    const double sigma_hot = ad::mean(w.predict(test_hot, uq::EnsembleForces::no).energy_uncertainty).item();
    INFO("mean sigma 300 K " << sigma_cold << " eV, 900 K " << sigma_hot << " eV");
    CHECK(sigma_hot > 1.5 * sigma_cold);
}

TEST_CASE("llpr_model: bad input is a one-line error", "[uq][llpr]") {
    Setup s = trained_setup();
    // a validation set of one frame
    std::vector<desc::System> one(s.val.begin(), s.val.begin() + 1);
    uq::LlprFitOptions o;
    REQUIRE_THROWS_WITH(uq::LlprModel::fit(s.model, s.composition, s.scaler, s.train, one, o),
                        Contains("validation set of at least 2 frames") && Contains("got 1"));
    o.num_ensemble_members = 1;
    REQUIRE_THROWS_WITH(uq::LlprModel::fit(s.model, s.composition, s.scaler, s.train, s.val, o),
                        Contains("num_ensemble_members 0 (no ensemble) or >= 2, got 1"));
    // all-zero last-layer features: a model whose hidden layer is zero (SiLU(0) = 0)
    ad::Rng rng(1);
    auto zero = std::make_shared<nn::bpnn::SoapBpnn>(tiny_hypers(), std::vector<int>{1, 6, 8}, rng);
    for (auto& [name, t] : zero->named_parameters())
        if (name.find(".layers.") != std::string::npos) std::fill(t.data(), t.data() + t.numel(), 0.0);
    REQUIRE_THROWS_WITH(uq::LlprModel::fit(zero, s.composition, s.scaler, s.train, s.val, uq::LlprFitOptions{}),
                        Contains("llpr: expected a non-zero covariance, got all zeros"));
    // a tabular checkpoint has no last-layer features of an atomistic model
    nn::Checkpoint tab;
    tab.path = "mlp.ckpt";
    tab.metadata["architecture"] = "mlp";
    REQUIRE_THROWS_WITH(uq::load_model_with_last_layer_features(tab, nullptr, nullptr),
                        Contains("mlp.ckpt: expected a model with last-layer features (architecture 'nanopet', 'pet', "
                                 "'soap_bpnn'), got architecture 'mlp'"));
    REQUIRE_THROWS_WITH(uq::LlprModel::from_checkpoint(s.model->to_checkpoint()),
                        Contains("expected an LLPR-wrapped model"));
}

TEST_CASE("llpr_model: forward and reverse last-layer Jacobians agree with the model's forces and stress",
          "[uq][llpr]") {
    // Deeper networks (two hidden layers, mlp head), with and without layernorm, on ethanol (a
    // molecule: the rotation shortcut) and periodic Cu (strain rows); the reference is the model's
    // own autodiff forces and stress, -G w^T and G_eps w^T / V.
    std::vector<desc::System> eth = frames("tests/data/ethanol-xtb-5.xyz");
    std::vector<desc::System> cu = frames("tests/data/cu-emt-6.xyz");
    for (bool layernorm : {true, false}) {
        nn::bpnn::BpnnHypers h = tiny_hypers();
        h.num_hidden_layers = 2;
        h.num_neurons_per_layer = 6;
        h.layernorm = layernorm;
        h.energy_head = nn::bpnn::Head::mlp;
        for (const auto* set : {&eth, &cu}) {
            std::vector<desc::System> part(set->begin(), set->begin() + 2);
            ad::Rng rng(4);
            nn::bpnn::SoapBpnn model(h, desc::unique_numbers(*set), rng);
            nn::bpnn::Batch b = nn::bpnn::make_batch(part, 4.0);
            nn::bpnn::EnergyForcesStress ref = model.energy_forces_stress(b, ad::CreateGraph::no);
            const long n = b.n_atoms(), P = static_cast<long>(model.species().size()) * 6;
            Tensor w = ad::reshape(model.last_layer_weights().detach(), {P, 1});
            for (uq::JacobianMode mode : {uq::JacobianMode::forward, uq::JacobianMode::reverse}) {
                INFO("layernorm " << layernorm << ", " << (set == &eth ? "ethanol" : "cu") << ", mode "
                                  << (mode == uq::JacobianMode::forward ? "forward" : "reverse"));
                Tensor G = uq::soap_bpnn_last_layer_jacobian(model, b, mode);
                REQUIRE(G.shape() == ad::Shape{n + 6, 3, P});
                Tensor dE = ad::reshape(ad::matmul(ad::reshape(G, {(n + 6) * 3, P}), w), {-1});
                Tensor F = ad::reshape(ad::neg(ad::slice(dE, 0, 0, 3 * n)), {n, 3});
                CHECK_THAT(F, AllClose(ref.forces, 1e-8, 1e-11));
                if (set == &cu) {
                    for (long s = 0; s < 2; ++s)
                        for (long c = 0; c < 9; ++c)
                            CHECK(dE[3 * n + 9 * s + c] / b.volumes[static_cast<size_t>(s)] ==
                                  Approx(ref.stress[9 * s + c]).epsilon(1e-8).margin(1e-12));
                }
            }
        }
    }
}

TEST_CASE("llpr_model: a model with ZBL: the terms outside the network are in the prediction and every member",
          "[uq][llpr]") {
    std::vector<desc::System> all = frames("tests/data/ethanol-xtb-20.xyz");
    std::vector<desc::System> train(all.begin(), all.begin() + 12), val(all.begin() + 12, all.end());
    nn::bpnn::BpnnHypers h = tiny_hypers();
    h.zbl = true;
    ad::Rng rng(6);
    auto model = std::make_shared<nn::bpnn::SoapBpnn>(h, std::vector<int>{1, 6, 8}, rng);
    std::vector<std::vector<int>> numbers;
    std::vector<double> energies;
    for (const auto& f : train) {
        numbers.push_back(f.numbers);
        energies.push_back(*f.energy());
    }
    auto comp = nn::bpnn::CompositionModel::fit(numbers, energies, {1, 6, 8});
    uq::LlprFitOptions o;
    o.num_ensemble_members = 8;
    uq::LlprModel w = uq::LlprModel::fit(model, comp, nn::bpnn::EnergyScaler{0.3}, train, val, o);
    std::vector<desc::System> part(val.begin(), val.begin() + 3);
    uq::LlprPrediction p = w.predict(part);
    nn::bpnn::EnergyForcesStress ref = nn::bpnn::predict_frames(*model, comp, nn::bpnn::EnergyScaler{0.3}, part);
    CHECK_THAT(p.energies, AllClose(ref.energies, 1e-12, 1e-9));
    CHECK_THAT(p.forces, AllClose(ref.forces, 1e-8, 1e-10));
    CHECK_THAT(ad::mean(p.energy_ensemble, {1}), AllClose(ref.energies, 1e-12, 1e-9));
    CHECK_THAT(ad::mean(p.forces_ensemble, {2}), AllClose(ref.forces, 1e-8, 1e-10));
    // calibrated against the residuals of that prediction: squared residuals give ZMS 1 exactly
    o.calibration = uq::LlprCalibration::squared_residuals;
    uq::LlprModel sq = uq::LlprModel::fit(model, comp, nn::bpnn::EnergyScaler{0.3}, train, val, o);
    uq::LlprPrediction pv = sq.predict(val, uq::EnsembleForces::no);
    std::vector<double> e_ref;
    for (const auto& f : val) e_ref.push_back(*f.energy());
    CHECK(uq::mean_squared_z(pv.energies, ad::square(pv.energy_uncertainty), ad::tensor({8}, e_ref)) ==
          Approx(1.0).epsilon(1e-9));
    // a batch without its ZBL terms is refused
    REQUIRE_THROWS_WITH(w.predict(nn::bpnn::make_batch(part, 4.0)), Contains("expected the ZBL terms"));
}

TEST_CASE("llpr_model: training the ensemble weights lowers the ensemble NLL", "[uq][llpr]") {
    Setup s = trained_setup();
    uq::LlprFitOptions o;
    o.batch_size = 4;
    o.num_ensemble_members = 8;
    o.seed = 5;
    o.num_epochs = 30;
    o.learning_rate = 1e-2;
    uq::LlprFitInfo info;
    uq::LlprModel w = uq::LlprModel::fit(s.model, s.composition, s.scaler, s.train, s.val, o, &info);
    REQUIRE(info.train_nll.size() == 31);
    REQUIRE(info.val_nll.size() == 31);
    // (14 training structures for 24 features: the sampled members are far too narrow on them)
    CHECK(info.train_nll.back() < info.train_nll.front() - 0.5);  // per-atom NLL, from the sampled members
    const auto best = std::min_element(info.val_nll.begin(), info.val_nll.end()) - info.val_nll.begin();
    CHECK(info.best_epoch == best);  // the weights with the lowest validation NLL are kept
    // (epoch 0, the sampled ensemble, may win on so little data; then the weights are the sampled ones)
    uq::LlprModel sampled = wrap(s, 8);
    CHECK((max_abs(ad::sub(w.ensemble_weights(), sampled.ensemble_weights())) == 0.0) == (info.best_epoch == 0));
    // the LLPR sigma does not depend on the ensemble
    uq::LlprPrediction p = w.predict(s.val, uq::EnsembleForces::no), q = sampled.predict(s.val, uq::EnsembleForces::no);
    CHECK_THAT(p.energy_uncertainty, AllClose(q.energy_uncertainty, 0, 0));
    // no ensemble to train: an error
    o.num_ensemble_members = 0;
    REQUIRE_THROWS_WITH(uq::LlprModel::fit(s.model, s.composition, s.scaler, s.train, s.val, o),
                        Contains("expected num_ensemble_members >= 2 to train the ensemble weights"));
}

TEST_CASE("llpr_model: uncertainty_method laplace: evidence hypers on the per-atom training energies", "[uq][llpr]") {
    Setup s = trained_setup();
    uq::LlprFitOptions o;
    o.batch_size = 4;
    o.uncertainty_method = uq::UncertaintyMethod::laplace;
    o.num_ensemble_members = 8;
    o.include_noise = false;  // the epistemic part (the noise: the include_noise case below)
    // no validation set needed
    uq::LlprModel w = uq::LlprModel::fit(s.model, s.composition, s.scaler, s.train, {}, o);
    const uq::LlprLaplaceHypers& h = w.laplace_hypers();
    REQUIRE(w.uncertainty_method() == uq::UncertaintyMethod::laplace);
    // by hand: rows g_s = phi_s / N_s, targets (E*_s - b_s) / N_s in eV, weights w_e
    uq::LlprPrediction pt = w.predict(s.train, uq::EnsembleForces::no);
    const long n = 14, P = pt.last_layer_features.dim(1);
    Tensor G = ad::mul(pt.last_layer_features, 1.0 / 9.0);  // ethanol: 9 atoms
    double sse = 0;
    for (long i = 0; i < n; ++i) {
        const double e = (pt.energies[i] - *s.train[static_cast<size_t>(i)].energy()) / 9.0;
        sse += e * e;
    }
    Tensor we = w.last_layer_weights();
    double w2 = 0;
    for (long k = 0; k < P; ++k) w2 += we[k] * we[k];
    CHECK(h.sse == Approx(sse).epsilon(1e-9));
    CHECK(h.w_norm2 == Approx(w2).epsilon(1e-12));
    Tensor lambda = ad::eigh(ad::matmul_tn(G, G)).first;
    auto lml = [&](double tau, double sigma) { return uq::linear_evidence_lml(lambda, n, sse, w2, tau, sigma); };
    CHECK(h.lml == Approx(lml(h.prior_precision, h.sigma_noise)).epsilon(1e-8));
    for (double ft : {0.8, 1.25})
        for (double fs : {0.95, 1.05}) CHECK(lml(h.prior_precision * ft, h.sigma_noise * fs) < h.lml);
    // the LLPR core: alpha = sigma, r = sigma^2 tau; sigma_s^2 = phi_s (G^T G / sigma^2 + tau I)^-1 phi_s^T
    CHECK(w.llpr().alpha() == Approx(h.sigma_noise).epsilon(1e-14));
    CHECK(w.llpr().regularizer().value == Approx(h.sigma_noise * h.sigma_noise * h.prior_precision).epsilon(1e-12));
    Tensor Prec = ad::add(ad::mul(ad::matmul_tn(G, G), 1.0 / (h.sigma_noise * h.sigma_noise)),
                          ad::mul(ad::diag(Tensor::ones({P})), h.prior_precision));
    Tensor Sigma = ad::inverse(Prec);
    uq::LlprPrediction pv = w.predict(s.val, uq::EnsembleForces::yes);
    for (const Tensor& f : {pv.last_layer_features, pv.atom_last_layer_features}) {
        Tensor var = ad::sum(ad::mul(ad::matmul(f, Sigma), f), {1});
        Tensor sig = f.dim(0) == 6 ? pv.energy_uncertainty : pv.atom_energy_uncertainty;
        CHECK_THAT(ad::square(sig), AllClose(var, 1e-7, 0));
    }
    CHECK(pv.energy_ensemble.dim(1) == 8);
    CHECK(pv.forces_llpr_uncertainty.defined());
    // the method and hypers survive the checkpoint; without_llpr drops them
    nn::Checkpoint c = w.to_checkpoint();
    CHECK(c.metadata.at("llpr.uncertainty_method") == "laplace");
    CHECK(std::stod(c.metadata.at("llpr.laplace.prior_precision")) == h.prior_precision);
    uq::LlprModel back = uq::LlprModel::from_checkpoint(c);
    CHECK(back.uncertainty_method() == uq::UncertaintyMethod::laplace);
    CHECK(back.laplace_hypers().sigma_noise == h.sigma_noise);
    CHECK(back.laplace_hypers().lml == h.lml);
    CHECK(uq::without_llpr(c).metadata.count("llpr.laplace.sigma_noise") == 0);
    CHECK(uq::LlprModel::from_checkpoint(wrap(s).to_checkpoint()).uncertainty_method() == uq::UncertaintyMethod::llpr);
}

TEST_CASE("llpr_model: last-layer features of the covariance pass: forward()'s rows, same bits on 1 and 2 threads",
          "[uq][llpr]") {
    std::vector<desc::System> all = frames("tests/data/ethanol-xtb-20.xyz");
    ad::Rng rng(3);
    nn::bpnn::SoapBpnn model(tiny_hypers(), std::vector<int>{1, 6, 8}, rng);
    const long P = 3 * model.n_features();
    Tensor ref = Tensor::empty({static_cast<long>(all.size()), P});
    {
        ad::NoGrad no_grad;
        Tensor f = model.forward(nn::bpnn::make_batch(all, model.hypers().cutoff)).last_layer_features;
        std::copy(f.data(), f.data() + f.numel(), ref.data());
    }
    std::vector<Tensor> got;
    for (int threads : {1, 2}) {
        nn::bpnn::set_num_threads(threads);
        std::vector<long> counts;
        got.push_back(uq::soap_bpnn_last_layer_features(model, all, 3, &counts));  // 7 batches, last one of 2
        REQUIRE(counts.size() == all.size());
        for (long c : counts) CHECK(c == 9);
    }
    nn::bpnn::set_num_threads(0);
    REQUIRE(got[0].shape() == ref.shape());
    CHECK(max_abs(got[0] - ref) < 1e-12);
    CHECK(std::equal(got[0].data(), got[0].data() + got[0].numel(), got[1].data()));  // same bits
    // the covariance is their accumulation, phi_s / N_s
    uq::LlprCovariance direct(P);
    direct.add(ref, std::vector<long>(all.size(), 9));
    CHECK(max_abs(uq::soap_bpnn_llpr_covariance(model, all, 3).matrix() - direct.matrix()) <
          1e-12 * (1 + max_abs(direct.matrix())));
}

TEST_CASE("llpr_model: the covariance pass's features equal forward()'s for periodic frames and deeper networks",
          "[uq][llpr]") {
    std::vector<desc::System> cu = frames("tests/data/cu-emt-6.xyz");
    std::vector<desc::System> eth = frames("tests/data/ethanol-xtb-5.xyz");
    for (bool layernorm : {true, false})
        for (const auto* set : {&cu, &eth}) {
            nn::bpnn::BpnnHypers h = tiny_hypers();
            h.num_hidden_layers = 2;
            h.layernorm = layernorm;
            ad::Rng rng(5);
            nn::bpnn::SoapBpnn model(h, desc::unique_numbers(*set), rng);
            INFO("layernorm " << layernorm << ", " << (set == &cu ? "cu" : "ethanol"));
            Tensor ref;
            {
                ad::NoGrad no_grad;
                ref = model.forward(nn::bpnn::make_batch(*set, model.hypers().cutoff)).last_layer_features;
            }
            const Tensor got = uq::soap_bpnn_last_layer_features(model, *set, 2);
            REQUIRE(got.shape() == ref.shape());
            CHECK(max_abs(got - ref) < 1e-12 * (1 + max_abs(ref)));
        }
}

TEST_CASE("llpr_model: ensemble losses: values by hand, Gaussian CRPS against its integral, gradgradcheck, errors",
          "[uq][llpr]") {
    // CRPS(N(mu, s^2), t) = int (Phi((y - mu) / s) - 1{y >= t})^2 dy, by Simpson's rule on
    // [mu - 14 s, mu + 14 s] (the integrand is below 1e-40 outside) split at t (the step).
    auto crps_integral = [](double t, double mu, double s) {
        auto F = [&](double y) { return 0.5 * (1.0 + std::erf((y - mu) / (s * std::sqrt(2.0)))); };
        auto simpson = [](auto f, double a, double b) {
            const long n = 20000;
            const double h = (b - a) / n;
            double acc = f(a) + f(b);
            for (long k = 1; k < n; ++k) acc += (k % 2 ? 4.0 : 2.0) * f(a + k * h);
            return acc * h / 3.0;
        };
        const double lo = std::min(t, mu - 14 * s), hi = std::max(t, mu + 14 * s);
        return simpson([&](double y) { return F(y) * F(y); }, lo, t) +
               simpson([&](double y) { return (1 - F(y)) * (1 - F(y)); }, t, hi);
    };
    for (double t : {0.3, -1.7, 0.0, 4.0})
        for (double s : {0.2, 1.0, 2.5}) {
            INFO("t " << t << ", sigma " << s);
            // Simpson with 20000 panels on a smooth integrand: ~1e-12 relative
            CHECK(uq::gaussian_crps(t - 0.1, s) == Approx(crps_integral(t, 0.1, s)).epsilon(1e-9));
        }
    CHECK(uq::gaussian_crps(0.0, 1.0) == Approx((std::sqrt(2.0) - 1.0) / std::sqrt(M_PI)).epsilon(1e-14));

    // two rows of three members
    const Tensor y = ad::tensor({2, 3}, {1.0, 2.0, 4.0, -1.0, 0.5, 0.0});
    const Tensor t = ad::tensor({3.0, -2.0});
    double nll = 0, crps = 0, emp = 0;
    for (long i = 0; i < 2; ++i) {
        const double a = y[3 * i], b = y[3 * i + 1], c = y[3 * i + 2], mu = (a + b + c) / 3;
        const double v = ((a - mu) * (a - mu) + (b - mu) * (b - mu) + (c - mu) * (c - mu)) / 2;
        nll += 0.5 * (std::log(v) + (t[i] - mu) * (t[i] - mu) / v) / 2;
        crps += uq::gaussian_crps(t[i] - mu, std::sqrt(v)) / 2;
        const double pairs = 2 * (std::fabs(a - b) + std::fabs(a - c) + std::fabs(b - c));
        emp += ((std::fabs(a - t[i]) + std::fabs(b - t[i]) + std::fabs(c - t[i])) / 3 - pairs / 18) / 2;
    }
    CHECK(uq::ensemble_loss(uq::EnsembleLoss::gaussian_nll, y, t).item() == Approx(nll).epsilon(1e-14));
    CHECK(uq::ensemble_loss(uq::EnsembleLoss::gaussian_crps, y, t).item() == Approx(crps).epsilon(1e-14));
    CHECK(uq::ensemble_loss(uq::EnsembleLoss::empirical_crps, y, t).item() == Approx(emp).epsilon(1e-14));
    // the rank form of sum_kl |y_k - y_l| against the pairs, on rows with a tie
    {
        Tensor yr = ad::Rng(4).normal({5, 7});
        yr.data()[3] = yr.data()[5];
        const Tensor tr = ad::Rng(6).normal({5});
        double want = 0;
        for (long i = 0; i < 5; ++i) {
            double a = 0, b = 0;
            for (long k = 0; k < 7; ++k) {
                a += std::fabs(yr[i * 7 + k] - tr[i]) / 7;
                for (long l = 0; l < 7; ++l) b += std::fabs(yr[i * 7 + k] - yr[i * 7 + l]) / (2 * 49);
            }
            want += (a - b) / 5;
        }
        CHECK(uq::ensemble_loss(uq::EnsembleLoss::empirical_crps, yr, tr).item() == Approx(want).epsilon(1e-13));
    }
    // the empirical CRPS of one member is the absolute error
    CHECK(uq::ensemble_loss(uq::EnsembleLoss::empirical_crps, ad::tensor({1, 2}, {0.5, 0.5}), ad::tensor({2.0})).item() ==
          Approx(1.5).epsilon(1e-15));
    for (auto loss : {uq::EnsembleLoss::gaussian_nll, uq::EnsembleLoss::gaussian_crps, uq::EnsembleLoss::empirical_crps}) {
        INFO(uq::to_string(loss));
        CHECK(uq::parse_ensemble_loss(uq::to_string(loss)) == loss);
        auto f = [loss](const ad::Inputs& x) { return uq::ensemble_loss(loss, x[0], x[1]); };
        Tensor yy = y.clone().set_requires_grad(true), tt = t.clone().set_requires_grad(true);
        CHECK(ad::gradcheck(f, {yy, tt}));
        // (|.| has no second derivative but 0, which the empirical CRPS's check also confirms)
        CHECK(ad::gradgradcheck(f, {yy, tt}));
    }
    REQUIRE_THROWS_WITH(uq::ensemble_loss(uq::EnsembleLoss::gaussian_nll, ad::tensor({2, 1}, {1.0, 2.0}), t),
                        Contains("ensemble_loss expected predictions [n, K >= 2] and targets [n], got [2, 1]"));
    REQUIRE_THROWS_WITH(uq::parse_ensemble_loss("crps"), Contains("expected loss 'gaussian_nll_ensemble'") &&
                                                             Contains("got 'crps'"));
}

TEST_CASE("llpr_model: ensemble training with the CRPS losses and forces lowers the loss", "[uq][llpr]") {
    Setup s = trained_setup();  // ethanol frames with forces
    for (auto loss : {uq::EnsembleLoss::gaussian_crps, uq::EnsembleLoss::empirical_crps}) {
        INFO(uq::to_string(loss));
        uq::LlprFitOptions o;
        o.batch_size = 4;
        o.num_ensemble_members = 8;
        o.seed = 5;
        o.num_epochs = 20;
        o.learning_rate = 5e-2;
        o.loss = o.forces_loss = loss;
        uq::LlprFitInfo info;
        uq::LlprModel w = uq::LlprModel::fit(s.model, s.composition, s.scaler, s.train, s.val, o, &info);
        CHECK(info.used_forces);
        REQUIRE(info.train_nll.size() == 21);
        // measured: train 0.65 -> 0.50, validation 0.59 -> 0.51 (both losses, energies + forces)
        CHECK(info.train_nll.back() < 0.85 * info.train_nll.front());
        CHECK(info.val_nll.back() < 0.92 * info.val_nll.front());
        CHECK(info.val_nll[static_cast<size_t>(info.best_epoch)] ==
              *std::min_element(info.val_nll.begin(), info.val_nll.end()));
        // entry 0 is the loss of the sampled members by hand: energies per atom plus forces
        uq::LlprModel sampled = wrap(s, 8);
        uq::LlprPrediction p = sampled.predict(s.train, uq::EnsembleForces::yes);
        Tensor tE = Tensor::empty({14}), tF = ad::reshape(p.forces, {-1});
        std::vector<Tensor> F;
        for (long i = 0; i < 14; ++i) {
            tE.data()[i] = *s.train[static_cast<size_t>(i)].energy() / 9.0;
            F.push_back(s.train[static_cast<size_t>(i)].require_forces());
        }
        const double by_hand =
            uq::ensemble_loss(loss, ad::mul(p.energy_ensemble, 1.0 / 9.0), tE).item() +
            uq::ensemble_loss(loss, ad::reshape(p.forces_ensemble, {-1, 8}), ad::reshape(ad::concat(F, 0), {-1})).item();
        CHECK(info.train_nll.front() == Approx(by_hand).epsilon(1e-9));  // Jacobian vs autodiff rows: ~1e-12
    }
    // without the force column the loss is on energies only
    std::vector<desc::System> train = s.train;
    for (auto& f : train) f.erase_array("forces");
    uq::LlprFitOptions o;
    o.batch_size = 4;
    o.num_ensemble_members = 4;
    o.num_epochs = 1;
    uq::LlprFitInfo info;
    uq::LlprModel::fit(s.model, s.composition, s.scaler, train, s.val, o, &info);
    CHECK_FALSE(info.used_forces);
    o.forces_required = true;
    REQUIRE_THROWS_WITH(uq::LlprModel::fit(s.model, s.composition, s.scaler, train, s.val, o), Contains("forces"));
}

TEST_CASE("llpr_model: include_noise adds N_s^2 sigma^2 to the laplace energy variance; checkpoints keep it",
          "[uq][llpr]") {
    Setup s = trained_setup();
    uq::LlprFitOptions o;
    o.batch_size = 4;
    o.uncertainty_method = uq::UncertaintyMethod::laplace;
    uq::LlprModel noisy = uq::LlprModel::fit(s.model, s.composition, s.scaler, s.train, {}, o);  // default: true
    o.include_noise = false;
    uq::LlprModel epistemic = uq::LlprModel::fit(s.model, s.composition, s.scaler, s.train, {}, o);
    REQUIRE(noisy.include_noise());
    REQUIRE_FALSE(epistemic.include_noise());
    const double sigma = noisy.laplace_hypers().sigma_noise;
    REQUIRE(sigma > 0);
    uq::LlprPrediction p = noisy.predict(s.val), q = epistemic.predict(s.val);
    // ethanol: N_s = 9 atoms in every frame
    CHECK_THAT(ad::square(p.energy_uncertainty), AllClose(ad::add(ad::square(q.energy_uncertainty), 81.0 * sigma * sigma), 1e-12, 0));
    // the per-atom, force and ensemble outputs stay epistemic
    CHECK_THAT(p.atom_energy_uncertainty, AllClose(q.atom_energy_uncertainty, 0, 0));
    // checkpoints: the flag round trips; a file without it (older) loads without noise
    nn::Checkpoint c = noisy.to_checkpoint();
    CHECK(c.metadata.at("llpr.include_noise") == "true");
    CHECK(uq::LlprModel::from_checkpoint(c).include_noise());
    c.metadata.erase("llpr.include_noise");
    uq::LlprModel old = uq::LlprModel::from_checkpoint(c);
    CHECK_FALSE(old.include_noise());
    CHECK_THAT(old.predict(s.val).energy_uncertainty, AllClose(q.energy_uncertainty, 1e-12, 0));
    c.metadata["llpr.include_noise"] = "yes";
    REQUIRE_THROWS_WITH(uq::LlprModel::from_checkpoint(c), Contains("expected metadata 'llpr.include_noise' true or false, got 'yes'"));
    // llpr has no noise: include_noise = true is refused, false is its default
    CHECK_FALSE(wrap(s).include_noise());
    uq::LlprFitOptions l;
    l.batch_size = 4;
    l.include_noise = true;
    REQUIRE_THROWS_WITH(uq::LlprModel::fit(s.model, s.composition, s.scaler, s.train, s.val, l),
                        Contains("expected include_noise only with uncertainty_method 'laplace'"));
}
