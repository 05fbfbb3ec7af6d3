// Training an MLP on tabular data: what `atomgrad train` runs for [architecture] name = "mlp".
// One run: read CSVs, split, standardise, mini-batch training with the chosen optimiser and
// schedule, per-epoch CSV log, periodic training checkpoints, the best model by a validation
// metric, and the test metrics of that model. With [architecture.training.marglik] the loop is
// cli/train_marglik's instead; the data, the model and --init are shared (declared below).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "autodiff/tensor.hpp"
#include "cli/csv.hpp"
#include "cli/train_options.hpp"
#include "nn/tabular.hpp"

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

/// One data split in the model's input layout, raw units.
/// The data of a run: feature columns, number of classes, the splits.
struct RunData {
    std::vector<std::string> features;
    long n_classes = 0;
    Split train, val, test;
    bool have_val = false, have_test = false;
};

/// Reads the CSVs of the options and splits them (seeded); checks batch_size against the rows.
RunData load_run_data(const TrainOptions& options);
/// The model the options describe for these data.
nn::TabularSpec model_spec(const TrainOptions& options, const RunData& data);
/// --init: the weights of `path` as a model of `spec`: an atomgrad checkpoint (with its scalers,
/// if any) or an MLP written by another program ("layers.{i}.weight/bias", cli::load_tabular_model,
/// activation from its metadata); throws when they describe another model.
nn::TabularModel load_init_model(const std::string& path, const nn::TabularSpec& spec);
/// Metrics of a model (raw units) on a split: loss (in the loss's units), rmse, mae / loss,
/// accuracy, nll.
std::map<std::string, double> evaluate_split(const nn::TabularModel& model, const Split& split,
                                             const TrainOptions& options);
/// Copies the saved model `from` to `to` byte for byte (also to /dev/null).
void copy_model_file(const std::string& from, const std::string& to);

/// outputs/YYYY-MM-DD/HH-MM-SS (with -2, -3 ... when it exists), created.
std::string make_run_dir(const std::string& root);

}  // namespace cli
