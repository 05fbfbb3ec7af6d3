// Values-only SOAP power spectrum in packed form, for graph-free inference (uq/llpr_features).
// p[i, l, a1, a2] = sum_m c[i, l, m, a1] c[i, l, m, a2] is symmetric in (a1, a2), so only its upper
// triangle a1 <= a2 is computed, l by l:
//   q[i, t],  t = poff_l + (packed row a1 of l) + (a2 - a1),  poff_l = sum_{l' < l} W_l' (W_l' + 1) / 2,
//   W_l = n_l S channels, here ordered species-major, a = s n_l + n (Soap's full layout has
//   a = n S + s), so that a pair adds one contiguous run of n_l numbers per (l, m).
// Dp = sum_l W_l (W_l + 1) / 2 packed features (1344 at the defaults with 3 species, D = 2556).
// full_index(t) and mirror_index(t) are the features (l, a1, a2) and (l, a2, a1) of Soap's layout
// equal to q[t] (the same one on the diagonal); multiplicity(t) = 1 on the diagonal, 2 off it, so
// that sum_k f(p_k) = sum_t multiplicity(t) f(q_t) for any row statistic.
// Pairs come from a half list (desc::Pairs::half): pair (i, j, v) adds f_c R_nl(r) Y_lm(v / r) to
// c[i, ., ., s_j] and, as Y_lm(-v) = (-1)^l Y_lm(v), (-1)^l f_c R_nl Y_lm(v / r) to c[j, ., ., s_i]:
// each radial and angular evaluation serves both directions. No Jacobian, no strain.
// Kernels (soap_packed.cpp, docs/soap.md): coefficient rows zero-padded to a multiple of 8 and
// radial values to a multiple of 4 (whole-vector pair updates), Gram products four atoms per
// vector lane (GCC vector extensions, AVX2 + FMA clone via AD_VECTOR_CLONES).
// Equal to Soap::compute on the full list up to rounding (the order of the sums differs).
#pragma once
#include <vector>

#include "descriptors/cutoff.hpp"
#include "descriptors/soap.hpp"
#include "descriptors/spherical_harmonics.hpp"

namespace desc {

class SoapPacked {
  public:
    /// Keeps a pointer to soap (its radial basis and species), which must outlive this object.
    explicit SoapPacked(const Soap& soap);

    long n_features() const { return n_packed_; }                    ///< Dp
    long n_full_features() const { return soap_->n_features(); }     ///< D
    const std::vector<long>& full_index() const { return full_; }      ///< [Dp] feature (l, a1, a2), a1 <= a2
    const std::vector<long>& mirror_index() const { return mirror_; }  ///< [Dp] feature (l, a2, a1)
    const std::vector<double>& multiplicity() const { return mult_; }  ///< [Dp] 1 or 2

    /// Packed features of one structure: atom i's Dp values into rows[i]. Pairs: a half list,
    /// pair p = (first[p], second[p]) with vector vectors[3p .. 3p+2] = x_j - x_i + shift (A).
    /// scratch is resized as needed and may be reused across calls (no allocation once large enough).
    void compute(const std::vector<int>& numbers, const std::vector<long>& first, const std::vector<long>& second,
                 const double* vectors, double* const* rows, std::vector<double>& scratch) const;

  private:
    const Soap* soap_;
    int S_, L_;
    ShiftedCosineCutoff cutoff_;
    SphericalHarmonics sph_;
    long n_packed_ = 0, Kc_ = 0;      ///< Dp; coefficients per atom sum_l (2l+1) Wp_l (W_l rounded up to 8)
    std::vector<long> coff_, poff_;   ///< per l: offset of c[l, m = -l, a = 0]; of packed l
    std::vector<long> rpoff_;         ///< per l (and the end): offset of R_l padded to a multiple of 4
    std::vector<long> full_, mirror_;
    std::vector<double> mult_;
};

}  // namespace desc
