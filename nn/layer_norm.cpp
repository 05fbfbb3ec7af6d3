// Layer normalisation (math in layer_norm.hpp).
#include "nn/layer_norm.hpp"

#include "autodiff/ops.hpp"

namespace nn {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope

LayerNorm::LayerNorm(long n, double eps, bool affine) : n_(n), eps_(eps) {
    AD_CHECK(n > 0, "LayerNorm: expected n > 0, got " << n);
    AD_CHECK(eps > 0, "LayerNorm: expected eps > 0, got " << eps);
    if (affine) {
        weight_ = register_parameter("weight", ad::Tensor::ones({n}));
        bias_ = register_parameter("bias", ad::Tensor::zeros({n}));
    }
}

ad::Tensor LayerNorm::forward(const ad::Tensor& x) const {
    AD_CHECK(x.ndim() >= 1 && x.dim(-1) == n_, "LayerNorm: expected x[..., " << n_ << "], got " << x.shape());
    if (weight_.defined()) return ad::layer_norm(x, weight_, bias_, eps_);  // fused, one pass per row
    return ad::layer_norm(x, ad::Tensor::ones({n_}), ad::Tensor::zeros({n_}), eps_);
}

}  // namespace nn
