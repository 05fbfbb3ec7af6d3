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
#include "nn/atomistic/composition.hpp"
#include "nn/atomistic/model.hpp"
#include "nn/atomistic/registry.hpp"
#include "nn/bpnn/hypers.hpp"
#include "nn/checkpoint.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"
#include "nn/module.hpp"

namespace nn::bpnn {

// The model-independent names (nn/atomistic/: Batch, Output, CompositionModel, the loss, trainer,
// threads, ZBL) stay reachable as nn::bpnn::Name, so code written before the move compiles as is.
using namespace atomistic;

class SoapBpnn : public atomistic::AtomisticModel {
  public:
    /// species: the model's atomic numbers (any order; sorted and deduplicated here).
    /// Draws every Linear weight from `rng`, species by species (ascending Z), layer by layer.
    SoapBpnn(BpnnHypers hypers, std::vector<int> species, ad::Rng& rng);

    /// All outputs of a batch (graph recorded when positions, strains or parameters require grad).
    Output forward(const Batch& batch) const override;
    /// forward(batch).energies without recording the feature outputs (what training needs).
    ad::Tensor energies(const Batch& batch) const override;
    /// SOAP features [n_atoms, D] of a batch (one soap op per structure, concatenated).
    ad::Tensor descriptor(const Batch& batch) const;
    // energy_forces_stress: AtomisticModel's (ad::grad of energies()). CreateGraph::yes supports a
    // force/stress loss differentiated w.r.t. the parameters, not w.r.t. positions (SOAP has no
    // second position derivatives).

    const BpnnHypers& hypers() const { return hypers_; }
    const std::vector<int>& species() const override { return species_; }
    double cutoff() const override { return hypers_.cutoff; }
    std::string architecture() const override { return "soap_bpnn"; }
    int format_version() const override;
    std::string hypers_toml() const override { return hypers_.to_toml(); }
    long n_last_layer_features() const override { return static_cast<long>(species_.size()) * n_features(); }
    bool has_zbl() const override { return hypers_.zbl; }
    bool rotation_invariant() const override { return true; }  ///< SOAP power spectrum: O(3) invariant
    long step_chunk_width() const override { return soap_->n_features(); }
    const desc::Soap& soap() const { return *soap_; }
    long n_features() const;  ///< d, the width of the last-layer features
    /// The per-species last layer (weight [1, d]).
    const Linear& last_layer(int Z) const;
    /// w = [w_Z1 .. w_ZS] [1, S d] (concat of the last layers, in the graph): E = phi w^T.
    ad::Tensor last_layer_weights() const override;

    // to_checkpoint: AtomisticModel's ("architecture" = "soap_bpnn", "format_version" 1, "hypers"
    // = BpnnHypers::to_toml(), "species", "composition_weights", "energy_scale").
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

/// The registry entry of "soap_bpnn" (nn/architectures.cpp registers it).
atomistic::Architecture architecture();

}  // namespace nn::bpnn
