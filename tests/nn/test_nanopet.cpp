// NanoPET (nn/pet/): hypers, token layout, forces and stress against finite differences,
// invariances, the force-loss gradient w.r.t. parameters, isolated atoms, checkpoints.
// Small hypers (d_pet 8) keep each test well under a second; values at init use fixed seeds and
// are checked by properties, not stored numbers (no reference model exists).
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include "autodiff/ops.hpp"
#include "nn/pet/nanopet.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using nn::pet::NanoPet;
using nn::pet::NanoPetHypers;

namespace {

desc::System ethanol(long k = 0) { return testing::test_frames("ethanol-xtb-5.xyz").at(k); }
desc::System copper() { return testing::test_frames("cu_fcc4.xyz").at(0); }  // 4 Cu, periodic, rattled

NanoPetHypers tiny_hypers(double cutoff = 4.0) {
    NanoPetHypers h;
    h.cutoff = cutoff;
    h.cutoff_width = 0.5;
    h.d_pet = 8;
    h.num_heads = 2;
    h.num_attention_layers = 1;
    h.num_gnn_layers = 2;
    return h;
}

double max_abs(const Tensor& t) {
    double m = 0;
    for (long k = 0; k < t.numel(); ++k) m = std::max(m, std::fabs(t[k]));
    return m;
}

// x' = A x + t for every atom, cell rows likewise (A any 3x3 matrix, row-major).
desc::System transformed(const desc::System& s, const double A[9], const double t[3]) {
    desc::System out = s;
    const long n = s.n_atoms();
    out.positions = Tensor::zeros({n, 3});
    out.cell = Tensor::zeros({3, 3});
    for (long i = 0; i < n; ++i)
        for (int a = 0; a < 3; ++a) {
            double v = t[a];
            for (int b = 0; b < 3; ++b) v += A[a * 3 + b] * s.positions[i * 3 + b];
            out.positions.data()[i * 3 + a] = v;
        }
    for (int k = 0; k < 3; ++k)
        for (int a = 0; a < 3; ++a) {
            double v = 0;
            for (int b = 0; b < 3; ++b) v += A[a * 3 + b] * s.cell[k * 3 + b];
            out.cell.data()[k * 3 + a] = v;
        }
    return out;
}

double energy_of(const NanoPet& model, const desc::System& s) {
    return model.energies(nn::bpnn::make_batch({s}, model.hypers().cutoff))[0];
}

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
    std::ifstream in(std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "nn" / "pet" / "default.toml");
    std::stringstream text;
    text << in.rdbuf();
    REQUIRE(!text.str().empty());
    CHECK(NanoPetHypers::from_toml(text.str(), "default.toml").to_toml() == d.to_toml());
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
    desc::System s = copper();
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
        auto efs = model.energy_forces_stress(nn::bpnn::make_batch({s}, 4.0), ad::CreateGraph::no);
        CHECK(max_abs(efs.forces) > 1e-4);
        const double step = 1e-5;
        for (long i : {0L, 4L, 8L})
            for (int a = 0; a < 3; ++a) {
                desc::System p = s, m = s;
                p.positions = s.positions.clone(), m.positions = s.positions.clone();
                p.positions.data()[i * 3 + a] += step;
                m.positions.data()[i * 3 + a] -= step;
                const double fd = -(energy_of(model, p) - energy_of(model, m)) / (2 * step);
                // central differences, energies ~1: truncation ~1e-10, rounding ~1e-11
                CHECK(std::fabs(fd - efs.forces[i * 3 + a]) < 1e-7 + 1e-6 * std::fabs(fd));
            }
    }
}

