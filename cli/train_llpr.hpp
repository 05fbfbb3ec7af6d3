// `atomgrad train` for [architecture] name = "llpr": wraps a trained soap_bpnn model with LLPR
// uncertainties (uq/llpr_model). Reads the structures and splits them as the soap_bpnn run does
// (same seed and fractions, same split), accumulates the covariance of the per-atom normalised
// last-layer features over the training split, fits the posterior (printing the regulariser it
// used), calibrates alpha on the validation split in eV, samples the ensemble, and writes the run
// folder: options.toml (a copy), llpr.log (the printed lines) and model.ckpt (the wrapped model,
// which `atomgrad eval` recognises), plus -o. Validation and test UQ metrics are printed.
#pragma once
#include "cli/llpr_options.hpp"
#include "cli/train_tabular.hpp"

namespace cli {

TrainResult train_llpr(const LlprTrainOptions& options, const TrainRun& run);

}  // namespace cli
