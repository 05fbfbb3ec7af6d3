// The soap_bpnn part of the `atomgrad train` options (the rest is common: atomistic_options.hpp):
//   [architecture.model.soap] cutoff, cutoff_width, max_angular, max_radial
//   [architecture.model.bpnn] num_hidden_layers, num_neurons_per_layer, layernorm
//   [architecture.model.heads] energy = "linear" | "mlp"
//   [architecture.model] zbl
// Training defaults: TrainerSettings' own (metatrain's soap_bpnn). No optional trainer keys.
// Defaults are metatrain's (nn/bpnn/hypers.hpp); docs/bpnn.md has the table.
#pragma once
#include <map>
#include <string>

#include "cli/atomistic_options.hpp"
#include "nn/bpnn/trainer.hpp"

namespace cli {

/// The CLI entry of soap_bpnn (listed in atomistic_options.cpp).
ArchitectureOptions bpnn_architecture_options();

/// The options of a soap_bpnn run with its hypers as a BpnnHypers (what the soap_bpnn tests and
/// tools read); to_toml() as AtomisticTrainOptions'.
struct BpnnTrainOptions {
    std::string options_path;
    nn::bpnn::TrainerSettings settings;
    long log_interval = 5;
    long checkpoint_interval = 25;
    std::string train_path;
    DataSource validation{DataSource::Kind::fraction, 0.1, ""};
    DataSource test;

    using PathStyle = AtomisticTrainOptions::PathStyle;
    std::string to_toml(PathStyle style = PathStyle::as_given) const;
    /// The same options in the common form.
    AtomisticTrainOptions atomistic() const;
};

/// The schema of the soap_bpnn options (common keys plus [architecture.model]).
const std::map<std::string, Kind>& bpnn_option_keys();
/// parse_atomistic_options, requiring architecture.name = "soap_bpnn".
BpnnTrainOptions parse_bpnn_options(const Options& opts);
BpnnTrainOptions read_bpnn_options(const std::string& path);

}  // namespace cli
