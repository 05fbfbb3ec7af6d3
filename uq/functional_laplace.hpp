// Functional (GP) view of the linearised Laplace (Immer et al. 2021, "Improving predictions of
// BNNs via local linearization", Sec. 3.2 and App.; Deng et al. 2022 for the subset of data;
// laplace-torch's FunctionalLaplace conventions, docs/uq.md). The GLM f(x) ~ J(x) theta with prior
// N(mu_0, tau^-1 I) is the GP with kernel tau^-1 J(x) J(x')^T; on a subset of M of the N training
// points the kernel is scaled by s = (M/N)/tau:  K~(x, x') = s J(x) J(x')^T.
//   f_var(x*) = K~** - K~*M (K~MM + diag(1/(h Lambda)))^-1 K~M*      (an infinite 1/(h Lambda) -> 10)
//   lml = log_likelihood - 1/2 (log_det_ratio + scatter), with
//     regression:     log_det_ratio = log det(s K + sigma^2 I),  scatter = mu^T (s K + sigma^2 I)^-1 mu,
//                     mu = y - f + J (theta_MAP - mu_0)
//     classification: log_det_ratio = log det(I + D^1/2 s K D^1/2), D = diag(h Lambda),
//                     scatter = mu^T (s K + 1e-5 I)^-1 mu,  mu = J (theta_MAP - mu_0)
//   log_likelihood as uq::Laplace, with the loss summed over the M subset points only (N stays in
//   the Gaussian normaliser); Lambda is the diagonal of the output Hessian (uq/likelihood).
// Kernel rows run over (point, output) pairs, index m C + c; with independent_outputs each output
// c has its own M x M kernel (the output-diagonal blocks) and the terms are summed over outputs.
// Notation: N training points, M subset points, C outputs, P parameters, n test points.
#pragma once
#include <cstdint>
#include <vector>

#include "nn/mlp.hpp"
#include "uq/laplace.hpp"
#include "uq/last_layer_laplace.hpp"

namespace uq {

struct FunctionalOptions {
    Likelihood likelihood = Likelihood::regression;
    double sigma_noise = 1.0;        ///< regression; 1 for classification
    double prior_precision = 1.0;    ///< scalar tau (the GP view has no per-tensor prior)
    ad::Tensor prior_mean;           ///< [1] or [P]; undefined = 0
    double temperature = 1.0;
    long n_subset = 0;               ///< M (0: all N points)
    std::vector<long> subset_indices;  ///< given: used in this order (kernel order); empty: drawn
    uint64_t seed = 0;               ///< for drawing the subset (ad::Rng permutation)
    bool independent_outputs = false;
};

/// The lml and its parts (tensors, differentiable in the hyperparameters they were built from).
struct FunctionalLmlTerms {
    ad::Tensor log_likelihood, log_det_ratio, scatter, lml;
};

/// The GP view for any model, given its Jacobians J [n, C, P] at theta_MAP.
class FunctionalLaplace {
  public:
    FunctionalLaplace(ad::Tensor theta_map, long n_outputs, FunctionalOptions options);
    virtual ~FunctionalLaplace() = default;

    /// The M subset indices for N training points: the given ones (checked: in range, distinct,
    /// M of them when n_subset > 0) or the first M of a seeded permutation of 0..N-1.
    std::vector<long> choose_subset(long N) const;
    /// Fits from the subset: J [M, C, P], MAP outputs f [M, C], targets of those points ([M, C] /
    /// [M] regression, labels [M]), the training-set size N and the indices (for the record).
    void fit_subset(const ad::Tensor& J, const ad::Tensor& f, const ad::Tensor& targets, long N,
                    std::vector<long> indices);

    // ---- hyperparameters
    void set_prior_precision(double tau);
    void set_prior_mean(const ad::Tensor& prior_mean);
    void set_sigma_noise(double sigma);
    void set_temperature(double temperature);
    double prior_precision() const { return tau_; }
    double sigma_noise() const { return sigma_; }
    double temperature() const { return temperature_; }
    Likelihood likelihood() const { return likelihood_; }
    bool independent_outputs() const { return independent_; }
    long n_params() const { return mean_.numel(); }
    long n_outputs() const { return n_outputs_; }
    long n_data() const { return N_; }
    long n_subset() const { return static_cast<long>(subset_.size()); }
    const std::vector<long>& subset_indices() const { return subset_; }
    const ad::Tensor& mean() const { return mean_; }
    bool fitted() const { return fitted_; }

