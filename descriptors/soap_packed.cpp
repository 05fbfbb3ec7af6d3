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
        poff_.push_back(n_packed_);
        Kc_ += (2 * l + 1) * W;
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
    AD_CHECK(full_off == soap.n_features(), "soap_packed: expected " << soap.n_features() << " features, counted " << full_off);
}

namespace {
// out[(a1, a2 >= a1) packed row by row] = sum_m C[m, a1] C[m, a2]: C [rows, W]; the m sum runs in
// increasing m as Soap's gram does. Blocks of 8 and 4 outputs stay in registers over m (one store
// each instead of one per m).
AD_VECTOR_CLONES void packed_gram(const double* C, int rows, int W, double* out) {
    for (int a1 = 0; a1 < W; ++a1) {
        const int len = W - a1;
        int q = 0;
        for (; q + 8 <= len; q += 8) {
            double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int m = 0; m < rows; ++m) {
                const double* cm = C + static_cast<long>(m) * W;
                const double v = cm[a1];
                for (int u = 0; u < 8; ++u) acc[u] += v * cm[a1 + q + u];
            }
            for (int u = 0; u < 8; ++u) out[q + u] = acc[u];
        }
        for (; q + 4 <= len; q += 4) {
            double acc[4] = {0, 0, 0, 0};
            for (int m = 0; m < rows; ++m) {
                const double* cm = C + static_cast<long>(m) * W;
                const double v = cm[a1];
                for (int u = 0; u < 4; ++u) acc[u] += v * cm[a1 + q + u];
            }
            for (int u = 0; u < 4; ++u) out[q + u] = acc[u];
        }
        for (; q < len; ++q) {
            double acc = 0;
            for (int m = 0; m < rows; ++m) acc += C[static_cast<long>(m) * W + a1] * C[static_cast<long>(m) * W + a1 + q];
            out[q] = acc;
        }
        out += len;
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
    // scratch: c [n, Kc], R [F], dR [F], Y [NY], species [n]
    const size_t need = static_cast<size_t>(n * Kc_ + 2 * F + NY + n);
    if (scratch.size() < need) scratch.resize(need);
    double* c = scratch.data();
    double* R = c + n * Kc_;
    double* dR = R + F;
    double* Y = dR + F;
    double* sp = Y + NY;
    std::fill(c, c + n * Kc_, 0.0);
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
        const long si = static_cast<long>(sp[i]), sj = static_cast<long>(sp[j]);
        double* ci = c + i * Kc_;
        double* cj = c + j * Kc_;
        for (int l = 0; l <= L_; ++l) {
            const long n_l = nl[static_cast<size_t>(l)], W = n_l * S_;
            const double* Rl = R + roff[static_cast<size_t>(l)];
            const double parity = (l % 2) ? -1.0 : 1.0;
            for (int m = -l; m <= l; ++m) {
                const double y = fc * Y[l * l + l + m], yj = parity * y;
                const long base = coff_[static_cast<size_t>(l)] + (m + l) * W;
                double* ri = ci + base + sj * n_l;
                double* rj = cj + base + si * n_l;
                for (long q = 0; q < n_l; ++q) ri[q] += y * Rl[q];
                for (long q = 0; q < n_l; ++q) rj[q] += yj * Rl[q];
            }
        }
    }
    for (long i = 0; i < n; ++i)
        for (int l = 0; l <= L_; ++l)
            packed_gram(c + i * Kc_ + coff_[static_cast<size_t>(l)], 2 * l + 1, nl[static_cast<size_t>(l)] * S_,
                        rows[i] + poff_[static_cast<size_t>(l)]);
}

}  // namespace desc
