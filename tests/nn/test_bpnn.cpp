// SOAP-BPNN (nn/bpnn/): hypers, parameter names, values at init, forces and stress against finite
// differences of the predicted energy, invariances, the force-loss gradient w.r.t. parameters,
// the composition baseline, checkpoints.
// Values at init use ad::Rng(42) and metatrain's default hypers; they are checked for finiteness,
// reproducibility and invariances rather than against stored numbers (no reference model exists).
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "autodiff/ops.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/bpnn/bpnn.hpp"
#include "tests/nn/atomistic/model_checks.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using nn::bpnn::Batch;
using nn::bpnn::BpnnHypers;
using nn::bpnn::SoapBpnn;
using model_checks::energy_of;
using model_checks::ethanol;
using model_checks::max_abs;
using model_checks::transformed;
using testing::AllClose;

namespace {

desc::System copper() { return testing::test_frames("cu-emt-6.xyz").at(1); }  // strained32: 32 Cu, periodic

BpnnHypers tiny_hypers() {
    BpnnHypers h;
    h.cutoff = 4.0;
    h.cutoff_width = 0.5;
    h.max_angular = 2;
    h.max_radial = 2;
    h.num_neurons_per_layer = 4;
    return h;
}

// A proper rotation (Rodrigues) about a fixed non-axis direction.
void rotation(double angle, double Q[9]) {
    double u[3] = {0.3, -0.5, 0.81};
    double nrm = std::sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2]);
    for (double& x : u) x /= nrm;
    double c = std::cos(angle), s = std::sin(angle);
    double K[9] = {0, -u[2], u[1], u[2], 0, -u[0], -u[1], u[0], 0};
    for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) {
            double K2 = 0;
            for (int k = 0; k < 3; ++k) K2 += K[a * 3 + k] * K[k * 3 + b];
            Q[a * 3 + b] = (a == b ? 1.0 : 0.0) + s * K[a * 3 + b] + (1 - c) * K2;
        }
}

}  // namespace

TEST_CASE("bpnn: hypers default to metatrain's soap_bpnn and round-trip through TOML", "[nn][bpnn]") {
    BpnnHypers h;
    CHECK(h.cutoff == 5.0);
    CHECK(h.cutoff_width == 0.5);
    CHECK(h.max_angular == 6);
    CHECK(h.max_radial == 7);
    CHECK(h.num_hidden_layers == 2);
    CHECK(h.num_neurons_per_layer == 32);
    CHECK(h.layernorm);
    CHECK(h.energy_head == nn::bpnn::Head::linear);
    // nn/bpnn/default.toml spells out the same defaults.
    auto toml_path = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "nn" / "bpnn" / "default.toml";
    std::ifstream in(toml_path);
    REQUIRE(in.good());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(BpnnHypers::from_toml(text, toml_path.string()).to_toml() == h.to_toml());
    BpnnHypers t = tiny_hypers();
    t.cutoff = 4.25;
    t.layernorm = false;
    BpnnHypers back = BpnnHypers::from_toml(t.to_toml(), "test");
    CHECK(back.to_toml() == t.to_toml());
    CHECK(back.cutoff == 4.25);
    CHECK_FALSE(back.layernorm);
    CHECK(BpnnHypers::from_toml("[bpnn]\nnum_neurons_per_layer = 8\n", "x").num_neurons_per_layer == 8);
    REQUIRE_THROWS_WITH(BpnnHypers::from_toml("[bpnn]\nnum_neurons = 8\n", "cfg.toml"),
                        Catch::Contains("cfg.toml: bpnn.num_neurons (line 2): unknown key"));
    REQUIRE_THROWS_WITH(BpnnHypers::from_toml("[soap]\nmax_angular = 2.5\n", "cfg.toml"),
                        Catch::Contains("soap.max_angular (line 2): wrong type"));
    CHECK(BpnnHypers::from_toml("[heads]\nenergy = \"mlp\"\n", "x").energy_head == nn::bpnn::Head::mlp);
    REQUIRE_THROWS_WITH(BpnnHypers::from_toml("[heads]\nenergy = \"deep\"\n", "cfg.toml"),
                        Catch::Contains("expected 'linear' or 'mlp', got 'deep'"));
}

