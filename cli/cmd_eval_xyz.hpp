// atomgrad eval MODEL.ckpt STRUCTURES.xyz [-o predictions.xyz] [--json]: a soap_bpnn model on
// extended-XYZ structures (dispatched from cmd_eval on the data file's extension).
#pragma once
#include "cli/commands.hpp"

namespace cli {

/// True when the second positional argument names an extended-XYZ file (.xyz / .extxyz).
bool is_structure_file_args(const Args& args);
int cmd_eval_xyz(const Args& args);

}  // namespace cli
