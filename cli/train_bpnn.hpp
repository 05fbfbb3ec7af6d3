// `atomgrad train` for [architecture] name = "soap_bpnn": reads the structures, splits them
// (seeded), trains with nn/bpnn/trainer, and writes the run folder: options.toml (a copy),
// train.csv (one row per epoch), train.log (the log lines), model.ckpt (best model with its
// composition baseline and energy scale) and checkpoints/epoch_<n>.ckpt every checkpoint_interval.
// Log lines as metatrain's: per-atom energy RMSE in meV and forces RMSE in meV/A.
#pragma once
#include <string>

#include "cli/bpnn_options.hpp"
#include "cli/train_tabular.hpp"

namespace cli {

TrainResult train_bpnn(const BpnnTrainOptions& options, const TrainRun& run);

}  // namespace cli
