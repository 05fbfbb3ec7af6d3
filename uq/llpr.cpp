// LLPR (Bigi et al., MLST 2024, eq. 24): covariance of last-layer features, its regularised
// eigendecomposition, calibrated variances, calibration of alpha and last-layer ensembles.
// Notation as in llpr.hpp; formulas and the regulariser's justification: docs/uq.md "LLPR".
#include "uq/llpr.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>
#include <vector>

#include "autodiff/blas.hpp"
#include "autodiff/error.hpp"

namespace uq {

using ad::Tensor;

namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();  // 2^-52
const double kSqrtPi = std::sqrt(M_PI);
const char* kFormat = "atomgrad.uq.llpr";
const char* kFormatVersion = "1";

bool all_finite(const Tensor& t) {
    const double* p = t.data();
    for (long i = 0; i < t.numel(); ++i)
        if (!std::isfinite(p[i])) return false;
    return true;
}

// Rows f [n, d] (or one row [d]) as a contiguous [n, d] array; errors name `where`.
Tensor feature_rows(const Tensor& f, long d, const char* where) {
    AD_CHECK(f.defined() && (f.ndim() == 2 || f.ndim() == 1) && f.dim(-1) == d,
             where << ": expected features [n, " << d << "], got " << (f.defined() ? f.shape() : ad::Shape{}));
    AD_CHECK(all_finite(f), where << ": expected finite features, got NaN or Inf");
    return f.ndim() == 2 ? f.detach() : Tensor::view_of(f.detach(), {1, d});
}

// phi(z) and Phi(z) of the standard normal.
double normal_pdf(double z) { return std::exp(-0.5 * z * z) / std::sqrt(2.0 * M_PI); }
double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// d/d alpha of sum_i CRPS(N(0, alpha^2 s_i^2), e_i) = sum_i s_i (2 phi(z_i) - 1/sqrt(pi)),
// z_i = e_i / (alpha s_i). (d CRPS(sigma)/d sigma = 2 phi(z) - 1/sqrt(pi): the z-terms cancel.)
// It increases with alpha (|z_i| falls), so the CRPS sum is convex in alpha with one minimum.
double crps_slope(double alpha, const std::vector<double>& e, const std::vector<double>& s) {
    double g = 0.0;
    for (size_t i = 0; i < e.size(); ++i) g += s[i] * (2.0 * normal_pdf(e[i] / (alpha * s[i])) - 1.0 / kSqrtPi);
    return g;
}

double solve_crps_alpha(const std::vector<double>& e, const std::vector<double>& s) {
    // As alpha -> 0 the slope tends to sum_{e_i = 0} s_i sqrt(2/pi) - sum_i s_i / sqrt(pi); if that
    // is not negative the CRPS keeps falling towards alpha = 0 and there is no minimum.
    double zero_part = 0.0, total = 0.0;
    for (size_t i = 0; i < e.size(); ++i) {
        total += s[i];
        if (e[i] == 0.0) zero_part += s[i];
    }
    AD_CHECK(zero_part * std::sqrt(2.0 / M_PI) < total / kSqrtPi,
             "llpr calibration (crps): expected mostly non-zero residuals, got "
                 << "too many exact zeros; the CRPS is then minimal at alpha = 0");
    // Bracket the root around the squared-residual estimate, then bisect in log(alpha) down to
    // adjacent doubles (the slope is monotone, so bisection cannot fail).
    double a0 = 0.0;
    for (size_t i = 0; i < e.size(); ++i) a0 += (e[i] / s[i]) * (e[i] / s[i]);
    a0 = std::sqrt(a0 / static_cast<double>(e.size()));
    double lo = a0, hi = a0;
    for (int it = 0; crps_slope(lo, e, s) > 0.0; ++it) {
        AD_CHECK(it < 2000, "llpr calibration (crps): could not bracket alpha below " << lo);
        lo *= 0.5;
    }
    for (int it = 0; crps_slope(hi, e, s) < 0.0; ++it) {
        AD_CHECK(it < 2000, "llpr calibration (crps): could not bracket alpha above " << hi);
        hi *= 2.0;
    }
    for (int it = 0; it < 200 && hi > lo * (1.0 + 4.0 * kEps); ++it) {
        const double mid = std::sqrt(lo * hi);
        (crps_slope(mid, e, s) > 0.0 ? hi : lo) = mid;
    }
    return std::sqrt(lo * hi);
}

}  // namespace

// ----------------------------------------------------------------------------- calibration

