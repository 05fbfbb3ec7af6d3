// Cell-list neighbour search with periodic images (specs/soap.md sec. 2) and its naive twin.
//
// Notation: atoms i, j; Cartesian c; lattice directions k; h[k, c] = cell (rows a_k);
// fractional coordinates f_i = x_i h^-1; b_k = column k of h^-1, interplanar spacing d_k = 1/|b_k|;
// shift S (integers, 0 along non-periodic k); r_ij(S) = x_j - x_i + sum_k S_k a_k.
// Bins: n_bins_k slabs along direction k, each at least r_c thick (measured across the slab), so
// a neighbour lies within n_search_k = floor(r_c / thickness + 1e-8) + 1 slabs.
#include "descriptors/neighbor_list.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace desc {

namespace {

struct Candidate {
    long j;
    std::array<int, 3> s;
    double v[3];
    double d;
};

// r_ij(S) computed in one place, so that the fast list and the oracle agree to the last bit (also
// on which pairs at distance ~r_c pass the strict test).
inline void pair_vector(const double* x, const double* h, long i, long j, const std::array<int, 3>& s, double* v) {
    for (int c = 0; c < 3; ++c)
        v[c] = (x[3 * j + c] - x[3 * i + c]) + (s[0] * h[c] + s[1] * h[3 + c] + s[2] * h[6 + c]);
}

struct Geometry {
    long n = 0;
    const double* x = nullptr;
    double h[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};   // the cell (zeros when absent)
    double basis[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};  // cell when any pbc, else identity (Cartesian bins)
    double inv[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};    // basis^-1
    double spacing[3] = {1, 1, 1};                   // d_k of the basis
    std::array<bool, 3> pbc{};
};

// Error messages start with "<fn>: <where>: ", or with "<where>: " when fn is empty (check_geometry).
std::string prefix(const char* fn, const System& sys) {
    return *fn ? std::string(fn) + ": " + sys.where() : sys.where();
}

Geometry check_and_prepare(const System& sys, double cutoff, const char* fn) {
    AD_CHECK(std::isfinite(cutoff) && cutoff > 0, fn << ": expected a finite cutoff > 0, got " << cutoff);
    Geometry g;
    g.n = sys.n_atoms();
    AD_CHECK(sys.positions.defined() && sys.positions.shape() == ad::Shape({g.n, 3}),
             prefix(fn, sys) << ": expected positions [" << g.n << ", 3], got "
                << (sys.positions.defined() ? sys.positions.shape() : ad::Shape{}));
    g.x = sys.positions.data();
    for (long k = 0; k < 3 * g.n; ++k)
        AD_CHECK(std::isfinite(g.x[k]), prefix(fn, sys) << ": expected finite positions, got " << g.x[k]
                                          << " for atom " << k / 3);
    g.pbc = sys.pbc;
    if (!sys.any_pbc()) return g;
    AD_CHECK(sys.cell.defined() && sys.cell.numel() == 9,
             prefix(fn, sys) << ": expected a cell [3, 3] with pbc, got "
                << (sys.cell.defined() ? sys.cell.shape() : ad::Shape{}));
    for (int k = 0; k < 9; ++k) g.h[k] = g.basis[k] = sys.cell[k];
    const double* m = g.h;
    double det = sys.volume();
    double scale = 1;
    for (int k = 0; k < 3; ++k) scale *= std::sqrt(m[3 * k] * m[3 * k] + m[3 * k + 1] * m[3 * k + 1] + m[3 * k + 2] * m[3 * k + 2]);
    AD_CHECK(scale > 0 && std::fabs(det) > 1e-10 * scale,
             prefix(fn, sys) << ": expected a non-singular cell with pbc, got determinant " << det);
    // inverse by cofactors: inv[c][k] = cof[k][c] / det
    double cof[9] = {m[4] * m[8] - m[5] * m[7], m[5] * m[6] - m[3] * m[8], m[3] * m[7] - m[4] * m[6],
                     m[2] * m[7] - m[1] * m[8], m[0] * m[8] - m[2] * m[6], m[1] * m[6] - m[0] * m[7],
                     m[1] * m[5] - m[2] * m[4], m[2] * m[3] - m[0] * m[5], m[0] * m[4] - m[1] * m[3]};
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) g.inv[3 * r + c] = cof[3 * c + r] / det;
    for (int k = 0; k < 3; ++k) {
        double b2 = g.inv[k] * g.inv[k] + g.inv[3 + k] * g.inv[3 + k] + g.inv[6 + k] * g.inv[6 + k];
        g.spacing[k] = 1.0 / std::sqrt(b2);
    }
    return g;
}

