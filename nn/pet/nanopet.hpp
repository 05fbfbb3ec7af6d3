// NanoPET (metatrain src/metatrain/experimental/nanopet/model.py, later deprecated/nanopet; PET: Pozdnyakov & Ceriotti
// 2023, arXiv:2305.19302). Notation: atoms i (the centres b), tokens t (the padded neighbour
// edges i -> j of a centre, T = max neighbours), species index a, width d = d_pet.
//   r_ij = A_s (R_j - R_i + shift_ij)               A_s = 1 + strain_s (identity without)
//   c_ij = f_cut(|r_ij|)                             radial mask (cosine: 1 below r_c - w, 0 from r_c)
//   x_ij = W_c [MLP(r_ij); E_c[a_i]; E_n[a_j]]       MLP: Linear(3,4d) SiLU Linear(4d,4d) SiLU Linear(4d,d)
//   h^1 = Transformer_1(x; c)                        num_attention_layers pre-LN layers, nn/transformer
//   for k = 2 .. num_gnn_layers (message passing through the reversed edge j -> i):
//     m_ij = W_k [h^{k-1}_ij; h^{k-1}_ji]            Linear(2d, d)
//     h^k  = (h^{k-1} + Transformer_k(m; c)) / sqrt 2
//   n_i = sum_j c_ij h^K_ij                          node features [d]
//   f_i = head(n_i)                                  mlp: SiLU(W2 SiLU(W1 n_i)), W1 [4d, d]; linear: n_i
//   e_i = w . f_i,  E_s = sum_{i in s} e_i           last layer Linear(d, 1)
// Every Linear has no bias (metatrain's). Attention: softmax weights times c, renormalised
// (nn/attention.hpp); residuals times 1/sqrt 2. Padded tokens are excluded exactly. metatrain's
// NanoPET does not concatenate features across GNN layers: the last-layer features are f_i [d]
// (one last layer for all species), summed per structure.
// Parameters: "encoder.cartesian.{0,1,2}.weight", "encoder.center_embedding.weight",
// "encoder.neighbor_embedding.weight", "encoder.compressor.weight", "transformers.<k>.<l>.*",
// "contractions.<k>.weight", "heads.energy.{0,1}.weight", "last_layers.energy.weight".
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
#include "nn/linear.hpp"
#include "nn/module.hpp"
#include "nn/pet/nanopet_hypers.hpp"
#include "nn/pet/pet_layout.hpp"
#include "nn/transformer.hpp"

namespace nn::pet {

using nn::bpnn::Batch;
using nn::bpnn::EnergyForcesStress;
using nn::bpnn::Output;

class NanoPet : public atomistic::AtomisticModel {
  public:
    /// species: the model's atomic numbers (any order; sorted and deduplicated here). Draws the
    /// encoder, transformers, contractions, head and last layer from `rng`, in that order.
    NanoPet(NanoPetHypers hypers, std::vector<int> species, ad::Rng& rng);

    /// All outputs of a batch (graph recorded when positions, strains or parameters require grad).
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

    const NanoPetHypers& hypers() const { return hypers_; }
    const std::vector<int>& species() const override { return species_; }
    double cutoff() const override { return hypers_.cutoff; }
    std::string architecture() const override { return "nanopet"; }
    int format_version() const override;
    std::string hypers_toml() const override { return hypers_.to_toml(); }
    long n_last_layer_features() const override { return n_features(); }
    bool has_zbl() const override { return hypers_.zbl; }
    /// Not rotation invariant (Cartesian r_ij enter the network): trained with rotational augmentation.
    bool rotation_invariant() const override { return false; }
    long n_features() const { return hypers_.d_pet; }  ///< d, the width of the last-layer features
    const Linear& last_layer() const { return *last_; }
    /// w [1, d] (the last layer's weight, in the graph): E = phi w^T.
    ad::Tensor last_layer_weights() const override { return last_->weight(); }

    // to_checkpoint: AtomisticModel's ("architecture" = "nanopet", "format_version" 1, "hypers" =
    // NanoPetHypers::to_toml(), "species", "composition_weights", "energy_scale").
    /// Rebuilds the model; `composition_weights` and `energy_scale` (if not null) receive the
    /// stored values (empty / 1 when absent).
    static std::shared_ptr<NanoPet> from_checkpoint(const Checkpoint& ckpt,
                                                    std::map<int, double>* composition_weights = nullptr,
                                                    double* energy_scale = nullptr);

  private:
    enum class Outputs { all, energies };
    Output forward(const Batch& batch, Outputs outputs) const;
    NanoPetHypers hypers_;
    std::vector<int> species_;
    std::vector<std::shared_ptr<Linear>> cartesian_;  ///< 3 -> 4d -> 4d -> d
    std::shared_ptr<Embedding> center_embedding_, neighbor_embedding_;
    std::shared_ptr<Linear> compressor_;
    std::vector<std::vector<std::shared_ptr<TransformerLayer>>> transformers_;  ///< [num_gnn_layers][num_attention_layers]
    std::vector<std::shared_ptr<Linear>> contractions_;  ///< [num_gnn_layers - 1]
    std::vector<std::shared_ptr<Linear>> head_;          ///< empty for a linear head
    std::shared_ptr<Linear> last_;
};

/// The registry entry of "nanopet" (nn/architectures.cpp registers it).
atomistic::Architecture nanopet_architecture();

}  // namespace nn::pet
