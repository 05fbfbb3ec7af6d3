// Training loop of the SOAP-BPNN model (see trainer.hpp for the recipe and the metrics).
#include "nn/atomistic/trainer.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>

#include "autodiff/error.hpp"
#include "autodiff/ops.hpp"
#include "descriptors/augmentation.hpp"
#include "nn/atomistic/parallel.hpp"
#include "nn/atomistic/zbl.hpp"
#include "nn/optim.hpp"
#include "nn/scheduler.hpp"

namespace nn::atomistic {

BestModelMetric parse_best_model_metric(const std::string& name) {
    if (name == "rmse_prod") return BestModelMetric::rmse_prod;
    if (name == "mae_prod") return BestModelMetric::mae_prod;
    if (name == "loss") return BestModelMetric::loss;
    AD_FAIL("best_model_metric: expected one of rmse_prod, mae_prod, loss, got '" << name << "'");
}

LrScheduler parse_lr_scheduler(const std::string& name) {
    if (name == "warmup_cosine") return LrScheduler::warmup_cosine;
    if (name == "plateau") return LrScheduler::plateau;
    AD_FAIL("scheduler: expected one of warmup_cosine, plateau, got '" << name << "'");
}

const char* to_string(LrScheduler scheduler) {
    return scheduler == LrScheduler::plateau ? "plateau" : "warmup_cosine";
}

const char* to_string(BestModelMetric metric) {
    switch (metric) {
        case BestModelMetric::rmse_prod: return "rmse_prod";
        case BestModelMetric::mae_prod: return "mae_prod";
        case BestModelMetric::loss: return "loss";
    }
    return "?";
}

// Products over the quantities the split has (NaN marks an absent one), as metatrain multiplies
// every "RMSE" ("MAE") entry of its metric dictionary. MAEs are always computed here, so mae_prod
// does not need log_mae (in metatrain it would be the empty product 1 without it).
double selected_metric(const SplitMetrics& m, BestModelMetric metric) {
    if (metric == BestModelMetric::loss) return m.loss;
    const bool rmse = metric == BestModelMetric::rmse_prod;
    double p = rmse ? m.energy_rmse_per_atom : m.energy_mae_per_atom;
    for (double v : {rmse ? m.forces_rmse : m.forces_mae, rmse ? m.strain_rmse_per_atom : m.strain_mae_per_atom})
        if (!std::isnan(v)) p *= v;
    return p;
}

long best_epoch_of(const std::vector<EpochLog>& history, BestModelMetric metric) {
    long best = 0;
    double best_value = std::numeric_limits<double>::infinity();
    for (const EpochLog& l : history) {
        const double v = selected_metric(l.have_val ? l.val : l.train, metric);
        if (v < best_value) {
            best_value = v;
            best = l.epoch;
        }
    }
    return best;
}

namespace {

/// Running sums of errors in physical units.
struct ErrorSums {
    double e_sq = 0, e_abs = 0, f_sq = 0, f_abs = 0, w_sq = 0, w_abs = 0, loss = 0;
    long n_structures = 0, n_force_components = 0, n_strain_components = 0;

