// Training loop of any atomistic model (AtomisticModel), as metatrain's soap_bpnn / nanopet / pet
// trainers: composition baseline and energy scaler fitted on the training split, Adam with a
// learning-rate scheduler (below), mini-batches shuffled every epoch (seeded), the weighted loss
// of nn/atomistic/loss.hpp on scaled targets, optional gradient clipping, and the parameters of the best epoch by best_model_metric
// kept (validation metrics; training metrics when there is no validation set). Metrics are in
// physical units (as metatrain's RMSE/MAE accumulators on the per-atom residuals of loss.hpp):
//   energy RMSE per atom = sqrt(mean_s ((E_s - E*_s) / n_s)^2)              (eV/atom)
//   forces RMSE          = sqrt(mean_{i,a} (F_ia - F*_ia)^2)                  (eV/A)
//   strain RMSE per atom = sqrt(mean_{s in P,a,b} (V_s (sigma - sigma*)_ab / n_s)^2)   (eV/atom)
// (no 1/n_s with per_structure_targets), MAEs likewise with |.|.
// Learning rate (W = round(warmup_fraction T) warm-up steps of T = steps per epoch x num_epochs):
//   warmup_cosine: lr(step) of nn/scheduler.hpp's warmup_then(base, W, cosine, T), per step
//   plateau:       lr = base (step + 1) / W during warm-up, then ReduceOnPlateau(base, factor,
//                  patience) stepped once per epoch (after the warm-up) on the validation loss
//                  (the training loss without validation): lr <- lr factor after more than
//                  `patience` epochs without a relative improvement of 1e-4 (metatrain's nanopet)
// Rotational augmentation (metatrain's RotationalAugmenter in the nanopet / pet trainers): with
// rotational_augmentation on (default: on exactly for models with rotation_invariant() false),
// every training structure of every batch is replaced by transform_system(x, Q) with a fresh
// Q = random_rotation_inversion(rng) (descriptors/augmentation.hpp: R' = R Q^T, cell' = cell Q^T,
// F' = F Q^T, sigma' = Q sigma Q^T, E unchanged), drawn in batch order from an ad::Rng seeded
// with seed + 2 whose state is part of TrainingState (restarts continue the same draws).
// Validation and test structures, the composition and scale fits are never augmented.
// Gradient clipping (metatrain's grad_clip_norm): before every Adam step, when the 2-norm of all
// gradients |g| exceeds c, g <- g c / (|g| + 1e-6) (nn::clip_grad_norm); c = inf: never.
#pragma once
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "autodiff/random.hpp"
#include "descriptors/system.hpp"
#include "nn/atomistic/composition.hpp"
#include "nn/atomistic/model.hpp"
#include "nn/atomistic/loss.hpp"

namespace nn::atomistic {

enum class BestModelMetric { rmse_prod, mae_prod, loss };
BestModelMetric parse_best_model_metric(const std::string& name);  ///< rmse_prod | mae_prod | loss
const char* to_string(BestModelMetric metric);

/// "warmup_cosine" | "plateau".
enum class LrScheduler { warmup_cosine, plateau };
LrScheduler parse_lr_scheduler(const std::string& name);
const char* to_string(LrScheduler scheduler);

struct TrainerSettings {
    long num_epochs = 100;
    long batch_size = 8;             ///< metatrain soap_bpnn default
    double learning_rate = 1e-3;
    double warmup_fraction = 0.01;   ///< fraction of all optimiser steps in linear warm-up
    LrScheduler scheduler = LrScheduler::warmup_cosine;
    double scheduler_factor = 0.8;   ///< plateau: lr multiplier (metatrain nanopet)
    long scheduler_patience = 100;   ///< plateau: epochs without improvement tolerated (nanopet)
    double grad_clip_norm = std::numeric_limits<double>::infinity();  ///< c; inf = no clipping
    LossConfig loss;                 ///< per term type / weight / reduction (metatrain: mse, 1, mean)
    long seed = 0;                   ///< model initialisation and shuffling
    // ---- the energy target and its gradients ("" = not used)
    std::string energy_key = "energy";
    std::string forces_key = "forces";  ///< positions gradient; "" trains on energies only
    std::string stress_key;             ///< strain gradient from the stress (eV/A^3)
    std::string virial_key;             ///< ... or from the virial W = -V sigma (eV); not both
    // ---- metatrain trainer hypers (defaults as metatrain's soap_bpnn)
    bool log_mae = false;                       ///< also log MAEs (always computed)
    bool log_separate_blocks = false;           ///< metric names per block: "energy (_=0)"
    BestModelMetric best_model_metric = BestModelMetric::rmse_prod;
    bool scale_targets = true;                  ///< false: scale 1
    std::optional<double> fixed_scaling_weight;  ///< fixed_scaling_weights.energy
    std::map<int, double> fixed_composition_weights;  ///< Z -> eV, kept as given
    bool remove_composition_contribution = true;  ///< false: no composition baseline (all weights 0)
    /// Random rotations and inversions of the training structures (see the header); unset: on
    /// exactly when the model is not rotation_invariant().
    std::optional<bool> rotational_augmentation;

