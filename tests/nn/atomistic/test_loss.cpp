// Targets and metatrain's energy/forces/strain loss of nn/bpnn/loss.hpp: hand values of every type,
// reduction and per_structure_targets, which terms are skipped, virial targets, and the parameter
// gradient through forces and strain with huber / mae / mse terms.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>

#include "autodiff/ops.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/bpnn/trainer.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using namespace nn::bpnn;

namespace {
std::vector<desc::System> cu_frames() {
    auto frames = testing::test_frames("cu-emt-6.xyz");
    frames.resize(2);  // bulk32 and strained32: periodic, with energy, forces and stress
    return frames;
}
}  // namespace

TEST_CASE("bpnn loss: targets from frames and hand values of every term", "[nn][bpnn]") {
    auto frames = cu_frames();
    Batch batch = make_batch(frames, 3.0);
    Targets t = targets_of(frames);
    REQUIRE(t.energies.shape() == ad::Shape{2});
    REQUIRE(t.forces.shape() == (ad::Shape{64, 3}));
    REQUIRE(t.stress.shape() == (ad::Shape{2, 3, 3}));
    CHECK(t.with_stress == std::vector<long>{0, 1});
    CHECK(t.energies[1] == frames[1].require_energy());
    CHECK(t.stress[9 + 5] == frames[1].require_stress()[5]);

    // Predictions = targets + known offsets.
    EnergyForcesStress pred;
    pred.energies = t.energies + ad::tensor({2}, {3.2, -6.4});  // per atom: 0.1, -0.2
    pred.forces = t.forces + 0.2;
    pred.stress = t.stress + ad::tensor({2, 1, 1}, {0.001, 0.0});
    LossConfig w;
    w.energy.weight = 2.0;
    w.forces.weight = 3.0;
    w.strain.weight = 7.0;
    LossTerms L = energy_loss(pred, t, batch, w);
    const double V0 = std::fabs(frames[0].volume());
    // strain gradient per atom: V0 * 0.001 / 32 on the 9 components of structure 0, 0 on structure 1
    const double e = (0.01 + 0.04) / 2, f = 0.04, v = std::pow(0.001 * V0 / 32, 2) / 2;
    // 1e-12 relative: float64 sums of ~100 terms; 1e-9 where 1e-3 offsets are added to O(1e-2) stresses.
    CHECK(L.energy.item() == Approx(e).epsilon(1e-12));
    CHECK(L.forces.item() == Approx(f).epsilon(1e-12));
    CHECK(L.strain.item() == Approx(v).epsilon(1e-9));
    CHECK(L.total.item() == Approx(2 * e + 3 * f + 7 * v).epsilon(1e-12));

    // mae / huber / sum on the same residuals: r_E = (0.1, -0.2), r_F = 0.2 (192 components)
    LossConfig other;
    other.energy = LossTerm{LossType::huber, 1.0, Reduction::mean, 0.15};  // 0.005 inside, 0.15 (0.2 - 0.075) outside
    other.forces = LossTerm{LossType::mae, 1.0, Reduction::sum, 1.0};
    other.strain = LossTerm{LossType::mse, 1.0, Reduction::sum, 1.0};
    LossTerms O = energy_loss(pred, t, batch, other);
    CHECK(O.energy.item() == Approx((0.005 + 0.01875) / 2).epsilon(1e-12));
    CHECK(O.forces.item() == Approx(0.2 * 192).epsilon(1e-12));
    CHECK(O.strain.item() == Approx(2 * 9 * v).epsilon(1e-9));

    // per_structure_targets: no division by the number of atoms (energy and strain gradient)
    LossConfig per_structure = w;
    per_structure.per_structure = true;
    LossTerms P = energy_loss(pred, t, batch, per_structure);
    CHECK(P.energy.item() == Approx((3.2 * 3.2 + 6.4 * 6.4) / 2).epsilon(1e-12));
    CHECK(P.forces.item() == Approx(f).epsilon(1e-12));
    CHECK(P.strain.item() == Approx(std::pow(0.001 * V0, 2) / 2).epsilon(1e-9));

    // Zero weights and missing targets skip their terms.
    LossConfig energy_only;
    energy_only.forces.weight = 0;
    energy_only.strain.weight = 0;
    LossTerms only_energy = energy_loss(pred, t, batch, energy_only);
    CHECK_FALSE(only_energy.forces.defined());
    CHECK_FALSE(only_energy.strain.defined());
    CHECK(only_energy.total.item() == Approx(e).epsilon(1e-12));
    Targets no_stress = t;
    no_stress.with_stress.clear();
    CHECK_FALSE(energy_loss(pred, no_stress, batch, w).strain.defined());
    REQUIRE_THROWS_WITH(energy_loss(pred, Targets{}, batch, w), Catch::Contains("expected target energies [2]"));

    // a virial W = -V sigma is read as the same stress target
    std::vector<desc::System> with_virial = frames;
    for (auto& fr : with_virial) fr.set_stress(-std::fabs(fr.volume()) * fr.require_stress(), "virial");
    Targets tv = targets_of(with_virial, "energy", "forces", "", "virial");
    REQUIRE(tv.with_stress == std::vector<long>{0, 1});
    for (long k = 0; k < 18; ++k) CHECK(tv.stress[k] == Approx(t.stress[k]).margin(1e-15));
}

