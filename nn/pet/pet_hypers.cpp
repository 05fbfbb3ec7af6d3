// PET hyperparameters: TOML round trip with a strict parser (fields in pet_hypers.hpp).
#include "nn/pet/pet_hypers.hpp"

#include <sstream>

#include "autodiff/error.hpp"
#include "nn/hypers_toml.hpp"

namespace nn::pet {

std::string to_string(PetNorm v) { return v == PetNorm::rms_norm ? "RMSNorm" : "LayerNorm"; }
std::string to_string(PetActivation v) { return v == PetActivation::swiglu ? "SwiGLU" : "SiLU"; }
std::string to_string(PetTransformerType v) { return v == PetTransformerType::pre_ln ? "PreLN" : "PostLN"; }

std::string PetHypers::to_toml() const {
    std::ostringstream os;
    os.precision(17);
    os << "cutoff = " << toml::value<double>(cutoff) << "\n";
    os << "cutoff_width = " << toml::value<double>(cutoff_width) << "\n";
    os << "cutoff_function = \"" << nn::to_string(cutoff_function) << "\"\n";
    os << "d_pet = " << d_pet << "\n";
    os << "d_node = " << d_node << "\n";
    os << "d_head = " << d_head << "\n";
    os << "d_feedforward = " << d_feedforward << "\n";
    os << "num_heads = " << num_heads << "\n";
    os << "num_attention_layers = " << num_attention_layers << "\n";
    os << "num_gnn_layers = " << num_gnn_layers << "\n";
    os << "normalization = \"" << to_string(normalization) << "\"\n";
    os << "activation = \"" << to_string(activation) << "\"\n";
    os << "transformer_type = \"" << to_string(transformer_type) << "\"\n";
    os << "zbl = " << (zbl ? "true" : "false") << "\n";
    return os.str();
}

PetHypers PetHypers::from_toml(const std::string& text, const std::string& where) {
    namespace ht = nn::hypers_toml;
    const toml::table root = ht::parse(text, where);
    ht::require_known_keys(root, {"cutoff", "cutoff_width", "cutoff_function", "d_pet", "d_node", "d_head", "d_feedforward",
                                  "num_heads", "num_attention_layers", "num_gnn_layers", "normalization", "activation",
                                  "transformer_type", "zbl"},
                           where);
    PetHypers h;
    ht::read(&root, "", "cutoff", h.cutoff, where);
    ht::read(&root, "", "cutoff_width", h.cutoff_width, where);
    ht::read_choice(root, "cutoff_function", h.cutoff_function, "bump", CutoffFunction::bump, "cosine",
                    CutoffFunction::cosine, where);
    ht::read_int(&root, "", "d_pet", h.d_pet, where);
    ht::read_int(&root, "", "d_node", h.d_node, where);
    ht::read_int(&root, "", "d_head", h.d_head, where);
    ht::read_int(&root, "", "d_feedforward", h.d_feedforward, where);
    ht::read_int(&root, "", "num_heads", h.num_heads, where);
    ht::read_int(&root, "", "num_attention_layers", h.num_attention_layers, where);
    ht::read_int(&root, "", "num_gnn_layers", h.num_gnn_layers, where);
    ht::read_choice(root, "normalization", h.normalization, "RMSNorm", PetNorm::rms_norm, "LayerNorm", PetNorm::layer_norm, where);
    ht::read_choice(root, "activation", h.activation, "SwiGLU", PetActivation::swiglu, "SiLU", PetActivation::silu, where);
    ht::read_choice(root, "transformer_type", h.transformer_type, "PreLN", PetTransformerType::pre_ln, "PostLN",
                    PetTransformerType::post_ln, where);
    ht::read(&root, "", "zbl", h.zbl, where);  // absent in checkpoints written before ZBL: false
    AD_CHECK(h.cutoff > 0 && h.cutoff_width > 0 && h.cutoff_width <= h.cutoff,
             where << ": expected 0 < cutoff_width <= cutoff, got cutoff " << h.cutoff << ", cutoff_width " << h.cutoff_width);
    AD_CHECK(h.d_pet > 0 && h.num_heads > 0 && h.d_pet % h.num_heads == 0,
             where << ": expected d_pet > 0 divisible by num_heads > 0, got d_pet " << h.d_pet << ", num_heads " << h.num_heads);
    AD_CHECK(h.d_node > 0 && h.d_head > 0 && h.d_feedforward > 0,
             where << ": expected d_node, d_head, d_feedforward > 0, got " << h.d_node << ", " << h.d_head << ", "
                   << h.d_feedforward);
    AD_CHECK(h.num_attention_layers >= 1 && h.num_gnn_layers >= 1,
             where << ": expected num_attention_layers >= 1 and num_gnn_layers >= 1, got " << h.num_attention_layers
                   << " and " << h.num_gnn_layers);
    return h;
}

}  // namespace nn::pet
