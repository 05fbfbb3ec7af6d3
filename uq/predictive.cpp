// Link approximations for classification and predictive NLLs (formulas in predictive.hpp).
#include "uq/predictive.hpp"

#include <algorithm>
#include <cmath>

#include "autodiff/random.hpp"

namespace uq {

ad::Tensor output_diagonal(const ad::Tensor& f_var) {
    AD_CHECK(f_var.ndim() == 3 && f_var.dim(1) == f_var.dim(2),
             "output_diagonal: expected f_var [n, C, C], got " << f_var.shape());
    const long n = f_var.dim(0), C = f_var.dim(1);
    ad::Tensor d = ad::Tensor::empty({n, C});
    for (long i = 0; i < n; ++i)
        for (long c = 0; c < C; ++c) d.data()[i * C + c] = f_var[(i * C + c) * C + c];
    return d;
}

using ad::Tensor;
using ad::operator<<;

namespace {

constexpr double kPi = 3.14159265358979323846;

void check_shapes(const Tensor& f_mu, const Tensor& f_var, const char* where) {
    AD_CHECK(f_mu.ndim() == 2 && f_var.ndim() == 3 && f_var.dim(0) == f_mu.dim(0) && f_var.dim(1) == f_mu.dim(1) &&
                 f_var.dim(2) == f_mu.dim(1),
             where << ": expected f_mu [n, C] and f_var [n, C, C], got " << f_mu.shape() << " and " << f_var.shape());
}

// p = softmax(z) of one row, max subtracted (exp never overflows).
void softmax_row(const double* z, long C, double* p) {
    double m = z[0];
    for (long c = 1; c < C; ++c) m = std::max(m, z[c]);
    double s = 0;
    for (long c = 0; c < C; ++c) s += (p[c] = std::exp(z[c] - m));
    for (long c = 0; c < C; ++c) p[c] /= s;
}

// Laplace bridge of one point (Hobbhahn et al. 2022, Eq. 11, with laplace-torch's correction):
//   s = V 1, t = 1^T V 1;  mu <- mu - s (1^T mu) / t;  V <- V - s s^T / t
//   (norm) vbar = mean(diag V) / sqrt(K/2);  mu <- mu / sqrt(vbar);  diag <- diag / vbar
//   alpha_c = (1 - 2/K + e^{mu_c} / K^2 sum_k e^{-mu_k}) / diag_c;  p = alpha / sum alpha
void bridge_row(const double* mu_in, const double* V, long K, bool norm, double* p) {
    std::vector<double> s(K, 0.0), mu(mu_in, mu_in + K), d(K);
    double t = 0, sum_mu = 0;
    for (long i = 0; i < K; ++i) {
        for (long j = 0; j < K; ++j) s[i] += V[i * K + j];
        t += s[i];
        sum_mu += mu[i];
    }
    for (long i = 0; i < K; ++i) {
        mu[i] -= s[i] * sum_mu / t;
        d[i] = V[i * K + i] - s[i] * s[i] / t;
    }
    if (norm) {
        double vbar = 0;
        for (long i = 0; i < K; ++i) vbar += d[i];
        vbar = vbar / K / std::sqrt(K / 2.0);
        for (long i = 0; i < K; ++i) {
            mu[i] /= std::sqrt(vbar);
            d[i] /= vbar;
        }
    }
    double sum_exp_neg = 0;
    for (long k = 0; k < K; ++k) sum_exp_neg += std::exp(-mu[k]);
    double sum_alpha = 0;
    for (long c = 0; c < K; ++c) {
        p[c] = (1.0 - 2.0 / K + std::exp(mu[c]) / (double(K) * K) * sum_exp_neg) / d[c];
        sum_alpha += p[c];
    }
    for (long c = 0; c < K; ++c) {
        p[c] /= sum_alpha;
        if (std::isnan(p[c])) p[c] = 1.0;  // as laplace-torch (nan_to_num(nan=1))
    }
}

}  // namespace

Tensor link_probs(LinkApprox link, const Tensor& f_mu, const Tensor& f_var) {
    check_shapes(f_mu, f_var, "link_probs");
    AD_CHECK(link != LinkApprox::mc, "link_probs: expected probit, bridge or bridge_norm, got mc; use mc_probs");
    const long n = f_mu.dim(0), C = f_mu.dim(1);
    Tensor p = Tensor::empty({n, C});
    std::vector<double> z(C);
    for (long i = 0; i < n; ++i) {
        const double* mu = f_mu.data() + i * C;
        const double* V = f_var.data() + i * C * C;
        if (link == LinkApprox::probit) {
            for (long c = 0; c < C; ++c) z[c] = mu[c] / std::sqrt(1.0 + kPi / 8.0 * V[c * C + c]);
            softmax_row(z.data(), C, p.data() + i * C);
        } else {
            bridge_row(mu, V, C, link == LinkApprox::bridge_norm, p.data() + i * C);
        }
    }
    return p;
}

// f_s = f_mu + L eps_s, L the lower Cholesky factor of f_var, eps_s ~ N(0, I) drawn per point and
// per sample from one Rng (laplace-torch reuses one eps matrix for all points).
Tensor mc_probs(const Tensor& f_mu, const Tensor& f_var, long n_samples, uint64_t seed) {
    check_shapes(f_mu, f_var, "mc_probs");
    AD_CHECK(n_samples > 0, "mc_probs: expected n_samples > 0, got " << n_samples);
    const long n = f_mu.dim(0), C = f_mu.dim(1);
    ad::Rng rng(seed);
    Tensor p = Tensor::zeros({n, C});
    std::vector<double> L(C * C), eps(C), f(C), q(C);
    for (long i = 0; i < n; ++i) {
        // Cholesky that tolerates a PSD f_var: a pivot <= 0 (a degenerate direction, e.g. the
        // softmax-invariant one) leaves its column 0 instead of failing.
        const double* V = f_var.data() + i * C * C;
        std::fill(L.begin(), L.end(), 0.0);
        for (long j = 0; j < C; ++j) {
            double d = V[j * C + j];
            for (long k = 0; k < j; ++k) d -= L[j * C + k] * L[j * C + k];
            const double ljj = d > 0 ? std::sqrt(d) : 0.0;
            L[j * C + j] = ljj;
            for (long r = j + 1; r < C; ++r) {
                double v = V[r * C + j];
                for (long k = 0; k < j; ++k) v -= L[r * C + k] * L[j * C + k];
                L[r * C + j] = ljj > 0 ? v / ljj : 0.0;
            }
        }
        double* pi = p.data() + i * C;
        for (long s = 0; s < n_samples; ++s) {
            for (long c = 0; c < C; ++c) eps[c] = rng.normal();
            for (long r = 0; r < C; ++r) {
                double v = f_mu[i * C + r];
                for (long k = 0; k <= r; ++k) v += L[r * C + k] * eps[k];
                f[r] = v;
            }
            softmax_row(f.data(), C, q.data());
            for (long c = 0; c < C; ++c) pi[c] += q[c];
        }
        for (long c = 0; c < C; ++c) pi[c] /= n_samples;
    }
    return p;
}

double nll_classification(const Tensor& probs, const std::vector<long>& labels) {
    AD_CHECK(probs.ndim() == 2 && probs.dim(0) == static_cast<long>(labels.size()),
             "nll_classification: expected probs [n, C] with n = " << labels.size() << " labels, got " << probs.shape());
    const long n = probs.dim(0), C = probs.dim(1);
    double s = 0;
    for (long i = 0; i < n; ++i) {
        AD_CHECK(labels[i] >= 0 && labels[i] < C, "nll_classification: expected labels in [0, " << C << "), got "
                                                                                                << labels[i]);
        s -= std::log(probs[i * C + labels[i]]);
    }
    return s / n;
}

// -log N(y; mu, v + sigma^2) = 1/2 log(2 pi (v + sigma^2)) + (y - mu)^2 / (2 (v + sigma^2)), mean over
// points and outputs; f_var is [n, C, C] (its diagonal is used) or [n, C].
double nll_regression(const Tensor& f_mu, const Tensor& f_var, const Tensor& y, double sigma_noise) {
    AD_CHECK(f_mu.ndim() == 2 && y.numel() == f_mu.numel(),
             "nll_regression: expected f_mu [n, C] and y with as many values, got " << f_mu.shape() << " and " << y.shape());
    const long n = f_mu.dim(0), C = f_mu.dim(1);
    const bool full = f_var.ndim() == 3;
    AD_CHECK(full ? f_var.shape() == ad::Shape({n, C, C}) : f_var.shape() == ad::Shape({n, C}),
             "nll_regression: expected f_var [" << n << ", " << C << ", " << C << "] or [" << n << ", " << C << "], got "
                                                << f_var.shape());
    double s = 0;
    for (long i = 0; i < n; ++i)
        for (long c = 0; c < C; ++c) {
            const double v = (full ? f_var[(i * C + c) * C + c] : f_var[i * C + c]) + sigma_noise * sigma_noise;
            const double r = y[i * C + c] - f_mu[i * C + c];
            s += 0.5 * std::log(2 * kPi * v) + 0.5 * r * r / v;
        }
    return s / (n * C);
}

}  // namespace uq
