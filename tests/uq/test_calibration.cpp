// uq/calibration: hand-computed values on tiny inputs, known cases (perfect calibration within a
// stated statistical bound, a known variance scale), edge conventions and errors.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "autodiff/random.hpp"
#include "tests/helpers.hpp"
#include "uq/calibration.hpp"

using ad::Tensor;
using Catch::Matchers::Contains;

namespace {

// Reference values of Phi^{-1} from scipy.stats.norm.ppf 1.10.1 (repr, round-trip exact).
constexpr double kPpf0975 = 1.959963984540054, kPpf1e10 = -6.361340902404056, kPpf03 = -0.5244005127080409;
constexpr double kPhi1 = 0.8413447460685429;  // scipy.stats.norm.cdf(1.0)

double Phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// Binary classifier whose probabilities are exactly right: p1 = u ~ U(0, 1), label 1 with
// probability p1 (seeded, so the run is the same every time).
void calibrated_binary(long n, uint64_t seed, Tensor& probs, std::vector<long>& labels, double power = 1.0) {
    ad::Rng rng(seed);
    probs = Tensor::empty({n, 2});
    labels.resize(n);
    for (long i = 0; i < n; ++i) {
        const double p1 = rng.uniform();
        probs.data()[2 * i] = 1.0 - p1;
        probs.data()[2 * i + 1] = p1;
        // power != 1 draws the label from a distorted probability: a miscalibrated classifier.
        const double truth = p1 >= 0.5 ? std::pow(p1, power) : 1.0 - std::pow(1.0 - p1, power);
        labels[i] = rng.uniform() < truth ? 1 : 0;
    }
}

}  // namespace

TEST_CASE("calibration: ECE and reliability bins by hand", "[uq][calibration]") {
    // conf (pred, correct): 0.9 (0, yes) bin 13; 0.8 (0, no) bin 11 (0.8 = 12/15 is an upper edge,
    // so it stays in (11/15, 12/15]); 0.7 (1, yes) bin 10; 0.75 (1, no) bin 11; 0.6 (0, yes) bin 8
    // (0.6 = 9/15, upper edge of bin 8).
    Tensor p = ad::tensor({5, 2}, {0.9, 0.1, 0.8, 0.2, 0.3, 0.7, 0.25, 0.75, 0.6, 0.4});
    std::vector<long> y = {0, 1, 1, 0, 0};
    std::vector<uq::ReliabilityBin> bins = uq::reliability_bins(p, y);
    REQUIRE(bins.size() == 15);
    CHECK(bins[0].lo == 0.0);
    CHECK(bins[14].hi == 1.0);
    CHECK(bins[13].count == 1);
    CHECK(bins[11].count == 2);
    CHECK(bins[10].count == 1);
    CHECK(bins[8].count == 1);
    CHECK(bins[12].count == 0);
    CHECK(bins[9].count == 0);
    CHECK(bins[11].confidence == Approx(0.775).epsilon(1e-15));
    CHECK(bins[11].accuracy == 0.0);
    CHECK(bins[12].confidence == 0.0);  // empty bins report 0
    // ECE = (|1 - 0.9| + 2 |0 - 0.775| + |1 - 0.7| + |1 - 0.6|) / 5 = 2.35 / 5
    CHECK(uq::expected_calibration_error(p, y) == Approx(0.47).epsilon(1e-14));
    // 3 classes, a tie: the first maximum is the prediction (class 0, label 1: wrong).
    Tensor q = ad::tensor({1, 3}, {0.4, 0.4, 0.2});
    CHECK(uq::expected_calibration_error(q, {1}) == Approx(0.4).epsilon(1e-15));
    CHECK(uq::expected_calibration_error(q, {0}) == Approx(0.6).epsilon(1e-15));
    // one bin: |accuracy - mean confidence| = |3/5 - 0.75|
    CHECK(uq::expected_calibration_error(p, y, 1) == Approx(0.15).epsilon(1e-14));
}

TEST_CASE("calibration: ECE of a perfectly calibrated set is near 0, of a distorted one is not", "[uq][calibration]") {
    // Bound: within a bin, acc_b - conf_b has standard deviation <= 1/(2 sqrt(n_b)), so
    // E|acc_b - conf_b| <= sqrt(2/pi) / (2 sqrt(n_b)) and E[ECE] <= sqrt(2/pi)/2 sum_b sqrt(n_b)/n
    // <= sqrt(2/pi)/2 sqrt(B/n) (Cauchy-Schwarz) = 0.0049 for B = 15, n = 1e5. We allow 3x that.
    const long n = 100000;
    const double bound = 3.0 * std::sqrt(2.0 / M_PI) / 2.0 * std::sqrt(15.0 / n);
    Tensor probs;
    std::vector<long> labels;
    calibrated_binary(n, 11, probs, labels);
    const double ece = uq::expected_calibration_error(probs, labels);
    CHECK(ece < bound);
    // Labels drawn from conf^2 instead of conf: overconfident. Exact ECE = E[conf - conf^2] over
    // conf ~ U(1/2, 1) = 3/4 - 7/12 = 1/6 (up to binning, which does not change it here: the
    // gap has one sign in every bin).
    calibrated_binary(n, 12, probs, labels, 2.0);
    CHECK(uq::expected_calibration_error(probs, labels) == Approx(1.0 / 6.0).margin(bound));
}

