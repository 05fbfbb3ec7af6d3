// Hyperparameters of NanoPET, with metatrain's defaults (metatrain
// src/metatrain/experimental/nanopet/default-hypers.yaml: cutoff 5.0, cutoff_width 0.5, d_pet 128,
// num_heads 4, num_attention_layers 2, num_gnn_layers 2; heads default to "mlp"). One struct holds
// the defaults and their documentation; to_toml/from_toml round-trip it (checkpoint metadata) and
// from_toml rejects unknown keys, naming the key path. nn/pet/default.toml lists the defaults.
#pragma once
#include <string>

#include "nn/cutoff_functions.hpp"

namespace nn::pet {

/// Kind of head between the pooled node features and the last layer (metatrain `heads`).
enum class Head {
    linear,  ///< none: the last layer reads the node features directly
    mlp,     ///< Linear(d, 4d) + SiLU + Linear(4d, d) + SiLU, no biases (metatrain's default)
};
Head parse_head(const std::string& name);  ///< "linear" | "mlp"; throws for others
std::string to_string(Head head);

struct NanoPetHypers {
    double cutoff = 5.0;          ///< r_c (A): neighbours beyond it are not tokens
    double cutoff_width = 0.5;    ///< width of the switching region of the radial mask (A)
    CutoffFunction cutoff_function = CutoffFunction::cosine;  ///< cosine (metatrain's) | bump
    int d_pet = 128;              ///< token width d
    int num_heads = 4;            ///< attention heads (d_pet divisible by it)
    int num_attention_layers = 2; ///< transformer layers per GNN layer
    int num_gnn_layers = 2;       ///< message-passing rounds (1 = one transformer, no exchange)
    Head energy_head = Head::mlp; ///< head of the "energy" target
    bool zbl = false;             ///< add the ZBL repulsion (nn/atomistic/zbl.hpp) outside the network (metatrain `zbl`)

    /// TOML text: the keys above at the top level, then table [heads]; from_toml(to_toml())
    /// reproduces *this.
    std::string to_toml() const;
    /// Strict: unknown keys and wrong types are errors naming the key path and `where`; absent
    /// keys keep their defaults; values are range-checked.
    static NanoPetHypers from_toml(const std::string& text, const std::string& where);
};

}  // namespace nn::pet
