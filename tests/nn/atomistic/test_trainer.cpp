// nn/atomistic/trainer: rotational augmentation. A spy model (the toy pair model of toy_model.hpp,
// declared not rotation invariant so that the trainer augments it) records the positions of every
// training batch it sees. Checked: the augmented structures differ from epoch to epoch by an
// orthogonal map (distances kept); the force targets turn with them (the toy is invariant, so the
// losses with and without augmentation agree to rounding only if F' = F Q^T); a restart from an
// epoch's state continues the same rotations (RNG state in TrainingState) and ends on
// byte-identical parameters. Runs without validation, so that every forward pass is a training
// step's (forward_backward may split a batch into chunks: an epoch's passes are concatenated).
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <vector>

#include "autodiff/ops.hpp"
#include "nn/atomistic/parallel.hpp"
#include "nn/atomistic/trainer.hpp"
#include "tests/helpers.hpp"
#include "tests/nn/atomistic/toy_model.hpp"

using ad::Tensor;

namespace {

// The toy with rotation_invariant() false; records the positions of each forward pass.
class SpyToy : public toy::PairToy {
  public:
    SpyToy(const std::vector<int>& species, ad::Rng& rng, std::vector<Tensor>* seen)
        : toy::PairToy(3, species, rng), seen_(seen) {}
    nn::atomistic::Output forward(const nn::atomistic::Batch& b) const override {
        if (seen_) seen_->push_back(b.positions.detach().clone());
        return toy::PairToy::forward(b);
    }
    bool rotation_invariant() const override { return false; }

  private:
    std::vector<Tensor>* seen_;
};

nn::atomistic::ModelBuilder spy_builder(std::vector<Tensor>* seen) {
    return [seen](const std::vector<int>& species, ad::Rng& rng) { return std::make_shared<SpyToy>(species, rng, seen); };
}

double distance(const Tensor& R, long i, long j) {
    double d2 = 0;
    for (long a = 0; a < 3; ++a) d2 += (R[3 * i + a] - R[3 * j + a]) * (R[3 * i + a] - R[3 * j + a]);
    return std::sqrt(d2);
}

nn::atomistic::TrainerSettings settings() {
    nn::atomistic::TrainerSettings s;
    s.num_epochs = 4;
    s.batch_size = 14;  // one step per epoch: one recorded batch per epoch
    s.learning_rate = 0.02;
    s.seed = 4;
    return s;
}

// The recorded passes grouped per epoch: each epoch's positions concatenated [n_atoms, 3].
std::vector<Tensor> by_epoch(const std::vector<Tensor>& passes, size_t per_epoch) {
    std::vector<Tensor> out;
    for (size_t e = 0; e * per_epoch < passes.size(); ++e)
        out.push_back(ad::concat(std::vector<Tensor>(passes.begin() + static_cast<long>(e * per_epoch),
                                                     passes.begin() + static_cast<long>((e + 1) * per_epoch)), 0));
    return out;
}

bool same_bits(const nn::NamedTensors& a, const nn::NamedTensors& b) {
    if (a.size() != b.size()) return false;
    for (size_t k = 0; k < a.size(); ++k)
        for (long i = 0; i < a[k].second.numel(); ++i)
            if (a[k].second[i] != b[k].second[i]) return false;
    return true;
}

}  // namespace

