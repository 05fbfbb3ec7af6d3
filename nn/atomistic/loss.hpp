// Training targets of a batch and metatrain's loss for an energy target with its gradients.
// Residuals (predictions and targets already scaled down by the caller's EnergyScaler):
//   r^E_s   = (E_s - E*_s) / n_s                      energy, per atom (n_s atoms in structure s)
//   r^F_ia  = F_ia - F*_ia                            positions gradient (forces; sign irrelevant)
//   r^W_sab = V_s (sigma_s - sigma*_s)_ab / n_s       strain gradient dE/d(eps) = V sigma, per atom,
//                                                     s in P = periodic structures with a stress/virial target
// With per_structure (metatrain's per_structure_targets = ["energy"]) the 1/n_s factors are dropped.
// Each term applies its type elementwise and its reduction over all its elements:
//   mse: r^2     mae: |r|     huber: 0.5 r^2 if |r| < delta, else delta (|r| - 0.5 delta)
//   reduction mean: (1/M) sum,  sum: sum        (torch's MSELoss / L1Loss / HuberLoss)
//   L = w_E L_E + w_F L_F + w_W L_W
// Terms with weight 0 or without targets are skipped (no ops recorded). Built from ops, so the
// gradient w.r.t. the parameters goes through forces and stress (CreateGraph::yes upstream).
// Reference: metatrain docs "Loss functions" and utils/per_atom.py (average_by_num_atoms).
#pragma once
#include <string>
#include <vector>

#include "nn/atomistic/batch.hpp"

namespace nn::atomistic {

enum class LossType { mse, mae, huber };
enum class Reduction { mean, sum };

/// One term of the loss (metatrain's LossSpecification: type, weight, reduction, delta).
struct LossTerm {
    LossType type = LossType::mse;
    double weight = 1.0;
    Reduction reduction = Reduction::mean;
    double delta = 1.0;  ///< huber only: quadratic below |r| < delta
};

/// The loss of an energy target: values, positions gradient (forces), strain gradient
/// (stress or virial). metatrain's defaults: mse, weight 1, mean for each.
struct LossConfig {
    LossTerm energy;
    LossTerm forces;
    LossTerm strain;
    bool per_structure = false;  ///< per_structure_targets holds the energy: no 1/n_s
};
/// The name the benchmark and older code use.
using LossWeights = LossConfig;

LossType parse_loss_type(const std::string& name);        ///< mse | mae | huber; throws otherwise
Reduction parse_reduction(const std::string& name);       ///< mean | sum; throws otherwise
const char* to_string(LossType type);
const char* to_string(Reduction reduction);

struct Targets {
    ad::Tensor energies;                ///< [n_structures]
    ad::Tensor forces;                  ///< [n_atoms, 3], undefined when not every frame has forces
    ad::Tensor stress;                  ///< [n_structures, 3, 3] (zeros where absent), or undefined
    std::vector<long> with_stress;      ///< structures with a stress target (periodic ones only)
};

/// Targets from the frames of a batch (same order as make_batch): energy key required; forces
/// used when every frame has them (forces_key "" = never); stress from the periodic frames that
/// have `stress_key`, or, when `virial_key` is given instead, sigma = -W / V from the virial W.
Targets targets_of(const std::vector<desc::System>& frames, const std::string& energy_key = "energy",
                   const std::string& forces_key = "forces", const std::string& stress_key = "stress",
                   const std::string& virial_key = "");

struct LossTerms {
    ad::Tensor total;                   ///< [] weighted sum
    ad::Tensor energy, forces, strain;  ///< [] unweighted terms (undefined when skipped)
};

/// One term: type applied elementwise to the residual r, then the reduction -> [].
ad::Tensor loss_term(const ad::Tensor& r, const LossTerm& term);

/// The weighted loss of predictions against targets (energies already free of any baseline the
/// caller removed from the targets).
LossTerms energy_loss(const EnergyForcesStress& pred, const Targets& targets, const Batch& batch,
                      const LossConfig& config);

}  // namespace nn::atomistic
