// Targets and the weighted energy/force/stress/virial loss of nn/bpnn/loss.hpp: hand values on
// shifted targets, which terms are skipped, and the parameter gradient through forces and virial.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>

#include "autodiff/ops.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/bpnn/loss.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using namespace nn::bpnn;

namespace {
std::vector<desc::System> cu_frames() {
    auto path = std::filesystem::path(__FILE__).parent_path().parent_path() / "data" / "cu-emt-6.xyz";
    auto frames = desc::read_extxyz(path.string());
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
    LossWeights w{2.0, 3.0, 5.0, 7.0};
    LossTerms L = energy_loss(pred, t, batch, w);
    const double V0 = std::fabs(frames[0].volume());
    const double e = (0.01 + 0.04) / 2, f = 0.04, s = 1e-6 / 2, v = std::pow(0.001 * V0 / 32, 2) / 2;
    // 1e-12 relative: float64 sums of ~100 terms.
    CHECK(L.energy.item() == Approx(e).epsilon(1e-12));
    CHECK(L.forces.item() == Approx(f).epsilon(1e-12));
    CHECK(L.stress.item() == Approx(s).epsilon(1e-9));  // 1e-3 offsets added to O(1e-2) stresses
    CHECK(L.virial.item() == Approx(v).epsilon(1e-9));
    CHECK(L.total.item() == Approx(2 * e + 3 * f + 5 * s + 7 * v).epsilon(1e-12));

    // Zero weights and missing targets skip their terms.
    LossTerms only_energy = energy_loss(pred, t, batch, LossWeights{1.0, 0.0, 0.0, 0.0});
    CHECK_FALSE(only_energy.forces.defined());
    CHECK_FALSE(only_energy.stress.defined());
    CHECK(only_energy.total.item() == Approx(e).epsilon(1e-12));
    Targets no_stress = t;
    no_stress.with_stress.clear();
    CHECK_FALSE(energy_loss(pred, no_stress, batch, w).stress.defined());
    REQUIRE_THROWS_WITH(energy_loss(pred, Targets{}, batch, w), Catch::Contains("expected target energies [2]"));
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
    LossWeights w{1.0, 10.0, 100.0, 1.0};
    auto loss = [&]() { return energy_loss(model.energy_forces_stress(batch, ad::CreateGraph::yes), t, batch, w).total; };
    CHECK(nn_testing::inplace_gradcheck(loss, model.parameters()));
}
