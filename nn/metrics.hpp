// Evaluation metrics on plain tensors (no graph):
//   rmse = sqrt(mean (pred - target)^2),  mae = mean |pred - target|   (over all elements)
//   accuracy = mean [argmax_k logits[n, k] == label[n]]
//   nll = -mean_n log softmax(logits[n, :])[label[n]]   (mean negative log-likelihood)
#pragma once
#include <vector>

#include "autodiff/tensor.hpp"

namespace nn {

double rmse(const ad::Tensor& pred, const ad::Tensor& target);
double mae(const ad::Tensor& pred, const ad::Tensor& target);
double accuracy(const ad::Tensor& logits, const std::vector<long>& labels);
double nll(const ad::Tensor& logits, const std::vector<long>& labels);
/// argmax over the last axis of [n, K].
std::vector<long> argmax_rows(const ad::Tensor& logits);

}  // namespace nn