TEST_CASE("bpnn: parameters are named per species and shaped D -> d -> d -> 1", "[nn][bpnn]") {
    ad::Rng rng(42);
    SoapBpnn model(tiny_hypers(), {8, 1, 6, 1}, rng);
    CHECK(model.species() == std::vector<int>{1, 6, 8});
    const long D = model.soap().n_features(), d = 4;
    std::vector<std::string> names;
    for (const auto& [name, t] : model.state_dict()) names.push_back(name);
    std::vector<std::string> expected;
    for (int Z : {1, 6, 8}) {
        expected.push_back("layernorms." + std::to_string(Z) + ".weight");
        expected.push_back("layernorms." + std::to_string(Z) + ".bias");
    }
    for (int Z : {1, 6, 8})
        for (int k : {0, 1}) expected.push_back("bpnn." + std::to_string(Z) + ".layers." + std::to_string(k) + ".weight");
    for (int Z : {1, 6, 8}) expected.push_back("last_layers." + std::to_string(Z) + ".weight");
    CHECK(names == expected);
    auto sd = model.state_dict();
    CHECK(sd[0].second.shape() == ad::Shape{D});
    CHECK(sd[6].second.shape() == ad::Shape{d, D});
    CHECK(sd[7].second.shape() == ad::Shape{d, d});
    CHECK(sd[12].second.shape() == ad::Shape{1, d});
    CHECK(model.n_parameters() == 3 * (2 * D + d * D + d * d + d));
    CHECK(model.n_features() == d);

    BpnnHypers no_norm = tiny_hypers();
    no_norm.layernorm = false;
    no_norm.num_hidden_layers = 0;
    ad::Rng rng2(1);
    SoapBpnn linear(no_norm, {29}, rng2);
    CHECK(linear.state_dict().size() == 1);
    CHECK(linear.state_dict()[0].first == "last_layers.29.weight");
    CHECK(linear.n_features() == linear.soap().n_features());
}

TEST_CASE("bpnn: values at init are finite, reproducible, batch-independent and permutation-invariant", "[nn][bpnn]") {
    auto frames = testing::test_frames("ethanol-xtb-5.xyz");
    frames.resize(3);
    ad::Rng rng(42), rng_again(42);
    SoapBpnn model(BpnnHypers{}, {1, 6, 8}, rng), again(BpnnHypers{}, {1, 6, 8}, rng_again);
    CHECK(model.soap().n_features() == 2556);  // docs/soap.md: D for H, C, O at the defaults
    Batch batch = nn::bpnn::make_batch(frames, 5.0);
    ad::NoGrad no_grad;
    nn::bpnn::Output out = model.forward(batch);
    REQUIRE(out.energies.shape() == ad::Shape{3});
    REQUIRE(out.atom_energies.shape() == ad::Shape{27});
    REQUIRE(out.atom_features.shape() == ad::Shape{27, 32});
    REQUIRE(out.features.shape() == ad::Shape{3, 32});
    for (long k = 0; k < out.atom_features.numel(); ++k) REQUIRE(std::isfinite(out.atom_features[k]));
    for (long k = 0; k < 3; ++k) REQUIRE(std::isfinite(out.energies[k]));
    CHECK(max_abs(out.energies) > 1e-3);  // not trivially zero
    CHECK_THAT(again.forward(batch).energies, AllClose(out.energies, 0, 0));  // same seed, same bits

    // Per-structure sums, and the same numbers one structure at a time (1e-12: summation order).
    for (long s = 0; s < 3; ++s) {
        double e = 0;
        for (long i = 9 * s; i < 9 * s + 9; ++i) e += out.atom_energies[i];
        CHECK(std::fabs(e - out.energies[s]) < 1e-12);
        double single = energy_of(model, frames[static_cast<size_t>(s)]);
        CHECK(std::fabs(single - out.energies[s]) < 1e-12);
    }
    // Structure features are sums of atom features; SiLU features are >= -0.279 (min of x sigmoid(x)).
    Tensor summed = ad::index_add(Tensor::zeros({3, 32}), 0, batch.structure, out.atom_features);
    CHECK_THAT(out.features, AllClose(summed));
    CHECK(*std::min_element(out.atom_features.data(), out.atom_features.data() + out.atom_features.numel()) > -0.28);

    // Permuting the atoms of a frame permutes the atom energies and keeps the total.
    const std::vector<long> perm = {4, 0, 8, 2, 7, 1, 6, 3, 5};
    desc::System p = frames[0];
    p.positions = frames[0].positions.clone();  // a System copy shares its positions' storage
    for (size_t k = 0; k < perm.size(); ++k) {
        p.numbers[k] = frames[0].numbers[static_cast<size_t>(perm[k])];
        for (int a = 0; a < 3; ++a) p.positions.data()[k * 3 + a] = frames[0].positions[perm[k] * 3 + a];
    }
    nn::bpnn::Output op = model.forward(nn::bpnn::make_batch({p}, 5.0));
    CHECK(std::fabs(op.energies[0] - out.energies[0]) < 1e-10);
    for (size_t k = 0; k < perm.size(); ++k)
        CHECK(std::fabs(op.atom_energies[static_cast<long>(k)] - out.atom_energies[perm[k]]) < 1e-10);
}

