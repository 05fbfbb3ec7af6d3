// Last-layer Laplace (Daxberger et al. 2021, "Laplace Redux", Sec. 3.1; Kristiadi et al. 2020):
// only theta = [W.flatten() row-major, b] of the last Linear f = W phi + b is Bayesian; phi [n, D]
// are the fixed last-layer features. The Jacobian is J(x) = [I_C (x) phi(x)^T, I_C] (C x P,
// P = C D + C), so the GGN is H = sum_n J_n^T Lambda_n J_n with Lambda_n = I_C (regression) or
// diag(p_n) - p_n p_n^T, p_n = softmax(f_n) (classification), and the linearised (GLM) predictive
// is f ~ N(f_MAP(x), J(x) Sigma J(x)^T). Kron: weight block B (x) A, B = sum_n Lambda_n,
// A = (1/N) sum_n phi_n phi_n^T, bias block B (Martens & Grosse 2015; Ritter et al. 2018).
// The nn predictive samples theta_s ~ N(theta_MAP, Sigma) and runs f_s = W_s phi + b_s (for a last
// layer the exact distribution of the linear model; laplace-torch's pred_type='nn').
// Features with an extra dimension phi [n, T, D] are reduced to [n, D] by LaplaceOptions::
// feature_reduction, the same way in fit and in every predictive.
// Notation: n points, T tokens/atoms per point, D features, C outputs, P parameters, N data points
// of one fit, S samples.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nn/mlp.hpp"
#include "uq/laplace.hpp"
#include "uq/predictive.hpp"

namespace uq {

struct FitOptions {
    long batch_size = 0;   ///< mini-batch size (0: one batch); the result does not depend on it
    bool reset = true;     ///< true: replace the posterior (laplace-torch override=True); false: add (online)
};

/// f ~ N(f_mu, f_var): marginal f_mu [n, C], f_var [n, C, C] (or its diagonal [n, C]);
/// joint f_mu [n C], f_var [n C, n C] with index i C + c.
struct GlmPredictive {
    ad::Tensor f_mu, f_var;
};

enum class OutputCovariance { full, diagonal, joint };

/// Sampled-weights predictive (laplace-torch's pred_type='nn') over S samples f_s [n, C]:
/// regression: mean = (1/S) sum_s f_s [n, C], variance = 1/(S - 1) sum_s (f_s - mean)^2 [n, C]
/// (epistemic only, as torch's unbiased var); classification: mean = (1/S) sum_s softmax(f_s)
/// [n, C], variance undefined.
struct NnPredictive {
    ad::Tensor mean, variance;
};

/// Accumulates NnPredictive over chunks of sampled outputs. The regression sums are taken of
/// f_s - f_ref (f_ref = f_MAP, close to the mean), so sum d^2 - (sum d)^2 / S does not cancel.
class NnMoments {
  public:
    NnMoments(Likelihood likelihood, const ad::Tensor& f_ref);  ///< f_ref [n, C]
    void add(const ad::Tensor& fs);                              ///< fs [k, n, C]: k more samples
    NnPredictive result() const;                                 ///< needs S >= 2 for regression

  private:
    Likelihood likelihood_;
    ad::Tensor f_ref_, sum_, sum_sq_;
    long n_samples_ = 0;
};

struct GridsearchOptions {
    std::vector<double> grid;                 ///< prior precisions; empty = 10^linspace(-4, 4, 100)
    LinkApprox link = LinkApprox::probit;     ///< classification predictive (probit, bridge, bridge_norm)
};

struct GridsearchResult {
    double prior_precision;       ///< the grid value with the lowest validation NLL (first one on ties)
    std::vector<double> grid, nll;
};

/// Grid search of a scalar prior precision for any Laplace: each grid value is scored by the
/// validation NLL of the glm predictive `predict()` evaluated at it (Gaussian with sigma^2 for
/// regression, link probabilities for classification; each point on its own, unlike
/// laplace-torch's running mean). Sets and returns the best value (the first one on ties).
GridsearchResult gridsearch_prior_precision(Laplace& la, const std::function<GlmPredictive()>& predict,
                                            const ad::Tensor& y_val, const GridsearchOptions& options);

class LastLayerLaplace : public Laplace {
  public:
    /// W [C, D], b [C] (undefined: no bias) of the last Linear, at the MAP.
    LastLayerLaplace(const ad::Tensor& W, const ad::Tensor& b, LaplaceOptions options);
    /// From an MLP's last layer.
    static LastLayerLaplace from_mlp(const nn::MLP& mlp, LaplaceOptions options);

