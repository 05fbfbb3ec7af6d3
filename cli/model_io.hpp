// Loading a tabular model for the commands that use one (eval, laplace): atomgrad's own
// checkpoints describe themselves (metadata "hypers"); an MLP written by another program in the
// same layout ("layers.{i}.weight/bias", e.g. exported from torch) is accepted too, its sizes read
// from the tensor shapes and its activation from metadata "activation" (tanh when absent).
#pragma once
#include <string>
#include <vector>

#include "cli/csv.hpp"
#include "nn/checkpoint.hpp"
#include "nn/tabular.hpp"

namespace cli {

/// What to assume for a checkpoint without "hypers": task, target columns, feature columns
/// (empty: every column of `columns` that is not a target).
struct ForeignModelHints {
    std::string task = "regression";
    std::vector<std::string> targets;
    std::vector<std::string> features;
    std::vector<std::string> columns;
};

/// The model of a checkpoint, with its standardisation folded into the weights (a plain MLP).
nn::TabularModel load_tabular_model(const nn::Checkpoint& ckpt, const ForeignModelHints& hints);

}  // namespace cli
