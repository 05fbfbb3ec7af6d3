// NanoPET (nn/pet/): hypers, token layout, forces and stress against finite differences,
// invariances, the force-loss gradient w.r.t. parameters, isolated atoms, checkpoints.
// Small hypers (d_pet 8) keep each test well under a second; values at init use fixed seeds and
// are checked by properties, not stored numbers (no reference model exists).
#include <catch2/catch.hpp>

#include <cmath>
#include <iostream>

#include "autodiff/ops.hpp"
#include "nn/pet/nanopet.hpp"
#include "tests/cli/cli_helpers.hpp"
#include "tests/nn/atomistic/model_checks.hpp"
#include "tests/nn/nn_helpers.hpp"
#include "tests/nn/pet/tiny_pet_hypers.hpp"

using ad::Tensor;
using model_checks::copper_fcc4;
using model_checks::energy_of;
using model_checks::ethanol;
using model_checks::max_abs;
using model_checks::transformed;
using nn::pet::NanoPet;
using nn::pet::NanoPetHypers;

namespace {

NanoPetHypers tiny_hypers(double cutoff = 4.0) { return nn_testing::tiny_nanopet_hypers(cutoff); }

}  // namespace

TEST_CASE("nanopet: hypers defaults, TOML round trip and strict parsing", "[nn][nanopet]") {
    NanoPetHypers d;
    CHECK(d.cutoff == 5.0);
    CHECK(d.cutoff_width == 0.5);
    CHECK(d.d_pet == 128);
    CHECK(d.num_heads == 4);
    CHECK(d.num_attention_layers == 2);
    CHECK(d.num_gnn_layers == 2);
    CHECK(d.energy_head == nn::pet::Head::mlp);
    // nn/pet/default.toml holds exactly the defaults.
    const std::string text = cli_testing::read_text(cli_testing::repo_file("nn/pet/default.toml"));
    REQUIRE(!text.empty());
    CHECK(NanoPetHypers::from_toml(text, "default.toml").to_toml() == d.to_toml());
    NanoPetHypers h = tiny_hypers();
    h.cutoff_function = nn::CutoffFunction::bump;
    h.energy_head = nn::pet::Head::linear;
    CHECK(NanoPetHypers::from_toml(h.to_toml(), "x").to_toml() == h.to_toml());
    REQUIRE_THROWS_WITH(NanoPetHypers::from_toml("d_pett = 4\n", "h.toml"), Catch::StartsWith("h.toml: d_pett (line 1): unknown key"));
    REQUIRE_THROWS_WITH(NanoPetHypers::from_toml("[heads]\nforces = \"mlp\"\n", "h.toml"),
                        "h.toml: heads.forces (line 2): unknown key");
    REQUIRE_THROWS_WITH(NanoPetHypers::from_toml("d_pet = 10\nnum_heads = 4\n", "h.toml"),
                        "h.toml: expected d_pet > 0 divisible by num_heads > 0, got d_pet 10, num_heads 4");
    REQUIRE_THROWS_WITH(NanoPetHypers::from_toml("cutoff = \"5\"\n", "h.toml"), "h.toml: cutoff (line 1): wrong type");
}

TEST_CASE("nanopet: token layout pairs every edge with its reverse; padding", "[nn][nanopet]") {
    ad::Rng rng(1);
    NanoPet model(tiny_hypers(3.0), {29}, rng);
    desc::System s = copper_fcc4();
    auto batch = nn::bpnn::make_batch({s, s}, 3.0);
    nn::pet::NeighborLayout L = model.layout(batch);
    CHECK(L.n_atoms == 8);
    const long E = static_cast<long>(L.centre.size());
    REQUIRE(E > 0);
    CHECK(E == static_cast<long>(batch.pairs[0].first.size() + batch.pairs[1].first.size()));
    double real = 0;
    for (long q = 0; q < L.n_atoms * L.T; ++q) real += L.padding[q];
    CHECK(real == E);
    for (long e = 0; e < E; ++e) {
        const long q = L.slot[e], p = L.partner[q];
        CHECK(L.partner[p] == q);                     // the reverse of the reverse
        CHECK(p / L.T == L.neighbor[e]);              // the reverse edge sits at the neighbour
        CHECK(L.padding[p] == 1);
    }
    // A half list (no reverse pairs) is an error naming the pair.
    auto half = batch;
    half.pairs[0].first.resize(1), half.pairs[0].second.resize(1);
    half.pairs[0].cell_shifts = ad::slice(half.pairs[0].cell_shifts, 0, 0, 1);
    REQUIRE_THROWS_WITH(model.layout(half), Catch::Contains("expected a full neighbour list"));
    REQUIRE_THROWS_WITH(model.layout(nn::bpnn::make_batch({s}, 2.0)),
                        "NanoPet: expected a batch built with cutoff >= 3, got 2; use make_batch(frames, model.hypers().cutoff)");
    REQUIRE_THROWS_WITH(NanoPet(tiny_hypers(), {1, 6}, rng).energies(nn::bpnn::make_batch({ethanol()}, 4.0)),
                        "NanoPet: expected species of the model, got atomic number 8");
}

TEST_CASE("nanopet: forces equal minus the finite-difference energy gradient", "[nn][nanopet]") {
    for (auto fn : {nn::CutoffFunction::cosine, nn::CutoffFunction::bump}) {
        ad::Rng rng(2);
        NanoPetHypers h = tiny_hypers();
        h.cutoff_function = fn;
        NanoPet model(h, {1, 6, 8}, rng);
        desc::System s = ethanol();
        model_checks::check_forces_fd(model, s, model_checks::component_directions(s.n_atoms(), model_checks::kProbeComponents),
                                      1e-5, model_checks::kForcesFd);
    }
}

