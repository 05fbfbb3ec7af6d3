// Marginal-likelihood training from `atomgrad train` ([architecture.training.marglik]): the MLP
// and its all-weights Laplace posterior trained together by uq::marglik_training (Immer et al.
// 2021, Algorithm 1; laplace-torch's marglik_training), on unstandardised data, with the per-epoch
// CSV log extended by the marginal likelihood and the hyperparameters. The saved model.ckpt holds
// the best weights and their fitted posterior (cli::LaplaceModel), so `atomgrad eval` reports
// predictive variances.
#pragma once
#include "cli/train_tabular.hpp"

namespace cli {

/// What train_tabular() runs when options.marglik.enabled.
TrainResult train_marglik(const TrainOptions& options, const TrainRun& run);

}  // namespace cli
