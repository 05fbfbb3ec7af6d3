// The options of `atomgrad train` for [architecture] name = "soap_bpnn", in metatrain's layout:
//   seed                                                   (top level)
//   [architecture] name = "soap_bpnn"
//   [architecture.model.soap] cutoff, cutoff_width, max_angular, max_radial
//   [architecture.model.bpnn] num_hidden_layers, num_neurons_per_layer, layernorm
//   [architecture.model.heads] energy = "linear" | "mlp"
//   [architecture.training] num_epochs, batch_size, learning_rate, warmup_fraction, log_interval,
//                           checkpoint_interval; [architecture.training.loss_weights] energy, forces
//   [training_set.systems] read_from;  [training_set.targets.energy] key, unit ("eV"), forces, stress
//   validation_set / test_set = a fraction of the training file, a file name, or a table with
//   read_from (or [validation_set.systems] read_from)
// Defaults: nn/bpnn/trainer.hpp (batch_size 8, learning_rate 1e-3, warmup_fraction 0.01, loss
// weights 1) and nn/bpnn/hypers.hpp. Unknown keys and wrong types are errors naming file and line.
// forces / stress are booleans here (metatrain also accepts a table with key: not supported yet).
#pragma once
#include <string>

#include "cli/options.hpp"
#include "cli/train_options.hpp"
#include "nn/bpnn/trainer.hpp"

namespace cli {

struct BpnnTrainOptions {
    std::string options_path;
    nn::bpnn::TrainerSettings settings;
    long log_interval = 1;           ///< epochs between log lines
    long checkpoint_interval = 0;    ///< epochs between training checkpoints (0: none)
    std::string train_path;          ///< as written (relative to the options file's folder)
    DataSource validation{DataSource::Kind::fraction, 0.1, ""};
    DataSource test;
    bool use_stress = false;
};

/// The schema of the soap_bpnn options (dotted key -> kind).
const std::map<std::string, Kind>& bpnn_option_keys();
BpnnTrainOptions parse_bpnn_options(const Options& opts);
BpnnTrainOptions read_bpnn_options(const std::string& path);

}  // namespace cli
