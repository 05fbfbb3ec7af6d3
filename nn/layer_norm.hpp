// Layer normalisation over the last axis (Ba et al. 2016, eq. 4), as torch.nn.LayerNorm:
//   mu[n] = mean_f x[n, f],  var[n] = mean_f (x[n, f] - mu[n])^2   (biased)
//   y[n, f] = (x[n, f] - mu[n]) / sqrt(var[n] + eps) * w[f] + b[f]
// The fused op ad::layer_norm (autodiff/ops_norm.cpp): its backward is an op, so it is
// differentiable twice (force training).
#pragma once
#include "nn/module.hpp"

namespace nn {

class LayerNorm : public Module {
  public:
    /// With affine: parameters "weight" [n] (ones) and "bias" [n] (zeros).
    explicit LayerNorm(long n, double eps = 1e-5, bool affine = true);

    /// x [..., n] -> [..., n].
    ad::Tensor forward(const ad::Tensor& x) const;

    const ad::Tensor& weight() const { return weight_; }  ///< [n], undefined without affine
    const ad::Tensor& bias() const { return bias_; }      ///< [n], undefined without affine
    long n() const { return n_; }
    double eps() const { return eps_; }

  private:
    long n_;
    double eps_;
    ad::Tensor weight_, bias_;
};

}  // namespace nn
