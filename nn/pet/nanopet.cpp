// NanoPET model (math in nanopet.hpp).
#include "nn/pet/nanopet.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "autodiff/ops.hpp"
#include "nn/cutoff_functions.hpp"

namespace nn::pet {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope
using ad::Tensor;

namespace {
constexpr double kInvSqrt2 = 0.70710678118654752440;
}  // namespace

NanoPet::NanoPet(NanoPetHypers hypers, std::vector<int> species, ad::Rng& rng) : hypers_(std::move(hypers)) {
    std::sort(species.begin(), species.end());
    species.erase(std::unique(species.begin(), species.end()), species.end());
    AD_CHECK(!species.empty(), "NanoPet: expected at least one species, got none");
    const long d = hypers_.d_pet;
    AD_CHECK(d > 0 && hypers_.num_heads > 0 && d % hypers_.num_heads == 0 && hypers_.num_attention_layers >= 1 &&
                 hypers_.num_gnn_layers >= 1,
             "NanoPet: expected d_pet divisible by num_heads and at least one attention and GNN layer, got d_pet "
                 << d << ", num_heads " << hypers_.num_heads << ", num_attention_layers " << hypers_.num_attention_layers
                 << ", num_gnn_layers " << hypers_.num_gnn_layers);
    species_ = species;
    const long S = static_cast<long>(species_.size());
    // Registration order = parameter order = draw order (metatrain's: encoder, transformer, GNN, heads, last layers).
    auto encoder = register_module("encoder", std::make_shared<Module>());
    auto cart = encoder->register_module("cartesian", std::make_shared<ModuleList>());
    cartesian_.push_back(cart->push_back(std::make_shared<Linear>(3, 4 * d, rng, false)));
    cartesian_.push_back(cart->push_back(std::make_shared<Linear>(4 * d, 4 * d, rng, false)));
    cartesian_.push_back(cart->push_back(std::make_shared<Linear>(4 * d, d, rng, false)));
    center_embedding_ = encoder->register_module("center_embedding", std::make_shared<Embedding>(S, d, rng));
    neighbor_embedding_ = encoder->register_module("neighbor_embedding", std::make_shared<Embedding>(S, d, rng));
    compressor_ = encoder->register_module("compressor", std::make_shared<Linear>(3 * d, d, rng, false));
    const TransformerOptions options = TransformerOptions::nanopet(d, hypers_.num_heads);
    auto transformers = register_module("transformers", std::make_shared<ModuleList>());
    auto contractions = register_module("contractions", std::make_shared<ModuleList>());
    for (int k = 0; k < hypers_.num_gnn_layers; ++k) {
        if (k > 0) contractions_.push_back(contractions->push_back(std::make_shared<Linear>(2 * d, d, rng, false)));
        auto layers = transformers->push_back(std::make_shared<ModuleList>());
        transformers_.emplace_back();
        for (int l = 0; l < hypers_.num_attention_layers; ++l)
            transformers_.back().push_back(layers->push_back(std::make_shared<TransformerLayer>(options, rng)));
    }
    if (hypers_.energy_head == Head::mlp) {
        auto head = register_module("heads", std::make_shared<Module>())->register_module("energy", std::make_shared<ModuleList>());
        head_.push_back(head->push_back(std::make_shared<Linear>(d, 4 * d, rng, false)));
        head_.push_back(head->push_back(std::make_shared<Linear>(4 * d, d, rng, false)));
    }
    last_ = register_module("last_layers", std::make_shared<Module>())
                ->register_module("energy", std::make_shared<Linear>(d, 1, rng, false));
}

// ---------------------------------------------------------------------------- token layout

NeighborLayout NanoPet::layout(const Batch& b) const { return neighbor_layout(b, species_, hypers_.cutoff, "NanoPet"); }

// ---------------------------------------------------------------------------- forward

Output NanoPet::forward(const Batch& b) const { return forward(b, Outputs::all); }

Tensor NanoPet::energies(const Batch& b) const { return forward(b, Outputs::energies).energies; }

Output NanoPet::forward(const Batch& b, Outputs outputs) const {
    const NeighborLayout L = layout(b);
    const long n = L.n_atoms, T = L.T, BT = n * T, E = static_cast<long>(L.centre.size()), d = hypers_.d_pet;
    const long S = b.n_structures();
    // Edge vectors r_e = A_s (R_j - R_i + shift) [E, 3], from the positions' graph (pet_layout).
    const Tensor v = edge_vectors(b, L);
    // Token vectors [BT, 3]: padded slots hold a constant far vector (|r| = 2 r_c: mask 0, and a
    // finite derivative of |r|).
    Tensor base = Tensor::zeros({BT, 3});
    for (long q = 0; q < BT; ++q)
        if (L.padding[q] == 0) base.data()[q * 3] = 2 * hypers_.cutoff;
    Tensor nef = E > 0 ? ad::index_add(base, 0, L.slot, v) : base;
    Tensor r = ad::sqrt(ad::sum(ad::square(nef), {1}));                                                  // [BT]
    Tensor c = ad::reshape(smooth_cutoff(r, hypers_.cutoff_function, hypers_.cutoff, hypers_.cutoff_width), {n, T});
    // Encoder
    Tensor h = ad::silu(cartesian_[0]->forward(nef));
    h = ad::silu(cartesian_[1]->forward(h));
    h = cartesian_[2]->forward(h);                                                                        // [BT, d]
    Tensor x = compressor_->forward(ad::concat(
        {h, center_embedding_->forward(L.centre_species), neighbor_embedding_->forward(L.neighbor_species)}, 1));
    x = ad::reshape(x, {n, T, d});
    for (const auto& layer : transformers_[0]) x = layer->forward(x, L.padding, c);
    // Message passing through the reversed edges
    for (size_t k = 1; k < transformers_.size(); ++k) {
        Tensor flat = ad::reshape(x, {BT, d});
        Tensor m = contractions_[k - 1]->forward(ad::concat({flat, ad::index_select(flat, 0, L.partner)}, 1));
        m = ad::reshape(m, {n, T, d});
        for (const auto& layer : transformers_[k]) m = layer->forward(m, L.padding, c);
        x = ad::mul(ad::add(x, m), kInvSqrt2);
    }
    Tensor f = ad::sum(ad::mul(x, ad::reshape(c, {n, T, 1})), {1});  // [n, d] node features
    for (const auto& layer : head_) f = ad::silu(layer->forward(f));
    Tensor e = ad::reshape(last_->forward(f), {-1});                  // [n]
    Output out;
    out.atom_energies = e;
    out.energies = ad::index_add(Tensor::zeros({S}), 0, b.structure, e);
    if (outputs == Outputs::energies) return out;
    out.atom_features = f;
    out.features = ad::index_add(Tensor::zeros({S, d}), 0, b.structure, f);
    out.atom_last_layer_features = f;  // one last layer for every species: phi_i = f_i
    out.last_layer_features = out.features;
    return out;
}

// ---------------------------------------------------------------------------- checkpoints

namespace {
constexpr int kNanoPetFormatVersion = 1;
}  // namespace

int NanoPet::format_version() const { return kNanoPetFormatVersion; }

std::shared_ptr<NanoPet> NanoPet::from_checkpoint(const Checkpoint& ckpt, std::map<int, double>* composition_weights,
                                                  double* energy_scale) {
    return atomistic::model_from_checkpoint<NanoPet, NanoPetHypers>(ckpt, "nanopet", kNanoPetFormatVersion, composition_weights, energy_scale);
}

atomistic::Architecture nanopet_architecture() {
    atomistic::Architecture a;
    a.name = "nanopet";
    a.format_version = kNanoPetFormatVersion;
    a.make = [](const std::string& hypers_toml, const std::vector<int>& species, ad::Rng& rng, const std::string& where) {
        return std::make_shared<NanoPet>(NanoPetHypers::from_toml(hypers_toml, where), species, rng);
    };
    return a;
}

}  // namespace nn::pet
