// ZBL baseline (nn/bpnn/zbl): the pair energy against the closed form written out here, the
// sums over neighbour pairs against a naive loop over pairs and images, forces and stress
// against finite differences, smoothness at the switching ends, invariances, errors.
#include <catch2/catch.hpp>

#include <cmath>

#include "nn/bpnn/trainer.hpp"
#include "tests/helpers.hpp"
#include "tests/nn/atomistic/model_checks.hpp"

using ad::Tensor;
using model_checks::transformed;
using nn::bpnn::zbl;
using nn::bpnn::zbl_pair;
using testing::max_abs;

namespace {

// Closed form, written independently of zbl.cpp: ZBL (1985) universal screening, LAMMPS
// pair_zbl switch with inner cutoff 0 and outer cutoff r_cov(i) + r_cov(j) (metatrain).
double E0(int Zi, int Zj, double r) {
    const double a = 0.46850 / (std::pow(Zi, 0.23) + std::pow(Zj, 0.23));
    const double x = r / a;
    const double phi = 0.18175 * std::exp(-3.19980 * x) + 0.50986 * std::exp(-0.94229 * x) +
                       0.28022 * std::exp(-0.40290 * x) + 0.02817 * std::exp(-0.20162 * x);
    return 14.399645478425668 * Zi * Zj / r * phi;
}

double closed_form(int Zi, int Zj, double r, double r_cov_i, double r_cov_j) {
    const double rc = r_cov_i + r_cov_j;
    if (r >= rc) return 0.0;
    // E0'(rc), E0''(rc) by central differences (h = 1e-4: truncation ~1e-8 relative).
    const double h = 1e-4;
    const double e = E0(Zi, Zj, rc), ep = E0(Zi, Zj, rc + h), em = E0(Zi, Zj, rc - h);
    const double d1 = (ep - em) / (2 * h), d2 = (ep - 2 * e + em) / (h * h);
    const double A = (-3 * d1 + rc * d2) / (rc * rc), B = (2 * d1 - rc * d2) / (rc * rc * rc);
    const double C = -e + rc * d1 / 2 - rc * rc * d2 / 12;
    return E0(Zi, Zj, r) + A / 3 * std::pow(r, 3) + B / 4 * std::pow(r, 4) + C;
}

desc::System make_system(std::vector<int> numbers, std::vector<double> xyz) {
    desc::System s;
    s.numbers = std::move(numbers);
    s.positions = ad::tensor({s.n_atoms(), 3}, xyz);
    s.cell = Tensor::zeros({3, 3});
    return s;
}

// A small molecule-like cluster: H, C, N, O at 0.4 .. 1.6 Å, several pairs inside r_c.
desc::System cluster() {
    return make_system({6, 1, 8, 7, 1}, {0.00, 0.00, 0.00, 0.55, 0.30, -0.20, 0.10, 1.05, 0.25,  //
                                         -0.95, 0.40, 0.30, 0.20, 0.45, 1.10});
}

// A periodic triclinic cell shorter than 2 r_cov(Cu) = 2.64 Å: Cu sees its own images.
desc::System periodic_cell() {
    desc::System s = make_system({29, 8, 1}, {0.10, 0.20, 0.05, 1.25, 0.95, 0.80, 0.40, 1.60, 1.30});
    s.cell = ad::tensor({3, 3}, {2.45, 0.0, 0.0, 0.35, 2.30, 0.0, -0.25, 0.30, 2.50});
    s.pbc = {true, true, true};
    return s;
}

double r_cov(int Z) { return nn::bpnn::covalent_radius(Z); }

// E by a naive loop over unordered pairs (i < j, S) and self-images (i, i, S > 0 lexicographic).
double naive_energy(const desc::System& s) {
    const int n_img = s.any_pbc() ? 3 : 0;
    double E = 0;
    for (long i = 0; i < s.n_atoms(); ++i)
        for (long j = i; j < s.n_atoms(); ++j)
            for (int s0 = -n_img; s0 <= n_img; ++s0)
                for (int s1 = -n_img; s1 <= n_img; ++s1)
                    for (int s2 = -n_img; s2 <= n_img; ++s2) {
                        const int S[3] = {s0, s1, s2};
                        if (i == j && !(s0 > 0 || (s0 == 0 && (s1 > 0 || (s1 == 0 && s2 > 0))))) continue;
                        double v[3], r2 = 0;
                        for (int a = 0; a < 3; ++a) {
                            v[a] = s.positions[j * 3 + a] - s.positions[i * 3 + a];
                            for (int k = 0; k < 3; ++k) v[a] += S[k] * s.cell[k * 3 + a];
                            r2 += v[a] * v[a];
                        }
                        const int Zi = s.numbers[static_cast<size_t>(i)], Zj = s.numbers[static_cast<size_t>(j)];
                        E += closed_form(Zi, Zj, std::sqrt(r2), r_cov(Zi), r_cov(Zj));
                    }
    return E;
}

}  // namespace

