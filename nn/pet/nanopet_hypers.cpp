// NanoPET hyperparameters: TOML round trip with a strict parser (fields in nanopet_hypers.hpp).
#include "nn/pet/nanopet_hypers.hpp"

#include <sstream>

#include "autodiff/error.hpp"
#include "nn/hypers_toml.hpp"

namespace nn::pet {

Head parse_head(const std::string& name) {
    if (name == "linear") return Head::linear;
    if (name == "mlp") return Head::mlp;
    AD_FAIL("heads.energy: expected 'linear' or 'mlp', got '" << name << "'");
}

std::string to_string(Head head) { return head == Head::mlp ? "mlp" : "linear"; }

std::string NanoPetHypers::to_toml() const {
    std::ostringstream os;
    os.precision(17);
    os << "cutoff = " << toml::value<double>(cutoff) << "\n";
    os << "cutoff_width = " << toml::value<double>(cutoff_width) << "\n";
    os << "cutoff_function = \"" << nn::to_string(cutoff_function) << "\"\n";
    os << "d_pet = " << d_pet << "\n";
    os << "num_heads = " << num_heads << "\n";
    os << "num_attention_layers = " << num_attention_layers << "\n";
    os << "num_gnn_layers = " << num_gnn_layers << "\n";
    os << "zbl = " << (zbl ? "true" : "false") << "\n";
    os << "\n[heads]\n";
    os << "energy = \"" << to_string(energy_head) << "\"\n";
    return os.str();
}

NanoPetHypers NanoPetHypers::from_toml(const std::string& text, const std::string& where) {
    namespace ht = nn::hypers_toml;
    const toml::table root = ht::parse(text, where);
    ht::require_known_keys(root, {"cutoff", "cutoff_width", "cutoff_function", "d_pet", "num_heads", "num_attention_layers",
                                  "num_gnn_layers", "zbl", "heads"},
                           where);
    NanoPetHypers h;
    ht::read(&root, "", "cutoff", h.cutoff, where);
    ht::read(&root, "", "cutoff_width", h.cutoff_width, where);
    ht::read_choice(root, "cutoff_function", h.cutoff_function, "cosine", CutoffFunction::cosine, "bump",
                    CutoffFunction::bump, where);
    ht::read_int(&root, "", "d_pet", h.d_pet, where);
    ht::read_int(&root, "", "num_heads", h.num_heads, where);
    ht::read_int(&root, "", "num_attention_layers", h.num_attention_layers, where);
    ht::read_int(&root, "", "num_gnn_layers", h.num_gnn_layers, where);
    ht::read(&root, "", "zbl", h.zbl, where);  // absent in checkpoints written before ZBL: false
    if (const toml::node* n = root.get("heads")) {
        const toml::table* heads = n->as_table();
        AD_CHECK(heads != nullptr, where << ": heads (line " << n->source().begin.line << "): expected a table");
        ht::require_known_keys_in(*heads, "heads", {"energy"}, where);
        std::string head = to_string(h.energy_head);
        ht::read(heads, "heads.", "energy", head, where);
        h.energy_head = parse_head(head);
    }
    AD_CHECK(h.cutoff > 0 && h.cutoff_width > 0 && h.cutoff_width <= h.cutoff,
             where << ": expected 0 < cutoff_width <= cutoff, got cutoff " << h.cutoff << ", cutoff_width " << h.cutoff_width);
    AD_CHECK(h.d_pet > 0 && h.num_heads > 0 && h.d_pet % h.num_heads == 0,
             where << ": expected d_pet > 0 divisible by num_heads > 0, got d_pet " << h.d_pet << ", num_heads " << h.num_heads);
    AD_CHECK(h.num_attention_layers >= 1 && h.num_gnn_layers >= 1,
             where << ": expected num_attention_layers >= 1 and num_gnn_layers >= 1, got " << h.num_attention_layers
                   << " and " << h.num_gnn_layers);
    return h;
}

}  // namespace nn::pet
