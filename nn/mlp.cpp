// Multi-layer perceptron (math in mlp.hpp).
#include "nn/mlp.hpp"

namespace nn {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope

MLP::MLP(long n_in, std::vector<long> hidden, long n_out, Activation activation, ad::Rng& rng, bool bias)
    : n_in_(n_in), n_out_(n_out), hidden_(std::move(hidden)), activation_(activation) {
    AD_CHECK(n_in > 0 && n_out > 0, "MLP: expected n_in > 0 and n_out > 0, got " << n_in << " and " << n_out);
    auto list = register_module("layers", std::make_shared<ModuleList>());
    long width = n_in;
    for (size_t k = 0; k <= hidden_.size(); ++k) {
        long next = k < hidden_.size() ? hidden_[k] : n_out;
        AD_CHECK(next > 0, "MLP: expected hidden sizes > 0, got " << ad::Shape(hidden_.begin(), hidden_.end()));
        layers_.push_back(list->push_back(std::make_shared<Linear>(width, next, rng, bias)));
        width = next;
    }
}

ad::Tensor MLP::features(const ad::Tensor& x) const {
    AD_CHECK(x.ndim() == 2 && x.dim(1) == n_in_, "MLP: expected x[n, " << n_in_ << "], got " << x.shape());
    ad::Tensor h = x;
    for (size_t k = 0; k + 1 < layers_.size(); ++k) h = activate(activation_, layers_[k]->forward(h));
    return h;
}

ad::Tensor MLP::forward(const ad::Tensor& x) const {
    return layers_.back()->forward(features(x));
}

}  // namespace nn