    bool use_forces() const { return !forces_key.empty(); }
    bool use_strain() const { return !stress_key.empty() || !virial_key.empty(); }
};

/// Metrics of one split in physical units (forces_* / strain_* NaN without those targets).
/// "per atom" quantities are per structure instead with loss.per_structure (per_structure_targets).
struct SplitMetrics {
    double loss = 0;  ///< sum over the split's batches of the batch loss (metatrain's logged loss)
    double energy_rmse_per_atom = 0;     ///< eV/atom
    double energy_mae_per_atom = 0;      ///< eV/atom
    double forces_rmse = 0;              ///< eV/A
    double forces_mae = 0;               ///< eV/A
    double strain_rmse_per_atom = 0;     ///< strain gradient V sigma per atom (eV/atom)
    double strain_mae_per_atom = 0;
};

/// The number best_model_metric compares (lower is better): the loss, or the product of the
/// RMSEs (MAEs) of every trained quantity, as metatrain's get_selected_metric.
double selected_metric(const SplitMetrics& m, BestModelMetric metric);

struct EpochLog {
    long epoch = 0;  ///< 1-based
    double lr = 0;   ///< learning rate of the epoch's last step
    SplitMetrics train, val;
    bool have_val = false;
};

/// The epoch (1-based) best_model_metric picks from a history: the first with the smallest
/// selected metric on the validation split (the training split without one).
long best_epoch_of(const std::vector<EpochLog>& history, BestModelMetric metric);

template <class Model>
struct TrainedModelOf {
    std::shared_ptr<Model> model;  ///< holds the best parameters
    CompositionModel composition;
    EnergyScaler scaler;
    long best_epoch = 0;
    std::vector<EpochLog> history;
};
using TrainedModel = TrainedModelOf<AtomisticModel>;

/// Everything a run needs to continue exactly where it stopped (a training checkpoint):
/// current and best parameters, Adam's state, the optimiser step (the schedule is a function of
/// it), the epoch, the best metric, the shuffling RNG and the augmentation's RNG.
struct TrainingState {
    long epoch = 0;           ///< epochs done
    long step = 0;            ///< optimiser steps done
    long best_epoch = 0;
    double best_metric = 0;
    NamedTensors model;       ///< current parameters
    NamedTensors best;        ///< parameters of the best epoch
    NamedTensors optimizer;   ///< Adam.state()
    std::string shuffle_rng;  ///< std::mt19937_64 state as text
    NamedTensors scheduler;   ///< ReduceOnPlateau::state() (plateau only; empty otherwise)
    std::string augment_rng;  ///< ad::Rng state of the rotations as 6 numbers (empty without augmentation)
};

/// Where training starts: a fresh model (default), given weights (--init), or a saved state
/// (--restart; composition and scale then come from `composition` and `scaler`).
struct TrainStart {
    std::shared_ptr<const AtomisticModel> init;  ///< --init: start from these weights
    const TrainingState* restart = nullptr;   ///< --restart
    const CompositionModel* composition = nullptr;  ///< with restart
    const EnergyScaler* scaler = nullptr;           ///< with restart
};

/// Whether training `model` with `settings` augments the structures (see the header).
bool uses_rotational_augmentation(const AtomisticModel& model, const TrainerSettings& settings);

/// Checks every frame holds the targets the settings need (errors name the frame and key) and
/// that batch_size <= number of training frames.
void check_training_frames(const std::vector<desc::System>& frames, const TrainerSettings& settings,
                           const std::string& what);

/// Called after every epoch with its log, the model so far and the state to save for a restart.
using EpochCallback = std::function<void(const EpochLog&, const TrainedModel&, const TrainingState&)>;

/// Builds the model to train for the species of the training set (sorted, distinct), drawing its
/// weights from rng (seeded with settings.seed); e.g. a registry::make_model call.
using ModelBuilder = std::function<std::shared_ptr<AtomisticModel>(const std::vector<int>& species, ad::Rng& rng)>;

/// Trains the model `build` makes on `train` (validation on `val`, may be empty); `on_epoch` (may
/// be empty) is called after every epoch. With start.init, `build` makes the model for the init's
/// species, whose hypers_toml() must equal the init's.
TrainedModel train_model(const ModelBuilder& build, const std::vector<desc::System>& train,
                         const std::vector<desc::System>& val, const TrainerSettings& settings,
                         const EpochCallback& on_epoch = {}, const TrainStart& start = {});

/// Physical predictions for `frames` (one batch, no graph): scale * (E, F, stress) of the network
/// + the composition baseline on E + the ZBL terms when the model has them (has_zbl()).
EnergyForcesStress predict_frames(const AtomisticModel& model, const CompositionModel& composition,
                                  const EnergyScaler& scaler, const std::vector<desc::System>& frames);

/// Metrics of a trained model (with baseline and scaler) on frames, in batches of `batch_size`.
SplitMetrics evaluate(const AtomisticModel& model, const CompositionModel& composition, const EnergyScaler& scaler,
                      const std::vector<desc::System>& frames, const TrainerSettings& settings);

}  // namespace nn::atomistic
