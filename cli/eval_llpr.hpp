// atomgrad eval WRAPPED.ckpt STRUCTURES.xyz [-o predictions.xyz] [--json] [--plot DIR] for an LLPR-wrapped
// soap_bpnn model (uq/llpr_model): the plain predictions of cmd_eval_xyz plus, per frame,
// energy_uncertainty (eV) and energy_ensemble (K numbers), per atom atomic_energy_uncertainty (eV)
// and forces_uncertainty (eV/A, the members' standard deviation), and the UQ metrics (eV, eV/A):
//   <t>_nll, <t>_zms, <t>_miscalibration_area, <t>_spearman (|error| against sigma),
//   <t>_coverage_{1,2,3}sigma, <t>_uncertainty_mean  for t = energy (per structure, total energies)
//   and forces (per component, sigma from the ensemble); with an ensemble also t = energy_ensemble
//   (the members' mean and standard deviation instead of the model and the LLPR sigma).
// --plot DIR: the parity pictures of plain eval and energy_calibration.svg (per structure, LLPR
// sigma), forces_calibration.svg (components, the ensemble's sigma): cli/svg calibration plots.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "autodiff/tensor.hpp"
#include "cli/commands.hpp"
#include "nn/checkpoint.hpp"

namespace cli {

/// The eval of an LLPR-wrapped checkpoint `ckpt` (already loaded by cmd_eval_xyz, which parsed
/// the arguments `p`: MODEL.ckpt STRUCTURES.xyz, -o, --json, --plot).
int cmd_eval_llpr_xyz(const ParsedArgs& p, const nn::Checkpoint& ckpt);

/// The UQ metrics above with names prefixed by `prefix` ("energy_"): prediction mean, sigma and
/// reference of one shape (n >= 2 entries, sigma > 0).
std::vector<std::pair<std::string, double>> uq_metrics(const std::string& prefix, const ad::Tensor& mean,
                                                       const ad::Tensor& sigma, const ad::Tensor& reference);

}  // namespace cli
