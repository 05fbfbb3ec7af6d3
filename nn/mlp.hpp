// Multi-layer perceptron: h_0 = x, h_{k+1} = act(Linear_k(h_k)) for the hidden layers, then
// y = Linear_last(h_L). h_L are the "last-layer features" (input of the last Linear) used by LLPR
// and last-layer Laplace. Layers are registered as "layers.0" ... "layers.L" (Linear layers only),
// each initialised as torch.nn.Linear (weight then bias, layer by layer, from one Rng).
#pragma once
#include <memory>
#include <vector>

#include "autodiff/random.hpp"
#include "nn/activation.hpp"
#include "nn/linear.hpp"
#include "nn/module.hpp"

namespace nn {

class MLP : public Module {
  public:
    /// n_in -> hidden[0] -> ... -> hidden.back() -> n_out; hidden may be empty (one Linear).
    MLP(long n_in, std::vector<long> hidden, long n_out, Activation activation, ad::Rng& rng, bool bias = true);

    /// x [n, n_in] -> [n, n_out].
    ad::Tensor forward(const ad::Tensor& x) const;
    /// x [n, n_in] -> last-layer features [n, hidden.back()] (x itself when hidden is empty).
    ad::Tensor features(const ad::Tensor& x) const;

    const Linear& last_layer() const { return *layers_.back(); }
    const std::vector<std::shared_ptr<Linear>>& layers() const { return layers_; }
    long n_in() const { return n_in_; }
    long n_out() const { return n_out_; }
    const std::vector<long>& hidden() const { return hidden_; }
    Activation activation() const { return activation_; }
    /// Width of the last-layer features: hidden.back(), or n_in without hidden layers.
    long n_features() const { return hidden_.empty() ? n_in_ : hidden_.back(); }

  private:
    long n_in_, n_out_;
    std::vector<long> hidden_;
    Activation activation_;
    std::vector<std::shared_ptr<Linear>> layers_;  ///< the same layers as the "layers" child
};

}  // namespace nn