TEST_CASE("zbl: pair energy equals the closed form; zero from r_c on; symmetric in the elements", "[nn][zbl]") {
    // Covalent radii (Cordero 2008 via ASE): H 0.31, C 0.76, O 0.66, Cu 1.32, Cm 1.69.
    CHECK(r_cov(1) == 0.31);
    CHECK(r_cov(6) == 0.76);
    CHECK(r_cov(8) == 0.66);
    CHECK(r_cov(29) == 1.32);
    CHECK(r_cov(96) == 1.69);
    CHECK(nn::bpnn::zbl_cutoff(6, 8) == Approx(1.42).epsilon(1e-15));
    const int pairs[4][2] = {{1, 1}, {6, 8}, {1, 29}, {29, 29}};
    for (const auto& z : pairs) {
        const double rc = r_cov(z[0]) + r_cov(z[1]);
        for (double f : {0.05, 0.2, 0.5, 0.8, 0.97}) {
            const double r = f * rc, ref = closed_form(z[0], z[1], r, r_cov(z[0]), r_cov(z[1]));
            const auto e = zbl_pair(z[0], z[1], r);
            // Reference switch from finite-difference E0', E0'': good to ~1e-7 relative of E0(rc).
            CHECK(std::fabs(e.energy - ref) < 1e-7 * (std::fabs(ref) + E0(z[0], z[1], rc)));
            CHECK(e.energy > 0);  // repulsive inside r_c
            CHECK(zbl_pair(z[1], z[0], r).energy == e.energy);
            // dE/dr against central differences (h = 1e-6 Å).
            const double h = 1e-6;
            const double fd = (zbl_pair(z[0], z[1], r + h).energy - zbl_pair(z[0], z[1], r - h).energy) / (2 * h);
            CHECK(std::fabs(e.denergy_dr - fd) < 1e-6 * (1 + std::fabs(fd)));
        }
        CHECK(zbl_pair(z[0], z[1], rc).energy == 0.0);
        CHECK(zbl_pair(z[0], z[1], rc + 1e-9).denergy_dr == 0.0);
        CHECK(zbl_pair(z[0], z[1], 3 * rc).energy == 0.0);
    }
    // A hand value of the unswitched part: H-H at 0.1 Å, a = 0.4685 / 2 = 0.23425 Å,
    // x = 0.426894, phi(x) = 0.649156, E0 = 14.399645 * 0.649156 / 0.1 = 93.4761 eV.
    CHECK(E0(1, 1, 0.1) == Approx(93.4761).epsilon(1e-5));
}

TEST_CASE("zbl: energy, slope and curvature vanish at r_c; the switch adds no slope at r = 0", "[nn][zbl]") {
    const int Zi = 6, Zj = 8;
    const double rc = nn::bpnn::zbl_cutoff(Zi, Zj);
    // Inside, approaching r_c: E ~ (rc - r)^3 and E' ~ (rc - r)^2 (E, E', E'' continuous at r_c).
    const double scale = std::fabs(zbl_pair(Zi, Zj, 0.5 * rc).denergy_dr);
    for (double d : {1e-2, 1e-3}) {
        const auto e = zbl_pair(Zi, Zj, rc - d);
        CHECK(std::fabs(e.energy) < 10 * scale * d * d * d);
        CHECK(std::fabs(e.denergy_dr) < 10 * scale * d * d);
    }
    // Inner end r_1 = 0: E - E0 = A/3 r^3 + B/4 r^4 + C, so its slope A r^2 + B r^3 -> 0.
    const double r = 1e-3, h = 1e-6;
    auto shifted = [&](double x) { return zbl_pair(Zi, Zj, x).energy - E0(Zi, Zj, x); };
    const double slope = (shifted(r + h) - shifted(r - h)) / (2 * h);
    // Differences of ~1e5 eV energies at h = 1e-6: rounding ~1e-4 eV/Å in the slope.
    CHECK(std::fabs(slope) < 1e-3);
}

