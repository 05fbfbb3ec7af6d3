// All-weights Laplace of an MLP (Daxberger et al. 2021, "Laplace Redux", Sec. 3; Immer et al.
// 2021): theta = [W_0.flatten(), b_0, W_1.flatten(), b_1, ...] holds every parameter. The GGN
// H = sum_n J_n^T Lambda_n J_n uses the per-sample Jacobians J_n = d f(x_n) / d theta [C, P] of
// uq/mlp_jacobian (one batched backward pass, not one per sample); Lambda_n as for the last layer
// (uq/likelihood). Structures:
//   full  H [P, P];   diag  diag(H) [P];
//   kron  KFLR per Linear layer l (Botev et al. 2017; Martens & Grosse 2015), no cross terms:
//         weight block B_l (x) A_l with B_l = sum_n G_n^T Lambda_n G_n [out_l, out_l],
//         G_n = d f_n / d z_l, A_l = (1/N) sum_n a_n a_n^T [in_l, in_l]; bias block B_l.
// Priors: scalar, one per parameter tensor ("layerwise", 2 per Linear with bias) or per parameter.
// Posterior, lml (differentiable in tau and sigma) and predictive come from uq::Laplace.
// Notation: n points, C outputs, P parameters, N data points of one fit.
#pragma once
#include <cstdint>
#include <vector>

#include "nn/mlp.hpp"
#include "uq/last_layer_laplace.hpp"
#include "uq/laplace.hpp"
#include "uq/mlp_jacobian.hpp"

namespace uq {

class MlpLaplace : public Laplace {
  public:
    /// theta_MAP = the MLP's current parameters (copied); layout "layers.<l>.weight" [out, in],
    /// "layers.<l>.bias" [out], in model order. options.feature_reduction must be none.
    MlpLaplace(const nn::MLP& mlp, LaplaceOptions options);
    /// From explicit parameters (theta_MAP = mlp_theta(params)).
    MlpLaplace(const MlpParams& params, LaplaceOptions options);

    /// GGN of inputs x [n, n_in] and targets ([n, C] or [n] when C = 1 for regression, labels [n]
    /// for classification), in mini-batches of options.batch_size (the result does not depend on it).
    void fit(const ad::Tensor& x, const ad::Tensor& targets, const FitOptions& options = {});

    /// f(x; theta_MAP) [n, C].
    ad::Tensor f_mu(const ad::Tensor& x) const;
    /// J [n, C, P] at theta_MAP.
    ad::Tensor jacobian(const ad::Tensor& x) const;
    /// Linearised predictive (epistemic only; for y add sigma^2 I).
    GlmPredictive glm_predictive(const ad::Tensor& x, OutputCovariance cov = OutputCovariance::full) const;
    /// Class probabilities [n, C] (classification) by a link approximation.
    ad::Tensor predict_probs(const ad::Tensor& x, LinkApprox link, long n_samples = 20000, uint64_t seed = 0) const;
    /// The nn predictive: the network run with each of sample(n_samples, seed), f_s = f(x; theta_s)
    /// (not linearised); n_samples >= 2 for regression.
    NnPredictive nn_predictive(const ad::Tensor& x, long n_samples, uint64_t seed) const;

    /// Scalar prior precision minimising the validation NLL of the glm predictive at inputs x_val
    /// (see gridsearch_prior_precision); sets and returns it.
    GridsearchResult optimize_prior_precision_gridsearch(const ad::Tensor& x_val, const ad::Tensor& targets_val,
                                                         const GridsearchOptions& options = {});
    /// The parameters at theta_MAP.
    const MlpParams& params() const { return params_; }

    /// The posterior as checkpoint tensors and metadata: uq::Laplace's, plus kind = "mlp",
    /// layer_sizes ("1,16,1": n_in, hidden widths, C), activation and bias ("true" | "false"),
    /// which rebuild the network; from_checkpoint() is its exact inverse.
    nn::Checkpoint to_checkpoint() const;
    static MlpLaplace from_checkpoint(const nn::Checkpoint& ckpt);

    /// Raw curvature and loss of one mini-batch (x [m, n_in], checked targets); N scales Kron's A.
    Curvature batch_curvature(const ad::Tensor& x, const ad::Tensor& targets, long N, double& loss) const;

  private:
    MlpParams params_;
};

/// Glm predictive from f_mu [n, C] and J [n, C, P] of any Laplace (shared by the all-weights
/// classes): full [n, C, C], diagonal [n, C], joint (f_mu [n C], f_var [n C, n C]).
GlmPredictive glm_from_jacobian(const Laplace& la, const ad::Tensor& f_mu, const ad::Tensor& J, OutputCovariance cov);

}  // namespace uq