LlprCalibration parse_llpr_calibration(const std::string& name) {
    if (name == "absolute_residuals") return LlprCalibration::absolute_residuals;
    if (name == "squared_residuals") return LlprCalibration::squared_residuals;
    if (name == "crps") return LlprCalibration::crps;
    AD_FAIL("llpr calibration: expected absolute_residuals | squared_residuals | crps, got '" << name << "'");
}

const char* to_string(LlprCalibration method) {
    switch (method) {
        case LlprCalibration::absolute_residuals: return "absolute_residuals";
        case LlprCalibration::squared_residuals: return "squared_residuals";
        case LlprCalibration::crps: return "crps";
    }
    return "?";
}

// CRPS(N(0, sigma^2), e) = integral (F(x) - [x >= e])^2 dx = sigma [z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)].
double gaussian_crps(double residual, double sigma) {
    AD_CHECK(sigma > 0.0 && std::isfinite(sigma) && std::isfinite(residual),
             "gaussian_crps: expected sigma > 0 and finite values, got residual " << residual << ", sigma " << sigma);
    const double z = residual / sigma;
    return sigma * (z * (2.0 * normal_cdf(z) - 1.0) + 2.0 * normal_pdf(z) - 1.0 / kSqrtPi);
}

double llpr_calibration_factor(const Tensor& residuals, const Tensor& uncalibrated_sigma, LlprCalibration method) {
    const char* where = "llpr calibration";
    AD_CHECK(residuals.defined() && uncalibrated_sigma.defined(), where << ": expected residuals and sigmas");
    auto is_column = [](const Tensor& t) { return t.ndim() == 1 || (t.ndim() == 2 && t.dim(1) == 1); };
    AD_CHECK(is_column(residuals) && is_column(uncalibrated_sigma) && residuals.numel() == uncalibrated_sigma.numel(),
             where << ": expected residuals [n] and sigmas [n], got " << residuals.shape() << " and "
                   << uncalibrated_sigma.shape());
    const long n = residuals.numel();
    AD_CHECK(n >= 2, where << ": expected at least 2 validation residuals, got " << n
                           << "; one validation frame cannot calibrate alpha (use a larger validation split)");
    std::vector<double> e(n), s(n);
    bool any_nonzero = false;
    for (long i = 0; i < n; ++i) {
        e[i] = residuals.data()[i];
        s[i] = uncalibrated_sigma.data()[i];
        AD_CHECK(std::isfinite(e[i]), where << ": expected finite residuals, got " << e[i] << " at " << i);
        AD_CHECK(s[i] > 0.0 && std::isfinite(s[i]),
                 where << ": expected uncalibrated sigmas > 0, got " << s[i] << " at " << i
                       << "; a validation feature row is zero or not finite");
        any_nonzero = any_nonzero || e[i] != 0.0;
    }
    AD_CHECK(any_nonzero, where << ": expected non-zero residuals, got all zero; alpha would be 0");
    double sum = 0.0;
    switch (method) {
        case LlprCalibration::squared_residuals:
            for (long i = 0; i < n; ++i) sum += (e[i] / s[i]) * (e[i] / s[i]);
            return std::sqrt(sum / static_cast<double>(n));
        case LlprCalibration::absolute_residuals:
            for (long i = 0; i < n; ++i) sum += std::fabs(e[i]) / s[i];
            return std::sqrt(M_PI / 2.0) * sum / static_cast<double>(n);
        case LlprCalibration::crps: return solve_crps_alpha(e, s);
    }
    return 0.0;
}

// ----------------------------------------------------------------------------- covariance

LlprCovariance::LlprCovariance(long n_features) : n_features_(n_features) {
    AD_CHECK(n_features > 0, "LlprCovariance: expected n_features > 0, got " << n_features);
    C_ = Tensor::zeros({n_features, n_features});
}

// C[d, d] += G^T G with G[s, :] = f[s, :] / N_s (float64 gemm, accumulated in place).
void LlprCovariance::add(const Tensor& features, const std::vector<long>& n_atoms) {
    const long d = n_features_;
    Tensor f = feature_rows(features, d, "LlprCovariance::add");
    const long n = f.dim(0);
    AD_CHECK(static_cast<long>(n_atoms.size()) == n, "LlprCovariance::add: expected one atom count per row ("
                                                         << n << "), got " << n_atoms.size());
    Tensor G = Tensor::empty({n, d});
    for (long s = 0; s < n; ++s) {
        AD_CHECK(n_atoms[s] > 0, "LlprCovariance::add: expected n_atoms > 0, got " << n_atoms[s] << " for row " << s);
        const double inv = 1.0 / static_cast<double>(n_atoms[s]);
        for (long j = 0; j < d; ++j) G.data()[s * d + j] = f.data()[s * d + j] * inv;
    }
    if (n > 0) ad::blas::gemm(true, false, d, d, n, 1.0, G.data(), d, G.data(), d, 1.0, C_.data(), d);
    n_rows_ += n;
}

