// Initialisers (formulas in init.hpp).
#include "nn/init.hpp"

#include <cmath>

namespace nn::init {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope

namespace {

// fan_in = product of all axes but the first, fan_out = first axis * receptive field, as torch.
void fans(const ad::Shape& shape, const char* where, long& fan_in, long& fan_out) {
    AD_CHECK(shape.size() >= 2, where << ": expected a weight shape [out, in, ...], got " << shape);
    long receptive = 1;
    for (size_t k = 2; k < shape.size(); ++k) receptive *= shape[k];
    fan_in = shape[1] * receptive;
    fan_out = shape[0] * receptive;
}

}  // namespace

ad::Tensor kaiming_uniform(const ad::Shape& shape, ad::Rng& rng) {
    long fan_in = 0, fan_out = 0;
    fans(shape, "kaiming_uniform", fan_in, fan_out);
    AD_CHECK(fan_in > 0, "kaiming_uniform: expected fan_in > 0, got shape " << shape);
    double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    return rng.uniform(shape, -bound, bound);
}

ad::Tensor bias_uniform(long n, long fan_in, ad::Rng& rng) {
    AD_CHECK(fan_in > 0, "bias_uniform: expected fan_in > 0, got " << fan_in);
    double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    return rng.uniform({n}, -bound, bound);
}

ad::Tensor xavier_uniform(const ad::Shape& shape, ad::Rng& rng, double gain) {
    long fan_in = 0, fan_out = 0;
    fans(shape, "xavier_uniform", fan_in, fan_out);
    AD_CHECK(fan_in + fan_out > 0, "xavier_uniform: expected fan_in + fan_out > 0, got shape " << shape);
    double bound = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
    return rng.uniform(shape, -bound, bound);
}

ad::Tensor zeros(const ad::Shape& shape) { return ad::Tensor::zeros(shape); }
ad::Tensor ones(const ad::Shape& shape) { return ad::Tensor::ones(shape); }

}  // namespace nn::init
