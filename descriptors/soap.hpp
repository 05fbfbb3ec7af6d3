// SOAP power spectrum of specs/soap.md (metatrain soap_bpnn "legacy" descriptor): Laplacian-
// eigenstate radial basis, shifted-cosine cutoff, real Y_lm, one-hot neighbour species,
//   c[i, l, m, a] = sum_{p: first_p = i, species s(Z_j) = s} f_c(r_p) R_nl(r_p) Y_lm(v_p / r_p)
//   p[i, l, a1, a2] = sum_m c[i, l, m, a1] c[i, l, m, a2]        (spec eqs. sec. 6-7)
// and its derivatives w.r.t. positions and strain, stored per pair (spec sec. 8), never dense.
// Notation: atoms i j, pairs p (centre i = first_p, neighbour j = second_p, v_p = r_ij(T)),
// species s, radial n, angular l m, channel a = n S + s (S species), features k.
// Feature k = off_l + a1 (n_l S) + a2, off_l = S^2 sum_{l' < l} n_l'^2, D = S^2 sum_l n_l^2.
#pragma once
#include <memory>
#include <vector>

#include "autodiff/tensor.hpp"
#include "descriptors/cutoff.hpp"
#include "descriptors/neighbor_list.hpp"
#include "descriptors/radial_basis.hpp"
#include "descriptors/spherical_harmonics.hpp"

namespace desc {

struct SoapHypers {
    double cutoff = 5.0;        ///< r_c (A)
    double width = 0.5;         ///< w: width of the cosine switching region, 0 < w <= r_c
    int max_angular = 6;        ///< L: l = 0..L
    int max_radial = 7;         ///< N_r: l = 0 gets N_r + 1 radial functions (others: trimming)
    std::vector<int> species;   ///< sorted distinct atomic numbers of the model (S entries)
    int spline_intervals = 1024;///< radial spline resolution (0 = exact std::sph_bessel, slow)
};

/// A full (both directions) pair list: pair p has centre first[p], neighbour second[p] and
/// vector v_p = x_j - x_i + cell_shifts[p] (cell_shifts = shift . cell, in A). Every image is
/// its own pair; no (i, i, T = 0) pair.
struct SoapPairs {
    std::vector<long> first, second;
    ad::Tensor cell_shifts;  ///< [n_pairs, 3]
};

/// cell_shifts from a list that stores the pair vectors: vectors - (x_second - x_first).
SoapPairs soap_pairs_from_vectors(const std::vector<long>& first, const std::vector<long>& second,
                                  const ad::Tensor& vectors /*[n_pairs,3]*/, const ad::Tensor& positions /*[n,3]*/);

/// cell_shifts = shift . cell from a full neighbour list of `system` (desc::neighbor_list).
SoapPairs soap_pairs(const NeighborList& list, const System& system);

/// The derivatives of one SOAP evaluation, per pair: the factors of
///   dg[p, l, m, n, x] = d g_nlm(v_p) / d v_x = dfR[p, l n] Y[p, l m] u[p, x] + fR[p, l n] dY[p, l m, x]
/// (spec 8.1; fR = f_c R_nl, dfR = (f_c R_nl)', u = v/r), and the coefficients c[i, l, m, a].
/// Memory O(n_pairs (2F + 4 (L+1)^2) + n_atoms K S) with F = sum_l n_l, K = sum_l (2l+1) n_l;
/// never O(n_atoms^2 D).
/// With A = 1 + eps (strain, identity when none) and v_p = A v0_p, v0_p = x_j - x_i + shift:
///   transpose_apply: G[n, D] -> [n + 3, 3]: rows 0..n-1 gR = dE/dx, rows n..n+2 geps = dE/deps
///   apply:           d[n + 3, 3] (dx rows, deps rows) -> dp[n, D] = J d (directional derivative)
class SoapJacobian {
  public:
    long n_atoms() const { return n_atoms_; }
    long n_features() const { return n_features_; }
    long n_pairs() const { return static_cast<long>(pair_i_.size()); }
    ad::Tensor transpose_apply(const ad::Tensor& G) const;
    ad::Tensor apply(const ad::Tensor& d) const;
    /// transpose_apply of several structures on `n_threads` threads: G [sum_s n_s, D] stacked as
    /// Soap::compute_many's output -> [sum_s (n_s + 3), 3], structure s's n_s gR rows then its 3
    /// geps rows. Each structure is computed as transpose_apply does (identical for any count).
    static ad::Tensor transpose_apply_many(const std::vector<SoapJacobian>& jacs, const ad::Tensor& G, int n_threads);

