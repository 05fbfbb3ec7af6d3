// Laplace posterior: curvature storage, priors, lml and its parts, posterior matrices
// (formulas in laplace.hpp and docs/uq.md; Daxberger et al. 2021, Immer et al. 2021, MacKay 1992).
#include "uq/laplace.hpp"

#include "autodiff/blas.hpp"

#include <cmath>
#include <sstream>

#include "autodiff/graph.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "nn/optim.hpp"

namespace uq {

using ad::Tensor;
using ad::operator<<;

namespace {

constexpr double kLog2Pi = 1.8378770664093454835606594728112;  // log(2 pi)

bool all_finite(const Tensor& t) {
    for (long i = 0; i < t.numel(); ++i)
        if (!std::isfinite(t[i])) return false;
    return true;
}

Tensor eye(long n) {
    Tensor I = Tensor::zeros({n, n});
    for (long i = 0; i < n; ++i) I.data()[i * n + i] = 1.0;
    return I;
}

// K[(i nA + k), (j nA + l)] = B[i, j] A[k, l]: the index order of a row-major flattened weight.
Tensor kron(const Tensor& B, const Tensor& A) {
    const long nb = B.dim(0), na = A.dim(0), n = nb * na;
    Tensor K = Tensor::empty({n, n});
    double* k = K.data();
    for (long i = 0; i < nb; ++i)
        for (long kk = 0; kk < na; ++kk)
            for (long j = 0; j < nb; ++j) {
                const double b = B[i * nb + j];
                double* row = k + (i * na + kk) * n + j * na;
                for (long l = 0; l < na; ++l) row[l] = b * A[kk * na + l];
            }
    return K;
}

const char* kSingularHint =
    "; the curvature is singular where the prior precision is 0: add prior precision (tau > 0)";

}  // namespace

std::string to_string(Likelihood l) { return l == Likelihood::regression ? "regression" : "classification"; }

std::string to_string(HessianStructure s) {
    return s == HessianStructure::full ? "full" : s == HessianStructure::kron ? "kron" : "diag";
}

Likelihood parse_likelihood(const std::string& name) {
    if (name == "regression") return Likelihood::regression;
    if (name == "classification") return Likelihood::classification;
    AD_FAIL("laplace: expected likelihood 'regression' or 'classification', got '" << name << "'");
}

HessianStructure parse_hessian_structure(const std::string& name) {
    if (name == "full") return HessianStructure::full;
    if (name == "kron") return HessianStructure::kron;
    if (name == "diag") return HessianStructure::diag;
    AD_FAIL("laplace: expected hessian structure 'full', 'kron' or 'diag', got '" << name << "'");
}

std::string to_string(FeatureReduction r) {
    switch (r) {
        case FeatureReduction::none: return "none";
        case FeatureReduction::pick_first: return "pick_first";
        case FeatureReduction::pick_last: return "pick_last";
        case FeatureReduction::average: return "average";
    }
    return "?";
}

FeatureReduction parse_feature_reduction(const std::string& name) {
    if (name == "none") return FeatureReduction::none;
    if (name == "pick_first") return FeatureReduction::pick_first;
    if (name == "pick_last") return FeatureReduction::pick_last;
    if (name == "average") return FeatureReduction::average;
    AD_FAIL("laplace: expected feature_reduction 'none', 'pick_first', 'pick_last' or 'average', got '" << name << "'");
}

// ----------------------------------------------------------------------------- construction

Laplace::Laplace(std::vector<ParamBlock> layout, Tensor mean, long n_outputs, LaplaceOptions options)
    : layout_(std::move(layout)),
      mean_(mean.detach().clone()),
      n_params_(0),
      n_outputs_(n_outputs),
      likelihood_(options.likelihood),
      structure_(options.structure),
      sigma_noise_(1.0),
      temperature_(1.0) {
    AD_CHECK(!layout_.empty(), "laplace: expected at least one parameter tensor, got none");
    for (const auto& b : layout_) {
        AD_CHECK(b.shape.size() == 1 || b.shape.size() == 2,
                 "laplace: expected parameter '" << b.name << "' of shape [out, in] or [out], got " << b.shape);
        offsets_.push_back(n_params_);
        n_params_ += ad::numel(b.shape);
    }
    AD_CHECK(mean_.ndim() == 1 && mean_.numel() == n_params_,
             "laplace: expected theta_MAP [" << n_params_ << "] (the layout's size), got " << mean_.shape());
    AD_CHECK(n_outputs_ > 0, "laplace: expected n_outputs > 0, got " << n_outputs_);
    set_sigma_noise(options.sigma_noise);
    set_temperature(options.temperature);
    set_prior_precision(options.prior_precision.defined() ? options.prior_precision : ad::tensor({1.0}));
    set_prior_mean(options.prior_mean.defined() ? options.prior_mean : ad::tensor({0.0}));
}

// ----------------------------------------------------------------------------- hyperparameters

void Laplace::check_prior_precision(const Tensor& tau, const char* where) const {
    AD_CHECK(tau.defined() && tau.ndim() == 1, where << ": expected a prior precision of shape [1], ["
                                                     << layout_.size() << "] or [" << n_params_ << "], got "
                                                     << (tau.defined() ? tau.shape() : ad::Shape{}));
    for (long i = 0; i < tau.numel(); ++i)
        AD_CHECK(std::isfinite(tau[i]) && tau[i] >= 0.0,
                 where << ": expected a finite prior precision >= 0, got " << tau[i] << " at index " << i);
    expand_prior_precision(tau.detach(), where);  // shape check
}

void Laplace::set_prior_precision(const Tensor& prior_precision) {
    cov_valid_ = false;
    Tensor tau = prior_precision.defined() && prior_precision.ndim() == 0 ? ad::reshape(prior_precision.detach(), {1})
                                                                         : prior_precision;
    check_prior_precision(tau, "laplace: set_prior_precision");
    prior_precision_ = tau.detach().clone();
}

void Laplace::set_prior_mean(const Tensor& prior_mean) {
    AD_CHECK(prior_mean.defined() && (prior_mean.numel() == 1 || (prior_mean.ndim() == 1 && prior_mean.numel() == n_params_)),
             "laplace: set_prior_mean: expected a prior mean of shape [1] or [" << n_params_ << "], got "
                                                                                << prior_mean.shape());
    AD_CHECK(all_finite(prior_mean), "laplace: set_prior_mean: expected finite values, got NaN or Inf");
    prior_mean_ = ad::reshape(prior_mean.detach(), {prior_mean.numel()}).clone();
}

void Laplace::set_sigma_noise(double sigma_noise) {
    cov_valid_ = false;
    AD_CHECK(std::isfinite(sigma_noise) && sigma_noise > 0.0,
             "laplace: expected a finite sigma_noise > 0, got " << sigma_noise);
    AD_CHECK(likelihood_ == Likelihood::regression || sigma_noise == 1.0,
             "laplace: expected sigma_noise = 1 for classification, got " << sigma_noise
                                                                          << "; the noise scale only exists for regression");
    sigma_noise_ = sigma_noise;
}

void Laplace::set_temperature(double temperature) {
    cov_valid_ = false;
    AD_CHECK(std::isfinite(temperature) && temperature > 0.0,
             "laplace: expected a finite temperature > 0, got " << temperature);
    temperature_ = temperature;
}

Tensor Laplace::tau_tensor() const { return prior_precision_; }
Tensor Laplace::sigma_tensor() const { return Tensor::scalar(sigma_noise_); }

// delta [P]: tau [1] broadcast, tau [n_tensors] repeated over each tensor, or tau [P] itself.
Tensor Laplace::expand_prior_precision(const Tensor& tau, const char* where) const {
    const long n = tau.numel(), n_tensors = static_cast<long>(layout_.size());
    if (n == 1) return ad::expand(ad::reshape(tau, {1}), {n_params_});
    if (n == n_tensors) {
        std::vector<long> idx(n_params_);
        for (long b = 0; b < n_tensors; ++b)
            for (long p = 0; p < ad::numel(layout_[b].shape); ++p) idx[offsets_[b] + p] = b;
        return ad::index_select(tau, 0, idx);
    }
    if (n == n_params_) {
        AD_CHECK(structure_ != HessianStructure::kron,
                 where << ": expected a prior precision of shape [1] or [" << n_tensors << "] for Kron, got ["
                       << n << "]; prior precision for Kron is either scalar or per-layer (as laplace-torch)");
        return ad::reshape(tau, {n_params_});
    }
    AD_FAIL(where << ": expected a prior precision of shape [1] (scalar), [" << n_tensors << "] (per tensor) or ["
                  << n_params_ << "] (per parameter), got " << tau.shape());
}

Tensor Laplace::h_of(const Tensor& sigma) const {
    return ad::div(Tensor::scalar(1.0 / temperature_), ad::square(ad::reshape(sigma, {})));
}

// ----------------------------------------------------------------------------- curvature

void Laplace::reset_fit() {
    H_ = Curvature{};
    loss_ = 0.0;
    n_data_ = 0;
    fitted_ = false;
    kron_eigen_valid_ = false;
    full_eigen_valid_ = false;
    cov_valid_ = false;
}

void Laplace::add_curvature(const Curvature& batch, double batch_loss, long batch_n) {
    ad::NoGrad no_grad;
    AD_CHECK(batch_n > 0, "laplace: expected a batch with at least one data point, got " << batch_n);
    AD_CHECK(std::isfinite(batch_loss), "laplace: expected a finite loss, got " << batch_loss);
    switch (structure_) {
        case HessianStructure::full:
            AD_CHECK(batch.full.defined() && batch.full.shape() == ad::Shape({n_params_, n_params_}),
                     "laplace: expected full curvature [" << n_params_ << ", " << n_params_ << "], got "
                                                          << (batch.full.defined() ? batch.full.shape() : ad::Shape{}));
            H_.full = H_.full.defined() ? ad::add(H_.full, batch.full) : batch.full.clone();
            break;
        case HessianStructure::diag:
            AD_CHECK(batch.diag.defined() && batch.diag.shape() == ad::Shape({n_params_}),
                     "laplace: expected diagonal curvature [" << n_params_ << "], got "
                                                              << (batch.diag.defined() ? batch.diag.shape() : ad::Shape{}));
            H_.diag = H_.diag.defined() ? ad::add(H_.diag, batch.diag) : batch.diag.clone();
            break;
        case HessianStructure::kron: {
            AD_CHECK(batch.kron.size() == layout_.size(),
                     "laplace: expected Kron factors for " << layout_.size() << " tensors, got " << batch.kron.size());
            for (size_t b = 0; b < layout_.size(); ++b) {
                const ad::Shape& s = layout_[b].shape;
                const size_t n_f = s.size();
                AD_CHECK(batch.kron[b].size() == n_f, "laplace: expected " << n_f << " Kron factors for '"
                                                                           << layout_[b].name << "', got "
                                                                           << batch.kron[b].size());
                for (size_t k = 0; k < n_f; ++k)
                    AD_CHECK(batch.kron[b][k].shape() == ad::Shape({s[k], s[k]}),
                             "laplace: expected Kron factor " << k << " of '" << layout_[b].name << "' of shape ["
                                                              << s[k] << ", " << s[k] << "], got "
                                                              << batch.kron[b][k].shape());
            }
            if (H_.kron.empty()) {
                for (const auto& fs : batch.kron) {
                    H_.kron.emplace_back();
                    for (const auto& f : fs) H_.kron.back().push_back(f.clone());
                }
            } else {
                // Factors add up one by one (laplace-torch's Kron.__add__): within one fit the
                // mini-batch scaling makes this the full-batch result (docs/uq.md).
                for (size_t b = 0; b < H_.kron.size(); ++b)
                    for (size_t k = 0; k < H_.kron[b].size(); ++k) H_.kron[b][k] = ad::add(H_.kron[b][k], batch.kron[b][k]);
            }
            kron_eigen_valid_ = false;
            full_eigen_valid_ = false;
            cov_valid_ = false;
            break;
        }
    }
    loss_ += batch_loss;
    // every cache derived from H is stale now
    kron_eigen_valid_ = false;
    full_eigen_valid_ = false;
    cov_valid_ = false;
    n_data_ += batch_n;
    fitted_ = true;
}

void Laplace::require_fit(const char* where) const {
    AD_CHECK(fitted_, "laplace: " << where << ": expected a fitted Laplace approximation, got one before fit(); call fit first");
}

double Laplace::loss() const {
    require_fit("loss");
    return loss_;
}

const Curvature& Laplace::curvature() const {
    require_fit("curvature");
    return H_;
}

Tensor Laplace::H() const {
    require_fit("H");
    if (structure_ == HessianStructure::full) return H_.full;
    if (structure_ == HessianStructure::diag) return H_.diag;
    Tensor D = Tensor::zeros({n_params_, n_params_});
    for (size_t b = 0; b < layout_.size(); ++b) {
        Tensor blk = H_.kron[b].size() == 2 ? kron(H_.kron[b][0], H_.kron[b][1]) : H_.kron[b][0];
        const long m = blk.dim(0), o = offsets_[b];
        for (long i = 0; i < m; ++i)
            for (long j = 0; j < m; ++j) D.data()[(o + i) * n_params_ + o + j] = blk[i * m + j];
    }
    return D;
}

// Eigen-decomposition of each Kron factor, eigenvalues clamped at 0: rounding leaves tiny
// negative eigenvalues (-1e-16) in PSD factors, and B = sum Lambda_n is exactly singular for
// classification (softmax Hessians annihilate 1); a negative value would break log and sqrt.
// Eigenvalues of the raw GGN H (Full), computed once per fit when a prior optimisation asks: with a
// scalar prior,
// log det(h H + tau I) = sum_i log(h lambda_i + tau), O(P) per evaluation instead of a Cholesky
// (the 100 steps of prior optimisation then cost one eigendecomposition).
const ad::Tensor& Laplace::full_eigenvalues() const {
    if (!full_eigen_valid_) {
        // eigenvalues only (dsyevd 'N'): a fraction of the full decomposition's cost
        ad::Tensor A = H_.full.clone();
        full_eigen_ = ad::Tensor::empty({n_params_});
        const int info = ad::blas::syevd_values(n_params_, A.data(), n_params_, full_eigen_.data());
        AD_CHECK(info == 0, "laplace: the eigenvalues of H did not converge (LAPACK dsyevd info=" << info << ")");
        full_eigen_valid_ = true;
    }
    return full_eigen_;
}

const std::vector<Laplace::KronEigen>& Laplace::kron_eigen() const {
    if (kron_eigen_valid_) return kron_eigen_;
    ad::NoGrad no_grad;
    kron_eigen_.clear();
    for (const auto& fs : H_.kron) {
        KronEigen e;
        for (const auto& f : fs) {
            auto wv = ad::eigh(f);
            Tensor w = wv.first.clone();
            for (long i = 0; i < w.numel(); ++i) w.data()[i] = std::max(w[i], 0.0);
            e.values.push_back(w);
            e.vectors.push_back(wv.second);
        }
        kron_eigen_.push_back(std::move(e));
    }
    kron_eigen_valid_ = true;
    return kron_eigen_;
}

// lambda = h (l_B (x) l_A) + delta_b  (weight),  h l_B + delta_b  (bias).
std::vector<Tensor> Laplace::kron_posterior_eigenvalues(const Tensor& tau, const Tensor& sigma) const {
    const auto& eig = kron_eigen();
    Tensor h = h_of(sigma);
    const long n_tau = tau.numel();
    std::vector<Tensor> out;
    for (size_t b = 0; b < eig.size(); ++b) {
        Tensor delta = ad::index_select(tau, 0, {n_tau == 1 ? 0L : static_cast<long>(b)});  // [1]
        Tensor l = eig[b].values.size() == 2 ? ad::reshape(ad::outer(eig[b].values[0], eig[b].values[1]), {-1})
                                             : eig[b].values[0];
        Tensor lam = ad::add(ad::mul(l, h), delta);
        for (long i = 0; i < lam.numel(); ++i)
            AD_CHECK(lam[i] > 0.0, "laplace: expected a positive-definite posterior precision, got Kron eigenvalue "
                                       << lam[i] << " for '" << layout_[b].name << "'" << kSingularHint);
        out.push_back(lam);
    }
    return out;
}

Tensor Laplace::kron_block_vectors(size_t block) const {
    const auto& e = kron_eigen()[block];
    return e.vectors.size() == 2 ? kron(e.vectors[0], e.vectors[1]) : e.vectors[0];
}

// ----------------------------------------------------------------------------- lml

LmlTerms Laplace::lml_terms(const Tensor& prior_precision, const Tensor& sigma_noise) const {
    require_fit("log_marginal_likelihood");
    const char* where = "laplace: log_marginal_likelihood";
    Tensor tau = prior_precision.ndim() == 0 ? ad::reshape(prior_precision, {1}) : prior_precision;
    check_prior_precision(tau, where);
    AD_CHECK(sigma_noise.defined() && sigma_noise.numel() == 1,
             where << ": expected sigma_noise of shape [] or [1], got " << sigma_noise.shape());
    const double s = sigma_noise.item();
    AD_CHECK(std::isfinite(s) && s > 0, where << ": expected a finite sigma_noise > 0, got " << s);
    AD_CHECK(likelihood_ == Likelihood::regression || s == 1.0,
             where << ": expected sigma_noise = 1 for classification, got " << s);
    Tensor sigma = ad::reshape(sigma_noise, {});
    Tensor h = h_of(sigma);
    Tensor delta = expand_prior_precision(tau, where);  // [P]
    Tensor mu0 = prior_mean_.numel() == 1 ? Tensor::full({n_params_}, prior_mean_[0]) : prior_mean_;
    Tensor diff = ad::sub(mean_, mu0);

    LmlTerms t;
    t.scatter = ad::sum(ad::mul(delta, ad::square(diff)));
    t.log_det_prior_precision = ad::sum(ad::log(delta));
    switch (structure_) {
        case HessianStructure::full: {
            if (tau.numel() == 1 && full_eigen_valid_) {
                Tensor lam = ad::add(ad::mul(full_eigenvalues(), h), ad::reshape(tau, {1}));  // [P]
                for (long i = 0; i < n_params_; ++i)
                    AD_CHECK(lam[i] > 0.0, where << ": expected a positive-definite posterior precision h H + P_0, got a "
                                                    "singular one"
                                                 << kSingularHint);
                t.log_det_posterior_precision = ad::sum(ad::log(lam));
                break;
            }
            Tensor post = ad::add(ad::mul(H_.full, h), ad::diag(delta));
            Tensor L;
            try {
                L = ad::cholesky(post);
            } catch (const ad::Error&) {
                AD_FAIL(where << ": expected a positive-definite posterior precision h H + P_0, got a singular one"
                              << kSingularHint);
            }
            t.log_det_posterior_precision = ad::mul(ad::sum(ad::log(ad::diagonal(L))), 2.0);
            break;
        }
        case HessianStructure::diag: {
            Tensor post = ad::add(ad::mul(H_.diag, h), delta);
            for (long i = 0; i < n_params_; ++i)
                AD_CHECK(post[i] > 0.0, where << ": expected a positive posterior precision, got " << post[i]
                                              << " at parameter " << i << kSingularHint);
            t.log_det_posterior_precision = ad::sum(ad::log(post));
            break;
        }
        case HessianStructure::kron: {
            Tensor acc;
            // laplace_torch: h enters log det P_post as a constant (detached sigma), which drops
            // h tr(Sigma H) (2/sigma) from d lml / d sigma; the value is unchanged.
            const Tensor sigma_det =
                kron_sigma_gradient_ == KronSigmaGradient::laplace_torch ? sigma.detach() : sigma;
            for (const auto& lam : kron_posterior_eigenvalues(tau, sigma_det)) {
                Tensor part = ad::sum(ad::log(lam));
                acc = acc.defined() ? ad::add(acc, part) : part;
            }
            t.log_det_posterior_precision = acc;
            break;
        }
    }
    // log p(D | theta_MAP): regression -h loss - N C log(sigma sqrt(2 pi)) (the normaliser is
    // not tempered); classification -loss / T.
    const double N = static_cast<double>(n_data_), C = static_cast<double>(n_outputs_);
    if (likelihood_ == Likelihood::regression)
        t.log_likelihood = ad::sub(ad::mul(h, -loss_), ad::mul(ad::add(ad::log(sigma), 0.5 * kLog2Pi), N * C));
    else
        t.log_likelihood = Tensor::scalar(-loss_ / temperature_);
    Tensor ratio = ad::sub(t.log_det_posterior_precision, t.log_det_prior_precision);
    t.lml = ad::sub(t.log_likelihood, ad::mul(ad::add(ratio, t.scatter), 0.5));
    return t;
}

Tensor Laplace::log_marginal_likelihood(const Tensor& prior_precision, const Tensor& sigma_noise) const {
    return lml_terms(prior_precision, sigma_noise).lml;
}

double Laplace::log_likelihood() const {
    ad::NoGrad ng;
    return lml_terms(tau_tensor(), sigma_tensor()).log_likelihood.item();
}
double Laplace::log_det_prior_precision() const {
    ad::NoGrad ng;
    return lml_terms(tau_tensor(), sigma_tensor()).log_det_prior_precision.item();
}
double Laplace::log_det_posterior_precision() const {
    ad::NoGrad ng;
    return lml_terms(tau_tensor(), sigma_tensor()).log_det_posterior_precision.item();
}
double Laplace::log_det_ratio() const {
    ad::NoGrad ng;
    LmlTerms t = lml_terms(tau_tensor(), sigma_tensor());
    return t.log_det_posterior_precision.item() - t.log_det_prior_precision.item();
}
double Laplace::scatter() const {
    ad::NoGrad ng;
    return lml_terms(tau_tensor(), sigma_tensor()).scatter.item();
}
double Laplace::log_marginal_likelihood() const {
    ad::NoGrad ng;
    return lml_terms(tau_tensor(), sigma_tensor()).lml.item();
}

// ----------------------------------------------------------------------------- posterior

Tensor Laplace::dense_posterior(bool inverse) const {
    ad::NoGrad ng;
    Tensor h = h_of(sigma_tensor());
    if (structure_ == HessianStructure::full) {
        Tensor post = ad::add(ad::mul(H_.full, h), ad::diag(expand_prior_precision(prior_precision_, "laplace")));
        if (!inverse) return post;
        Tensor L;
        try {
            L = ad::cholesky(post);
        } catch (const ad::Error&) {
            AD_FAIL("laplace: posterior_covariance: expected a positive-definite posterior precision, got a singular one"
                    << kSingularHint);
        }
        Tensor S = ad::cholesky_solve(eye(n_params_), L);
        return ad::mul(ad::add(S, ad::transpose(S)), 0.5);  // exactly symmetric
    }
    // Kron: block diagonal, block = Q diag(lambda^{+-1}) Q^T.
    std::vector<Tensor> lams = kron_posterior_eigenvalues(prior_precision_, sigma_tensor());
    Tensor D = Tensor::zeros({n_params_, n_params_});
    for (size_t b = 0; b < layout_.size(); ++b) {
        Tensor Q = kron_block_vectors(b);
        Tensor lam = inverse ? ad::div(Tensor::scalar(1.0), lams[b]) : lams[b];
        const long m = lam.numel(), o = offsets_[b];
        Tensor blk = ad::matmul_nt(ad::mul(Q, ad::reshape(lam, {1, m})), Q);
        for (long i = 0; i < m; ++i)
            for (long j = 0; j < m; ++j) D.data()[(o + i) * n_params_ + o + j] = blk[i * m + j];
    }
    return D;
}

Tensor Laplace::posterior_precision() const {
    require_fit("posterior_precision");
    if (structure_ != HessianStructure::diag) return dense_posterior(false);
    ad::NoGrad ng;
    return ad::add(ad::mul(H_.diag, h_of(sigma_tensor())), expand_prior_precision(prior_precision_, "laplace"));
}

Tensor Laplace::posterior_covariance() const {
    require_fit("posterior_covariance");
    // Cached until the curvature or a hyperparameter changes: every predictive call needs it.
    if (cov_valid_) return cov_cache_;
    cov_cache_ = posterior_covariance_uncached();
    cov_valid_ = true;
    return cov_cache_;
}

Tensor Laplace::posterior_covariance_uncached() const {
    if (structure_ != HessianStructure::diag) return dense_posterior(true);
    Tensor post = posterior_precision();
    Tensor out = Tensor::empty({n_params_});
    for (long i = 0; i < n_params_; ++i) {
        AD_CHECK(post[i] > 0.0, "laplace: posterior_covariance: expected a positive posterior precision, got "
                                    << post[i] << " at parameter " << i << kSingularHint);
        out.data()[i] = 1.0 / post[i];
    }
    return out;
}

// theta_s = theta_MAP + z_s with z_s ~ N(0, P_post^-1), from eps [S, P] ~ N(0, I) (row s = draw s):
//   Full  P_post = L L^T:  z = L^-T eps            (Cov = L^-T L^-1 = P_post^-1)
//   Kron  block = Q diag(lambda) Q^T:  z = Q diag(lambda^-1/2) eps; for a weight block
//         Q = Q_B (x) Q_A, applied as Q_B Z Q_A^T to Z [out, in] (never forming the Kronecker product)
//   Diag  z = eps / sqrt(P_post)
Tensor Laplace::sample(long n_samples, uint64_t seed) const {
    require_fit("sample");
    AD_CHECK(n_samples > 0, "laplace: sample: expected n_samples > 0, got " << n_samples);
    ad::NoGrad ng;
    const long S = n_samples, P = n_params_;
    Tensor eps = ad::Rng(seed).normal({S, P});
    Tensor z;
    switch (structure_) {
        case HessianStructure::full: {
            Tensor L;
            try {
                L = ad::cholesky(dense_posterior(false));
            } catch (const ad::Error&) {
                AD_FAIL("laplace: sample: expected a positive-definite posterior precision, got a singular one"
                        << kSingularHint);
            }
            // L^T Z^T = eps^T, one right-hand side per sample
            z = ad::transpose(ad::triangular_solve(ad::transpose(eps), L, ad::Triangle::lower, ad::Transpose::yes));
            break;
        }
        case HessianStructure::diag: {
            Tensor v = posterior_covariance();  // [P], checked positive
            z = ad::mul(eps, ad::reshape(ad::sqrt(v), {1, P}));
            break;
        }
        case HessianStructure::kron: {
            const auto& eig = kron_eigen();
            std::vector<Tensor> lams = kron_posterior_eigenvalues(prior_precision_, sigma_tensor());
            std::vector<Tensor> parts;
            for (size_t b = 0; b < layout_.size(); ++b) {
                const long m = lams[b].numel(), o = offsets_[b];
                Tensor zb = ad::mul(ad::slice(eps, 1, o, o + m), ad::reshape(ad::pow(lams[b], -0.5), {1, m}));  // [S, m]
                const Tensor& QB = eig[b].vectors[0];
                if (eig[b].vectors.size() == 1) {
                    parts.push_back(ad::matmul_nt(zb, QB));  // rows: Q_B z
                    continue;
                }
                const Tensor& QA = eig[b].vectors[1];
                const long out = QB.dim(0), in = QA.dim(0);
                Tensor Y = ad::matmul_nt(ad::reshape(zb, {S * out, in}), QA);                    // Z Q_A^T
                Y = ad::permute(ad::reshape(Y, {S, out, in}), {0, 2, 1});                        // [S, in, out]
                Y = ad::matmul_nt(ad::reshape(Y, {S * in, out}), QB);                            // (Q_B Z Q_A^T)^T
                parts.push_back(ad::reshape(ad::permute(ad::reshape(Y, {S, in, out}), {0, 2, 1}), {S, m}));
            }
            z = parts.size() == 1 ? parts[0] : ad::concat(parts, 1);
            break;
        }
    }
    return ad::add(z, ad::reshape(mean_, {1, P}));
}

double Laplace::log_prob(const Tensor& value, Normalized normalized) const {
    require_fit("log_prob");
    AD_CHECK(value.numel() == n_params_, "laplace: log_prob: expected a value [" << n_params_ << "], got " << value.shape());
    ad::NoGrad ng;
    Tensor d = ad::sub(ad::reshape(value.detach(), {n_params_}), mean_);
    Tensor post = posterior_precision();
    double quad = structure_ == HessianStructure::diag
                      ? ad::sum(ad::mul(post, ad::square(d))).item()
                      : ad::sum(ad::mul(d, ad::reshape(ad::matmul(post, ad::reshape(d, {n_params_, 1})), {n_params_}))).item();
    double lp = -0.5 * quad;
    if (normalized == Normalized::yes) lp += -0.5 * n_params_ * kLog2Pi + 0.5 * log_det_posterior_precision();
    return lp;
}

Tensor Laplace::functional_variance(const Tensor& J) const {
    require_fit("functional_variance");
    AD_CHECK(J.ndim() == 3 && J.dim(2) == n_params_,
             "laplace: functional_variance: expected J [n, C, " << n_params_ << "], got " << J.shape());
    ad::NoGrad ng;
    const long n = J.dim(0), C = J.dim(1);
    Tensor Jt = ad::permute(J, {0, 2, 1});  // [n, P, C]
    if (structure_ == HessianStructure::diag)
        return ad::matmul(ad::mul(J, ad::reshape(posterior_covariance(), {1, 1, n_params_})), Jt);
    Tensor JS = ad::reshape(ad::matmul(ad::reshape(J, {n * C, n_params_}), posterior_covariance()), {n, C, n_params_});
    return ad::matmul(JS, Jt);
}

Tensor Laplace::functional_covariance(const Tensor& J) const {
    require_fit("functional_covariance");
    AD_CHECK(J.ndim() == 2 && J.dim(1) == n_params_,
             "laplace: functional_covariance: expected J [m, " << n_params_ << "], got " << J.shape());
    ad::NoGrad ng;
    if (structure_ == HessianStructure::diag)
        return ad::matmul_nt(ad::mul(J, ad::reshape(posterior_covariance(), {1, n_params_})), J);
    return ad::matmul_nt(ad::matmul(J, posterior_covariance()), J);
}

// ----------------------------------------------------------------------------- marglik

// Adam on log tau (so tau stays positive), minimising -lml(tau, sigma) at fixed sigma; the
// prior starts at init_prior_prec, expanded to 1, n_tensors or P entries.
Tensor Laplace::optimize_prior_precision_marglik(const MarglikOptions& options) {
    require_fit("optimize_prior_precision");
    AD_CHECK(options.n_steps >= 0 && options.lr > 0 && std::isfinite(options.lr),
             "laplace: optimize_prior_precision: expected n_steps >= 0 and lr > 0, got " << options.n_steps << " and "
                                                                                         << options.lr);
    AD_CHECK(std::isfinite(options.init_prior_prec) && options.init_prior_prec > 0,
             "laplace: optimize_prior_precision: expected init_prior_prec > 0, got " << options.init_prior_prec);
    const long n = options.prior_structure == PriorStructure::scalar      ? 1
                   : options.prior_structure == PriorStructure::layerwise ? static_cast<long>(layout_.size())
                                                                          : n_params_;
    Tensor log_tau = Tensor::full({n}, std::log(options.init_prior_prec));
    expand_prior_precision(log_tau, "laplace: optimize_prior_precision");  // Kron + diagonal -> error
    log_tau.set_requires_grad(true);
    nn::Adam adam({log_tau}, options.lr);
    Tensor sigma = sigma_tensor();
    // Many evaluations ahead: with a scalar prior and Full curvature, one eigendecomposition of H
    // makes each log det O(P) (see lml_terms).
    if (structure_ == HessianStructure::full && n == 1 && options.n_steps > 1) full_eigenvalues();
    for (long step = 0; step < options.n_steps; ++step) {
        adam.zero_grad();
        Tensor neg = ad::neg(log_marginal_likelihood(ad::exp(log_tau), sigma));
        log_tau.set_grad(ad::grad(neg, {log_tau}, ad::CreateGraph::no)[0]);
        adam.step();
    }
    ad::NoGrad ng;
    set_prior_precision(ad::exp(log_tau.detach()));
    return prior_precision_;
}

// ----------------------------------------------------------------------------- persistence

namespace {
const char* kFormat = "atomgrad.uq.laplace";
const char* kFormatVersion = "1";
}  // namespace

nn::Checkpoint Laplace::to_checkpoint() const {
    require_fit("to_checkpoint");
    nn::Checkpoint c;
    c.metadata["format"] = kFormat;
    c.metadata["format_version"] = kFormatVersion;
    c.metadata["likelihood"] = to_string(likelihood_);
    c.metadata["structure"] = to_string(structure_);
    std::ostringstream lay;
    for (size_t b = 0; b < layout_.size(); ++b) {
        lay << (b ? ";" : "") << layout_[b].name << ":";
        for (size_t k = 0; k < layout_[b].shape.size(); ++k) lay << (k ? "," : "") << layout_[b].shape[k];
    }
    c.metadata["layout"] = lay.str();
    // Numbers as float64 tensors, not text, so that the round trip is exact.
    c.tensors.emplace_back("mean", mean_);
    c.tensors.emplace_back("prior_precision", prior_precision_);
    c.tensors.emplace_back("prior_mean", prior_mean_);
    c.tensors.emplace_back("scalars", ad::tensor({sigma_noise_, temperature_, loss_, static_cast<double>(n_data_),
                                                  static_cast<double>(n_outputs_)}));
    if (structure_ == HessianStructure::full) c.tensors.emplace_back("H", H_.full);
    if (structure_ == HessianStructure::diag) c.tensors.emplace_back("H", H_.diag);
    if (structure_ == HessianStructure::kron)
        for (size_t b = 0; b < H_.kron.size(); ++b)
            for (size_t k = 0; k < H_.kron[b].size(); ++k)
                c.tensors.emplace_back("H.kron." + std::to_string(b) + "." + std::to_string(k), H_.kron[b][k]);
    return c;
}

void Laplace::restore(const nn::Checkpoint& c) {
    AD_CHECK(c.meta("format") == kFormat, c.path << ": expected a Laplace checkpoint (format '" << kFormat << "'), got '"
                                                 << c.meta("format") << "'");
    AD_CHECK(c.meta("format_version") == kFormatVersion, c.path << ": expected Laplace format_version "
                                                                << kFormatVersion << ", got " << c.meta("format_version"));
    AD_CHECK(parse_likelihood(c.meta("likelihood")) == likelihood_ &&
                 parse_hessian_structure(c.meta("structure")) == structure_,
             c.path << ": likelihood/structure do not match the object being restored");
    AD_CHECK(c.get("mean").numel() == n_params_, c.path << ": expected mean [" << n_params_ << "], got "
                                                        << c.get("mean").shape());
    mean_ = c.get("mean").clone();
    Tensor s = c.get("scalars");
    AD_CHECK(s.numel() == 5, c.path << ": expected 'scalars' [5], got " << s.shape());
    set_sigma_noise(s[0]);
    set_temperature(s[1]);
    set_prior_precision(c.get("prior_precision"));
    set_prior_mean(c.get("prior_mean"));
    reset_fit();
    Curvature H;
    if (structure_ == HessianStructure::full) H.full = c.get("H");
    if (structure_ == HessianStructure::diag) H.diag = c.get("H");
    if (structure_ == HessianStructure::kron)
        for (size_t b = 0; b < layout_.size(); ++b) {
            H.kron.emplace_back();
            for (size_t k = 0; k < layout_[b].shape.size(); ++k)
                H.kron.back().push_back(c.get("H.kron." + std::to_string(b) + "." + std::to_string(k)));
        }
    add_curvature(H, s[2], static_cast<long>(s[3]));
}

}  // namespace uq
