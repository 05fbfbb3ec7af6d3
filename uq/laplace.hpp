// Laplace approximation of a posterior over a parameter vector theta [P] (Daxberger et al. 2021,
// "Laplace Redux", Sec. 2-3; MacKay 1992 for the evidence): p(theta | D) ~ N(theta_MAP, P_post^-1)
// with P_post = h H + P_0, H the GGN sum_n J_n^T Lambda_n J_n (Immer et al. 2021, Eq. 5), h =
// 1/(sigma^2 T), and the log marginal likelihood (evidence)
//   lml = log p(D | theta_MAP) - 1/2 (log det P_post - log det P_0 + (theta - mu_0)^T P_0 (theta - mu_0)).
// This class is the model-agnostic part: curvature storage (Full / Kron / Diag), priors,
// posterior matrices, the differentiable lml and its optimisation. How the curvature is obtained
// (last layer: uq/last_layer_laplace; all weights: per-sample Jacobians or KFAC) lives in callers,
// which feed it through add_curvature(). Conventions follow laplace-torch (docs/uq.md).
//
// Notation: P parameters, C outputs, N data points, n_tensors parameter tensors of the layout
// (last layer: weight [C, D] then bias [C]); theta = concat of the tensors flattened row-major.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "autodiff/tensor.hpp"
#include "nn/checkpoint.hpp"

namespace uq {

enum class Likelihood { regression, classification };
enum class HessianStructure { full, kron, diag };
/// Shape of the prior precision: one value, one per parameter tensor, one per parameter.
enum class PriorStructure { scalar, layerwise, diagonal };
enum class Normalized { no, yes };
/// How the Kron lml is differentiated w.r.t. sigma: `true_gradient` (default) differentiates
/// every term; `laplace_torch` treats h = 1/(sigma^2 T) inside log det P_post as a constant, as
/// laplace-torch does (it scales the Kron factors by a Python float, docs/uq.md), so that its
/// Kron marglik_training runs can be reproduced. The lml value is the same in both modes.
enum class KronSigmaGradient { true_gradient, laplace_torch };

/// Last-layer Laplace only (laplace-torch's feature_reduction): how features with an extra
/// dimension phi [n, T, D] (per token, per atom) become phi [n, D] before the last layer:
/// pick_first phi[:, 0, :], pick_last phi[:, T - 1, :], average (1/T) sum_t phi[:, t, :].
/// `none` accepts [n, D] only; the others also pass [n, D] through unchanged.
enum class FeatureReduction { none, pick_first, pick_last, average };

std::string to_string(Likelihood l);
std::string to_string(HessianStructure s);
Likelihood parse_likelihood(const std::string& name);           ///< "regression" | "classification"
HessianStructure parse_hessian_structure(const std::string& name);  ///< "full" | "kron" | "diag"
std::string to_string(FeatureReduction r);
/// "none" | "pick_first" | "pick_last" | "average"
FeatureReduction parse_feature_reduction(const std::string& name);

/// One parameter tensor of theta, in order: [out, in] (a weight: Kron factors B [out, out] and
/// A [in, in]) or [out] (a bias: Kron factor B [out, out]).
struct ParamBlock {
    std::string name;
    ad::Shape shape;
};

/// Hyperparameters and model kind. Prior precision [1] (scalar), [n_tensors] (layerwise) or [P]
/// (diagonal; not with Kron); prior mean [1] or [P].
struct LaplaceOptions {
    Likelihood likelihood = Likelihood::regression;
    HessianStructure structure = HessianStructure::full;
    double sigma_noise = 1.0;   ///< observation noise std (regression); must be 1 for classification
    ad::Tensor prior_precision;  ///< undefined = [1.0]
    ad::Tensor prior_mean;       ///< undefined = [0.0]
    double temperature = 1.0;   ///< T in h = 1/(sigma^2 T)
    FeatureReduction feature_reduction = FeatureReduction::none;  ///< last layer only (see the enum)
};

/// Raw curvature (no sigma, no T) of a batch or of the data so far, in the form of `structure`:
/// full [P, P]; diag [P]; kron: per ParamBlock its factors {B, A} (weight) or {B} (bias).
struct Curvature {
    ad::Tensor full;
    ad::Tensor diag;
    std::vector<std::vector<ad::Tensor>> kron;
};

/// The lml and its parts as tensors (differentiable in the hyperparameters they were built from).
struct LmlTerms {
    ad::Tensor log_likelihood, log_det_prior_precision, log_det_posterior_precision, scatter, lml;
};

struct MarglikOptions {
    PriorStructure prior_structure = PriorStructure::scalar;
    long n_steps = 100;     ///< Adam steps on log tau
    double lr = 0.1;
    double init_prior_prec = 1.0;
};

class Laplace {
  public:
    /// `mean` [P] = theta_MAP; layout sizes must add up to P; n_outputs = C.
    Laplace(std::vector<ParamBlock> layout, ad::Tensor mean, long n_outputs, LaplaceOptions options);
    virtual ~Laplace() = default;