TEST_CASE("zbl: energy is the sum over pairs and images; forces are minus its gradient", "[nn][zbl]") {
    for (int periodic = 0; periodic < 2; ++periodic) {
        desc::System s = periodic ? periodic_cell() : cluster();
        const auto out = zbl(s);
        REQUIRE(out.forces.shape() == (ad::Shape{s.n_atoms(), 3}));
        REQUIRE(out.stress.shape() == (ad::Shape{3, 3}));
        const double ref = naive_energy(s);
        CHECK(out.energy > 1.0);  // several pairs well inside r_c
        CHECK(std::fabs(out.energy - ref) < 1e-7 * ref);
        if (!periodic) CHECK(max_abs(out.stress) == 0.0);
        // F = -dE/dx by central differences (h = 1e-6 Å; energies ~10-100 eV: rounding ~1e-8).
        const double h = 1e-6;
        double err = 0;
        for (long k = 0; k < 3 * s.n_atoms(); ++k) {
            desc::System p = s, m = s;
            p.positions = s.positions.clone();
            m.positions = s.positions.clone();
            p.positions.data()[k] += h;
            m.positions.data()[k] -= h;
            const double fd = -(zbl(p).energy - zbl(m).energy) / (2 * h);
            err = std::max(err, std::fabs(fd - out.forces[k]) / (1 + std::fabs(fd)));
        }
        CHECK(err < 1e-6);
        double total[3] = {0, 0, 0};  // Newton's third law: the forces sum to zero
        for (long i = 0; i < s.n_atoms(); ++i)
            for (int a = 0; a < 3; ++a) total[a] += out.forces[i * 3 + a];
        CHECK(std::fabs(total[0]) + std::fabs(total[1]) + std::fabs(total[2]) < 1e-9 * max_abs(out.forces));
    }
}

TEST_CASE("zbl: stress equals (1/V) dE/dstrain of the deformed cell by finite differences", "[nn][zbl]") {
    const desc::System s = periodic_cell();
    const auto out = zbl(s);
    CHECK(max_abs(out.stress) > 1e-3);
    const double h = 1e-6, V = std::fabs(s.volume()), zero[3] = {0, 0, 0};
    for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) {
            double Ap[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, Am[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
            Ap[a * 3 + b] += h;
            Am[a * 3 + b] -= h;
            const double fd = (zbl(transformed(s, Ap, zero)).energy - zbl(transformed(s, Am, zero)).energy) / (2 * h);
            CHECK(std::fabs(fd / V - out.stress[a * 3 + b]) < 1e-6 * (1 + std::fabs(fd / V)));
        }
    CHECK(std::fabs(out.stress[1] - out.stress[3]) < 1e-12);  // symmetric (pair forces)
}

TEST_CASE("zbl: invariant under rotation and translation; zero when every pair is beyond r_c", "[nn][zbl]") {
    const double c = std::cos(0.7), sn = std::sin(0.7), ct = std::cos(0.4), st = std::sin(0.4);
    // Q = R_z(0.7) R_x(0.4): a proper rotation about no coordinate axis.
    const double Q[9] = {c, -sn * ct, sn * st, sn, c * ct, -c * st, 0, st, ct};
    const double t[3] = {1.3, -0.4, 2.2};
    for (int periodic = 0; periodic < 2; ++periodic) {
        desc::System s = periodic ? periodic_cell() : cluster();
        const auto ref = zbl(s), rot = zbl(transformed(s, Q, t));
        CHECK(std::fabs(rot.energy - ref.energy) < 1e-12 * ref.energy);
        double ferr = 0, serr = 0;
        for (long i = 0; i < s.n_atoms(); ++i)
            for (int a = 0; a < 3; ++a) {
                double f = 0;
                for (int b = 0; b < 3; ++b) f += Q[a * 3 + b] * ref.forces[i * 3 + b];
                ferr = std::max(ferr, std::fabs(f - rot.forces[i * 3 + a]));
            }
        for (int a = 0; a < 3; ++a)  // stress' = Q stress Q^T
            for (int b = 0; b < 3; ++b) {
                double v = 0;
                for (int k = 0; k < 3; ++k)
                    for (int l = 0; l < 3; ++l) v += Q[a * 3 + k] * ref.stress[k * 3 + l] * Q[b * 3 + l];
                serr = std::max(serr, std::fabs(v - rot.stress[a * 3 + b]));
            }
        CHECK(ferr < 1e-10 * (1 + max_abs(ref.forces)));
        CHECK(serr < 1e-10 * (1 + max_abs(ref.stress)));
    }
    // C-O at 1.43 Å > r_c = 1.42 Å, H-H at 0.63 Å > 0.62 Å: nothing.
    const auto far = zbl(make_system({6, 8, 1, 1}, {0, 0, 0, 1.43, 0, 0, 0, 5, 0, 0.63, 5, 0}));
    CHECK(far.energy == 0.0);
    CHECK(max_abs(far.forces) == 0.0);
}

TEST_CASE("zbl: errors name the unsupported element", "[nn][zbl]") {
    // Bk (97) has no covalent radius in ASE (metatrain would fall back to 0.2 Å).
    REQUIRE_THROWS_WITH(zbl(make_system({6, 97}, {0, 0, 0, 1, 0, 0})),
                        Catch::Contains("zbl: expected elements with a tabulated covalent radius") &&
                            Catch::Contains("got Bk (Z = 97)"));
    REQUIRE_THROWS_WITH(nn::bpnn::covalent_radius(0), Catch::Contains("got an invalid element (Z = 0)"));
    REQUIRE_THROWS_WITH(zbl_pair(1, 1, 0.0), Catch::Contains("expected a distance r > 0, got 0"));
}