// f[k] = sum_c x[c] inv[c, k]
inline void fractional(const Geometry& g, long i, double* f) {
    for (int k = 0; k < 3; ++k)
        f[k] = g.x[3 * i] * g.inv[k] + g.x[3 * i + 1] * g.inv[3 + k] + g.x[3 * i + 2] * g.inv[6 + k];
}

bool keep_half(long i, long j, const std::array<int, 3>& s) {
    if (i != j) return i < j;
    return std::array<int, 3>{0, 0, 0} < s;  // S > 0 lexicographically
}

[[noreturn]] void too_close(const System& sys, const char* fn, const Candidate& c, long i) {
    AD_FAIL(prefix(fn, sys) << ": expected atoms at least " << kMinAtomDistance << " A apart, got atoms "
                            << std::min(i, c.j) << " and " << std::max(i, c.j) << " at distance " << c.d
                            << " (shift [" << c.s[0] << ", " << c.s[1] << ", " << c.s[2]
                            << "]); duplicated atoms?");
}

// The result, allocated once at its final size and filled atom by atom.
struct Output {
    NeighborList list;
    long* first;
    long* second;
    std::array<int, 3>* shift;
    double* v;
    double* d;
    explicit Output(long n_pairs) {
        list.first.resize(static_cast<size_t>(n_pairs));
        list.second.resize(static_cast<size_t>(n_pairs));
        list.shift.resize(static_cast<size_t>(n_pairs));
        list.vectors = ad::Tensor::empty({n_pairs, 3});
        list.distances = ad::Tensor::empty({n_pairs});
        first = list.first.data(), second = list.second.data(), shift = list.shift.data();
        v = list.vectors.data(), d = list.distances.data();
    }
    void put(long i, const Candidate& c, long at) {
        first[at] = i;
        second[at] = c.j;
        shift[at] = c.s;
        v[3 * at] = c.v[0], v[3 * at + 1] = c.v[1], v[3 * at + 2] = c.v[2];
        d[at] = c.d;
    }
    void put(long i, const std::vector<Candidate>& buf, long at) {
        for (const Candidate& c : buf) put(i, c, at++);
    }
};

bool candidate_less(const Candidate& a, const Candidate& b) { return a.j != b.j ? a.j < b.j : a.s < b.s; }

}  // namespace