    // ---- hyperparameters (validated: finite, prior precision >= 0, sigma and T > 0)
    void set_prior_precision(const ad::Tensor& prior_precision);
    void set_prior_mean(const ad::Tensor& prior_mean);
    void set_sigma_noise(double sigma_noise);
    void set_temperature(double temperature);
    const ad::Tensor& prior_precision() const { return prior_precision_; }
    const ad::Tensor& prior_mean() const { return prior_mean_; }
    double sigma_noise() const { return sigma_noise_; }
    double temperature() const { return temperature_; }
    Likelihood likelihood() const { return likelihood_; }
    HessianStructure structure() const { return structure_; }
    const std::vector<ParamBlock>& layout() const { return layout_; }
    const ad::Tensor& mean() const { return mean_; }  ///< theta_MAP [P]
    long n_params() const { return n_params_; }
    long n_outputs() const { return n_outputs_; }
    long n_data() const { return n_data_; }
    bool fitted() const { return fitted_; }

    // ---- curvature (for the fitting code of a concrete Laplace)
    /// Drops curvature, loss and n_data.
    void reset_fit();
    /// H += batch (Kron: each factor summed, as laplace-torch), loss += batch_loss,
    /// n_data += batch_n; the shapes must match `structure`.
    void add_curvature(const Curvature& batch, double batch_loss, long batch_n);

    // ---- results at the current hyperparameters (all throw before fit)
    double loss() const;  ///< sum_n 1/2 |f_n - y_n|^2 (regression) or sum_n -log softmax(f_n)[y_n]
    /// Raw GGN: full [P, P], diag [P]; for Kron the dense block matrix (kron(B, A), bias B).
    ad::Tensor H() const;
    const Curvature& curvature() const;
    double log_likelihood() const;
    double log_det_prior_precision() const;
    double log_det_posterior_precision() const;
    double log_det_ratio() const;
    double scatter() const;
    double log_marginal_likelihood() const;
    /// Full / Kron: dense [P, P]; Diag: the diagonal [P].
    ad::Tensor posterior_precision() const;
    ad::Tensor posterior_covariance() const;  ///< cached; do not modify the returned tensor
    /// n_samples draws theta_s ~ N(theta_MAP, P_post^-1) [n_samples, P] from ad::Rng(seed),
    /// eps_s ~ N(0, I_P) taken row by row: Full theta + L^-T eps (L L^T = P_post); Kron per block
    /// Q diag(lambda^-1/2) eps (Q lambda Q^T the block of P_post); Diag theta + eps / sqrt(P_post).
    /// Same seed, same bits.
    ad::Tensor sample(long n_samples, uint64_t seed) const;
    /// log N(value; theta_MAP, P_post^-1); Normalized::no drops -P/2 log 2pi + 1/2 log det P_post.
    double log_prob(const ad::Tensor& value, Normalized normalized = Normalized::yes) const;

