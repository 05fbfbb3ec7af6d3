// PET (metatrain src/metatrain/pet/model.py, the "cleaner reimplementation" of Pozdnyakov &
// Ceriotti 2023, arXiv:2305.19302; "feedforward" featurizer, metatrain's default). Notation: atoms
// i (centres), tokens t (the padded neighbour edges i -> j, T = max neighbours, layout in
// pet_layout.hpp), GNN layers k = 1..K, species index a, widths d = d_pet, D = d_node, h = d_head.
//   r_ij = A_s (R_j - R_i + shift_ij)            [n, T, 3]   A_s = 1 + strain_s; padding: a far vector
//   c_ij = f_cut(|r_ij|)                         [n, T]      bump (default) or cosine; 0 on padding
//   n^0_i = E_node[a_i]  [n, D],   x^0_ij = E_edge[a_j]  [n, T, d]        (Embeddings)
//   for k = 1..K (CartesianTransformer k):
//     g_ij = G_k [r_ij; |r_ij|]                  Linear(4, d)
//     m_ij = M_k2 SiLU(M_k1 [g_ij; x^{k-1}_ij])           (k = 1)   Linear(2d, d), Linear(d, d)
//     m_ij = M_k2 SiLU(M_k1 [g_ij; E_k[a_j]; x^{k-1}_ij]) (k > 1)   Linear(3d, d), Linear(d, d)
//     (n^k, y) = Layer_kL(... Layer_k1(n^{k-1}, m; c))   num_attention_layers, pet_transformer.hpp
//     x^k_ij = x^{k-1}_ij + y_ij + P_k(LayerNorm_k([y_ij; y_ji]))   P_k: Linear(2d, 2d) SiLU Linear(2d, d)
//   node features n_i = n^K_i [D], edge features x_ij = x^K_ij [d]
//   features_i  = [n_i; sum_j c_ij x_ij]                          [D + d]   (metatrain "features")
//   u_i  = SiLU(H_n2 SiLU(H_n1 n_i))    [h],   v_ij = SiLU(H_e2 SiLU(H_e1 x_ij))  [h]   node/edge heads
//   e_i  = (w_n . u_i + b_n) + sum_j c_ij (w_e . v_ij + b_e)     node + edge last layers (with bias)
//   phi_i = [u_i; sum_j c_ij v_ij]      [2h]   last-layer features (metatrain's concatenation order)
//   E_s = sum_{i in s} e_i = phi_s . [w_n; w_e] + b_n N_s + b_e sum_{i in s} sum_j c_ij
// Every Linear has a bias (metatrain's). Attention in log-weight mode: softmax(S + log c), the
// node token with weight 1, padded tokens excluded exactly (metatrain: weight ~1e-15).
// PET is not rotation invariant by construction (Cartesian r_ij enter linearly); metatrain trains
// it with random rotations. docs/pet.md reports the measured rotation error at initialisation.
// Parameters: "node_embedders.0.weight", "edge_embedder.weight", "gnn_layers.<k>.{edge_embedder,
// compress.0, compress.2, neighbor_embedder, trans.layers.<l>}.*", "combination_norms.<k>.*",
// "combination_mlps.<k>.{0,2}.*", "node_heads.energy.0.{0,2}.*", "edge_heads.energy.0.{0,2}.*",
// "node_last_layers.energy.0.*", "edge_last_layers.energy.0.*".
#pragma once
#include <map>
#include <memory>
#include <vector>

#include "autodiff/graph.hpp"
#include "autodiff/random.hpp"
#include "nn/atomistic/model.hpp"
#include "nn/atomistic/registry.hpp"
#include "nn/bpnn/bpnn.hpp"
#include "nn/checkpoint.hpp"
#include "nn/embedding.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"
#include "nn/module.hpp"
#include "nn/pet/pet_hypers.hpp"
#include "nn/pet/pet_layout.hpp"
#include "nn/pet/pet_transformer.hpp"

