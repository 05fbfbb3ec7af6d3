// Random rotations/inversions of structures and their targets (descriptors/augmentation).
#include <cmath>

#include "autodiff/ops.hpp"
#include "descriptors/augmentation.hpp"
#include "tests/helpers.hpp"

using ad::Tensor;
using testing::AllClose;

namespace {
double det3(const double* m) {
    return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
}
}  // namespace

TEST_CASE("augmentation: Haar rotations, inversions, and systems with forces and stress", "[descriptors][augmentation]") {
    ad::Rng rng(3);
    // orthogonal with det +1; Q e_z uniform on the sphere: E[z] = 0, E[z^2] = 1/3
    const long n = 20000;
    double mz = 0, mz2 = 0;
    long inversions = 0;
    for (long k = 0; k < n; ++k) {
        Tensor Q = desc::random_rotation(rng);
        CHECK_THAT(ad::matmul_nt(Q, Q), AllClose(ad::tensor({3, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1}), 0, 1e-14));
        REQUIRE(det3(Q.data()) == Approx(1.0).margin(1e-14));
        mz += Q.data()[8] / n;
        mz2 += Q.data()[8] * Q.data()[8] / n;
        if (det3(desc::random_rotation_inversion(rng).data()) < 0) ++inversions;
    }
    // standard errors: z has variance 1/3 -> 0.004 at n = 20000; z^2 variance 4/45 -> 0.0021
    CHECK(std::fabs(mz) < 0.02);
    CHECK(std::fabs(mz2 - 1.0 / 3) < 0.01);
    CHECK(std::fabs(inversions / double(n) - 0.5) < 0.02);  // binomial standard error 0.0035

    // a periodic frame with forces and stress
    desc::System s = testing::test_frames("cu-emt-6.xyz")[0];
    Tensor Q = ad::neg(desc::random_rotation(rng));  // an improper orthogonal matrix
    desc::System t = desc::transform_system(s, Q, {"forces", "absent"}, {"stress", "absent"});
    CHECK_THAT(t.positions, AllClose(ad::matmul_nt(s.positions, Q), 1e-14, 1e-13));
    CHECK_THAT(t.cell, AllClose(ad::matmul_nt(s.cell, Q), 1e-14, 1e-13));
    CHECK_THAT(t.require_forces(), AllClose(ad::matmul_nt(s.require_forces(), Q), 1e-14, 1e-15));
    CHECK_THAT(t.require_stress(), AllClose(ad::matmul_nt(ad::matmul(Q, s.require_stress()), Q), 1e-13, 1e-16));
    CHECK(*t.energy() == *s.energy());
    CHECK(std::fabs(t.volume()) == Approx(std::fabs(s.volume())).epsilon(1e-13));
    CHECK_THAT(s.positions, !AllClose(t.positions, 1e-6, 1e-6));  // the input is untouched

    // errors
    REQUIRE_THROWS_WITH(desc::transform_system(s, ad::tensor({3, 3}, {1, 0, 0, 0, 2, 0, 0, 0, 1}), {}, {}),
                        Catch::Contains("expected an orthogonal Q, got |Q Q^T - I| = 3"));
    REQUIRE_THROWS_WITH(desc::transform_system(s, ad::tensor({2, 2}, {1, 0, 0, 1}), {}, {}),
                        Catch::Contains("expected Q of shape [3, 3], got [2, 2]"));
}
