// Random rotations and inversions of structures (see augmentation.hpp for the conventions).
#include "descriptors/augmentation.hpp"

#include <cmath>

#include "autodiff/error.hpp"

namespace desc {

ad::Tensor random_rotation(ad::Rng& rng) {
    double q[4], n2 = 0;
    do {
        n2 = 0;
        for (double& v : q) {
            v = rng.normal();
            n2 += v * v;
        }
    } while (n2 < 1e-12);  // a zero vector has no direction (probability ~0)
    const double n = std::sqrt(n2);
    const double w = q[0] / n, x = q[1] / n, y = q[2] / n, z = q[3] / n;
    // rotation matrix of the unit quaternion (w, x, y, z)
    return ad::tensor({3, 3}, {1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),  //
                               2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),  //
                               2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)});
}

ad::Tensor random_rotation_inversion(ad::Rng& rng) {
    ad::Tensor U = random_rotation(rng);
    if (rng.uniform() < 0.5)
        for (long k = 0; k < 9; ++k) U.data()[k] = -U.data()[k];
    return U;
}

namespace {

// rows x [n, 3] -> x Q^T
void rotate_rows(double* x, long n, const double* Q) {
    for (long i = 0; i < n; ++i) {
        const double a = x[3 * i], b = x[3 * i + 1], c = x[3 * i + 2];
        for (int r = 0; r < 3; ++r) x[3 * i + r] = Q[3 * r] * a + Q[3 * r + 1] * b + Q[3 * r + 2] * c;
    }
}

}  // namespace

System transform_system(const System& system, const ad::Tensor& Q, const std::vector<std::string>& vector_keys,
                        const std::vector<std::string>& tensor_keys) {
    AD_CHECK(Q.shape() == ad::Shape({3, 3}), "transform_system: expected Q of shape [3, 3], got " << Q.shape());
    const double* q = Q.data();
    double worst = 0;
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) {
            double s = 0;
            for (int k = 0; k < 3; ++k) s += q[3 * r + k] * q[3 * c + k];
            worst = std::max(worst, std::fabs(s - (r == c ? 1.0 : 0.0)));
        }
    AD_CHECK(worst < 1e-10, "transform_system: expected an orthogonal Q, got |Q Q^T - I| = " << worst);
    System out = system;
    out.positions = system.positions.clone();
    rotate_rows(out.positions.data(), out.n_atoms(), q);
    if (system.cell.defined()) {
        out.cell = system.cell.clone();
        rotate_rows(out.cell.data(), 3, q);
    }
    for (const std::string& key : vector_keys) {
        AtomColumn* col = out.find_array(key);
        if (!col) continue;
        AD_CHECK(col->type == 'R' && col->n_cols == 3, system.where() << ": per-atom '" << key
                                                                     << "' expected 3 real components to rotate");
        rotate_rows(col->values.data(), out.n_atoms(), q);
    }
    for (const std::string& key : tensor_keys) {
        if (!out.find_info(key)) continue;
        ad::Tensor s = system.require_stress(key);  // [3, 3] from 9 or 6 (Voigt) numbers
        double t[9], r[9];
        for (int a = 0; a < 3; ++a)  // t = Q s
            for (int b = 0; b < 3; ++b)
                t[3 * a + b] = q[3 * a] * s.data()[b] + q[3 * a + 1] * s.data()[3 + b] + q[3 * a + 2] * s.data()[6 + b];
        for (int a = 0; a < 3; ++a)  // r = t Q^T
            for (int b = 0; b < 3; ++b) r[3 * a + b] = t[3 * a] * q[3 * b] + t[3 * a + 1] * q[3 * b + 1] + t[3 * a + 2] * q[3 * b + 2];
        out.set_stress(ad::tensor({3, 3}, std::vector<double>(r, r + 9)), key);
    }
    return out;
}

}  // namespace desc
