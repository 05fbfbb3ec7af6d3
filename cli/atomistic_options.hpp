// The options of `atomgrad train` for an atomistic architecture ([architecture] name = one of
// architecture_option_names(): "nanopet", "pet", "soap_bpnn"), in metatrain's layout. Common to every architecture:
//   seed                                                   (top level)
//   [architecture] name
//   [architecture.training] num_epochs, batch_size, learning_rate, warmup_fraction, log_interval,
//       checkpoint_interval, per_structure_targets, log_mae, log_separate_blocks,
//       best_model_metric, scale_targets, remove_composition_contribution,
//       fixed_scaling_weights.energy, fixed_composition_weights.energy.<Z>
//       and, for the architectures that list them (ArchitectureOptions::training_keys; metatrain's
//       nanopet / pet trainers): grad_clip_norm, scheduler ("warmup_cosine" | "plateau"),
//       scheduler_patience, scheduler_factor
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
// Architecture-specific: [architecture.model] (ArchitectureOptions::model_keys, read_model) and
// the defaults of [architecture.training] (training_defaults). Adding an architecture is one
// ArchitectureOptions (e.g. cli/bpnn_options.cpp) and one line in architecture_options_table().
// Unknown keys, wrong types and bad values are errors naming file, line and key.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cli/options.hpp"
#include "cli/train_options.hpp"
#include "nn/atomistic/trainer.hpp"

namespace cli {

struct AtomisticTrainOptions {
    std::string options_path;
    std::string architecture;        ///< registry name (nn/atomistic/registry.hpp)
    std::string hypers;              ///< the model's hypers as TOML (the registry's factory reads it)
    nn::atomistic::TrainerSettings settings;
    long log_interval = 5;           ///< epochs between printed log lines (metatrain: 5)
    long checkpoint_interval = 25;   ///< epochs between training checkpoints (metatrain: 25; 0: none)
    std::string train_path;          ///< as written (relative to the options file's folder)
    DataSource validation{DataSource::Kind::fraction, 0.1, ""};
    DataSource test;

    enum class PathStyle { as_given, absolute };
    /// The fully expanded options as TOML (parse_atomistic_options reads them back to the same
    /// options); data paths as given or absolute (options_restart.toml).
    std::string to_toml(PathStyle style = PathStyle::as_given) const;
};

/// What the CLI knows of one architecture.
struct ArchitectureOptions {
    std::string name;                         ///< "soap_bpnn"
    std::map<std::string, Kind> model_keys;   ///< schema of [architecture.model] (full dotted keys)
    std::vector<std::string> training_keys;   ///< optional trainer keys it accepts (see the header)
    /// [architecture.model] -> the hypers TOML of the model (strict, errors name file/line/key).
    std::function<std::string(const Options&)> read_model;
    /// The hypers TOML -> the expanded [architecture.model...] tables of to_toml().
    std::function<std::string(const std::string& hypers)> write_model;
    /// Sets the architecture's defaults before [architecture.training] is read (may be empty: the
    /// TrainerSettings defaults, metatrain's soap_bpnn ones).
    std::function<void(AtomisticTrainOptions&)> training_defaults;
};

/// Adds (or replaces) an entry at run time (tests; built-ins are listed in atomistic_options.cpp).
void register_architecture_options(ArchitectureOptions options);
void unregister_architecture_options(const std::string& name);
/// The architectures `atomgrad train` accepts, sorted by name.
std::vector<std::string> architecture_option_names();
/// The entry of `name` (an error listing the names otherwise).
const ArchitectureOptions& find_architecture_options(const std::string& name);

/// The keys of every architecture's options (without [architecture.model] and the optional
/// trainer keys).
const std::map<std::string, Kind>& common_option_keys();
AtomisticTrainOptions parse_atomistic_options(const Options& opts);
AtomisticTrainOptions read_atomistic_options(const std::string& path);
/// validation_set / test_set: a fraction in [0, 1), a file name, or a table with read_from (or
/// systems.read_from); `fallback` when the key is absent. Shared with the llpr options.
DataSource read_data_set(const Options& o, const std::string& key, DataSource fallback);

}  // namespace cli
