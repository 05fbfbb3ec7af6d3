// LLPR: last-layer prediction rigidity (Bigi et al., MLST 2024, "A prediction rigidity formalism for
// low-cost uncertainties in trained neural networks", eq. 24; per-atom "local" rigidities: Chong et
// al., JCTC 2023). For a model whose prediction is linear in its last layer, y = f w^T,
//     sigma^2(f) = alpha^2 f (C + r I)^{-1} f^T,     C = sum_s g_s^T g_s,  g_s = f_s / N_s,
// with C accumulated over the training split in float64, r = varsigma^2 a regulariser (automatic:
// d eps lambda_max, the numerical-rank threshold of C) and alpha calibrated on the validation split.
// Everything here works on plain feature matrices; the model and the command line are elsewhere.
//
// Notation: s structures (rows), N_s atoms of structure s, d features; f [n, d] feature rows
// (per structure: the sum over atoms; per atom: one row per atom); C [d, d] = Q diag(lambda) Q^T
// (eigenvalues lambda_k ascending, eigenvectors q_k the columns of Q); r the regulariser;
// L = Q diag((max(lambda, 0) + r)^{-1/2}) [d, d], so L L^T = (C + r I)^{-1}; alpha the calibration
// factor; m ensemble members, W [m, d] their last-layer weights; residuals e_i = y_i - t_i.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "autodiff/random.hpp"
#include "autodiff/tensor.hpp"
#include "nn/checkpoint.hpp"

namespace uq {

/// How alpha is fitted on the validation residuals e [n] and uncalibrated sigmas s [n]
/// (metatrain's `calibration_method`; all assume Gaussian errors e ~ N(0, alpha^2 s^2)):
///   squared_residuals   alpha = sqrt(mean(e^2 / s^2))            -> mean(e^2 / sigma^2) = 1
///   absolute_residuals  alpha = sqrt(pi / 2) mean(|e| / s)       -> mean(|e| / sigma) = sqrt(2 / pi)
///   crps                alpha = argmin sum_i CRPS(N(0, alpha^2 s_i^2), e_i)
enum class LlprCalibration { absolute_residuals, squared_residuals, crps };

/// "absolute_residuals" | "squared_residuals" | "crps" (anything else: an error listing them).
LlprCalibration parse_llpr_calibration(const std::string& name);
const char* to_string(LlprCalibration method);

/// CRPS of N(0, sigma^2) at a residual e (Gneiting & Raftery 2007, eq. 21), with z = e / sigma:
/// sigma [z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi)]. sigma > 0.
double gaussian_crps(double residual, double sigma);

/// alpha for residuals e [n] (or [n, 1]) and uncalibrated sigmas s of the same shape (s > 0,
/// everything finite, n >= 2, not all e zero). See LlprCalibration for the formulas.
double llpr_calibration_factor(const ad::Tensor& residuals, const ad::Tensor& uncalibrated_sigma,
                               LlprCalibration method);

/// Covariance of last-layer features over the training split, C = sum_s g_s^T g_s with
/// g_s = f_s / N_s (the per-atom normalisation of the energy loss), accumulated in float64 over any
/// number of batches: the result does not depend on how the rows are split into batches (up to
/// summation order).
class LlprCovariance {
  public:
    explicit LlprCovariance(long n_features);

    /// Adds rows f [n, d] (per-structure features, the sum over atoms) with N_s = n_atoms[s] > 0.
    void add(const ad::Tensor& features, const std::vector<long>& n_atoms);
    /// Adds rows f [n, d] unnormalised (N_s = 1: per-atom targets or plain regression).
    void add(const ad::Tensor& features);

    long n_features() const { return n_features_; }
    long n_rows() const { return n_rows_; }  ///< rows added so far
    const ad::Tensor& matrix() const { return C_; }  ///< C [d, d]

  private:
    long n_features_;
    long n_rows_ = 0;
    ad::Tensor C_;
};

/// The regulariser that was used and why (printed by the trainer: "which one it used").
struct LlprRegularizer {
    double value = 0.0;        ///< r
    bool automatic = false;    ///< true: d eps lambda_max; false: given by the user
    double lambda_max = 0.0;   ///< largest eigenvalue of C
    double lambda_min = 0.0;   ///< smallest eigenvalue of C as computed (may be -rounding)
    long n_unresolved = 0;     ///< eigenvalues below r: directions the training data do not resolve
    /// One line, e.g. "regularizer 2.1e-11 (automatic: d eps lambda_max = 96 * 2.2e-16 * 1e3);
    /// 3 of 96 eigenvalues of C below it".
    std::string describe(long n_features) const;
};

/// metatrain's automatic search, for comparison only: the first r in 1e-20, 1e-19, ..., 1e16 for
/// which the Cholesky factorisation of C + r I succeeds; nullopt if none does.
std::optional<double> cholesky_search_regularizer(const ad::Tensor& C);

/// A fitted LLPR posterior for one target: the eigendecomposition of C, the regulariser and alpha.
class Llpr {
  public:
    /// Eigendecomposition of C (symmetrised; robust where a Cholesky is not). Without a regulariser
    /// r = d eps lambda_max (eps = 2^-52): the standard numerical-rank threshold of C, the smallest
    /// value that is not below C's own rounding (docs/uq.md "LLPR"). Eigenvalues that rounding made
    /// negative are set to 0 (C is positive semi-definite by construction). Errors: C not [d, d],
    /// not finite, all zero; a given r < 0, or r = 0 with a singular C.
    static Llpr fit(const ad::Tensor& C, std::optional<double> regularizer = std::nullopt);
    static Llpr fit(const LlprCovariance& covariance, std::optional<double> regularizer = std::nullopt);

