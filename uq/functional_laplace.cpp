// GP view of the linearised Laplace on a data subset (formulas in functional_laplace.hpp and
// docs/uq.md).
#include "uq/functional_laplace.hpp"

#include <cmath>
#include <set>

#include "autodiff/graph.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "nn/optim.hpp"
#include "uq/likelihood.hpp"

namespace uq {

using ad::Tensor;
using ad::operator<<;

namespace {

constexpr double kLog2Pi = 1.8378770664093454835606594728112;  // log(2 pi)
// laplace-torch's jitter of the classification scatter kernel: s K has rank <= P < M C.
constexpr double kScatterJitter = 1e-5;
// laplace-torch's replacement of an infinite noise 1/(h Lambda) (Lambda = 0 where p is 0 or 1).
constexpr double kInfiniteNoise = 10.0;

Tensor select_block(const Tensor& K, const std::vector<long>& rows) {
    return ad::index_select(ad::index_select(K, 0, rows), 1, rows);
}

}  // namespace

// ----------------------------------------------------------------------------- FunctionalLaplace

FunctionalLaplace::FunctionalLaplace(Tensor theta_map, long n_outputs, FunctionalOptions o)
    : n_outputs_(n_outputs),
      likelihood_(o.likelihood),
      n_subset_option_(o.n_subset),
      given_subset_(std::move(o.subset_indices)),
      seed_(o.seed),
      independent_(o.independent_outputs) {
    AD_CHECK(theta_map.defined() && theta_map.ndim() == 1 && theta_map.numel() > 0,
             "functional_laplace: expected theta_MAP [P], got " << (theta_map.defined() ? theta_map.shape() : ad::Shape{}));
    AD_CHECK(n_outputs > 0, "functional_laplace: expected n_outputs > 0, got " << n_outputs);
    AD_CHECK(o.n_subset >= 0, "functional_laplace: expected n_subset >= 0 (0: all points), got " << o.n_subset);
    mean_ = theta_map.detach().clone();
    set_sigma_noise(o.sigma_noise);
    set_temperature(o.temperature);
    set_prior_precision(o.prior_precision);
    set_prior_mean(o.prior_mean.defined() ? o.prior_mean : ad::tensor({0.0}));
}

void FunctionalLaplace::set_prior_precision(double tau) {
    AD_CHECK(std::isfinite(tau) && tau > 0, "functional_laplace: expected a finite scalar prior precision > 0, got " << tau);
    tau_ = tau;
}

void FunctionalLaplace::set_prior_mean(const Tensor& m) {
    AD_CHECK(m.defined() && (m.numel() == 1 || (m.ndim() == 1 && m.numel() == n_params())),
             "functional_laplace: expected a prior mean of shape [1] or [" << n_params() << "], got " << m.shape());
    prior_mean_ = m.numel() == 1 ? Tensor::full({n_params()}, m.detach()[0]) : m.detach().clone();
}

void FunctionalLaplace::set_sigma_noise(double sigma) {
    AD_CHECK(std::isfinite(sigma) && sigma > 0, "functional_laplace: expected a finite sigma_noise > 0, got " << sigma);
    AD_CHECK(likelihood_ == Likelihood::regression || sigma == 1.0,
             "functional_laplace: expected sigma_noise = 1 for classification, got " << sigma);
    sigma_ = sigma;
}

void FunctionalLaplace::set_temperature(double T) {
    AD_CHECK(std::isfinite(T) && T > 0, "functional_laplace: expected a finite temperature > 0, got " << T);
    temperature_ = T;
    eigen_.clear();  // D = h Lambda depends on T
}

std::vector<long> FunctionalLaplace::choose_subset(long N) const {
    AD_CHECK(N > 0, "functional_laplace: expected at least one training point, got " << N);
    if (!given_subset_.empty()) {
        AD_CHECK(n_subset_option_ == 0 || n_subset_option_ == static_cast<long>(given_subset_.size()),
                 "functional_laplace: expected " << n_subset_option_ << " subset indices (n_subset), got "
                                                 << given_subset_.size());
        std::set<long> seen;
        for (long i : given_subset_) {
            AD_CHECK(i >= 0 && i < N, "functional_laplace: expected subset indices in [0, " << N << "), got " << i);
            AD_CHECK(seen.insert(i).second, "functional_laplace: expected distinct subset indices, got " << i << " twice");
        }
        return given_subset_;
    }
    const long M = n_subset_option_ > 0 ? n_subset_option_ : N;
    AD_CHECK(M <= N, "functional_laplace: expected n_subset <= N = " << N << ", got " << M);
    ad::Rng rng(seed_);
    std::vector<long> perm = rng.permutation(N);
    perm.resize(M);
    return perm;
}

void FunctionalLaplace::fit_subset(const Tensor& J, const Tensor& f, const Tensor& targets, long N,
                                   std::vector<long> indices) {
    ad::NoGrad ng;
    const long C = n_outputs_, P = n_params();
    AD_CHECK(J.defined() && J.ndim() == 3 && J.dim(1) == C && J.dim(2) == P && J.dim(0) > 0,
             "functional_laplace: fit: expected J [M, " << C << ", " << P << "], got "
                                                        << (J.defined() ? J.shape() : ad::Shape{}));
    const long M = J.dim(0);
    AD_CHECK(f.defined() && f.shape() == ad::Shape({M, C}),
             "functional_laplace: fit: expected outputs f [" << M << ", " << C << "], got "
                                                            << (f.defined() ? f.shape() : ad::Shape{}));
    AD_CHECK(N >= M, "functional_laplace: fit: expected N >= M = " << M << ", got " << N);
    AD_CHECK(static_cast<long>(indices.size()) == M,
             "functional_laplace: fit: expected " << M << " subset indices, got " << indices.size());
    Tensor y = check_targets(likelihood_, targets, M, C, "functional_laplace: fit");
    OutputHessian oh = output_hessian(likelihood_, f, y);
    J_ = ad::reshape(J.detach(), {M * C, P}).clone();
    K_ = ad::matmul_nt(J_, J_);
    K_ = ad::mul(ad::add(K_, ad::transpose(K_)), 0.5);  // exactly symmetric
    lambda_ = Tensor::empty({M * C});
    for (long m = 0; m < M; ++m)
        for (long c = 0; c < C; ++c) lambda_.data()[m * C + c] = oh.Lambda[(m * C + c) * C + c];
    residual_ = likelihood_ == Likelihood::regression ? ad::reshape(ad::sub(y, f.detach()), {M * C}) : Tensor::zeros({M * C});
    loss_ = oh.loss;
    N_ = N;
    subset_ = std::move(indices);
    eigen_.clear();
    fitted_ = true;
}

void FunctionalLaplace::require_fit(const char* where) const {
    AD_CHECK(fitted_, "functional_laplace: " << where << ": expected a fitted Laplace approximation, got one before "
                                                         "fit(); call fit first");
}

double FunctionalLaplace::loss() const {
    require_fit("loss");
    return loss_;
}

std::vector<std::vector<long>> FunctionalLaplace::output_blocks() const {
    const long M = n_subset(), C = n_outputs_;
    std::vector<std::vector<long>> blocks;
    if (!independent_) {
        blocks.emplace_back();
        for (long r = 0; r < M * C; ++r) blocks.back().push_back(r);
        return blocks;
    }
    for (long c = 0; c < C; ++c) {
        blocks.emplace_back();
        for (long m = 0; m < M; ++m) blocks.back().push_back(m * C + c);
    }
    return blocks;
}

// Eigenvalues of K_b are >= 0 up to rounding (-1e-13 where K is rank-deficient: rank <= P < M C);
// they enter only as s k + sigma^2, 1 + s k_hat or s k + 1e-5, which stay positive.
const std::vector<FunctionalLaplace::BlockEigen>& FunctionalLaplace::block_eigen() const {
    if (!eigen_.empty()) return eigen_;
    ad::NoGrad ng;
    const double h = 1.0 / (sigma_ * sigma_ * temperature_);
    for (auto& rows : output_blocks()) {
        BlockEigen e;
        e.rows = rows;
        Tensor K = select_block(K_, rows);
        auto kq = ad::eigh(K);
        e.k = kq.first;
        e.Q = kq.second;
        if (likelihood_ == Likelihood::classification) {
            Tensor d = ad::sqrt(ad::mul(ad::index_select(lambda_, 0, rows), h));
            e.k_hat = ad::eigh(ad::mul(K, ad::outer(d, d))).first;
        }
        eigen_.push_back(std::move(e));
    }
    return eigen_;
}

// With K_b = Q diag(k) Q^T (Q constant, so no eigenvector derivatives) and mu~ = Q^T mu_b:
//   regression:     log det(s K + sigma^2 I) = sum log(s k + sigma^2),
//                   mu^T (s K + sigma^2 I)^-1 mu = sum mu~^2 / (s k + sigma^2)
//   classification: log det(I + s D^1/2 K D^1/2) = sum log(1 + s k_hat),
//                   mu^T (s K + 1e-5 I)^-1 mu = sum mu~^2 / (s k + 1e-5)
// (D = diag(h Lambda) with h = 1/T since sigma = 1, so k_hat is constant too.) Each lml is then
// O(M C) elementwise ops, which keeps Adam on log tau cheap.
FunctionalLmlTerms FunctionalLaplace::lml_terms(const Tensor& prior_precision, const Tensor& sigma_noise) const {
    require_fit("log_marginal_likelihood");
    const char* where = "functional_laplace: log_marginal_likelihood";
    AD_CHECK(prior_precision.defined() && prior_precision.numel() == 1 && prior_precision.ndim() <= 1,
             where << ": expected a scalar prior precision of shape [] or [1], got "
                   << (prior_precision.defined() ? prior_precision.shape() : ad::Shape{})
                   << "; the GP view has one prior variance");
    AD_CHECK(std::isfinite(prior_precision.item()) && prior_precision.item() > 0,
             where << ": expected a finite prior precision > 0, got " << prior_precision.item());
    AD_CHECK(sigma_noise.defined() && sigma_noise.numel() == 1,
             where << ": expected sigma_noise of shape [] or [1], got " << sigma_noise.shape());
    const double sv = sigma_noise.item();
    AD_CHECK(std::isfinite(sv) && sv > 0, where << ": expected a finite sigma_noise > 0, got " << sv);
    AD_CHECK(likelihood_ == Likelihood::regression || sv == 1.0,
             where << ": expected sigma_noise = 1 for classification, got " << sv);
    const bool reg = likelihood_ == Likelihood::regression;
    const double M = static_cast<double>(n_subset()), N = static_cast<double>(N_), C = static_cast<double>(n_outputs_);
    Tensor sigma = ad::reshape(sigma_noise, {});
    Tensor s = ad::div(Tensor::scalar(M / N), ad::reshape(prior_precision, {}));  // kernel scale (M/N)/tau
    Tensor h = ad::div(Tensor::scalar(1.0 / temperature_), ad::square(sigma));
    // mu = J (theta_MAP - mu_0) (+ y - f for regression)  [M C], a constant
    Tensor mu;
    {
        ad::NoGrad ng;
        mu = ad::add(residual_, ad::reshape(ad::matmul(J_, ad::reshape(ad::sub(mean_, prior_mean_), {n_params(), 1})), {-1}));
    }
    FunctionalLmlTerms t;
    for (const auto& e : block_eigen()) {
        Tensor mu_t;  // Q^T mu_b
        {
            ad::NoGrad ng;
            mu_t = ad::reshape(ad::matmul_tn(e.Q, ad::reshape(ad::index_select(mu, 0, e.rows), {-1, 1})), {-1});
        }
        Tensor ratio, scatter;
        if (reg) {
            Tensor lam = ad::add(ad::mul(e.k, s), ad::square(sigma));  // eigenvalues of s K + sigma^2 I
            ratio = ad::sum(ad::log(lam));
            scatter = ad::sum(ad::div(ad::square(mu_t), lam));
        } else {
            ratio = ad::sum(ad::log(ad::add(ad::mul(e.k_hat, s), 1.0)));
            scatter = ad::sum(ad::div(ad::square(mu_t), ad::add(ad::mul(e.k, s), kScatterJitter)));
        }
        t.log_det_ratio = t.log_det_ratio.defined() ? ad::add(t.log_det_ratio, ratio) : ratio;
        t.scatter = t.scatter.defined() ? ad::add(t.scatter, scatter) : scatter;
    }
    // As uq::Laplace: -h loss - N C log(sigma sqrt(2 pi)) (regression), -loss / T (classification).
    if (reg)
        t.log_likelihood = ad::sub(ad::mul(h, -loss_), ad::mul(ad::add(ad::log(sigma), 0.5 * kLog2Pi), N * C));
    else
        t.log_likelihood = Tensor::scalar(-loss_ / temperature_);
    t.lml = ad::sub(t.log_likelihood, ad::mul(ad::add(t.log_det_ratio, t.scatter), 0.5));
    return t;
}

Tensor FunctionalLaplace::log_marginal_likelihood(const Tensor& prior_precision, const Tensor& sigma_noise) const {
    return lml_terms(prior_precision, sigma_noise).lml;
}

double FunctionalLaplace::log_likelihood() const {
    ad::NoGrad ng;
    return lml_terms(Tensor::scalar(tau_), Tensor::scalar(sigma_)).log_likelihood.item();
}
double FunctionalLaplace::log_det_ratio() const {
    ad::NoGrad ng;
    return lml_terms(Tensor::scalar(tau_), Tensor::scalar(sigma_)).log_det_ratio.item();
}
double FunctionalLaplace::scatter() const {
    ad::NoGrad ng;
    return lml_terms(Tensor::scalar(tau_), Tensor::scalar(sigma_)).scatter.item();
}
double FunctionalLaplace::log_marginal_likelihood() const {
    ad::NoGrad ng;
    return lml_terms(Tensor::scalar(tau_), Tensor::scalar(sigma_)).lml.item();
}

// As Laplace::optimize_prior_precision_marglik: Adam on log tau, minimising -lml at fixed sigma.
double FunctionalLaplace::optimize_prior_precision_marglik(const MarglikOptions& o) {
    require_fit("optimize_prior_precision");
    AD_CHECK(o.prior_structure == PriorStructure::scalar,
             "functional_laplace: optimize_prior_precision: expected prior_structure scalar, got a layerwise or "
             "diagonal one; the GP view has one prior variance");
    AD_CHECK(o.n_steps >= 0 && std::isfinite(o.lr) && o.lr > 0,
             "functional_laplace: optimize_prior_precision: expected n_steps >= 0 and lr > 0, got " << o.n_steps
                                                                                                    << " and " << o.lr);
    AD_CHECK(std::isfinite(o.init_prior_prec) && o.init_prior_prec > 0,
             "functional_laplace: optimize_prior_precision: expected init_prior_prec > 0, got " << o.init_prior_prec);
    Tensor log_tau = Tensor::full({1}, std::log(o.init_prior_prec)).set_requires_grad(true);
    nn::Adam adam({log_tau}, o.lr);
    const Tensor sigma = Tensor::scalar(sigma_);
    for (long k = 0; k < o.n_steps; ++k) {
        adam.zero_grad();
        Tensor neg = ad::neg(log_marginal_likelihood(ad::exp(log_tau), sigma));
        log_tau.set_grad(ad::grad(neg, {log_tau}, ad::CreateGraph::no)[0]);
        adam.step();
    }
    set_prior_precision(std::exp(log_tau[0]));
    return tau_;
}

// Per GP block (all outputs jointly, or one output): with the noise v = 1/(h Lambda) (10 where
// infinite) and L L^T = s K_MM + diag(v),  V = L^-1 K~M*,  f_var = K~** - V^T V.
Tensor FunctionalLaplace::functional_variance(const Tensor& Jin) const {
    require_fit("functional_variance");
    const long C = n_outputs_, P = n_params();
    AD_CHECK(Jin.defined() && Jin.ndim() == 3 && Jin.dim(1) == C && Jin.dim(2) == P,
             "functional_laplace: functional_variance: expected J [n, " << C << ", " << P << "], got "
                                                                        << (Jin.defined() ? Jin.shape() : ad::Shape{}));
    ad::NoGrad ng;
    const long n = Jin.dim(0);
    const double s = double(n_subset()) / double(N_) / tau_, h = 1.0 / (sigma_ * sigma_ * temperature_);
    Tensor Js = ad::reshape(Jin.detach(), {n * C, P});
    Tensor noise = Tensor::empty({lambda_.numel()});
    for (long r = 0; r < lambda_.numel(); ++r) {
        const double v = 1.0 / (h * lambda_[r]);
        noise.data()[r] = std::isfinite(v) ? v : kInfiniteNoise;
    }
    Tensor f_var = Tensor::zeros({n, C, C});
    for (const auto& rows : output_blocks()) {
        const long m = static_cast<long>(rows.size());
        Tensor A = ad::add(ad::mul(select_block(K_, rows), s), ad::diag(ad::index_select(noise, 0, rows)));
        Tensor L;
        try {
            L = ad::cholesky(A);
        } catch (const ad::Error&) {
            AD_FAIL("functional_laplace: functional_variance: expected a positive-definite s K + diag(1/(h Lambda)), "
                    "got a singular one");
        }
        // Test rows of this block: all n C (joint) or those of output c (independent).
        std::vector<long> test_rows;
        const long c0 = independent_ ? rows[0] % C : -1;
        for (long i = 0; i < n; ++i)
            for (long c = 0; c < C; ++c)
                if (!independent_ || c == c0) test_rows.push_back(i * C + c);
        const long k = independent_ ? 1 : C;
        Tensor Jt = ad::index_select(Js, 0, test_rows);                                  // [n k, P]
        Tensor KtM = ad::mul(ad::matmul_nt(ad::index_select(J_, 0, rows), Jt), s);      // [m, n k]
        Tensor V = ad::triangular_solve(KtM, L, ad::Triangle::lower);                    // [m, n k]
        Tensor Vb = ad::reshape(ad::transpose(V), {n, k, m});
        Tensor Jb = ad::reshape(Jt, {n, k, P});
        Tensor blk = ad::sub(ad::mul(ad::matmul(Jb, ad::permute(Jb, {0, 2, 1})), s), ad::matmul(Vb, ad::permute(Vb, {0, 2, 1})));
        for (long i = 0; i < n; ++i)
            for (long a = 0; a < k; ++a)
                for (long b = 0; b < k; ++b) {
                    const long ca = independent_ ? c0 : a, cb = independent_ ? c0 : b;
                    f_var.data()[(i * C + ca) * C + cb] = blk[(i * k + a) * k + b];
                }
    }
    return f_var;
}

// ----------------------------------------------------------------------------- FunctionalLLLaplace

namespace {

Tensor ll_theta(const Tensor& W, const Tensor& b) {
    AD_CHECK(W.defined() && W.ndim() == 2, "functional_ll_laplace: expected W [C, D], got "
                                               << (W.defined() ? W.shape() : ad::Shape{}));
    ad::NoGrad ng;
    Tensor w = ad::reshape(W.detach(), {W.numel()});
    return b.defined() ? ad::concat({w, ad::reshape(b.detach(), {b.numel()})}, 0) : w.clone();
}

LaplaceOptions ll_options(const FunctionalOptions& o) {
    LaplaceOptions lo;
    lo.likelihood = o.likelihood;
    return lo;
}

}  // namespace

FunctionalLLLaplace::FunctionalLLLaplace(const Tensor& W, const Tensor& b, FunctionalOptions options)
    : FunctionalLaplace(ll_theta(W, b), W.dim(0), options), ll_(W, b, ll_options(options)) {}

FunctionalLLLaplace FunctionalLLLaplace::from_mlp(const nn::MLP& mlp, FunctionalOptions options) {
    const nn::Linear& last = mlp.last_layer();
    return FunctionalLLLaplace(last.weight(), last.has_bias() ? last.bias() : Tensor(), std::move(options));
}

void FunctionalLLLaplace::fit(const Tensor& phi, const Tensor& f, const Tensor& targets) {
    AD_CHECK(phi.defined() && phi.ndim() == 2 && phi.dim(1) == ll_.n_features(),
             "functional_ll_laplace: fit: expected features phi [N, " << ll_.n_features() << "], got "
                                                                      << (phi.defined() ? phi.shape() : ad::Shape{}));
    const long N = phi.dim(0), C = n_outputs();
    AD_CHECK(f.defined() && f.shape() == ad::Shape({N, C}),
             "functional_ll_laplace: fit: expected outputs f [" << N << ", " << C << "], got "
                                                                << (f.defined() ? f.shape() : ad::Shape{}));
    Tensor y = check_targets(likelihood(), targets, N, C, "functional_ll_laplace: fit");
    std::vector<long> idx = choose_subset(N);
    ad::NoGrad ng;
    Tensor phi_M = ad::index_select(phi.detach(), 0, idx);
    fit_subset(ll_.jacobian(phi_M), ad::index_select(f.detach(), 0, idx), ad::index_select(y, 0, idx), N, idx);
}

void FunctionalLLLaplace::fit(const Tensor& phi, const Tensor& targets) { fit(phi, ll_.f_mu(phi), targets); }

GlmPredictive FunctionalLLLaplace::glm_predictive(const Tensor& phi, OutputCovariance cov) const {
    require_fit("glm_predictive");
    AD_CHECK(cov != OutputCovariance::joint,
             "functional_ll_laplace: glm_predictive: expected OutputCovariance full or diagonal, got joint; the GP "
             "view gives per-point covariances");
    GlmPredictive g;
    g.f_mu = ll_.f_mu(phi);
    g.f_var = functional_variance(ll_.jacobian(phi));
    if (cov == OutputCovariance::diagonal) {
        const long n = g.f_mu.dim(0), C = n_outputs();
        Tensor d = Tensor::empty({n, C});
        for (long i = 0; i < n; ++i)
            for (long c = 0; c < C; ++c) d.data()[i * C + c] = g.f_var[(i * C + c) * C + c];
        g.f_var = d;
    }
    return g;
}

Tensor FunctionalLLLaplace::predict_probs(const Tensor& phi, LinkApprox link, long n_samples, uint64_t seed) const {
    AD_CHECK(likelihood() == Likelihood::classification,
             "functional_ll_laplace: predict_probs: expected a classification Laplace, got regression; use glm_predictive");
    GlmPredictive g = glm_predictive(phi);
    return link == LinkApprox::mc ? mc_probs(g.f_mu, g.f_var, n_samples, seed) : link_probs(link, g.f_mu, g.f_var);
}

}  // namespace uq
