// Predictive distributions from a Gaussian over the network outputs, f ~ N(f_mu, f_var), as the
// linearised (GLM) Laplace gives them (Immer et al. 2021, Sec. 3; Daxberger et al. 2021, Sec. 3.4):
//   regression:     y ~ N(f_mu, f_var + sigma^2 I)   (f_var alone is the epistemic part)
//   classification: p(y | x) = E_f[softmax(f)], approximated by
//     probit       p = softmax(kappa o f_mu), kappa_c = (1 + pi/8 f_var[c, c])^{-1/2}   (MacKay 1992)
//     bridge       Laplace bridge (Hobbhahn et al. 2022): Dirichlet alpha from (f_mu, f_var)
//     bridge_norm  the bridge after rescaling f to unit mean variance
//     mc           mean of softmax(f_mu + L eps_s), L L^T = f_var, eps_s ~ N(0, I)
// Shapes: n points, C outputs; f_mu [n, C], f_var [n, C, C].
#pragma once
#include <cstdint>
#include <vector>

#include "autodiff/tensor.hpp"

namespace uq {

enum class LinkApprox { probit, bridge, bridge_norm, mc };
/// laplace-torch's pred_type: glm = the linearised predictive above (a link for classification);
/// nn = run the network with weights sampled from the posterior (uq::NnPredictive).
enum class PredType { glm, nn };

/// The per-output variances of f_var [n, C, C]: [n, C].
ad::Tensor output_diagonal(const ad::Tensor& f_var);

/// p [n, C] from f_mu [n, C] and f_var [n, C, C] by probit, bridge or bridge_norm.
ad::Tensor link_probs(LinkApprox link, const ad::Tensor& f_mu, const ad::Tensor& f_var);
/// Monte Carlo: n_samples independent draws per point from a generator seeded with `seed`.
/// (laplace-torch shares one eps matrix across points; draws per point are independent here.)
ad::Tensor mc_probs(const ad::Tensor& f_mu, const ad::Tensor& f_var, long n_samples, uint64_t seed);

/// Mean negative log-likelihood of class labels y [n] under probabilities p [n, C].
double nll_classification(const ad::Tensor& probs, const std::vector<long>& labels);
/// Mean Gaussian NLL of y [n, C] under N(f_mu, diag(f_var) + sigma^2) per output.
double nll_regression(const ad::Tensor& f_mu, const ad::Tensor& f_var, const ad::Tensor& y, double sigma_noise);

}  // namespace uq