TEST_CASE("trainer: rotational augmentation turns structures and force targets; restarts continue the rotations",
          "[atomistic][augmentation]") {
    const int threads = nn::atomistic::num_threads();
    nn::atomistic::set_num_threads(1);  // one forward per step, recorded in order
    std::vector<desc::System> all = testing::test_frames("ethanol-xtb-20.xyz");
    std::vector<desc::System> train(all.begin(), all.begin() + 14);
    std::vector<Tensor> seen, plain_seen;

    // default: on for a model that is not rotation invariant, off for one that is
    ad::Rng rng0(0);
    CHECK(nn::atomistic::uses_rotational_augmentation(SpyToy({1, 6, 8}, rng0, nullptr), settings()));
    CHECK_FALSE(nn::atomistic::uses_rotational_augmentation(toy::PairToy(3, {1, 6, 8}, rng0), settings()));

    nn::atomistic::TrainerSettings s = settings();
    nn::atomistic::TrainedModel aug = nn::atomistic::train_model(spy_builder(&seen), train, {}, s);
    s.rotational_augmentation = false;
    nn::atomistic::TrainedModel plain = nn::atomistic::train_model(spy_builder(&plain_seen), train, {}, s);
    REQUIRE(seen.size() % 4 == 0);
    REQUIRE(plain_seen.size() == seen.size());
    const size_t per_epoch = seen.size() / 4;
    seen = by_epoch(seen, per_epoch);
    plain_seen = by_epoch(plain_seen, per_epoch);
    // without augmentation the batches hold the data's positions; with it, each epoch's differ from
    // the data and from the other epochs', with every interatomic distance kept (rounding: 1e-12 A)
    const long n = seen[0].dim(0);
    double moved_vs_plain = 0, moved_vs_previous = 0, distance_change = 0;
    for (size_t e = 0; e < 4; ++e) {
        for (long k = 0; k < seen[e].numel(); ++k) {
            moved_vs_plain = std::max(moved_vs_plain, std::fabs(seen[e][k] - plain_seen[e][k]));
            if (e > 0) moved_vs_previous = std::max(moved_vs_previous, std::fabs(seen[e][k] - seen[e - 1][k]));
        }
    }
    // the batch order is the same shuffle in both runs (own RNG): compare distances atom by atom
    for (size_t e = 0; e < 4; ++e)
        for (long i = 0; i + 1 < n; i += 9)  // the first two atoms of each ethanol
            distance_change = std::max(distance_change, std::fabs(distance(seen[e], i, i + 1) - distance(plain_seen[e], i, i + 1)));
    CHECK(moved_vs_plain > 0.1);
    CHECK(moved_vs_previous > 0.1);
    CHECK(distance_change < 1e-12);
    // the toy is invariant: with the force targets turned consistently, every epoch's training
    // loss equals the plain run's to rounding; a target left unrotated would change the force
    // loss at O(1)
    for (size_t e = 0; e < 4; ++e) CHECK(aug.history[e].train.loss == Approx(plain.history[e].train.loss).epsilon(1e-9));

    // restart from epoch 2's state: the same rotations in epochs 3 and 4, the same final bits
    nn::atomistic::TrainingState at2;
    nn::atomistic::TrainedModel m2;
    s = settings();
    seen.clear();
    nn::atomistic::TrainedModel full = nn::atomistic::train_model(
        spy_builder(&seen), train, {}, s, [&](const nn::atomistic::EpochLog& log, const nn::atomistic::TrainedModel& m,
                                               const nn::atomistic::TrainingState& state) {
            if (log.epoch == 2) {
                at2 = state;  // the tensors share storage with the live model and Adam: copy them
                for (nn::NamedTensors* t : {&at2.model, &at2.best, &at2.optimizer, &at2.scheduler})
                    for (auto& entry : *t) entry.second = entry.second.clone();
                m2.composition = m.composition;
                m2.scaler = m.scaler;
            }
        });
    REQUIRE_FALSE(at2.augment_rng.empty());
    std::vector<Tensor> resumed_seen;
    nn::atomistic::TrainStart start;
    start.restart = &at2;
    start.composition = &m2.composition;
    start.scaler = &m2.scaler;
    nn::atomistic::TrainedModel resumed = nn::atomistic::train_model(spy_builder(&resumed_seen), train, {}, s, {}, start);
    REQUIRE(resumed_seen.size() == 2 * per_epoch);
    for (size_t e = 0; e < 2 * per_epoch; ++e) CHECK(same_bits({{"R", resumed_seen[e]}}, {{"R", seen[e + 2 * per_epoch]}}));
    CHECK(same_bits(resumed.model->state_dict(), full.model->state_dict()));
    // a state without the rotations' RNG cannot continue an augmented run
    at2.augment_rng.clear();
    REQUIRE_THROWS_WITH(nn::atomistic::train_model(spy_builder(nullptr), train, {}, s, {}, start),
                        Catch::Matchers::Contains("--restart: expected the augmentation RNG state in the checkpoint"));
    nn::atomistic::set_num_threads(threads);
}
