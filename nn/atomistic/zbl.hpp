// ZBL screened nuclear repulsion: the short-range baseline of metatrain's `zbl = true` (its
// utils/additive/zbl.py: LAMMPS' pair_style zbl with inner cutoff 0 and outer cutoff
// r_c = r_cov(Z_i) + r_cov(Z_j)). Plain float64, no parameters, so no autodiff graph.
// Reference: Ziegler, Biersack, Littmark, The Stopping and Range of Ions in Solids (1985), ch. 2
// (universal screening function); LAMMPS pair_zbl docs (switching function). docs/bpnn.md "ZBL".
//
// Notation: pairs p = (i, j, S) of the half neighbour list (each unordered pair once),
// r_p = |v_p|, v_p = x_j - x_i + S . cell; units Å and eV.
//   a_ij     = a0 / (Z_i^0.23 + Z_j^0.23),   a0 = 0.46850 Å
//   phi(x)   = sum_k c_k exp(-d_k x)          (4 terms, ZBL universal screening function)
//   E0(r)    = K Z_i Z_j phi(r / a_ij) / r,   K = e^2 / (4 pi eps0) = 14.399645478425668 eV Å
//   E(r)     = E0(r) + A/3 r^3 + B/4 r^4 + C   for r < r_c,   0 for r >= r_c
//              (A, B, C make E, E', E'' vanish at r_c; LAMMPS' switch with inner cutoff r_1 = 0)
//   E_total  = sum_p E(r_p),   F_i = -dE_total/dx_i,   stress = (1/V) dE_total/d(strain)
#pragma once
#include <vector>

#include "autodiff/tensor.hpp"
#include "descriptors/system.hpp"
#include "nn/atomistic/batch.hpp"

namespace nn::atomistic {

/// Covalent radius r_cov(Z) in Å (Cordero et al. 2008, as ASE's covalent_radii) for Z = 1..96;
/// throws for other Z, naming the element.
double covalent_radius(int Z);

/// r_c(Z_i, Z_j) = r_cov(Z_i) + r_cov(Z_j) (Å): the pair energy is zero from there on.
double zbl_cutoff(int Zi, int Zj);

/// Energy E(r) (eV) of one pair at distance r > 0 (Å) and its derivative dE/dr (eV/Å).
struct ZblPair {
    double energy = 0;
    double denergy_dr = 0;
};
ZblPair zbl_pair(int Zi, int Zj, double r);

struct ZblResult {
    double energy = 0;  ///< E_total (eV)
    ad::Tensor forces;  ///< [n_atoms, 3] = -dE/dR (eV/Å)
    ad::Tensor stress;  ///< [3, 3] = (1/V) dE/d(strain) (eV/Å^3), ASE sign; zeros without pbc
};

/// ZBL energy, forces and stress of one structure (half neighbour list with cutoff 2 max r_cov
/// over the structure's elements). Stress as AtomisticModel::energy_forces_stress: computed when any
/// pbc is set and |det cell| > 0, zeros otherwise. Throws for an element outside Z = 1..96 and
/// for coincident atoms (the neighbour list names them).
ZblResult zbl(const desc::System& system);

/// The ZBL terms of the frames of a batch (same order as make_batch): energies [n_structures],
/// forces [n_atoms, 3], stress [n_structures, 3, 3] (zeros for non-periodic frames). No graph.
EnergyForcesStress zbl_baseline(const std::vector<desc::System>& frames);

/// pred + baseline for every quantity both define (energies, forces, stress); ops, so the
/// graph of `pred` is kept.
EnergyForcesStress add_baseline(const EnergyForcesStress& pred, const EnergyForcesStress& baseline);
/// target - baseline likewise (the training targets of a model with ZBL).
EnergyForcesStress remove_baseline(const EnergyForcesStress& target, const EnergyForcesStress& baseline);

}  // namespace nn::atomistic
