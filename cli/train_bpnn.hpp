// `atomgrad train` for an atomistic architecture (soap_bpnn, ...): reads the structures, splits
// them (seeded), trains with nn/atomistic/trainer, and writes the run folder: options.toml (a copy),
// options_restart.toml (fully expanded, absolute paths), train.csv (one row per epoch),
// train.log (the log lines), model.ckpt (best model with its composition baseline and energy
// scale) and checkpoints/epoch_<n>.ckpt (training checkpoints) every checkpoint_interval epochs.
// --restart CKPT continues from a training checkpoint (parameters, Adam, step and so the
// schedule, epoch, best model, shuffling RNG, composition and scale): a run restarted from its
// epoch-k checkpoint ends with the same bytes as the uninterrupted run. --init CKPT starts from
// the weights of a model (or training) checkpoint; baseline and scale are fitted as usual.
// Log lines as metatrain's: per-atom energy RMSE in meV and forces RMSE in meV/A (MAEs with
// log_mae; "energy (_=0)" with log_separate_blocks; no "(per atom)" with per_structure_targets).
#pragma once
#include <string>
#include <vector>

#include "cli/bpnn_options.hpp"
#include "descriptors/system.hpp"
#include "cli/train_tabular.hpp"

namespace cli {

/// Any atomistic architecture (the model from nn/atomistic/registry by options.architecture).
TrainResult train_atomistic(const AtomisticTrainOptions& options, const TrainRun& run);
/// train_atomistic(options.atomistic(), run).
TrainResult train_bpnn(const BpnnTrainOptions& options, const TrainRun& run);

/// The frames of a run: `train_path` (relative to `base`) shuffled with `seed` (std::mt19937_64),
/// the first fraction(s) to validation then test, the rest to training; a file source replaces
/// its part. The llpr wrapper calls it with the model's seed and fractions to get the same split.
struct FrameSplit {
    std::vector<desc::System> train, val, test;
};
FrameSplit split_frames(const std::string& base, const std::string& train_path, long seed,
                        const DataSource& validation, const DataSource& test);

/// The log line of an epoch, as printed and written to train.log.
std::string bpnn_log_line(const nn::atomistic::EpochLog& log, const nn::atomistic::TrainerSettings& settings);

}  // namespace cli
