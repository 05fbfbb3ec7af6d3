// Multi-head self-attention over the tokens of each centre, with padding and a smooth cutoff
// weight per token (metatrain NanoPET / PET). Notation: centres b (B), tokens t, u (T: the padded
// neighbour edges of a centre), heads h (H), model width d, head width e = d / H.
//   [q; k; v][b, t, :] = W_in x[b, t, :] + b_in                  W_in [3 d, d]
//   S[b, h, t, u] = q[b, h, t, :] . k[b, h, u, :] / sqrt(e) + P[b, u]
//     P[b, u] = 0 for a real token, -1e30 for padding (its softmax weight is exactly 0; a centre
//     with only padding gets finite uniform weights)
//   cutoff weights c[b, u] in [0, 1] (0 on padding) enter in one of two ways:
//     renormalise (NanoPET): A = softmax_u(S);  A' = A c / (sum_u A c + 1e-6)
//     log_weight  (PET):     A' = softmax_u(S + log max(c, 1e-15))
//   o[b, t, (h e)] = sum_u A'[b, h, t, u] v[b, h, u, :],   y = W_out o + b_out   W_out [d, d]
// NanoPET has no biases; PET has. With renormalise the 1e-6 (metatrain's value) makes a centre
// whose weights are all 0 output W_out 0 + b_out. All steps are ops (batched matmul, softmax):
// differentiable twice.
#pragma once
#include <memory>

#include "autodiff/random.hpp"
#include "nn/linear.hpp"
#include "nn/module.hpp"

namespace nn {

enum class AttentionCutoff { renormalise, log_weight };

class MultiHeadAttention : public Module {
  public:
    /// Parameters "in_proj.*" [3 d, d], "out_proj.*" [d, d], drawn in that order.
    MultiHeadAttention(long d, long n_heads, AttentionCutoff cutoff_mode, ad::Rng& rng, bool bias = true);

    /// x [B, T, d]; padding [B, T] (1 real token, 0 padding; a constant); cutoff [B, T] (may carry
    /// a graph: forces flow through it) -> [B, T, d].
    ad::Tensor forward(const ad::Tensor& x, const ad::Tensor& padding, const ad::Tensor& cutoff) const;

    long d() const { return d_; }
    long n_heads() const { return n_heads_; }
    AttentionCutoff cutoff_mode() const { return mode_; }

  private:
    long d_, n_heads_;
    AttentionCutoff mode_;
    std::shared_ptr<Linear> in_proj_, out_proj_;
};

}  // namespace nn
