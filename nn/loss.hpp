// Losses, all reduced by the mean over elements (or rows for cross_entropy), built from ops so
// they are differentiable (twice where the ops are). With d = pred - target:
//   mse   = mean d^2            mae = mean |d|   (subgradient 0 at d = 0)
//   huber = mean h(d),  h = 0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta)
//   cross_entropy = -mean_n log softmax(logits[n, :])[label[n]]
//   gaussian_nll  = mean 0.5 (log v + (t - m)^2 / v) [+ 0.5 log 2 pi],  v = max(var, eps)
// Semantics follow the torch.nn.functional losses of the same names (reduction='mean').
#pragma once
#include <vector>

#include "autodiff/tensor.hpp"

namespace nn {

/// pred, target: same shape -> [].
ad::Tensor mse_loss(const ad::Tensor& pred, const ad::Tensor& target);
/// pred, target: same shape -> [].
ad::Tensor mae_loss(const ad::Tensor& pred, const ad::Tensor& target);
/// pred, target: same shape -> []; delta > 0.
ad::Tensor huber_loss(const ad::Tensor& pred, const ad::Tensor& target, double delta = 1.0);
/// logits [n, K], labels n values in [0, K) -> [].
ad::Tensor cross_entropy(const ad::Tensor& logits, const std::vector<long>& labels);
/// mean, target: same shape; var: that shape or broadcastable to it (e.g. [n, 1] or []), >= 0.
/// The clamp to eps passes gradients through unchanged, as torch's (done under no_grad).
ad::Tensor gaussian_nll_loss(const ad::Tensor& mean, const ad::Tensor& target, const ad::Tensor& var,
                             bool full = false, double eps = 1e-6);

}  // namespace nn
