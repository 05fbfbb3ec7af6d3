// nn/bpnn/parallel: chunks of a batch, sub-batches, and forward_backward on 1, 2 and 3 threads
// (identical bits) against its oracle, the whole-batch graph (energy_forces_stress, energy_loss,
// ad::backward), which it equals up to rounding (the loss is the same sum split into chunks).
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>

#include "autodiff/ops.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/bpnn/trainer.hpp"
#include "nn/pet/nanopet.hpp"
#include "tests/helpers.hpp"
#include "tests/nn/pet/tiny_pet_hypers.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using nn::bpnn::Batch;
using nn::bpnn::SoapBpnn;
using testing::AllClose;

namespace {

nn::bpnn::BpnnHypers small_hypers() {
    nn::bpnn::BpnnHypers h;
    h.cutoff = 4.0;
    h.max_angular = 3;
    h.max_radial = 3;
    h.num_neurons_per_layer = 8;
    return h;
}

bool same_bits(const Tensor& a, const Tensor& b) {
    if (a.defined() != b.defined()) return false;
    if (!a.defined()) return true;
    return a.shape() == b.shape() &&
           std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<size_t>(a.numel())) == 0;
}

struct Run {
    nn::bpnn::StepResult result;
    std::vector<Tensor> grads;
};

Run run(const SoapBpnn& model, const Batch& b, const nn::bpnn::Targets& t, const nn::bpnn::LossConfig& w, int threads) {
    nn::bpnn::set_num_threads(threads);
    for (Tensor p : model.parameters()) p.zero_grad();
    Run r;
    r.result = nn::bpnn::forward_backward(model, b, t, w);
    for (const Tensor& p : model.parameters()) r.grads.push_back(p.grad().clone());
    nn::bpnn::set_num_threads(0);
    return r;
}

}  // namespace

TEST_CASE("bpnn parallel: chunks are contiguous, cover the batch, and have about equal atoms", "[nn][bpnn][parallel]") {
    auto frames = testing::test_frames("ethanol-xtb-20.xyz");
    frames.resize(8);
    Batch b = nn::bpnn::make_batch(frames, 5.0);
    // 72 atoms x 2556 features = 184k entries > 131k: 2 chunks of 4 ethanol molecules
    auto c = nn::bpnn::step_chunks(b, 2556);
    REQUIRE(c.size() == 2);
    CHECK(c[0] == std::make_pair(0L, 4L));
    CHECK(c[1] == std::make_pair(4L, 8L));
    CHECK(nn::bpnn::step_chunks(b, 8000).size() == 8);  // 576k entries: 4.4 chunks' worth -> 8
    Batch one = nn::bpnn::make_batch({frames[0]}, 5.0);
    CHECK(nn::bpnn::step_chunks(one, 2556).size() == 1);

    // sub_batch: structure-local everything, positions copied
    Batch s = nn::bpnn::sub_batch(b, 2, 5);
    CHECK(s.n_structures() == 3);
    CHECK(s.n_atoms() == 27);
    CHECK(s.offsets == std::vector<long>({0, 9, 18, 27}));
    CHECK(s.structure[9] == 1);
    CHECK_THAT(s.positions, AllClose(ad::slice(b.positions, 0, 18, 45), 0, 0));
    REQUIRE_THROWS_WITH(nn::bpnn::sub_batch(b, 3, 3), Catch::Contains("expected 0 <= first < last <= 8, got 3 and 3"));
}

