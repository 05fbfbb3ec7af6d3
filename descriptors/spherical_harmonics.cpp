#include "descriptors/spherical_harmonics.hpp"

#include <cmath>

#include "autodiff/error.hpp"

namespace desc {

namespace {
constexpr int kMaxL = 20;  // fixed-size scratch on the stack: no allocation per pair
}

SphericalHarmonics::SphericalHarmonics(int l_max) : l_max_(l_max) {
    AD_CHECK(l_max >= 0 && l_max <= kMaxL,
             "SphericalHarmonics: expected 0 <= l_max <= " << kMaxL << ", got " << l_max);
    k_.assign(static_cast<size_t>((l_max + 1) * (l_max + 1)), 0.0);
    for (int l = 0; l <= l_max; ++l) {
        for (int m = 0; m <= l; ++m) {
            // K_lm = sqrt((2l+1)/(4 pi) (l-m)!/(l+m)!), the factorial ratio by a product
            double ratio = 1.0;
            for (int t = l - m + 1; t <= l + m; ++t) ratio /= t;
            double k = std::sqrt((2 * l + 1) / (4.0 * M_PI) * ratio);
            k_[static_cast<size_t>(l * l + l + m)] = m == 0 ? k : std::sqrt(2.0) * k;
        }
    }
}

void SphericalHarmonics::compute(const double v[3], double* Y, double* dY) const {
    const int L = l_max_;
    const double r = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    const double inv_r = 1.0 / r;
    const double x = v[0] * inv_r, y = v[1] * inv_r, z = v[2] * inv_r;
    const double q = 1.0;  // |u|^2; still a variable of the polynomial for the gradient

    // C_m + i S_m = (x + i y)^m
    double C[kMaxL + 1], S[kMaxL + 1];
    C[0] = 1.0;
    S[0] = 0.0;
    for (int m = 1; m <= L; ++m) {
        C[m] = x * C[m - 1] - y * S[m - 1];
        S[m] = x * S[m - 1] + y * C[m - 1];
    }
    // Q_l^m(z, q) and its partial derivatives, for fixed m over l = m..L (three-term recursion)
    double Q[kMaxL + 1], Qz[kMaxL + 1], Qq[kMaxL + 1];
    double dfact = 1.0;  // (2m - 1)!!
    for (int m = 0; m <= L; ++m) {
        if (m > 0) dfact *= (2 * m - 1);
        Q[m] = dfact;
        Qz[m] = 0.0;
        Qq[m] = 0.0;
        if (m + 1 <= L) {
            Q[m + 1] = (2 * m + 1) * z * dfact;
            Qz[m + 1] = (2 * m + 1) * dfact;
            Qq[m + 1] = 0.0;
        }
        for (int l = m + 2; l <= L; ++l) {
            const double a = (2 * l - 1), b = (l + m - 1), inv = 1.0 / (l - m);
            Q[l] = (a * z * Q[l - 1] - b * q * Q[l - 2]) * inv;
            Qz[l] = (a * (Q[l - 1] + z * Qz[l - 1]) - b * q * Qz[l - 2]) * inv;
            Qq[l] = (a * z * Qq[l - 1] - b * (Q[l - 2] + q * Qq[l - 2])) * inv;
        }
        for (int l = m; l <= L; ++l) {
            const double k = k_[static_cast<size_t>(l * l + l + m)];
            const int ip = l * l + l + m, im = l * l + l - m;
            // grad of Q(z, q) with q = x^2 + y^2 + z^2
            const double gQx = 2 * x * Qq[l], gQy = 2 * y * Qq[l], gQz = Qz[l] + 2 * z * Qq[l];
            if (m == 0) {
                const double s = k * Q[l];
                Y[ip] = s;
                if (dY) {
                    double gx = k * gQx, gy = k * gQy, gz = k * gQz;
                    dY[3 * ip + 0] = (gx - l * s * x) * inv_r;
                    dY[3 * ip + 1] = (gy - l * s * y) * inv_r;
                    dY[3 * ip + 2] = (gz - l * s * z) * inv_r;
                }
                continue;
            }
            const double sp = k * Q[l] * C[m], sm = k * Q[l] * S[m];
            Y[ip] = sp;
            Y[im] = sm;
            if (dY) {
                // d C_m = (m C_{m-1}, -m S_{m-1}, 0),  d S_m = (m S_{m-1}, m C_{m-1}, 0)
                const double kq = k * Q[l];
                double gx = k * gQx * C[m] + kq * m * C[m - 1];
                double gy = k * gQy * C[m] - kq * m * S[m - 1];
                double gz = k * gQz * C[m];
                dY[3 * ip + 0] = (gx - l * sp * x) * inv_r;
                dY[3 * ip + 1] = (gy - l * sp * y) * inv_r;
                dY[3 * ip + 2] = (gz - l * sp * z) * inv_r;
                gx = k * gQx * S[m] + kq * m * S[m - 1];
                gy = k * gQy * S[m] + kq * m * C[m - 1];
                gz = k * gQz * S[m];
                dY[3 * im + 0] = (gx - l * sm * x) * inv_r;
                dY[3 * im + 1] = (gy - l * sm * y) * inv_r;
                dY[3 * im + 2] = (gz - l * sm * z) * inv_r;
            }
        }
    }
}

}  // namespace desc
