// Embedding table (torch.nn.Embedding): a learned vector per index, e.g. per species.
//   y[p, :] = table[idx[p], :]          table [n_embeddings, d], idx [n] -> y [n, d]
// Backward (index_select's): g_table = index_add(zeros, idx, g), differentiable again.
// Initialised as torch: table ~ N(0, 1).
#pragma once
#include <vector>

#include "autodiff/random.hpp"
#include "nn/module.hpp"

namespace nn {

class Embedding : public Module {
  public:
    /// Parameter "weight" [n_embeddings, d].
    Embedding(long n_embeddings, long d, ad::Rng& rng);

    /// idx (each in [0, n_embeddings)) -> [idx.size(), d].
    ad::Tensor forward(const std::vector<long>& idx) const;

    const ad::Tensor& weight() const { return weight_; }
    long n_embeddings() const { return n_; }
    long d() const { return d_; }

  private:
    long n_, d_;
    ad::Tensor weight_;
};

}  // namespace nn
