// Position-wise feed-forward blocks of a transformer, applied to the last axis of x [..., d]:
//   plain:  y = W2 act(W1 x + b1) + b2                    W1 [d_ff, d], W2 [d, d_ff]
//   gated:  [v; u] = W_in x + b_in   (v, u [d_ff] each)   W_in [2 d_ff, d]
//           y = W2 (v * act(u)) + b2                      (GLU family, Shazeer 2020)
// act = silu gives SwiGLU, W2 (silu(W_g x) * W_v x); act = sigmoid gives metatrain PET's "SwiGLU"
// (value first, gate second in one projection, as PET's w_in). metatrain's NanoPET uses plain
// with gelu and no biases; PET uses plain with silu (or gated sigmoid) and biases.
// Parameters: "w_in.{weight,bias}" (W1 or W_in), "w_out.{weight,bias}" (W2). Every piece is an
// op, so the block is differentiable twice.
#pragma once
#include <memory>

#include "autodiff/random.hpp"
#include "nn/activation.hpp"
#include "nn/linear.hpp"
#include "nn/module.hpp"

namespace nn {

enum class FeedForwardKind { plain, gated };

class FeedForward : public Module {
  public:
    /// Draws W_in then W_out (each weight then bias) from rng.
    FeedForward(long d, long d_ff, FeedForwardKind kind, Activation activation, ad::Rng& rng, bool bias = true);

    /// x [..., d] -> [..., d].
    ad::Tensor forward(const ad::Tensor& x) const;

    FeedForwardKind kind() const { return kind_; }
    long d() const { return d_; }
    long d_ff() const { return d_ff_; }

  private:
    long d_, d_ff_;
    FeedForwardKind kind_;
    Activation activation_;
    std::shared_ptr<Linear> w_in_, w_out_;
};

}  // namespace nn
