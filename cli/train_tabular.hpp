// Training an MLP on tabular data: what `atomgrad train` runs for [architecture] name = "mlp".
// One run: read CSVs, split, standardise, mini-batch training with the chosen optimiser and
// schedule, per-epoch CSV log, periodic training checkpoints, the best model by a validation
// metric, and the test metrics of that model.
#pragma once
#include <map>
#include <string>

#include "cli/train_options.hpp"

namespace cli {

struct TrainRun {
    std::string output_path = "model.ckpt";  ///< where the best model goes (besides the run folder)
    std::string run_dir;                     ///< "" = outputs/DATE/TIME under the working directory
    std::string init_path;                   ///< --init: start from these weights
    std::string restart_path;                ///< --restart: resume this training checkpoint
};

struct TrainResult {
    std::string run_dir;
    std::map<std::string, double> validation;  ///< metrics of the best model on the validation set
    std::map<std::string, double> test;        ///< metrics of the best model on the test set (if any)
    long best_epoch = 0;
};

TrainResult train_tabular(const TrainOptions& options, const TrainRun& run);

/// outputs/YYYY-MM-DD/HH-MM-SS (with -2, -3 ... when it exists), created.
std::string make_run_dir(const std::string& root);

}  // namespace cli
