// PET transformer layer (math in pet_transformer.hpp).
#include "nn/pet/pet_transformer.hpp"

#include "autodiff/ops.hpp"
#include "nn/layer_norm.hpp"
#include "nn/rms_norm.hpp"

namespace nn::pet {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope
using ad::Tensor;

namespace {
std::shared_ptr<Module> make_norm(PetNorm kind, long n) {
    if (kind == PetNorm::layer_norm) return std::make_shared<LayerNorm>(n);
    return std::make_shared<RMSNorm>(n);
}
FeedForwardKind ff_kind(PetActivation a) { return a == PetActivation::swiglu ? FeedForwardKind::gated : FeedForwardKind::plain; }
Activation ff_activation(PetActivation a) { return a == PetActivation::swiglu ? Activation::sigmoid : Activation::silu; }
}  // namespace

PetTransformerLayer::PetTransformerLayer(long d_pet, long d_node, long n_heads, long d_feedforward, PetNorm norm_kind,
                                         PetActivation activation, PetTransformerType type, ad::Rng& rng)
    : d_(d_pet), d_node_(d_node), norm_kind_(norm_kind), type_(type) {
    AD_CHECK(d_pet > 0 && d_node > 0 && n_heads > 0 && d_pet % n_heads == 0 && d_feedforward > 0,
             "PetTransformerLayer: expected d_pet divisible by n_heads and positive widths, got d_pet "
                 << d_pet << ", d_node " << d_node << ", n_heads " << n_heads << ", d_feedforward " << d_feedforward);
    attention_ = register_module("attention", std::make_shared<MultiHeadAttention>(d_pet, n_heads, AttentionCutoff::log_weight, rng, true));
    norm_attention_ = register_module("norm_attention", make_norm(norm_kind, d_pet));
    norm_mlp_ = register_module("norm_mlp", make_norm(norm_kind, d_pet));
    mlp_ = register_module("mlp", std::make_shared<FeedForward>(d_pet, d_feedforward, ff_kind(activation), ff_activation(activation), rng, true));
    if (d_node != d_pet) {
        contraction_ = register_module("center_contraction", std::make_shared<Linear>(d_node, d_pet, rng, true));
        expansion_ = register_module("center_expansion", std::make_shared<Linear>(d_pet, d_node, rng, true));
        norm_center_ = register_module("norm_center_features", make_norm(norm_kind, d_node));
        center_mlp_ = register_module("center_mlp", std::make_shared<FeedForward>(d_node, 2 * d_node, ff_kind(activation),
                                                                                  ff_activation(activation), rng, true));
    }
}

Tensor PetTransformerLayer::norm(const std::shared_ptr<Module>& m, const Tensor& x) const {
    if (norm_kind_ == PetNorm::layer_norm) return static_cast<const LayerNorm&>(*m).forward(x);
    return static_cast<const RMSNorm&>(*m).forward(x);
}

std::pair<Tensor, Tensor> PetTransformerLayer::forward(const Tensor& node, const Tensor& edges, const Tensor& padding,
                                                       const Tensor& cutoff) const {
    AD_CHECK(edges.ndim() == 3 && edges.dim(2) == d_ && node.ndim() == 2 && node.dim(0) == edges.dim(0) &&
                 node.dim(1) == d_node_ && padding.shape() == ad::Shape({edges.dim(0), edges.dim(1)}) &&
                 cutoff.shape() == padding.shape(),
             "PetTransformerLayer: expected node [B, " << d_node_ << "], edges [B, T, " << d_
                                                       << "], padding and cutoff [B, T], got node " << node.shape()
                                                       << ", edges " << edges.shape() << ", padding " << padding.shape()
                                                       << ", cutoff " << cutoff.shape());
    const long B = edges.dim(0), T = edges.dim(1);
    const Tensor ones = Tensor::ones({B, 1});
    const Tensor p = ad::concat({ones, padding}, 1), c = ad::concat({ones, cutoff}, 1);  // [B, 1 + T]
    const Tensor z = ad::concat({ad::reshape(contraction_ ? contraction_->forward(node) : node, {B, 1, d_}), edges}, 1);
    Tensor tok_node, x;  // [B, d] and [B, T, d]
    if (type_ == PetTransformerType::pre_ln) {
        Tensor a = attention_->forward(norm(norm_attention_, z), p, c);
        tok_node = ad::reshape(ad::slice(a, 1, 0, 1), {B, d_});
        x = ad::add(edges, ad::slice(a, 1, 1, 1 + T));
        x = ad::add(x, mlp_->forward(norm(norm_mlp_, x)));
    } else {
        Tensor zz = norm(norm_attention_, ad::add(z, attention_->forward(z, p, c)));
        zz = norm(norm_mlp_, ad::add(zz, mlp_->forward(zz)));
        tok_node = ad::reshape(ad::slice(zz, 1, 0, 1), {B, d_});
        x = ad::slice(zz, 1, 1, 1 + T);
    }
    if (!contraction_) return {tok_node, x};
    Tensor n = ad::add(node, expansion_->forward(tok_node));
    n = ad::add(n, center_mlp_->forward(norm(norm_center_, n)));
    return {n, x};
}

}  // namespace nn::pet
