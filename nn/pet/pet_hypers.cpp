// PET hyperparameters: TOML round trip with a strict parser (fields in pet_hypers.hpp).
#include "nn/pet/pet_hypers.hpp"

#include <optional>
#include <set>
#include <sstream>
#include <type_traits>
#include <toml++/toml.h>

#include "autodiff/error.hpp"

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

namespace {
template <class T>
void read(const toml::table& t, const char* key, T& out, const std::string& where) {
    const toml::node* n = t.get(key);
    if (n == nullptr) return;
    std::optional<T> v = n->value_exact<T>();
    if constexpr (std::is_same_v<T, double>) {
        if (!v && n->is_integer()) v = static_cast<double>(n->as_integer()->get());
    }
    AD_CHECK(v.has_value(), where << ": " << key << " (line " << n->source().begin.line << "): wrong type");
    out = *v;
}

void read_int(const toml::table& t, const char* key, int& out, const std::string& where) {
    int64_t v = out;
    read(t, key, v, where);
    out = static_cast<int>(v);
}

// A string key with two accepted values a (-> va) and b (-> vb).
template <class E>
void read_choice(const toml::table& t, const char* key, E& out, const char* a, E va, const char* b, E vb,
                 const std::string& where) {
    std::string s = out == va ? a : b;
    read(t, key, s, where);
    AD_CHECK(s == a || s == b, where << ": " << key << ": expected '" << a << "' or '" << b << "', got '" << s << "'");
    out = s == a ? va : vb;
}
}  // namespace

PetHypers PetHypers::from_toml(const std::string& text, const std::string& where) {
    toml::table root;
    try {
        root = toml::parse(text);
    } catch (const toml::parse_error& e) {
        AD_FAIL(where << ": hypers are not valid TOML (line " << e.source().begin.line << "): " << e.description());
    }
    const std::set<std::string> keys = {"cutoff",        "cutoff_width",   "cutoff_function",      "d_pet",
                                        "d_node",        "d_head",         "d_feedforward",        "num_heads",
                                        "num_attention_layers", "num_gnn_layers", "normalization", "activation",
                                        "transformer_type", "zbl"};
    for (const auto& [key, value] : root) {
        std::string k(key.str());
        AD_CHECK(keys.count(k), where << ": " << k << " (line " << value.source().begin.line
                                      << "): unknown key; expected cutoff, cutoff_width, cutoff_function, d_pet, d_node, "
                                         "d_head, d_feedforward, num_heads, num_attention_layers, num_gnn_layers, "
                                         "normalization, activation, transformer_type, zbl");
    }
    PetHypers h;
    read(root, "cutoff", h.cutoff, where);
    read(root, "cutoff_width", h.cutoff_width, where);
    read_choice(root, "cutoff_function", h.cutoff_function, "bump", CutoffFunction::bump, "cosine",
                CutoffFunction::cosine, where);
    read_int(root, "d_pet", h.d_pet, where);
    read_int(root, "d_node", h.d_node, where);
    read_int(root, "d_head", h.d_head, where);
    read_int(root, "d_feedforward", h.d_feedforward, where);
    read_int(root, "num_heads", h.num_heads, where);
    read_int(root, "num_attention_layers", h.num_attention_layers, where);
    read_int(root, "num_gnn_layers", h.num_gnn_layers, where);
    read_choice(root, "normalization", h.normalization, "RMSNorm", PetNorm::rms_norm, "LayerNorm", PetNorm::layer_norm, where);
    read_choice(root, "activation", h.activation, "SwiGLU", PetActivation::swiglu, "SiLU", PetActivation::silu, where);
    read_choice(root, "transformer_type", h.transformer_type, "PreLN", PetTransformerType::pre_ln, "PostLN",
                PetTransformerType::post_ln, where);
    read(root, "zbl", h.zbl, where);  // absent in checkpoints written before ZBL: false
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