TEST_CASE("bpnn: last-layer features are species-blocked and the energy is linear in them", "[nn][bpnn]") {
    for (auto head : {nn::bpnn::Head::linear, nn::bpnn::Head::mlp}) {
        BpnnHypers h = tiny_hypers();
        h.energy_head = head;
        ad::Rng rng(42);
        SoapBpnn model(h, {1, 6, 8}, rng);
        if (head == nn::bpnn::Head::mlp) {
            auto sd = model.state_dict();
            CHECK(sd[12].first == "heads.1.weight");
            CHECK(sd[12].second.shape() == ad::Shape{4, 4});
            CHECK(sd.back().first == "last_layers.8.weight");
        }
        auto frames = testing::test_frames("ethanol-xtb-5.xyz");
        Batch batch = nn::bpnn::make_batch(frames, h.cutoff);
        ad::NoGrad no_grad;
        nn::bpnn::Output out = model.forward(batch);
        REQUIRE(out.atom_last_layer_features.shape() == ad::Shape{45, 12});
        REQUIRE(out.last_layer_features.shape() == ad::Shape{5, 12});
        Tensor w = model.last_layer_weights();
        REQUIRE(w.shape() == ad::Shape{1, 12});
        // E = phi w^T per structure and per atom (1e-12: summation order).
        CHECK_THAT(ad::reshape(ad::matmul_nt(out.last_layer_features, w), {-1}), AllClose(out.energies, 1e-12, 1e-12));
        CHECK_THAT(ad::reshape(ad::matmul_nt(out.atom_last_layer_features, w), {-1}), AllClose(out.atom_energies, 1e-12, 1e-12));
        // Atom i's features sit in the block of its species (H 0..3, C 4..7, O 8..11), zeros elsewhere.
        for (long i = 0; i < 45; ++i) {
            const int Z = batch.numbers[static_cast<size_t>(i)];
            const long block = Z == 1 ? 0 : Z == 6 ? 1 : 2;
            for (long c = 0; c < 12; ++c) {
                double v = out.atom_last_layer_features[i * 12 + c];
                if (c / 4 == block) CHECK(v == out.atom_features[i * 4 + c % 4]);
                else CHECK(v == 0.0);
            }
        }
    }
}

TEST_CASE("bpnn: forces equal minus the central finite-difference gradient of the energy", "[nn][bpnn]") {
    const double eps = 1e-4;  // truncation ~ eps^2 |E'''| ~ 1e-8, rounding ~ 1e-16 |E| / eps ~ 1e-11: within kForcesFd
    SECTION("ethanol, every component") {
        desc::System s = ethanol();
        ad::Rng rng(42);
        SoapBpnn model(BpnnHypers{}, {1, 6, 8}, rng);
        CHECK(max_abs(model.energy_forces_stress(nn::bpnn::make_batch({s}, 5.0), ad::CreateGraph::no).stress) == 0.0);  // not periodic
        std::vector<long> every(27);
        for (long k = 0; k < 27; ++k) every[static_cast<size_t>(k)] = k;
        model_checks::check_forces_fd(model, s, model_checks::component_directions(9, every), eps, model_checks::kForcesFd);
    }
    SECTION("periodic Cu, random directions") {
        desc::System s = copper();
        ad::Rng rng(42);
        SoapBpnn model(BpnnHypers{}, {29}, rng);
        Batch batch = nn::bpnn::make_batch({s}, 5.0);
        auto efs = model.energy_forces_stress(batch, ad::CreateGraph::no);
        REQUIRE(efs.forces.shape() == ad::Shape{32, 3});
        // Sum of forces is zero (translation invariance), up to rounding.
        for (int a = 0; a < 3; ++a) {
            double total = 0;
            for (long i = 0; i < 32; ++i) total += efs.forces[i * 3 + a];
            CHECK(std::fabs(total) < 1e-10);
        }
        ad::Rng dirs(5);
        std::vector<Tensor> directions;
        for (int t = 0; t < 3; ++t) {
            Tensor d = dirs.normal({32, 3});
            directions.push_back(d / std::sqrt(nn_testing::dot(d, d)));  // unit norm: every atom moves ~eps / 10
        }
        model_checks::check_forces_fd(model, s, directions, eps, model_checks::kForcesFd);
    }
}

