// atomgrad eval MODEL.ckpt STRUCTURES.xyz [-o predictions.xyz] [--json]: a soap_bpnn model on
// extended-XYZ structures (dispatched from cmd_eval on the data file's extension).
#pragma once
#include <optional>
#include <vector>

#include "autodiff/tensor.hpp"
#include "cli/commands.hpp"
#include "descriptors/system.hpp"

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

}  // namespace cli
