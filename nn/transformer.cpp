// Transformer layer (math in transformer.hpp).
#include "nn/transformer.hpp"

#include "autodiff/ops.hpp"
#include "nn/layer_norm.hpp"
#include "nn/rms_norm.hpp"

namespace nn {

TransformerOptions TransformerOptions::nanopet(long d, long n_heads) {
    TransformerOptions o;
    o.d = d, o.n_heads = n_heads, o.d_ff = 4 * d;
    return o;
}

TransformerOptions TransformerOptions::pet(long d, long n_heads, long d_ff, NormPlacement placement) {
    TransformerOptions o;
    o.d = d, o.n_heads = n_heads, o.d_ff = d_ff, o.placement = placement;
    o.ff_activation = Activation::silu;
    o.cutoff_mode = AttentionCutoff::log_weight;
    o.bias = true;
    o.residual_scale = 1.0;
    return o;
}

TransformerLayer::TransformerLayer(const TransformerOptions& options, ad::Rng& rng) : options_(options) {
    AD_CHECK(options.residual_scale > 0,
             "TransformerLayer: expected residual_scale > 0, got " << options.residual_scale);
    attention_ = register_module(
        "attention", std::make_shared<MultiHeadAttention>(options.d, options.n_heads, options.cutoff_mode, rng, options.bias));
    feedforward_ = register_module("feedforward", std::make_shared<FeedForward>(options.d, options.d_ff, options.ff_kind,
                                                                                options.ff_activation, rng, options.bias));
    const char* names[2] = {"norm_attention", "norm_feedforward"};
    for (int k = 0; k < 2; ++k) {
        if (options.norm == NormKind::layer_norm)
            norms_[k] = register_module(names[k], std::make_shared<LayerNorm>(options.d));
        else
            norms_[k] = register_module(names[k], std::make_shared<RMSNorm>(options.d));
    }
}

ad::Tensor TransformerLayer::norm(int which, const ad::Tensor& x) const {
    if (options_.norm == NormKind::layer_norm) return static_cast<const LayerNorm&>(*norms_[which]).forward(x);
    return static_cast<const RMSNorm&>(*norms_[which]).forward(x);
}

ad::Tensor TransformerLayer::forward(const ad::Tensor& x, const ad::Tensor& padding, const ad::Tensor& cutoff) const {
    const double a = options_.residual_scale;
    auto residual = [a](const ad::Tensor& u, const ad::Tensor& v) { return a == 1.0 ? ad::add(u, v) : ad::mul(ad::add(u, v), a); };
    if (options_.placement == NormPlacement::pre) {
        ad::Tensor h = residual(x, attention_->forward(norm(0, x), padding, cutoff));
        return residual(h, feedforward_->forward(norm(1, h)));
    }
    ad::Tensor h = norm(0, residual(x, attention_->forward(x, padding, cutoff)));
    return norm(1, residual(h, feedforward_->forward(h)));
}

}  // namespace nn