TEST_CASE("bpnn: stress equals (1/V) dE/dstrain of the deformed cell by finite differences", "[nn][bpnn]") {
    // The deformed structure (positions and cell times 1 + eps, new neighbour list) is evaluated
    // without any strain input, so this checks the strain path against the physical definition.
    ad::Rng rng(42);
    SoapBpnn model(BpnnHypers{}, {29}, rng);
    model_checks::check_stress_fd(model, copper(), 1e-5, model_checks::kStressFd);
}

TEST_CASE("bpnn: energies are rotation and translation invariant; forces rotate with the structure", "[nn][bpnn]") {
    double Q[9];
    rotation(0.7, Q);
    const double shift[3] = {1.3, -0.4, 2.2};
    for (int periodic = 0; periodic < 2; ++periodic) {
        desc::System s = periodic ? copper() : ethanol();
        ad::Rng rng(42);
        SoapBpnn model(BpnnHypers{}, periodic ? std::vector<int>{29} : std::vector<int>{1, 6, 8}, rng);
        auto ref = model.energy_forces_stress(nn::bpnn::make_batch({s}, 5.0), ad::CreateGraph::no);
        auto rot = model.energy_forces_stress(nn::bpnn::make_batch({transformed(s, Q, shift)}, 5.0), ad::CreateGraph::no);
        CHECK(std::fabs(rot.energies[0] - ref.energies[0]) < 1e-10);
        const long n = s.n_atoms();
        double err = 0;
        for (long i = 0; i < n; ++i)
            for (int a = 0; a < 3; ++a) {
                double f = 0;
                for (int b = 0; b < 3; ++b) f += Q[a * 3 + b] * ref.forces[i * 3 + b];
                err = std::max(err, std::fabs(f - rot.forces[i * 3 + a]));
            }
        CHECK(err < 1e-10);
        if (periodic) {  // stress' = Q stress Q^T
            double serr = 0;
            for (int a = 0; a < 3; ++a)
                for (int b = 0; b < 3; ++b) {
                    double v = 0;
                    for (int k = 0; k < 3; ++k)
                        for (int l = 0; l < 3; ++l) v += Q[a * 3 + k] * ref.stress[k * 3 + l] * Q[b * 3 + l];
                    serr = std::max(serr, std::fabs(v - rot.stress[a * 3 + b]));
                }
            CHECK(serr < 1e-12);
        }
    }
}

TEST_CASE("bpnn: gradient of an energy + force + stress loss w.r.t. parameters passes finite differences", "[nn][bpnn]") {
    // Tiny model (L = 2, N_r = 2, 4 neurons): every parameter tensor is probed (6 random directions
    // for tensors above 64 elements), in place, by nn_testing::inplace_gradcheck.
    auto frames = testing::test_frames("ethanol-xtb-5.xyz");
    frames.resize(2);
    frames.push_back(testing::test_frames("cu_fcc4.xyz").at(0));  // periodic: a stress term
    BpnnHypers h = tiny_hypers();
    h.energy_head = nn::bpnn::Head::mlp;  // every kind of layer on the path
    ad::Rng rng(42);
    SoapBpnn model(h, {1, 6, 8, 29}, rng);
    Batch batch = nn::bpnn::make_batch(frames, model.hypers().cutoff);
    ad::Rng targets(3);
    Tensor E_ref = targets.normal({3}), F_ref = targets.normal({batch.n_atoms(), 3}), S_ref = targets.normal({3, 3, 3}, 0, 0.01);
    auto loss = [&]() {
        auto efs = model.energy_forces_stress(batch, ad::CreateGraph::yes);
        return ad::mean(ad::square(efs.energies - E_ref)) + 0.5 * ad::mean(ad::square(efs.forces - F_ref)) +
               10.0 * ad::mean(ad::square(efs.stress - S_ref));
    };
    CHECK(nn_testing::inplace_gradcheck(loss, model.parameters()));
    // The same through ad::backward (the trainer's path) accumulates the same gradient.
    model.zero_grad();
    ad::backward(loss(), model.parameters());
    std::vector<Tensor> g = ad::grad(loss(), model.parameters(), ad::CreateGraph::no);
    for (size_t k = 0; k < g.size(); ++k) CHECK_THAT(model.parameters()[k].grad(), AllClose(g[k]));
}