void LlprCovariance::add(const Tensor& features) {
    const long n = feature_rows(features, n_features_, "LlprCovariance::add").dim(0);
    add(features, std::vector<long>(n, 1));
}

// ----------------------------------------------------------------------------- regulariser

std::string LlprRegularizer::describe(long n_features) const {
    std::ostringstream os;
    os << std::setprecision(3) << "regularizer " << value;
    if (automatic)
        os << " (automatic: d eps lambda_max = " << n_features << " * " << kEps << " * " << lambda_max << ")";
    else
        os << " (given)";
    os << "; " << n_unresolved << " of " << n_features << " eigenvalues of C below it";
    return os.str();
}

std::optional<double> cholesky_search_regularizer(const Tensor& C) {
    AD_CHECK(C.defined() && C.ndim() == 2 && C.dim(0) == C.dim(1),
             "cholesky_search_regularizer: expected C [d, d], got " << C.shape());
    const long d = C.dim(0);
    for (int k = -20; k <= 16; ++k) {
        const double r = std::pow(10.0, k);
        Tensor A = C.detach().clone();
        for (long i = 0; i < d; ++i) A.data()[i * d + i] += r;
        if (ad::blas::potrf(d, A.data(), d) == 0) return r;
    }
    return std::nullopt;
}

// ----------------------------------------------------------------------------- Llpr

Llpr Llpr::fit(const LlprCovariance& covariance, std::optional<double> regularizer) {
    AD_CHECK(covariance.n_rows() > 0, "llpr: expected training features, got none (no rows were added)");
    return fit(covariance.matrix(), regularizer);
}

Llpr Llpr::fit(const Tensor& C, std::optional<double> regularizer) {
    AD_CHECK(C.defined() && C.ndim() == 2 && C.dim(0) == C.dim(1) && C.dim(0) > 0,
             "llpr: expected a covariance C [d, d], got " << (C.defined() ? C.shape() : ad::Shape{}));
    AD_CHECK(all_finite(C), "llpr: expected a finite covariance, got NaN or Inf (check the last-layer features)");
    const long d = C.dim(0);
    bool all_zero = true;
    for (long i = 0; i < d * d; ++i) all_zero = all_zero && C.data()[i] == 0.0;
    AD_CHECK(!all_zero, "llpr: expected a non-zero covariance, got all zeros; the training last-layer features are all "
                        "zero (a dead last hidden layer?)");
    Llpr m;
    m.n_features_ = d;
    // Symmetrise: the two triangles of a gemm-accumulated G^T G may differ in the last bit.
    m.C_ = Tensor::empty({d, d});
    for (long i = 0; i < d; ++i)
        for (long j = 0; j < d; ++j) m.C_.data()[i * d + j] = 0.5 * (C.data()[i * d + j] + C.data()[j * d + i]);
    m.Q_ = m.C_.clone();
    m.lambda_ = Tensor::empty({d});
    const int info = ad::blas::syevd(d, m.Q_.data(), d, m.lambda_.data());
    AD_CHECK(info == 0, "llpr: expected the eigensolver (LAPACK dsyevd) to converge, got info=" << info);
    const double lambda_max = m.lambda_.data()[d - 1];
    AD_CHECK(lambda_max > 0.0, "llpr: expected a positive semi-definite covariance, got largest eigenvalue " << lambda_max);
    if (regularizer) {
        AD_CHECK(std::isfinite(*regularizer) && *regularizer >= 0.0,
                 "llpr: expected regularizer >= 0, got " << *regularizer << "; leave it unset for the automatic value");
        m.regularizer_.value = *regularizer;
        m.regularizer_.automatic = false;
    } else {
        // The numerical-rank threshold (Golub & Van Loan; numpy.linalg.matrix_rank): eigenvalues of
        // C below d eps lambda_max are indistinguishable from rounding, so this is the smallest r
        // that means anything, and it scales with C (docs/uq.md "LLPR", the regulariser).
        m.regularizer_.value = static_cast<double>(d) * kEps * lambda_max;
        m.regularizer_.automatic = true;
    }
    m.build();
    return m;
}