TEST_CASE("bpnn loss: each type and reduction by hand; bad names", "[nn][bpnn]") {
    Tensor r = ad::tensor({2}, {0.5, -2.0});
    auto value = [&](LossType type, Reduction red) { return loss_term(r, LossTerm{type, 1.0, red, 1.0}).item(); };
    CHECK(value(LossType::mse, Reduction::mean) == Approx((0.25 + 4.0) / 2));
    CHECK(value(LossType::mse, Reduction::sum) == Approx(0.25 + 4.0));
    CHECK(value(LossType::mae, Reduction::mean) == Approx(2.5 / 2));
    CHECK(value(LossType::huber, Reduction::mean) == Approx((0.125 + 1.5) / 2));  // 0.5 r^2 | delta (|r| - delta / 2)
    CHECK(value(LossType::huber, Reduction::sum) == Approx(0.125 + 1.5));
    // huber with a large delta is mse / 2; with a small one it tends to delta * mae
    CHECK(loss_term(r, LossTerm{LossType::huber, 1.0, Reduction::mean, 10.0}).item() == Approx(value(LossType::mse, Reduction::mean) / 2));
    REQUIRE_THROWS_WITH(parse_loss_type("l2"), Catch::Contains("expected one of mse, mae, huber, got 'l2'"));
    REQUIRE_THROWS_WITH(parse_reduction("none"), Catch::Contains("expected one of mean, sum, got 'none'"));
    REQUIRE_THROWS_WITH(loss_term(r, LossTerm{LossType::huber, 1.0, Reduction::mean, 0.0}),
                        Catch::Contains("expected huber delta > 0, got 0"));
}

TEST_CASE("bpnn loss: gradient w.r.t. parameters through forces, stress and virial passes finite differences", "[nn][bpnn]") {
    auto frames = cu_frames();
    BpnnHypers h;
    h.cutoff = 3.0;
    h.max_angular = 2;
    h.max_radial = 2;
    h.num_neurons_per_layer = 4;
    ad::Rng rng(42);
    SoapBpnn model(h, {29}, rng);
    Batch batch = make_batch(frames, h.cutoff);
    Targets t = targets_of(frames);
    // huber on the energies, mae on the forces, mse on the strain: every type through the force graph
    LossConfig w;
    w.energy = LossTerm{LossType::huber, 1.0, Reduction::mean, 0.05};
    w.forces = LossTerm{LossType::mae, 10.0, Reduction::sum, 1.0};
    w.strain = LossTerm{LossType::mse, 100.0, Reduction::mean, 1.0};
    auto loss = [&]() { return energy_loss(model.energy_forces_stress(batch, ad::CreateGraph::yes), t, batch, w).total; };
    CHECK(nn_testing::inplace_gradcheck(loss, model.parameters()));
}