    long n_features() const { return n_features_; }
    const LlprRegularizer& regularizer() const { return regularizer_; }
    const ad::Tensor& covariance() const { return C_; }     ///< C [d, d] (symmetrised)
    const ad::Tensor& eigenvalues() const { return lambda_; }  ///< lambda [d] ascending, as computed
    const ad::Tensor& eigenvectors() const { return Q_; }   ///< Q [d, d], columns
    /// (C + r I)^{-1} [d, d] = Q diag(1 / (max(lambda, 0) + r)) Q^T.
    ad::Tensor inverse() const;
    /// L [d, d] with L L^T = (C + r I)^{-1}.
    const ad::Tensor& inverse_sqrt() const { return L_; }

    double alpha() const { return alpha_; }  ///< 1 until calibrated
    void set_alpha(double alpha);            ///< alpha > 0

    /// Uncalibrated variances f (C + r I)^{-1} f^T [n] for rows f [n, d] (or one row [d]):
    /// per structure with the summed features, per atom with per-atom features (the local
    /// prediction rigidity is 1 / variance). Computed as sum_j (f L)_j^2, so never negative.
    ad::Tensor variance(const ad::Tensor& features) const;
    /// alpha sqrt(variance(f)) [n], in the units of the residuals alpha was calibrated on.
    ad::Tensor sigma(const ad::Tensor& features) const;

    /// Sets alpha = llpr_calibration_factor(residuals, sqrt(variance(features)), method) from
    /// validation rows f [n, d] and residuals e [n]; returns it.
    double calibrate(const ad::Tensor& features, const ad::Tensor& residuals, LlprCalibration method);

    /// m >= 2 last-layer weight vectors [m, d] drawn from N(w, alpha^2 (C + r I)^{-1}):
    /// W_j = w + alpha L eps_j, eps_j ~ N(0, I) from `rng`, then re-centred (W_j -= mean_j W_j - w)
    /// so that the members' mean is w (to rounding) and the ensemble mean prediction is f w^T.
    /// w is [d] or [1, d].
    ad::Tensor sample_ensemble(const ad::Tensor& w, long n_members, ad::Rng& rng) const;

    /// Tensors "covariance", "eigenvalues", "eigenvectors", "scalars" = [r, automatic, alpha] and
    /// metadata format = atomgrad.uq.llpr, format_version = 1; all numbers float64 (exact round trip).
    nn::Checkpoint to_checkpoint() const;
    static Llpr from_checkpoint(const nn::Checkpoint& ckpt);
    void save(const std::string& path) const;
    static Llpr load(const std::string& path);

  private:
    Llpr() = default;
    void build();  ///< L_ and regularizer_ statistics from C_, lambda_, Q_ and regularizer_.value

    long n_features_ = 0;
    ad::Tensor C_, lambda_, Q_, L_;
    LlprRegularizer regularizer_;
    double alpha_ = 1.0;
};

/// Last-layer Laplace with marginal-likelihood hyperparameters (docs/llpr.md, "Last-layer Laplace"):
/// the Bayesian linear model t = G w + eps, eps ~ N(0, sigma^2 I_n), prior w ~ N(0, tau^-1 I_d),
/// Laplace-approximated around given weights w (the trained last layer), rows G [n, d] with
/// C = G^T G = Q diag(lambda) Q^T. With SSE = |t - G w|^2 and |w|^2 the evidence is (MacKay 1992;
/// uq::Laplace's lml with the GGN C / sigma^2 and a scalar prior)
///   lml(tau, sigma) = -n/2 log(2 pi sigma^2) - SSE / (2 sigma^2)
///                     - 1/2 [sum_k log(lambda_k / sigma^2 + tau) - d log tau + tau |w|^2],
/// O(d) per evaluation from the eigenvalues. Posterior covariance (C / sigma^2 + tau I)^-1 =
/// sigma^2 (C + r I)^-1 with r = sigma^2 tau: the LLPR form with alpha = sigma.
struct LinearEvidence {
    double tau = 0.0;          ///< prior precision of w
    double sigma = 0.0;        ///< noise standard deviation (units of t)
    double lml = 0.0;          ///< lml(tau, sigma)
    double regularizer = 0.0;  ///< r = sigma^2 tau
    double gamma = 0.0;        ///< effective number of parameters sum_k lambda_k / (lambda_k + r)
};

/// lml(tau, sigma) above; eigenvalues [d] of C (negative rounding clamped to 0), n rows, SSE >= 0,
/// w_norm2 = |w|^2; tau, sigma > 0.
double linear_evidence_lml(const ad::Tensor& eigenvalues, long n_rows, double sse, double w_norm2, double tau,
                           double sigma);
/// The (tau, sigma) maximising lml: for fixed r = sigma^2 tau the optimum sigma^2 = (SSE + r |w|^2) / n
/// is closed form, leaving a 1-d maximisation over log r (grid over 28 decades around lambda_max,
/// then bisection on the stationarity condition below). Stationarity is MacKay's tau |w|^2 = gamma,
/// sigma^2 = SSE / (n - gamma). Errors: SSE or |w|^2 not > 0, n < 1, all eigenvalues zero.
LinearEvidence maximize_linear_evidence(const ad::Tensor& eigenvalues, long n_rows, double sse, double w_norm2);

/// Ensemble predictions f W^T [n, m] of rows f [n, d] with member weights W [m, d].
ad::Tensor llpr_ensemble_predictions(const ad::Tensor& features, const ad::Tensor& weights);

}  // namespace uq