    /// J^T G for G's row i at g_rows[i] (null: a zero row, its pairs skipped), written to
    /// out [n + 3, 3] (zeroed here).
    void transpose_apply_rows(const double* const* g_rows, double* out) const;
    /// (J d)[i, :] into out_rows[i] (D entries, every one written) for each atom with a non-null
    /// out_rows[i]; d = dx [n, 3] and deps [3, 3] (row-major).
    void apply_rows(const double* dx, const double* deps, double* const* out_rows) const;

  private:
    friend class Soap;
    /// J^T G for G [n, D] at g (row-major), written to out [n + 3, 3] (zeroed here).
    void transpose_apply_into(const double* g, double* out) const;
    long n_atoms_ = 0, n_features_ = 0;
    int S_ = 0;
    long Kc_ = 0;                              ///< coefficients per atom, sum_l (2l+1) n_l S
    std::vector<int> n_per_l_;
    std::vector<long> feat_off_, c_off_;
    std::vector<int> r_off_;                   ///< radial offsets off_l (flat index f = off_l + n)
    int F_ = 0, NY_ = 0;                       ///< sum_l n_l, (L+1)^2
    long block_ = 0;                           ///< 2F + 4 NY + 3 numbers per pair
    double A_[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};  ///< 1 + eps
    std::vector<long> pair_i_, pair_j_;        ///< pairs inside the cutoff only
    std::vector<int> pair_s_;
    std::vector<double> v0_;  ///< [p][3] unstrained pair vectors
    std::vector<double> data_;  ///< [p][block]: fR [F], dfR [F], Y [NY], dY [NY][3], u [3]
    std::vector<double> c_;   ///< [i][Kc]: c[i, l, m, a] at c_off_l + (m + l)(n_l S) + a
};

class Soap {
  public:
    explicit Soap(SoapHypers hypers);

    const SoapHypers& hypers() const { return hypers_; }
    const std::vector<int>& n_per_l() const { return radial_.n_per_l(); }
    long n_features() const { return n_features_; }  ///< D
    long n_coefficients() const { return n_coef_ * S_; }  ///< per atom: sum_l (2l+1) n_l S
    const RadialBasis& radial() const { return radial_; }
    /// s(Z): the index of Z in hypers.species; throws for an element not in the list.
    int species_index(int Z) const;

    /// Features [n_atoms, D] for pair vectors v_p = A (x_j - x_i + shift_p) with A = 1 + strain
    /// (strain may be null). With jac != nullptr, also fills the per-pair derivatives.
    /// positions [n,3], cell_shifts [n_pairs,3] as raw row-major arrays.
    ad::Tensor compute(const std::vector<int>& numbers, const double* positions, const SoapPairs& pairs,
                       const double* strain, SoapJacobian* jac) const;
    ad::Tensor compute(const std::vector<int>& numbers, const ad::Tensor& positions, const SoapPairs& pairs) const;

    /// One structure of a compute_many call (pointers stay owned by the caller).
    struct Input {
        const std::vector<int>* numbers;
        const double* positions;  ///< [n, 3]
        const SoapPairs* pairs;
        const double* strain = nullptr;  ///< [3, 3] or null
    };
    /// Features of several structures, stacked in input order: [sum_s n_s, D]. The structures are
    /// spread over `n_threads` threads (ad::parallel_for); each is computed exactly as compute()
    /// would, so the result is the same bit for bit for any thread count. With jacs != nullptr,
    /// (*jacs)[s] receives structure s's derivatives (resized to the number of inputs).
    ad::Tensor compute_many(const std::vector<Input>& inputs, int n_threads,
                            std::vector<SoapJacobian>* jacs = nullptr) const;

    /// Expansion coefficients [n_atoms, Kc] (layout of SoapJacobian::c_; for tests and debugging).
    ad::Tensor expansion(const std::vector<int>& numbers, const ad::Tensor& positions, const SoapPairs& pairs) const;
    /// Offset of c[l, m = -l, a = 0] in an expansion row.
    long coefficient_offset(int l) const { return c_off_[static_cast<size_t>(l)]; }

