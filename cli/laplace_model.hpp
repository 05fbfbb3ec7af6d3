// A tabular model wrapped with a Laplace posterior, last-layer (uq::LastLayerLaplace: theta = the
// last Linear) or all-weights (uq::MlpLaplace: theta = every parameter): itself a model (same
// inputs, more outputs: predictive variances), saved as one checkpoint holding the MLP
// ("layers.*", metadata "hypers") and the posterior ("laplace.*" tensors, "laplace.*" metadata,
// "laplace.kind" = "last_layer" | "mlp"; the predictive in "laplace.pred_type", "laplace.link_approx",
// "laplace.n_samples"), so `atomgrad eval` finds both in one file.
#pragma once
#include <string>
#include <variant>

#include "nn/checkpoint.hpp"
#include "nn/tabular.hpp"
#include "uq/last_layer_laplace.hpp"
#include "uq/mlp_laplace.hpp"

namespace cli {

struct Prediction {
    ad::Tensor mean;   ///< regression: predictive mean [n, C]; classification: probabilities [n, C]
    ad::Tensor f_var;  ///< regression: epistemic variance of f [n, C] (diagonal); classification: undefined
};

class LaplaceModel {
  public:
    /// `model` must have its standardisation folded into the weights (a plain MLP), so that the
    /// posterior lives in the data's units. An all-weights posterior's theta_MAP must be the
    /// model's parameters.
    /// pred_type nn samples n_samples weight vectors (seed 0); glm uses n_samples for link mc only.
    LaplaceModel(nn::TabularModel model, uq::LastLayerLaplace la, uq::LinkApprox link, long n_samples,
                 uq::PredType pred_type = uq::PredType::glm);
    LaplaceModel(nn::TabularModel model, uq::MlpLaplace la, uq::LinkApprox link, long n_samples,
                 uq::PredType pred_type = uq::PredType::glm);
    const nn::TabularModel& model() const { return model_; }
    /// The posterior (either kind): hyperparameters, lml and its terms, sizes.
    const uq::Laplace& laplace() const;
    double sigma_noise() const { return laplace().sigma_noise(); }
    /// "last_layer" | "all" (laplace-torch's subset_of_weights).
    std::string subset_of_weights() const;
    uq::LinkApprox link() const { return link_; }
    uq::PredType pred_type() const { return pred_type_; }
    /// Predictive at raw features x [n, d]: glm (f_MAP, J Sigma J^T; link probabilities) or nn
    /// (sample mean and variance of f; mean of the sampled softmax).
    Prediction predict(const ad::Tensor& x) const;
    nn::Checkpoint to_checkpoint() const;
    /// True when `ckpt` holds a posterior next to the model.
    static bool holds_posterior(const nn::Checkpoint& ckpt);
    /// The posterior of `ckpt` around `model` (the checkpoint's own model, scalers folded).
    static LaplaceModel from_checkpoint(const nn::Checkpoint& ckpt, nn::TabularModel model);

  private:
    void check_model() const;

    nn::TabularModel model_;
    std::variant<uq::LastLayerLaplace, uq::MlpLaplace> la_;
    uq::LinkApprox link_;
    long n_samples_;
    uq::PredType pred_type_;
};

uq::LinkApprox parse_link_approx(const std::string& name);  ///< probit | bridge | bridge_norm | mc
std::string to_string(uq::LinkApprox link);
uq::PredType parse_pred_type(const std::string& name);  ///< glm | nn
std::string to_string(uq::PredType pred_type);

}  // namespace cli
