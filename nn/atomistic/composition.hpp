// Model-independent energy baselines: metatrain's composition model and target scaler.
#pragma once
#include <map>
#include <optional>
#include <vector>

#include "nn/atomistic/batch.hpp"

namespace nn::atomistic {

// ---------------------------------------------------------------------------- composition baseline
/// E_s ~ sum_Z n_sZ w_Z: per-species energies fitted by least squares on atom counts (metatrain's
/// CompositionModel). Minimum-norm solution (pseudo-inverse of the Gram matrix), so species whose
/// counts are collinear (every ethanol frame is C2H6O) still get a well-defined answer.
struct CompositionModel {
    std::map<int, double> weights;  ///< Z -> w_Z (eV per atom)

    /// counts [n_structures, S] of `species`; energies [n_structures]. Species in `fixed` keep the
    /// given value and the rest are fitted to E - sum_fixed n w.
    static CompositionModel fit(const std::vector<std::vector<int>>& numbers_per_structure,
                                const std::vector<double>& energies, const std::vector<int>& species,
                                const std::map<int, double>& fixed = {});
    /// sum_Z n_sZ w_Z per structure of a batch: [n_structures] (no graph).
    ad::Tensor baseline(const Batch& batch) const;
    double baseline(const std::vector<int>& numbers) const;
    /// energies - baseline (remove_composition_contribution), per structure.
    std::vector<double> remove(const std::vector<std::vector<int>>& numbers_per_structure,
                               const std::vector<double>& energies) const;
};

// ---------------------------------------------------------------------------- target scaling
/// metatrain's Scaler for a per-structure energy: the network is trained on y / scale (forces
/// and stress likewise, being derivatives of the energy) and predicts scale * E_nn.
///   scale = sqrt(mean_s y_s^2)   over the training energies y after the composition baseline is
///   removed (no Bessel correction; 1 when that is 0). fixed_scaling_weights replaces it.
struct EnergyScaler {
    double scale = 1.0;

    static EnergyScaler fit(const std::vector<double>& residual_energies, std::optional<double> fixed = std::nullopt);
    /// Targets for the network: energies, forces and stress divided by scale (copies, no graph).
    /// Undefined tensors stay undefined.
    void scale_down(ad::Tensor& energies, ad::Tensor& forces, ad::Tensor& stress) const;
};

/// Physical predictions from the network's: scale * (E, F, stress) + baseline [n_structures] on E
/// (ops, so the graph is kept).
EnergyForcesStress predict(const EnergyForcesStress& network, const EnergyScaler& scaler, const ad::Tensor& baseline);

}  // namespace nn::atomistic
