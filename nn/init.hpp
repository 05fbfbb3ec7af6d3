// Parameter initialisation, as torch's defaults. For a weight W[out, in] with fan_in = in:
//   kaiming_uniform: W ~ U(-b, b), b = gain sqrt(3 / fan_in) with gain = sqrt(2 / (1 + a^2)) and
//                    a = sqrt(5) (torch.nn.Linear.reset_parameters), which simplifies to b = 1/sqrt(fan_in)
//   bias_uniform:    b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))   (same reset_parameters)
//   xavier_uniform:  W ~ U(-b, b), b = gain sqrt(6 / (fan_in + fan_out))   (Glorot & Bengio 2010, eq. 16)
// Values are drawn in row-major order from the given Rng, so a seed fixes them bit for bit.
#pragma once
#include "autodiff/random.hpp"
#include "autodiff/tensor.hpp"

namespace nn::init {

/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for a weight of shape [out, in, ...]; fan_in = in * ...
ad::Tensor kaiming_uniform(const ad::Shape& shape, ad::Rng& rng);
/// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) of shape [n]: torch.nn.Linear's default bias.
ad::Tensor bias_uniform(long n, long fan_in, ad::Rng& rng);
/// U(-b, b), b = gain sqrt(6 / (fan_in + fan_out)), for a weight of shape [out, in, ...].
ad::Tensor xavier_uniform(const ad::Shape& shape, ad::Rng& rng, double gain = 1.0);
/// All zeros.
ad::Tensor zeros(const ad::Shape& shape);
/// All ones.
ad::Tensor ones(const ad::Shape& shape);

}  // namespace nn::init
