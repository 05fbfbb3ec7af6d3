// Laplacian-eigenstate radial basis R_nl(r) = N_nl j_l(z_ln r / r_c) and dR_nl/dr on [0, r_c]
// (specs/soap.md sec. 3), with the eigenvalue trimming n_l = max(1, #{k : z_lk < (N_r + 1) pi}).
// Notation: l angular degree, n radial index (0..n_l-1), z_ln the (n+1)-th zero of j_l,
// f = off_l + n the flat function index (n_functions = sum_l n_l).
// Two evaluators: `evaluate_exact` (std::sph_bessel, the naive twin) and `evaluate` (piecewise
// quintic Hermite spline through exact R, R', R'' at the nodes; error ~1e-14, see radial_basis.cpp).
#pragma once
#include <cstddef>
#include <vector>

namespace desc {

/// Positive zeros z_{l,k} of the spherical Bessel function j_l, k = 0..count-1.
std::vector<double> spherical_bessel_zeros(int l, int count);

class RadialBasis {
  public:
    /// n_intervals: spline intervals on [0, r_c] (0 = no spline; evaluate() then is exact).
    RadialBasis(double cutoff, int max_angular, int max_radial, int n_intervals = 1024);

    int max_angular() const { return max_angular_; }
    double cutoff() const { return cutoff_; }
    const std::vector<int>& n_per_l() const { return n_per_l_; }
    const std::vector<int>& offsets() const { return off_; }  ///< off_l, size l_max + 2
    int n_functions() const { return off_.back(); }
    double zero(int l, int n) const { return zeros_[static_cast<std::size_t>(off_[static_cast<std::size_t>(l)] + n)]; }

    /// R[f], dR[f] at 0 <= r <= r_c for every flat index f (spline). No heap allocation.
    void evaluate(double r, double* R, double* dR) const;
    /// The same from std::sph_bessel (slow; reference for the spline and tests).
    void evaluate_exact(double r, double* R, double* dR) const;

  private:
    void exact_with_second(double r, double* R, double* dR, double* d2R) const;

    double cutoff_;
    int max_angular_;
    std::vector<int> n_per_l_, off_;
    std::vector<double> zeros_, norms_;  ///< [f]: z_ln and N_nl
    int n_intervals_;
    double h_ = 0.0, inv_h_ = 0.0;
    std::vector<double> coef_;  ///< [interval][k = 0..5][f]: R_f(r) = sum_k coef t^k, t in [0, 1)
};

}  // namespace desc
