// Real orthonormal spherical harmonics Y_lm(v/|v|) and their gradients with respect to the
// unnormalised vector v, for l = 0..l_max (specs/soap.md sec. 5: Wikipedia/sphericart real form,
// no Condon-Shortley phase, components stored m = -l..l at index l^2 + l + m).
// Notation: l m angular indices, v = (x, y, z) a pair vector, r = |v|, u = v / r.
// Method: solid harmonics S_lm(v) = r^l Y_lm by the Cartesian recursion of the spec, evaluated
// at u; since S_lm is homogeneous of degree l, grad_v Y_lm = (grad S_lm(u) - l S_lm(u) u) / r.
#pragma once
#include <vector>

namespace desc {

class SphericalHarmonics {
  public:
    explicit SphericalHarmonics(int l_max);
    int l_max() const { return l_max_; }
    int n_components() const { return (l_max_ + 1) * (l_max_ + 1); }  ///< (l_max + 1)^2

    /// Y[(l_max+1)^2] = Y_lm(v/|v|); dY (may be null) [(l_max+1)^2][3] = d Y_lm / d v_x..z.
    /// v must be non-zero. No heap allocation.
    void compute(const double v[3], double* Y, double* dY) const;

  private:
    int l_max_;
    std::vector<double> k_;  ///< [l^2 + l + m] for m >= 0: K_l0, or sqrt(2) K_lm for m > 0
};

}  // namespace desc
