// PET model (math in pet.hpp).
#include "nn/pet/pet.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "autodiff/ops.hpp"
#include "nn/cutoff_functions.hpp"

namespace nn::pet {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope
using ad::Tensor;

namespace {
// A Linear registered as child `name` of `parent`.
std::shared_ptr<Linear> linear(Module& parent, const std::string& name, long n_in, long n_out, ad::Rng& rng) {
    return parent.register_module(name, std::make_shared<Linear>(n_in, n_out, rng, true));
}
}  // namespace

Pet::Pet(PetHypers hypers, std::vector<int> species, ad::Rng& rng) : hypers_(std::move(hypers)) {
    std::sort(species.begin(), species.end());
    species.erase(std::unique(species.begin(), species.end()), species.end());
    AD_CHECK(!species.empty(), "Pet: expected at least one species, got none");
    const long d = hypers_.d_pet, D = hypers_.d_node, h = hypers_.d_head;
    AD_CHECK(d > 0 && D > 0 && h > 0 && hypers_.d_feedforward > 0 && hypers_.num_heads > 0 && d % hypers_.num_heads == 0 &&
                 hypers_.num_attention_layers >= 1 && hypers_.num_gnn_layers >= 1,
             "Pet: expected positive widths, d_pet divisible by num_heads and at least one attention and GNN layer, got d_pet "
                 << d << ", d_node " << D << ", d_head " << h << ", d_feedforward " << hypers_.d_feedforward << ", num_heads "
                 << hypers_.num_heads << ", num_attention_layers " << hypers_.num_attention_layers << ", num_gnn_layers "
                 << hypers_.num_gnn_layers);
    species_ = species;
    const long S = static_cast<long>(species_.size());
    // Registration order = parameter order = draw order (metatrain's __init__ order).
    auto gnn = register_module("gnn_layers", std::make_shared<ModuleList>());
    for (int k = 0; k < hypers_.num_gnn_layers; ++k) {
        GnnLayer g;
        auto layer = gnn->push_back(std::make_shared<Module>());
        auto trans = layer->register_module("trans", std::make_shared<Module>())->register_module("layers", std::make_shared<ModuleList>());
        for (int l = 0; l < hypers_.num_attention_layers; ++l)
            g.layers.push_back(trans->push_back(std::make_shared<PetTransformerLayer>(
                d, D, hypers_.num_heads, hypers_.d_feedforward, hypers_.normalization, hypers_.activation,
                hypers_.transformer_type, rng)));
        g.edge_embedder = linear(*layer, "edge_embedder", 4, d, rng);
        auto compress = layer->register_module("compress", std::make_shared<Module>());
        g.compress0 = linear(*compress, "0", (k == 0 ? 2 : 3) * d, d, rng);
        g.compress2 = linear(*compress, "2", d, d, rng);
        if (k > 0) g.neighbor_embedder = layer->register_module("neighbor_embedder", std::make_shared<Embedding>(S, d, rng));
        gnn_.push_back(g);
    }
    auto norms = register_module("combination_norms", std::make_shared<ModuleList>());
    auto mlps = register_module("combination_mlps", std::make_shared<ModuleList>());
    for (auto& g : gnn_) g.combination_norm = norms->push_back(std::make_shared<LayerNorm>(2 * d));
    for (auto& g : gnn_) {
        auto mlp = mlps->push_back(std::make_shared<Module>());
        g.combination0 = linear(*mlp, "0", 2 * d, 2 * d, rng);
        g.combination2 = linear(*mlp, "2", 2 * d, d, rng);
    }
    node_embedder_ = register_module("node_embedders", std::make_shared<ModuleList>())->push_back(std::make_shared<Embedding>(S, D, rng));
    edge_embedder_ = register_module("edge_embedder", std::make_shared<Embedding>(S, d, rng));
    auto head = [&](const char* name) {
        return register_module(name, std::make_shared<Module>())
            ->register_module("energy", std::make_shared<ModuleList>())
            ->push_back(std::make_shared<Module>());
    };
    auto nh = head("node_heads");
    node_head0_ = linear(*nh, "0", D, h, rng);
    node_head2_ = linear(*nh, "2", h, h, rng);
    auto eh = head("edge_heads");
    edge_head0_ = linear(*eh, "0", d, h, rng);
    edge_head2_ = linear(*eh, "2", h, h, rng);
    node_last_ = register_module("node_last_layers", std::make_shared<Module>())
                     ->register_module("energy", std::make_shared<ModuleList>())
                     ->push_back(std::make_shared<Linear>(h, 1, rng, true));
    edge_last_ = register_module("edge_last_layers", std::make_shared<Module>())
                     ->register_module("energy", std::make_shared<ModuleList>())
                     ->push_back(std::make_shared<Linear>(h, 1, rng, true));
}

NeighborLayout Pet::layout(const Batch& b) const { return neighbor_layout(b, species_, hypers_.cutoff, "Pet"); }

Tensor Pet::last_layer_weights() const { return ad::concat({node_last_->weight(), edge_last_->weight()}, 1); }

// ---------------------------------------------------------------------------- forward

Output Pet::forward(const Batch& b) const { return forward(b, Outputs::all); }

Tensor Pet::energies(const Batch& b) const { return forward(b, Outputs::energies).energies; }

Output Pet::forward(const Batch& b, Outputs outputs) const {
    const NeighborLayout L = layout(b);
    const long n = L.n_atoms, T = L.T, BT = n * T, E = static_cast<long>(L.centre.size());
    const long d = hypers_.d_pet, S = b.n_structures();
    std::vector<long> atom_species(static_cast<size_t>(n));  // validated by the layout
    for (long i = 0; i < n; ++i)
        atom_species[static_cast<size_t>(i)] =
            std::lower_bound(species_.begin(), species_.end(), b.numbers[static_cast<size_t>(i)]) - species_.begin();
    // Token vectors [BT, 3]: padded slots hold a constant far vector (|r| = 2 r_c: cutoff 0, and a
    // finite derivative of |r|); real slots r_e from the positions' graph.
    Tensor base = Tensor::zeros({BT, 3});
    for (long q = 0; q < BT; ++q)
        if (L.padding[q] == 0) base.data()[q * 3] = 2 * hypers_.cutoff;
    Tensor nef = E > 0 ? ad::index_add(base, 0, L.slot, edge_vectors(b, L)) : base;
    Tensor r = ad::sqrt(ad::sum(ad::square(nef), {1}, true));                                              // [BT, 1]
    Tensor c = ad::reshape(smooth_cutoff(r, hypers_.cutoff_function, hypers_.cutoff, hypers_.cutoff_width), {n, T});
    Tensor geometry = ad::concat({nef, r}, 1);                                                              // [BT, 4]
    // Featurizer ("feedforward")
    Tensor node = node_embedder_->forward(atom_species);                                                    // [n, D]
    Tensor x = edge_embedder_->forward(L.neighbor_species);                                                 // [BT, d]
    for (size_t k = 0; k < gnn_.size(); ++k) {
        const GnnLayer& g = gnn_[k];
        Tensor in = k == 0 ? ad::concat({g.edge_embedder->forward(geometry), x}, 1)
                           : ad::concat({g.edge_embedder->forward(geometry), g.neighbor_embedder->forward(L.neighbor_species), x}, 1);
        Tensor m = ad::reshape(g.compress2->forward(ad::silu(g.compress0->forward(in))), {n, T, d});
        for (const auto& layer : g.layers) std::tie(node, m) = layer->forward(node, m, L.padding, c);
        Tensor y = ad::reshape(m, {BT, d});
        Tensor pair = ad::concat({y, ad::index_select(y, 0, L.partner)}, 1);                               // [BT, 2d]
        Tensor mix = g.combination2->forward(ad::silu(g.combination0->forward(g.combination_norm->forward(pair))));
        x = ad::add(ad::add(x, y), mix);
    }
    // Readout: node and edge heads, last layers; edge terms summed with the cutoff weights.
    Tensor cw = ad::reshape(c, {n, T, 1});
    Tensor u = ad::silu(node_head2_->forward(ad::silu(node_head0_->forward(node))));                        // [n, h]
    Tensor v = ad::reshape(ad::silu(edge_head2_->forward(ad::silu(edge_head0_->forward(x)))), {n, T, -1}); // [n, T, h]
    Tensor e_edge = ad::sum(ad::mul(ad::reshape(edge_last_->forward(v), {n, T, 1}), cw), {1, 2});           // [n]
    Tensor e = ad::add(ad::reshape(node_last_->forward(u), {-1}), e_edge);                                  // [n]
    Output out;
    out.atom_energies = e;
    out.energies = ad::index_add(Tensor::zeros({S}), 0, b.structure, e);
    if (outputs == Outputs::energies) return out;
    Tensor xs = ad::sum(ad::mul(ad::reshape(x, {n, T, d}), cw), {1});                                       // [n, d]
    out.atom_features = ad::concat({node, xs}, 1);
    out.features = ad::index_add(Tensor::zeros({S, out.atom_features.dim(1)}), 0, b.structure, out.atom_features);
    out.atom_last_layer_features = ad::concat({u, ad::sum(ad::mul(v, cw), {1})}, 1);                       // [n, 2h]
    out.last_layer_features = ad::index_add(Tensor::zeros({S, n_features()}), 0, b.structure, out.atom_last_layer_features);
    return out;
}

// ---------------------------------------------------------------------------- checkpoints

namespace {
constexpr int kPetFormatVersion = 1;
}  // namespace

int Pet::format_version() const { return kPetFormatVersion; }

std::shared_ptr<Pet> Pet::from_checkpoint(const Checkpoint& ckpt, std::map<int, double>* composition_weights,
                                          double* energy_scale) {
    return atomistic::model_from_checkpoint<Pet, PetHypers>(ckpt, "pet", kPetFormatVersion, composition_weights, energy_scale);
}

atomistic::Architecture pet_architecture() {
    atomistic::Architecture a;
    a.name = "pet";
    a.format_version = kPetFormatVersion;
    a.make = [](const std::string& hypers_toml, const std::vector<int>& species, ad::Rng& rng, const std::string& where) {
        return std::make_shared<Pet>(PetHypers::from_toml(hypers_toml, where), species, rng);
    };
    return a;
}

}  // namespace nn::pet
