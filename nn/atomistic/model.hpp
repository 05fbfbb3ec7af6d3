// The interface every atomistic architecture implements (SOAP-BPNN in nn/bpnn, NanoPET/PET in
// nn/pet), so that one trainer (nn/atomistic/trainer), one evaluation (predict_frames, evaluate),
// one checkpoint format and one LLPR wrapper (uq/llpr_model) serve them all.
// Notation: atoms i, structures s, last-layer features c (P = n_last_layer_features() of them).
//   forward:      Output (batch.hpp): e_i, E_s, f_i, phi_i [P], phi_s = sum_{i in s} phi_i
//   last layer:   E_s = phi_s w^T with w = last_layer_weights() [1, P] (metatrain's
//                 mtt::aux::energy_last_layer_features: the inputs of the energy's last layer)
//   default energy_forces_stress (by ad::grad of sum_s E_s):
//                 F_i = -dE/dR_i,  stress_s = (1/V_s) dE_s/d(eps_s) at eps_s = 0 (periodic s only,
//                 zeros elsewhere), eps_s a fresh [3, 3] leaf when the batch has none.
// Named outputs (metatrain's names, one function for every model):
//   "energy" [n_structures], "energy/per_atom" [n_atoms], "features" [n_structures, d],
//   "features/per_atom" [n_atoms, d], "mtt::aux::energy_last_layer_features" [n_structures, P],
//   "mtt::aux::energy_last_layer_features/per_atom" [n_atoms, P].
// Checkpoint metadata (to_checkpoint / read_model_metadata): "architecture", "format_version",
// "hypers" (TOML of the model's hypers), "species" ("1,6,8"), "energy_scale", and
// "composition_weights" ("1:-13.6,8:-2000.5") when given; the tensors are state_dict().
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autodiff/graph.hpp"
#include "autodiff/random.hpp"
#include "nn/atomistic/batch.hpp"
#include "nn/checkpoint.hpp"
#include "nn/module.hpp"

namespace nn::atomistic {

class AtomisticModel : public Module {
  public:
    /// All outputs of a batch (graph recorded when positions, strains or parameters require grad).
    virtual Output forward(const Batch& batch) const = 0;
    /// forward(batch).energies; models may skip the feature outputs (what training needs).
    virtual ad::Tensor energies(const Batch& batch) const { return forward(batch).energies; }
    /// Energies, forces and stress by ad::grad of energies() (see the header). Positions that do not
    /// require grad are replaced by a fresh leaf. CreateGraph::yes keeps the graph so that a
    /// force/stress loss can be differentiated w.r.t. the parameters.
    virtual EnergyForcesStress energy_forces_stress(const Batch& batch, ad::CreateGraph create_graph) const;

    /// The model's atomic numbers, sorted, distinct.
    virtual const std::vector<int>& species() const = 0;
    /// Radius (A) the batch's neighbour lists need: make_batch(frames, cutoff()).
    virtual double cutoff() const = 0;
    /// Registry name ("soap_bpnn").
    virtual std::string architecture() const = 0;
    /// Checkpoint layout version of the architecture.
    virtual int format_version() const = 0;
    /// The model's hypers as TOML text (the registry's factory reads it back).
    virtual std::string hypers_toml() const = 0;
    /// P, the width of the last-layer features phi.
    virtual long n_last_layer_features() const = 0;
    /// w [1, P], in the graph: E_s = phi_s w^T.
    virtual ad::Tensor last_layer_weights() const = 0;
    /// True when the ZBL repulsion (nn/atomistic/zbl.hpp) is added outside the network.
    virtual bool has_zbl() const { return false; }
    /// True when E is invariant under rotations and inversions of the structure by construction
    /// (SoapBpnn); the trainer augments the training structures of the others with random
    /// rotations (TrainerSettings::rotational_augmentation).
    virtual bool rotation_invariant() const { return false; }
    /// Per-atom entries forward_backward budgets per chunk (SoapBpnn: the SOAP width D).
    virtual long step_chunk_width() const { return n_last_layer_features(); }

    /// Parameters plus the metadata of the file header (composition weights and energy scale of
    /// the trained model).
    Checkpoint to_checkpoint(const std::map<int, double>& composition_weights = {}, double energy_scale = 1.0) const;
};

/// What energy_forces_stress (and any other derivative w.r.t. positions and strain) differentiates
/// by: the batch with positions requiring grad (a fresh leaf when they do not) and a [3, 3] strain
/// requiring grad for every periodic structure (a zero leaf where the batch has none);
/// `inputs` = {R, eps_s for s in strained}, in that order.
struct DerivativeInputs {
    Batch batch;
    std::vector<ad::Tensor> inputs;
    std::vector<long> strained;  ///< structures with a strain input, in `inputs` order after R
};
DerivativeInputs derivative_inputs(const Batch& batch);

/// The outputs of forward() under metatrain's names (see the header); undefined ones left out.
std::vector<std::pair<std::string, ad::Tensor>> named_outputs(const Output& output);

/// What a model checkpoint's metadata holds (see the header), checked against `architecture` and
/// `format_version`; errors name the checkpoint and the key.
struct ModelMetadata {
    std::string hypers;  ///< TOML
    std::vector<int> species;
    std::map<int, double> composition_weights;  ///< empty when absent
    double energy_scale = 1.0;                  ///< 1 when absent
};
ModelMetadata read_model_metadata(const Checkpoint& ckpt, const std::string& architecture, int format_version);

/// A model M of `architecture` rebuilt from a checkpoint: the metadata checked, hypers H read by
/// H::from_toml(text, where), M(hypers, species, rng) built and its parameters loaded (strict);
/// `composition_weights` and `energy_scale` (if not null) receive the stored values.
template <class M, class H>
std::shared_ptr<M> model_from_checkpoint(const Checkpoint& ckpt, const std::string& architecture, int format_version,
                                         std::map<int, double>* composition_weights, double* energy_scale) {
    const std::string where = ckpt.path.empty() ? "checkpoint" : ckpt.path;
    const ModelMetadata meta = read_model_metadata(ckpt, architecture, format_version);
    ad::Rng rng(0);  // any values: overwritten by load_state_dict
    auto model = std::make_shared<M>(H::from_toml(meta.hypers, where), meta.species, rng);
    model->load_state_dict(ckpt.tensors);
    if (energy_scale) *energy_scale = meta.energy_scale;
    if (composition_weights) *composition_weights = meta.composition_weights;
    return model;
}

}  // namespace nn::atomistic
