// The options of `atomgrad train` for tabular data, in metatrain's layout (TOML):
//   seed, base_precision, validation_set, test_set            (top level)
//   [architecture] name = "mlp"; [architecture.model]; [architecture.training]
//   [architecture.training.marglik]  (optional: marginal-likelihood training, cli/train_marglik)
//   [training_set] read_from, target, features, task
// Defaults live here, in one struct; parse_train_options() rejects unknown keys and bad values
// naming file, line and key; to_toml() writes the fully expanded options of a run.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "cli/options.hpp"

namespace cli {

/// A validation or test set: a fraction of the training file, another file, or nothing.
struct DataSource {
    enum class Kind { none, fraction, file } kind = Kind::none;
    double fraction = 0.0;
    std::string path;
};

/// [architecture.training.marglik]: the arguments of laplace-torch's marglik_training (defaults as
/// there) that [architecture.training] does not already hold; n_epochs, lr, optimizer, scheduler,
/// batch_size and weight_decay are num_epochs, learning_rate, ... of [architecture.training].
struct MarglikTrainOptions {
    bool enabled = false;                  ///< the table is present
    std::string hessian_structure = "kron";     ///< full | kron | diag
    std::string prior_structure = "layerwise";  ///< scalar | layerwise | diagonal
    double lr_hyp = 0.1;                   ///< Adam on (log tau, log sigma)
    long n_epochs_burnin = 0;              ///< no hyper steps before this epoch
    long n_hypersteps = 10;                ///< hyper steps per marglik epoch
    long marglik_frequency = 1;            ///< epochs between two Laplace fits
    double prior_prec_init = 1.0;
    double sigma_noise_init = 1.0;         ///< regression; must be 1 for classification
    double temperature = 1.0;
    bool fix_sigma_noise = false;
    std::string kron_sigma_gradient = "true";  ///< kron: "true" gradient | "laplace_torch" (truncated)
    std::string link_approx = "probit";    ///< classification predictive of the saved model
};

struct TrainOptions {
    std::string options_path;  ///< the file read (relative data paths resolve against its folder)
    long seed = 0;
    // [architecture]
    std::string architecture = "mlp";
    // [architecture.model]
    std::vector<long> hidden = {64, 64};  ///< neurons per hidden layer
    std::string activation = "tanh";      ///< tanh | relu | silu | gelu | sigmoid | softplus
    bool bias = true;                     ///< biases in every Linear layer
    // [architecture.training]
    long num_epochs = 100;
    long batch_size = 32;
    double learning_rate = 1e-3;
    std::string optimizer = "adam";  ///< adam | adamw | sgd
    double weight_decay = 0.0;       ///< adam/sgd: L2 in the gradient; adamw: decoupled
    double momentum = 0.9;           ///< sgd only
    bool nesterov = false;           ///< sgd only
    double warmup_fraction = 0.0;    ///< fraction of all steps spent in linear warm-up
    std::string scheduler = "constant";  ///< constant | cosine | step | plateau
    long scheduler_step_size = 100;  ///< step: epochs between two decays
    double scheduler_gamma = 0.1;    ///< step: decay factor
    double plateau_factor = 0.5;     ///< plateau: lr factor
    long plateau_patience = 10;      ///< plateau: epochs without improvement of the validation loss
    double grad_clip_norm = 0.0;     ///< clip the gradient 2-norm to this (0: off)
    long log_interval = 10;          ///< epochs between log lines (no effect on the CSV log)
    long checkpoint_interval = 100;  ///< epochs between training checkpoints
    std::string loss = "";           ///< mse | mae | huber (regression), cross_entropy; "" = mse / cross_entropy
    double huber_delta = 1.0;
    std::string best_model_metric = "loss";  ///< loss | rmse | mae (regression) | accuracy (classification)
    bool scale_inputs = true;   ///< standardise features with training-set statistics (false with marglik)
    bool scale_targets = true;  ///< standardise regression targets (undone in the saved model; false with marglik)
    MarglikTrainOptions marglik;
    // [training_set]
    std::string train_path;
    std::vector<std::string> targets;
    std::vector<std::string> features;  ///< empty: every column that is not a target
    std::string task = "regression";
    DataSource validation{DataSource::Kind::fraction, 0.1, ""};
    DataSource test;

    std::map<std::string, std::string> key_where;  ///< "file:line" of each key the file sets

    /// "file:line" of `key` when the file sets it, else the file name (for messages about values).
    std::string where(const std::string& key) const;
    enum class PathStyle { as_given, absolute };
    /// The fully expanded options as TOML; data paths as given (relative to the options file's
    /// folder) or resolved to absolute paths (options_restart.toml, usable from anywhere).
    std::string to_toml(PathStyle style = PathStyle::as_given) const;
};

TrainOptions parse_train_options(const Options& opts);
TrainOptions read_train_options(const std::string& path);

}  // namespace cli
