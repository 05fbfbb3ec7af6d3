// Root-mean-square normalisation over the last axis (Zhang & Sennrich 2019, eq. 4), as
// torch.nn.RMSNorm:
//   rms[n] = sqrt(mean_f x[n, f]^2 + eps),   y[n, f] = x[n, f] / rms[n] * w[f]
// The fused op ad::rms_norm (autodiff/ops_rms_norm.hpp: forward, backward and second derivatives
// as ops): gx = (g w - xh mean_f(g w xh)) / rms with xh = x / rms, gw = sum_n g xh.
#pragma once
#include "nn/module.hpp"

namespace nn {

class RMSNorm : public Module {
  public:
    /// With affine: parameter "weight" [n] (ones). eps defaults to torch's for float64 (machine
    /// epsilon): it only guards x = 0.
    explicit RMSNorm(long n, double eps = 2.220446049250313e-16, bool affine = true);

    /// x [..., n] -> [..., n].
    ad::Tensor forward(const ad::Tensor& x) const;

    const ad::Tensor& weight() const { return weight_; }  ///< [n], undefined without affine
    long n() const { return n_; }
    double eps() const { return eps_; }

  private:
    long n_;
    double eps_;
    ad::Tensor weight_;
};

}  // namespace nn
