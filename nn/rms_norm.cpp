// RMS normalisation (math in rms_norm.hpp).
#include "nn/rms_norm.hpp"

#include "autodiff/ops.hpp"

namespace nn {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope

RMSNorm::RMSNorm(long n, double eps, bool affine) : n_(n), eps_(eps) {
    AD_CHECK(n > 0, "RMSNorm: expected n > 0, got " << n);
    AD_CHECK(eps > 0, "RMSNorm: expected eps > 0, got " << eps);
    if (affine) weight_ = register_parameter("weight", ad::Tensor::ones({n}));
}

ad::Tensor RMSNorm::forward(const ad::Tensor& x) const {
    AD_CHECK(x.ndim() >= 1 && x.dim(-1) == n_, "RMSNorm: expected x[..., " << n_ << "], got " << x.shape());
    ad::Tensor ms = ad::mean(ad::square(x), {x.ndim() - 1}, true);  // [..., 1]
    ad::Tensor y = ad::mul(x, ad::pow(ad::add(ms, eps_), -0.5));
    return weight_.defined() ? ad::mul(y, weight_) : y;
}

}  // namespace nn
