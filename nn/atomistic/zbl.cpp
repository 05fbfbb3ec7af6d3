// ZBL repulsion baseline: pair energy with its switching polynomial, and the sums over a half
// neighbour list for energy, forces and stress (math in zbl.hpp).
#include "nn/atomistic/zbl.hpp"

#include <algorithm>
#include <cmath>

#include "autodiff/error.hpp"
#include "autodiff/ops.hpp"
#include "descriptors/neighbor_list.hpp"

namespace nn::atomistic {

namespace {

// Single-bond covalent radii (Å) of elements Z = 1..96 from B. Cordero et al., "Covalent radii
// revisited", Dalton Trans. 2008, 2832-2838, Table 2, with the choices made by ASE's
// ase.data.covalent_radii, the table metatrain reads (C: sp3; Mn, Fe, Co: low spin).
// ASE has no value past Cm (96); metatrain then uses 0.2 Å with a warning, we refuse the element.
constexpr int kMaxZ = 96;
constexpr double kCovalentRadius[kMaxZ + 1] = {
    0.0,                                                                    // (no Z = 0)
    0.31, 0.28,                                                             // H He
    1.28, 0.96, 0.84, 0.76, 0.71, 0.66, 0.57, 0.58,                         // Li .. Ne
    1.66, 1.41, 1.21, 1.11, 1.07, 1.05, 1.02, 1.06,                         // Na .. Ar
    2.03, 1.76, 1.70, 1.60, 1.53, 1.39, 1.39, 1.32, 1.26, 1.24, 1.32, 1.22,  // K .. Zn
    1.22, 1.20, 1.19, 1.20, 1.20, 1.16,                                     // Ga .. Kr
    2.20, 1.95, 1.90, 1.75, 1.64, 1.54, 1.47, 1.46, 1.42, 1.39, 1.45, 1.44,  // Rb .. Cd
    1.42, 1.39, 1.39, 1.38, 1.39, 1.40,                                     // In .. Xe
    2.44, 2.15,                                                             // Cs Ba
    2.07, 2.04, 2.03, 2.01, 1.99, 1.98, 1.98, 1.96, 1.94, 1.92, 1.92, 1.89, 1.90, 1.87, 1.87,  // La .. Lu
    1.75, 1.70, 1.62, 1.51, 1.44, 1.41, 1.36, 1.36, 1.32,                   // Hf .. Hg
    1.45, 1.46, 1.48, 1.40, 1.50, 1.50,                                     // Tl .. Rn
    2.60, 2.21,                                                             // Fr Ra
    2.15, 2.06, 2.00, 1.96, 1.90, 1.87, 1.80, 1.69,                         // Ac .. Cm
};

// Universal ZBL screening function phi(x) = sum_k c_k exp(-d_k x) and screening length
// a = a0 / (Z_i^p + Z_j^p): Ziegler, Biersack, Littmark (1985) ch. 2, with the digits of LAMMPS
// pair_zbl and metatrain (a0 = 0.8854 a_Bohr = 0.46850 Å).
constexpr double kC[4] = {0.18175, 0.50986, 0.28022, 0.02817};
constexpr double kD[4] = {3.19980, 0.94229, 0.40290, 0.20162};
constexpr double kA0 = 0.46850;  // Å
constexpr double kP = 0.23;
// e^2 / (4 pi eps0) in eV Å (CODATA 2018 e, eps0; the value metatrain uses).
constexpr double kCoulomb = 14.399645478425668;

// Unswitched E0(r) = k phi(r/a) / r, k = K Z_i Z_j, and its first two r-derivatives:
//   E0'  = k (phi'/r - phi/r^2),   E0'' = k (phi''/r - 2 phi'/r^2 + 2 phi/r^3),
// where phi' = d phi(r/a)/dr = -sum_k c_k (d_k/a) e_k and phi'' = sum_k c_k (d_k/a)^2 e_k.
struct Derivs {
    double e, de, d2e;
};
Derivs unswitched(double k, double a, double r) {
    double phi = 0, dphi = 0, d2phi = 0;
    for (int t = 0; t < 4; ++t) {
        const double q = kD[t] / a, ce = kC[t] * std::exp(-q * r);
        phi += ce;
        dphi -= q * ce;
        d2phi += q * q * ce;
    }
    return {k * phi / r, k * (dphi / r - phi / (r * r)), k * (d2phi / r - 2 * dphi / (r * r) + 2 * phi / (r * r * r))};
}

}  // namespace

double covalent_radius(int Z) {
    AD_CHECK(Z >= 1 && Z <= kMaxZ,
             "zbl: expected elements with a tabulated covalent radius (Z = 1.." << kMaxZ << ", H .. Cm), got "
                 << (Z >= 1 && Z <= 118 ? desc::element_symbol(Z) : std::string("an invalid element")) << " (Z = " << Z
                 << ")");
    return kCovalentRadius[Z];
}

double zbl_cutoff(int Zi, int Zj) { return covalent_radius(Zi) + covalent_radius(Zj); }

ZblPair zbl_pair(int Zi, int Zj, double r) {
    const double rc = zbl_cutoff(Zi, Zj);
    AD_CHECK(r > 0 && std::isfinite(r), "zbl_pair: expected a distance r > 0, got " << r);
    if (r >= rc) return {};
    const double k = kCoulomb * Zi * Zj;
    const double a = kA0 / (std::pow(Zi, kP) + std::pow(Zj, kP));
    // Switch S(r) = A/3 r^3 + B/4 r^4 + C (LAMMPS pair_zbl / lj/gromacs with inner cutoff 0):
    // S(rc) = -E0(rc), S'(rc) = -E0'(rc), S''(rc) = -E0''(rc), so E = E0 + S and its first two
    // derivatives reach 0 at rc; S'(0) = S''(0) = 0. E0 and its derivatives at rc are recomputed
    // per pair rather than cached per element pair: simple, and ZBL is a negligible cost.
    const Derivs c = unswitched(k, a, rc);
    const double A = (-3 * c.de + rc * c.d2e) / (rc * rc);
    const double B = (2 * c.de - rc * c.d2e) / (rc * rc * rc);
    const double C = -c.e + rc * c.de / 2 - rc * rc * c.d2e / 12;
    const Derivs e = unswitched(k, a, r);
    return {e.e + A / 3 * r * r * r + B / 4 * r * r * r * r + C, e.de + A * r * r + B * r * r * r};
}

ZblResult zbl(const desc::System& system) {
    const long n = system.n_atoms();
    AD_CHECK(system.positions.defined() && system.positions.ndim() == 2 && system.positions.dim(0) == n &&
                 system.positions.dim(1) == 3,
             "zbl: expected positions [" << n << ", 3] in " << system.where());
    double r_max = 0;  // the neighbour list needs max over pairs of r_c = 2 max r_cov
    for (int Z : system.numbers) r_max = std::max(r_max, covalent_radius(Z));

    ZblResult out;
    out.forces = ad::Tensor::zeros({n, 3});
    out.stress = ad::Tensor::zeros({3, 3});
    if (n == 0) return out;
    const desc::NeighborList list = desc::neighbor_list(system, 2 * r_max, desc::Pairs::half);
    double* F = out.forces.data();
    double W[9] = {};  // W_ab = dE/d(strain_ab) = sum_p E'(r_p) v_a v_b / r_p
    for (long p = 0; p < list.n_pairs(); ++p) {
        const long i = list.first[static_cast<size_t>(p)], j = list.second[static_cast<size_t>(p)];
        const double r = list.distances[p];
        const ZblPair e = zbl_pair(system.numbers[static_cast<size_t>(i)], system.numbers[static_cast<size_t>(j)], r);
        if (e.energy == 0 && e.denergy_dr == 0) continue;  // beyond this pair's r_c
        out.energy += e.energy;
        // dE/dx_j = E'(r) v / r = -dE/dx_i; F = -dE/dx. Strained pair vector v' = (1 + strain) v.
        const double* v = list.vectors.data() + 3 * p;
        for (int a = 0; a < 3; ++a) {
            const double g = e.denergy_dr * v[a] / r;
            F[3 * i + a] += g;
            F[3 * j + a] -= g;
            for (int b = 0; b < 3; ++b) W[3 * a + b] += g * v[b];
        }
    }
    const double V = system.any_pbc() ? std::fabs(system.volume()) : 0.0;
    if (V > 0)
        for (int k = 0; k < 9; ++k) out.stress.data()[k] = W[k] / V;
    return out;
}

EnergyForcesStress zbl_baseline(const std::vector<desc::System>& frames) {
    long n_atoms = 0;
    for (const desc::System& f : frames) n_atoms += f.n_atoms();
    const long n = static_cast<long>(frames.size());
    EnergyForcesStress out;
    out.energies = ad::Tensor::zeros({n});
    out.forces = ad::Tensor::zeros({n_atoms, 3});
    out.stress = ad::Tensor::zeros({n, 3, 3});
    long offset = 0;
    for (long s = 0; s < n; ++s) {
        const desc::System& f = frames[static_cast<size_t>(s)];
        const ZblResult r = zbl(f);
        out.energies.data()[s] = r.energy;
        std::copy(r.forces.data(), r.forces.data() + 3 * f.n_atoms(), out.forces.data() + 3 * offset);
        std::copy(r.stress.data(), r.stress.data() + 9, out.stress.data() + 9 * s);
        offset += f.n_atoms();
    }
    return out;
}

namespace {
ad::Tensor combine(const ad::Tensor& a, const ad::Tensor& b, double sign) {
    if (!a.defined() || !b.defined()) return a;
    AD_CHECK(a.shape() == b.shape(), "zbl baseline: expected matching shapes, got " << a.shape() << " and " << b.shape());
    return sign > 0 ? a + b : a - b;
}
}  // namespace

EnergyForcesStress add_baseline(const EnergyForcesStress& pred, const EnergyForcesStress& baseline) {
    return {combine(pred.energies, baseline.energies, 1), combine(pred.forces, baseline.forces, 1),
            combine(pred.stress, baseline.stress, 1)};
}

EnergyForcesStress remove_baseline(const EnergyForcesStress& target, const EnergyForcesStress& baseline) {
    return {combine(target.energies, baseline.energies, -1), combine(target.forces, baseline.forces, -1),
            combine(target.stress, baseline.stress, -1)};
}

}  // namespace nn::atomistic
