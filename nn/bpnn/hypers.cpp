// SOAP-BPNN hyperparameters: TOML round trip with a strict parser (fields in hypers.hpp).
#include "nn/bpnn/hypers.hpp"

#include <sstream>

#include "nn/hypers_toml.hpp"

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
    hypers_toml::require_known_keys_in(*t, name, allowed, where);
    return t;
}

}  // namespace

BpnnHypers BpnnHypers::from_toml(const std::string& text, const std::string& where) {
    namespace ht = nn::hypers_toml;
    const toml::table root = ht::parse(text, where);
    ht::require_known_keys(root, {"zbl", "soap", "bpnn", "heads"}, where);
    BpnnHypers h;
    ht::read(&root, "model.", "zbl", h.zbl, where);  // absent in checkpoints written before ZBL: false
    const toml::table* soap = section(root, "soap", {"cutoff", "cutoff_width", "max_angular", "max_radial"}, where);
    ht::read(soap, "soap.", "cutoff", h.cutoff, where);
    ht::read(soap, "soap.", "cutoff_width", h.cutoff_width, where);
    ht::read_int(soap, "soap.", "max_angular", h.max_angular, where);
    ht::read_int(soap, "soap.", "max_radial", h.max_radial, where);
    const toml::table* bpnn = section(root, "bpnn", {"num_hidden_layers", "num_neurons_per_layer", "layernorm"}, where);
    ht::read_int(bpnn, "bpnn.", "num_hidden_layers", h.num_hidden_layers, where);
    ht::read_int(bpnn, "bpnn.", "num_neurons_per_layer", h.num_neurons_per_layer, where);
    ht::read(bpnn, "bpnn.", "layernorm", h.layernorm, where);
    const toml::table* heads = section(root, "heads", {"energy"}, where);
    std::string head = to_string(h.energy_head);
    ht::read(heads, "heads.", "energy", head, where);
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