TEST_CASE("nanopet: stress equals (1/V) dE/dstrain of the deformed cell by finite differences", "[nn][nanopet]") {
    // The deformed structure (positions and cell times 1 + eps, new neighbour list) is evaluated
    // without any strain input, so this checks the strain path against the physical definition.
    ad::Rng rng(3);
    NanoPet model(tiny_hypers(3.5), {29}, rng);
    desc::System s = copper();
    auto efs = model.energy_forces_stress(nn::bpnn::make_batch({s}, 3.5), ad::CreateGraph::no);
    REQUIRE(efs.stress.shape() == ad::Shape{1, 3, 3});
    CHECK(max_abs(efs.stress) > 1e-6);
    const double h = 1e-5, V = std::fabs(s.volume()), zero[3] = {0, 0, 0};
    for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) {
            double Ap[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, Am[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
            Ap[a * 3 + b] += h;
            Am[a * 3 + b] -= h;
            const double fd = (energy_of(model, transformed(s, Ap, zero)) - energy_of(model, transformed(s, Am, zero))) / (2 * h);
            CHECK(std::fabs(fd / V - efs.stress[a * 3 + b]) < 1e-8 + 1e-6 * std::fabs(fd / V));
        }
}

TEST_CASE("nanopet: gradient of a force loss w.r.t. parameters passes finite differences", "[nn][nanopet]") {
    ad::Rng rng(4);
    NanoPet model(tiny_hypers(), {1, 6, 8}, rng);
    auto batch = nn::bpnn::make_batch({ethanol()}, 4.0);
    auto named = model.named_parameters();
    std::vector<Tensor> wrt;
    for (const auto& [name, p] : named)
        if (name == "encoder.cartesian.0.weight" || name == "encoder.center_embedding.weight" ||
            name == "transformers.1.0.attention.in_proj.weight" || name == "contractions.0.weight" ||
            name == "last_layers.energy.weight")
            wrt.push_back(p);
    REQUIRE(wrt.size() == 5);
    auto f = [&] { return model.energy_forces_stress(batch, ad::CreateGraph::yes).forces; };
    CHECK(nn_testing::inplace_gradcheck(f, wrt));
}

TEST_CASE("nanopet: translation and permutation invariance; not rotation invariant (as metatrain's)", "[nn][nanopet]") {
    ad::Rng rng(5);
    NanoPet model(tiny_hypers(), {1, 6, 8}, rng);
    desc::System s = ethanol(1);
    auto ref = model.energy_forces_stress(nn::bpnn::make_batch({s}, 4.0), ad::CreateGraph::no);
    const double I[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, shift[3] = {1.3, -0.4, 2.2};
    auto moved = model.energy_forces_stress(nn::bpnn::make_batch({transformed(s, I, shift)}, 4.0), ad::CreateGraph::no);
    CHECK(std::fabs(moved.energies[0] - ref.energies[0]) < 1e-10);
    CHECK(max_abs(moved.forces - ref.forces) < 1e-10);
    // Permutation: atoms in reverse order.
    const long n = s.n_atoms();
    desc::System p = s;
    p.positions = Tensor::zeros({n, 3});
    for (long i = 0; i < n; ++i) {
        p.numbers[i] = s.numbers[n - 1 - i];
        for (int a = 0; a < 3; ++a) p.positions.data()[i * 3 + a] = s.positions[(n - 1 - i) * 3 + a];
    }
    p.arrays.clear();
    auto perm = model.energy_forces_stress(nn::bpnn::make_batch({p}, 4.0), ad::CreateGraph::no);
    CHECK(std::fabs(perm.energies[0] - ref.energies[0]) < 1e-10);
    double err = 0;
    for (long i = 0; i < n; ++i)
        for (int a = 0; a < 3; ++a) err = std::max(err, std::fabs(perm.forces[i * 3 + a] - ref.forces[(n - 1 - i) * 3 + a]));
    CHECK(err < 1e-10);
    // The edge encoder reads Cartesian vectors, so a rotation changes the energy (metatrain trains
    // NanoPET with random rotations instead): this documents that it is not invariant by design.
    const double c = std::cos(0.7), sn = std::sin(0.7), Q[9] = {c, -sn, 0, sn, c, 0, 0, 0, 1}, zero[3] = {0, 0, 0};
    CHECK(std::fabs(energy_of(model, transformed(s, Q, zero)) - ref.energies[0]) > 1e-6);
}

TEST_CASE("nanopet: an atom without neighbours gives finite output; batch outputs", "[nn][nanopet]") {
    ad::Rng rng(6);
    NanoPet model(tiny_hypers(), {1, 6, 8}, rng);
    desc::System s = ethanol();
    desc::System lone = s;
    lone.numbers.push_back(1);
    lone.positions = ad::concat({s.positions, ad::tensor({1, 3}, {50, 50, 50})}, 0);
    lone.arrays.clear();
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
    nn_testing::TempDir dir;
    const std::string path = dir.file("nanopet.ckpt");
    nn::save_checkpoint(path, model.to_checkpoint({{1, -0.5}, {6, -1.25}}, 2.5));
    std::map<int, double> weights;
    double scale = 0;
    auto loaded = NanoPet::from_checkpoint(nn::load_checkpoint(path), &weights, &scale);
    CHECK(loaded->species() == std::vector<int>{1, 6, 8});
    CHECK(loaded->hypers().to_toml() == h.to_toml());
    CHECK(weights == std::map<int, double>{{1, -0.5}, {6, -1.25}});
    CHECK(scale == 2.5);
    auto batch = nn::bpnn::make_batch({ethanol(0), ethanol(2)}, 4.0);
    Tensor a = model.energies(batch), b = loaded->energies(batch);
    CHECK(a[0] == b[0]);
    CHECK(a[1] == b[1]);
    nn::Checkpoint wrong = model.to_checkpoint();
    wrong.metadata["architecture"] = "soap_bpnn";
    REQUIRE_THROWS_WITH(NanoPet::from_checkpoint(wrong), "checkpoint: expected architecture 'nanopet', got 'soap_bpnn'");
}

TEST_CASE("nanopet: timing of default hypers on 8 ethanol frames", "[.slow][nanopet_bench]") {
    ad::Rng rng(8);
    NanoPet model(NanoPetHypers{}, {1, 6, 8}, rng);
    auto frames = testing::test_frames("ethanol-xtb-5.xyz");
    std::vector<desc::System> eight;
    for (int k = 0; k < 8; ++k) eight.push_back(frames[k % frames.size()]);
    auto batch = nn::bpnn::make_batch(eight, 5.0);
    auto time = [](auto&& fn) {
        fn();  // warm-up (buffer pool)
        auto t0 = std::chrono::steady_clock::now();
        const int reps = 5;
        for (int k = 0; k < reps; ++k) fn();
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
    };
    double fwd = time([&] { ad::NoGrad ng; model.energies(batch); });
    double ef = time([&] { model.energy_forces_stress(batch, ad::CreateGraph::no); });
    double train = time([&] {
        auto efs = model.energy_forces_stress(batch, ad::CreateGraph::yes);
        Tensor loss = ad::sum(ad::square(efs.energies)) + ad::sum(ad::square(efs.forces));
        ad::backward(loss, model.parameters());
    });
    std::cout << "nanopet default hypers, 8 ethanol frames (" << batch.n_atoms() << " atoms, T = " << model.layout(batch).T
              << "): forward " << fwd * 1e3 << " ms, energy+forces " << ef * 1e3 << " ms, energy+force loss backward "
              << train * 1e3 << " ms\n";
    CHECK(fwd > 0);
}
