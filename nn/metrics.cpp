#include "nn/metrics.hpp"

#include <cmath>

#include "autodiff/ops.hpp"

namespace nn {

namespace {
void check_pair(const ad::Tensor& pred, const ad::Tensor& target, const char* what) {
    AD_CHECK(pred.shape() == target.shape(), what << ": expected predictions and targets of one shape, got "
                                                  << pred.shape() << " and " << target.shape());
    AD_CHECK(pred.numel() > 0, what << ": expected at least one value, got none");
}
void check_labels(const ad::Tensor& logits, const std::vector<long>& labels, const char* what) {
    AD_CHECK(logits.ndim() == 2 && logits.dim(0) == static_cast<long>(labels.size()),
             what << ": expected logits [" << labels.size() << ", K], got " << logits.shape());
    AD_CHECK(!labels.empty(), what << ": expected at least one sample, got none");
}
}  // namespace

double rmse(const ad::Tensor& pred, const ad::Tensor& target) {
    check_pair(pred, target, "rmse");
    double s = 0;
    for (long i = 0; i < pred.numel(); ++i) s += (pred[i] - target[i]) * (pred[i] - target[i]);
    return std::sqrt(s / static_cast<double>(pred.numel()));
}

double mae(const ad::Tensor& pred, const ad::Tensor& target) {
    check_pair(pred, target, "mae");
    double s = 0;
    for (long i = 0; i < pred.numel(); ++i) s += std::fabs(pred[i] - target[i]);
    return s / static_cast<double>(pred.numel());
}

std::vector<long> argmax_rows(const ad::Tensor& logits) {
    const long n = logits.dim(0), k = logits.dim(1);
    std::vector<long> out(static_cast<size_t>(n));
    for (long r = 0; r < n; ++r) {
        long best = 0;
        for (long j = 1; j < k; ++j)
            if (logits[r * k + j] > logits[r * k + best]) best = j;
        out[r] = best;
    }
    return out;
}

double accuracy(const ad::Tensor& logits, const std::vector<long>& labels) {
    check_labels(logits, labels, "accuracy");
    std::vector<long> pred = argmax_rows(logits);
    long hits = 0;
    for (size_t r = 0; r < labels.size(); ++r) hits += pred[r] == labels[r];
    return static_cast<double>(hits) / static_cast<double>(labels.size());
}

double nll(const ad::Tensor& logits, const std::vector<long>& labels) {
    check_labels(logits, labels, "nll");
    ad::NoGrad ng;
    ad::Tensor lp = ad::log_softmax(logits, 1);
    const long k = logits.dim(1);
    double s = 0;
    for (size_t r = 0; r < labels.size(); ++r) {
        AD_CHECK(labels[r] >= 0 && labels[r] < k, "nll: expected labels in [0, " << k << "), got " << labels[r]);
        s -= lp[static_cast<long>(r) * k + labels[r]];
    }
    return s / static_cast<double>(labels.size());
}

}  // namespace nn