void Llpr::build() {
    const long d = n_features_;
    AD_CHECK(C_.defined() && C_.numel() == d * d && lambda_.numel() == d && Q_.numel() == d * d,
             "llpr: inconsistent state (covariance, eigenvalues, eigenvectors) for d = " << d);
    const double r = regularizer_.value;
    regularizer_.lambda_max = lambda_.data()[d - 1];
    regularizer_.lambda_min = lambda_.data()[0];
    regularizer_.n_unresolved = 0;
    long n_singular = 0;
    std::vector<double> scale(d);
    for (long k = 0; k < d; ++k) {
        // Negative eigenvalues are rounding of a positive semi-definite C: treat them as 0.
        const double post = std::max(lambda_.data()[k], 0.0) + r;
        if (lambda_.data()[k] < r) ++regularizer_.n_unresolved;
        if (!(post > 0.0)) ++n_singular;
        scale[k] = post > 0.0 ? 1.0 / std::sqrt(post) : 0.0;
    }
    AD_CHECK(n_singular == 0, "llpr: C + r I is singular with regularizer " << r << " (" << n_singular << " of " << d
                                                                              << " eigenvalues of C are <= 0); give a "
                                                                                 "positive regularizer or leave it unset");
    L_ = Tensor::empty({d, d});
    for (long i = 0; i < d; ++i)
        for (long k = 0; k < d; ++k) L_.data()[i * d + k] = Q_.data()[i * d + k] * scale[k];
}

Tensor Llpr::inverse() const {
    const long d = n_features_;
    Tensor out = Tensor::empty({d, d});
    ad::blas::gemm(false, true, d, d, d, 1.0, L_.data(), d, L_.data(), d, 0.0, out.data(), d);
    for (long i = 0; i < d; ++i)
        for (long j = 0; j < i; ++j) out.data()[j * d + i] = out.data()[i * d + j];
    return out;
}

void Llpr::set_alpha(double alpha) {
    AD_CHECK(alpha > 0.0 && std::isfinite(alpha), "llpr: expected alpha > 0, got " << alpha);
    alpha_ = alpha;
}

// v[i] = f_i (C + r I)^{-1} f_i^T = |f_i L|^2 (u = f L [n, d], then row sums of squares).
Tensor Llpr::variance(const Tensor& features) const {
    const long d = n_features_;
    Tensor f = feature_rows(features, d, "llpr variance");
    const long n = f.dim(0);
    Tensor u = Tensor::empty({n, d});
    if (n > 0) ad::blas::gemm(false, false, n, d, d, 1.0, f.data(), d, L_.data(), d, 0.0, u.data(), d);
    Tensor v = Tensor::empty({n});
    for (long i = 0; i < n; ++i) {
        double acc = 0.0;
        for (long j = 0; j < d; ++j) acc += u.data()[i * d + j] * u.data()[i * d + j];
        v.data()[i] = acc;
    }
    return v;
}

Tensor Llpr::sigma(const Tensor& features) const {
    Tensor v = variance(features);
    for (long i = 0; i < v.numel(); ++i) v.data()[i] = alpha_ * std::sqrt(v.data()[i]);
    return v;
}

double Llpr::calibrate(const Tensor& features, const Tensor& residuals, LlprCalibration method) {
    Tensor s = variance(features);
    for (long i = 0; i < s.numel(); ++i) s.data()[i] = std::sqrt(s.data()[i]);
    set_alpha(llpr_calibration_factor(residuals, s, method));
    return alpha_;
}

// W[j, :] = w + alpha (L eps_j)^T: Z = E L^T for E [m, d] of standard normals; then the deviations
// are centred over the members so that mean_j W[j, :] = w.
Tensor Llpr::sample_ensemble(const Tensor& w, long n_members, ad::Rng& rng) const {
    const long d = n_features_;
    AD_CHECK(w.defined() && w.numel() == d && (w.ndim() == 1 || (w.ndim() == 2 && w.dim(0) == 1)),
             "llpr ensemble: expected weights w [" << d << "] or [1, " << d << "], got "
                                                   << (w.defined() ? w.shape() : ad::Shape{}));
    AD_CHECK(n_members >= 2, "llpr ensemble: expected at least 2 members, got " << n_members);
    const long m = n_members;
    Tensor E = rng.normal({m, d});
    Tensor Z = Tensor::empty({m, d});
    ad::blas::gemm(false, true, m, d, d, alpha_, E.data(), d, L_.data(), d, 0.0, Z.data(), d);
    Tensor W = Tensor::empty({m, d});
    const Tensor wd = w.detach();
    for (long j = 0; j < d; ++j) {
        double mean = 0.0;
        for (long i = 0; i < m; ++i) mean += Z.data()[i * d + j];
        mean /= static_cast<double>(m);
        for (long i = 0; i < m; ++i) W.data()[i * d + j] = wd.data()[j] + (Z.data()[i * d + j] - mean);
    }
    return W;
}