TEST_CASE("bpnn parallel: forward_backward is the same for any thread count and equals the whole-batch graph",
          "[nn][bpnn][parallel]") {
    // ethanol (forces) + periodic Cu (forces and stress: every loss term is used)
    auto frames = testing::test_frames("ethanol-xtb-20.xyz");
    frames.resize(5);
    for (const auto& f : testing::test_frames("cu-emt-6.xyz")) {
        if (frames.size() == 8) break;
        frames.push_back(f);
    }
    ad::Rng rng(42);
    SoapBpnn model(small_hypers(), {1, 6, 8, 29}, rng);
    Batch b = nn::bpnn::make_batch(frames, model.hypers().cutoff);
    nn::bpnn::Targets t = nn::bpnn::targets_of(frames);
    REQUIRE(t.forces.defined());
    REQUIRE(!t.with_stress.empty());
    REQUIRE(nn::bpnn::step_chunks(b, model.soap().n_features()).size() >= 2);

    for (int terms = 0; terms < 4; ++terms) {
        nn::bpnn::LossConfig w;  // metatrain's defaults: energy, forces and strain, mse, mean
        nn::bpnn::Targets tt = t;
        if (terms == 1) {  // other types and a sum reduction (no share scaling for it)
            w.energy.type = nn::bpnn::LossType::mae;
            w.forces.type = nn::bpnn::LossType::huber;
            w.forces.delta = 0.05;
            w.forces.reduction = nn::bpnn::Reduction::sum;
            w.strain.weight = 2.0;
        }
        if (terms == 2) w.forces.weight = w.strain.weight = 0.0;  // forces for the metrics, no derivative graph
        if (terms == 3) tt.forces = Tensor(), tt.with_stress.clear();  // energy only
        INFO("loss terms " << terms);
        Run r1 = run(model, b, tt, w, 1), r2 = run(model, b, tt, w, 2), r3 = run(model, b, tt, w, 3);
        for (const Run* r : {&r2, &r3}) {
            CHECK(r->result.loss.total.item() == r1.result.loss.total.item());
            CHECK(same_bits(r->result.predictions.energies, r1.result.predictions.energies));
            CHECK(same_bits(r->result.predictions.forces, r1.result.predictions.forces));
            CHECK(same_bits(r->result.predictions.stress, r1.result.predictions.stress));
            for (size_t k = 0; k < r1.grads.size(); ++k) CHECK(same_bits(r->grads[k], r1.grads[k]));
        }

        // oracle: one graph over the whole batch
        for (Tensor p : model.parameters()) p.zero_grad();
        const bool derivatives = tt.forces.defined() || !tt.with_stress.empty();
        nn::bpnn::EnergyForcesStress net;
        if (derivatives) net = model.energy_forces_stress(b, ad::CreateGraph::yes);
        else net.energies = model.forward(b).energies;
        nn::bpnn::LossTerms loss = nn::bpnn::energy_loss(net, tt, b, w);
        ad::backward(loss.total, model.parameters());
        CHECK(r1.result.loss.total.item() == Approx(loss.total.item()).epsilon(1e-12));
        CHECK(r1.result.loss.energy.item() == Approx(loss.energy.item()).epsilon(1e-12));
        CHECK(r1.result.loss.forces.defined() == loss.forces.defined());
        if (loss.forces.defined()) CHECK(r1.result.loss.forces.item() == Approx(loss.forces.item()).epsilon(1e-12));
        CHECK(r1.result.loss.strain.defined() == loss.strain.defined());
        if (loss.strain.defined()) CHECK(r1.result.loss.strain.item() == Approx(loss.strain.item()).epsilon(1e-12));
        CHECK_THAT(r1.result.predictions.energies, AllClose(net.energies.detach(), 1e-12, 1e-12));
        if (derivatives) {
            CHECK_THAT(r1.result.predictions.forces, AllClose(net.forces.detach(), 1e-12, 1e-12));
            CHECK_THAT(r1.result.predictions.stress, AllClose(net.stress.detach(), 1e-12, 1e-12));
        } else {
            CHECK(!r1.result.predictions.forces.defined());
        }
        // sums over atoms in another grouping: equal to rounding
        for (size_t k = 0; k < r1.grads.size(); ++k) CHECK_THAT(r1.grads[k], AllClose(model.parameters()[k].grad(), 1e-10, 1e-13));
    }
    for (Tensor p : model.parameters()) p.zero_grad();
}

TEST_CASE("bpnn parallel: thread count from set_num_threads or ATOMGRAD_NUM_THREADS", "[nn][bpnn][parallel]") {
    nn::bpnn::set_num_threads(3);
    CHECK(nn::bpnn::num_threads() == 3);
    nn::bpnn::set_num_threads(0);
    ::setenv("ATOMGRAD_NUM_THREADS", "2", 1);
    CHECK(nn::bpnn::num_threads() == 2);
    ::setenv("ATOMGRAD_NUM_THREADS", "two", 1);
    REQUIRE_THROWS_WITH(nn::bpnn::num_threads(), Catch::Contains("ATOMGRAD_NUM_THREADS: expected a positive integer, got 'two'"));
    ::unsetenv("ATOMGRAD_NUM_THREADS");
    CHECK(nn::bpnn::num_threads() == 1);
}

TEST_CASE("predict_chunked: the chunks' predictions equal the whole batch's, same bits on 1 and 2 threads",
          "[bpnn][parallel]") {
    // NanoPET's chunks are 64 atoms (step_chunk_width 2048): 6 Cu cells of 32 atoms -> 4 chunks
    std::vector<desc::System> cu = testing::test_frames("cu-emt-6.xyz");
    ad::Rng rng(4);
    nn::pet::NanoPet model(nn_testing::tiny_nanopet_hypers(), desc::unique_numbers(cu), rng);
    const Batch batch = nn::bpnn::make_batch(cu, model.cutoff());
    REQUIRE(nn::atomistic::step_chunks(batch, model.step_chunk_width()).size() > 1);
    const nn::bpnn::EnergyForcesStress whole = model.energy_forces_stress(batch, ad::CreateGraph::no);
    nn::bpnn::set_num_threads(1);
    const nn::bpnn::EnergyForcesStress one = nn::atomistic::predict_chunked(model, batch);
    nn::bpnn::set_num_threads(2);
    const nn::bpnn::EnergyForcesStress two = nn::atomistic::predict_chunked(model, batch);
    nn::bpnn::set_num_threads(0);
    // the same structures through smaller matrix products: equal up to rounding
    CHECK_THAT(one.energies, AllClose(whole.energies, 1e-12, 1e-12));
    CHECK_THAT(one.forces, AllClose(whole.forces, 1e-10, 1e-12));
    CHECK_THAT(one.stress, AllClose(whole.stress, 1e-10, 1e-12));
    CHECK(same_bits(one.energies, two.energies));
    CHECK(same_bits(one.forces, two.forces));
    CHECK(same_bits(one.stress, two.stress));
}