    /// lml at (prior_precision [1]/[n_tensors]/[P], sigma_noise [] or [1]) as a scalar tensor,
    /// differentiable in both (the true gradient, also for Kron: see docs/uq.md).
    ad::Tensor log_marginal_likelihood(const ad::Tensor& prior_precision, const ad::Tensor& sigma_noise) const;
    /// All terms of the lml at those hyperparameters (differentiable).
    LmlTerms lml_terms(const ad::Tensor& prior_precision, const ad::Tensor& sigma_noise) const;

    /// Kron only (ignored otherwise): which sigma-gradient log_marginal_likelihood(tau, sigma) has.
    void set_kron_sigma_gradient(KronSigmaGradient mode) { kron_sigma_gradient_ = mode; }
    KronSigmaGradient kron_sigma_gradient() const { return kron_sigma_gradient_; }

    /// Adam on log tau maximising the lml at fixed sigma (laplace-torch's method='marglik');
    /// sets and returns the prior precision.
    ad::Tensor optimize_prior_precision_marglik(const MarglikOptions& options = {});

    /// f_var[n, c, c'] = sum_pq J[n, c, p] Sigma[p, q] J[n, c', q] for J [n, C, P].
    ad::Tensor functional_variance(const ad::Tensor& J) const;
    /// J [m, P] -> J Sigma J^T [m, m] (the joint covariance of m outputs).
    ad::Tensor functional_covariance(const ad::Tensor& J) const;

    // ---- persistence: the tensors and metadata that reproduce this posterior exactly
    nn::Checkpoint to_checkpoint() const;

  protected:
    /// Restores what to_checkpoint() wrote (for subclasses' loaders).
    void restore(const nn::Checkpoint& ckpt);
    void require_fit(const char* where) const;
    /// The prior precision expanded to one value per parameter [P] (differentiable in tau).
    ad::Tensor expand_prior_precision(const ad::Tensor& tau, const char* where) const;

  private:
    struct KronEigen {
        std::vector<ad::Tensor> values;   ///< clamped eigenvalues of each factor
        std::vector<ad::Tensor> vectors;  ///< eigenvectors (columns)
    };
    void check_prior_precision(const ad::Tensor& tau, const char* where) const;
    ad::Tensor h_of(const ad::Tensor& sigma) const;  ///< 1 / (sigma^2 T)
    const std::vector<KronEigen>& kron_eigen() const;
    const ad::Tensor& full_eigenvalues() const;  ///< of H (Full), cached after fit
    ad::Tensor posterior_covariance_uncached() const;
    /// Posterior eigenvalues per Kron block ([out * in] or [out]), differentiable in tau, sigma.
    std::vector<ad::Tensor> kron_posterior_eigenvalues(const ad::Tensor& tau, const ad::Tensor& sigma) const;
    /// Eigenvectors of a Kron block: kron(Q_B, Q_A) or Q_B.
    ad::Tensor kron_block_vectors(size_t block) const;
    ad::Tensor tau_tensor() const;
    ad::Tensor sigma_tensor() const;
    /// Dense posterior precision / covariance at the current hyperparameters (Full, Kron).
    ad::Tensor dense_posterior(bool inverse) const;

    std::vector<ParamBlock> layout_;
    std::vector<long> offsets_;  ///< start of each block in theta
    ad::Tensor mean_;
    long n_params_, n_outputs_;
    Likelihood likelihood_;
    HessianStructure structure_;
    ad::Tensor prior_precision_, prior_mean_;
    double sigma_noise_, temperature_;

    Curvature H_;
    double loss_ = 0.0;
    long n_data_ = 0;
    bool fitted_ = false;
    mutable std::vector<KronEigen> kron_eigen_;  ///< cached after fit
    mutable bool kron_eigen_valid_ = false;
    mutable ad::Tensor full_eigen_;
    mutable ad::Tensor cov_cache_;  ///< posterior_covariance() (read-only to callers)
    mutable bool cov_valid_ = false;
    mutable bool full_eigen_valid_ = false;
    KronSigmaGradient kron_sigma_gradient_ = KronSigmaGradient::true_gradient;
};

}  // namespace uq
