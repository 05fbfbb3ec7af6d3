// A toy AtomisticModel for the tests of the generic path (nn/atomistic, uq/llpr_model, cli):
// pair Gaussians with d = 3 features and one shared last layer, registered as "toy_pair".
#pragma once
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/ops.hpp"
#include "nn/atomistic/registry.hpp"
#include "nn/atomistic/trainer.hpp"

namespace toy {

using ad::Tensor;
using nn::atomistic::AtomisticModel;
using nn::atomistic::Batch;

// Toy model. Pairs p = (i, j) of the batch's full lists within r_c, v_p = (R_j - R_i + shift_p)(I + eps_s):
//   f_ik = sum_{p: first = i} exp(-a_k |v_p|^2) (1 - |v_p|^2 / r_c^2)^2     a_k = exp(log_a_k), k < d
//   e_i  = f_i w^T,  phi_i = f_i (P = d, no species blocks)
class PairToy : public AtomisticModel {
  public:
    PairToy(long d, std::vector<int> species, ad::Rng& rng) : d_(d), species_(std::move(species)) {
        log_a_ = register_parameter("log_a", ad::tensor({1, 3}, {-1.0, 0.0, 1.0}));
        AD_CHECK(d == 3, "toy: expected num_features = 3, got " << d);
        w_ = register_parameter("last_layer_weight", rng.normal({1, d}) * 0.1);
    }
    nn::atomistic::Output forward(const Batch& b) const override {
        const double rc2 = cutoff() * cutoff();
        std::vector<Tensor> fs;
        for (long s = 0; s < b.n_structures(); ++s) {
            const long lo = b.offsets[static_cast<size_t>(s)], hi = b.offsets[static_cast<size_t>(s) + 1];
            const desc::SoapPairs& pp = b.pairs[static_cast<size_t>(s)];
            Tensor R = ad::slice(b.positions, 0, lo, hi);
            Tensor f = Tensor::zeros({hi - lo, d_});
            if (!pp.first.empty()) {
                Tensor v = ad::index_select(R, 0, pp.second) - ad::index_select(R, 0, pp.first) + pp.cell_shifts;
                const Tensor& eps = b.strains[static_cast<size_t>(s)];
                if (eps.defined()) v = v + ad::matmul(v, eps);
                Tensor r2 = ad::sum(ad::square(v), {1}, true);                             // [n_pairs, 1]
                Tensor g = ad::exp(-ad::matmul(r2, ad::exp(log_a_))) * ad::square(1.0 - r2 / rc2);  // [n_pairs, d]
                f = ad::index_add(f, 0, pp.first, g);
            }
            fs.push_back(f);
        }
        nn::atomistic::Output o;
        o.atom_features = fs.size() == 1 ? fs[0] : ad::concat(fs, 0);
        o.atom_last_layer_features = o.atom_features;
        o.atom_energies = ad::reshape(ad::matmul_nt(o.atom_features, w_), {-1});
        const long NS = b.n_structures();
        o.energies = ad::index_add(Tensor::zeros({NS}), 0, b.structure, o.atom_energies);
        o.features = ad::index_add(Tensor::zeros({NS, d_}), 0, b.structure, o.atom_features);
        o.last_layer_features = o.features;
        return o;
    }
    const std::vector<int>& species() const override { return species_; }
    double cutoff() const override { return 3.0; }
    std::string architecture() const override { return "toy_pair"; }
    int format_version() const override { return 1; }
    std::string hypers_toml() const override { return "num_features = " + std::to_string(d_) + "\n"; }
    long n_last_layer_features() const override { return d_; }
    bool rotation_invariant() const override { return true; }  // pair distances only
    Tensor last_layer_weights() const override { return w_; }

  private:
    long d_;
    std::vector<int> species_;
    Tensor log_a_, w_;
};

inline std::shared_ptr<AtomisticModel> make_toy(const std::string& hypers, const std::vector<int>& species, ad::Rng& rng,
                                         const std::string& where) {
    long d = 3;
    AD_CHECK(hypers.empty() || std::sscanf(hypers.c_str(), "num_features = %ld", &d) == 1,
             where << ": expected 'num_features = <n>', got '" << hypers << "'");
    return std::make_shared<PairToy>(d, species, rng);
}

/// Registers the toy for one test case (removed again so other tests see the built-ins only).
struct ToyRegistered {
    ToyRegistered() { nn::atomistic::register_architecture({"toy_pair", 1, make_toy}); }
    ~ToyRegistered() { nn::atomistic::unregister_architecture("toy_pair"); }
};

inline nn::atomistic::ModelBuilder toy_builder() {
    return [](const std::vector<int>& species, ad::Rng& rng) { return make_toy("", species, rng, "test"); };
}

}  // namespace toy
