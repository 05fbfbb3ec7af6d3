// atomgrad eval MODEL.ckpt STRUCTURES.xyz [-o predictions.xyz] [--json]: a soap_bpnn model on
// extended-XYZ structures (dispatched from cmd_eval on the data file's extension).
#pragma once
#include "cli/commands.hpp"
#include "descriptors/system.hpp"

namespace cli {

/// True when the second positional argument names an extended-XYZ file (.xyz / .extxyz).
bool is_structure_file_args(const Args& args);
int cmd_eval_xyz(const Args& args);

/// <key> -> ref_<key> for every key ASE reads as a calculator result (energy, forces, stress, ...):
/// the references an input frame carried, kept next to the predictions (also cli/eval_llpr).
void keep_references(desc::System& frame);

}  // namespace cli
