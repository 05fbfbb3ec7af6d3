// Calibration metrics of predictive uncertainties.
// Classification: expected calibration error over equal-width confidence bins (Guo et al. 2017,
// "On Calibration of Modern Neural Networks", Eq. 3; Naeini et al. 2015) and its reliability bins.
// Regression: Gaussian NLL, mean squared z-score, k-sigma coverage, miscalibration area
// (uncertainty-toolbox, Chung et al. 2021, "interval" proportions), and Spearman rank correlation.
//
// Notation: n points, C classes, B bins. p [n, C] class probabilities, y labels [n];
// conf_i = max_c p[i, c], pred_i = argmax_c p[i, c] (the first on ties), correct_i = [pred_i == y_i].
// Regression: mean mu, variance var = sigma^2, target y, all of one shape ([n] or [n, C]; [n] and
// [n, 1] are the same), z_i = (y_i - mu_i) / sigma_i over all n C entries.
#pragma once
#include <vector>

#include "autodiff/tensor.hpp"

namespace uq {

constexpr long kEceBins = 15;  ///< the common choice (Guo et al. 2017)

/// One equal-width confidence bin (lo, hi] (the first also holds conf = 0): its size and the mean
/// confidence and accuracy of its points (both 0 when empty).
struct ReliabilityBin {
    double lo, hi;
    long count;
    double confidence, accuracy;
};

/// Bins b = 0..B-1 with edges b / B; a point with conf in (lo, hi] falls in that bin.
std::vector<ReliabilityBin> reliability_bins(const ad::Tensor& probs, const std::vector<long>& labels,
                                             long n_bins = kEceBins);
/// ECE = sum_b |acc_b - conf_b| n_b / n over the bins above.
double expected_calibration_error(const ad::Tensor& probs, const std::vector<long>& labels, long n_bins = kEceBins);

/// Mean over all entries of -log N(y; mu, var) = 1/2 log(2 pi var) + (y - mu)^2 / (2 var).
double gaussian_nll(const ad::Tensor& mean, const ad::Tensor& var, const ad::Tensor& y);
/// Mean of z^2 = (y - mu)^2 / var (1 for calibrated Gaussian uncertainties).
double mean_squared_z(const ad::Tensor& mean, const ad::Tensor& var, const ad::Tensor& y);
/// Fraction of entries with |y - mu| <= k sigma (Gaussian: 0.683, 0.954, 0.997 for k = 1, 2, 3).
double coverage(const ad::Tensor& mean, const ad::Tensor& var, const ad::Tensor& y, double k);

struct SigmaCoverage {
    double within_1, within_2, within_3;  ///< coverage(.., k) for k = 1, 2, 3
};
SigmaCoverage sigma_coverage(const ad::Tensor& mean, const ad::Tensor& var, const ad::Tensor& y);

/// Area between the observed and expected proportion-in-interval curves (uncertainty-toolbox's
/// miscalibration_area, prop_type "interval"): expected p_j = j / (n_points - 1), observed
/// obs_j = fraction of |z| <= Phi^{-1}(1/2 + p_j / 2); area = integral of |obs - p| over the
/// piecewise-linear curves, crossings included. 0 is perfect, 1/2 the worst.
double miscalibration_area(const ad::Tensor& mean, const ad::Tensor& var, const ad::Tensor& y, long n_points = 100);

/// Standard normal quantile Phi^{-1}(p) for p in [0, 1] (+-inf at the ends), to ~1e-15 relative.
double normal_quantile(double p);

/// Spearman rank correlation of a and b (same number of entries, any shapes): the Pearson
/// correlation of their ranks, ties given their average rank (as scipy.stats.spearmanr).
double spearman(const ad::Tensor& a, const ad::Tensor& b);

}  // namespace uq