namespace nn::pet {

using nn::bpnn::Batch;
using nn::bpnn::EnergyForcesStress;
using nn::bpnn::Output;

class Pet : public atomistic::AtomisticModel {
  public:
    /// species: the model's atomic numbers (any order; sorted and deduplicated here). Draws the
    /// GNN layers, combination MLPs, embeddings, heads and last layers from `rng`, in that order.
    Pet(PetHypers hypers, std::vector<int> species, ad::Rng& rng);

    /// All outputs (atom_features [n, D + d], atom_last_layer_features [n, 2 h], per-structure sums).
    Output forward(const Batch& batch) const override;
    /// forward(batch).energies without the feature outputs.
    ad::Tensor energies(const Batch& batch) const override;
    // energy_forces_stress: AtomisticModel's (ad::grad of energies(); CreateGraph::yes keeps the
    // graph, so force and stress losses are differentiable w.r.t. the parameters).
    /// forward_backward chunks of kChunkEntries / 2048 = 64 atoms: a 16-cell Cu batch (~42
    /// neighbours per atom) gets 8 chunks and a smaller graph per chunk, 1.4x faster on one
    /// thread than the default width d (bench_pet); ethanol unchanged.
    long step_chunk_width() const override { return 2048; }
    /// The token layout of a batch (public for tests and benchmarks).
    NeighborLayout layout(const Batch& batch) const;

    const PetHypers& hypers() const { return hypers_; }
    const std::vector<int>& species() const override { return species_; }
    double cutoff() const override { return hypers_.cutoff; }
    std::string architecture() const override { return "pet"; }
    int format_version() const override;
    std::string hypers_toml() const override { return hypers_.to_toml(); }
    long n_last_layer_features() const override { return n_features(); }
    bool has_zbl() const override { return hypers_.zbl; }
    /// Not rotation invariant (Cartesian r_ij enter the network): trained with rotational augmentation.
    bool rotation_invariant() const override { return false; }
    long n_features() const { return 2L * hypers_.d_head; }  ///< width of the last-layer features
    /// w = [w_n, w_e] [1, 2 h] (in the graph): E_s = phi_s w^T + b_n N_s + b_e sum c.
    ad::Tensor last_layer_weights() const override;
    const Linear& node_last_layer() const { return *node_last_; }
    const Linear& edge_last_layer() const { return *edge_last_; }

    // to_checkpoint: AtomisticModel's ("architecture" = "pet", "format_version" 1, "hypers" =
    // PetHypers::to_toml(), "species", "composition_weights", "energy_scale").
    /// Rebuilds the model; `composition_weights` and `energy_scale` (if not null) receive the
    /// stored values (empty / 1 when absent).
    static std::shared_ptr<Pet> from_checkpoint(const Checkpoint& ckpt, std::map<int, double>* composition_weights = nullptr,
                                                double* energy_scale = nullptr);

  private:
    enum class Outputs { all, energies };
    Output forward(const Batch& batch, Outputs outputs) const;
    struct GnnLayer {
        std::shared_ptr<Linear> edge_embedder, compress0, compress2;
        std::shared_ptr<Embedding> neighbor_embedder;  ///< null for the first layer
        std::vector<std::shared_ptr<PetTransformerLayer>> layers;
        std::shared_ptr<LayerNorm> combination_norm;
        std::shared_ptr<Linear> combination0, combination2;
    };
    PetHypers hypers_;
    std::vector<int> species_;
    std::vector<GnnLayer> gnn_;
    std::shared_ptr<Embedding> node_embedder_, edge_embedder_;
    std::shared_ptr<Linear> node_head0_, node_head2_, edge_head0_, edge_head2_, node_last_, edge_last_;
};

/// The registry entry of "pet" (nn/architectures.cpp registers it).
atomistic::Architecture pet_architecture();

}  // namespace nn::pet
