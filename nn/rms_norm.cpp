// RMS normalisation (math in rms_norm.hpp).
#include "nn/rms_norm.hpp"

#include "autodiff/ops.hpp"
#include "autodiff/ops_rms_norm.hpp"

namespace nn {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope

RMSNorm::RMSNorm(long n, double eps, bool affine) : n_(n), eps_(eps) {
    AD_CHECK(n > 0, "RMSNorm: expected n > 0, got " << n);
    AD_CHECK(eps > 0, "RMSNorm: expected eps > 0, got " << eps);
    if (affine) weight_ = register_parameter("weight", ad::Tensor::ones({n}));
}

ad::Tensor RMSNorm::forward(const ad::Tensor& x) const {
    AD_CHECK(x.ndim() >= 1 && x.dim(-1) == n_, "RMSNorm: expected x[..., " << n_ << "], got " << x.shape());
    // the fused op (autodiff/ops_rms_norm.hpp); the composite x (mean_f x^2 + eps)^-1/2 w is its
    // test oracle (tests/autodiff/test_ops_rms_norm.cpp)
    return ad::rms_norm(x, weight_.defined() ? weight_ : ad::Tensor::ones({n_}), eps_);
}

}  // namespace nn
