// Values-only packed SOAP power spectrum from a half pair list (see soap_packed.hpp).
#include "descriptors/soap_packed.hpp"

#include <algorithm>
#include <cmath>

#include "autodiff/error.hpp"
#include "autodiff/simd.hpp"

namespace desc {

SoapPacked::SoapPacked(const Soap& soap)
    : soap_(&soap),
      S_(static_cast<int>(soap.hypers().species.size())),
      L_(soap.hypers().max_angular),
      cutoff_{soap.hypers().cutoff, soap.hypers().width},
      sph_(soap.hypers().max_angular) {
    const std::vector<int>& nl = soap.n_per_l();
    long full_off = 0;
    for (int l = 0; l <= L_; ++l) {
        const long n_l = nl[static_cast<size_t>(l)], W = n_l * S_;
        coff_.push_back(Kc_);
        rpoff_.push_back(rpoff_.empty() ? 0 : rpoff_.back() + (nl[static_cast<size_t>(l - 1)] + 3) / 4 * 4);
        poff_.push_back(n_packed_);
        Kc_ += (2 * l + 1) * ((W + 7) / 8 * 8);  // rows padded with zeros to a multiple of 8
        n_packed_ += W * (W + 1) / 2;
        // packed channel a = s n_l + n is Soap's channel n S + s
        auto spec = [&](long a) { return (a % n_l) * S_ + a / n_l; };
        for (long a1 = 0; a1 < W; ++a1)
            for (long a2 = a1; a2 < W; ++a2) {
                full_.push_back(full_off + spec(a1) * W + spec(a2));
                mirror_.push_back(full_off + spec(a2) * W + spec(a1));
                mult_.push_back(a1 == a2 ? 1.0 : 2.0);
            }
        full_off += W * W;
    }
    rpoff_.push_back(rpoff_.back() + (nl[static_cast<size_t>(L_)] + 3) / 4 * 4);
    AD_CHECK(full_off == soap.n_features(), "soap_packed: expected " << soap.n_features() << " features, counted " << full_off);
}

namespace {
typedef double v4d __attribute__((vector_size(32)));
typedef double v4du __attribute__((vector_size(32), aligned(8), may_alias));  // unaligned loads and stores

typedef long v4l __attribute__((vector_size(32)));

// Packed rows of four atoms at once, one atom per vector lane (no horizontal sums): for each l,
// c4[m, a, lane] = c_lane[l, m, a] (4 x 4 transposes of the zero-padded rows of Wp entries), then
//   o4[t, lane] = sum_m c4[m, a1, lane] c4[m, a2, lane]   (m increasing from 0, as Soap's gram),
// two rows a1 by four a2 at a time (eight independent accumulators), and o4 [Dp, 4] is
// transposed in 4 x 4 blocks into out[lane] [Dp]. c4 needs 16 doubles of slack (the last
// row's b + 4 and the last block's x may read past its end; those products are not stored).
AD_INLINE void transpose4(const double* a, const double* b, const double* c, const double* d, double* r0, double* r1,
                          double* r2, double* r3) {
    const v4d va = *reinterpret_cast<const v4du*>(a), vb = *reinterpret_cast<const v4du*>(b),
              vc = *reinterpret_cast<const v4du*>(c), vd = *reinterpret_cast<const v4du*>(d);
    const v4d t0 = __builtin_shuffle(va, vb, v4l{0, 4, 2, 6}), t1 = __builtin_shuffle(va, vb, v4l{1, 5, 3, 7});
    const v4d t2 = __builtin_shuffle(vc, vd, v4l{0, 4, 2, 6}), t3 = __builtin_shuffle(vc, vd, v4l{1, 5, 3, 7});
    *reinterpret_cast<v4du*>(r0) = __builtin_shuffle(t0, t2, v4l{0, 1, 4, 5});
    *reinterpret_cast<v4du*>(r1) = __builtin_shuffle(t1, t3, v4l{0, 1, 4, 5});
    *reinterpret_cast<v4du*>(r2) = __builtin_shuffle(t0, t2, v4l{2, 3, 6, 7});
    *reinterpret_cast<v4du*>(r3) = __builtin_shuffle(t1, t3, v4l{2, 3, 6, 7});
}

AD_VECTOR_CLONES void gram4(const double* const* cl, double* const* out, int L, const int* nl, const long* coff, int S,
                            long Dp, double* c4, double* o4) {
    long t = 0;
    for (int l = 0; l <= L; ++l) {
        const int M = 2 * l + 1, W = nl[l] * S, Wp = (W + 7) / 8 * 8;
        for (int m = 0; m < M; ++m)
            for (int a = 0; a < Wp; a += 4) {
                const long off = coff[l] + static_cast<long>(m) * Wp + a;
                double* dst = c4 + (static_cast<long>(m) * Wp + a) * 4;
                transpose4(cl[0] + off, cl[1] + off, cl[2] + off, cl[3] + off, dst, dst + 4, dst + 8, dst + 12);
            }
        const long stride = 4L * Wp;  // between m
        // rows a1 and a1 + 1 together (tiles of 2 x 4 entries: 8 accumulators, 6 loads per 8
        // multiply-adds); stores skip the (a1 + 1, a1) entry and the entries past W
        for (int a1 = 0; a1 < W; a1 += 2) {
            const bool two = a1 + 1 < W;
            const double* b = c4 + 4L * a1;
            double* o = o4 + 4 * (t - a1);                     // o[4 a2 ..] is (a1, a2)
            double* o1 = o4 + 4 * (t + (W - a1) - (a1 + 1));   // o1[4 a2 ..] is (a1 + 1, a2)
            for (int a2 = a1; a2 < W; a2 += 4) {
                v4d s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0, u0 = s0, u1 = s0, u2 = s0, u3 = s0;
                const double* x = c4 + 4L * a2;
                for (int m = 0; m < M; ++m) {
                    const v4d bm = *reinterpret_cast<const v4du*>(b + m * stride);
                    const v4d bn = *reinterpret_cast<const v4du*>(b + m * stride + 4);
                    const v4d x0 = *reinterpret_cast<const v4du*>(x + m * stride);
                    const v4d x1 = *reinterpret_cast<const v4du*>(x + m * stride + 4);
                    const v4d x2 = *reinterpret_cast<const v4du*>(x + m * stride + 8);
                    const v4d x3 = *reinterpret_cast<const v4du*>(x + m * stride + 12);
                    s0 += bm * x0, s1 += bm * x1, s2 += bm * x2, s3 += bm * x3;
                    u0 += bn * x0, u1 += bn * x1, u2 += bn * x2, u3 += bn * x3;
                }
                const int k_end = std::min(4, W - a2);
                if (two) {
                    if (a2 > a1) *reinterpret_cast<v4du*>(o1 + 4L * a2) = u0;
                    if (k_end > 1) *reinterpret_cast<v4du*>(o1 + 4L * a2 + 4) = u1;
                    if (k_end > 2) *reinterpret_cast<v4du*>(o1 + 4L * a2 + 8) = u2;
                    if (k_end > 3) *reinterpret_cast<v4du*>(o1 + 4L * a2 + 12) = u3;
                }
                *reinterpret_cast<v4du*>(o + 4L * a2) = s0;
                if (k_end > 1) *reinterpret_cast<v4du*>(o + 4L * a2 + 4) = s1;
                if (k_end > 2) *reinterpret_cast<v4du*>(o + 4L * a2 + 8) = s2;
                if (k_end > 3) *reinterpret_cast<v4du*>(o + 4L * a2 + 12) = s3;
            }
            t += (W - a1) + (two ? W - a1 - 1 : 0);
        }
    }
    long u = 0;
    for (; u + 4 <= Dp; u += 4)  // (o4[u + k, lane])_k -> out[lane][u ..]
        transpose4(o4 + 4 * u, o4 + 4 * u + 4, o4 + 4 * u + 8, o4 + 4 * u + 12, out[0] + u, out[1] + u, out[2] + u,
                   out[3] + u);
    for (; u < Dp; ++u)
        for (int lane = 0; lane < 4; ++lane) out[lane][u] = o4[4 * u + lane];
}

// c[i, l, m, s_j n_l + n] += f_c Y_lm R_ln and c[j, l, m, s_i n_l + n] += (-1)^l f_c Y_lm R_ln
// (ci == cj for a self-image pair: both land on the same atom). R4 holds each l's n_l radial values
// followed by zeros up to a multiple of 4 (rpoff: offsets), so every row update is whole vectors;
// the zero lanes add 0 to the next channels, the row's padding or (last row) the next atom's or the
// buffer's slack: no value changes.
AD_VECTOR_CLONES void add_pair(const double* Y, const double* R4, const long* rpoff, double fc, int L, const int* nl,
                               const long* coff, int S, long si, long sj, double* ci, double* cj) {
    for (int l = 0; l <= L; ++l) {
        const long n_l = nl[l], n4 = (n_l + 3) / 4 * 4, W = (n_l * S + 7) / 8 * 8;  // padded row length
        const double* Rl = R4 + rpoff[l];
        const double parity = (l % 2) ? -1.0 : 1.0;
        double* ri = ci + coff[l] + sj * n_l;
        double* rj = cj + coff[l] + si * n_l;
        for (int m = 0; m < 2 * l + 1; ++m) {
            const double y = fc * Y[l * l + m], yj = parity * y;
            for (long q = 0; q < n4; q += 4) {
                const v4d r = *reinterpret_cast<const v4du*>(Rl + q);
                v4du* a = reinterpret_cast<v4du*>(ri + m * W + q);
                *a = *a + y * r;
                v4du* b = reinterpret_cast<v4du*>(rj + m * W + q);
                *b = *b + yj * r;
            }
        }
    }
}
}  // namespace

void SoapPacked::compute(const std::vector<int>& numbers, const std::vector<long>& first,
                         const std::vector<long>& second, const double* vectors, double* const* rows,
                         std::vector<double>& scratch) const {
    const long n = static_cast<long>(numbers.size()), P = static_cast<long>(first.size());
    AD_CHECK(static_cast<long>(second.size()) == P && (P == 0 || vectors),
             "soap_packed: expected first, second [" << P << "] and their vectors, got second [" << second.size() << "]");
    const RadialBasis& radial = soap_->radial();
    const int F = radial.n_functions(), NY = sph_.n_components();
    // scratch: c [n, Kc] + 4 slack, R [F], dR [F], R4 [F4], Y [NY], species [n], zero [Kc],
    // spare [Dp], c4 [4 Kc] + 16, o4 [4 Dp] + 16
    const long F4 = rpoff_.back();
    const size_t need = static_cast<size_t>(n * Kc_ + 4 + 2 * F + F4 + NY + n + 5 * Kc_ + 5 * n_packed_ + 32);
    if (scratch.size() < need) scratch.resize(need);
    double* c = scratch.data();
    double* R = c + n * Kc_ + 4;
    double* dR = R + F;
    double* R4 = dR + F;
    double* Y = R4 + F4;
    double* sp = Y + NY;
    double* zero = sp + n;
    double* spare = zero + Kc_;
    double* c4 = spare + n_packed_;
    double* o4 = c4 + 4 * Kc_ + 16;
    std::fill(zero, zero + Kc_, 0.0);
    std::fill(c, c + n * Kc_ + 4, 0.0);
    std::fill(R4, R4 + F4, 0.0);
    for (long i = 0; i < n; ++i) sp[i] = soap_->species_index(numbers[static_cast<size_t>(i)]);
    const std::vector<int>& nl = soap_->n_per_l();
    const std::vector<int>& roff = radial.offsets();
    const double rc = cutoff_.cutoff;
    for (long p = 0; p < P; ++p) {
        const long i = first[static_cast<size_t>(p)], j = second[static_cast<size_t>(p)];
        AD_CHECK(0 <= i && i < n && 0 <= j && j < n,
                 "soap_packed: pair " << p << " refers to atom " << std::max(i, j) << ", expected < " << n);
        const double* v = vectors + 3 * p;
        const double r = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
        if (r >= rc) continue;
        AD_CHECK(r > 0, "soap_packed: expected distinct atoms, got atoms " << i << " and " << j
                                                                           << " at the same point (pair " << p << ")");
        double fc, dfc;
        cutoff_.evaluate(r, fc, dfc);
        radial.evaluate(r, R, dR);
        sph_.compute(v, Y, nullptr);
        for (int l = 0; l <= L_; ++l)
            std::copy(R + roff[static_cast<size_t>(l)], R + roff[static_cast<size_t>(l) + 1], R4 + rpoff_[static_cast<size_t>(l)]);
        add_pair(Y, R4, rpoff_.data(), fc, L_, nl.data(), coff_.data(), S_, static_cast<long>(sp[i]),
                 static_cast<long>(sp[j]), c + i * Kc_, c + j * Kc_);
    }
    // four atoms at a time; a missing atom of the last group reads zeros and writes to a spare row
    for (long g = 0; g < n; g += 4) {
        const double* cl[4];
        double* out[4];
        for (int lane = 0; lane < 4; ++lane) {
            cl[lane] = g + lane < n ? c + (g + lane) * Kc_ : zero;
            out[lane] = g + lane < n ? rows[g + lane] : spare;
        }
        gram4(cl, out, L_, nl.data(), coff_.data(), S_, n_packed_, c4, o4);
    }
}

}  // namespace desc