Tensor llpr_ensemble_predictions(const Tensor& features, const Tensor& weights) {
    AD_CHECK(weights.defined() && weights.ndim() == 2,
             "llpr ensemble predictions: expected weights [m, d], got " << (weights.defined() ? weights.shape() : ad::Shape{}));
    const long m = weights.dim(0), d = weights.dim(1);
    Tensor f = feature_rows(features, d, "llpr ensemble predictions");
    const long n = f.dim(0);
    Tensor W = weights.detach();
    Tensor out = Tensor::zeros({n, m});
    if (n > 0) ad::blas::gemm(false, true, n, m, d, 1.0, f.data(), d, W.data(), d, 0.0, out.data(), m);
    return out;
}

// ----------------------------------------------------------------------------- persistence

nn::Checkpoint Llpr::to_checkpoint() const {
    nn::Checkpoint c;
    c.metadata["format"] = kFormat;
    c.metadata["format_version"] = kFormatVersion;
    // Numbers as float64 tensors, not text, so that the round trip is exact; the eigenvectors are
    // stored (not recomputed) so that a load on another LAPACK gives the same sigmas bit for bit.
    c.tensors.emplace_back("covariance", C_);
    c.tensors.emplace_back("eigenvalues", lambda_);
    c.tensors.emplace_back("eigenvectors", Q_);
    c.tensors.emplace_back("scalars", ad::tensor({regularizer_.value, regularizer_.automatic ? 1.0 : 0.0, alpha_}));
    return c;
}

Llpr Llpr::from_checkpoint(const nn::Checkpoint& c) {
    AD_CHECK(c.meta("format") == kFormat,
             c.path << ": expected an LLPR checkpoint (format '" << kFormat << "'), got '" << c.meta("format") << "'");
    AD_CHECK(c.meta("format_version") == kFormatVersion,
             c.path << ": expected LLPR format_version " << kFormatVersion << ", got " << c.meta("format_version"));
    Llpr m;
    m.C_ = c.get("covariance").clone();
    AD_CHECK(m.C_.ndim() == 2 && m.C_.dim(0) == m.C_.dim(1), c.path << ": expected covariance [d, d], got " << m.C_.shape());
    m.n_features_ = m.C_.dim(0);
    m.lambda_ = c.get("eigenvalues").clone();
    m.Q_ = c.get("eigenvectors").clone();
    Tensor s = c.get("scalars");
    AD_CHECK(s.numel() == 3, c.path << ": expected 'scalars' [3], got " << s.shape());
    m.regularizer_.value = s[0];
    m.regularizer_.automatic = s[1] != 0.0;
    m.build();
    m.set_alpha(s[2]);
    return m;
}

void Llpr::save(const std::string& path) const { nn::save_checkpoint(path, to_checkpoint()); }

Llpr Llpr::load(const std::string& path) { return from_checkpoint(nn::load_checkpoint(path)); }

namespace {

// The profile lml over r = sigma^2 tau with sigma^2 = (SSE + r |w|^2) / n at its optimum (the terms
// that depend on r; the full lml is linear_evidence_lml at the resulting tau, sigma).
double profile_lml(const std::vector<double>& lambda, long n, double sse, double w2, double r) {
    const double s2 = (sse + r * w2) / static_cast<double>(n);
    double v = -0.5 * static_cast<double>(n) * std::log(s2) + 0.5 * static_cast<double>(lambda.size()) * std::log(r);
    for (double l : lambda) v -= 0.5 * std::log(l + r);
    return v;
}

std::vector<double> clamped_eigenvalues(const Tensor& eigenvalues, const char* where) {
    AD_CHECK(eigenvalues.numel() >= 1, where << ": expected eigenvalues [d], got " << eigenvalues.shape());
    std::vector<double> lambda(static_cast<size_t>(eigenvalues.numel()));
    for (size_t k = 0; k < lambda.size(); ++k) {
        const double l = eigenvalues.data()[k];
        AD_CHECK(std::isfinite(l), where << ": expected finite eigenvalues, got " << l);
        lambda[k] = std::max(l, 0.0);
    }
    return lambda;
}

}  // namespace

