// A tabular model wrapped with a last-layer Laplace posterior: itself a model (same inputs, more
// outputs: predictive variances), saved as one checkpoint holding the MLP ("layers.*", metadata
// "hypers") and the posterior ("laplace.*" tensors, "laplace.*" metadata), so `atomgrad eval`
// finds both in one file.
#pragma once
#include <memory>
#include <string>

#include "nn/checkpoint.hpp"
#include "nn/tabular.hpp"
#include "uq/last_layer_laplace.hpp"

namespace cli {

struct Prediction {
    ad::Tensor mean;   ///< regression: predictive mean [n, C]; classification: probabilities [n, C]
    ad::Tensor f_var;  ///< regression: epistemic variance of f [n, C] (diagonal); classification: undefined
};

class LaplaceModel {
  public:
    LaplaceModel(nn::TabularModel model, uq::LastLayerLaplace la, uq::LinkApprox link, long n_samples);
    const nn::TabularModel& model() const { return model_; }
    const uq::LastLayerLaplace& laplace() const { return la_; }
    uq::LinkApprox link() const { return link_; }
    /// GLM predictive at raw features x [n, d].
    Prediction predict(const ad::Tensor& x) const;
    nn::Checkpoint to_checkpoint() const;
    /// True when `ckpt` holds a posterior next to the model.
    static bool holds_posterior(const nn::Checkpoint& ckpt);
    static LaplaceModel from_checkpoint(const nn::Checkpoint& ckpt, nn::TabularModel model);

  private:
    nn::TabularModel model_;
    uq::LastLayerLaplace la_;
    uq::LinkApprox link_;
    long n_samples_;
};

uq::LinkApprox parse_link_approx(const std::string& name);  ///< probit | bridge | bridge_norm | mc
std::string to_string(uq::LinkApprox link);

}  // namespace cli
