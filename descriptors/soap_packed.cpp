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

// out[(a1, a2 >= a1) packed row by row] = sum_m C[m, a1] C[m, a2]: C [rows, W]; the m sum runs in
// increasing m from 0 as Soap's gram does. Register blocks of 4 rows a1 x 8 columns a2 (eight
// vector accumulators, 8 multiply-adds per 2 loads) over the blocks touching the upper triangle;
// C [rows, Wp] has Wp = W rounded up to 8 columns, the last Wp - W zero.
AD_VECTOR_CLONES void packed_gram(const double* C, int rows, int W, double* out) {
    const int Wp = (W + 7) / 8 * 8;
    double tile[4][8];
    for (int a1b = 0; a1b < W; a1b += 4) {
        for (int a2b = a1b / 8 * 8; a2b < W; a2b += 8) {
            v4d s00 = {0, 0, 0, 0}, s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
            for (int m = 0; m < rows; ++m) {
                const double* cm = C + static_cast<long>(m) * Wp;
                const v4d x0 = *reinterpret_cast<const v4du*>(cm + a2b), x1 = *reinterpret_cast<const v4du*>(cm + a2b + 4);
                const double b0 = cm[a1b], b1 = cm[a1b + 1], b2 = cm[a1b + 2], b3 = cm[a1b + 3];
                s00 += b0 * x0, s01 += b0 * x1;
                s10 += b1 * x0, s11 += b1 * x1;
                s20 += b2 * x0, s21 += b2 * x1;
                s30 += b3 * x0, s31 += b3 * x1;
            }
            *reinterpret_cast<v4du*>(&tile[0][0]) = s00, *reinterpret_cast<v4du*>(&tile[0][4]) = s01;
            *reinterpret_cast<v4du*>(&tile[1][0]) = s10, *reinterpret_cast<v4du*>(&tile[1][4]) = s11;
            *reinterpret_cast<v4du*>(&tile[2][0]) = s20, *reinterpret_cast<v4du*>(&tile[2][4]) = s21;
            *reinterpret_cast<v4du*>(&tile[3][0]) = s30, *reinterpret_cast<v4du*>(&tile[3][4]) = s31;
            for (int r = 0; r < 4 && a1b + r < W; ++r) {
                const int a1 = a1b + r;
                double* o = out + static_cast<long>(a1) * W - static_cast<long>(a1) * (a1 - 1) / 2 - a1;  // o[a2]
                const int lo = std::max(a1, a2b), hi = std::min(W, a2b + 8);
                if (lo == a2b && hi == a2b + 8) {  // the whole row of the tile
                    *reinterpret_cast<v4du*>(o + a2b) = *reinterpret_cast<const v4du*>(&tile[r][0]);
                    *reinterpret_cast<v4du*>(o + a2b + 4) = *reinterpret_cast<const v4du*>(&tile[r][4]);
                    continue;
                }
                for (int u = 0; u < 8; ++u)  // (conditional stores: not turned into a memcpy call)
                    if (a2b + u >= lo && a2b + u < hi) o[a2b + u] = tile[r][u];
            }
        }
    }
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
    // scratch: c [n, Kc] + 4 slack, R [F], dR [F], R4 [F4], Y [NY], species [n]
    const long F4 = rpoff_.back();
    const size_t need = static_cast<size_t>(n * Kc_ + 4 + 2 * F + F4 + NY + n);
    if (scratch.size() < need) scratch.resize(need);
    double* c = scratch.data();
    double* R = c + n * Kc_ + 4;
    double* dR = R + F;
    double* R4 = dR + F;
    double* Y = R4 + F4;
    double* sp = Y + NY;
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
    for (long i = 0; i < n; ++i)
        for (int l = 0; l <= L_; ++l)
            packed_gram(c + i * Kc_ + coff_[static_cast<size_t>(l)], 2 * l + 1, nl[static_cast<size_t>(l)] * S_,
                        rows[i] + poff_[static_cast<size_t>(l)]);
}

}  // namespace desc