TEST_CASE("bpnn: composition baseline recovers known per-species energies", "[nn][bpnn]") {
    const std::map<int, double> truth = {{1, -13.6}, {6, -1029.8}, {8, -2041.3}};
    ad::Rng rng(11);
    std::vector<std::vector<int>> numbers;
    std::vector<double> energies;
    for (int s = 0; s < 12; ++s) {
        std::vector<int> z;
        for (int Z : {1, 6, 8})
            for (uint64_t k = 0, n = 1 + rng.below(6); k < n; ++k) z.push_back(Z);
        double e = 0;
        for (int Z : z) e += truth.at(Z);
        numbers.push_back(z);
        energies.push_back(e);
    }
    auto fit = nn::bpnn::CompositionModel::fit(numbers, energies, {1, 6, 8});
    for (const auto& [Z, w] : truth) CHECK(std::fabs(fit.weights.at(Z) - w) < 1e-9);  // normal eqs: cond ~1e2
    for (double r : fit.remove(numbers, energies)) CHECK(std::fabs(r) < 1e-9);

    // fixed_composition_weights: a fixed value is kept and the others absorb the rest exactly.
    auto fixed = nn::bpnn::CompositionModel::fit(numbers, energies, {1, 6, 8}, {{1, -13.6}});
    CHECK(fixed.weights.at(1) == -13.6);
    CHECK(std::fabs(fixed.weights.at(8) - truth.at(8)) < 1e-9);

    // Collinear counts (every frame C2H6O): the minimum-norm solution still reproduces the energies.
    std::vector<std::vector<int>> same(4, {6, 6, 1, 1, 1, 1, 1, 1, 8});
    std::vector<double> e4 = {-100.0, -101.0, -99.0, -100.5};
    auto col = nn::bpnn::CompositionModel::fit(same, e4, {1, 6, 8});
    double mean = (-100.0 - 101.0 - 99.0 - 100.5) / 4;
    CHECK(std::fabs(col.baseline(same[0]) - mean) < 1e-10);
    // Weights proportional to the counts (H 6, C 2, O 1): the minimum-norm direction.
    CHECK(std::fabs(col.weights.at(6) / col.weights.at(8) - 2.0) < 1e-10);
    CHECK(std::fabs(col.weights.at(1) / col.weights.at(8) - 6.0) < 1e-10);

    // Batch baseline.
    Batch batch = nn::bpnn::make_batch(testing::test_frames("ethanol-xtb-5.xyz"), 5.0);
    Tensor b = fit.baseline(batch);
    REQUIRE(b.shape() == ad::Shape{5});
    CHECK(std::fabs(b[0] - (2 * truth.at(6) + 6 * truth.at(1) + truth.at(8))) < 1e-9);
    REQUIRE_THROWS_WITH(fit.baseline(std::vector<int>{29}), Catch::Contains("got atomic number 29"));
}

TEST_CASE("bpnn: checkpoint round trip is exact, with hypers, species and composition weights", "[nn][bpnn]") {
    ad::Rng rng(42);
    BpnnHypers h = tiny_hypers();
    h.cutoff = 3.7;
    SoapBpnn model(h, {1, 6, 8}, rng);
    // Weights and scale with 16-17 significant digits: the shortest round-trip decimal is exact.
    model_checks::check_checkpoint_round_trip(
        model, [](const nn::Checkpoint& c, std::map<int, double>* w, double* sc) { return SoapBpnn::from_checkpoint(c, w, sc); },
        {{1, -13.6 + 1e-13}, {6, 0.1}, {8, -2041.3}}, 0.1 + 0.2, testing::test_frames("ethanol-xtb-5.xyz"), "pet");
}

