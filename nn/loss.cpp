// Losses (math in loss.hpp).
#include "nn/loss.hpp"

#include <cmath>

#include "autodiff/graph.hpp"
#include "autodiff/ops.hpp"

namespace nn {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope

namespace {
void check_same_shape(const char* where, const ad::Tensor& pred, const ad::Tensor& target) {
    AD_CHECK(pred.shape() == target.shape(),
             where << ": expected target of the prediction's shape " << pred.shape() << ", got " << target.shape());
    AD_CHECK(pred.numel() > 0, where << ": expected a non-empty prediction, got shape " << pred.shape());
}
}  // namespace

ad::Tensor mse_loss(const ad::Tensor& pred, const ad::Tensor& target) {
    check_same_shape("mse_loss", pred, target);
    return ad::mean(ad::square(pred - target));
}

ad::Tensor mae_loss(const ad::Tensor& pred, const ad::Tensor& target) {
    check_same_shape("mae_loss", pred, target);
    return ad::mean(ad::abs(pred - target));
}

// Quadratic inside |d| < delta, linear outside; the two pieces meet with equal value and slope at
// |d| = delta, so where() picking one branch per element gives the right gradient everywhere.
ad::Tensor huber_loss(const ad::Tensor& pred, const ad::Tensor& target, double delta) {
    check_same_shape("huber_loss", pred, target);
    AD_CHECK(delta > 0, "huber_loss: expected delta > 0, got " << delta);
    ad::Tensor d = pred - target;
    ad::Tensor abs_d = ad::abs(d);
    ad::Tensor inside = ad::greater(ad::Tensor::scalar(delta), abs_d.detach());  // constant mask
    return ad::mean(ad::where(inside, 0.5 * ad::square(d), delta * (abs_d - 0.5 * delta)));
}

// log_softmax subtracts the row maximum (log-sum-exp), so large logits do not overflow.
ad::Tensor cross_entropy(const ad::Tensor& logits, const std::vector<long>& labels) {
    AD_CHECK(logits.ndim() == 2, "cross_entropy: expected logits [n, K], got " << logits.shape());
    const long n = logits.dim(0), K = logits.dim(1);
    AD_CHECK(n > 0, "cross_entropy: expected at least one row, got logits " << logits.shape());
    AD_CHECK(static_cast<long>(labels.size()) == n,
             "cross_entropy: expected " << n << " labels (one per row of logits " << logits.shape() << "), got "
                                        << labels.size());
    for (long i = 0; i < n; ++i)
        AD_CHECK(labels[i] >= 0 && labels[i] < K,
                 "cross_entropy: expected labels in [0, " << K << "), got " << labels[i] << " at position " << i);
    ad::Tensor picked = ad::gather(ad::log_softmax(logits, 1), 1, ad::Index{{n, 1}, labels});  // [n, 1]
    return -ad::mean(picked);
}

ad::Tensor gaussian_nll_loss(const ad::Tensor& mean, const ad::Tensor& target, const ad::Tensor& var, bool full,
                             double eps) {
    check_same_shape("gaussian_nll_loss", mean, target);
    AD_CHECK(eps > 0, "gaussian_nll_loss: expected eps > 0, got " << eps);
    AD_CHECK(ad::broadcast_shapes(mean.shape(), var.shape(), "gaussian_nll_loss") == mean.shape(),
             "gaussian_nll_loss: expected var broadcastable to " << mean.shape() << ", got " << var.shape());
    // v = var + (max(var, eps) - var): the offset is a constant (0 where var >= eps), so v has the
    // clamped value while its gradient flows to var unchanged, as torch's in-place no_grad clamp.
    ad::Tensor offset = ad::Tensor::empty(var.shape());
    for (long k = 0; k < var.numel(); ++k) {
        double v = var[k];
        AD_CHECK(!(v < 0), "gaussian_nll_loss: expected var >= 0, got " << v << " at flat index " << k);
        offset.data()[k] = v < eps ? eps - v : 0.0;
    }
    ad::Tensor v = var + offset;
    ad::Tensor loss = 0.5 * ad::mean(ad::log(v) + ad::square(target - mean) / v);
    if (full) loss = loss + 0.5 * std::log(2.0 * M_PI);
    return loss;
}

}  // namespace nn
