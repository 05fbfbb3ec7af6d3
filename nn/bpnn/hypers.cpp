// SOAP-BPNN hyperparameters: TOML round trip with a strict parser (fields in hypers.hpp).
#include "nn/bpnn/hypers.hpp"

#include <optional>
#include <set>
#include <sstream>
#include <type_traits>
#include <toml++/toml.h>

namespace nn::bpnn {

Head parse_head(const std::string& name) {
    if (name == "linear") return Head::linear;
    if (name == "mlp") return Head::mlp;
    AD_FAIL("heads.energy: expected 'linear' or 'mlp', got '" << name << "'");
}

std::string to_string(Head head) {
    switch (head) {
        case Head::linear: return "linear";
        case Head::mlp: return "mlp";
    }
    return "linear";
}

desc::SoapHypers BpnnHypers::soap_hypers(const std::vector<int>& species) const {
    desc::SoapHypers h;
    h.cutoff = cutoff;
    h.width = cutoff_width;
    h.max_angular = max_angular;
    h.max_radial = max_radial;
    h.species = species;
    return h;
}

std::string BpnnHypers::to_toml() const {
    std::ostringstream os;
    os.precision(17);
    os << "zbl = " << (zbl ? "true" : "false") << "\n\n";
    os << "[soap]\n";
    os << "cutoff = " << toml::value<double>(cutoff) << "\n";
    os << "cutoff_width = " << toml::value<double>(cutoff_width) << "\n";
    os << "max_angular = " << max_angular << "\n";
    os << "max_radial = " << max_radial << "\n";
    os << "\n[bpnn]\n";
    os << "num_hidden_layers = " << num_hidden_layers << "\n";
    os << "num_neurons_per_layer = " << num_neurons_per_layer << "\n";
    os << "layernorm = " << (layernorm ? "true" : "false") << "\n";
    os << "\n[heads]\n";
    os << "energy = \"" << to_string(energy_head) << "\"\n";
    return os.str();
}

namespace {
// Reads table `name` of `root` (absent: empty), rejecting keys outside `allowed`.
const toml::table* section(const toml::table& root, const char* name, const std::set<std::string>& allowed,
                           const std::string& where) {
    const toml::node* n = root.get(name);
    if (n == nullptr) return nullptr;
    const toml::table* t = n->as_table();
    AD_CHECK(t != nullptr, where << ": " << name << ": expected a table");
    for (const auto& [key, value] : *t) {
        std::string k(key.str());
        AD_CHECK(allowed.count(k), where << ": " << name << "." << k << " (line " << value.source().begin.line
                                         << "): unknown key");
    }
    return t;
}

template <class T>
void read(const toml::table* t, const char* table, const char* key, T& out, const std::string& where) {
    if (t == nullptr) return;
    const toml::node* n = t->get(key);
    if (n == nullptr) return;
    std::optional<T> v = n->value_exact<T>();
    if constexpr (std::is_same_v<T, double>) {
        if (!v && n->is_integer()) v = static_cast<double>(n->as_integer()->get());
    }
    AD_CHECK(v.has_value(), where << ": " << table << "." << key << " (line " << n->source().begin.line
                                  << "): wrong type");
    out = *v;
}
}  // namespace

BpnnHypers BpnnHypers::from_toml(const std::string& text, const std::string& where) {
    toml::table root;
    try {
        root = toml::parse(text);
    } catch (const toml::parse_error& e) {
        AD_FAIL(where << ": hypers are not valid TOML (line " << e.source().begin.line << "): " << e.description());
    }
    for (const auto& [key, value] : root) {
        std::string k(key.str());
        AD_CHECK(k == "soap" || k == "bpnn" || k == "heads" || k == "zbl",
                 where << ": " << k << " (line " << value.source().begin.line
                       << "): unknown key; expected zbl, soap, bpnn, heads");
    }
    BpnnHypers h;
    read(&root, "model", "zbl", h.zbl, where);  // absent in checkpoints written before ZBL: false
    const toml::table* soap = section(root, "soap", {"cutoff", "cutoff_width", "max_angular", "max_radial"}, where);
    read(soap, "soap", "cutoff", h.cutoff, where);
    read(soap, "soap", "cutoff_width", h.cutoff_width, where);
    int64_t l = h.max_angular, n = h.max_radial;
    read(soap, "soap", "max_angular", l, where);
    read(soap, "soap", "max_radial", n, where);
    h.max_angular = static_cast<int>(l);
    h.max_radial = static_cast<int>(n);
    const toml::table* bpnn = section(root, "bpnn", {"num_hidden_layers", "num_neurons_per_layer", "layernorm"}, where);
    int64_t layers = h.num_hidden_layers, width = h.num_neurons_per_layer;
    read(bpnn, "bpnn", "num_hidden_layers", layers, where);
    read(bpnn, "bpnn", "num_neurons_per_layer", width, where);
    read(bpnn, "bpnn", "layernorm", h.layernorm, where);
    h.num_hidden_layers = static_cast<int>(layers);
    h.num_neurons_per_layer = static_cast<int>(width);
    const toml::table* heads = section(root, "heads", {"energy"}, where);
    std::string head = to_string(h.energy_head);
    read(heads, "heads", "energy", head, where);
    h.energy_head = parse_head(head);
    AD_CHECK(h.cutoff > 0 && h.cutoff_width > 0 && h.cutoff_width <= h.cutoff,
             where << ": soap: expected 0 < cutoff_width <= cutoff, got cutoff " << h.cutoff << ", cutoff_width "
                   << h.cutoff_width);
    AD_CHECK(h.max_angular >= 0 && h.max_radial >= 0,
             where << ": soap: expected max_angular >= 0 and max_radial >= 0, got " << h.max_angular << " and "
                   << h.max_radial);
    AD_CHECK(h.num_hidden_layers >= 0 && h.num_neurons_per_layer > 0,
             where << ": bpnn: expected num_hidden_layers >= 0 and num_neurons_per_layer > 0, got "
                   << h.num_hidden_layers << " and " << h.num_neurons_per_layer);
    return h;
}

}  // namespace nn::bpnn
