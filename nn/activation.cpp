// Activation dispatch and names.
#include "nn/activation.hpp"

#include "autodiff/ops.hpp"

namespace nn {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope

namespace {
constexpr Activation kAll[] = {Activation::tanh,    Activation::relu,     Activation::silu,    Activation::gelu,
                               Activation::sigmoid, Activation::softplus, Activation::identity};
}

ad::Tensor activate(Activation a, const ad::Tensor& x) {
    switch (a) {
        case Activation::tanh: return ad::tanh(x);
        case Activation::relu: return ad::relu(x);
        case Activation::silu: return ad::silu(x);
        case Activation::gelu: return ad::gelu(x);
        case Activation::sigmoid: return ad::sigmoid(x);
        case Activation::softplus: return ad::softplus(x);
        case Activation::identity: return x;
    }
    throw ad::Error("activate: unknown activation " + std::to_string(static_cast<int>(a)));
}

std::string to_string(Activation a) {
    switch (a) {
        case Activation::tanh: return "tanh";
        case Activation::relu: return "relu";
        case Activation::silu: return "silu";
        case Activation::gelu: return "gelu";
        case Activation::sigmoid: return "sigmoid";
        case Activation::softplus: return "softplus";
        case Activation::identity: return "identity";
    }
    throw ad::Error("to_string: unknown activation " + std::to_string(static_cast<int>(a)));
}

Activation parse_activation(const std::string& name) {
    std::string names;
    for (Activation a : kAll) {
        if (to_string(a) == name) return a;
        names += (names.empty() ? "" : ", ") + to_string(a);
    }
    throw ad::Error("activation: expected one of " + names + ", got '" + name + "'");
}

}  // namespace nn
