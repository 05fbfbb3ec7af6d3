// Calibration metrics (formulas and references in calibration.hpp).
#include "uq/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "autodiff/error.hpp"

namespace uq {

using ad::Tensor;

namespace {

// probs [n, C] finite in [0, 1] with n > 0, labels [n] in [0, C).
void check_classification(const Tensor& probs, const std::vector<long>& labels, long n_bins, const char* where) {
    AD_CHECK(probs.defined() && probs.ndim() == 2 && probs.dim(0) > 0 && probs.dim(1) > 0,
             where << ": expected probabilities [n, C] with n, C > 0, got "
                   << (probs.defined() ? probs.shape() : ad::Shape{}));
    const long n = probs.dim(0), C = probs.dim(1);
    AD_CHECK(static_cast<long>(labels.size()) == n,
             where << ": expected " << n << " labels (one per row of probs " << probs.shape() << "), got " << labels.size());
    AD_CHECK(n_bins > 0, where << ": expected n_bins > 0, got " << n_bins);
    for (long i = 0; i < n * C; ++i)
        AD_CHECK(std::isfinite(probs[i]) && probs[i] >= 0.0 && probs[i] <= 1.0,
                 where << ": expected probabilities in [0, 1], got " << probs[i] << " at row " << i / C << ", class "
                       << i % C);
    for (long i = 0; i < n; ++i)
        AD_CHECK(labels[i] >= 0 && labels[i] < C,
                 where << ": expected labels in [0, " << C << "), got " << labels[i] << " at row " << i);
}

// mean, var and y of one shape ([n] and [n, 1] count as equal), n > 0, var > 0 and all finite.
void check_regression(const Tensor& mean, const Tensor& var, const Tensor& y, const char* where) {
    auto shape_of = [](const Tensor& t) { return t.defined() ? t.shape() : ad::Shape{}; };
    auto squeezed = [](ad::Shape s) {
        if (s.size() == 2 && s[1] == 1) s.pop_back();
        return s;
    };
    AD_CHECK(mean.defined() && var.defined() && y.defined() && (mean.ndim() == 1 || mean.ndim() == 2) &&
                 squeezed(mean.shape()) == squeezed(var.shape()) && squeezed(mean.shape()) == squeezed(y.shape()),
             where << ": expected mean, variance and targets of one shape [n] or [n, C], got " << shape_of(mean) << ", "
                   << shape_of(var) << " and " << shape_of(y));
    AD_CHECK(mean.numel() > 0, where << ": expected at least one point, got mean " << mean.shape());
    for (long i = 0; i < mean.numel(); ++i) {
        AD_CHECK(std::isfinite(mean[i]) && std::isfinite(y[i]),
                 where << ": expected finite means and targets, got mean " << mean[i] << " and target " << y[i]
                       << " at entry " << i);
        AD_CHECK(std::isfinite(var[i]) && var[i] > 0.0,
                 where << ": expected finite variances > 0, got " << var[i] << " at entry " << i);
    }
}

// |z_i| = |y_i - mu_i| / sigma_i over all entries.
std::vector<double> abs_z(const Tensor& mean, const Tensor& var, const Tensor& y) {
    std::vector<double> z(mean.numel());
    for (long i = 0; i < mean.numel(); ++i) z[i] = std::fabs(y[i] - mean[i]) / std::sqrt(var[i]);
    return z;
}

// Phi^{-1}(p) for 0 < p <= 1/2: Acklam's rational approximation (relative error 1.15e-9), then one
// Halley step on Phi(x) - p with erfc, which brings it to rounding level. The lower tail only, so
// that Phi(x) = erfc(-x / sqrt 2) / 2 never suffers cancellation.
double lower_quantile(double p) {
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01,  -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    double x;
    if (p < 0.02425) {
        const double q = std::sqrt(-2.0 * std::log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    } else {
        const double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
    }
    const double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p;
    const double u = e * std::sqrt(2.0 * M_PI) * std::exp(0.5 * x * x);
    return x - u / (1.0 + 0.5 * x * u);
}

// Average ranks 1..n (ties share the mean of their positions).
std::vector<double> ranks(const Tensor& v) {
    const long n = v.numel();
    std::vector<long> order(n);
    std::iota(order.begin(), order.end(), 0L);
    std::stable_sort(order.begin(), order.end(), [&](long i, long j) { return v[i] < v[j]; });
    std::vector<double> r(n);
    for (long s = 0; s < n;) {
        long e = s + 1;
        while (e < n && v[order[e]] == v[order[s]]) ++e;
        const double avg = 0.5 * double(s + 1 + e);  // mean of positions s+1 .. e
        for (long k = s; k < e; ++k) r[order[k]] = avg;
        s = e;
    }
    return r;
}

}  // namespace

// ----------------------------------------------------------------------------- classification

std::vector<ReliabilityBin> reliability_bins(const Tensor& probs, const std::vector<long>& labels, long n_bins) {
    check_classification(probs, labels, n_bins, "reliability_bins");
    const long n = probs.dim(0), C = probs.dim(1);
    std::vector<ReliabilityBin> bins(n_bins);
    std::vector<double> sum_conf(n_bins, 0.0), sum_correct(n_bins, 0.0);
    for (long b = 0; b < n_bins; ++b) bins[b] = {double(b) / n_bins, double(b + 1) / n_bins, 0, 0.0, 0.0};
    for (long i = 0; i < n; ++i) {
        const double* p = probs.data() + i * C;
        const long pred = std::max_element(p, p + C) - p;  // the first maximum
        const double conf = p[pred];
        // Bin (lo, hi]: start from the arithmetic guess, then settle against the stored edges so
        // that a confidence equal to an edge goes to the lower bin whatever the rounding.
        long b = std::clamp(static_cast<long>(std::ceil(conf * n_bins)) - 1, 0L, n_bins - 1);
        while (b > 0 && conf <= bins[b].lo) --b;
        while (b < n_bins - 1 && conf > bins[b].hi) ++b;
        bins[b].count += 1;
        sum_conf[b] += conf;
        sum_correct[b] += pred == labels[i] ? 1.0 : 0.0;
    }
    for (long b = 0; b < n_bins; ++b)
        if (bins[b].count > 0) {
            bins[b].confidence = sum_conf[b] / bins[b].count;
            bins[b].accuracy = sum_correct[b] / bins[b].count;
        }
    return bins;
}

double expected_calibration_error(const Tensor& probs, const std::vector<long>& labels, long n_bins) {
    double ece = 0.0;
    long n = 0;
    for (const ReliabilityBin& b : reliability_bins(probs, labels, n_bins)) {
        ece += std::fabs(b.accuracy - b.confidence) * b.count;
        n += b.count;
    }
    return ece / n;
}

// ----------------------------------------------------------------------------- regression

double gaussian_nll(const Tensor& mean, const Tensor& var, const Tensor& y) {
    check_regression(mean, var, y, "gaussian_nll");
    const double log_2pi = std::log(2.0 * M_PI);
    double s = 0.0;
    for (long i = 0; i < mean.numel(); ++i) {
        const double r = y[i] - mean[i];
        s += 0.5 * (log_2pi + std::log(var[i]) + r * r / var[i]);
    }
    return s / mean.numel();
}

double mean_squared_z(const Tensor& mean, const Tensor& var, const Tensor& y) {
    check_regression(mean, var, y, "mean_squared_z");
    double s = 0.0;
    for (long i = 0; i < mean.numel(); ++i) {
        const double r = y[i] - mean[i];
        s += r * r / var[i];
    }
    return s / mean.numel();
}

double coverage(const Tensor& mean, const Tensor& var, const Tensor& y, double k) {
    check_regression(mean, var, y, "coverage");
    AD_CHECK(std::isfinite(k) && k >= 0, "coverage: expected a finite k >= 0 (sigmas), got " << k);
    long inside = 0;
    for (double z : abs_z(mean, var, y)) inside += z <= k ? 1 : 0;
    return double(inside) / mean.numel();
}

SigmaCoverage sigma_coverage(const Tensor& mean, const Tensor& var, const Tensor& y) {
    return {coverage(mean, var, y, 1.0), coverage(mean, var, y, 2.0), coverage(mean, var, y, 3.0)};
}

double normal_quantile(double p) {
    AD_CHECK(p >= 0.0 && p <= 1.0, "normal_quantile: expected p in [0, 1], got " << p);
    if (p == 0.0) return -std::numeric_limits<double>::infinity();
    if (p == 1.0) return std::numeric_limits<double>::infinity();
    // 1 - p is exact for p in [1/2, 1] (Sterbenz), so the upper half loses nothing by symmetry.
    return p <= 0.5 ? lower_quantile(p) : -lower_quantile(1.0 - p);
}

// Between two neighbouring expected proportions (width w), the curves differ by d0 and d1. Without
// a crossing the area is the trapezoid w |d0 + d1| / 2; with one (d0 d1 < 0) the two triangles
// meeting at the crossing x = w |d0| / (|d0| + |d1|) give w (d0^2 + d1^2) / (2 (|d0| + |d1|)).
double miscalibration_area(const Tensor& mean, const Tensor& var, const Tensor& y, long n_points) {
    check_regression(mean, var, y, "miscalibration_area");
    AD_CHECK(n_points >= 2, "miscalibration_area: expected n_points >= 2, got " << n_points);
    std::vector<double> z = abs_z(mean, var, y);
    std::sort(z.begin(), z.end());
    const double n = static_cast<double>(z.size()), step = 1.0 / double(n_points - 1);
    std::vector<double> d(n_points);
    for (long j = 0; j < n_points; ++j) {
        // numpy.linspace(0, 1, n_points): j * step, the last point exactly 1.
        const double p = j == n_points - 1 ? 1.0 : double(j) * step;
        const double m = normal_quantile(0.5 + 0.5 * p);
        const double obs = double(std::upper_bound(z.begin(), z.end(), m) - z.begin()) / n;  // fraction |z| <= m
        d[j] = obs - p;
    }
    double area = 0.0;
    for (long j = 0; j + 1 < n_points; ++j) {
        const double p0 = double(j) * step, p1 = j + 1 == n_points - 1 ? 1.0 : double(j + 1) * step;
        const double w = p1 - p0, d0 = d[j], d1 = d[j + 1];
        if (d0 * d1 < 0)
            area += w * (d0 * d0 + d1 * d1) / (2.0 * (std::fabs(d0) + std::fabs(d1)));
        else
            area += w * std::fabs(d0 + d1) / 2.0;
    }
    return area;
}

// ----------------------------------------------------------------------------- ranks

double spearman(const Tensor& a, const Tensor& b) {
    AD_CHECK(a.defined() && b.defined() && a.numel() == b.numel() && a.numel() >= 2,
             "spearman: expected two inputs with the same number (>= 2) of entries, got "
                 << (a.defined() ? a.shape() : ad::Shape{}) << " and " << (b.defined() ? b.shape() : ad::Shape{}));
    for (long i = 0; i < a.numel(); ++i)
        AD_CHECK(std::isfinite(a[i]) && std::isfinite(b[i]),
                 "spearman: expected finite values, got " << a[i] << " and " << b[i] << " at entry " << i);
    const std::vector<double> ra = ranks(a), rb = ranks(b);
    const long n = a.numel();
    const double mean = 0.5 * double(n + 1);  // the mean rank, ties or not
    double sab = 0, saa = 0, sbb = 0;
    for (long i = 0; i < n; ++i) {
        const double x = ra[i] - mean, w = rb[i] - mean;
        sab += x * w;
        saa += x * x;
        sbb += w * w;
    }
    AD_CHECK(saa > 0 && sbb > 0, "spearman: expected inputs that are not constant, got "
                                     << (saa > 0 ? "b" : "a") << " with all " << n
                                     << " values equal; the rank correlation is undefined");
    return sab / std::sqrt(saa * sbb);
}

}  // namespace uq
