// One transformer layer of metatrain's PET (src/metatrain/pet/modules/transformer.py
// TransformerLayer): a node (centre) token joins the edge tokens of its centre. Notation: centres
// b (B), edge tokens t (T), widths d = d_pet (tokens), D = d_node (node features).
//   node n [B, D], edges x [B, T, d], padding p [B, T], cutoff c [B, T]
//   z = [C n; x]  [B, 1 + T, d]      C = Linear(D, d) ("center_contraction"; identity if D = d)
//   the node token is always real with cutoff weight 1: p' = [1, p], c' = [1, c]
//   attention: MultiHeadAttention(d, heads, log_weight, biases) with p', c' (nn/attention.hpp)
//   PreLN (metatrain default):
//     a = Attn(N_a z);  x' = x + a_edges;  x' = x' + FF(N_m x')
//     n' = n + X a_node;  n' = n' + FF_c(N_c n')           X = Linear(d, D) ("center_expansion")
//   PostLN:
//     z' = N_a(z + Attn(z));  z' = N_m(z' + FF(z'));  x' = z'_edges
//     n' = n + X z'_node;  n' = n' + FF_c(N_c n')
//   When D = d, C = X = identity and there is no node residual or FF_c: n' = a_node (PreLN) or
//   z'_node (PostLN), as metatrain.
// N: RMSNorm or LayerNorm. FF: FeedForward(d, d_ff), FF_c: FeedForward(D, 2 D) (nn/feedforward.hpp),
// "SwiGLU" = gated with a sigmoid gate (metatrain's: W2 (v * sigmoid(u)) with [v; u] = W_in x),
// "SiLU" = plain with silu. Every Linear has a bias. All steps are ops: differentiable twice.
// Parameters: "attention.*", "norm_attention.*", "norm_mlp.*", "mlp.*", and when D != d
// "center_contraction.*", "center_expansion.*", "norm_center_features.*", "center_mlp.*".
#pragma once
#include <memory>
#include <utility>

#include "autodiff/random.hpp"
#include "nn/attention.hpp"
#include "nn/feedforward.hpp"
#include "nn/linear.hpp"
#include "nn/module.hpp"
#include "nn/pet/pet_hypers.hpp"

namespace nn::pet {

class PetTransformerLayer : public Module {
  public:
    /// Draws the attention, the feed-forward block, then (D != d) contraction, expansion and
    /// the node feed-forward block from rng.
    PetTransformerLayer(long d_pet, long d_node, long n_heads, long d_feedforward, PetNorm norm,
                        PetActivation activation, PetTransformerType type, ad::Rng& rng);

    /// node [B, D], edges [B, T, d], padding and cutoff [B, T] -> (node [B, D], edges [B, T, d]).
    std::pair<ad::Tensor, ad::Tensor> forward(const ad::Tensor& node, const ad::Tensor& edges,
                                              const ad::Tensor& padding, const ad::Tensor& cutoff) const;

    long d_pet() const { return d_; }
    long d_node() const { return d_node_; }

  private:
    ad::Tensor norm(const std::shared_ptr<Module>& m, const ad::Tensor& x) const;
    long d_, d_node_;
    PetNorm norm_kind_;
    PetTransformerType type_;
    std::shared_ptr<MultiHeadAttention> attention_;
    std::shared_ptr<Module> norm_attention_, norm_mlp_, norm_center_;
    std::shared_ptr<FeedForward> mlp_, center_mlp_;
    std::shared_ptr<Linear> contraction_, expansion_;
};

}  // namespace nn::pet
