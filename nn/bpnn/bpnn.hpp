// SOAP-BPNN (Behler-Parrinello network on SOAP features; metatrain's default soap_bpnn model).
// Notation: atoms i, structures s, species Z (centre element), SOAP features k (D of them),
// hidden units h (d = num_neurons_per_layer of them).
//   X[i, k]  = SOAP(R, strain)_i                        descriptors/soap.hpp, one call per structure
//   u_i      = LayerNorm_Z(i)(X[i, :])                  [D]   (identity without layernorm)
//   b_i      = SiLU(W_L ... SiLU(W_1 u_i))              [d]   BPNN features, Linear without bias
//   f_i      = b_i (linear head) | SiLU(H_Z(i) b_i) (mlp head)   [d]   input of the last layer
//   e_i      = w_Z(i) . f_i                             []    per-species last layer, no bias
//   E_s      = sum_{i in s} e_i                         (index_add by structure)
//   F_i      = -dE/dR_i,  stress_s = (1/V_s) dE_s/d(strain_s)   (ASE convention)
// Last-layer features as metatrain's mtt::aux::energy_last_layer_features: f_i placed in the block
// of its species, phi_i = [0 .. f_i .. 0] [S d], so that e_i = w . phi_i with w = [w_Z1 .. w_ZS].
// Parameters: "layernorms.<Z>.{weight,bias}", "bpnn.<Z>.layers.<k>.weight", "heads.<Z>.weight"
// (mlp head), "last_layers.<Z>.weight". The last layer has no bias, as metatrain's (per-species
// offsets are the composition model's). Reference: metatrain src/metatrain/soap_bpnn/model.py.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "autodiff/graph.hpp"
#include "autodiff/random.hpp"
#include "descriptors/soap.hpp"
#include "descriptors/system.hpp"
#include "nn/bpnn/hypers.hpp"
#include "nn/checkpoint.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"
#include "nn/module.hpp"

namespace nn::bpnn {

/// Several structures as one set of atoms. Pairs are per structure, with structure-local indices,
/// so no pair crosses structures. Atoms of structure s are offsets[s] .. offsets[s+1]-1.
struct Batch {
    std::vector<int> numbers;            ///< [n_atoms]
    ad::Tensor positions;                ///< [n_atoms, 3]; may require grad (or come from a graph)
    std::vector<long> structure;         ///< [n_atoms] structure index of each atom
    std::vector<long> offsets;           ///< [n_structures + 1]
    std::vector<desc::SoapPairs> pairs;  ///< [n_structures], local atom indices
    std::vector<ad::Tensor> strains;     ///< [n_structures]: [3, 3] or undefined (no strain)
    std::vector<double> volumes;         ///< [n_structures] |det cell|, 0 without periodicity
    double cutoff = 0;                   ///< radius the pairs were built with (>= the model's cutoff)

    long n_atoms() const { return static_cast<long>(numbers.size()); }
    long n_structures() const { return static_cast<long>(pairs.size()); }
    /// A copy with other positions [n_atoms, 3] (pairs stay valid: same atoms, same images).
    Batch with_positions(const ad::Tensor& R) const;
};

/// Neighbour list (full, `cutoff`) per frame, positions concatenated in frame order.
Batch make_batch(const std::vector<desc::System>& frames, double cutoff);

struct Output {
    ad::Tensor atom_energies;        ///< [n_atoms] e_i
    ad::Tensor energies;             ///< [n_structures] E_s
    ad::Tensor atom_features;        ///< [n_atoms, d] f_i, the input of the last layer
    ad::Tensor features;             ///< [n_structures, d] sum of f_i per structure
    ad::Tensor atom_last_layer_features;  ///< [n_atoms, S d] phi_i (f_i in its species' block)
    ad::Tensor last_layer_features;       ///< [n_structures, S d] sum of phi_i: E = phi w^T
};

struct EnergyForcesStress {
    ad::Tensor energies;  ///< [n_structures]
    ad::Tensor forces;    ///< [n_atoms, 3] = -dE/dR
    ad::Tensor stress;    ///< [n_structures, 3, 3] = (1/V) dE/dstrain; zeros where V = 0
};

class SoapBpnn : public Module {
  public:
    /// species: the model's atomic numbers (any order; sorted and deduplicated here).
    /// Draws every Linear weight from `rng`, species by species (ascending Z), layer by layer.
    SoapBpnn(BpnnHypers hypers, std::vector<int> species, ad::Rng& rng);

    /// All outputs of a batch (graph recorded when positions, strains or parameters require grad).
    Output forward(const Batch& batch) const;
    /// forward(batch).energies without recording the feature outputs (what training needs).
    ad::Tensor energies(const Batch& batch) const;
    /// SOAP features [n_atoms, D] of a batch (one soap op per structure, concatenated).
    ad::Tensor descriptor(const Batch& batch) const;
    /// Energies, forces and stress by ad::grad. Positions that do not require grad are replaced by
    /// a fresh leaf; strains (zeros, leaves) are added for periodic structures without one.
    /// CreateGraph::yes keeps the graph so that a force/stress loss can be differentiated w.r.t.
    /// the parameters (not w.r.t. positions: SOAP has no second position derivatives).
    EnergyForcesStress energy_forces_stress(const Batch& batch, ad::CreateGraph create_graph) const;

    const BpnnHypers& hypers() const { return hypers_; }
    const std::vector<int>& species() const { return species_; }
    const desc::Soap& soap() const { return *soap_; }
    long n_features() const;  ///< d, the width of the last-layer features
    /// The per-species last layer (weight [1, d]).
    const Linear& last_layer(int Z) const;
    /// w = [w_Z1 .. w_ZS] [1, S d] (concat of the last layers, in the graph): E = phi w^T.
    ad::Tensor last_layer_weights() const;

    /// Parameters plus metadata: "architecture" = "soap_bpnn", "format_version", "hypers" (TOML),
    /// "species" ("1,6,8"), the composition weights when given ("composition_weights") and the
    /// energy scale ("energy_scale").
    Checkpoint to_checkpoint(const std::map<int, double>& composition_weights = {}, double energy_scale = 1.0) const;
    /// Rebuilds the model; `composition_weights` and `energy_scale` (if not null) receive the
    /// stored values (empty / 1 when absent).
    static std::shared_ptr<SoapBpnn> from_checkpoint(const Checkpoint& ckpt,
                                                     std::map<int, double>* composition_weights = nullptr,
                                                     double* energy_scale = nullptr);

  private:
    /// forward(); with Outputs::energies only atom_energies and energies are computed (the
    /// training step's forces need no features, so their ops are not recorded).
    enum class Outputs { all, energies };
    Output forward(const Batch& batch, Outputs outputs) const;
    void check_descriptor_batch(const Batch& batch) const;
    struct PerSpecies {
        std::shared_ptr<LayerNorm> layernorm;       ///< null without layernorm
        std::vector<std::shared_ptr<Linear>> hidden;
        std::shared_ptr<Linear> head;               ///< null for a linear head
        std::shared_ptr<Linear> last;
    };
    BpnnHypers hypers_;
    std::vector<int> species_;
    std::shared_ptr<desc::Soap> soap_;
    std::vector<PerSpecies> nets_;  ///< parallel to species_
};

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

}  // namespace nn::bpnn
