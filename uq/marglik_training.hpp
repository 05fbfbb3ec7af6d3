// Online marginal-likelihood training of an MLP (Immer et al. 2021, "Scalable marginal
// likelihood estimation for model selection in deep learning", Algorithm 1), following
// laplace-torch's marglik_training step by step (docs/uq.md):
//   per epoch: for each mini-batch, one optimiser step on
//       loss = NLL_mean(f, y) + 1/2 (delta o theta)^T theta / N / crit,   crit = T / (2 sigma^2)
//       (classification: crit = T; NLL = MSE for regression, cross-entropy for classification),
//   then (every marglik_frequency epochs after the burn-in) fit the all-weights Laplace at the
//   current weights and take n_hypersteps Adam steps on (log tau, log sigma) minimising -lml;
//   the weights and the (tau, sigma) before the last hyper step of the epoch with the lowest -lml
//   are kept; at the end the Laplace is refitted there.
// Notation: N data points, P parameters, tau the prior precision ([1], [n_tensors] or [P]).
#pragma once
#include <functional>
#include <vector>

#include "nn/mlp.hpp"
#include "nn/module.hpp"
#include "nn/scheduler.hpp"
#include "uq/laplace.hpp"
#include "uq/mlp_laplace.hpp"

namespace uq {

enum class ModelOptimizer { adam, sgd };

/// One call per epoch (after its hyper steps, if any).
struct MarglikProgress {
    long epoch = 0;                 ///< 1-based
    double loss = 0.0;              ///< the epoch's mean training objective (losses.back())
    bool hyper_step = false;        ///< whether the Laplace was fitted and the hypers updated
    double neg_log_marglik = 0.0;   ///< margliks.back() (when hyper_step)
    ad::Tensor prior_precision;     ///< tau after the epoch
    double sigma_noise = 1.0;       ///< sigma after the epoch
};

/// laplace-torch's marglik_training arguments (defaults as there; optimizer_kwargs lr = 1e-3 is
/// torch's Adam default).
struct MarglikTrainingOptions {
    Likelihood likelihood = Likelihood::classification;
    HessianStructure hessian_structure = HessianStructure::kron;
    PriorStructure prior_structure = PriorStructure::layerwise;
    long n_epochs = 300;
    double lr = 1e-3;               ///< model optimiser learning rate (optimizer_kwargs lr)
    ModelOptimizer optimizer = ModelOptimizer::adam;
    double momentum = 0.0;          ///< sgd only
    double weight_decay = 0.0;      ///< L2 in the gradient (torch's weight_decay), both optimisers
    /// Learning-rate schedule stepped once per batch: constant = none (laplace-torch's default
    /// scheduler_cls=None); cosine is torch's CosineAnnealingLR with T_max = scheduler_steps.
    nn::ScheduleKind scheduler = nn::ScheduleKind::constant;
    long scheduler_steps = 0;       ///< 0: n_epochs * n_batches (laplace-torch's T_max default)
    long scheduler_warmup = 0;
    nn::ScheduleOptions schedule_options;
    double lr_hyp = 0.1;            ///< Adam on (log tau, log sigma)
    long n_epochs_burnin = 0;
    long n_hypersteps = 10;
    long marglik_frequency = 1;
    double prior_prec_init = 1.0;
    double sigma_noise_init = 1.0;
    double temperature = 1.0;
    bool fix_sigma_noise = false;
    long batch_size = 0;            ///< 0: one batch of all N points; batches in order, no shuffling
    /// Kron only: laplace-torch's truncated sigma-gradient or the true one (default).
    KronSigmaGradient kron_sigma_gradient = KronSigmaGradient::true_gradient;
    std::function<void(const MarglikProgress&)> progress;  ///< optional, once per epoch
};

struct MarglikTrainingResult {
    MlpLaplace laplace;              ///< fitted at the best weights with the best tau, sigma
    nn::NamedTensors weights;        ///< the best weights (copies; also loaded into the MLP)
    std::vector<double> margliks;    ///< -lml before each hyper step (n_hypersteps per marglik epoch)
    std::vector<double> losses;      ///< mean objective per epoch
    long best_epoch = 0;             ///< 0 when no hyper step ran (then: final weights and hypers)
};

/// Trains `mlp` in place on x [N, n_in], targets (regression [N, C] or [N] when C = 1;
/// classification labels [N]) and returns the Laplace at the best marginal likelihood. On return
/// the MLP holds the best weights.
MarglikTrainingResult marglik_training(nn::MLP& mlp, const ad::Tensor& x, const ad::Tensor& targets,
                                       const MarglikTrainingOptions& options = {});

}  // namespace uq
