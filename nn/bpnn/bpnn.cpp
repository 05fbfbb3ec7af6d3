// SOAP-BPNN model, batches and composition baseline (math in bpnn.hpp).
#include "nn/bpnn/bpnn.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "autodiff/ops.hpp"
#include "descriptors/neighbor_list.hpp"

namespace nn::bpnn {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope
using ad::Tensor;

// ---------------------------------------------------------------------------- batches

Batch Batch::with_positions(const Tensor& R) const {
    AD_CHECK(R.ndim() == 2 && R.dim(0) == n_atoms() && R.dim(1) == 3,
             "Batch::with_positions: expected R[" << n_atoms() << ", 3], got " << R.shape());
    Batch b = *this;
    b.positions = R;
    return b;
}

Batch make_batch(const std::vector<desc::System>& frames, double cutoff) {
    AD_CHECK(!frames.empty(), "make_batch: expected at least one frame, got none");
    Batch b;
    b.cutoff = cutoff;
    b.offsets.push_back(0);
    std::vector<Tensor> positions;
    for (size_t s = 0; s < frames.size(); ++s) {
        const desc::System& sys = frames[s];
        AD_CHECK(sys.n_atoms() > 0, "make_batch: expected atoms in " << sys.where() << ", got none");
        desc::NeighborList list = desc::neighbor_list(sys, cutoff, desc::Pairs::full);
        b.pairs.push_back(desc::soap_pairs(list, sys));
        b.numbers.insert(b.numbers.end(), sys.numbers.begin(), sys.numbers.end());
        b.structure.insert(b.structure.end(), static_cast<size_t>(sys.n_atoms()), static_cast<long>(s));
        b.offsets.push_back(b.offsets.back() + sys.n_atoms());
        positions.push_back(sys.positions.detach());
        b.strains.emplace_back();
        b.volumes.push_back(sys.any_pbc() ? std::fabs(sys.volume()) : 0.0);
    }
    b.positions = positions.size() == 1 ? positions[0].clone() : ad::concat(positions, 0);
    return b;
}

// ---------------------------------------------------------------------------- model

SoapBpnn::SoapBpnn(BpnnHypers hypers, std::vector<int> species, ad::Rng& rng) : hypers_(std::move(hypers)) {
    std::sort(species.begin(), species.end());
    species.erase(std::unique(species.begin(), species.end()), species.end());
    AD_CHECK(!species.empty(), "SoapBpnn: expected at least one species, got none");
    AD_CHECK(hypers_.num_hidden_layers >= 0 && hypers_.num_neurons_per_layer > 0,
             "SoapBpnn: expected num_hidden_layers >= 0 and num_neurons_per_layer > 0, got "
                 << hypers_.num_hidden_layers << " and " << hypers_.num_neurons_per_layer);
    species_ = species;
    soap_ = std::make_shared<desc::Soap>(hypers_.soap_hypers(species_));
    const long D = soap_->n_features();
    const long d = hypers_.num_hidden_layers > 0 ? hypers_.num_neurons_per_layer : D;

    // Registration order = parameter order: layernorms, then bpnn, then last layers (metatrain's).
    std::shared_ptr<Module> norms = hypers_.layernorm ? register_module("layernorms", std::make_shared<Module>()) : nullptr;
    auto bpnn = register_module("bpnn", std::make_shared<Module>());
    std::shared_ptr<Module> heads = hypers_.energy_head == Head::mlp ? register_module("heads", std::make_shared<Module>()) : nullptr;
    auto lasts = register_module("last_layers", std::make_shared<Module>());
    for (int Z : species_) {
        const std::string key = std::to_string(Z);
        PerSpecies net;
        if (norms) net.layernorm = norms->register_module(key, std::make_shared<LayerNorm>(D));
        auto layers = bpnn->register_module(key, std::make_shared<Module>())->register_module("layers", std::make_shared<ModuleList>());
        long width = D;
        for (int k = 0; k < hypers_.num_hidden_layers; ++k) {
            net.hidden.push_back(layers->push_back(std::make_shared<Linear>(width, hypers_.num_neurons_per_layer, rng, false)));
            width = hypers_.num_neurons_per_layer;
        }
        nets_.push_back(std::move(net));
    }
    // Heads and last layers after all hidden layers, so that the hidden weights do not depend on them.
    if (heads)
        for (size_t k = 0; k < species_.size(); ++k)
            nets_[k].head = heads->register_module(std::to_string(species_[k]), std::make_shared<Linear>(d, d, rng, false));
    for (size_t k = 0; k < species_.size(); ++k)
        nets_[k].last = lasts->register_module(std::to_string(species_[k]), std::make_shared<Linear>(d, 1, rng, false));
}

long SoapBpnn::n_features() const {
    return hypers_.num_hidden_layers > 0 ? hypers_.num_neurons_per_layer : soap_->n_features();
}

const Linear& SoapBpnn::last_layer(int Z) const {
    auto it = std::lower_bound(species_.begin(), species_.end(), Z);
    AD_CHECK(it != species_.end() && *it == Z, "SoapBpnn::last_layer: expected a species of the model, got " << Z);
    return *nets_[static_cast<size_t>(it - species_.begin())].last;
}

Tensor SoapBpnn::last_layer_weights() const {
    std::vector<Tensor> ws;
    for (const auto& net : nets_) ws.push_back(net.last->weight());
    return ws.size() == 1 ? ws[0] : ad::concat(ws, 1);  // [1, S d]
}

namespace {
void check_batch(const Batch& b) {
    const long n = b.n_atoms(), S = b.n_structures();
    AD_CHECK(S > 0, "SoapBpnn: expected a batch with structures, got none");
    AD_CHECK(b.positions.defined() && b.positions.ndim() == 2 && b.positions.dim(0) == n && b.positions.dim(1) == 3,
             "SoapBpnn: expected positions[" << n << ", 3], got "
                                             << (b.positions.defined() ? b.positions.shape() : ad::Shape{}));
    AD_CHECK(static_cast<long>(b.structure.size()) == n && static_cast<long>(b.offsets.size()) == S + 1 &&
                 static_cast<long>(b.strains.size()) == S && static_cast<long>(b.volumes.size()) == S &&
                 b.offsets.front() == 0 && b.offsets.back() == n,
             "SoapBpnn: expected a consistent batch (structure [n_atoms], offsets/strains/volumes per structure)");
}
}  // namespace

void SoapBpnn::check_descriptor_batch(const Batch& b) const {
    check_batch(b);
    // Pairs from a shorter list would silently drop neighbours (a longer one is fine: soap skips r >= r_c).
    AD_CHECK(b.cutoff >= hypers_.cutoff, "SoapBpnn: expected a batch built with cutoff >= " << hypers_.cutoff
                                                                                            << ", got " << b.cutoff
                                                                                            << "; use make_batch(frames, model.hypers().cutoff)");
    for (long s = 0; s < b.n_structures(); ++s)
        AD_CHECK(b.offsets[static_cast<size_t>(s) + 1] > b.offsets[static_cast<size_t>(s)],
                 "SoapBpnn: expected atoms in structure " << s << ", got none");
}

Tensor SoapBpnn::descriptor(const Batch& b) const {
    check_descriptor_batch(b);
    const long S = b.n_structures();
    std::vector<Tensor> parts;
    for (long s = 0; s < S; ++s) {
        const long lo = b.offsets[static_cast<size_t>(s)], hi = b.offsets[static_cast<size_t>(s) + 1];
        Tensor R = S == 1 ? b.positions : ad::slice(b.positions, 0, lo, hi);  // [n_s, 3]
        std::vector<int> numbers(b.numbers.begin() + lo, b.numbers.begin() + hi);
        parts.push_back(desc::soap(R, b.strains[static_cast<size_t>(s)], numbers, b.pairs[static_cast<size_t>(s)], *soap_));
    }
    return parts.size() == 1 ? parts[0] : ad::concat(parts, 0);  // [n_atoms, D]
}

Output SoapBpnn::forward(const Batch& b) const { return forward(b, Outputs::all); }

Tensor SoapBpnn::energies(const Batch& b) const { return forward(b, Outputs::energies).energies; }

Output SoapBpnn::forward(const Batch& b, Outputs outputs) const {
    const bool all = outputs == Outputs::all;
    // In a graph to positions or strains, each species' rows come from one soap_rows op over the
    // batch: no [n_atoms, D] concat, split or zero-filled scatter of gradients (its backward
    // contracts the rows of that species only); otherwise X is the plain descriptor.
    bool to_geometry = ad::grad_enabled() && b.positions.requires_grad();
    for (const Tensor& eps : b.strains) to_geometry = to_geometry || (ad::grad_enabled() && eps.defined() && eps.requires_grad());
    std::shared_ptr<const desc::SoapStack> stack;
    Tensor X;  // [n_atoms, D]
    if (to_geometry) {
        check_descriptor_batch(b);
        std::vector<std::vector<int>> numbers;
        for (long s = 0; s < b.n_structures(); ++s)
            numbers.emplace_back(b.numbers.begin() + b.offsets[static_cast<size_t>(s)],
                                 b.numbers.begin() + b.offsets[static_cast<size_t>(s) + 1]);
        stack = desc::soap_stack(b.positions, b.strains, numbers, b.pairs, b.offsets, *soap_);
    } else {
        X = descriptor(b);
    }
    const long n = b.n_atoms(), d = n_features(), S = static_cast<long>(species_.size());
    Tensor e = Tensor::zeros({n}), f, phi;
    if (all) f = Tensor::zeros({n, d}), phi = Tensor::zeros({n, S * d});
    for (size_t k = 0; k < species_.size(); ++k) {
        std::vector<long> idx;
        for (long i = 0; i < n; ++i)
            if (b.numbers[static_cast<size_t>(i)] == species_[k]) idx.push_back(i);
        if (idx.empty()) continue;
        const PerSpecies& net = nets_[k];
        Tensor h = stack ? desc::soap_rows(b.positions, b.strains, idx, stack)
                         : idx.size() == static_cast<size_t>(n) ? X : ad::index_select(X, 0, idx);  // [n_Z, D]
        if (net.layernorm) h = net.layernorm->forward(h);
        for (const auto& layer : net.hidden) h = ad::silu(layer->forward(h));         // [n_Z, d]
        if (net.head) h = ad::silu(net.head->forward(h));                             // [n_Z, d]
        Tensor ez = ad::reshape(net.last->forward(h), {-1});                          // [n_Z]
        e = ad::index_add(e, 0, idx, ez);
        if (!all) continue;
        f = ad::index_add(f, 0, idx, h);
        // phi_i = [0 (k d), f_i, 0 ((S - k - 1) d)]
        const long nz = static_cast<long>(idx.size()), before = static_cast<long>(k) * d, after = (S - 1) * d - before;
        std::vector<Tensor> blocks;
        if (before > 0) blocks.push_back(Tensor::zeros({nz, before}));
        blocks.push_back(h);
        if (after > 0) blocks.push_back(Tensor::zeros({nz, after}));
        phi = ad::index_add(phi, 0, idx, blocks.size() == 1 ? h : ad::concat(blocks, 1));
    }
    Output out;
    out.atom_energies = e;
    out.energies = ad::index_add(Tensor::zeros({b.n_structures()}), 0, b.structure, e);
    if (!all) return out;
    out.atom_features = f;
    out.features = ad::index_add(Tensor::zeros({b.n_structures(), d}), 0, b.structure, f);
    out.atom_last_layer_features = phi;
    out.last_layer_features = ad::index_add(Tensor::zeros({b.n_structures(), S * d}), 0, b.structure, phi);
    return out;
}

EnergyForcesStress SoapBpnn::energy_forces_stress(const Batch& batch, ad::CreateGraph create_graph) const {
    ad::GradMode on(true);
    Batch b = batch;
    if (!b.positions.requires_grad()) b.positions = b.positions.detach().set_requires_grad(true);
    std::vector<Tensor> inputs{b.positions};
    std::vector<long> strained;  // structures with a strain input, in `inputs` order after R
    for (long s = 0; s < b.n_structures(); ++s) {
        Tensor& eps = b.strains[static_cast<size_t>(s)];
        if (b.volumes[static_cast<size_t>(s)] <= 0) continue;
        if (!eps.defined()) eps = Tensor::zeros({3, 3}).set_requires_grad(true);
        else if (!eps.requires_grad()) eps = eps.detach().set_requires_grad(true);
        inputs.push_back(eps);
        strained.push_back(s);
    }
    Output out = forward(b, Outputs::energies);
    std::vector<Tensor> g = ad::grad({ad::sum(out.energies)}, inputs, {}, create_graph);
    EnergyForcesStress r;
    r.energies = create_graph == ad::CreateGraph::yes ? out.energies : out.energies.detach();
    r.forces = -g[0];
    std::vector<Tensor> stress(static_cast<size_t>(b.n_structures()));
    for (size_t k = 0; k < strained.size(); ++k)
        stress[static_cast<size_t>(strained[k])] = g[k + 1] / b.volumes[static_cast<size_t>(strained[k])];
    for (auto& t : stress)
        if (!t.defined()) t = Tensor::zeros({3, 3});
    r.stress = ad::stack(stress, 0);  // [n_structures, 3, 3]
    return r;
}

// ---------------------------------------------------------------------------- checkpoints

namespace {
constexpr int kBpnnFormatVersion = 1;

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

Checkpoint SoapBpnn::to_checkpoint(const std::map<int, double>& composition_weights, double energy_scale) const {
    Checkpoint c;
    c.tensors = state_dict();
    c.metadata["architecture"] = "soap_bpnn";
    c.metadata["format_version"] = std::to_string(kBpnnFormatVersion);
    c.metadata["hypers"] = hypers_.to_toml();
    c.metadata["species"] = join_species(species_);
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

std::shared_ptr<SoapBpnn> SoapBpnn::from_checkpoint(const Checkpoint& ckpt, std::map<int, double>* composition_weights,
                                                    double* energy_scale) {
    const std::string where = ckpt.path.empty() ? "checkpoint" : ckpt.path;
    AD_CHECK(ckpt.meta("architecture") == "soap_bpnn",
             where << ": expected architecture 'soap_bpnn', got '" << ckpt.meta("architecture") << "'");
    AD_CHECK(ckpt.meta("format_version") == std::to_string(kBpnnFormatVersion),
             where << ": expected soap_bpnn format_version " << kBpnnFormatVersion << ", got "
                   << ckpt.meta("format_version"));
    BpnnHypers hypers = BpnnHypers::from_toml(ckpt.meta("hypers"), where);
    std::vector<int> species;
    try {
        for (const auto& s : split(ckpt.meta("species"), ',')) species.push_back(std::stoi(s));
    } catch (const std::logic_error&) {
        AD_FAIL(where << ": metadata 'species': expected comma-separated atomic numbers, got '" << ckpt.meta("species") << "'");
    }
    ad::Rng rng(0);  // any values: overwritten by load_state_dict
    auto model = std::make_shared<SoapBpnn>(hypers, species, rng);
    model->load_state_dict(ckpt.tensors);
    if (energy_scale) {
        *energy_scale = 1.0;
        auto it = ckpt.metadata.find("energy_scale");
        if (it != ckpt.metadata.end()) {
            try {
                *energy_scale = std::stod(it->second);
            } catch (const std::logic_error&) {
                AD_FAIL(where << ": metadata 'energy_scale': expected a number, got '" << it->second << "'");
            }
        }
    }
    if (composition_weights) {
        composition_weights->clear();
        auto it = ckpt.metadata.find("composition_weights");
        if (it != ckpt.metadata.end()) {
            try {
                for (const auto& item : split(it->second, ',')) {
                    size_t colon = item.find(':');
                    AD_CHECK(colon != std::string::npos, where << ": metadata 'composition_weights': expected Z:w, got '" << item << "'");
                    (*composition_weights)[std::stoi(item.substr(0, colon))] = std::stod(item.substr(colon + 1));
                }
            } catch (const std::logic_error&) {
                AD_FAIL(where << ": metadata 'composition_weights': expected Z:w pairs, got '" << it->second << "'");
            }
        }
    }
    return model;
}

// ---------------------------------------------------------------------------- composition

CompositionModel CompositionModel::fit(const std::vector<std::vector<int>>& numbers_per_structure,
                                       const std::vector<double>& energies, const std::vector<int>& species,
                                       const std::map<int, double>& fixed) {
    const size_t n = numbers_per_structure.size();
    AD_CHECK(n > 0 && energies.size() == n, "CompositionModel::fit: expected one energy per structure (> 0), got "
                                                << energies.size() << " energies for " << n << " structures");
    std::vector<int> free;
    for (int Z : species)
        if (!fixed.count(Z) && std::find(free.begin(), free.end(), Z) == free.end()) free.push_back(Z);
    CompositionModel m;
    for (const auto& [Z, w] : fixed) m.weights[Z] = w;
    const long F = static_cast<long>(free.size());
    if (F == 0) return m;
    // C[s, a] = number of atoms of free species a in s;  y[s] = E_s - sum_fixed n w.
    std::vector<double> C(n * static_cast<size_t>(F), 0.0), y(n);
    for (size_t s = 0; s < n; ++s) {
        y[s] = energies[s];
        for (int Z : numbers_per_structure[s]) {
            auto it = std::find(free.begin(), free.end(), Z);
            if (it != free.end()) C[s * F + static_cast<size_t>(it - free.begin())] += 1.0;
            else if (fixed.count(Z)) y[s] -= fixed.at(Z);
            else AD_FAIL("CompositionModel::fit: expected species of the model, got atomic number " << Z << " in structure " << s);
        }
    }
    // Normal equations G w = b, G = C^T C, b = C^T y, solved by the pseudo-inverse of G:
    // w = V diag(1/lambda) V^T b over eigenvalues lambda > 1e-10 lambda_max (minimum-norm
    // least squares; directions with lambda ~ 0 are compositions the data cannot tell apart).
    ad::NoGrad no_grad;
    Tensor G = Tensor::zeros({F, F}), rhs = Tensor::zeros({F});
    for (size_t s = 0; s < n; ++s)
        for (long a = 0; a < F; ++a) {
            rhs.data()[a] += C[s * F + a] * y[s];
            for (long b = 0; b < F; ++b) G.data()[a * F + b] += C[s * F + a] * C[s * F + b];
        }
    auto [lambda, V] = ad::eigh(G);
    const double lmax = lambda[F - 1];
    std::vector<double> w(static_cast<size_t>(F), 0.0);
    for (long k = 0; k < F; ++k) {
        if (!(lambda[k] > 1e-10 * lmax)) continue;
        double proj = 0;
        for (long a = 0; a < F; ++a) proj += V[a * F + k] * rhs[a];
        for (long a = 0; a < F; ++a) w[static_cast<size_t>(a)] += V[a * F + k] * proj / lambda[k];
    }
    for (long a = 0; a < F; ++a) m.weights[free[static_cast<size_t>(a)]] = w[static_cast<size_t>(a)];
    return m;
}

double CompositionModel::baseline(const std::vector<int>& numbers) const {
    double e = 0;
    for (int Z : numbers) {
        auto it = weights.find(Z);
        AD_CHECK(it != weights.end(), "CompositionModel: expected a species with a weight, got atomic number " << Z);
        e += it->second;
    }
    return e;
}

Tensor CompositionModel::baseline(const Batch& batch) const {
    Tensor out = Tensor::zeros({batch.n_structures()});
    for (long s = 0; s < batch.n_structures(); ++s)
        out.data()[s] = baseline(std::vector<int>(batch.numbers.begin() + batch.offsets[static_cast<size_t>(s)],
                                                  batch.numbers.begin() + batch.offsets[static_cast<size_t>(s) + 1]));
    return out;
}

std::vector<double> CompositionModel::remove(const std::vector<std::vector<int>>& numbers_per_structure,
                                             const std::vector<double>& energies) const {
    AD_CHECK(numbers_per_structure.size() == energies.size(),
             "CompositionModel::remove: expected one energy per structure, got " << energies.size() << " energies for "
                                                                                 << numbers_per_structure.size() << " structures");
    std::vector<double> out(energies.size());
    for (size_t s = 0; s < energies.size(); ++s) out[s] = energies[s] - baseline(numbers_per_structure[s]);
    return out;
}

// ---------------------------------------------------------------------------- scaling

EnergyScaler EnergyScaler::fit(const std::vector<double>& residual_energies, std::optional<double> fixed) {
    EnergyScaler s;
    if (fixed) {
        AD_CHECK(*fixed > 0 && std::isfinite(*fixed), "EnergyScaler: expected a fixed scale > 0, got " << *fixed);
        s.scale = *fixed;
        return s;
    }
    AD_CHECK(!residual_energies.empty(), "EnergyScaler: expected training energies, got none");
    double y2 = 0;
    for (double y : residual_energies) y2 += y * y;
    s.scale = std::sqrt(y2 / static_cast<double>(residual_energies.size()));
    if (!(s.scale > 0)) s.scale = 1.0;  // all residuals 0: nothing to scale
    return s;
}

void EnergyScaler::scale_down(Tensor& energies, Tensor& forces, Tensor& stress) const {
    ad::NoGrad no_grad;
    if (energies.defined()) energies = energies.detach() / scale;
    if (forces.defined()) forces = forces.detach() / scale;
    if (stress.defined()) stress = stress.detach() / scale;
}

EnergyForcesStress predict(const EnergyForcesStress& network, const EnergyScaler& scaler, const Tensor& baseline) {
    EnergyForcesStress out;
    out.energies = network.energies * scaler.scale;
    if (baseline.defined()) out.energies = out.energies + baseline;
    if (network.forces.defined()) out.forces = network.forces * scaler.scale;
    if (network.stress.defined()) out.stress = network.stress * scaler.scale;
    return out;
}

}  // namespace nn::bpnn
