// SOAP-BPNN model (math in bpnn.hpp).
#include "nn/bpnn/bpnn.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "autodiff/ops.hpp"
#include "descriptors/neighbor_list.hpp"

namespace nn::bpnn {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope
using ad::Tensor;


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

// ---------------------------------------------------------------------------- checkpoints

namespace {
constexpr int kBpnnFormatVersion = 1;
}  // namespace

int SoapBpnn::format_version() const { return kBpnnFormatVersion; }



std::shared_ptr<SoapBpnn> SoapBpnn::from_checkpoint(const Checkpoint& ckpt, std::map<int, double>* composition_weights,
                                                    double* energy_scale) {
    return atomistic::model_from_checkpoint<SoapBpnn, BpnnHypers>(ckpt, "soap_bpnn", kBpnnFormatVersion, composition_weights, energy_scale);
}

atomistic::Architecture architecture() {
    atomistic::Architecture a;
    a.name = "soap_bpnn";
    a.format_version = kBpnnFormatVersion;
    a.make = [](const std::string& hypers_toml, const std::vector<int>& species, ad::Rng& rng, const std::string& where) {
        return std::make_shared<SoapBpnn>(BpnnHypers::from_toml(hypers_toml, where), species, rng);
    };
    return a;
}

}  // namespace nn::bpnn
