// Training loop of the SOAP-BPNN model (see trainer.hpp for the recipe and the metrics).
#include "nn/bpnn/trainer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "autodiff/error.hpp"
#include "autodiff/ops.hpp"
#include "nn/bpnn/parallel.hpp"
#include "nn/optim.hpp"
#include "nn/scheduler.hpp"

namespace nn::bpnn {

namespace {

/// Running sums of errors in physical units.
struct ErrorSums {
    double e_sq = 0, e_abs = 0, f_sq = 0, f_abs = 0, loss = 0;
    long n_structures = 0, n_force_components = 0;
    long n_batches = 0;  ///< divisor of loss: batches (training) or structures (evaluate)

    /// pred: physical predictions; frames: the batch's frames.
    void add(const EnergyForcesStress& pred, const std::vector<desc::System>& frames, const TrainerSettings& s) {
        long atom = 0;
        for (size_t k = 0; k < frames.size(); ++k) {
            const desc::System& f = frames[k];
            const double n = static_cast<double>(f.n_atoms());
            const double err = (pred.energies[static_cast<long>(k)] - f.require_energy(s.energy_key)) / n;
            e_sq += err * err;
            e_abs += std::abs(err);
            ++n_structures;
            if (s.weights.forces > 0) {
                ad::Tensor ref = f.require_forces(s.forces_key);
                for (long c = 0; c < 3 * f.n_atoms(); ++c) {
                    const double d = pred.forces[3 * atom + c] - ref[c];
                    f_sq += d * d;
                    f_abs += std::abs(d);
                    ++n_force_components;
                }
            }
            atom += f.n_atoms();
        }
    }
    SplitMetrics metrics() const {
        const double nan = std::numeric_limits<double>::quiet_NaN();
        SplitMetrics m;
        m.loss = n_batches ? loss / static_cast<double>(n_batches) : nan;
        m.energy_rmse_per_atom = std::sqrt(e_sq / static_cast<double>(n_structures));
        m.energy_mae_per_atom = e_abs / static_cast<double>(n_structures);
        m.forces_rmse = n_force_components ? std::sqrt(f_sq / static_cast<double>(n_force_components)) : nan;
        m.forces_mae = n_force_components ? f_abs / static_cast<double>(n_force_components) : nan;
        return m;
    }
};

std::vector<desc::System> pick(const std::vector<desc::System>& frames, const std::vector<size_t>& order, size_t begin,
                               size_t end) {
    std::vector<desc::System> out;
    for (size_t k = begin; k < end; ++k) out.push_back(frames[order[k]]);
    return out;
}

/// Targets of a batch for the network: baseline removed, divided by the scale.
Targets scaled_targets(const std::vector<desc::System>& frames, const Batch& batch, const CompositionModel& composition,
                       const EnergyScaler& scaler, const TrainerSettings& s) {
    Targets t = targets_of(frames, s.energy_key, s.forces_key, s.stress_key);
    ad::Tensor residual = (t.energies - composition.baseline(batch)).clone();
    ad::Tensor forces = s.weights.forces > 0 ? t.forces : ad::Tensor{};
    ad::Tensor stress = t.stress;
    scaler.scale_down(residual, forces, stress);
    t.energies = residual;
    t.forces = forces;
    t.stress = stress;
    return t;
}

NamedTensors copy_state(const SoapBpnn& model) {
    NamedTensors out;
    for (const auto& [name, t] : model.state_dict()) out.emplace_back(name, t.clone());
    return out;
}

}  // namespace

void check_training_frames(const std::vector<desc::System>& frames, const TrainerSettings& s, const std::string& what) {
    AD_CHECK(!frames.empty(), what << ": expected at least one frame, got none");
    for (const desc::System& f : frames) {
        AD_CHECK(f.find_info(s.energy_key), f.where() << ": expected the energy key '" << s.energy_key
                                                      << "', got a frame without it");
        f.require_energy(s.energy_key);
        if (s.weights.forces > 0) {
            const desc::AtomColumn* c = f.find_array(s.forces_key);
            AD_CHECK(c && c->n_cols == 3, f.where() << ": expected the per-atom forces key '" << s.forces_key
                                                    << "' (3 reals), got a frame without it; set forces = false to "
                                                       "train on energies only");
        }
    }
}

SplitMetrics evaluate(const SoapBpnn& model, const CompositionModel& composition, const EnergyScaler& scaler,
                      const std::vector<desc::System>& frames, const TrainerSettings& s) {
    ErrorSums sums;
    std::vector<size_t> order(frames.size());
    std::iota(order.begin(), order.end(), 0);
    const size_t bs = static_cast<size_t>(std::max<long>(1, s.batch_size));
    for (size_t b = 0; b < frames.size(); b += bs) {
        std::vector<desc::System> part = pick(frames, order, b, std::min(frames.size(), b + bs));
        Batch batch = make_batch(part, model.hypers().cutoff);
        EnergyForcesStress net = model.energy_forces_stress(batch, ad::CreateGraph::no);
        Targets t = scaled_targets(part, batch, composition, scaler, s);
        // weighted by the batch's structures, so the loss does not depend on the batching
        sums.loss += energy_loss(net, t, batch, s.weights).total.item() * static_cast<double>(part.size());
        sums.n_batches += static_cast<long>(part.size());
        ad::NoGrad no_grad;
        sums.add(predict(net, scaler, composition.baseline(batch)), part, s);
    }
    return sums.metrics();
}

TrainedModel train_soap_bpnn(const std::vector<desc::System>& train, const std::vector<desc::System>& val,
                             const TrainerSettings& s,
                             const std::function<void(const EpochLog&, const TrainedModel&)>& on_epoch) {
    check_training_frames(train, s, "training set");
    if (!val.empty()) check_training_frames(val, s, "validation set");
    const long n_train = static_cast<long>(train.size());
    AD_CHECK(s.batch_size >= 1 && s.batch_size <= n_train,
             "architecture.training.batch_size: expected 1 .. " << n_train << " (the training frames), got "
                                                               << s.batch_size);
    AD_CHECK(s.num_epochs >= 1, "architecture.training.num_epochs: expected >= 1, got " << s.num_epochs);

    TrainedModel out;
    // composition baseline and scaler on the training split
    std::vector<std::vector<int>> numbers;
    std::vector<double> energies;
    for (const desc::System& f : train) {
        numbers.push_back(f.numbers);
        energies.push_back(f.require_energy(s.energy_key));
    }
    std::vector<int> species = desc::unique_numbers(train);
    out.composition = CompositionModel::fit(numbers, energies, species);
    out.scaler = EnergyScaler::fit(out.composition.remove(numbers, energies));
    ad::Rng rng(static_cast<uint64_t>(s.seed));
    out.model = std::make_shared<SoapBpnn>(s.hypers, species, rng);
    SoapBpnn& model = *out.model;

    const long steps_per_epoch = (n_train + s.batch_size - 1) / s.batch_size;
    const long total_steps = steps_per_epoch * s.num_epochs;
    const long warmup = static_cast<long>(std::llround(s.warmup_fraction * static_cast<double>(total_steps)));
    LrSchedule schedule = warmup_then(s.learning_rate, warmup, ScheduleKind::cosine, total_steps);
    Adam adam(model.parameters(), s.learning_rate);
    std::mt19937_64 shuffle_rng(static_cast<uint64_t>(s.seed) + 1);
    std::vector<size_t> order(train.size());
    std::iota(order.begin(), order.end(), 0);

    NamedTensors best_state = copy_state(model);
    double best_loss = std::numeric_limits<double>::infinity();
    long step = 0;
    for (long epoch = 1; epoch <= s.num_epochs; ++epoch) {
        std::shuffle(order.begin(), order.end(), shuffle_rng);
        ErrorSums sums;
        EpochLog log;
        log.epoch = epoch;
        for (size_t b = 0; b < train.size(); b += static_cast<size_t>(s.batch_size)) {
            std::vector<desc::System> part =
                pick(train, order, b, std::min(train.size(), b + static_cast<size_t>(s.batch_size)));
            Batch batch = make_batch(part, s.hypers.cutoff);
            Targets t = scaled_targets(part, batch, out.composition, out.scaler, s);
            log.lr = schedule.lr_at(step);
            adam.set_lr(log.lr);
            adam.zero_grad();
            // predictions, loss, and its gradient into .grad(), over chunks of the batch on num_threads() threads
            const auto [net, loss] = forward_backward(model, batch, t, s.weights);
            adam.step();
            ++step;
            sums.loss += loss.total.item();
            ++sums.n_batches;
            ad::NoGrad no_grad;  // metrics of the step's (pre-update) predictions, as metatrain's
            EnergyForcesStress phys = predict(net.forces.defined() ? net : EnergyForcesStress{net.energies, {}, {}},
                                              out.scaler, out.composition.baseline(batch));
            TrainerSettings energy_only = s;
            if (!phys.forces.defined()) energy_only.weights.forces = 0;
            sums.add(phys, part, energy_only);
        }
        log.train = sums.metrics();
        if (!val.empty()) {
            log.val = evaluate(model, out.composition, out.scaler, val, s);
            log.have_val = true;
        }
        const double monitored = log.have_val ? log.val.loss : log.train.loss;
        if (monitored < best_loss) {
            best_loss = monitored;
            best_state = copy_state(model);
            out.best_epoch = epoch;
        }
        out.history.push_back(log);
        if (on_epoch) on_epoch(log, out);
    }
    model.load_state_dict(best_state);
    return out;
}

}  // namespace nn::bpnn
