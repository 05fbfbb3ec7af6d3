// The options of `atomgrad train` for [architecture] name = "llpr" (metatrain's llpr wrapper):
//   seed                                                   (top level; the split and the ensemble)
//   [architecture] name = "llpr"
//   [architecture.model.num_ensemble_members] energy = K   (0 or left out: no ensemble; else >= 2)
//   [architecture.training] model_checkpoint (required: a soap_bpnn model.ckpt), batch_size (8),
//       regularizer (left out: automatic), calibration_method ("absolute_residuals" |
//       "squared_residuals" | "crps"; default absolute_residuals, as metatrain), uncertainty_method
//       ("llpr" (default) | "laplace": last-layer Laplace, tau and sigma by marginal likelihood on
//       the training split, no regularizer, no validation set needed), include_noise (laplace
//       only, default true there: the noise variance N_s^2 sigma^2 added to energy_uncertainty),
//       num_epochs (0; > 0 trains the ensemble weights), learning_rate (3e-4), loss (the
//       ensemble training's: "gaussian_nll_ensemble" (default) | "gaussian_crps_ensemble" |
//       "empirical_crps_ensemble", or [loss.energy] type, weight and [loss.energy.forces] type,
//       weight), train_all_parameters (only false: the network is never trained here)
//   training_set / validation_set / test_set: soap_bpnn's keys (cli/bpnn_options.hpp), so its
//   tables can be copied as they are; the systems, the energy key, the fractions or files and
//   training_set.targets.energy.forces are used (left out: the ensemble training uses forces
//   when every training frame has a "forces" column; false: never; true / a key: required).
//   The same seed and fractions as the soap_bpnn run give the same split.
// Unknown keys and wrong types are errors naming file and line.
#pragma once
#include <optional>
#include <string>

#include "cli/options.hpp"
#include "cli/train_options.hpp"
#include "uq/llpr_model.hpp"

namespace cli {

struct LlprTrainOptions {
    std::string options_path;
    std::string model_checkpoint;    ///< as written (relative to the options file's folder)
    uq::LlprFitOptions fit;
    long seed = 0;
    std::string train_path;          ///< as written (relative to the options file's folder)
    DataSource validation{DataSource::Kind::fraction, 0.1, ""};
    DataSource test;
};

/// The schema of the llpr options (dotted key -> kind).
const std::map<std::string, Kind>& llpr_option_keys();
LlprTrainOptions parse_llpr_options(const Options& opts);
LlprTrainOptions read_llpr_options(const std::string& path);

}  // namespace cli
