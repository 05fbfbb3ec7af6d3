// Training targets of a batch and the weighted loss of metatrain's energy training:
//   L = w_E mean_s ((E_s - E*_s) / n_s)^2            energy per atom (n_s atoms in structure s)
//     + w_F mean_{i,a} (F_ia - F*_ia)^2               forces
//     + w_sigma mean_{s in P, a, b} (sigma_s - sigma*_s)_ab^2   stress, P = structures with a stress target
//     + w_W mean_{s in P, a, b} ((W_s - W*_s)_ab / n_s)^2     virial W = -V sigma, per atom
// Terms with weight 0 or without targets are skipped (no ops recorded). Built from ops, so the
// gradient w.r.t. the parameters goes through forces and stress (CreateGraph::yes upstream).
#pragma once
#include <string>
#include <vector>

#include "nn/bpnn/bpnn.hpp"

namespace nn::bpnn {

struct LossWeights {
    double energy = 1.0;  ///< per-atom energy term
    double forces = 1.0;
    double stress = 0.0;  ///< stress (eV/A^3) term
    double virial = 0.0;  ///< per-atom virial term (alternative to stress; both may be used)
};

struct Targets {
    ad::Tensor energies;                ///< [n_structures]
    ad::Tensor forces;                  ///< [n_atoms, 3], undefined when not every frame has forces
    ad::Tensor stress;                  ///< [n_structures, 3, 3] (zeros where absent), or undefined
    std::vector<long> with_stress;      ///< structures with a stress target (periodic ones only)
};

/// Targets from the frames of a batch (same order as make_batch): energy key required; forces
/// used when every frame has them; stress from the periodic frames that have it.
Targets targets_of(const std::vector<desc::System>& frames, const std::string& energy_key = "energy",
                   const std::string& forces_key = "forces", const std::string& stress_key = "stress");

struct LossTerms {
    ad::Tensor total;                           ///< [] weighted sum
    ad::Tensor energy, forces, stress, virial;  ///< [] unweighted terms (undefined when skipped)
};

/// The weighted loss of predictions against targets (energies already free of any baseline the
/// caller removed from the targets).
LossTerms energy_loss(const EnergyForcesStress& pred, const Targets& targets, const Batch& batch,
                      const LossWeights& weights);

}  // namespace nn::bpnn
