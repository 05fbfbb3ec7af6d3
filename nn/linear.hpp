// Linear layer:  y[n, o] = sum_i x[n, i] W[o, i] + b[o]   (one fused op, ad::linear)
// Backward (in ad::linear): gx = g W, gW = g^T x, gb = sum_n g[n, :].
// Initialised as torch.nn.Linear: W ~ U(-1/sqrt(in), 1/sqrt(in)), then b from the same range.
#pragma once
#include "autodiff/random.hpp"
#include "nn/module.hpp"

namespace nn {

class Linear : public Module {
  public:
    /// Parameters "weight" [n_out, n_in] and, with bias, "bias" [n_out]; draws weight then bias.
    Linear(long n_in, long n_out, ad::Rng& rng, bool bias = true);

    /// x [n, n_in] -> [n, n_out]; also x [..., n_in] -> [..., n_out] (leading axes flattened).
    ad::Tensor forward(const ad::Tensor& x) const;

    const ad::Tensor& weight() const { return weight_; }  ///< [n_out, n_in]
    const ad::Tensor& bias() const { return bias_; }      ///< [n_out], undefined without bias
    bool has_bias() const { return bias_.defined(); }
    long n_in() const { return n_in_; }
    long n_out() const { return n_out_; }

  private:
    long n_in_, n_out_;
    ad::Tensor weight_, bias_;
};

}  // namespace nn
