// The LLPR-wrapped SOAP-BPNN (see llpr_model.hpp; math and costs in docs/llpr.md).
#include "uq/llpr_model.hpp"

#include <chrono>
#include <cmath>

#include "autodiff/error.hpp"
#include "autodiff/graph.hpp"
#include "autodiff/ops.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"

namespace uq {

using ad::operator<<;  // Shape printing
using ad::Tensor;
using nn::bpnn::Batch;
using nn::bpnn::SoapBpnn;

namespace {

const char* kPrefix = "llpr.energy.";
const char* kEnsembleName = "llpr.energy.ensemble_weights";

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// Calls f(batch, first_frame) for consecutive batches of `batch_size` frames.
template <class F>
void for_batches(const SoapBpnn& model, const std::vector<desc::System>& frames, long batch_size, F&& f) {
    AD_CHECK(batch_size >= 1, "llpr: expected batch_size >= 1, got " << batch_size);
    const size_t bs = static_cast<size_t>(batch_size);
    for (size_t lo = 0; lo < frames.size(); lo += bs) {
        std::vector<desc::System> part(frames.begin() + static_cast<long>(lo),
                                       frames.begin() + static_cast<long>(std::min(frames.size(), lo + bs)));
        f(nn::bpnn::make_batch(part, model.hypers().cutoff), lo);
    }
}

std::vector<long> atom_counts(const Batch& b) {
    std::vector<long> n(static_cast<size_t>(b.n_structures()));
    for (size_t s = 0; s < n.size(); ++s) n[s] = b.offsets[s + 1] - b.offsets[s];
    return n;
}

// ---- the per-atom network of one species, found by name in the module tree (nn/bpnn/bpnn.hpp:
// "layernorms.<Z>", "bpnn.<Z>.layers.<k>", "heads.<Z>"): u = LayerNorm(X), f = SiLU(... SiLU(W_1 u)).
struct SpeciesNet {
    const nn::LayerNorm* layernorm = nullptr;  ///< null without layernorm
    std::vector<const nn::Linear*> layers;     ///< hidden layers, then the mlp head; each then SiLU
};

const nn::Module* child(const nn::Module* m, const std::string& name) {
    if (!m) return nullptr;
    for (const auto& [n, c] : m->children())
        if (n == name) return c.get();
    return nullptr;
}

SpeciesNet species_net(const SoapBpnn& model, int Z) {
    const std::string key = std::to_string(Z);
    SpeciesNet net;
    net.layernorm = dynamic_cast<const nn::LayerNorm*>(child(child(&model, "layernorms"), key));
    AD_CHECK(!model.hypers().layernorm || net.layernorm, "llpr: expected the layernorm of species " << Z << " in the model");
    const nn::Module* layers = child(child(child(&model, "bpnn"), key), "layers");
    for (long k = 0; k < model.hypers().num_hidden_layers; ++k) {
        auto* lin = dynamic_cast<const nn::Linear*>(child(layers, std::to_string(k)));
        AD_CHECK(lin, "llpr: expected hidden layer " << k << " of species " << Z << " in the model");
        net.layers.push_back(lin);
    }
    if (auto* head = dynamic_cast<const nn::Linear*>(child(child(&model, "heads"), key))) net.layers.push_back(head);
    return net;
}

/// r copies of x [n, m] stacked: [r n, m].
Tensor repeat_rows(const Tensor& x, long r) {
    const long n = x.dim(0), m = x.dim(1);
    Tensor out = Tensor::empty({r * n, m});
    for (long k = 0; k < r; ++k) std::copy(x.data(), x.data() + n * m, out.data() + k * n * m);
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------- covariance

LlprCovariance soap_bpnn_llpr_covariance(const SoapBpnn& model, const std::vector<desc::System>& frames,
                                         long batch_size) {
    AD_CHECK(!frames.empty(), "llpr: expected training frames, got none");
    const long P = static_cast<long>(model.species().size()) * model.n_features();
    LlprCovariance cov(P);
    ad::NoGrad no_grad;
    for_batches(model, frames, batch_size, [&](const Batch& b, size_t) {
        cov.add(model.forward(b).last_layer_features, atom_counts(b));  // phi_s / N_s, as the per-atom loss
    });
    return cov;
}

// ---------------------------------------------------------------------------- d phi / dR
// G[j, a, (Z, f)] = sum_{i in s, Z_i = Z} sum_k dX[i, k]/dR[j, a] dh_f(X_i)/dX[i, k]    (s the structure of j)
// The per-atom Jacobian dh/dX [d, D] of every atom comes from one batched backward of the network
// (d copies of each atom's first pre-activation, seeded with the d unit vectors), then the first
// Linear and the LayerNorm backward as ops. Each column (Z, f) of G is one SOAP vector-Jacobian
// product of the rows of species Z: S d products per structure, whatever the number of members.

Tensor soap_bpnn_last_layer_jacobian(const SoapBpnn& model, const Batch& b) {
    AD_CHECK(b.cutoff >= model.hypers().cutoff, "llpr: expected a batch built with cutoff >= " << model.hypers().cutoff
                                                                                            << ", got " << b.cutoff);
    const long n = b.n_atoms(), NS = b.n_structures(), D = model.soap().n_features(), d = model.n_features();
    const std::vector<int>& species = model.species();
    const long S = static_cast<long>(species.size()), P = S * d, rows = n + 3 * NS;
    ad::NoGrad no_grad;
    // SOAP values X [n, D] and their Jacobians, one per structure (unstrained).
    Tensor R = b.positions.detach().clone();
    Tensor X = Tensor::empty({n, D});
    std::vector<desc::SoapJacobian> J(static_cast<size_t>(NS));
    for (long s = 0; s < NS; ++s) {
        const long lo = b.offsets[static_cast<size_t>(s)], hi = b.offsets[static_cast<size_t>(s) + 1];
        std::vector<int> numbers(b.numbers.begin() + lo, b.numbers.begin() + hi);
        Tensor Xs = model.soap().compute(numbers, R.data() + 3 * lo, b.pairs[static_cast<size_t>(s)], nullptr,
                                         &J[static_cast<size_t>(s)]);
        std::copy(Xs.data(), Xs.data() + (hi - lo) * D, X.data() + lo * D);
    }
    Tensor G = Tensor::zeros({rows, 3, P});
    for (long k = 0; k < S; ++k) {
        std::vector<long> idx;  // atoms of species k
        std::vector<long> pos(static_cast<size_t>(n), -1);
        for (long i = 0; i < n; ++i)
            if (b.numbers[static_cast<size_t>(i)] == species[static_cast<size_t>(k)]) {
                pos[static_cast<size_t>(i)] = static_cast<long>(idx.size());
                idx.push_back(i);
            }
        if (idx.empty()) continue;
        const long nk = static_cast<long>(idx.size());
        SpeciesNet net = species_net(model, species[static_cast<size_t>(k)]);
        AD_CHECK(!net.layers.empty(), "llpr: expected a model with hidden layers or an mlp head (its last-layer "
                                      "features would be the SOAP vector itself), got neither");
        Tensor Xk = ad::index_select(X, 0, idx);                            // [nk, D]
        Tensor u = net.layernorm ? net.layernorm->forward(Xk) : Xk;          // [nk, D]
        Tensor a1 = net.layers[0]->forward(u);                              // [nk, d1]
        // gu[f nk + r, :] = d h_f(atom r) / d u: one backward of d copies, seeded with e_f.
        Tensor ga1;
        {
            ad::GradMode on(true);
            Tensor a1_rep = repeat_rows(a1, d).set_requires_grad(true);     // [d nk, d1]
            Tensor h = ad::silu(a1_rep);
            for (size_t l = 1; l < net.layers.size(); ++l) h = ad::silu(net.layers[l]->forward(h));  // [d nk, d]
            Tensor seed = Tensor::zeros({d * nk, d});
            for (long f = 0; f < d; ++f)
                for (long r = 0; r < nk; ++r) seed.data()[(f * nk + r) * d + f] = 1.0;
            ga1 = ad::grad({h}, {a1_rep}, {seed})[0];
        }
        Tensor gu = ad::matmul(ga1, net.layers[0]->weight().detach());      // [d nk, D]
        Tensor gX = net.layernorm ? ad::layer_norm_backward(gu, repeat_rows(Xk, d), net.layernorm->weight().detach(),
                                                            net.layernorm->eps())
                                  : gu;                                      // [d nk, D]
        for (long s = 0; s < NS; ++s) {
            const long lo = b.offsets[static_cast<size_t>(s)], hi = b.offsets[static_cast<size_t>(s) + 1], ns = hi - lo;
            bool any = false;
            for (long i = lo; i < hi && !any; ++i) any = pos[static_cast<size_t>(i)] >= 0;
            if (!any) continue;
            Tensor seed = Tensor::zeros({ns, D});
            for (long f = 0; f < d; ++f) {
                for (long i = lo; i < hi; ++i) {
                    const long r = pos[static_cast<size_t>(i)];
                    if (r >= 0) std::copy(gX.data() + (f * nk + r) * D, gX.data() + (f * nk + r + 1) * D,
                                          seed.data() + (i - lo) * D);
                }
                Tensor g = J[static_cast<size_t>(s)].transpose_apply(seed);  // [ns + 3, 3]
                const long col = k * d + f;
                for (long i = 0; i < ns + 3; ++i) {
                    const long row = i < ns ? lo + i : n + 3 * s + (i - ns);
                    for (long a = 0; a < 3; ++a) G.data()[(row * 3 + a) * P + col] = g[i * 3 + a];
                }
            }
        }
    }
    return G;
}

// ---------------------------------------------------------------------------- the model

LlprModel::LlprModel(std::shared_ptr<const SoapBpnn> model, nn::bpnn::CompositionModel composition,
                     nn::bpnn::EnergyScaler scaler, Llpr llpr, Tensor ensemble_weights)
    : model_(std::move(model)), composition_(std::move(composition)), scaler_(scaler), llpr_(std::move(llpr)),
      ensemble_(std::move(ensemble_weights)) {
    AD_CHECK(model_, "LlprModel: expected a model, got null");
    const long P = static_cast<long>(model_->species().size()) * model_->n_features();
    AD_CHECK(llpr_.n_features() == P, "LlprModel: expected a posterior over " << P << " last-layer features, got "
                                                                              << llpr_.n_features());
    AD_CHECK(!ensemble_.defined() || (ensemble_.ndim() == 2 && ensemble_.dim(1) == P && ensemble_.dim(0) >= 2),
             "LlprModel: expected ensemble weights [K >= 2, " << P << "], got " << ensemble_.shape());
}

Tensor LlprModel::last_layer_weights() const {
    ad::NoGrad no_grad;
    return ad::reshape(model_->last_layer_weights().detach() * scaler_.scale, {-1});  // [S d]
}

LlprModel LlprModel::fit(std::shared_ptr<const SoapBpnn> model, nn::bpnn::CompositionModel composition,
                         nn::bpnn::EnergyScaler scaler, const std::vector<desc::System>& train,
                         const std::vector<desc::System>& val, const LlprFitOptions& options, LlprFitInfo* info) {
    AD_CHECK(model, "llpr: expected a model, got null");
    AD_CHECK(!train.empty(), "llpr: expected training frames, got none");
    AD_CHECK(val.size() >= 2, "llpr: expected a validation set of at least 2 frames to calibrate alpha, got "
                                  << val.size() << "; one validation frame cannot calibrate alpha");
    AD_CHECK(options.num_ensemble_members == 0 || options.num_ensemble_members >= 2,
             "llpr: expected num_ensemble_members 0 (no ensemble) or >= 2, got " << options.num_ensemble_members);
    LlprFitInfo local;
    LlprFitInfo& inf = info ? *info : local;
    inf.n_train = static_cast<long>(train.size());
    inf.n_val = static_cast<long>(val.size());
    for (const auto& f : val) f.require_energy(options.energy_key);  // named error before any work

    auto t0 = std::chrono::steady_clock::now();
    LlprCovariance cov = soap_bpnn_llpr_covariance(*model, train, options.batch_size);
    inf.covariance_seconds = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    Llpr llpr = Llpr::fit(cov, options.regularizer);
    inf.fit_seconds = seconds_since(t0);

    // alpha from the validation residuals in eV (predicted minus reference total energies).
    t0 = std::chrono::steady_clock::now();
    const long P = cov.n_features(), nv = static_cast<long>(val.size());
    Tensor phi = Tensor::empty({nv, P}), e = Tensor::empty({nv});
    {
        ad::NoGrad no_grad;
        for_batches(*model, val, options.batch_size, [&](const Batch& b, size_t lo) {
            nn::bpnn::Output out = model->forward(b);
            Tensor base = composition.baseline(b);
            for (long s = 0; s < b.n_structures(); ++s) {
                const long row = static_cast<long>(lo) + s;
                std::copy(out.last_layer_features.data() + s * P, out.last_layer_features.data() + (s + 1) * P,
                          phi.data() + row * P);
                e.data()[row] = scaler.scale * out.energies[s] + base[s] -
                                val[static_cast<size_t>(row)].require_energy(options.energy_key);
            }
        });
    }
    llpr.calibrate(phi, e, options.calibration);
    inf.calibration_seconds = seconds_since(t0);

    t0 = std::chrono::steady_clock::now();
    LlprModel wrapped(model, composition, scaler, llpr);
    if (options.num_ensemble_members > 0) {
        ad::Rng rng(options.seed);
        wrapped.ensemble_ = llpr.sample_ensemble(wrapped.last_layer_weights(), options.num_ensemble_members, rng);
    }
    inf.ensemble_seconds = seconds_since(t0);
    return wrapped;
}

LlprPrediction LlprModel::predict(const std::vector<desc::System>& frames, EnsembleForces ensemble_forces) const {
    return predict(nn::bpnn::make_batch(frames, model_->hypers().cutoff), ensemble_forces);
}

LlprPrediction LlprModel::predict(const Batch& b, EnsembleForces ensemble_forces) const {
    const long n = b.n_atoms(), NS = b.n_structures(), K = n_members();
    const double scale = scaler_.scale;
    LlprPrediction p;
    nn::bpnn::Output out;
    {
        ad::NoGrad no_grad;
        out = model_->forward(b);
    }
    ad::NoGrad no_grad;
    Tensor base = composition_.baseline(b);  // [NS]
    p.energies = out.energies.detach() * scale + base;
    p.features = out.features.detach();
    p.last_layer_features = out.last_layer_features.detach();
    p.atom_last_layer_features = out.atom_last_layer_features.detach();
    p.energy_uncertainty = llpr_.sigma(p.last_layer_features);
    p.atom_energy_uncertainty = llpr_.sigma(p.atom_last_layer_features);
    if (K > 0) p.energy_ensemble = llpr_ensemble_predictions(p.last_layer_features, ensemble_) + ad::reshape(base, {NS, 1});

    if (K == 0 || ensemble_forces == EnsembleForces::no) {
        nn::bpnn::EnergyForcesStress efs = model_->energy_forces_stress(b, ad::CreateGraph::no);
        p.forces = efs.forces.detach() * scale;
        p.stress = efs.stress.detach() * scale;
        return p;
    }
    // Every member at once: F_k = -G W_k^T, stress_k = G_eps W_k^T / V (one product for all k).
    const long P = ensemble_.dim(1), rows = n + 3 * NS;
    Tensor Gm = ad::reshape(soap_bpnn_last_layer_jacobian(*model_, b), {rows * 3, P});
    Tensor Wall = ad::concat({ad::reshape(last_layer_weights(), {1, P}), ensemble_}, 0);  // [1 + K, P]
    Tensor dE = ad::matmul_nt(Gm, Wall);                                                 // [rows 3, 1 + K]
    p.forces = Tensor::empty({n, 3});
    p.forces_ensemble = Tensor::empty({n, 3, K});
    p.stress = Tensor::zeros({NS, 3, 3});
    p.stress_ensemble = Tensor::zeros({NS, 3, 3, K});
    for (long r = 0; r < 3 * n; ++r) {
        p.forces.data()[r] = -dE[r * (1 + K)];
        for (long k = 0; k < K; ++k) p.forces_ensemble.data()[r * K + k] = -dE[r * (1 + K) + 1 + k];
    }
    for (long s = 0; s < NS; ++s) {
        const double V = b.volumes[static_cast<size_t>(s)];
        if (!(V > 0)) continue;
        for (long c = 0; c < 9; ++c) {
            const long r = 3 * n + 9 * s + c;
            p.stress.data()[9 * s + c] = dE[r * (1 + K)] / V;
            for (long k = 0; k < K; ++k) p.stress_ensemble.data()[(9 * s + c) * K + k] = dE[r * (1 + K) + 1 + k] / V;
        }
    }
    // Spread of the members (unbiased: the members are centred on the model by construction).
    p.forces_uncertainty = Tensor::empty({n, 3});
    for (long r = 0; r < 3 * n; ++r) {
        const double* f = p.forces_ensemble.data() + r * K;
        double mean = 0, ss = 0;
        for (long k = 0; k < K; ++k) mean += f[k];
        mean /= static_cast<double>(K);
        for (long k = 0; k < K; ++k) ss += (f[k] - mean) * (f[k] - mean);
        p.forces_uncertainty.data()[r] = std::sqrt(ss / static_cast<double>(K - 1));
    }
    // The closed form the members sample: Var F_ia = alpha^2 G_ia (C + rI)^-1 G_ia^T.
    p.forces_llpr_uncertainty = ad::reshape(llpr_.sigma(ad::slice(Gm, 0, 0, 3 * n)), {n, 3});
    return p;
}

// ---------------------------------------------------------------------------- checkpoints

bool holds_llpr(const nn::Checkpoint& ckpt) { return ckpt.metadata.count(std::string(kPrefix) + "format") > 0; }

nn::Checkpoint without_llpr(const nn::Checkpoint& ckpt) {
    nn::Checkpoint c;
    c.path = ckpt.path;
    for (const auto& t : ckpt.tensors)
        if (t.first.rfind("llpr.", 0) != 0) c.tensors.push_back(t);
    for (const auto& [k, v] : ckpt.metadata)
        if (k.rfind("llpr.", 0) != 0) c.metadata[k] = v;
    return c;
}

std::shared_ptr<SoapBpnn> load_model_with_last_layer_features(const nn::Checkpoint& ckpt,
                                                              std::map<int, double>* composition_weights,
                                                              double* energy_scale) {
    const std::string where = ckpt.path.empty() ? "checkpoint" : ckpt.path;
    auto it = ckpt.metadata.find("architecture");
    const std::string arch = it == ckpt.metadata.end() ? "" : it->second;
    AD_CHECK(arch == "soap_bpnn", where << ": expected a model with last-layer features (architecture 'soap_bpnn'), got "
                                        << (arch.empty() ? std::string("a checkpoint without an architecture")
                                                         : "architecture '" + arch + "'")
                                        << "; LLPR needs the inputs of the energy's last layer");
    return SoapBpnn::from_checkpoint(without_llpr(ckpt), composition_weights, energy_scale);
}

nn::Checkpoint LlprModel::to_checkpoint() const {
    nn::Checkpoint c = model_->to_checkpoint(composition_.weights, scaler_.scale);
    nn::Checkpoint post = llpr_.to_checkpoint();
    c.add(kPrefix, post.tensors);
    for (const auto& [k, v] : post.metadata) c.metadata[kPrefix + k] = v;
    if (ensemble_.defined()) c.tensors.emplace_back(kEnsembleName, ensemble_);
    c.metadata["llpr.targets"] = "energy";
    return c;
}

LlprModel LlprModel::from_checkpoint(const nn::Checkpoint& ckpt) {
    const std::string where = ckpt.path.empty() ? "checkpoint" : ckpt.path;
    AD_CHECK(holds_llpr(ckpt), where << ": expected an LLPR-wrapped model (metadata 'llpr.energy.format'), got none");
    std::map<int, double> weights;
    double scale = 1.0;
    std::shared_ptr<SoapBpnn> model = load_model_with_last_layer_features(ckpt, &weights, &scale);
    nn::Checkpoint post;
    post.path = ckpt.path;
    const std::string prefix = kPrefix;
    for (const auto& t : ckpt.tensors)
        if (t.first.rfind(prefix, 0) == 0 && t.first != kEnsembleName) post.tensors.emplace_back(t.first.substr(prefix.size()), t.second);
    for (const auto& [k, v] : ckpt.metadata)
        if (k.rfind(prefix, 0) == 0) post.metadata[k.substr(prefix.size())] = v;
    Tensor ensemble = ckpt.has(kEnsembleName) ? ckpt.get(kEnsembleName) : Tensor();
    return LlprModel(model, nn::bpnn::CompositionModel{weights}, nn::bpnn::EnergyScaler{scale}, Llpr::from_checkpoint(post),
                     ensemble);
}

void LlprModel::save(const std::string& path) const { nn::save_checkpoint(path, to_checkpoint()); }

LlprModel LlprModel::load(const std::string& path) { return from_checkpoint(nn::load_checkpoint(path)); }

}  // namespace uq
