// Embedding table (math in embedding.hpp).
#include "nn/embedding.hpp"

#include "autodiff/ops.hpp"

namespace nn {

Embedding::Embedding(long n_embeddings, long d, ad::Rng& rng) : n_(n_embeddings), d_(d) {
    AD_CHECK(n_embeddings > 0 && d > 0,
             "Embedding: expected n_embeddings > 0 and d > 0, got " << n_embeddings << " and " << d);
    weight_ = register_parameter("weight", rng.normal({n_embeddings, d}));
}

ad::Tensor Embedding::forward(const std::vector<long>& idx) const {
    for (long i : idx)
        AD_CHECK(i >= 0 && i < n_, "Embedding: expected indices in [0, " << n_ << "), got " << i);
    return ad::index_select(weight_, 0, idx);
}

}  // namespace nn