namespace {

NeighborList cell_list_pairs(const System& sys, double cutoff, Pairs pairs, const char* fn) {
    Geometry g = check_and_prepare(sys, cutoff, fn);
    const long n = g.n;

    // Fractional coordinates; along periodic k wrap into [0, 1) and remember the integer part
    // (x_i = wrapped + sum_k wrap_ik a_k), so shifts refer to the positions as given.
    std::vector<double> w(static_cast<size_t>(3 * n));
    std::vector<std::array<int, 3>> wrap(static_cast<size_t>(n), {0, 0, 0});
    double lo[3] = {0, 0, 0}, span[3] = {1, 1, 1};
    for (int k = 0; k < 3; ++k)
        if (!g.pbc[k]) lo[k] = HUGE_VAL, span[k] = -HUGE_VAL;
    for (long i = 0; i < n; ++i) {
        double f[3];
        fractional(g, i, f);
        for (int k = 0; k < 3; ++k) {
            if (g.pbc[k]) {
                double fl = std::floor(f[k]);
                wrap[static_cast<size_t>(i)][k] = static_cast<int>(fl);
                f[k] -= fl;
            } else {
                lo[k] = std::min(lo[k], f[k]);
                span[k] = std::max(span[k], f[k]);  // the maximum for now
            }
            w[static_cast<size_t>(3 * i + k)] = f[k];
        }
    }
    for (int k = 0; k < 3; ++k)
        if (!g.pbc[k]) span[k] = n > 0 ? span[k] - lo[k] : 0.0, lo[k] = n > 0 ? lo[k] : 0.0;

    // Slabs at least r_c thick; the total number of bins is capped near the number of atoms
    // (a dilute box would otherwise allocate mostly empty bins). Thicker slabs stay correct.
    long nb[3];
    for (int k = 0; k < 3; ++k) {
        double thick = span[k] * g.spacing[k];
        double b = std::floor(thick / cutoff);
        nb[k] = b < 1 ? 1 : (b > 1e6 ? 1000000 : static_cast<long>(b));
    }
    const double limit = std::max(64.0, 2.0 * static_cast<double>(n));
    while (static_cast<double>(nb[0]) * nb[1] * nb[2] > limit) {
        int k = nb[0] >= nb[1] && nb[0] >= nb[2] ? 0 : (nb[1] >= nb[2] ? 1 : 2);
        nb[k] = std::max(1L, nb[k] / 2);
    }
    double width[3];
    long n_search[3];
    for (int k = 0; k < 3; ++k) {
        width[k] = span[k] > 0 ? span[k] / static_cast<double>(nb[k]) : 1.0;
        double thickness = width[k] * g.spacing[k];
        // floor(a) + 1 >= ceil(a) slabs; the 1e-8 covers rounding when a is just below an integer
        n_search[k] = span[k] > 0 ? static_cast<long>(std::floor(cutoff / thickness + 1e-8)) + 1 : 0;
        if (!g.pbc[k]) n_search[k] = std::min(n_search[k], nb[k] - 1);
    }

    // Counting sort of atoms into bins (stable: atoms stay in ascending order within a bin).
    const long n_bins = nb[0] * nb[1] * nb[2];
    std::vector<std::array<long, 3>> bin3(static_cast<size_t>(n));
    std::vector<long> start(static_cast<size_t>(n_bins + 1), 0), order(static_cast<size_t>(n));
    std::vector<long> flat(static_cast<size_t>(n));
    for (long i = 0; i < n; ++i) {
        for (int k = 0; k < 3; ++k) {
            double u = (w[static_cast<size_t>(3 * i + k)] - lo[k]) / width[k];
            long b = static_cast<long>(std::floor(u));
            bin3[static_cast<size_t>(i)][k] = std::min(std::max(b, 0L), nb[k] - 1);
        }
        const auto& b = bin3[static_cast<size_t>(i)];
        flat[static_cast<size_t>(i)] = (b[0] * nb[1] + b[1]) * nb[2] + b[2];
        ++start[static_cast<size_t>(flat[static_cast<size_t>(i)] + 1)];
    }
    for (long b = 0; b < n_bins; ++b) start[static_cast<size_t>(b + 1)] += start[static_cast<size_t>(b)];
    {
        std::vector<long> fill(start.begin(), start.end() - 1);
        for (long i = 0; i < n; ++i) order[static_cast<size_t>(fill[static_cast<size_t>(flat[static_cast<size_t>(i)])]++)] = i;
    }

    // Two passes over the same candidates: the first counts, the second writes into outputs of the
    // exact size (growing a list of ~10^6 pairs would cost more in copies and page faults than
    // the search itself).
    // Prefilter on wrapped positions y_i = x_i - sum_k wrap_ik a_k stored in bin order (contiguous
    // loads): |y_j + t.cell - y_i| < rc_pre. Survivors are tested again with r_ij(S) computed
    // from the given positions (pair_vector), which decides. rc_pre exceeds r_c by far more than
    // the rounding difference between the two ways of computing the vector.
    const double rc = cutoff;
    double scale = rc;
    for (long k = 0; k < 3 * n; ++k) scale = std::max(scale, std::fabs(g.x[k]));
    double hsum = 0;
    for (double v : g.h) hsum += std::fabs(v);
    long max_wrap = 0;
    for (const auto& wi : wrap)
        for (int k = 0; k < 3; ++k) max_wrap = std::max(max_wrap, static_cast<long>(std::abs(wi[k])));
    scale += hsum * static_cast<double>(2 * max_wrap + n_search[0] + n_search[1] + n_search[2] + 2);
    const double rc_pre = rc + 1e-10 * scale;
    const double rc_pre2 = rc_pre * rc_pre;
    std::vector<double> ys(static_cast<size_t>(3 * n));
    for (long q = 0; q < n; ++q) {
        long i = order[static_cast<size_t>(q)];
        const auto& wi = wrap[static_cast<size_t>(i)];
        for (int c = 0; c < 3; ++c)
            ys[static_cast<size_t>(3 * q + c)] =
                g.x[3 * i + c] - (wi[0] * g.h[c] + wi[1] * g.h[3 + c] + wi[2] * g.h[6 + c]);
    }
    std::vector<long> slot(static_cast<size_t>(n));  // position of atom i in bin order
    for (long q = 0; q < n; ++q) slot[static_cast<size_t>(order[static_cast<size_t>(q)])] = q;

    auto collect = [&](long i, std::vector<Candidate>& buf) {
        buf.clear();
        const auto& bi = bin3[static_cast<size_t>(i)];
        const auto& wi = wrap[static_cast<size_t>(i)];
        const double* yi = &ys[static_cast<size_t>(3 * slot[static_cast<size_t>(i)])];
        long from[3], to[3];
        for (int k = 0; k < 3; ++k) {
            from[k] = bi[k] - n_search[k];
            to[k] = bi[k] + n_search[k];
            if (!g.pbc[k]) from[k] = std::max(from[k], 0L), to[k] = std::min(to[k], nb[k] - 1);
        }
        for (long c0 = from[0]; c0 <= to[0]; ++c0) {
            for (long c1 = from[1]; c1 <= to[1]; ++c1) {
                for (long c2 = from[2]; c2 <= to[2]; ++c2) {
                    // bin (c mod nb) seen through lattice translation t = floor(c / nb) (periodic k only)
                    long c[3] = {c0, c1, c2}, cb[3];
                    int t[3];
                    for (int k = 0; k < 3; ++k) {
                        long m = c[k] % nb[k];
                        if (m < 0) m += nb[k];
                        cb[k] = m;
                        t[k] = g.pbc[k] ? static_cast<int>((c[k] - m) / nb[k]) : 0;
                    }
                    double base[3];  // t.cell - y_i
                    for (int e = 0; e < 3; ++e) base[e] = t[0] * g.h[e] + t[1] * g.h[3 + e] + t[2] * g.h[6 + e] - yi[e];
                    long b = (cb[0] * nb[1] + cb[1]) * nb[2] + cb[2];
                    const long q_end = start[static_cast<size_t>(b + 1)];
                    for (long q = start[static_cast<size_t>(b)]; q < q_end; ++q) {
                        const double* yj = &ys[static_cast<size_t>(3 * q)];
                        double dx = yj[0] + base[0], dy = yj[1] + base[1], dz = yj[2] + base[2];
                        if (dx * dx + dy * dy + dz * dz >= rc_pre2) continue;
                        long j = order[static_cast<size_t>(q)];
                        const auto& wj = wrap[static_cast<size_t>(j)];
                        Candidate cand;
                        cand.j = j;
                        for (int k = 0; k < 3; ++k) cand.s[k] = t[k] + wi[k] - wj[k];
                        pair_vector(g.x, g.h, i, j, cand.s, cand.v);
                        cand.d = std::sqrt(cand.v[0] * cand.v[0] + cand.v[1] * cand.v[1] + cand.v[2] * cand.v[2]);
                        if (!(cand.d < rc)) continue;
                        if (j == i && cand.s[0] == 0 && cand.s[1] == 0 && cand.s[2] == 0) continue;
                        if (cand.d < kMinAtomDistance) too_close(sys, fn, cand, i);
                        if (pairs == Pairs::half && !keep_half(i, j, cand.s)) continue;
                        buf.push_back(cand);
                    }
                }
            }
        }
    };
    std::vector<Candidate> buf;
    std::vector<long> offset(static_cast<size_t>(n + 1), 0);
    for (long i = 0; i < n; ++i) {
        collect(i, buf);
        offset[static_cast<size_t>(i + 1)] = offset[static_cast<size_t>(i)] + static_cast<long>(buf.size());
    }
    Output out(offset[static_cast<size_t>(n)]);
    for (long i = 0; i < n; ++i) {
        collect(i, buf);
        std::sort(buf.begin(), buf.end(), candidate_less);
        out.put(i, buf, offset[static_cast<size_t>(i)]);
    }
    return std::move(out.list);
}

}  // namespace

