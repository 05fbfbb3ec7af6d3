// The atomistic model interface: default forces and stress, checkpoint metadata, named outputs
// (see model.hpp).
#include "nn/atomistic/model.hpp"

#include <sstream>

#include "autodiff/ops.hpp"

namespace nn::atomistic {

using ad::Tensor;

DerivativeInputs derivative_inputs(const Batch& batch) {
    DerivativeInputs d{batch, {}, {}};
    Batch& b = d.batch;
    if (!b.positions.requires_grad()) b.positions = b.positions.detach().set_requires_grad(true);
    d.inputs.push_back(b.positions);
    for (long s = 0; s < b.n_structures(); ++s) {
        Tensor& eps = b.strains[static_cast<size_t>(s)];
        if (b.volumes[static_cast<size_t>(s)] <= 0) continue;
        if (!eps.defined()) eps = Tensor::zeros({3, 3}).set_requires_grad(true);
        else if (!eps.requires_grad()) eps = eps.detach().set_requires_grad(true);
        d.inputs.push_back(eps);
        d.strained.push_back(s);
    }
    return d;
}

EnergyForcesStress AtomisticModel::energy_forces_stress(const Batch& batch, ad::CreateGraph create_graph) const {
    ad::GradMode on(true);
    const DerivativeInputs d = derivative_inputs(batch);
    const Batch& b = d.batch;
    const std::vector<long>& strained = d.strained;
    const Tensor energy = energies(b);
    std::vector<Tensor> g = ad::grad({ad::sum(energy)}, d.inputs, {}, create_graph);
    EnergyForcesStress r;
    r.energies = create_graph == ad::CreateGraph::yes ? energy : energy.detach();
    r.forces = -g[0];
    std::vector<Tensor> stress(static_cast<size_t>(b.n_structures()));
    for (size_t k = 0; k < strained.size(); ++k)
        stress[static_cast<size_t>(strained[k])] = g[k + 1] / b.volumes[static_cast<size_t>(strained[k])];
    for (auto& t : stress)
        if (!t.defined()) t = Tensor::zeros({3, 3});
    r.stress = ad::stack(stress, 0);  // [n_structures, 3, 3]
    return r;
}

namespace {
std::string join_species(const std::vector<int>& species) {
    std::ostringstream os;
    for (size_t k = 0; k < species.size(); ++k) os << (k ? "," : "") << species[k];
    return os.str();
}

std::vector<std::string> split(const std::string& text, char sep) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : text) {
        if (c == sep) {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
}
}  // namespace

Checkpoint AtomisticModel::to_checkpoint(const std::map<int, double>& composition_weights, double energy_scale) const {
    Checkpoint c;
    c.tensors = state_dict();
    c.metadata["architecture"] = architecture();
    c.metadata["format_version"] = std::to_string(format_version());
    c.metadata["hypers"] = hypers_toml();
    c.metadata["species"] = join_species(species());
    c.metadata["energy_scale"] = desc::format_double(energy_scale);
    if (!composition_weights.empty()) {
        std::ostringstream os;  // "1:-13.6,8:-2000.5", values in shortest round-trip form
        bool first = true;
        for (const auto& [Z, w] : composition_weights) {
            os << (first ? "" : ",") << Z << ":" << desc::format_double(w);
            first = false;
        }
        c.metadata["composition_weights"] = os.str();
    }
    return c;
}


ModelMetadata read_model_metadata(const Checkpoint& ckpt, const std::string& architecture, int format_version) {
    const std::string where = ckpt.path.empty() ? "checkpoint" : ckpt.path;
    AD_CHECK(ckpt.meta("architecture") == architecture,
             where << ": expected architecture '" << architecture << "', got '" << ckpt.meta("architecture") << "'");
    AD_CHECK(ckpt.meta("format_version") == std::to_string(format_version),
             where << ": expected " << architecture << " format_version " << format_version << ", got "
                   << ckpt.meta("format_version"));
    ModelMetadata m;
    m.hypers = ckpt.meta("hypers");
    try {
        for (const auto& s : split(ckpt.meta("species"), ',')) m.species.push_back(std::stoi(s));
    } catch (const std::logic_error&) {
        AD_FAIL(where << ": metadata 'species': expected comma-separated atomic numbers, got '" << ckpt.meta("species") << "'");
    }
    auto it = ckpt.metadata.find("energy_scale");
    if (it != ckpt.metadata.end()) {
        try {
            m.energy_scale = std::stod(it->second);
        } catch (const std::logic_error&) {
            AD_FAIL(where << ": metadata 'energy_scale': expected a number, got '" << it->second << "'");
        }
    }
    it = ckpt.metadata.find("composition_weights");
    if (it != ckpt.metadata.end()) {
        try {
            for (const auto& item : split(it->second, ',')) {
                size_t colon = item.find(':');
                AD_CHECK(colon != std::string::npos, where << ": metadata 'composition_weights': expected Z:w, got '" << item << "'");
                m.composition_weights[std::stoi(item.substr(0, colon))] = std::stod(item.substr(colon + 1));
            }
        } catch (const std::logic_error&) {
            AD_FAIL(where << ": metadata 'composition_weights': expected Z:w pairs, got '" << it->second << "'");
        }
    }
    return m;
}


std::vector<std::pair<std::string, Tensor>> named_outputs(const Output& o) {
    const std::vector<std::pair<std::string, const Tensor*>> all = {
        {"energy", &o.energies},
        {"energy/per_atom", &o.atom_energies},
        {"features", &o.features},
        {"features/per_atom", &o.atom_features},
        {"mtt::aux::energy_last_layer_features", &o.last_layer_features},
        {"mtt::aux::energy_last_layer_features/per_atom", &o.atom_last_layer_features},
    };
    std::vector<std::pair<std::string, Tensor>> out;
    for (const auto& [name, t] : all)
        if (t->defined()) out.emplace_back(name, *t);
    return out;
}

}  // namespace nn::atomistic
