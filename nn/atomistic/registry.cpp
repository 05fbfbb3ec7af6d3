// Registry of atomistic architectures (see registry.hpp).
#include "nn/atomistic/registry.hpp"

#include <mutex>

#include "autodiff/error.hpp"

namespace nn::atomistic {

namespace {
std::map<std::string, Architecture>& entries() {
    static std::map<std::string, Architecture> t;
    return t;
}
/// The entries, with the built-ins registered on first use (register_architecture uses entries()
/// directly, so registering from register_builtin_architectures does not recurse).
std::map<std::string, Architecture>& table() {
    static std::once_flag once;
    std::call_once(once, register_builtin_architectures);
    return entries();
}
}  // namespace

void register_architecture(Architecture architecture) {
    AD_CHECK(!architecture.name.empty() && architecture.make,
             "register_architecture: expected a name and a factory, got '" << architecture.name << "'");
    entries()[architecture.name] = std::move(architecture);
}

void unregister_architecture(const std::string& name) { table().erase(name); }

std::vector<std::string> architecture_names() {
    std::vector<std::string> names;
    for (const auto& [name, a] : table()) names.push_back(name);
    return names;
}

const Architecture& find_architecture(const std::string& name, const std::string& where) {
    auto it = table().find(name);
    if (it == table().end()) {
        std::string known;
        for (const auto& n : architecture_names()) known += (known.empty() ? "'" : ", '") + n + "'";
        AD_FAIL(where << ": expected an architecture of " << known << ", got '" << name << "'");
    }
    return it->second;
}

std::shared_ptr<AtomisticModel> make_model(const std::string& architecture, const std::string& hypers_toml,
                                           const std::vector<int>& species, ad::Rng& rng, const std::string& where) {
    std::shared_ptr<AtomisticModel> model = find_architecture(architecture, where).make(hypers_toml, species, rng, where);
    AD_CHECK(model && model->architecture() == architecture,
             "make_model: expected the factory of '" << architecture << "' to build that architecture");
    return model;
}

std::shared_ptr<AtomisticModel> load_model(const Checkpoint& ckpt, std::map<int, double>* composition_weights,
                                           double* energy_scale) {
    const std::string where = ckpt.path.empty() ? "checkpoint" : ckpt.path;
    const std::string name = ckpt.meta("architecture");
    const Architecture& a = find_architecture(name, where);
    const ModelMetadata meta = read_model_metadata(ckpt, name, a.format_version);
    ad::Rng rng(0);  // any values: overwritten by load_state_dict
    std::shared_ptr<AtomisticModel> model = a.make(meta.hypers, meta.species, rng, where);
    model->load_state_dict(ckpt.tensors);
    if (composition_weights) *composition_weights = meta.composition_weights;
    if (energy_scale) *energy_scale = meta.energy_scale;
    return model;
}

}  // namespace nn::atomistic
