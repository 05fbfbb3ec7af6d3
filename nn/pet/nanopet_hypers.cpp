// NanoPET hyperparameters: TOML round trip with a strict parser (fields in nanopet_hypers.hpp).
#include "nn/pet/nanopet_hypers.hpp"

#include <optional>
#include <set>
#include <sstream>
#include <type_traits>
#include <toml++/toml.h>

#include "autodiff/error.hpp"

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

namespace {
template <class T>
void read(const toml::table* t, const std::string& path, const char* key, T& out, const std::string& where) {
    if (t == nullptr) return;
    const toml::node* n = t->get(key);
    if (n == nullptr) return;
    std::optional<T> v = n->value_exact<T>();
    if constexpr (std::is_same_v<T, double>) {
        if (!v && n->is_integer()) v = static_cast<double>(n->as_integer()->get());
    }
    AD_CHECK(v.has_value(), where << ": " << path << key << " (line " << n->source().begin.line << "): wrong type");
    out = *v;
}

void read_int(const toml::table* t, const char* key, int& out, const std::string& where) {
    int64_t v = out;
    read(t, "", key, v, where);
    out = static_cast<int>(v);
}
}  // namespace

NanoPetHypers NanoPetHypers::from_toml(const std::string& text, const std::string& where) {
    toml::table root;
    try {
        root = toml::parse(text);
    } catch (const toml::parse_error& e) {
        AD_FAIL(where << ": hypers are not valid TOML (line " << e.source().begin.line << "): " << e.description());
    }
    const std::set<std::string> keys = {"cutoff",    "cutoff_width",         "cutoff_function", "d_pet",
                                        "num_heads", "num_attention_layers", "num_gnn_layers",  "heads", "zbl"};
    for (const auto& [key, value] : root) {
        std::string k(key.str());
        AD_CHECK(keys.count(k), where << ": " << k << " (line " << value.source().begin.line
                                      << "): unknown key; expected cutoff, cutoff_width, cutoff_function, d_pet, "
                                         "num_heads, num_attention_layers, num_gnn_layers, zbl, heads");
    }
    NanoPetHypers h;
    read(&root, "", "cutoff", h.cutoff, where);
    read(&root, "", "cutoff_width", h.cutoff_width, where);
    std::string fn = nn::to_string(h.cutoff_function);
    read(&root, "", "cutoff_function", fn, where);
    AD_CHECK(fn == "cosine" || fn == "bump", where << ": cutoff_function: expected 'cosine' or 'bump', got '" << fn << "'");
    h.cutoff_function = parse_cutoff_function(fn);
    read_int(&root, "d_pet", h.d_pet, where);
    read_int(&root, "num_heads", h.num_heads, where);
    read_int(&root, "num_attention_layers", h.num_attention_layers, where);
    read_int(&root, "num_gnn_layers", h.num_gnn_layers, where);
    read(&root, "", "zbl", h.zbl, where);  // absent in checkpoints written before ZBL: false
    if (const toml::node* n = root.get("heads")) {
        const toml::table* heads = n->as_table();
        AD_CHECK(heads != nullptr, where << ": heads (line " << n->source().begin.line << "): expected a table");
        for (const auto& [key, value] : *heads) {
            std::string k(key.str());
            AD_CHECK(k == "energy", where << ": heads." << k << " (line " << value.source().begin.line << "): unknown key");
        }
        std::string head = to_string(h.energy_head);
        read(heads, "heads.", "energy", head, where);
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
