// `atomgrad train` for [architecture] name = "soap_bpnn": reads the structures, splits them
// (seeded), trains with nn/bpnn/trainer, and writes the run folder: options.toml (a copy),
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

#include "cli/bpnn_options.hpp"
#include "cli/train_tabular.hpp"

namespace cli {

TrainResult train_bpnn(const BpnnTrainOptions& options, const TrainRun& run);

/// The log line of an epoch, as printed and written to train.log.
std::string bpnn_log_line(const nn::bpnn::EpochLog& log, const nn::bpnn::TrainerSettings& settings);

}  // namespace cli
