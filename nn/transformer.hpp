// One transformer layer over the tokens of each centre: attention (nn/attention.hpp) and a
// feed-forward block (nn/feedforward.hpp), each with a normalisation N (LayerNorm or RMSNorm) and
// a residual connection scaled by a (1, or 1/sqrt 2 as NanoPET, which keeps the variance):
//   pre-LN  (NanoPET, PET "PreLN"):  h = a (x + Attn(N1 x)),      y = a (h + FF(N2 h))
//   post-LN (PET "PostLN"):          h = N1(a (x + Attn(x))),     y = N2(a (h + FF(h)))
// x [B, T, d], padding and cutoff [B, T] as MultiHeadAttention. Presets: nanopet(), pet().
// Parameters: "attention.*", "norm_attention.*", "feedforward.*", "norm_feedforward.*".
#pragma once
#include <memory>

#include "autodiff/random.hpp"
#include "nn/activation.hpp"
#include "nn/attention.hpp"
#include "nn/feedforward.hpp"
#include "nn/module.hpp"

namespace nn {

enum class NormPlacement { pre, post };
enum class NormKind { layer_norm, rms_norm };

struct TransformerOptions {
    long d = 128;                                          ///< token width
    long n_heads = 4;
    long d_ff = 512;                                       ///< feed-forward hidden width
    NormPlacement placement = NormPlacement::pre;
    NormKind norm = NormKind::layer_norm;
    FeedForwardKind ff_kind = FeedForwardKind::plain;
    Activation ff_activation = Activation::gelu;
    AttentionCutoff cutoff_mode = AttentionCutoff::renormalise;
    bool bias = false;                                     ///< biases in attention and feed-forward
    double residual_scale = 0.70710678118654752440;       ///< a

    /// metatrain NanoPET: pre-LN LayerNorm, gelu FF of width 4 d, no biases, renormalised
    /// attention, residuals times 1/sqrt 2.
    static TransformerOptions nanopet(long d, long n_heads);
    /// A PET-like layer of the building blocks: LayerNorm, silu FF with biases, log-weight
    /// attention, plain residuals; post-LN unless `placement` says otherwise (metatrain's PET and
    /// nn/pet's PetTransformerLayer default to pre-LN; this preset serves the tests).
    static TransformerOptions pet(long d, long n_heads, long d_ff, NormPlacement placement = NormPlacement::post);
};

class TransformerLayer : public Module {
  public:
    /// Draws the attention, then the feed-forward weights from rng.
    TransformerLayer(const TransformerOptions& options, ad::Rng& rng);

    /// x [B, T, d] -> [B, T, d].
    ad::Tensor forward(const ad::Tensor& x, const ad::Tensor& padding, const ad::Tensor& cutoff) const;

    const TransformerOptions& options() const { return options_; }

  private:
    ad::Tensor norm(int which, const ad::Tensor& x) const;
    TransformerOptions options_;
    std::shared_ptr<MultiHeadAttention> attention_;
    std::shared_ptr<FeedForward> feedforward_;
    std::shared_ptr<Module> norms_[2];
};

}  // namespace nn
