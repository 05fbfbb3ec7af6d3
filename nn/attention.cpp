// Multi-head attention with padding and cutoff weights (math in attention.hpp).
#include "nn/attention.hpp"

#include <cmath>

#include "autodiff/ops.hpp"

namespace nn {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope

namespace {
constexpr double kPadLogit = -1e30;     // exp(kPadLogit - max) == 0 for any finite score
constexpr double kRenormEps = 1e-6;     // metatrain NanoPET's AttentionBlock
constexpr double kLogClamp = 1e-15;     // metatrain PET's AttentionBlock epsilon
}  // namespace

MultiHeadAttention::MultiHeadAttention(long d, long n_heads, AttentionCutoff cutoff_mode, ad::Rng& rng, bool bias)
    : d_(d), n_heads_(n_heads), mode_(cutoff_mode) {
    AD_CHECK(d > 0 && n_heads > 0 && d % n_heads == 0,
             "MultiHeadAttention: expected d > 0 divisible by n_heads > 0, got d " << d << " and n_heads " << n_heads);
    in_proj_ = register_module("in_proj", std::make_shared<Linear>(d, 3 * d, rng, bias));
    out_proj_ = register_module("out_proj", std::make_shared<Linear>(d, d, rng, bias));
}

ad::Tensor MultiHeadAttention::forward(const ad::Tensor& x, const ad::Tensor& padding, const ad::Tensor& cutoff) const {
    AD_CHECK(x.ndim() == 3 && x.dim(2) == d_, "MultiHeadAttention: expected x[B, T, " << d_ << "], got " << x.shape());
    const long B = x.dim(0), T = x.dim(1), H = n_heads_, e = d_ / n_heads_;
    AD_CHECK(padding.shape() == ad::Shape({B, T}) && cutoff.shape() == ad::Shape({B, T}),
             "MultiHeadAttention: expected padding and cutoff of shape [" << B << ", " << T << "], got "
                                                                           << padding.shape() << " and " << cutoff.shape());
    AD_CHECK(!padding.requires_grad(), "MultiHeadAttention: expected a constant padding mask, got one that requires grad");
    // q, k, v [B H, T, e] each from its rows of W_in (and b_in): three [B T, d] x [d, d]^T products
    // on slices of the [3 d, d] weight instead of slices of a [B, T, 3 d] product, so no
    // activation-sized slice (nor its zero-padded backward) is made; same sums, same values.
    const ad::Tensor x2 = ad::reshape(x, {B * T, d_});
    const ad::Tensor& W = in_proj_->weight();
    const ad::Tensor& bias = in_proj_->bias();
    auto part = [&](long k) {
        ad::Tensor y = ad::linear(x2, ad::slice(W, 0, k * d_, (k + 1) * d_),
                                  bias.defined() ? ad::slice(bias, 0, k * d_, (k + 1) * d_) : ad::Tensor());
        return ad::reshape(ad::permute(ad::reshape(y, {B, T, H, e}), {0, 2, 1, 3}), {B * H, T, e});
    };
    ad::Tensor q = part(0), k = part(1), v = part(2);
    ad::Tensor S = ad::reshape(ad::mul(ad::matmul_nt(q, k), 1.0 / std::sqrt(double(e))), {B, H, T, T});
    ad::Tensor pad_logit = ad::Tensor::empty({B, 1, 1, T});
    for (long i = 0; i < B * T; ++i) pad_logit.data()[i] = padding[i] != 0 ? 0.0 : kPadLogit;
    S = ad::add(S, pad_logit);
    ad::Tensor c = ad::reshape(cutoff, {B, 1, 1, T});
    ad::Tensor A;
    if (mode_ == AttentionCutoff::renormalise) {
        A = ad::mul(ad::softmax(S, 3), c);
        A = ad::div(A, ad::add(ad::sum(A, {3}, true), kRenormEps));
    } else {
        ad::Tensor floor = ad::Tensor::scalar(kLogClamp);
        A = ad::softmax(ad::add(S, ad::log(ad::where(ad::greater(c, floor), c, floor))), 3);
    }
    ad::Tensor o = ad::matmul(ad::reshape(A, {B * H, T, T}), v);                       // [B H, T, e]
    o = ad::reshape(ad::permute(ad::reshape(o, {B, H, T, e}), {0, 2, 1, 3}), {B, T, d_});
    return out_proj_->forward(o);
}

}  // namespace nn