    /// pred: physical predictions; t: physical targets of the same batch.
    void add(const EnergyForcesStress& pred, const Targets& t, const Batch& batch, const TrainerSettings& s) {
        for (long k = 0; k < batch.n_structures(); ++k) {
            const double n = s.loss.per_structure ? 1.0
                                                  : static_cast<double>(batch.offsets[static_cast<size_t>(k) + 1] -
                                                                        batch.offsets[static_cast<size_t>(k)]);
            const double err = (pred.energies[k] - t.energies[k]) / n;
            e_sq += err * err;
            e_abs += std::abs(err);
            ++n_structures;
        }
        if (pred.forces.defined() && t.forces.defined()) {
            for (long c = 0; c < t.forces.numel(); ++c) {
                const double d = pred.forces[c] - t.forces[c];
                f_sq += d * d;
                f_abs += std::abs(d);
                ++n_force_components;
            }
        }
        if (pred.stress.defined() && !t.with_stress.empty()) {
            for (long k : t.with_stress) {
                const double n = s.loss.per_structure ? 1.0
                                                      : static_cast<double>(batch.offsets[static_cast<size_t>(k) + 1] -
                                                                            batch.offsets[static_cast<size_t>(k)]);
                const double factor = batch.volumes[static_cast<size_t>(k)] / n;
                for (long c = 0; c < 9; ++c) {
                    const double d = factor * (pred.stress[9 * k + c] - t.stress[9 * k + c]);
                    w_sq += d * d;
                    w_abs += std::abs(d);
                    ++n_strain_components;
                }
            }
        }
    }
    SplitMetrics metrics() const {
        const double nan = std::numeric_limits<double>::quiet_NaN();
        auto rms = [&](double sq, long n) { return n ? std::sqrt(sq / static_cast<double>(n)) : nan; };
        auto avg = [&](double a, long n) { return n ? a / static_cast<double>(n) : nan; };
        SplitMetrics m;
        m.loss = loss;
        m.energy_rmse_per_atom = rms(e_sq, n_structures);
        m.energy_mae_per_atom = avg(e_abs, n_structures);
        m.forces_rmse = rms(f_sq, n_force_components);
        m.forces_mae = avg(f_abs, n_force_components);
        m.strain_rmse_per_atom = rms(w_sq, n_strain_components);
        m.strain_mae_per_atom = avg(w_abs, n_strain_components);
        return m;
    }
};

std::vector<desc::System> pick(const std::vector<desc::System>& frames, const std::vector<size_t>& order, size_t begin,
                               size_t end) {
    std::vector<desc::System> out;
    for (size_t k = begin; k < end; ++k) out.push_back(frames[order[k]]);
    return out;
}

Targets physical_targets(const std::vector<desc::System>& frames, const TrainerSettings& s) {
    return targets_of(frames, s.energy_key, s.forces_key, s.stress_key, s.virial_key);
}

/// The ZBL terms of a batch's frames when the model adds them, else nothing (undefined tensors).
EnergyForcesStress zbl_terms(const std::vector<desc::System>& frames, const AtomisticModel& model) {
    return model.has_zbl() ? zbl_baseline(frames) : EnergyForcesStress{};
}

/// Targets for the network: baselines (composition, ZBL) removed, divided by the scale.
Targets scaled_targets(const Targets& physical, const Batch& batch, const CompositionModel& composition,
                       const EnergyScaler& scaler, const EnergyForcesStress& repulsion) {
    Targets t = physical;
    const EnergyForcesStress rest =
        remove_baseline({physical.energies - composition.baseline(batch), physical.forces, physical.stress}, repulsion);
    t.energies = rest.energies.clone();
    if (t.forces.defined()) t.forces = rest.forces.clone();
    if (t.stress.defined()) t.stress = rest.stress.clone();
    scaler.scale_down(t.energies, t.forces, t.stress);
    return t;
}

/// Physical predictions: scale, composition baseline and ZBL added to the network's outputs.
EnergyForcesStress physical(const EnergyForcesStress& net, const CompositionModel& composition,
                            const EnergyScaler& scaler, const Batch& batch, const EnergyForcesStress& repulsion) {
    return add_baseline(predict(net, scaler, composition.baseline(batch)), repulsion);
}

NamedTensors copy_state(const NamedTensors& state) {
    NamedTensors out;
    for (const auto& [name, t] : state) out.emplace_back(name, t.clone());
    return out;
}

// ad::Rng state <-> "w0 w1 w2 w3 w4 w5" (TrainingState::augment_rng).
std::string rng_words_text(const ad::Rng& rng) {
    std::ostringstream os;
    const std::vector<uint64_t> w = rng.state();
    for (size_t k = 0; k < w.size(); ++k) os << (k ? " " : "") << w[k];
    return os.str();
}

std::vector<uint64_t> rng_words(const std::string& text, const std::string& what) {
    std::istringstream is(text);
    std::vector<uint64_t> w;
    uint64_t v = 0;
    while (is >> v) w.push_back(v);
    AD_CHECK(w.size() == 6 && is.eof(), what << ": expected 6 unsigned integers, got '" << text << "'");
    return w;
}

std::string rng_text(const std::mt19937_64& rng) {
    std::ostringstream os;
    os << rng;
    return os.str();
}

/// The network's energies (and forces / stress when the settings train them), without a graph.
EnergyForcesStress network(const AtomisticModel& model, const Batch& batch, const TrainerSettings& s) {
    if (s.use_forces() || s.use_strain()) {
        EnergyForcesStress net = predict_chunked(model, batch);
        if (!s.use_forces()) net.forces = ad::Tensor{};
        if (!s.use_strain()) net.stress = ad::Tensor{};
        return net;
    }
    ad::NoGrad no_grad;  // energy only: no derivative graph needed
    EnergyForcesStress net;
    net.energies = model.energies(batch);
    return net;
}

}  // namespace

void check_training_frames(const std::vector<desc::System>& frames, const TrainerSettings& s, const std::string& what) {
    AD_CHECK(!frames.empty(), what << ": expected at least one frame, got none");
    AD_CHECK(s.stress_key.empty() || s.virial_key.empty(),
             what << ": expected a stress or a virial target, got both ('" << s.stress_key << "' and '" << s.virial_key
                  << "')");
    for (const desc::System& f : frames) {
        AD_CHECK(f.find_info(s.energy_key), f.where() << ": expected the energy key '" << s.energy_key
                                                      << "', got a frame without it");
        f.require_energy(s.energy_key);
        if (s.use_forces()) {
            const desc::AtomColumn* c = f.find_array(s.forces_key);
            AD_CHECK(c && c->n_cols == 3, f.where() << ": expected the per-atom forces key '" << s.forces_key
                                                    << "' (3 reals), got a frame without it; set forces = false to "
                                                       "train on energies only");
            f.require_forces(s.forces_key);  // finite values, before any output is written
        }
        const std::string& strain_key = s.virial_key.empty() ? s.stress_key : s.virial_key;
        if (!strain_key.empty() && f.any_pbc())
            AD_CHECK(f.find_info(strain_key), f.where() << ": expected the " << (s.virial_key.empty() ? "stress" : "virial")
                                                        << " key '" << strain_key << "' in this periodic frame, got a "
                                                        << "frame without it; set " << (s.virial_key.empty() ? "stress" : "virial")
                                                        << " = false to train without it");
        if (!strain_key.empty() && f.find_info(strain_key)) {
            AD_CHECK(f.any_pbc() && std::abs(f.volume()) > 0,
                     f.where() << ": expected a periodic cell for the " << (s.virial_key.empty() ? "stress" : "virial")
                               << " key '" << strain_key << "', got a frame without one");
            f.require_stress(strain_key);
        }
    }
}

EnergyForcesStress predict_frames(const AtomisticModel& model, const CompositionModel& composition,
                                  const EnergyScaler& scaler, const std::vector<desc::System>& frames) {
    const Batch batch = make_batch(frames, model.cutoff());
    const EnergyForcesStress net = predict_chunked(model, batch);
    ad::NoGrad no_grad;
    return physical(net, composition, scaler, batch, zbl_terms(frames, model));
}

SplitMetrics evaluate(const AtomisticModel& model, const CompositionModel& composition, const EnergyScaler& scaler,
                      const std::vector<desc::System>& frames, const TrainerSettings& s) {
    ErrorSums sums;
    std::vector<size_t> order(frames.size());
    std::iota(order.begin(), order.end(), 0);
    const size_t bs = static_cast<size_t>(std::max<long>(1, s.batch_size));
    for (size_t b = 0; b < frames.size(); b += bs) {
        std::vector<desc::System> part = pick(frames, order, b, std::min(frames.size(), b + bs));
        Batch batch = make_batch(part, model.cutoff());
        EnergyForcesStress net = network(model, batch, s);
        Targets phys = physical_targets(part, s);
        const EnergyForcesStress repulsion = zbl_terms(part, model);
        Targets t = scaled_targets(phys, batch, composition, scaler, repulsion);
        sums.loss += energy_loss(net, t, batch, s.loss).total.item();  // summed over batches, as metatrain
        ad::NoGrad no_grad;
        sums.add(physical(net, composition, scaler, batch, repulsion), phys, batch, s);
    }
    return sums.metrics();
}

bool uses_rotational_augmentation(const AtomisticModel& model, const TrainerSettings& settings) {
    return settings.rotational_augmentation.value_or(!model.rotation_invariant());
}

TrainedModel train_model(const ModelBuilder& build, const std::vector<desc::System>& train,
                         const std::vector<desc::System>& val, const TrainerSettings& s, const EpochCallback& on_epoch,
                         const TrainStart& start) {
    check_training_frames(train, s, "training set");
    if (!val.empty()) check_training_frames(val, s, "validation set");
    const long n_train = static_cast<long>(train.size());
    AD_CHECK(s.batch_size >= 1 && s.batch_size <= n_train,
             "architecture.training.batch_size: expected 1 .. " << n_train << " (the training frames), got "
                                                               << s.batch_size);
    AD_CHECK(s.num_epochs >= 1, "architecture.training.num_epochs: expected >= 1, got " << s.num_epochs);
    AD_CHECK(s.grad_clip_norm > 0, "architecture.training.grad_clip_norm: expected > 0 (inf: no clipping), got "
                                       << s.grad_clip_norm);
    AD_CHECK(s.scheduler_factor > 0 && s.scheduler_factor < 1 && s.scheduler_patience >= 0,
             "architecture.training.scheduler_factor / scheduler_patience: expected a factor in (0, 1) and a "
             "patience >= 0, got " << s.scheduler_factor << " and " << s.scheduler_patience);

    TrainedModel out;
    std::vector<int> species = desc::unique_numbers(train);
    ad::Rng rng(static_cast<uint64_t>(s.seed));
    if (start.init) {
        for (int Z : species)
            AD_CHECK(std::count(start.init->species().begin(), start.init->species().end(), Z),
                     "--init: expected a model that knows every species of the training set, got one without Z = " << Z);
        out.model = build(start.init->species(), rng);
        AD_CHECK(out.model->hypers_toml() == start.init->hypers_toml() &&
                     out.model->architecture() == start.init->architecture(),
                 "--init: expected a model with the options' hypers, got one with\n" << start.init->hypers_toml());
        out.model->load_state_dict(start.init->state_dict());
    } else {
        out.model = build(species, rng);
    }
    AtomisticModel& model = *out.model;
    if (start.restart) {
        AD_CHECK(start.composition && start.scaler, "train_model: a restart needs its composition and scale");
        out.composition = *start.composition;
        out.scaler = *start.scaler;
    } else {
        // composition baseline and scaler on the training split
        std::vector<std::vector<int>> numbers;
        std::vector<double> energies;
        for (const desc::System& f : train) {
            numbers.push_back(f.numbers);
            // the composition is fitted to what the other baseline (ZBL) leaves, as metatrain's
            energies.push_back(f.require_energy(s.energy_key) - (model.has_zbl() ? zbl(f).energy : 0.0));
        }
        if (s.remove_composition_contribution) {
            out.composition = CompositionModel::fit(numbers, energies, species, s.fixed_composition_weights);
        } else {
            for (int Z : species) out.composition.weights[Z] = 0.0;  // no baseline
        }
        if (s.scale_targets) out.scaler = EnergyScaler::fit(out.composition.remove(numbers, energies), s.fixed_scaling_weight);
    }

    const long steps_per_epoch = (n_train + s.batch_size - 1) / s.batch_size;
    const long total_steps = steps_per_epoch * s.num_epochs;
    const long warmup = static_cast<long>(std::llround(s.warmup_fraction * static_cast<double>(total_steps)));
    LrSchedule schedule = warmup_then(s.learning_rate, warmup, ScheduleKind::cosine, total_steps);
    PlateauOptions plateau_options;
    plateau_options.factor = s.scheduler_factor;
    plateau_options.patience = s.scheduler_patience;
    ReduceOnPlateau plateau(s.learning_rate, plateau_options);
    const auto lr_at = [&](long k) {
        if (s.scheduler == LrScheduler::warmup_cosine) return schedule.lr_at(k);
        return k < warmup ? s.learning_rate * static_cast<double>(k + 1) / static_cast<double>(warmup) : plateau.lr();
    };
    Adam adam(model.parameters(), s.learning_rate);
    std::mt19937_64 shuffle_rng(static_cast<uint64_t>(s.seed) + 1);
    const bool augment = uses_rotational_augmentation(model, s);
    ad::Rng augment_rng(static_cast<uint64_t>(s.seed) + 2);
    std::vector<std::string> vector_keys, tensor_keys;  // the targets that rotate with the structure
    if (s.use_forces()) vector_keys.push_back(s.forces_key);
    if (!s.stress_key.empty()) tensor_keys.push_back(s.stress_key);
    if (!s.virial_key.empty()) tensor_keys.push_back(s.virial_key);
    std::vector<size_t> order(train.size());

    NamedTensors best_state = copy_state(model.state_dict());
    double best_metric = std::numeric_limits<double>::infinity();
    long step = 0, first_epoch = 1;
    if (start.restart) {
        const TrainingState& r = *start.restart;
        model.load_state_dict(r.model);
        adam.load_state(r.optimizer);
        std::istringstream is(r.shuffle_rng);
        is >> shuffle_rng;
        AD_CHECK(!is.fail(), "--restart: expected the shuffling RNG state in the checkpoint, got '" << r.shuffle_rng << "'");
        step = r.step;
        if (augment) {
            AD_CHECK(!r.augment_rng.empty(), "--restart: expected the augmentation RNG state in the checkpoint (a "
                                             "run with rotational augmentation), got none");
            augment_rng.set_state(rng_words(r.augment_rng, "--restart: augment_rng"));
        }
        if (s.scheduler == LrScheduler::plateau && !r.scheduler.empty()) plateau.load_state(r.scheduler);
        first_epoch = r.epoch + 1;
        out.best_epoch = r.best_epoch;
        best_metric = r.best_metric;
        best_state = copy_state(r.best);
        AD_CHECK(first_epoch <= s.num_epochs + 1,
                 "--restart: expected a checkpoint before the last epoch (" << s.num_epochs << "), got epoch " << r.epoch);
    }
    for (long epoch = first_epoch; epoch <= s.num_epochs; ++epoch) {
        // each epoch shuffles the identity, so the order depends on the RNG state alone (restarts)
        std::iota(order.begin(), order.end(), 0);
        std::shuffle(order.begin(), order.end(), shuffle_rng);
        ErrorSums sums;
        EpochLog log;
        log.epoch = epoch;
        for (size_t b = 0; b < train.size(); b += static_cast<size_t>(s.batch_size)) {
            std::vector<desc::System> part =
                pick(train, order, b, std::min(train.size(), b + static_cast<size_t>(s.batch_size)));
            if (augment)
                for (desc::System& f : part)
                    f = desc::transform_system(f, desc::random_rotation_inversion(augment_rng), vector_keys, tensor_keys);
            Batch batch = make_batch(part, model.cutoff());
            Targets phys = physical_targets(part, s);
            const EnergyForcesStress repulsion = zbl_terms(part, model);
            Targets t = scaled_targets(phys, batch, out.composition, out.scaler, repulsion);
            log.lr = lr_at(step);
            adam.set_lr(log.lr);
            adam.zero_grad();
            // predictions, loss, and its gradient into .grad(), over chunks of the batch on num_threads() threads
            const auto [net, loss] = forward_backward(model, batch, t, s.loss);
            if (std::isfinite(s.grad_clip_norm)) clip_grad_norm(model.parameters(), s.grad_clip_norm);
            adam.step();
            ++step;
            const double value = loss.total.item();
            AD_CHECK(std::isfinite(value), "train: the loss became " << value << " at epoch " << epoch
                                                                     << "; lower architecture.training.learning_rate");
            sums.loss += value;
            ad::NoGrad no_grad;  // metrics of the step's (pre-update) predictions, as metatrain's
            sums.add(physical(net, out.composition, out.scaler, batch, repulsion), phys, batch, s);
        }
        log.train = sums.metrics();
        if (!val.empty()) {
            log.val = evaluate(model, out.composition, out.scaler, val, s);
            log.have_val = true;
        }
        if (s.scheduler == LrScheduler::plateau && step >= warmup)
            plateau.step(log.have_val ? log.val.loss : log.train.loss);
        const double monitored = selected_metric(log.have_val ? log.val : log.train, s.best_model_metric);
        if (monitored < best_metric) {
            best_metric = monitored;
            best_state = copy_state(model.state_dict());
            out.best_epoch = epoch;
        }
        out.history.push_back(log);
        if (on_epoch) {
            TrainingState state;
            state.epoch = epoch;
            state.step = step;
            state.best_epoch = out.best_epoch;
            state.best_metric = best_metric;
            state.model = model.state_dict();
            state.best = best_state;
            state.optimizer = adam.state();
            state.shuffle_rng = rng_text(shuffle_rng);
            if (augment) state.augment_rng = rng_words_text(augment_rng);
            if (s.scheduler == LrScheduler::plateau) state.scheduler = plateau.state();
            on_epoch(log, out, state);
        }
    }
    model.load_state_dict(best_state);
    return out;
}

}  // namespace nn::atomistic