TEST_CASE("nanopet: stress equals (1/V) dE/dstrain of the deformed cell by finite differences", "[nn][nanopet]") {
    // The deformed structure (positions and cell times 1 + eps, new neighbour list) is evaluated
    // without any strain input, so this checks the strain path against the physical definition.
    ad::Rng rng(3);
    NanoPet model(tiny_hypers(3.5), {29}, rng);
    model_checks::check_stress_fd(model, copper_fcc4(), 1e-5, model_checks::kStressFd);
}

TEST_CASE("nanopet: gradient of a force loss w.r.t. parameters passes finite differences", "[nn][nanopet]") {
    ad::Rng rng(4);
    NanoPet model(tiny_hypers(), {1, 6, 8}, rng);
    auto batch = nn::bpnn::make_batch({ethanol()}, 4.0);
    const std::vector<Tensor> wrt = model_checks::parameters_named(
        model, {"encoder.cartesian.0.weight", "encoder.center_embedding.weight", "transformers.1.0.attention.in_proj.weight",
                "contractions.0.weight", "last_layers.energy.weight"});
    auto f = [&] { return model.energy_forces_stress(batch, ad::CreateGraph::yes).forces; };
    CHECK(nn_testing::inplace_gradcheck(f, wrt));
}

TEST_CASE("nanopet: translation and permutation invariance; not rotation invariant (as metatrain's)", "[nn][nanopet]") {
    ad::Rng rng(5);
    NanoPet model(tiny_hypers(), {1, 6, 8}, rng);
    desc::System s = ethanol(1);
    const double shift[3] = {1.3, -0.4, 2.2};
    model_checks::check_translation_invariance(model, s, shift, model_checks::kReordered);
    model_checks::check_permutation_invariance(model, s, model_checks::reversed_order(s.n_atoms()), model_checks::kReordered);
    // The edge encoder reads Cartesian vectors, so a rotation changes the energy (metatrain trains
    // NanoPET with random rotations instead): this documents that it is not invariant by design.
    const double c = std::cos(0.7), sn = std::sin(0.7), Q[9] = {c, -sn, 0, sn, c, 0, 0, 0, 1}, zero[3] = {0, 0, 0};
    CHECK(std::fabs(energy_of(model, transformed(s, Q, zero)) - energy_of(model, s)) > 1e-6);
}

TEST_CASE("nanopet: an atom without neighbours gives finite output; batch outputs", "[nn][nanopet]") {
    ad::Rng rng(6);
    NanoPet model(tiny_hypers(), {1, 6, 8}, rng);
    desc::System s = ethanol();
    desc::System lone = model_checks::with_isolated_atom(s, 1);
    auto batch = nn::bpnn::make_batch({s, lone}, 4.0);
    auto efs = model.energy_forces_stress(batch, ad::CreateGraph::no);
    for (long k = 0; k < efs.forces.numel(); ++k) CHECK(std::isfinite(efs.forces[k]));
    for (int a = 0; a < 3; ++a) CHECK(efs.forces[(2 * s.n_atoms()) * 3 + a] == 0.0);
    nn::bpnn::Output out = model.forward(batch);
    // The lone atom's node features are 0: its energy is the head of 0 = 0 (no biases).
    CHECK(out.atom_energies[2 * s.n_atoms()] == 0.0);
    // Both structures see the same ethanol: energies differ only by the lone atom's (0).
    CHECK(std::fabs(out.energies[0] - out.energies[1]) < 1e-12);
    CHECK(out.features.shape() == ad::Shape{2, 8});
    CHECK(out.atom_last_layer_features.shape() == ad::Shape{19, 8});
    // E = phi w^T per structure.
    Tensor E = ad::reshape(ad::matmul_nt(out.last_layer_features, model.last_layer_weights()), {-1});
    CHECK_THAT(E, testing::AllClose(out.energies, 1e-12, 1e-12));
    CHECK(model.n_features() == 8);
}

TEST_CASE("nanopet: checkpoint round trip gives identical energies", "[nn][nanopet]") {
    ad::Rng rng(7);
    NanoPetHypers h = tiny_hypers();
    h.energy_head = nn::pet::Head::linear;
    NanoPet model(h, {8, 1, 6}, rng);
    model_checks::check_checkpoint_round_trip(
        model, [](const nn::Checkpoint& c, std::map<int, double>* w, double* sc) { return NanoPet::from_checkpoint(c, w, sc); },
        {{1, -0.5}, {6, -1.25}}, 2.5, {ethanol(0), ethanol(2)}, "soap_bpnn");
}

TEST_CASE("nanopet: timing of default hypers on 8 ethanol frames", "[.slow][nanopet_bench]") {
    ad::Rng rng(8);
    NanoPet model(NanoPetHypers{}, {1, 6, 8}, rng);
    auto batch = nn::bpnn::make_batch(model_checks::ethanol_frames(8), 5.0);
    const model_checks::PassTimes t = model_checks::time_passes(model, batch);
    const double fwd = t.forward, ef = t.energy_forces, train = t.force_loss_backward;
    std::cout << "nanopet default hypers, 8 ethanol frames (" << batch.n_atoms() << " atoms, T = " << model.layout(batch).T
              << "): forward " << fwd * 1e3 << " ms, energy+forces " << ef * 1e3 << " ms, energy+force loss backward "
              << train * 1e3 << " ms\n";
    CHECK(fwd > 0);
}