  private:
    /// compute() into out [n, D] (row-major, caller-owned).
    void compute_into(const std::vector<int>& numbers, const double* positions, const SoapPairs& pairs,
                      const double* strain, SoapJacobian* jac, double* out) const;
    void expand(const std::vector<int>& numbers, const double* positions, const SoapPairs& pairs,
                const double* strain, std::vector<double>& c, SoapJacobian* jac) const;

    SoapHypers hypers_;
    int S_;
    ShiftedCosineCutoff cutoff_;
    RadialBasis radial_;
    SphericalHarmonics sph_;
    long n_features_ = 0, n_coef_ = 0;   ///< D, K = sum_l (2l+1) n_l
    std::vector<long> feat_off_, c_off_;  ///< off_l of features; offset of l in c rows (times S)
    std::vector<int> species_lookup_;     ///< Z -> s, -1 if absent
};

/// Features of one structure, in the autodiff graph. positions [n,3] and strain [3,3] (or
/// undefined: no strain) may require grad; the backward is soap_vjp (differentiable w.r.t. its
/// upstream gradient); asking for second derivatives w.r.t. positions or strain throws.
ad::Tensor soap(const ad::Tensor& positions, const ad::Tensor& strain, const std::vector<int>& numbers,
                const SoapPairs& pairs, const Soap& calculator);

/// [n + 3, 3] = J^T g: rows 0..n-1 dE/dx, rows n..n+2 dE/deps; its backward w.r.t. g is J gg
/// (op soap_jvp). positions and strain are inputs only to detect second-derivative requests.
ad::Tensor soap_vjp(const ad::Tensor& g, const ad::Tensor& positions, const ad::Tensor& strain,
                    std::shared_ptr<const SoapJacobian> J);
/// [n, D] = J d for d [n + 3, 3]; its backward w.r.t. d is soap_vjp.
ad::Tensor soap_jvp(const ad::Tensor& d, const ad::Tensor& positions, const ad::Tensor& strain,
                    std::shared_ptr<const SoapJacobian> J);

/// SOAP features of several structures (atoms stacked in structure order, as Batch and
/// compute_many) with their Jacobians, computed once and shared by the row ops below, so that a
/// model can take the rows of each species straight from the descriptor (no [n_atoms, D] split,
/// concat or zero-filled scatter in its graph).
struct SoapStack {
    std::vector<SoapJacobian> jacs;  ///< [n_structures]
    std::vector<long> offsets;       ///< [n_structures + 1] first atom of each structure
    ad::Tensor values;               ///< [n_atoms, D], not in a graph
    long n_atoms() const { return offsets.back(); }
    long n_structures() const { return static_cast<long>(jacs.size()); }
};

/// Computes a SoapStack: structure s has atoms offsets[s] .. offsets[s+1]-1 of positions [n, 3],
/// numbers[s], pairs[s] (local indices) and strains[s] ([3, 3] or undefined).
std::shared_ptr<const SoapStack> soap_stack(const ad::Tensor& positions, const std::vector<ad::Tensor>& strains,
                                            const std::vector<std::vector<int>>& numbers,
                                            const std::vector<SoapPairs>& pairs, const std::vector<long>& offsets,
                                            const Soap& calculator);

/// y[k, :] = values[rows[k], :], [m, D] (rows: atoms of the stack, any order, no repeats), in the
/// graph of positions [n, 3] and strains (one per structure, [3, 3] or undefined); the backward is
/// soap_rows_vjp. Equal to index_select(concat of soap() per structure, 0, rows).
ad::Tensor soap_rows(const ad::Tensor& positions, const std::vector<ad::Tensor>& strains, const std::vector<long>& rows,
                     std::shared_ptr<const SoapStack> stack);
/// [n + 3 S, 3] = J^T G with G [n, D] = g [m, D] placed at rows (zeros elsewhere): rows 0..n-1
/// dE/dx, then 3 rows dE/deps per structure. Its backward w.r.t. g is soap_rows_jvp.
ad::Tensor soap_rows_vjp(const ad::Tensor& g, const ad::Tensor& positions, const std::vector<ad::Tensor>& strains,
                         const std::vector<long>& rows, std::shared_ptr<const SoapStack> stack);
/// [m, D] = (J d)[rows] for d [n + 3 S, 3] (layout of soap_rows_vjp); its backward is soap_rows_vjp.
ad::Tensor soap_rows_jvp(const ad::Tensor& d, const ad::Tensor& positions, const std::vector<ad::Tensor>& strains,
                         const std::vector<long>& rows, std::shared_ptr<const SoapStack> stack);

}  // namespace desc
