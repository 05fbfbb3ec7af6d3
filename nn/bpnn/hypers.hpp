// Hyperparameters of the SOAP-BPNN model, with metatrain's soap_bpnn defaults (metatrain
// src/metatrain/soap_bpnn/default-hypers.yaml: soap.cutoff.radius 5.0, cutoff.width 0.5,
// max_angular 6, max_radial 7; bpnn num_hidden_layers 2, num_neurons_per_layer 32, layernorm
// true; heads linear). One struct holds the defaults and their documentation; to_toml/from_toml
// round-trip it (checkpoint metadata) and from_toml rejects unknown keys, naming the key path.
#pragma once
#include <string>

#include "descriptors/soap.hpp"

namespace nn::bpnn {

/// Kind of head between the last-layer features and the last layer (metatrain `heads`).
enum class Head {
    linear,  ///< none: the per-species last layer reads the BPNN features directly
    mlp,     ///< per species one more Linear(d, d, no bias) + SiLU (metatrain's MLPHeadMap)
};
Head parse_head(const std::string& name);  ///< "linear" | "mlp"; throws for others
std::string to_string(Head head);

struct BpnnHypers {
    // ---- soap: the descriptor (specs/soap.md; metatrain's "legacy" SOAP) ----
    double cutoff = 5.0;         ///< r_c (A), metatrain soap.cutoff.radius
    double cutoff_width = 0.5;   ///< width of the shifted-cosine switching region (A), metatrain soap.cutoff.width
    int max_angular = 6;         ///< l = 0..max_angular
    int max_radial = 7;          ///< l = 0 gets max_radial + 1 radial functions (eigenvalue trimming above)
    // ---- bpnn: the per-species network ----
    int num_hidden_layers = 2;       ///< Linear(no bias) + SiLU blocks per species; 0 = last layer on the SOAP vector
    int num_neurons_per_layer = 32;  ///< width d of every hidden layer (and of the last-layer features)
    bool layernorm = true;           ///< per-species LayerNorm (affine, eps 1e-5) over the SOAP vector first
    // ---- heads ----
    Head energy_head = Head::linear;  ///< head of the "energy" target
    // ---- additive baseline ----
    bool zbl = false;  ///< add the ZBL repulsion (nn/atomistic/zbl.hpp) to energies, forces and stress

    /// The descriptor's hypers for `species` (sorted distinct atomic numbers).
    desc::SoapHypers soap_hypers(const std::vector<int>& species) const;
    /// TOML text: `zbl`, then tables [soap], [bpnn], [heads]; from_toml(to_toml()) reproduces *this.
    std::string to_toml() const;
    /// Strict: unknown keys and wrong types are errors naming the key path and `where`;
    /// absent keys keep their defaults.
    static BpnnHypers from_toml(const std::string& text, const std::string& where);
};

}  // namespace nn::bpnn