TEST_CASE("calibration: Gaussian NLL, z-scores and coverage by hand", "[uq][calibration]") {
    Tensor mu = ad::tensor({2}, {0.0, 1.0}), var = ad::tensor({2}, {1.0, 4.0}), y = ad::tensor({2}, {1.0, 1.0});
    // (1/2 (log 2pi + 0 + 1) + 1/2 (log 2pi + log 4 + 0)) / 2 = 1/2 log 2pi + 1/4 + 1/2 log 2
    CHECK(uq::gaussian_nll(mu, var, y) == Approx(0.5 * std::log(2 * M_PI) + 0.25 + 0.5 * std::log(2.0)).epsilon(1e-15));
    CHECK(uq::mean_squared_z(mu, var, y) == Approx(0.5).epsilon(1e-15));  // (1 + 0) / 2
    // |z| = [1, 0]: the interval edge counts as inside.
    CHECK(uq::coverage(mu, var, y, 1.0) == 1.0);
    CHECK(uq::coverage(mu, var, y, 0.5) == 0.5);
    uq::SigmaCoverage c = uq::sigma_coverage(mu, var, y);
    CHECK(c.within_1 == 1.0);
    CHECK(c.within_3 == 1.0);
    // [n] and [n, 1] are the same shape
    CHECK(uq::gaussian_nll(ad::reshape(mu, {2, 1}), var, ad::reshape(y, {2, 1})) == uq::gaussian_nll(mu, var, y));
}

TEST_CASE("calibration: normal quantile matches scipy", "[uq][calibration]") {
    // Relative 1e-14: one Halley step from Acklam's 1e-9 start lands at rounding level.
    CHECK(uq::normal_quantile(0.975) == Approx(kPpf0975).epsilon(1e-14));
    CHECK(uq::normal_quantile(0.025) == Approx(-kPpf0975).epsilon(1e-14));
    CHECK(uq::normal_quantile(1e-10) == Approx(kPpf1e10).epsilon(1e-14));
    CHECK(uq::normal_quantile(0.3) == Approx(kPpf03).epsilon(1e-14));
    CHECK(uq::normal_quantile(kPhi1) == Approx(1.0).epsilon(1e-14));
    CHECK(uq::normal_quantile(0.5) == 0.0);
    CHECK(uq::normal_quantile(1.0) == std::numeric_limits<double>::infinity());
    CHECK(uq::normal_quantile(0.0) == -std::numeric_limits<double>::infinity());
    REQUIRE_THROWS_WITH(uq::normal_quantile(1.5), Contains("expected p in [0, 1], got 1.5"));
}

