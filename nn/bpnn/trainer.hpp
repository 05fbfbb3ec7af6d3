// Training loop of the SOAP-BPNN model, as metatrain's soap_bpnn trainer: composition baseline
// and energy scaler fitted on the training split, Adam with a linear warm-up then cosine decay
// (per optimiser step), mini-batches shuffled every epoch (seeded), the weighted loss of
// nn/bpnn/loss.hpp on scaled targets, and the best model by validation loss kept (by training
// loss when there is no validation set). Metrics are in physical units:
//   energy RMSE per atom = sqrt(mean_s ((E_s - E*_s) / n_s)^2)   (eV/atom)
//   forces RMSE          = sqrt(mean_{i,a} (F_ia - F*_ia)^2)       (eV/A)
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "descriptors/system.hpp"
#include "nn/bpnn/bpnn.hpp"
#include "nn/bpnn/loss.hpp"

namespace nn::bpnn {

struct TrainerSettings {
    BpnnHypers hypers;
    long num_epochs = 100;
    long batch_size = 8;             ///< metatrain soap_bpnn default
    double learning_rate = 1e-3;
    double warmup_fraction = 0.01;   ///< fraction of all optimiser steps in linear warm-up
    LossWeights weights;             ///< energy 1, forces 1 (0 disables forces)
    long seed = 0;                   ///< model initialisation and shuffling
    std::string energy_key = "energy";
    std::string forces_key = "forces";
    std::string stress_key = "stress";
};

/// Metrics of one split (physical units; forces_* NaN without force targets).
struct SplitMetrics {
    double loss = 0;  ///< loss on scaled targets: mean over steps (training), batch-size weighted (evaluate)
    double energy_rmse_per_atom = 0;     ///< eV/atom
    double energy_mae_per_atom = 0;      ///< eV/atom
    double forces_rmse = 0;              ///< eV/A
    double forces_mae = 0;               ///< eV/A
};

struct EpochLog {
    long epoch = 0;  ///< 1-based
    double lr = 0;   ///< learning rate of the epoch's last step
    SplitMetrics train, val;
    bool have_val = false;
};

struct TrainedModel {
    std::shared_ptr<SoapBpnn> model;  ///< holds the best parameters
    CompositionModel composition;
    EnergyScaler scaler;
    long best_epoch = 0;
    std::vector<EpochLog> history;
};

/// Checks every frame holds the targets the settings need (errors name the frame and key) and
/// that batch_size <= number of training frames.
void check_training_frames(const std::vector<desc::System>& frames, const TrainerSettings& settings,
                           const std::string& what);

/// Trains a new model on `train` (validation on `val`, may be empty); `on_epoch` (may be empty) is
/// called after every epoch with that epoch's log.
TrainedModel train_soap_bpnn(const std::vector<desc::System>& train, const std::vector<desc::System>& val,
                             const TrainerSettings& settings,
                             const std::function<void(const EpochLog&, const TrainedModel&)>& on_epoch = {});

/// Metrics of a trained model (with baseline and scaler) on frames, in batches of `batch_size`.
SplitMetrics evaluate(const SoapBpnn& model, const CompositionModel& composition, const EnergyScaler& scaler,
                      const std::vector<desc::System>& frames, const TrainerSettings& settings);

}  // namespace nn::bpnn
