// Per-point likelihood terms shared by the Laplace variants: the loss at the MAP and the Hessian
// of the negative log-likelihood with respect to the outputs (Immer et al. 2021, Eq. 5):
//   regression      loss = sum_n 1/2 |f_n - y_n|^2,          Lambda_n = I_C  (1/sigma^2 lives in h)
//   classification  loss = sum_n -log softmax(f_n)[y_n],     Lambda_n = diag(p_n) - p_n p_n^T, p_n = softmax(f_n)
// Notation: n points, C outputs; f [n, C]; targets [n, C] (regression) or labels [n] (classification).
#pragma once
#include "autodiff/tensor.hpp"
#include "uq/laplace.hpp"

namespace uq {

struct OutputHessian {
    ad::Tensor Lambda;  ///< [n, C, C]
    double loss = 0.0;  ///< summed over the n points
};

/// Lambda and the loss of outputs f [n, C] and checked targets (see check_targets).
OutputHessian output_hessian(Likelihood likelihood, const ad::Tensor& f, const ad::Tensor& targets);

/// Validates targets for n points and C outputs and returns them detached: regression [n, C]
/// (an [n] vector is accepted when C = 1), classification integer labels in [0, C) stored as
/// doubles [n]. `where` prefixes the error message.
ad::Tensor check_targets(Likelihood likelihood, const ad::Tensor& targets, long n, long C, const char* where);

}  // namespace uq
