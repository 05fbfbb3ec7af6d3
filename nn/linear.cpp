// Linear layer (math in linear.hpp).
#include "nn/linear.hpp"

#include "autodiff/ops.hpp"
#include "nn/init.hpp"

namespace nn {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope

namespace {
long checked_size(long n, const char* what) {
    AD_CHECK(n > 0, "Linear: expected " << what << " > 0, got " << n);
    return n;
}
}  // namespace

Linear::Linear(long n_in, long n_out, ad::Rng& rng, bool bias)
    : n_in_(checked_size(n_in, "n_in")), n_out_(checked_size(n_out, "n_out")) {
    weight_ = register_parameter("weight", init::kaiming_uniform({n_out, n_in}, rng));  // [out, in]
    if (bias) bias_ = register_parameter("bias", init::bias_uniform(n_out, n_in, rng));  // [out]
}

ad::Tensor Linear::forward(const ad::Tensor& x) const {
    AD_CHECK(x.ndim() >= 1 && x.dim(-1) == n_in_,
             "Linear: expected x[..., " << n_in_ << "], got " << x.shape());
    if (x.ndim() == 2) return ad::linear(x, weight_, bias_);
    ad::Shape out_shape = x.shape();
    out_shape.back() = n_out_;
    return ad::reshape(ad::linear(ad::reshape(x, {-1, n_in_}), weight_, bias_), out_shape);
}

}  // namespace nn