NeighborList neighbor_list(const System& sys, double cutoff, Pairs pairs) {
    return cell_list_pairs(sys, cutoff, pairs, "neighbor_list");
}

void check_geometry(const System& sys) {
    // every pair closer than kMinAtomDistance is a pair of this list, and makes it throw
    cell_list_pairs(sys, kMinAtomDistance, Pairs::half, "");
}

NeighborList neighbor_list_naive(const System& sys, double cutoff, Pairs pairs) {
    const char* fn = "neighbor_list_naive";
    Geometry g = check_and_prepare(sys, cutoff, fn);
    const long n = g.n;
    std::vector<Candidate> all, buf;
    std::vector<long> firsts;
    for (long i = 0; i < n; ++i) {
        buf.clear();
        double fi[3];
        fractional(g, i, fi);
        for (long j = 0; j < n; ++j) {
            double fj[3];
            fractional(g, j, fj);
            // soap.md sec. 2: t_k in [ceil(-r_c|b_k| - df_k), floor(r_c|b_k| - df_k)], widened by 1
            // against rounding (every candidate is tested by its exact distance anyway)
            long lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};
            for (int k = 0; k < 3; ++k) {
                if (!g.pbc[k]) continue;
                double reach = cutoff / g.spacing[k], df = fj[k] - fi[k];
                lo[k] = static_cast<long>(std::ceil(-reach - df)) - 1;
                hi[k] = static_cast<long>(std::floor(reach - df)) + 1;
            }
            for (long t0 = lo[0]; t0 <= hi[0]; ++t0)
                for (long t1 = lo[1]; t1 <= hi[1]; ++t1)
                    for (long t2 = lo[2]; t2 <= hi[2]; ++t2) {
                        Candidate cand;
                        cand.j = j;
                        cand.s = {static_cast<int>(t0), static_cast<int>(t1), static_cast<int>(t2)};
                        pair_vector(g.x, g.h, i, j, cand.s, cand.v);
                        cand.d = std::sqrt(cand.v[0] * cand.v[0] + cand.v[1] * cand.v[1] + cand.v[2] * cand.v[2]);
                        if (!(cand.d < cutoff)) continue;
                        if (j == i && t0 == 0 && t1 == 0 && t2 == 0) continue;
                        if (cand.d < kMinAtomDistance) too_close(sys, fn, cand, i);
                        if (pairs == Pairs::half && !keep_half(i, j, cand.s)) continue;
                        buf.push_back(cand);
                    }
        }
        std::sort(buf.begin(), buf.end(), candidate_less);
        all.insert(all.end(), buf.begin(), buf.end());
        firsts.insert(firsts.end(), buf.size(), i);
    }
    Output out(static_cast<long>(all.size()));
    for (size_t p = 0; p < all.size(); ++p) out.put(firsts[p], all[p], static_cast<long>(p));
    return std::move(out.list);
}

std::vector<long> neighbor_counts(const NeighborList& list, long n_atoms) {
    std::vector<long> counts(static_cast<size_t>(n_atoms), 0);
    for (long i : list.first) {
        AD_CHECK(i >= 0 && i < n_atoms, "neighbor_counts: expected first atoms in [0, " << n_atoms << "), got " << i);
        ++counts[static_cast<size_t>(i)];
    }
    return counts;
}

}  // namespace desc
