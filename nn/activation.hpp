// Activation functions by name, for layers and options files:
//   tanh, relu = max(x, 0), silu = x sigmoid(x), gelu = x Phi(x) (erf form),
//   sigmoid = 1/(1 + e^-x), softplus = log(1 + e^x), identity = x.
// Each is one autodiff op (see autodiff/ops.hpp), so all are differentiable twice.
#pragma once
#include <string>

#include "autodiff/tensor.hpp"

namespace nn {

enum class Activation { tanh, relu, silu, gelu, sigmoid, softplus, identity };

/// Applies the activation elementwise; any shape.
ad::Tensor activate(Activation a, const ad::Tensor& x);
/// "tanh" -> Activation::tanh, ...; throws naming the accepted names and the bad one.
Activation parse_activation(const std::string& name);
/// The name parse_activation accepts.
std::string to_string(Activation a);

}  // namespace nn