TEST_CASE("calibration: miscalibration area by hand and for a known variance scale", "[uq][calibration]") {
    Tensor mu = Tensor::zeros({4}), var = Tensor::ones({4});
    // y = mu: every |z| = 0 is inside every interval, obs = 1: area = int_0^1 (1 - p) dp = 1/2
    // (exact: the curves are linear between the 100 points).
    CHECK(uq::miscalibration_area(mu, var, Tensor::zeros({4})) == Approx(0.5).epsilon(1e-14));
    // |z| huge: obs = 0 except at p = 1 (the interval is the whole line): area =
    // int_0^{98/99} p dp + (1/99) (98/99) / 2 = 49/99.
    CHECK(uq::miscalibration_area(mu, var, Tensor::full({4}, 1e9)) == Approx(49.0 / 99.0).epsilon(1e-14));

    // Calibrated: z ~ N(0, 1). obs_j - p_j has standard deviation <= 1/(2 sqrt(n)) = 0.0016 at
    // n = 1e5, so the area (a mean of |obs - p|) is below 3 of those.
    const long n = 100000;
    ad::Rng rng(5);
    Tensor m = rng.normal({n}), v = rng.uniform({n}, 0.5, 2.0);
    Tensor y = Tensor::empty({n});
    for (long i = 0; i < n; ++i) y.data()[i] = m[i] + std::sqrt(v[i]) * rng.normal();
    const double tol = 3.0 / (2.0 * std::sqrt(double(n)));
    CHECK(uq::miscalibration_area(m, v, y) < tol);
    // Predicted variance 4x too small: z = 2 eps, obs(p) = 2 Phi(q_p / 2) - 1 with
    // q_p = Phi^{-1}(1/2 + p/2); the exact area of those curves on the same 100 points.
    Tensor v_small = ad::mul(v, 0.25);
    double exact = 0.0, prev = 0.0;
    for (long j = 0; j < 100; ++j) {
        const double p = j == 99 ? 1.0 : j / 99.0;
        const double q = uq::normal_quantile(0.5 + 0.5 * p);
        const double d = (std::isinf(q) ? 1.0 : 2.0 * Phi(q / 2.0) - 1.0) - p;  // obs < p throughout
        if (j > 0) exact += (1.0 / 99.0) * std::fabs(prev + d) / 2.0;
        prev = d;
    }
    CHECK(exact > 0.2);  // clearly miscalibrated
    CHECK(uq::miscalibration_area(m, v_small, y) == Approx(exact).margin(tol));
    CHECK(uq::mean_squared_z(m, v_small, y) == Approx(4.0).margin(4.0 * 3.0 * std::sqrt(2.0 / n)));  // Var(eps^2) = 2
    uq::SigmaCoverage c = uq::sigma_coverage(m, v, y);
    const double se = 3.0 * 0.5 / std::sqrt(double(n));  // 3 standard errors of a fraction
    CHECK(c.within_1 == Approx(2.0 * kPhi1 - 1.0).margin(se));
    CHECK(c.within_2 == Approx(2.0 * Phi(2.0) - 1.0).margin(se));
    CHECK(c.within_3 == Approx(2.0 * Phi(3.0) - 1.0).margin(se));
    CHECK(uq::mean_squared_z(m, v, y) == Approx(1.0).margin(3.0 * std::sqrt(2.0 / n)));
    CHECK(uq::gaussian_nll(m, v, y) > 0.0);
}

TEST_CASE("calibration: Spearman rank correlation with ties", "[uq][calibration]") {
    // ranks of b = [5, 6, 7, 8, 7] are [1, 2, 3.5, 5, 3.5]; centred: a [-2, -1, 0, 1, 2],
    // b [-2, -1, 0.5, 2, 0.5]; rho = 8 / sqrt(10 * 9.5) (scipy: 0.8207826816681233).
    Tensor a = ad::tensor({5}, {1, 2, 3, 4, 5}), b = ad::tensor({5}, {5, 6, 7, 8, 7});
    CHECK(uq::spearman(a, b) == Approx(8.0 / std::sqrt(95.0)).epsilon(1e-15));
    CHECK(uq::spearman(a, b) == Approx(0.8207826816681233).epsilon(1e-15));
    // any monotone map gives 1 or -1; shapes may differ
    CHECK(uq::spearman(a, ad::reshape(ad::exp(a), {5, 1})) == Approx(1.0).epsilon(1e-15));
    CHECK(uq::spearman(a, ad::neg(a)) == Approx(-1.0).epsilon(1e-15));
    REQUIRE_THROWS_WITH(uq::spearman(a, Tensor::ones({5})), Contains("expected inputs that are not constant"));
    REQUIRE_THROWS_WITH(uq::spearman(a, Tensor::ones({4})), Contains("same number (>= 2) of entries"));
}

TEST_CASE("calibration: bad input gives clear errors", "[uq][calibration]") {
    Tensor p = ad::tensor({2, 2}, {0.9, 0.1, 0.5, 0.5});
    REQUIRE_THROWS_WITH(uq::expected_calibration_error(p, {0}), Contains("expected 2 labels"));
    REQUIRE_THROWS_WITH(uq::expected_calibration_error(p, {0, 2}), Contains("expected labels in [0, 2), got 2 at row 1"));
    REQUIRE_THROWS_WITH(uq::expected_calibration_error(ad::tensor({1, 2}, {NAN, 0.5}), {0}),
                        Contains("expected probabilities in [0, 1], got nan"));
    REQUIRE_THROWS_WITH(uq::expected_calibration_error(p, {0, 1}, 0), Contains("expected n_bins > 0"));
    Tensor mu = Tensor::zeros({3}), y = Tensor::zeros({3});
    REQUIRE_THROWS_WITH(uq::gaussian_nll(mu, ad::tensor({3}, {1, 0, 1}), y),
                        Contains("expected finite variances > 0, got 0 at entry 1"));
    REQUIRE_THROWS_WITH(uq::mean_squared_z(mu, Tensor::ones({2}), y),
                        Contains("expected mean, variance and targets of one shape [n] or [n, C], got [3], [2] and [3]"));
    REQUIRE_THROWS_WITH(uq::coverage(mu, Tensor::ones({3}), y, -1.0), Contains("expected a finite k >= 0"));
    REQUIRE_THROWS_WITH(uq::miscalibration_area(mu, Tensor::ones({3}), ad::tensor({3}, {0, NAN, 0})),
                        Contains("expected finite means and targets"));
}
