// Graph-free last-layer features: packed SOAP, LayerNorm folded into the first layer (see
// llpr_features.hpp; costs in docs/llpr.md).
#include "uq/llpr_features.hpp"

#include <algorithm>
#include <cmath>

#include "autodiff/blas.hpp"
#include "autodiff/error.hpp"
#include "autodiff/fastmath.hpp"
#include "autodiff/simd.hpp"
#include "descriptors/neighbor_list.hpp"

namespace uq {

LastLayerFeatureKernel::LastLayerFeatureKernel(const desc::Soap& soap, const std::vector<int>& species,
                                               const std::vector<SpeciesLayers>& nets, double cutoff)
    : packed_(soap), cutoff_(cutoff), D_(soap.n_features()), Dp_(packed_.n_features()), d_(0), P_(0) {
    AD_CHECK(!species.empty() && species.size() == nets.size(),
             "llpr_features: expected one network per species, got " << nets.size() << " for " << species.size() << " species");
    const std::vector<long>& full = packed_.full_index();
    const std::vector<long>& mirror = packed_.mirror_index();
    for (size_t k = 0; k < species.size(); ++k) {
        const SpeciesLayers& net = nets[k];
        AD_CHECK(!net.layers.empty(), "llpr_features: expected at least one layer for species " << species[k] << ", got none");
        const nn::Linear& first = *net.layers[0];
        const ad::Tensor& W = first.weight();
        AD_CHECK(W.ndim() == 2 && W.dim(1) == D_, "llpr_features: expected the first layer of species "
                                                      << species[k] << " to take " << D_ << " inputs, got " << W.shape());
        Species s;
        s.Z = species[k];
        s.d1 = W.dim(0);
        const double* w = W.data();
        const double* g = net.layernorm && net.layernorm->weight().defined() ? net.layernorm->weight().data() : nullptr;
        const double* be = net.layernorm && net.layernorm->bias().defined() ? net.layernorm->bias().data() : nullptr;
        s.layernorm = net.layernorm != nullptr;
        s.eps = net.layernorm ? net.layernorm->eps() : 0.0;
        std::vector<double> wg(static_cast<size_t>(s.d1 * D_));  // gamma . W
        for (long o = 0; o < s.d1; ++o)
            for (long f = 0; f < D_; ++f) wg[static_cast<size_t>(o * D_ + f)] = w[o * D_ + f] * (g ? g[f] : 1.0);
        s.wp.assign(static_cast<size_t>(Dp_ * s.d1), 0.0);
        for (long t = 0; t < Dp_; ++t)
            for (long o = 0; o < s.d1; ++o) {
                const long k1 = full[static_cast<size_t>(t)], k2 = mirror[static_cast<size_t>(t)];
                const double* wo = &wg[static_cast<size_t>(o * D_)];
                s.wp[static_cast<size_t>(t * s.d1 + o)] = k1 == k2 ? wo[k1] : wo[k1] + wo[k2];
            }
        s.r.assign(static_cast<size_t>(s.d1), 0.0);
        s.c.assign(static_cast<size_t>(s.d1), 0.0);
        for (long o = 0; o < s.d1; ++o) {
            double r = 0, c = first.has_bias() ? first.bias().data()[o] : 0.0;
            for (long f = 0; f < D_; ++f) {
                r += wg[static_cast<size_t>(o * D_ + f)];
                if (be) c += w[o * D_ + f] * be[f];
            }
            s.r[static_cast<size_t>(o)] = r;
            s.c[static_cast<size_t>(o)] = c;
        }
        long width = s.d1;
        for (size_t q = 1; q < net.layers.size(); ++q) {
            const nn::Linear& lin = *net.layers[q];
            AD_CHECK(lin.weight().dim(1) == width, "llpr_features: expected layer " << q << " of species " << s.Z
                                                       << " to take " << width << " inputs, got " << lin.weight().shape());
            s.w.emplace_back(lin.weight().data(), lin.weight().data() + lin.weight().numel());
            s.b.push_back(lin.has_bias() ? std::vector<double>(lin.bias().data(), lin.bias().data() + lin.bias().numel())
                                         : std::vector<double>{});
            width = lin.weight().dim(0);
            s.n_out.push_back(width);
        }
        AD_CHECK(k == 0 || width == d_, "llpr_features: expected every species' features of width " << d_ << ", got "
                                                                                                     << width << " for " << s.Z);
        d_ = width;
        if (static_cast<int>(lookup_.size()) <= s.Z) lookup_.resize(static_cast<size_t>(s.Z + 1), -1);
        lookup_[static_cast<size_t>(s.Z)] = static_cast<int>(k);
        species_.push_back(std::move(s));
    }
    P_ = static_cast<long>(species_.size()) * d_;
    for (long t = 0; t < Dp_; ++t)
        if (packed_.multiplicity()[static_cast<size_t>(t)] == 1.0) diag_.push_back(t);
}

namespace {
// Per thread, kept across calls: the block's packed rows are ~0.8 MB for 8 ethanol frames, and a
// fresh allocation of that size costs its page faults on every call.
struct Scratch {
    std::vector<double> x, a, h, soap, mu, rs;
    std::vector<double*> rows;
    std::vector<long> row, structure, count, start, first, second;
    std::vector<double> vectors;
};

typedef double v4d __attribute__((vector_size(32)));
typedef double v4du __attribute__((vector_size(32), aligned(8), may_alias));  // unaligned loads
// by reference: a v4d passed or returned by value changes the ABI between the two clones (-Wpsabi)
AD_INLINE const v4du& load4(const double* p) { return *reinterpret_cast<const v4du*>(p); }
AD_INLINE double lanes(const v4d& a, const v4d& b, const v4d& c, const v4d& d) {
    const v4d s = (a + b) + (c + d);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

// mu = sum_t w_t x_t / D and sigma^2 = sum_t w_t (x_t - mu)^2 / D with w_t = 2 off the diagonal
// and 1 on it (diag: the nd diagonal positions): sum_t w_t f_t = 2 sum_t f_t - sum_diag f_t. Two
// passes, 16 partial sums (four independent vector accumulators).
AD_VECTOR_CLONES void packed_moments(const double* x, long n, const long* diag, long nd, double D, double& mu,
                                     double& var) {
    v4d a0 = {0, 0, 0, 0}, a1 = a0, a2 = a0, a3 = a0;
    long t = 0;
    for (; t + 16 <= n; t += 16) {
        a0 += load4(x + t);
        a1 += load4(x + t + 4);
        a2 += load4(x + t + 8);
        a3 += load4(x + t + 12);
    }
    double tail = 0, on_diag = 0;
    for (long u = t; u < n; ++u) tail += x[u];
    for (long k = 0; k < nd; ++k) on_diag += x[diag[k]];
    const double m = (2 * (lanes(a0, a1, a2, a3) + tail) - on_diag) / D;
    const v4d mv = {m, m, m, m};
    a0 = v4d{0, 0, 0, 0}, a1 = a0, a2 = a0, a3 = a0;
    for (t = 0; t + 16 <= n; t += 16) {
        const v4d d0 = load4(x + t) - mv, d1 = load4(x + t + 4) - mv, d2 = load4(x + t + 8) - mv,
                  d3 = load4(x + t + 12) - mv;
        a0 += d0 * d0;
        a1 += d1 * d1;
        a2 += d2 * d2;
        a3 += d3 * d3;
    }
    tail = on_diag = 0;
    for (long u = t; u < n; ++u) tail += (x[u] - m) * (x[u] - m);
    for (long k = 0; k < nd; ++k) on_diag += (x[diag[k]] - m) * (x[diag[k]] - m);
    mu = m;
    var = (2 * (lanes(a0, a1, a2, a3) + tail) - on_diag) / D;
}

// The half pair list of a small non-periodic structure by the direct double loop i < j (the order
// of desc::neighbor_list's half list: by first, then second), skipping its cell-list set-up. Returns
// false (and the caller asks desc::neighbor_list, which names the problem) for periodic or larger
// structures and for non-finite or too-close positions.
bool small_molecule_pairs(const desc::System& sys, double cutoff, std::vector<long>& first, std::vector<long>& second,
                          std::vector<double>& vectors) {
    const long n = sys.n_atoms();
    if (sys.any_pbc() || n > 64) return false;
    first.clear(), second.clear(), vectors.clear();
    const double* x = sys.positions.data();
    for (long k = 0; k < 3 * n; ++k)
        if (!std::isfinite(x[k])) return false;
    for (long i = 0; i < n; ++i)
        for (long j = i + 1; j < n; ++j) {
            const double v[3] = {x[3 * j] - x[3 * i], x[3 * j + 1] - x[3 * i + 1], x[3 * j + 2] - x[3 * i + 2]};
            const double r = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
            if (!(r >= desc::kMinAtomDistance)) return false;  // too close, or not finite
            if (r >= cutoff) continue;
            first.push_back(i), second.push_back(j);
            vectors.insert(vectors.end(), v, v + 3);
        }
    return true;
}

void silu_inplace(double* x, double* tmp, long n) {
    ad::fast::sigmoid(x, tmp, n);
    for (long i = 0; i < n; ++i) x[i] *= tmp[i];
}
}  // namespace

void LastLayerFeatureKernel::compute(const desc::System* frames, long n_frames, double* out, long* n_atoms) const {
    thread_local Scratch sc;
    const long S = static_cast<long>(species_.size());
    sc.count.assign(static_cast<size_t>(S), 0);
    long n = 0;
    for (long f = 0; f < n_frames; ++f) {
        const desc::System& sys = frames[f];
        AD_CHECK(sys.n_atoms() > 0, "llpr: expected atoms in " << sys.where() << ", got none");
        for (int Z : sys.numbers) {
            const int k = Z >= 0 && Z < static_cast<int>(lookup_.size()) ? lookup_[static_cast<size_t>(Z)] : -1;
            AD_CHECK(k >= 0, "llpr: expected atomic numbers from the model's species list in " << sys.where() << ", got " << Z);
            ++sc.count[static_cast<size_t>(k)];
        }
        if (n_atoms) n_atoms[f] = sys.n_atoms();
        n += sys.n_atoms();
    }
    // rows of species k at start[k] .. start[k] + count[k] - 1, in frame and atom order
    sc.start.assign(static_cast<size_t>(S + 1), 0);
    for (long k = 0; k < S; ++k) sc.start[static_cast<size_t>(k + 1)] = sc.start[static_cast<size_t>(k)] + sc.count[static_cast<size_t>(k)];
    if (sc.x.size() < static_cast<size_t>(n * Dp_)) sc.x.resize(static_cast<size_t>(n * Dp_));
    sc.structure.resize(static_cast<size_t>(n));
    sc.mu.resize(static_cast<size_t>(n));
    sc.rs.resize(static_cast<size_t>(n));
    std::vector<long>& next = sc.row;
    next.assign(sc.start.begin(), sc.start.end() - 1);
    for (long f = 0; f < n_frames; ++f) {
        const desc::System& sys = frames[f];
        if (!small_molecule_pairs(sys, cutoff_, sc.first, sc.second, sc.vectors)) {
            const desc::NeighborList list = desc::neighbor_list(sys, cutoff_, desc::Pairs::half);  // or its error
            sc.first = list.first, sc.second = list.second;
            sc.vectors.assign(list.vectors.data(), list.vectors.data() + 3 * list.n_pairs());
        }
        sc.rows.resize(static_cast<size_t>(sys.n_atoms()));
        for (long i = 0; i < sys.n_atoms(); ++i) {
            const long r = next[static_cast<size_t>(lookup_[static_cast<size_t>(sys.numbers[static_cast<size_t>(i)])])]++;
            sc.rows[static_cast<size_t>(i)] = sc.x.data() + r * Dp_;
            sc.structure[static_cast<size_t>(r)] = f;
        }
        packed_.compute(sys.numbers, sc.first, sc.second, sc.vectors.data(), sc.rows.data(), sc.soap);
        for (long i = 0; i < sys.n_atoms(); ++i) {  // LayerNorm's moments while the rows are in cache
            const int k = lookup_[static_cast<size_t>(sys.numbers[static_cast<size_t>(i)])];
            if (!species_[static_cast<size_t>(k)].layernorm) continue;
            const long r = (sc.rows[static_cast<size_t>(i)] - sc.x.data()) / Dp_;
            double var;
            packed_moments(sc.rows[static_cast<size_t>(i)], Dp_, diag_.data(), static_cast<long>(diag_.size()),
                           static_cast<double>(D_), sc.mu[static_cast<size_t>(r)], var);
            sc.rs[static_cast<size_t>(r)] = 1.0 / std::sqrt(var + species_[static_cast<size_t>(k)].eps);
        }
    }
    std::fill(out, out + n_frames * P_, 0.0);
    for (long k = 0; k < S; ++k) {
        const Species& s = species_[static_cast<size_t>(k)];
        const long nz = sc.count[static_cast<size_t>(k)], r0 = sc.start[static_cast<size_t>(k)];
        if (nz == 0) continue;
        const double* X = sc.x.data() + r0 * Dp_;
        long width = s.d1;
        for (long q = 0; q <= static_cast<long>(s.w.size()); ++q)
            width = std::max(width, q < static_cast<long>(s.w.size()) ? s.n_out[static_cast<size_t>(q)] : 0L);
        if (sc.a.size() < static_cast<size_t>(nz * width)) sc.a.resize(static_cast<size_t>(nz * width));
        if (sc.h.size() < static_cast<size_t>(nz * width)) sc.h.resize(static_cast<size_t>(nz * width));
        double* A = sc.a.data();
        double* H = sc.h.data();
        ad::blas::gemm(false, false, nz, s.d1, Dp_, 1.0, X, Dp_, s.wp.data(), s.d1, 0.0, A, s.d1);  // [nz, d1]
        for (long r = 0; r < nz; ++r) {
            double* ar = A + r * s.d1;
            if (s.layernorm) {
                const double mu = sc.mu[static_cast<size_t>(r0 + r)], rs = sc.rs[static_cast<size_t>(r0 + r)];
                for (long o = 0; o < s.d1; ++o) ar[o] = (ar[o] - mu * s.r[static_cast<size_t>(o)]) * rs + s.c[static_cast<size_t>(o)];
            } else {
                for (long o = 0; o < s.d1; ++o) ar[o] += s.c[static_cast<size_t>(o)];
            }
        }
        silu_inplace(A, H, nz * s.d1);
        long w_in = s.d1;
        for (size_t q = 0; q < s.w.size(); ++q) {  // H = SiLU(A W^T + b), then swap
            const long w_out = s.n_out[q];
            ad::blas::gemm(false, true, nz, w_out, w_in, 1.0, A, w_in, s.w[q].data(), w_in, 0.0, H, w_out);
            if (!s.b[q].empty())
                for (long r = 0; r < nz; ++r)
                    for (long o = 0; o < w_out; ++o) H[r * w_out + o] += s.b[q][static_cast<size_t>(o)];
            silu_inplace(H, A, nz * w_out);
            std::swap(A, H);
            w_in = w_out;
        }
        for (long r = 0; r < nz; ++r) {
            double* o = out + sc.structure[static_cast<size_t>(r0 + r)] * P_ + k * d_;
            const double* hr = A + r * d_;
            for (long f = 0; f < d_; ++f) o[f] += hr[f];
        }
    }
}

}  // namespace uq