double linear_evidence_lml(const Tensor& eigenvalues, long n_rows, double sse, double w_norm2, double tau,
                           double sigma) {
    const std::vector<double> lambda = clamped_eigenvalues(eigenvalues, "linear_evidence_lml");
    AD_CHECK(n_rows >= 1 && sse >= 0 && w_norm2 >= 0 && tau > 0 && sigma > 0,
             "linear_evidence_lml: expected n >= 1, SSE >= 0, |w|^2 >= 0, tau > 0, sigma > 0, got n = "
                 << n_rows << ", SSE = " << sse << ", |w|^2 = " << w_norm2 << ", tau = " << tau << ", sigma = " << sigma);
    const double s2 = sigma * sigma, d = static_cast<double>(lambda.size());
    double log_det_post = 0.0;
    for (double l : lambda) log_det_post += std::log(l / s2 + tau);
    return -0.5 * static_cast<double>(n_rows) * std::log(2.0 * M_PI * s2) - sse / (2.0 * s2) -
           0.5 * (log_det_post - d * std::log(tau) + tau * w_norm2);
}

LinearEvidence maximize_linear_evidence(const Tensor& eigenvalues, long n_rows, double sse, double w_norm2) {
    const std::vector<double> lambda = clamped_eigenvalues(eigenvalues, "maximize_linear_evidence");
    AD_CHECK(n_rows >= 1, "maximize_linear_evidence: expected at least one row, got " << n_rows);
    AD_CHECK(sse > 0 && std::isfinite(sse),
             "maximize_linear_evidence: expected a positive sum of squared training residuals, got " << sse
                 << "; the noise cannot be chosen for a model that fits its training data exactly");
    AD_CHECK(w_norm2 > 0 && std::isfinite(w_norm2),
             "maximize_linear_evidence: expected non-zero last-layer weights, got |w|^2 = " << w_norm2);
    const double lambda_max = *std::max_element(lambda.begin(), lambda.end());
    AD_CHECK(lambda_max > 0, "maximize_linear_evidence: expected a non-zero covariance, got all eigenvalues zero");
    // grid over log10 r in [log10 lambda_max - 20, log10 lambda_max + 8]
    const double lo = std::log(lambda_max) - 20.0 * std::log(10.0), hi = std::log(lambda_max) + 8.0 * std::log(10.0);
    const int n_grid = 561;
    const double step = (hi - lo) / (n_grid - 1);
    int best = 0;
    double best_v = -std::numeric_limits<double>::infinity();
    for (int k = 0; k < n_grid; ++k) {
        const double v = profile_lml(lambda, n_rows, sse, w_norm2, std::exp(lo + k * step));
        if (v > best_v) best_v = v, best = k;
    }
    // The stationarity condition in x = log r (2 r d/dr of the profile): gamma(r) = n r |w|^2 / (SSE + r |w|^2),
    // positive below the maximum and negative above; bisection on [x_{best-1}, x_{best+1}] (well
    // conditioned, unlike the flat lml itself).
    const auto slope = [&](double x) {
        const double r = std::exp(x);
        double gamma = 0.0;
        for (double l : lambda) gamma += l / (l + r);
        return gamma - static_cast<double>(n_rows) * r * w_norm2 / (sse + r * w_norm2);
    };
    double a = lo + std::max(best - 1, 0) * step, b = lo + std::min(best + 1, n_grid - 1) * step;
    double x_best = lo + best * step;
    if (slope(a) > 0 && slope(b) < 0) {
        for (int it = 0; it < 200 && b - a > 1e-14; ++it) {
            const double m = 0.5 * (a + b);
            (slope(m) > 0 ? a : b) = m;
        }
        x_best = 0.5 * (a + b);
    }
    LinearEvidence e;
    e.regularizer = std::exp(x_best);
    const double s2 = (sse + e.regularizer * w_norm2) / static_cast<double>(n_rows);
    e.sigma = std::sqrt(s2);
    e.tau = e.regularizer / s2;
    for (double l : lambda) e.gamma += l / (l + e.regularizer);
    e.lml = linear_evidence_lml(eigenvalues, n_rows, sse, w_norm2, e.tau, e.sigma);
    return e;
}

}  // namespace uq
