// Hyperparameters of PET, with metatrain's defaults (metatrain src/metatrain/pet/documentation.py
// ModelHypers: cutoff 4.5, cutoff_function Bump, cutoff_width 0.5, d_pet 128, d_head 128, d_node
// 256, d_feedforward 256, num_heads 8, num_attention_layers 2, num_gnn_layers 2, RMSNorm, SwiGLU,
// PreLN). One struct holds the defaults and their documentation; to_toml/from_toml round-trip it
// (checkpoint metadata) and from_toml rejects unknown keys, naming the key path.
// nn/pet/pet_default.toml lists the defaults. Not implemented (metatrain options): the
// "residual" featurizer (only "feedforward", metatrain's default), attention_temperature (1),
// num_neighbors_adaptive (none), long_range (off).
#pragma once
#include <string>

#include "nn/cutoff_functions.hpp"

namespace nn::pet {

enum class PetNorm { rms_norm, layer_norm };          ///< metatrain "RMSNorm" | "LayerNorm"
enum class PetActivation { swiglu, silu };            ///< metatrain "SwiGLU" | "SiLU"
enum class PetTransformerType { pre_ln, post_ln };    ///< metatrain "PreLN" | "PostLN"

struct PetHypers {
    double cutoff = 4.5;          ///< r_c (A): neighbours beyond it are not tokens
    double cutoff_width = 0.5;    ///< width of the switching region of the cutoff function (A)
    CutoffFunction cutoff_function = CutoffFunction::bump;  ///< "bump" (metatrain's) | "cosine"
    int d_pet = 128;              ///< edge-token width
    int d_node = 256;             ///< node (centre) feature width
    int d_head = 128;             ///< width of the readout heads (last-layer features: 2 d_head)
    int d_feedforward = 256;      ///< hidden width of the edge feed-forward block
    int num_heads = 8;            ///< attention heads (d_pet divisible by it; head width d_pet / num_heads)
    int num_attention_layers = 2; ///< transformer layers per GNN layer
    int num_gnn_layers = 2;       ///< message-passing rounds
    PetNorm normalization = PetNorm::rms_norm;
    PetActivation activation = PetActivation::swiglu;
    PetTransformerType transformer_type = PetTransformerType::pre_ln;
    bool zbl = false;             ///< add the ZBL repulsion (nn/atomistic/zbl.hpp) outside the network (metatrain `zbl`)

    /// TOML text with every key above; from_toml(to_toml()) reproduces *this.
    std::string to_toml() const;
    /// Strict: unknown keys and wrong types are errors naming the key, its line and `where`;
    /// absent keys keep their defaults; values are range-checked.
    static PetHypers from_toml(const std::string& text, const std::string& where);
};

std::string to_string(PetNorm v);            ///< "RMSNorm" | "LayerNorm"
std::string to_string(PetActivation v);      ///< "SwiGLU" | "SiLU"
std::string to_string(PetTransformerType v); ///< "PreLN" | "PostLN"

}  // namespace nn::pet
