// The options of `atomgrad train` for [architecture] name = "soap_bpnn", in metatrain's layout:
//   seed                                                   (top level)
//   [architecture] name = "soap_bpnn"
//   [architecture.model.soap] cutoff, cutoff_width, max_angular, max_radial
//   [architecture.model.bpnn] num_hidden_layers, num_neurons_per_layer, layernorm
//   [architecture.model.heads] energy = "linear" | "mlp"
//   [architecture.training] num_epochs, batch_size, learning_rate, warmup_fraction, log_interval,
//       checkpoint_interval, per_structure_targets, log_mae, log_separate_blocks,
//       best_model_metric, scale_targets, remove_composition_contribution,
//       fixed_scaling_weights.energy, fixed_composition_weights.energy.<Z>
//   [architecture.training.loss]: "mse" | "mae" | "huber" for every term, or per target
//       [loss.energy] type weight reduction delta, and its gradients as [loss.energy.forces] /
//       [loss.energy.stress] (or .virial), or [loss.energy.gradients.positions] / .strain
//       (each a table of the same four keys or a type string); legacy:
//       [architecture.training.loss_weights] energy forces stress (weights only)
//   [training_set.systems] read_from;  [training_set.targets.energy] key, unit ("eV"),
//       quantity ("energy"), read_from (the systems file), forces, stress, virial: each true,
//       false, a key, or a table {key, read_from}
//   validation_set / test_set = a fraction of the training file, a file name, or a table with
//   read_from (or [validation_set.systems] read_from)
// Defaults are metatrain's soap_bpnn ones (nn/bpnn/trainer.hpp, nn/bpnn/hypers.hpp); docs/bpnn.md
// has the table. Unknown keys, wrong types and bad values are errors naming file, line and key.
#pragma once
#include <string>

#include "cli/options.hpp"
#include "cli/train_options.hpp"
#include "nn/bpnn/trainer.hpp"

namespace cli {

struct BpnnTrainOptions {
    std::string options_path;
    nn::bpnn::TrainerSettings settings;
    long log_interval = 5;           ///< epochs between printed log lines (metatrain: 5)
    long checkpoint_interval = 25;   ///< epochs between training checkpoints (metatrain: 25; 0: none)
    std::string train_path;          ///< as written (relative to the options file's folder)
    DataSource validation{DataSource::Kind::fraction, 0.1, ""};
    DataSource test;

    enum class PathStyle { as_given, absolute };
    /// The fully expanded options as TOML (parse_bpnn_options reads them back to the same
    /// settings); data paths as given or absolute (options_restart.toml).
    std::string to_toml(PathStyle style = PathStyle::as_given) const;
};

/// The schema of the soap_bpnn options (dotted key -> kind).
const std::map<std::string, Kind>& bpnn_option_keys();
BpnnTrainOptions parse_bpnn_options(const Options& opts);
/// validation_set / test_set: a fraction in [0, 1), a file name, or a table with read_from (or
/// systems.read_from); `fallback` when the key is absent. Shared with the llpr options.
DataSource read_data_set(const Options& o, const std::string& key, DataSource fallback);
BpnnTrainOptions read_bpnn_options(const std::string& path);

}  // namespace cli