    long n_features() const { return n_features_; }
    FeatureReduction feature_reduction() const { return feature_reduction_; }
    bool has_bias() const { return has_bias_; }

    /// Fits the curvature from features phi [n, D] (or [n, T, D] with a feature_reduction), MAP
    /// outputs f [n, C] and targets: [n, C] (or [n] when C = 1) for regression, class labels [n]
    /// (integers stored as doubles) otherwise. Every method taking phi accepts the same shapes.
    void fit(const ad::Tensor& phi, const ad::Tensor& f, const ad::Tensor& targets, const FitOptions& options = {});
    /// As above with f = phi W^T + b.
    void fit(const ad::Tensor& phi, const ad::Tensor& targets, const FitOptions& options = {});
    /// As above with phi = mlp.features(x) (the MLP whose last layer this is).
    void fit(const nn::MLP& mlp, const ad::Tensor& x, const ad::Tensor& targets, const FitOptions& options = {});

    /// J [n, C, P] of f with respect to theta at features phi [n, D].
    ad::Tensor jacobian(const ad::Tensor& phi) const;
    /// f_MAP = phi W^T + b [n, C].
    ad::Tensor f_mu(const ad::Tensor& phi) const;
    /// Linearised predictive of f (epistemic only; for y add sigma^2 I).
    GlmPredictive glm_predictive(const ad::Tensor& phi, OutputCovariance cov = OutputCovariance::full) const;
    /// The nn predictive at phi ([n, D], or [n, T, D] with a feature_reduction) from
    /// sample(n_samples, seed): f_s = phi W_s^T + b_s; n_samples >= 2 for regression.
    NnPredictive nn_predictive(const ad::Tensor& phi, long n_samples, uint64_t seed) const;
    /// Class probabilities [n, C] (classification) by a link approximation; mc uses n_samples and seed.
    ad::Tensor predict_probs(const ad::Tensor& phi, LinkApprox link, long n_samples = 20000, uint64_t seed = 0) const;

    /// Scalar prior precision minimising the validation NLL of the predictive (Gaussian with
    /// sigma^2 for regression, link probabilities for classification); sets and returns it.
    GridsearchResult optimize_prior_precision_gridsearch(const ad::Tensor& phi_val, const ad::Tensor& targets_val,
                                                         const GridsearchOptions& options = {});

    void save(const std::string& path) const;
    static LastLayerLaplace load(const std::string& path);
    /// The posterior as checkpoint tensors and metadata (kind = last_layer, feature_reduction),
    /// and back (a checkpoint without feature_reduction loads as none).
    nn::Checkpoint to_checkpoint() const;
    static LastLayerLaplace from_checkpoint(const nn::Checkpoint& ckpt);

  private:
    /// Raw curvature and loss of one mini-batch; N scales the Kron factor A.
    Curvature batch_curvature(const ad::Tensor& phi, const ad::Tensor& f, const ad::Tensor& targets, long N,
                              double& loss) const;
    /// phi detached, [n, T, D] reduced to [n, D] by feature_reduction_; shape errors name `where`.
    ad::Tensor check_features(const ad::Tensor& phi, const char* where) const;
    /// J Sigma J^T [n, C, C] from the last layer's structure, without forming J.
    ad::Tensor structured_variance(const ad::Tensor& phi) const;

    long n_features_;
    bool has_bias_;
    FeatureReduction feature_reduction_;
};

}  // namespace uq
