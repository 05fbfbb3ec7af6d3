// The model of `atomgrad train` on tabular data: an MLP between two fixed affine maps,
//   y(x) = s_y * MLP((x - mu_x) / s_x) + mu_y        (regression; classification has no output map)
// mu_x, s_x (per feature) and mu_y, s_y (per target) are fitted on the training split, so the
// network sees standardised numbers. fold_scalers() bakes both maps into the first and last Linear
// layers, leaving a plain MLP with the same outputs: the saved model.ckpt is exactly an MLP
// ("layers.{i}.weight/bias"), readable by any safetensors reader and by last-layer UQ methods.
#pragma once
#include <string>
#include <vector>

#include "autodiff/random.hpp"
#include "nn/checkpoint.hpp"
#include "nn/mlp.hpp"

namespace nn {

enum class Task { regression, classification };
Task parse_task(const std::string& name);  ///< "regression" | "classification"
std::string to_string(Task task);

/// What defines a tabular model; stored in the checkpoint metadata as TOML ("hypers").
struct TabularSpec {
    Task task = Task::regression;
    std::vector<std::string> features;  ///< input column names, in order
    std::vector<std::string> targets;   ///< regression: one output per name; classification: the label column
    long n_classes = 0;                 ///< classification only
    std::vector<long> hidden = {64, 64};
    Activation activation = Activation::tanh;
    bool bias = true;

    long n_outputs() const { return task == Task::classification ? n_classes : static_cast<long>(targets.size()); }
    std::string to_toml() const;
    static TabularSpec from_toml(const std::string& text, const std::string& where);
};

class TabularModel {
  public:
    TabularModel(TabularSpec spec, ad::Rng& rng);

    const TabularSpec& spec() const { return spec_; }
    MLP& mlp() { return *mlp_; }
    const MLP& mlp() const { return *mlp_; }

    /// Fits mu_x, s_x on x [n, d] (s = 1 where a column is constant).
    void fit_input_scaler(const ad::Tensor& x);
    /// Fits mu_y, s_y on y [n, t] (regression only).
    void fit_target_scaler(const ad::Tensor& y);
    bool has_scalers() const { return input_mean_.defined() || target_mean_.defined(); }

    /// Raw features [n, d] -> outputs in the targets' units [n, n_outputs] (logits for classification).
    ad::Tensor forward(const ad::Tensor& x) const;
    /// Raw features -> network outputs before the output map (what the training loss sees).
    ad::Tensor forward_normalized(const ad::Tensor& x) const;
    /// Raw features -> the network's inputs: (x - mu_x) / s_x.
    ad::Tensor normalize_inputs(const ad::Tensor& x) const;
    /// s_y per target (ones without target scaling).
    std::vector<double> target_scale() const;
    /// Targets in raw units -> the network's units: (y - mu_y) / s_y.
    ad::Tensor normalize_targets(const ad::Tensor& y) const;
    /// Raw features -> last-layer features [n, n_features].
    ad::Tensor features(const ad::Tensor& x) const;

    /// Bakes the input and output maps into the first and last Linear layers.
    void fold_scalers();
    /// The reverse of fold_scalers() for a model without an input scaler (a saved model.ckpt): fits
    /// mu_x, s_x on x and rescales the first Linear layer so that forward() is unchanged (up to
    /// rounding). Returns false, changing nothing, when there is already an input scaler or the
    /// first layer has no bias.
    bool unfold_input_scaler(const ad::Tensor& x);
    /// The same for the targets (regression): fits mu_y, s_y on y [n, t] and rescales the last layer.
    bool unfold_target_scaler(const ad::Tensor& y);

    /// Parameters "layers.*", scalers "scaler.*" (when present), metadata "hypers",
    /// "architecture" = "mlp", "format_version".
    Checkpoint to_checkpoint() const;
    /// Rebuilds a model from a checkpoint ("model." prefixed sections are accepted too).
    static TabularModel from_checkpoint(const Checkpoint& ckpt);

  private:
    TabularSpec spec_;
    std::shared_ptr<MLP> mlp_;
    ad::Tensor input_mean_, input_std_;    ///< [d] or undefined
    ad::Tensor target_mean_, target_std_;  ///< [t] or undefined
};

/// The checkpoint format version written by this build.
constexpr int kCheckpointFormatVersion = 1;

}  // namespace nn
