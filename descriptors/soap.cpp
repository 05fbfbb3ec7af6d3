// SOAP power spectrum, its per-pair Jacobian, and the autodiff ops soap / soap_vjp / soap_jvp
// (specs/soap.md sec. 6-8; featomic-style per-pair gradients, a differentiable VJP).
// Notation: atoms i j, pairs p, species s, radial n, angular l m, channel a = n S + s,
// W_l = n_l S channels per l, K = sum_l (2l+1) n_l coefficients per species, Kc = K S.
#include "descriptors/soap.hpp"

#include <algorithm>
#include <cmath>

#include "autodiff/error.hpp"
#include "autodiff/graph.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/parallel.hpp"
#include "autodiff/simd.hpp"

namespace desc {

using ad::Tensor;

SoapPairs soap_pairs_from_vectors(const std::vector<long>& first, const std::vector<long>& second,
                                  const Tensor& vectors, const Tensor& positions) {
    const long P = static_cast<long>(first.size()), n = positions.dim(0);
    AD_CHECK(second.size() == first.size() && vectors.ndim() == 2 && vectors.dim(0) == P && vectors.dim(1) == 3,
             "soap_pairs_from_vectors: expected first, second [" << P << "] and vectors [" << P << ", 3], got "
                                                                 << second.size() << " and " << vectors.shape());
    SoapPairs pairs{first, second, Tensor::empty({P, 3})};
    const double* x = positions.data();
    const double* v = vectors.data();
    double* t = pairs.cell_shifts.data();
    for (long p = 0; p < P; ++p) {
        const long i = first[static_cast<size_t>(p)], j = second[static_cast<size_t>(p)];
        AD_CHECK(0 <= i && i < n && 0 <= j && j < n, "soap_pairs_from_vectors: pair " << p << " refers to atom "
                                                         << std::max(i, j) << " of " << n);
        for (int a = 0; a < 3; ++a) t[3 * p + a] = v[3 * p + a] - (x[3 * j + a] - x[3 * i + a]);
    }
    return pairs;
}

SoapPairs soap_pairs(const NeighborList& list, const System& system) {
    const long P = list.n_pairs();
    AD_CHECK(static_cast<long>(list.shift.size()) == P, "soap_pairs: expected " << P << " shifts, got " << list.shift.size());
    SoapPairs pairs{list.first, list.second, Tensor::zeros({P, 3})};
    if (!system.any_pbc()) return pairs;  // the cell of a non-periodic system is ignored (spec sec. 2)
    const double* h = system.cell.data();
    double* t = pairs.cell_shifts.data();
    for (long p = 0; p < P; ++p) {
        const auto& S = list.shift[static_cast<size_t>(p)];
        for (int a = 0; a < 3; ++a) t[3 * p + a] = S[0] * h[a] + S[1] * h[3 + a] + S[2] * h[6 + a];
    }
    return pairs;
}

Soap::Soap(SoapHypers hypers)
    : hypers_(std::move(hypers)),
      S_(static_cast<int>(hypers_.species.size())),
      cutoff_{hypers_.cutoff, hypers_.width},
      radial_(hypers_.cutoff, hypers_.max_angular, hypers_.max_radial, hypers_.spline_intervals),
      sph_(hypers_.max_angular) {
    AD_CHECK(S_ > 0, "soap: expected a non-empty species list");
    AD_CHECK(hypers_.width > 0 && hypers_.width <= hypers_.cutoff,
             "soap: expected 0 < width <= cutoff, got width " << hypers_.width << " and cutoff " << hypers_.cutoff);
    for (int s = 0; s < S_; ++s) {
        const int Z = hypers_.species[static_cast<size_t>(s)];
        AD_CHECK(Z > 0 && Z < 256 && (s == 0 || Z > hypers_.species[static_cast<size_t>(s - 1)]),
                 "soap: expected species sorted ascending, distinct, in 1..255, got " << Z << " at position " << s);
        if (static_cast<int>(species_lookup_.size()) <= Z) species_lookup_.resize(static_cast<size_t>(Z + 1), -1);
        species_lookup_[static_cast<size_t>(Z)] = s;
    }
    const std::vector<int>& nl = radial_.n_per_l();
    for (int l = 0; l <= hypers_.max_angular; ++l) {
        const long n_l = nl[static_cast<size_t>(l)];
        feat_off_.push_back(n_features_);
        c_off_.push_back(n_coef_ * S_);
        n_features_ += n_l * n_l * S_ * S_;
        n_coef_ += (2 * l + 1) * n_l;
    }
}

int Soap::species_index(int Z) const {
    const int s = Z >= 0 && Z < static_cast<int>(species_lookup_.size()) ? species_lookup_[static_cast<size_t>(Z)] : -1;
    AD_CHECK(s >= 0, "soap: expected atomic numbers from the model's species list, got " << Z
                                                                                          << "; species are set when the model is created");
    return s;
}

// c[i, l, m, n S + s] += f_c(r_p) R_nl(r_p) Y_lm(v_p / r_p) over pairs p of centre i (spec sec. 6);
// with jac, the factors of dg[p, l, m, n, x] = [f_c' R + f_c R'] Y u_x + f_c R dY_lm/dv_x (spec 8.1).
void Soap::expand(const std::vector<int>& numbers, const double* positions, const SoapPairs& pairs,
                  const double* strain, std::vector<double>& c, SoapJacobian* jac) const {
    const long n = static_cast<long>(numbers.size());
    const long P = static_cast<long>(pairs.first.size());
    const long Kc = n_coef_ * S_;
    AD_CHECK(pairs.second.size() == pairs.first.size() && (P == 0 || (pairs.cell_shifts.defined() &&
             pairs.cell_shifts.ndim() == 2 && pairs.cell_shifts.dim(0) == P && pairs.cell_shifts.dim(1) == 3)),
             "soap: expected first, second [" << P << "] and cell_shifts [" << P << ", 3], got second ["
                                              << pairs.second.size() << "] and cell_shifts "
                                              << (pairs.cell_shifts.defined() ? pairs.cell_shifts.shape() : ad::Shape{}));
    std::vector<int> sp(static_cast<size_t>(n));
    for (long i = 0; i < n; ++i) sp[static_cast<size_t>(i)] = species_index(numbers[static_cast<size_t>(i)]);
    c.assign(static_cast<size_t>(n * Kc), 0.0);

    double A[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    if (strain)
        for (int t = 0; t < 9; ++t) A[t] += strain[t];
    if (jac) {
        jac->n_atoms_ = n;
        jac->n_features_ = n_features_;
        jac->S_ = S_;
        jac->Kc_ = Kc;
        jac->n_per_l_ = radial_.n_per_l();
        jac->feat_off_ = feat_off_;
        jac->c_off_ = c_off_;
        jac->r_off_ = radial_.offsets();
        jac->F_ = radial_.n_functions();
        jac->NY_ = sph_.n_components();
        jac->block_ = 2L * jac->F_ + 4L * jac->NY_ + 3;
        std::copy(A, A + 9, jac->A_);
        jac->pair_i_.clear();
        jac->pair_j_.clear();
        jac->pair_s_.clear();
        jac->v0_.clear();
        jac->data_.clear();
        jac->pair_i_.reserve(static_cast<size_t>(P));
        jac->data_.reserve(static_cast<size_t>(P * jac->block_));
    }

    // scratch, allocated once per call (not per pair)
    const int F = radial_.n_functions(), L = hypers_.max_angular;
    std::vector<double> R(static_cast<size_t>(F)), dR(static_cast<size_t>(F));
    std::vector<double> Y(static_cast<size_t>(sph_.n_components())), dY(static_cast<size_t>(3 * sph_.n_components()));
    const std::vector<int>& nl = radial_.n_per_l();
    const std::vector<int>& roff = radial_.offsets();
    const double rc = hypers_.cutoff;
    const double* shifts = P ? pairs.cell_shifts.data() : nullptr;

    for (long p = 0; p < P; ++p) {
        const long i = pairs.first[static_cast<size_t>(p)], j = pairs.second[static_cast<size_t>(p)];
        AD_CHECK(0 <= i && i < n && 0 <= j && j < n,
                 "soap: pair " << p << " refers to atom " << std::max(i, j) << ", expected < " << n);
        double v0[3], v[3];
        for (int a = 0; a < 3; ++a) v0[a] = positions[3 * j + a] - positions[3 * i + a] + shifts[3 * p + a];
        for (int a = 0; a < 3; ++a) v[a] = A[3 * a] * v0[0] + A[3 * a + 1] * v0[1] + A[3 * a + 2] * v0[2];
        const double r = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
        if (r >= rc) continue;  // f_c = f_c' = 0: no value, no derivative
        AD_CHECK(r > 0, "soap: expected distinct atoms, got atoms " << i << " and " << j
                                                                    << " at the same point (pair " << p << ")");
        double fc, dfc;
        cutoff_.evaluate(r, fc, dfc);
        radial_.evaluate(r, R.data(), dR.data());
        sph_.compute(v, Y.data(), jac ? dY.data() : nullptr);
        const int s = sp[static_cast<size_t>(j)];
        double* ci = &c[static_cast<size_t>(i * Kc)];
        for (int l = 0; l <= L; ++l) {
            const int n_l = nl[static_cast<size_t>(l)];
            const double* Rl = &R[static_cast<size_t>(roff[static_cast<size_t>(l)])];
            for (int m = -l; m <= l; ++m) {
                const double y = fc * Y[static_cast<size_t>(l * l + l + m)];
                double* row = ci + c_off_[static_cast<size_t>(l)] + (m + l) * n_l * S_ + s;
                for (int nn = 0; nn < n_l; ++nn) row[nn * S_] += y * Rl[nn];
            }
        }
        if (!jac) continue;
        jac->pair_i_.push_back(i);
        jac->pair_j_.push_back(j);
        jac->pair_s_.push_back(s);
        jac->v0_.insert(jac->v0_.end(), v0, v0 + 3);
        // the factors of dg (spec 8.1), not dg itself: 2F + 4 (L+1)^2 + 3 numbers per pair
        // instead of 3K (290 vs 840 at the defaults); transpose_apply/apply contract them
        const size_t base = jac->data_.size();
        jac->data_.resize(base + static_cast<size_t>(jac->block_));
        double* blk = &jac->data_[base];
        const int NY = sph_.n_components();
        for (int f = 0; f < F; ++f) {
            blk[f] = fc * R[static_cast<size_t>(f)];
            blk[F + f] = dfc * R[static_cast<size_t>(f)] + fc * dR[static_cast<size_t>(f)];
        }
        std::copy(Y.begin(), Y.end(), blk + 2 * F);
        std::copy(dY.begin(), dY.end(), blk + 2 * F + NY);
        for (int a = 0; a < 3; ++a) blk[2 * F + 4 * NY + a] = v[a] / r;
    }
}

namespace {
// P[a1, a2] = sum_m C[m, a1] C[m, a2]: C [rows, W] -> P [W, W]. The upper triangle is
// accumulated and mirrored (P is symmetric; the spec stores both halves). Zeros of the one-hot
// species channels are skipped.
AD_VECTOR_CLONES void gram(const double* C, int rows, int W, double* P) {
    std::fill(P, P + static_cast<long>(W) * W, 0.0);
    for (int m = 0; m < rows; ++m) {
        const double* cm = C + static_cast<long>(m) * W;
        for (int a1 = 0; a1 < W; ++a1) {
            const double v = cm[a1];
            if (v == 0.0) continue;
            double* Pa = P + static_cast<long>(a1) * W;
            for (int a2 = a1; a2 < W; ++a2) Pa[a2] += v * cm[a2];
        }
    }
    for (int a1 = 1; a1 < W; ++a1)
        for (int a2 = 0; a2 < a1; ++a2) P[static_cast<long>(a1) * W + a2] = P[static_cast<long>(a2) * W + a1];
}
}  // namespace

void Soap::compute_into(const std::vector<int>& numbers, const double* positions, const SoapPairs& pairs,
                        const double* strain, SoapJacobian* jac, double* out) const {
    const long n = static_cast<long>(numbers.size());
    std::vector<double> local;
    std::vector<double>& c = jac ? jac->c_ : local;
    expand(numbers, positions, pairs, strain, c, jac);
    const long Kc = n_coef_ * S_;
    for (long i = 0; i < n; ++i) {
        for (int l = 0; l <= hypers_.max_angular; ++l) {
            const int W = radial_.n_per_l()[static_cast<size_t>(l)] * S_;
            gram(&c[static_cast<size_t>(i * Kc + c_off_[static_cast<size_t>(l)])], 2 * l + 1, W,
                 out + i * n_features_ + feat_off_[static_cast<size_t>(l)]);
        }
    }
}

Tensor Soap::compute(const std::vector<int>& numbers, const double* positions, const SoapPairs& pairs,
                     const double* strain, SoapJacobian* jac) const {
    Tensor out = Tensor::empty({static_cast<long>(numbers.size()), n_features_});
    compute_into(numbers, positions, pairs, strain, jac, out.data());
    return out;
}

Tensor Soap::compute_many(const std::vector<Input>& inputs, int n_threads, std::vector<SoapJacobian>* jacs) const {
    std::vector<long> row(inputs.size() + 1, 0);  // first row of each structure
    for (size_t s = 0; s < inputs.size(); ++s) {
        AD_CHECK(inputs[s].numbers && inputs[s].positions && inputs[s].pairs,
                 "soap: compute_many input " << s << ": expected numbers, positions and pairs, got a null pointer");
        row[s + 1] = row[s] + static_cast<long>(inputs[s].numbers->size());
    }
    if (jacs) jacs->resize(inputs.size());
    // allocated by the calling thread (its buffer pool), filled row block by row block
    Tensor out = Tensor::empty({row.back(), n_features_});
    ad::parallel_for(static_cast<long>(inputs.size()), n_threads, [&](long s) {
        const Input& in = inputs[static_cast<size_t>(s)];
        compute_into(*in.numbers, in.positions, *in.pairs, in.strain, jacs ? &(*jacs)[static_cast<size_t>(s)] : nullptr,
                     out.data() + row[static_cast<size_t>(s)] * n_features_);
    });
    return out;
}

Tensor Soap::compute(const std::vector<int>& numbers, const Tensor& positions, const SoapPairs& pairs) const {
    AD_CHECK(positions.ndim() == 2 && positions.dim(1) == 3 && positions.dim(0) == static_cast<long>(numbers.size()),
             "soap: expected positions [" << numbers.size() << ", 3], got " << positions.shape());
    return compute(numbers, positions.data(), pairs, nullptr, nullptr);
}

Tensor Soap::expansion(const std::vector<int>& numbers, const Tensor& positions, const SoapPairs& pairs) const {
    AD_CHECK(positions.ndim() == 2 && positions.dim(1) == 3 && positions.dim(0) == static_cast<long>(numbers.size()),
             "soap: expected positions [" << numbers.size() << ", 3], got " << positions.shape());
    std::vector<double> c;
    expand(numbers, positions.data(), pairs, nullptr, c, nullptr);
    return ad::tensor({static_cast<long>(numbers.size()), n_coef_ * S_}, c);
}

// Reverse mode (spec 8.3): dE/dc[i, l, m, a] = sum_b (G[a, b] + G[b, a]) c[m, b];
// F_p = sum_{l m n} dE/dc[i, l, m, n S + s_p] dg[p, l, m, n, :] (dg contracted from its factors);
// gR_j += A^T F_p, gR_i -= A^T F_p, geps[a, b] += F_p[a] v0_p[b].
Tensor SoapJacobian::transpose_apply(const Tensor& G) const {
    AD_CHECK(G.ndim() == 2 && G.dim(0) == n_atoms_ && G.dim(1) == n_features_,
             "soap_vjp: expected g [" << n_atoms_ << ", " << n_features_ << "], got " << G.shape());
    Tensor out = Tensor::empty({n_atoms_ + 3, 3});
    transpose_apply_into(G.data(), out.data());
    return out;
}

Tensor SoapJacobian::transpose_apply_many(const std::vector<SoapJacobian>& jacs, const Tensor& G, int n_threads) {
    std::vector<long> row(jacs.size() + 1, 0), out_row(jacs.size() + 1, 0);
    const long D = jacs.empty() ? 0 : jacs[0].n_features_;
    for (size_t s = 0; s < jacs.size(); ++s) {
        AD_CHECK(jacs[s].n_features_ == D, "soap_vjp: expected Jacobians of one calculator, got " << D << " and "
                                                                                                  << jacs[s].n_features_ << " features");
        row[s + 1] = row[s] + jacs[s].n_atoms_;
        out_row[s + 1] = out_row[s] + jacs[s].n_atoms_ + 3;
    }
    AD_CHECK(G.ndim() == 2 && G.dim(0) == row.back() && G.dim(1) == D,
             "soap_vjp: expected g [" << row.back() << ", " << D << "], got " << G.shape());
    Tensor out = Tensor::empty({out_row.back(), 3});
    ad::parallel_for(static_cast<long>(jacs.size()), n_threads, [&](long s) {
        jacs[static_cast<size_t>(s)].transpose_apply_into(G.data() + row[static_cast<size_t>(s)] * D,
                                                          out.data() + 3 * out_row[static_cast<size_t>(s)]);
    });
    return out;
}

void SoapJacobian::transpose_apply_into(const double* g, double* out_data) const {
    std::vector<const double*> rows(static_cast<size_t>(n_atoms_));
    for (long i = 0; i < n_atoms_; ++i) rows[static_cast<size_t>(i)] = g + i * n_features_;
    transpose_apply_rows(rows.data(), out_data);
}

// As transpose_apply_into with G's row i at g_rows[i]; a null row is a zero row: its atom's
// coefficient gradient stays 0 and the pairs centred on it are skipped.
AD_VECTOR_CLONES void SoapJacobian::transpose_apply_rows(const double* const* g_rows, double* out_data) const {
    std::vector<double> dc(static_cast<size_t>(n_atoms_ * Kc_), 0.0);
    const int L = static_cast<int>(n_per_l_.size()) - 1;
    long W_max = 0;
    for (int n_l : n_per_l_) W_max = std::max<long>(W_max, n_l * S_);
    std::vector<double> Gs(static_cast<size_t>(W_max * W_max));
    for (long i = 0; i < n_atoms_; ++i) {
        if (!g_rows[i]) continue;
        for (int l = 0; l <= L; ++l) {
            const int W = n_per_l_[static_cast<size_t>(l)] * S_;
            const double* Gl = g_rows[i] + feat_off_[static_cast<size_t>(l)];
            const double* C = &c_[static_cast<size_t>(i * Kc_ + c_off_[static_cast<size_t>(l)])];
            double* D = &dc[static_cast<size_t>(i * Kc_ + c_off_[static_cast<size_t>(l)])];
            for (int b = 0; b < W; ++b)  // Gs = G + G^T, once per (i, l)
                for (int a = 0; a < W; ++a) Gs[static_cast<size_t>(b * W + a)] = Gl[b * W + a] + Gl[a * W + b];
            for (int m = 0; m < 2 * l + 1; ++m) {
                const double* cm = C + m * W;
                double* dm = D + m * W;
                for (int b = 0; b < W; ++b) {  // dm[a] = sum_b c[m, b] Gs[b, a]; zero channels skipped
                    const double v = cm[b];
                    if (v == 0.0) continue;
                    const double* Gb = &Gs[static_cast<size_t>(b * W)];
                    for (int a = 0; a < W; ++a) dm[a] += v * Gb[a];
                }
            }
        }
    }
    double* gR = out_data;
    double* geps = gR + 3 * n_atoms_;
    std::fill(out_data, out_data + 3 * (n_atoms_ + 3), 0.0);
    const long P = n_pairs();
    for (long p = 0; p < P; ++p) {
        const long i = pair_i_[static_cast<size_t>(p)], j = pair_j_[static_cast<size_t>(p)];
        if (!g_rows[i]) continue;
        const int s = pair_s_[static_cast<size_t>(p)];
        const double* fR = &data_[static_cast<size_t>(p * block_)];
        const double* dfR = fR + F_;
        const double* Y = fR + 2 * F_;
        const double* dY = Y + NY_;
        const double* u = dY + 3 * NY_;
        const double* D = &dc[static_cast<size_t>(i * Kc_)];
        // F_p = u sum_lm Y_lm (sum_n e dfR_nl) + sum_lm dY_lm (sum_n e fR_nl), e = dE/dc[l, m, n S + s]
        double Fu = 0.0, F[3] = {0, 0, 0};
        for (int l = 0; l <= L; ++l) {
            const int n_l = n_per_l_[static_cast<size_t>(l)], o = r_off_[static_cast<size_t>(l)];
            for (int m = 0; m < 2 * l + 1; ++m) {
                const double* Dm = D + c_off_[static_cast<size_t>(l)] + m * n_l * S_ + s;
                double a = 0.0, b = 0.0;
                for (int nn = 0; nn < n_l; ++nn) {
                    const double e = Dm[nn * S_];
                    a += e * dfR[o + nn];
                    b += e * fR[o + nn];
                }
                const int lm = l * l + m;
                Fu += a * Y[lm];
                F[0] += b * dY[3 * lm];
                F[1] += b * dY[3 * lm + 1];
                F[2] += b * dY[3 * lm + 2];
            }
        }
        for (int a = 0; a < 3; ++a) F[a] += Fu * u[a];
        const double* v0 = &v0_[static_cast<size_t>(3 * p)];
        for (int a = 0; a < 3; ++a) {
            const double AtF = A_[a] * F[0] + A_[3 + a] * F[1] + A_[6 + a] * F[2];
            gR[3 * j + a] += AtF;
            gR[3 * i + a] -= AtF;
            for (int b = 0; b < 3; ++b) geps[3 * a + b] += F[a] * v0[b];
        }
    }
}

// Forward mode: dv_p = A (dx_j - dx_i) + deps v0_p; dc[i, l, m, n S + s] += dg[p, l, m, n, :] . dv_p;
// dp[i, l, a1, a2] = sum_m dc[m, a1] c[m, a2] + c[m, a1] dc[m, a2].
Tensor SoapJacobian::apply(const Tensor& d) const {
    AD_CHECK(d.ndim() == 2 && d.dim(0) == n_atoms_ + 3 && d.dim(1) == 3,
             "soap_jvp: expected d [" << n_atoms_ + 3 << ", 3] (positions, then strain rows), got " << d.shape());
    Tensor out = Tensor::empty({n_atoms_, n_features_});
    std::vector<double*> rows(static_cast<size_t>(n_atoms_));
    for (long i = 0; i < n_atoms_; ++i) rows[static_cast<size_t>(i)] = out.data() + i * n_features_;
    apply_rows(d.data(), d.data() + 3 * n_atoms_, rows.data());
    return out;
}

// J d for the atoms with out_rows[i] != null (each written in full), from dx [n, 3], deps [3, 3].
AD_VECTOR_CLONES void SoapJacobian::apply_rows(const double* dx, const double* deps, double* const* out_rows) const {
    std::vector<double> dc(static_cast<size_t>(n_atoms_ * Kc_), 0.0);
    const int L = static_cast<int>(n_per_l_.size()) - 1;
    const long P = n_pairs();
    for (long p = 0; p < P; ++p) {
        const long i = pair_i_[static_cast<size_t>(p)], j = pair_j_[static_cast<size_t>(p)];
        if (!out_rows[i]) continue;
        const int s = pair_s_[static_cast<size_t>(p)];
        const double* v0 = &v0_[static_cast<size_t>(3 * p)];
        double dv[3];
        for (int a = 0; a < 3; ++a) {
            dv[a] = 0.0;
            for (int b = 0; b < 3; ++b) dv[a] += A_[3 * a + b] * (dx[3 * j + b] - dx[3 * i + b]) + deps[3 * a + b] * v0[b];
        }
        const double* fR = &data_[static_cast<size_t>(p * block_)];
        const double* dfR = fR + F_;
        const double* Y = fR + 2 * F_;
        const double* dY = Y + NY_;
        const double* u = dY + 3 * NY_;
        const double udv = u[0] * dv[0] + u[1] * dv[1] + u[2] * dv[2];
        double* D = &dc[static_cast<size_t>(i * Kc_)];
        for (int l = 0; l <= L; ++l) {
            const int n_l = n_per_l_[static_cast<size_t>(l)], o = r_off_[static_cast<size_t>(l)];
            for (int m = 0; m < 2 * l + 1; ++m) {
                const int lm = l * l + m;
                const double y1 = Y[lm] * udv;
                const double y2 = dY[3 * lm] * dv[0] + dY[3 * lm + 1] * dv[1] + dY[3 * lm + 2] * dv[2];
                double* Dm = D + c_off_[static_cast<size_t>(l)] + m * n_l * S_ + s;
                for (int nn = 0; nn < n_l; ++nn) Dm[nn * S_] += dfR[o + nn] * y1 + fR[o + nn] * y2;
            }
        }
    }
    // dp_l = M + M^T with M[a1, a2] = sum_m dc[m, a1] c[m, a2]: half the products of summing
    // both terms per entry; every entry of out is written (no zero fill)
    long W_max = 0;
    for (int n_l : n_per_l_) W_max = std::max<long>(W_max, n_l * S_);
    std::vector<double> M(static_cast<size_t>(W_max * W_max));
    for (long i = 0; i < n_atoms_; ++i) {
        if (!out_rows[i]) continue;
        for (int l = 0; l <= L; ++l) {
            const int W = n_per_l_[static_cast<size_t>(l)] * S_;
            const double* C = &c_[static_cast<size_t>(i * Kc_ + c_off_[static_cast<size_t>(l)])];
            const double* D = &dc[static_cast<size_t>(i * Kc_ + c_off_[static_cast<size_t>(l)])];
            double* Pl = out_rows[i] + feat_off_[static_cast<size_t>(l)];
            std::fill(M.begin(), M.begin() + W * W, 0.0);
            for (int m = 0; m < 2 * l + 1; ++m) {
                const double* cm = C + m * W;
                const double* dm = D + m * W;
                for (int a1 = 0; a1 < W; ++a1) {
                    const double d1 = dm[a1];
                    if (d1 == 0.0) continue;  // species channels without neighbours
                    double* Ma = &M[static_cast<size_t>(a1 * W)];
                    for (int a2 = 0; a2 < W; ++a2) Ma[a2] += d1 * cm[a2];
                }
            }
            for (int a1 = 0; a1 < W; ++a1)
                for (int a2 = 0; a2 < W; ++a2)
                    Pl[a1 * W + a2] = M[static_cast<size_t>(a1 * W + a2)] + M[static_cast<size_t>(a2 * W + a1)];
        }
    }
}

namespace {
void check_positions_strain(const Tensor& positions, const Tensor& strain, long n, const char* where) {
    AD_CHECK(positions.defined() && positions.ndim() == 2 && positions.dim(0) == n && positions.dim(1) == 3,
             where << ": expected positions [" << n << ", 3], got "
                   << (positions.defined() ? positions.shape() : ad::Shape{}));
    AD_CHECK(!strain.defined() || (strain.ndim() == 2 && strain.dim(0) == 3 && strain.dim(1) == 3),
             where << ": expected strain [3, 3] or undefined, got " << strain.shape());
}

void refuse_second_derivatives(const ad::Ctx& c) {
    AD_CHECK(!c.needs[1] && !c.needs[2],
             "soap: second derivatives w.r.t. positions or strain are not implemented; "
             "differentiate forces and stress w.r.t. network parameters only");
}
}  // namespace

Tensor soap(const Tensor& positions, const Tensor& strain, const std::vector<int>& numbers,
            const SoapPairs& pairs, const Soap& calculator) {
    check_positions_strain(positions, strain, static_cast<long>(numbers.size()), "soap");
    const bool need_jac = ad::grad_enabled() && (positions.requires_grad() || strain.requires_grad());
    if (!need_jac)
        return calculator.compute(numbers, positions.data(), pairs, strain.defined() ? strain.data() : nullptr, nullptr);
    auto J = std::make_shared<SoapJacobian>();
    Tensor out = calculator.compute(numbers, positions.data(), pairs, strain.defined() ? strain.data() : nullptr, J.get());
    std::shared_ptr<const SoapJacobian> Jc = J;
    // gR, geps = slices of soap_vjp(g): one op, so that d(gR)/dg is available for force training
    return ad::record("soap", out, {positions, strain}, [Jc](const Tensor& g, const ad::Ctx& c) {
        Tensor both = soap_vjp(g, c.in[0], c.in[1], Jc);
        const long n = Jc->n_atoms();
        return ad::Grads{c.needs[0] ? ad::slice(both, 0, 0, n) : Tensor{},
                         c.needs[1] ? ad::slice(both, 0, n, n + 3) : Tensor{}};
    });
}

// y[n + 3, 3] = J^T g;  g_g = J gg (soap_jvp); positions/strain: second derivatives refused
Tensor soap_vjp(const Tensor& g, const Tensor& positions, const Tensor& strain, std::shared_ptr<const SoapJacobian> J) {
    AD_CHECK(J != nullptr, "soap_vjp: expected a Jacobian, got null");
    check_positions_strain(positions, strain, J->n_atoms(), "soap_vjp");
    Tensor out = J->transpose_apply(g);
    return ad::record("soap_vjp", out, {g, positions, strain}, [J](const Tensor& gg, const ad::Ctx& c) {
        refuse_second_derivatives(c);
        return ad::Grads{c.needs[0] ? soap_jvp(gg, c.in[1], c.in[2], J) : Tensor{}, Tensor{}, Tensor{}};
    });
}

// y[n, D] = J d;  g_d = J^T g (soap_vjp)
Tensor soap_jvp(const Tensor& d, const Tensor& positions, const Tensor& strain, std::shared_ptr<const SoapJacobian> J) {
    AD_CHECK(J != nullptr, "soap_jvp: expected a Jacobian, got null");
    check_positions_strain(positions, strain, J->n_atoms(), "soap_jvp");
    Tensor out = J->apply(d);
    return ad::record("soap_jvp", out, {d, positions, strain}, [J](const Tensor& g, const ad::Ctx& c) {
        refuse_second_derivatives(c);
        return ad::Grads{c.needs[0] ? soap_vjp(g, c.in[1], c.in[2], J) : Tensor{}, Tensor{}, Tensor{}};
    });
}

}  // namespace desc

// ---------------------------------------------------------------------------- row ops of a stack

namespace desc {

namespace {
// Structure of each stack row and its local index: rows[k] -> (s, i).
struct RowMap {
    std::vector<long> structure, local;
};

RowMap map_rows(const SoapStack& st, const std::vector<long>& rows, const char* where) {
    RowMap m;
    m.structure.resize(rows.size());
    m.local.resize(rows.size());
    const long n = st.n_atoms();
    std::vector<char> seen(static_cast<size_t>(n), 0);
    for (size_t k = 0; k < rows.size(); ++k) {
        const long r = rows[k];
        AD_CHECK(r >= 0 && r < n, where << ": expected rows in [0, " << n << "), got " << r << " at position " << k);
        AD_CHECK(!seen[static_cast<size_t>(r)], where << ": expected distinct rows, got " << r << " twice");
        seen[static_cast<size_t>(r)] = 1;
        const long s = static_cast<long>(std::upper_bound(st.offsets.begin(), st.offsets.end(), r) - st.offsets.begin()) - 1;
        m.structure[k] = s;
        m.local[k] = r - st.offsets[static_cast<size_t>(s)];
    }
    return m;
}

void check_stack_inputs(const Tensor& positions, const std::vector<Tensor>& strains, const SoapStack* st,
                        const char* where) {
    AD_CHECK(st != nullptr, where << ": expected a SoapStack, got null");
    const long n = st->n_atoms();
    AD_CHECK(positions.defined() && positions.ndim() == 2 && positions.dim(0) == n && positions.dim(1) == 3,
             where << ": expected positions [" << n << ", 3], got " << (positions.defined() ? positions.shape() : ad::Shape{}));
    AD_CHECK(static_cast<long>(strains.size()) == st->n_structures(),
             where << ": expected " << st->n_structures() << " strains (undefined for none), got " << strains.size());
    for (const Tensor& e : strains)
        AD_CHECK(!e.defined() || (e.ndim() == 2 && e.dim(0) == 3 && e.dim(1) == 3),
                 where << ": expected strain [3, 3] or undefined, got " << e.shape());
}

std::vector<Tensor> stack_inputs(const Tensor& positions, const std::vector<Tensor>& strains) {
    std::vector<Tensor> in{positions};
    in.insert(in.end(), strains.begin(), strains.end());
    return in;
}

// inputs first.. are positions and strains: their second derivatives are not implemented
void refuse_stack_second_derivatives(const ad::Ctx& c, size_t first) {
    for (size_t k = first; k < c.needs.size(); ++k)
        AD_CHECK(!c.needs[k], "soap: second derivatives w.r.t. positions or strain are not implemented; "
                              "differentiate forces and stress w.r.t. network parameters only");
}

// the strains of soap_rows_vjp / soap_rows_jvp's inputs (g or d, positions, strains...)
std::vector<Tensor> strains_of(const ad::Ctx& c) { return std::vector<Tensor>(c.in.begin() + 2, c.in.end()); }
}  // namespace

std::shared_ptr<const SoapStack> soap_stack(const Tensor& positions, const std::vector<Tensor>& strains,
                                            const std::vector<std::vector<int>>& numbers,
                                            const std::vector<SoapPairs>& pairs, const std::vector<long>& offsets,
                                            const Soap& calculator) {
    const size_t S = numbers.size();
    AD_CHECK(pairs.size() == S && strains.size() == S && offsets.size() == S + 1 && offsets.front() == 0,
             "soap_stack: expected numbers, pairs, strains per structure and offsets [" << S + 1 << "], got "
                                                                                         << pairs.size() << ", " << strains.size()
                                                                                         << " and " << offsets.size());
    AD_CHECK(positions.ndim() == 2 && positions.dim(0) == offsets.back() && positions.dim(1) == 3,
             "soap_stack: expected positions [" << offsets.back() << ", 3], got " << positions.shape());
    std::vector<Soap::Input> inputs(S);
    for (size_t s = 0; s < S; ++s) {
        AD_CHECK(static_cast<long>(numbers[s].size()) == offsets[s + 1] - offsets[s],
                 "soap_stack: expected " << offsets[s + 1] - offsets[s] << " numbers in structure " << s << ", got "
                                         << numbers[s].size());
        AD_CHECK(!strains[s].defined() || (strains[s].ndim() == 2 && strains[s].dim(0) == 3 && strains[s].dim(1) == 3),
                 "soap_stack: expected strain [3, 3] or undefined, got " << strains[s].shape());
        inputs[s] = {&numbers[s], positions.data() + 3 * offsets[s], &pairs[s],
                     strains[s].defined() ? strains[s].data() : nullptr};
    }
    auto st = std::make_shared<SoapStack>();
    st->offsets = offsets;
    st->values = calculator.compute_many(inputs, 1, &st->jacs);
    return st;
}

// y[k, :] = values[rows[k], :];  g_positions, g_strain_s = slices of soap_rows_vjp(g)
Tensor soap_rows(const Tensor& positions, const std::vector<Tensor>& strains, const std::vector<long>& rows,
                 std::shared_ptr<const SoapStack> stack) {
    check_stack_inputs(positions, strains, stack.get(), "soap_rows");
    map_rows(*stack, rows, "soap_rows");
    const long D = stack->values.dim(1), m = static_cast<long>(rows.size());
    Tensor out = Tensor::empty({m, D});
    for (long k = 0; k < m; ++k)
        std::copy_n(stack->values.data() + rows[static_cast<size_t>(k)] * D, D, out.data() + k * D);
    return ad::record("soap_rows", out, stack_inputs(positions, strains), [rows, stack](const Tensor& g, const ad::Ctx& c) {
        Tensor both = soap_rows_vjp(g, c.in[0], std::vector<Tensor>(c.in.begin() + 1, c.in.end()), rows, stack);
        const long n = stack->n_atoms();
        ad::Grads gs(c.in.size());
        if (c.needs[0]) gs[0] = ad::slice(both, 0, 0, n);
        for (size_t s = 1; s < c.in.size(); ++s)
            if (c.needs[s]) gs[s] = ad::slice(both, 0, n + 3 * static_cast<long>(s - 1), n + 3 * static_cast<long>(s));
        return gs;
    });
}

// y[n + 3 S, 3] = J^T (g at rows);  g_g = soap_rows_jvp(gg); positions/strains: refused
Tensor soap_rows_vjp(const Tensor& g, const Tensor& positions, const std::vector<Tensor>& strains,
                     const std::vector<long>& rows, std::shared_ptr<const SoapStack> stack) {
    check_stack_inputs(positions, strains, stack.get(), "soap_rows_vjp");
    const SoapStack& st = *stack;
    const long n = st.n_atoms(), S = st.n_structures(), D = st.values.dim(1), m = static_cast<long>(rows.size());
    AD_CHECK(g.ndim() == 2 && g.dim(0) == m && g.dim(1) == D,
             "soap_rows_vjp: expected g [" << m << ", " << D << "], got " << g.shape());
    const RowMap map = map_rows(st, rows, "soap_rows_vjp");
    std::vector<std::vector<const double*>> g_rows(static_cast<size_t>(S));
    for (long s = 0; s < S; ++s)
        g_rows[static_cast<size_t>(s)].assign(static_cast<size_t>(st.offsets[static_cast<size_t>(s) + 1] - st.offsets[static_cast<size_t>(s)]), nullptr);
    std::vector<char> used(static_cast<size_t>(S), 0);
    for (long k = 0; k < m; ++k) {
        g_rows[static_cast<size_t>(map.structure[static_cast<size_t>(k)])][static_cast<size_t>(map.local[static_cast<size_t>(k)])] = g.data() + k * D;
        used[static_cast<size_t>(map.structure[static_cast<size_t>(k)])] = 1;
    }
    Tensor out = Tensor::zeros({n + 3 * S, 3});
    std::vector<double> tmp;
    for (long s = 0; s < S; ++s) {
        if (!used[static_cast<size_t>(s)]) continue;  // no rows of this structure: zero gradient
        const long lo = st.offsets[static_cast<size_t>(s)], ns = st.offsets[static_cast<size_t>(s) + 1] - lo;
        tmp.resize(static_cast<size_t>(3 * (ns + 3)));
        st.jacs[static_cast<size_t>(s)].transpose_apply_rows(g_rows[static_cast<size_t>(s)].data(), tmp.data());
        std::copy_n(tmp.data(), 3 * ns, out.data() + 3 * lo);
        std::copy_n(tmp.data() + 3 * ns, 9, out.data() + 3 * (n + 3 * s));
    }
    std::vector<Tensor> in{g, positions};
    in.insert(in.end(), strains.begin(), strains.end());
    return ad::record("soap_rows_vjp", out, in, [rows, stack](const Tensor& gg, const ad::Ctx& c) {
        refuse_stack_second_derivatives(c, 1);
        ad::Grads gs(c.in.size());
        if (c.needs[0]) gs[0] = soap_rows_jvp(gg, c.in[1], strains_of(c), rows, stack);
        return gs;
    });
}

// y[m, D] = (J d)[rows];  g_d = soap_rows_vjp(g); positions/strains: refused
Tensor soap_rows_jvp(const Tensor& d, const Tensor& positions, const std::vector<Tensor>& strains,
                     const std::vector<long>& rows, std::shared_ptr<const SoapStack> stack) {
    check_stack_inputs(positions, strains, stack.get(), "soap_rows_jvp");
    const SoapStack& st = *stack;
    const long n = st.n_atoms(), S = st.n_structures(), D = st.values.dim(1), m = static_cast<long>(rows.size());
    AD_CHECK(d.ndim() == 2 && d.dim(0) == n + 3 * S && d.dim(1) == 3,
             "soap_rows_jvp: expected d [" << n + 3 * S << ", 3] (positions, then 3 strain rows per structure), got "
                                           << d.shape());
    const RowMap map = map_rows(st, rows, "soap_rows_jvp");
    std::vector<std::vector<double*>> out_rows(static_cast<size_t>(S));
    for (long s = 0; s < S; ++s)
        out_rows[static_cast<size_t>(s)].assign(static_cast<size_t>(st.offsets[static_cast<size_t>(s) + 1] - st.offsets[static_cast<size_t>(s)]), nullptr);
    std::vector<char> used(static_cast<size_t>(S), 0);
    Tensor out = Tensor::empty({m, D});
    for (long k = 0; k < m; ++k) {
        out_rows[static_cast<size_t>(map.structure[static_cast<size_t>(k)])][static_cast<size_t>(map.local[static_cast<size_t>(k)])] = out.data() + k * D;
        used[static_cast<size_t>(map.structure[static_cast<size_t>(k)])] = 1;
    }
    for (long s = 0; s < S; ++s) {
        if (!used[static_cast<size_t>(s)]) continue;
        const long lo = st.offsets[static_cast<size_t>(s)];
        st.jacs[static_cast<size_t>(s)].apply_rows(d.data() + 3 * lo, d.data() + 3 * (n + 3 * s), out_rows[static_cast<size_t>(s)].data());
    }
    std::vector<Tensor> in{d, positions};
    in.insert(in.end(), strains.begin(), strains.end());
    return ad::record("soap_rows_jvp", out, in, [rows, stack](const Tensor& g, const ad::Ctx& c) {
        refuse_stack_second_derivatives(c, 1);
        ad::Grads gs(c.in.size());
        if (c.needs[0]) gs[0] = soap_rows_vjp(g, c.in[1], strains_of(c), rows, stack);
        return gs;
    });
}

}  // namespace desc