TEST_CASE("bpnn: energy scaler is the RMS of the residual energies; predictions rescale and add the baseline", "[nn][bpnn]") {
    auto s = nn::bpnn::EnergyScaler::fit({3.0, -4.0});
    CHECK(s.scale == Approx(std::sqrt(12.5)).epsilon(1e-15));
    CHECK(nn::bpnn::EnergyScaler::fit({0.0, 0.0}).scale == 1.0);
    CHECK(nn::bpnn::EnergyScaler::fit({3.0}, 2.5).scale == 2.5);  // fixed_scaling_weights
    REQUIRE_THROWS_WITH(nn::bpnn::EnergyScaler::fit({3.0}, -1.0), Catch::Contains("expected a fixed scale > 0"));

    nn::bpnn::EnergyScaler two{2.0};
    Tensor E = ad::tensor({2}, {4.0, 6.0}), F = ad::tensor({1, 3}, {2.0, 0.0, -2.0}), S;
    two.scale_down(E, F, S);
    CHECK_THAT(E, AllClose(ad::tensor({2}, {2.0, 3.0}), 0, 0));
    CHECK_THAT(F, AllClose(ad::tensor({1, 3}, {1.0, 0.0, -1.0}), 0, 0));
    CHECK_FALSE(S.defined());
    nn::bpnn::EnergyForcesStress net{E, F, Tensor::zeros({2, 3, 3})};
    auto phys = nn::bpnn::predict(net, two, ad::tensor({2}, {-10.0, -20.0}));
    CHECK_THAT(phys.energies, AllClose(ad::tensor({2}, {-6.0, -14.0}), 0, 0));
    CHECK_THAT(phys.forces, AllClose(ad::tensor({1, 3}, {2.0, 0.0, -2.0}), 0, 0));
}

TEST_CASE("bpnn: a mixed batch gives each structure's own energies, forces and stress; errors", "[nn][bpnn]") {
    std::vector<desc::System> frames = {ethanol(), testing::test_frames("cu_fcc4.xyz").at(0), testing::test_frames("ethanol-xtb-5.xyz").at(3)};
    ad::Rng rng(42);
    SoapBpnn model(tiny_hypers(), {1, 6, 8, 29}, rng);
    auto all = model.energy_forces_stress(nn::bpnn::make_batch(frames, 4.0), ad::CreateGraph::no);
    REQUIRE(all.stress.shape() == (ad::Shape{3, 3, 3}));
    long offset = 0;
    for (long s = 0; s < 3; ++s) {
        auto one = model.energy_forces_stress(nn::bpnn::make_batch({frames[static_cast<size_t>(s)]}, 4.0), ad::CreateGraph::no);
        const long n = frames[static_cast<size_t>(s)].n_atoms();
        CHECK(std::fabs(one.energies[0] - all.energies[s]) < 1e-12);
        CHECK_THAT(ad::slice(all.forces, 0, offset, offset + n), AllClose(one.forces));
        CHECK_THAT(ad::slice(all.stress, 0, s, s + 1), AllClose(one.stress));
        offset += n;
    }
    CHECK(max_abs(ad::slice(all.stress, 0, 0, 1)) == 0.0);  // molecule: no stress
    CHECK(max_abs(ad::slice(all.stress, 0, 1, 2)) > 0.0);

    ad::Rng rng2(1);
    SoapBpnn organic(tiny_hypers(), {1, 6, 8}, rng2);
    REQUIRE_THROWS_WITH(organic.forward(nn::bpnn::make_batch({copper()}, 4.0)), Catch::Contains("29"));
    Batch bad = nn::bpnn::make_batch({ethanol()}, 4.0);
    REQUIRE_THROWS_WITH(bad.with_positions(Tensor::zeros({8, 3})), Catch::Contains("expected R[9, 3], got [8, 3]"));
    REQUIRE_THROWS_WITH(organic.forward(nn::bpnn::make_batch({ethanol()}, 3.0)),
                        Catch::Contains("expected a batch built with cutoff >= 4, got 3"));

    // Permuting atoms permutes the forces.
    model_checks::check_permutation_invariance(organic, ethanol(), {8, 3, 0, 5, 1, 7, 2, 6, 4},
                                               {1e-12, 1e-10, "the same sums in another order"});
}
