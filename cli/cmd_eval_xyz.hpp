// atomgrad eval MODEL.ckpt STRUCTURES.xyz [-o predictions.xyz] [--json]: a soap_bpnn model on
// extended-XYZ structures (dispatched from cmd_eval on the data file's extension).
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "autodiff/tensor.hpp"
#include "cli/commands.hpp"
#include "descriptors/system.hpp"
#include "nn/json.hpp"

namespace cli {

/// True when the second positional argument names an extended-XYZ file (.xyz / .extxyz).
bool is_structure_file_args(const Args& args);
int cmd_eval_xyz(const Args& args);

/// <key> -> ref_<key> for every key ASE reads as a calculator result (energy, forces, stress, ...):
/// the references an input frame carried, kept next to the predictions (also cli/eval_llpr).
void keep_references(desc::System& frame);

/// The output frames (copies of the input with keep_references applied) and the references they
/// carry, read before any model runs so that a malformed one stops the command first.
struct EvalFrames {
    std::vector<desc::System> out;
    std::vector<std::optional<double>> ref_energy;  ///< [frames] when the frame has one
    std::vector<ad::Tensor> ref_forces;             ///< [frames] [n, 3] or undefined
    std::vector<ad::Tensor> ref_stress;             ///< [frames] [3, 3] (periodic frames) or undefined
};
/// Checks every element is one of the model's `species` (one-line error naming the frame), then
/// builds the EvalFrames of `frames`.
EvalFrames prepare_eval_frames(const std::vector<desc::System>& frames, const std::vector<int>& species);

/// Running errors of one quantity against its references (eV units); the values are kept for
/// the parity plots.
struct ErrorSums {
    double sq = 0, abs = 0;
    long n = 0;
    std::vector<double> ref, pred;
    void add(double predicted, double reference);
    double rmse() const;
    double mae() const;
};

/// The errors of an eval on structures: energy per atom (one entry per structure), force
/// components, stress components (periodic frames) — plain and LLPR-wrapped models alike.
struct EvalErrors {
    ErrorSums energy, forces, stress;
    /// energy_rmse_per_atom, energy_mae_per_atom, forces_*, stress_* (eV, eV/Å, eV/Å³), each
    /// when some frame had that reference.
    void add_json(nn::Json& metrics) const;
    /// The same in meV, one line per quantity (text output).
    void print() const;
    /// --plot DIR: (path, SVG text) of energy_parity.svg, forces_parity.svg, stress_parity.svg for
    /// the quantities with references, values in meV.
    std::vector<std::pair<std::string, std::string>> parity_plots(const std::string& dir) const;
};

/// mkdir -p `dir` for --plot, then checks it is a directory (one-line error otherwise).
void prepare_plot_dir(const std::string& dir);

}  // namespace cli