    // ---- results at the current hyperparameters
    double loss() const;  ///< over the M subset points
    double log_likelihood() const;
    double log_det_ratio() const;
    double scatter() const;
    double log_marginal_likelihood() const;
    /// lml at tau ([] or [1]) and sigma ([] or [1]), differentiable in both.
    ad::Tensor log_marginal_likelihood(const ad::Tensor& prior_precision, const ad::Tensor& sigma_noise) const;
    FunctionalLmlTerms lml_terms(const ad::Tensor& prior_precision, const ad::Tensor& sigma_noise) const;
    /// Adam on log tau at fixed sigma (prior_structure must be scalar); sets and returns tau.
    double optimize_prior_precision_marglik(const MarglikOptions& options = {});

    /// f_var [n, C, C] at test Jacobians J [n, C, P] (diagonal in c, c' with independent_outputs).
    ad::Tensor functional_variance(const ad::Tensor& J) const;

  protected:
    void require_fit(const char* where) const;

  private:
    std::vector<std::vector<long>> output_blocks() const;  ///< one list of rows per GP
    /// Eigen-decompositions of each block's kernel K_b = Q diag(k) Q^T and (classification)
    /// D^1/2 K_b D^1/2 (its eigenvalues only); constant in tau and sigma, cached.
    struct BlockEigen {
        std::vector<long> rows;
        ad::Tensor k, Q, k_hat;
    };
    const std::vector<BlockEigen>& block_eigen() const;

    ad::Tensor mean_, prior_mean_;
    long n_outputs_;
    Likelihood likelihood_;
    double tau_ = 1.0, sigma_ = 1.0, temperature_ = 1.0;
    long n_subset_option_ = 0;
    std::vector<long> given_subset_;
    uint64_t seed_ = 0;
    bool independent_ = false;

    bool fitted_ = false;
    long N_ = 0;
    double loss_ = 0.0;
    std::vector<long> subset_;
    ad::Tensor J_;        ///< [M C, P]
    ad::Tensor K_;        ///< J J^T [M C, M C]
    ad::Tensor residual_; ///< y - f [M C] (regression), 0 (classification)
    ad::Tensor lambda_;   ///< diagonal of Lambda [M C]
    mutable std::vector<BlockEigen> eigen_;  ///< empty = to be computed
};

/// The GP view of the last-layer Laplace (laplace-torch's FunctionalLLLaplace): J(x) =
/// [I_C (x) phi(x)^T, I_C] from the last-layer features.
class FunctionalLLLaplace : public FunctionalLaplace {
  public:
    /// W [C, D], b [C] (undefined: no bias) of the last Linear, at the MAP.
    FunctionalLLLaplace(const ad::Tensor& W, const ad::Tensor& b, FunctionalOptions options);
    static FunctionalLLLaplace from_mlp(const nn::MLP& mlp, FunctionalOptions options);

    /// Features phi [N, D], MAP outputs f [N, C], targets; the subset is chosen here.
    void fit(const ad::Tensor& phi, const ad::Tensor& f, const ad::Tensor& targets);
    void fit(const ad::Tensor& phi, const ad::Tensor& targets);  ///< f = phi W^T + b

    ad::Tensor jacobian(const ad::Tensor& phi) const { return ll_.jacobian(phi); }
    ad::Tensor f_mu(const ad::Tensor& phi) const { return ll_.f_mu(phi); }
    /// (f_mu [n, C], f_var [n, C, C] or its diagonal [n, C]); joint is not available in the GP view.
    GlmPredictive glm_predictive(const ad::Tensor& phi, OutputCovariance cov = OutputCovariance::full) const;
    ad::Tensor predict_probs(const ad::Tensor& phi, LinkApprox link, long n_samples = 20000, uint64_t seed = 0) const;

  private:
    LastLayerLaplace ll_;  ///< the last-layer Jacobian and f_mu (never fitted)
};

}  // namespace uq
