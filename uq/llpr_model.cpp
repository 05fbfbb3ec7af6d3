// The LLPR-wrapped SOAP-BPNN (see llpr_model.hpp; math and costs in docs/llpr.md).
#include "uq/llpr_model.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "autodiff/blas.hpp"
#include "autodiff/error.hpp"
#include "autodiff/graph.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/parallel.hpp"
#include "nn/atomistic/parallel.hpp"
#include "nn/atomistic/registry.hpp"
#include "nn/atomistic/zbl.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"
#include "nn/optim.hpp"
#include "uq/llpr_features.hpp"

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

/// Calls f(batch, frames_of_the_batch, first_frame) for consecutive batches of `batch_size` frames.
template <class F>
void for_batches(const nn::atomistic::AtomisticModel& model, const std::vector<desc::System>& frames, long batch_size, F&& f) {
    AD_CHECK(batch_size >= 1, "llpr: expected batch_size >= 1, got " << batch_size);
    const size_t bs = static_cast<size_t>(batch_size);
    for (size_t lo = 0; lo < frames.size(); lo += bs) {
        std::vector<desc::System> part(frames.begin() + static_cast<long>(lo),
                                       frames.begin() + static_cast<long>(std::min(frames.size(), lo + bs)));
        f(nn::bpnn::make_batch(part, model.cutoff()), part, lo);
    }
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

}  // namespace

// ---------------------------------------------------------------------------- covariance

namespace {

double row_mean(const double* x, long n) {
    double a[4] = {0, 0, 0, 0};
    long f = 0;
    for (; f + 4 <= n; f += 4)
        for (int q = 0; q < 4; ++q) a[q] += x[f + q];
    for (; f < n; ++f) a[0] += x[f];
    return ((a[0] + a[1]) + (a[2] + a[3])) / static_cast<double>(n);
}

double row_var(const double* x, long n, double m) {
    double a[4] = {0, 0, 0, 0};
    long f = 0;
    for (; f + 4 <= n; f += 4)
        for (int q = 0; q < 4; ++q) a[q] += (x[f + q] - m) * (x[f + q] - m);
    for (; f < n; ++f) a[0] += (x[f] - m) * (x[f] - m);
    return ((a[0] + a[1]) + (a[2] + a[3])) / static_cast<double>(n);
}

/// phi_s rows [n_structures, S d] of one batch written to out (no graph): the batch's SOAP values
/// in one Soap::compute_many (no per-structure tensors, no concatenation), then per species its
/// rows gathered and layer-normalised in one pass into one buffer, the hidden layers (and head) as
/// one matmul each, and the rows summed per structure into the species' block.
void batch_last_layer_features(const SoapBpnn& model, const std::vector<SpeciesNet>& nets, const Batch& b, double* out) {
    const long n = b.n_atoms(), NS = b.n_structures(), D = model.soap().n_features(), d = model.n_features();
    const long P = static_cast<long>(nets.size()) * d;
    std::vector<std::vector<int>> numbers(static_cast<size_t>(NS));
    std::vector<desc::Soap::Input> inputs(static_cast<size_t>(NS));
    for (long s = 0; s < NS; ++s) {
        const long lo = b.offsets[static_cast<size_t>(s)], hi = b.offsets[static_cast<size_t>(s) + 1];
        numbers[static_cast<size_t>(s)].assign(b.numbers.begin() + lo, b.numbers.begin() + hi);
        const Tensor& eps = b.strains[static_cast<size_t>(s)];
        inputs[static_cast<size_t>(s)] = {&numbers[static_cast<size_t>(s)], b.positions.data() + 3 * lo,
                                          &b.pairs[static_cast<size_t>(s)], eps.defined() ? eps.data() : nullptr};
    }
    const Tensor X = model.soap().compute_many(inputs, 1);  // [n, D]
    std::fill(out, out + NS * P, 0.0);
    for (size_t k = 0; k < nets.size(); ++k) {
        const int Z = model.species()[k];
        std::vector<long> idx;
        for (long i = 0; i < n; ++i)
            if (b.numbers[static_cast<size_t>(i)] == Z) idx.push_back(i);
        if (idx.empty()) continue;
        const long nz = static_cast<long>(idx.size());
        Tensor U = Tensor::empty({nz, D});
        const nn::LayerNorm* ln = nets[k].layernorm;
        const double* g = ln && ln->weight().defined() ? ln->weight().data() : nullptr;
        const double* be = ln && ln->bias().defined() ? ln->bias().data() : nullptr;
        for (long r = 0; r < nz; ++r) {
            const double* x = X.data() + idx[static_cast<size_t>(r)] * D;
            double* u = U.data() + r * D;
            if (!ln) {
                std::copy(x, x + D, u);
                continue;
            }
            const double m = row_mean(x, D), rs = 1.0 / std::sqrt(row_var(x, D, m) + ln->eps());
            if (g)
                for (long f = 0; f < D; ++f) u[f] = (x[f] - m) * rs * g[f] + be[f];
            else
                for (long f = 0; f < D; ++f) u[f] = (x[f] - m) * rs;
        }
        Tensor h = U;
        for (const nn::Linear* layer : nets[k].layers) h = ad::silu(layer->forward(h));  // [nz, d]
        AD_CHECK(h.dim(1) == d, "llpr: expected last-layer features of width " << d << ", got " << h.dim(1));
        for (long r = 0; r < nz; ++r) {
            const long i = idx[static_cast<size_t>(r)];
            double* o = out + b.structure[static_cast<size_t>(i)] * P + static_cast<long>(k) * d;
            const double* hr = h.data() + r * d;
            for (long f = 0; f < d; ++f) o[f] += hr[f];
        }
    }
}

}  // namespace

Tensor soap_bpnn_last_layer_features(const SoapBpnn& model, const std::vector<desc::System>& frames, long batch_size,
                                     std::vector<long>* n_atoms) {
    AD_CHECK(batch_size >= 1, "llpr: expected batch_size >= 1, got " << batch_size);
    const long P = static_cast<long>(model.species().size()) * model.n_features();
    const long n = static_cast<long>(frames.size());
    Tensor phi = Tensor::empty({n, P});
    if (n_atoms) n_atoms->assign(static_cast<size_t>(n), 0);
    const long n_batches = (n + batch_size - 1) / batch_size;
    // OpenBLAS's own threads split some reductions (dgemv): one thread on every thread count, so
    // the rows are the same bits for any nn::bpnn::num_threads() (restored below).
    struct OneBlasThread {
        int before = ad::blas::num_threads();
        OneBlasThread() { if (before != 1) ad::blas::set_num_threads(1); }
        ~OneBlasThread() { if (before != 1) ad::blas::set_num_threads(before); }
    } one_blas_thread;
    std::vector<SpeciesNet> nets;
    for (int Z : model.species()) nets.push_back(species_net(model, Z));
    ad::NoGrad no_grad;  // parallel_for runs every task with the caller's grad mode
    if (std::all_of(nets.begin(), nets.end(), [](const SpeciesNet& net) { return !net.layers.empty(); })) {
        // the fast kernel (uq/llpr_features.hpp): packed SOAP, LayerNorm folded into the first layer
        std::vector<SpeciesLayers> layers;
        for (const SpeciesNet& net : nets) layers.push_back({net.layernorm, net.layers});
        const LastLayerFeatureKernel kernel(model.soap(), model.species(), layers, model.hypers().cutoff);
        ad::parallel_for(n_batches, nn::bpnn::num_threads(), [&](long k) {
            const long lo = k * batch_size, hi = std::min(n, lo + batch_size);
            kernel.compute(frames.data() + lo, hi - lo, phi.data() + lo * P, n_atoms ? n_atoms->data() + lo : nullptr);
        });
        return phi;
    }
    ad::parallel_for(n_batches, nn::bpnn::num_threads(), [&](long k) {
        const long lo = k * batch_size, hi = std::min(n, lo + batch_size);
        std::vector<desc::System> part(frames.begin() + lo, frames.begin() + hi);
        const Batch b = nn::bpnn::make_batch(part, model.hypers().cutoff);
        batch_last_layer_features(model, nets, b, phi.data() + lo * P);
        if (n_atoms)
            for (long s = 0; s < hi - lo; ++s) (*n_atoms)[static_cast<size_t>(lo + s)] = b.offsets[s + 1] - b.offsets[s];
    });
    return phi;
}

LlprCovariance soap_bpnn_llpr_covariance(const SoapBpnn& model, const std::vector<desc::System>& frames,
                                         long batch_size) {
    AD_CHECK(!frames.empty(), "llpr: expected training frames, got none");
    const long P = static_cast<long>(model.species().size()) * model.n_features();
    LlprCovariance cov(P);
    std::vector<long> counts;
    const Tensor phi = soap_bpnn_last_layer_features(model, frames, batch_size, &counts);
    cov.add(phi, counts);  // phi_s / N_s, as the per-atom loss
    return cov;
}

// ---------------------------------------------------------------------------- d phi / dR
// G[j, a, (Z, f)] = d phi_{s, (Z, f)} / dR[j, a] = sum_{i in s, Z_i = Z} (d h_f / d a1)_i W_1 LN'_i dX_i / dR[j, a]
// (s the structure of j; a1 = W_1 u the first pre-activation, u = LayerNorm(X)). Per atom:
//   M_i = d h / d a1 [d, d1]: the SiLU chain in closed form, M = diag(s_m) W_m diag(s_m-1) ... W_2 diag(s_1),
//         s_l = SiLU'(a_l) (one hidden layer: M = diag(s_1), no product at all);
//   LN'_i dx = w rs (dx - mean(dx) - xh mean(dx xh)), xh = (X_i - mu) rs, so with Bw = W_1 diag(w)
//         W_1 LN'_i dx = rs (Bw dx - mean(dx) Bw 1 - mean(dx xh) Bw xh).
// SOAP's Jacobian is applied per structure in the cheaper direction:
//   forward: dX = J e_t for T directions: 3 n_s minus those the invariances give (translations:
//            the last atom's rows are minus the sum of the others'; molecules also rotations: atom
//            n_s-2 needs only its direction towards the last atom), T = 3 n_s - 5, plus 9 strain
//            entries when periodic; then one product [n_Z T, D] x [D, d1 + 1] per species block
//            and one [T, d1] x [d1, d] per atom;
//   reverse: column (Z, f) is one vector-Jacobian product of the rows Jh_i[f] = (M_i W_1 LN'_i)[f] of
//            the atoms of species Z (the other rows null, so only the pairs centred on species Z
//            are visited): S d products per structure, each over 1/S of the pairs.
// automatic takes forward when T < S_s d (small molecules), reverse otherwise. Neither depends on
// the number of ensemble members.

namespace {

double silu_grad(double x) {
    const double sg = 1.0 / (1.0 + std::exp(-x));
    return sg * (1.0 + x * (1.0 - sg));
}

// What the Jacobian needs of one species' network on its nk atoms.
struct SpeciesJacobian {
    long nk = 0, d1 = 0;
    Tensor X;      ///< [nk, D] SOAP rows
    Tensor M;      ///< [nk, d, d1] d h / d a1 per atom
    Tensor Bw;     ///< [d1 + 1, D] W_1 diag(w) (W_1 without layernorm), then a row 1 / D
    Tensor bw1;    ///< [d1] Bw 1
    Tensor bwx;    ///< [nk, d1] Bw xh_i
    std::vector<double> mu, rs;  ///< LayerNorm statistics per atom (rs = 1 without layernorm)
    Tensor Jh;     ///< [nk d, D] row r d + f = d h_f / dX of atom r (reverse structures only)
    Tensor h;      ///< [nk, d] the last layer's inputs f_i (the forward pass on the way)
};

SpeciesJacobian species_jacobian(const SpeciesNet& net, const Tensor& Xk, long d, bool need_jh) {
    SpeciesJacobian sj;
    sj.nk = Xk.dim(0);
    const long nk = sj.nk, D = Xk.dim(1);
    sj.X = Xk;
    const Tensor W1 = net.layers[0]->weight().detach();
    sj.d1 = W1.dim(0);
    const long d1 = sj.d1;
    // forward values a_l of every layer, then s_l = SiLU'(a_l)
    std::vector<Tensor> s_l;
    Tensor h = net.layernorm ? net.layernorm->forward(Xk) : Xk;
    for (const nn::Linear* layer : net.layers) {
        Tensor a = layer->forward(h);
        h = ad::silu(a);
        Tensor sg = Tensor::empty(a.shape());
        for (long q = 0; q < a.numel(); ++q) sg.data()[q] = silu_grad(a[q]);
        s_l.push_back(sg);
    }
    sj.h = h;
    const long m = static_cast<long>(net.layers.size());
    sj.M = Tensor::zeros({nk, d, d1});
    for (long r = 0; r < nk; ++r) {
        double* Mr = sj.M.data() + r * d * d1;
        if (m == 1) {
            for (long f = 0; f < d; ++f) Mr[f * d1 + f] = s_l[0][r * d + f];
            continue;
        }
        // T = diag(s_m) W_m, then T <- (T diag(s_l)) W_l for l = m-1 .. 2, then M = T diag(s_1)
        Tensor Wm = net.layers[static_cast<size_t>(m - 1)]->weight();
        long cols = Wm.dim(1);
        std::vector<double> T(static_cast<size_t>(d * cols));
        for (long f = 0; f < d; ++f)
            for (long c = 0; c < cols; ++c) T[static_cast<size_t>(f * cols + c)] = s_l[static_cast<size_t>(m - 1)][r * d + f] * Wm[f * cols + c];
        for (long l = m - 2; l >= 1; --l) {
            Tensor Wl = net.layers[static_cast<size_t>(l)]->weight();  // [cols, cols_next]
            const long next = Wl.dim(1);
            for (long f = 0; f < d; ++f)
                for (long c = 0; c < cols; ++c) T[static_cast<size_t>(f * cols + c)] *= s_l[static_cast<size_t>(l)][r * cols + c];
            std::vector<double> T2(static_cast<size_t>(d * next));
            ad::blas::gemm(false, false, d, next, cols, 1.0, T.data(), cols, Wl.data(), next, 0.0, T2.data(), next);
            T.swap(T2);
            cols = next;
        }
        for (long f = 0; f < d; ++f)
            for (long c = 0; c < d1; ++c) Mr[f * d1 + c] = T[static_cast<size_t>(f * d1 + c)] * s_l[0][r * d1 + c];
    }
    // LayerNorm statistics and the Bw products
    sj.mu.assign(static_cast<size_t>(nk), 0.0);
    sj.rs.assign(static_cast<size_t>(nk), 1.0);
    sj.Bw = Tensor::zeros({d1 + 1, D});  // W_1 diag(w), then a row 1 / D
    std::copy(W1.data(), W1.data() + d1 * D, sj.Bw.data());
    std::fill(sj.Bw.data() + d1 * D, sj.Bw.data() + (d1 + 1) * D, 1.0 / static_cast<double>(D));
    if (net.layernorm) {
        const double* w = net.layernorm->weight().data();
        for (long e = 0; e < d1; ++e)
            for (long c = 0; c < D; ++c) sj.Bw.data()[e * D + c] *= w[c];
        for (long r = 0; r < nk; ++r) {
            const double* x = Xk.data() + r * D;
            double mu = 0, var = 0;
            for (long c = 0; c < D; ++c) mu += x[c];
            mu /= static_cast<double>(D);
            for (long c = 0; c < D; ++c) var += (x[c] - mu) * (x[c] - mu);
            var /= static_cast<double>(D);
            sj.mu[static_cast<size_t>(r)] = mu;
            sj.rs[static_cast<size_t>(r)] = 1.0 / std::sqrt(var + net.layernorm->eps());
        }
        Tensor Bw = ad::slice(sj.Bw, 0, 0, d1);        // [d1, D]
        sj.bw1 = Tensor::zeros({d1});                  // Bw 1
        for (long e = 0; e < d1; ++e)
            for (long c = 0; c < D; ++c) sj.bw1.data()[e] += Bw[e * D + c];
        Tensor BwX = ad::matmul_nt(Xk, Bw);            // [nk, d1]
        sj.bwx = Tensor::empty({nk, d1});
        for (long r = 0; r < nk; ++r)
            for (long e = 0; e < d1; ++e)
                sj.bwx.data()[r * d1 + e] = sj.rs[static_cast<size_t>(r)] * (BwX[r * d1 + e] - sj.mu[static_cast<size_t>(r)] * sj.bw1[e]);
    }
    if (need_jh) {
        Tensor gu = ad::matmul(ad::reshape(sj.M, {nk * d, d1}), W1);  // [nk d, D]
        if (net.layernorm) {
            Tensor Xrep = Tensor::empty({nk * d, D});  // each atom's row d times
            for (long r = 0; r < nk; ++r)
                for (long f = 0; f < d; ++f) std::copy(Xk.data() + r * D, Xk.data() + (r + 1) * D, Xrep.data() + (r * d + f) * D);
            sj.Jh = ad::layer_norm_backward(gu, Xrep, net.layernorm->weight().detach(), net.layernorm->eps());
        } else {
            sj.Jh = gu;
        }
    }
    return sj;
}

}  // namespace

Tensor soap_bpnn_last_layer_jacobian(const SoapBpnn& model, const Batch& b, JacobianMode mode, Tensor* atom_features) {
    AD_CHECK(b.cutoff >= model.hypers().cutoff, "llpr: expected a batch built with cutoff >= " << model.hypers().cutoff
                                                                                            << ", got " << b.cutoff);
    const long n = b.n_atoms(), NS = b.n_structures(), D = model.soap().n_features(), d = model.n_features();
    const std::vector<int>& species = model.species();
    const long S = static_cast<long>(species.size()), P = S * d, rows = n + 3 * NS;
    ad::NoGrad no_grad;
    Tensor R = b.positions.detach().clone();
    Tensor X = Tensor::zeros({n, D});
    std::vector<long> kind(static_cast<size_t>(n), -1), row_in_kind(static_cast<size_t>(n), -1), n_kind(static_cast<size_t>(S), 0);
    for (long i = 0; i < n; ++i) {
        const long k = std::lower_bound(species.begin(), species.end(), b.numbers[static_cast<size_t>(i)]) - species.begin();
        AD_CHECK(k < S && species[static_cast<size_t>(k)] == b.numbers[static_cast<size_t>(i)],
                 "llpr: expected species of the model, got atomic number " << b.numbers[static_cast<size_t>(i)]);
        kind[static_cast<size_t>(i)] = k;
        row_in_kind[static_cast<size_t>(i)] = n_kind[static_cast<size_t>(k)]++;
    }
    // ---- SOAP values X [n, D] and their Jacobians (unstrained), one per structure
    std::vector<char> forward(static_cast<size_t>(NS));
    std::vector<char> needs_jh(static_cast<size_t>(S), 0);
    std::vector<desc::SoapJacobian> J(static_cast<size_t>(NS));
    for (long s = 0; s < NS; ++s) {
        const long lo = b.offsets[static_cast<size_t>(s)], hi = b.offsets[static_cast<size_t>(s) + 1], ns = hi - lo;
        std::vector<int> numbers(b.numbers.begin() + lo, b.numbers.begin() + hi);
        std::vector<char> present(static_cast<size_t>(S), 0);
        for (long i = lo; i < hi; ++i) present[static_cast<size_t>(kind[static_cast<size_t>(i)])] = 1;
        const long n_present = std::count(present.begin(), present.end(), 1);
        const bool periodic = b.volumes[static_cast<size_t>(s)] > 0;
        const long T = (periodic || ns < 3 ? 3 * (ns - 1) : 3 * ns - 5) + (periodic ? 9 : 0);
        const bool fwd = mode == JacobianMode::forward || (mode == JacobianMode::automatic && T < n_present * d);
        forward[static_cast<size_t>(s)] = fwd;
        if (!fwd)
            for (long k = 0; k < S; ++k) needs_jh[static_cast<size_t>(k)] |= present[static_cast<size_t>(k)];
        Tensor Xs = model.soap().compute(numbers, R.data() + 3 * lo, b.pairs[static_cast<size_t>(s)], nullptr,
                                         &J[static_cast<size_t>(s)]);
        std::copy(Xs.data(), Xs.data() + ns * D, X.data() + lo * D);
    }
    // ---- per species: the network's Jacobian pieces
    std::vector<SpeciesJacobian> sj(static_cast<size_t>(S));
    for (long k = 0; k < S; ++k) {
        if (n_kind[static_cast<size_t>(k)] == 0) continue;
        std::vector<long> idx;
        for (long i = 0; i < n; ++i)
            if (kind[static_cast<size_t>(i)] == k) idx.push_back(i);
        SpeciesNet net = species_net(model, species[static_cast<size_t>(k)]);
        AD_CHECK(!net.layers.empty(), "llpr: expected a model with hidden layers or an mlp head (its last-layer "
                                      "features would be the SOAP vector itself), got neither");
        sj[static_cast<size_t>(k)] = species_jacobian(net, ad::index_select(X, 0, idx), d, needs_jh[static_cast<size_t>(k)]);
    }
    if (atom_features) {  // f_i [n, d], atoms in batch order
        *atom_features = Tensor::empty({n, d});
        for (long i = 0; i < n; ++i) {
            const double* hk = sj[static_cast<size_t>(kind[static_cast<size_t>(i)])].h.data();
            const long r = row_in_kind[static_cast<size_t>(i)];
            std::copy(hk + r * d, hk + (r + 1) * d, atom_features->data() + i * d);
        }
    }
    // ---- G per structure
    Tensor G = Tensor::zeros({rows, 3, P});
    double* g_out = G.data();
    for (long s = 0; s < NS; ++s) {
        const long lo = b.offsets[static_cast<size_t>(s)], hi = b.offsets[static_cast<size_t>(s) + 1], ns = hi - lo;
        if (forward[static_cast<size_t>(s)]) {
            // Invariances cut the directions: translations (sum_j g_j = 0, g_j = dX/dR_j) give the last
            // atom's rows; for a molecule (not periodic: rotating the atoms inside a fixed cell is
            // not a symmetry) rotations about the last atom (sum_j (R_j - R_last) x g_j = 0) give
            // atom ns-2's rows but for their component along u = R_{ns-2} - R_last, one more
            // direction: T = 3 n_s - 5 (22 for ethanol) instead of 3 n_s.
            const bool periodic = b.volumes[static_cast<size_t>(s)] > 0, rotations = !periodic && ns >= 3;
            const long Tp = rotations ? 3 * ns - 5 : 3 * (ns - 1), T = Tp + (periodic ? 9 : 0);
            const double* Rs = R.data() + 3 * lo;
            double u[3] = {0, 0, 0}, u2 = 0;
            if (rotations)
                for (long a = 0; a < 3; ++a) {
                    u[a] = Rs[3 * (ns - 2) + a] - Rs[3 * (ns - 1) + a];
                    u2 += u[a] * u[a];
                }
            // G's flat row of direction t (the u direction is parked in atom ns-2's x row)
            auto t_index = [&](long t) { return t < Tp ? 3 * lo + t : 3 * (n + 3 * s) + (t - Tp); };
            // dX[slot(i), t, :] = (J e_t)[i]: atoms grouped by species, so that the rows of one
            // species form one [n_ks T, D] block and take one product with its Bw.
            std::vector<long> order;  // local atoms, species by species
            for (long k = 0; k < S; ++k)
                for (long i = 0; i < ns; ++i)
                    if (kind[static_cast<size_t>(lo + i)] == k) order.push_back(i);
            std::vector<long> slot(static_cast<size_t>(ns));
            for (long q = 0; q < ns; ++q) slot[static_cast<size_t>(order[static_cast<size_t>(q)])] = q;
            Tensor dX = Tensor::empty({ns, T, D});
            std::vector<double> dir(static_cast<size_t>(3 * (ns + 3)), 0.0);  // dx [ns, 3], then deps [3, 3]
            std::vector<double*> out_rows(static_cast<size_t>(ns));
            for (long t = 0; t < T; ++t) {
                if (rotations && t == Tp - 1) {
                    for (long a = 0; a < 3; ++a) dir[static_cast<size_t>(3 * (ns - 2) + a)] = u[a] / std::sqrt(u2);
                } else {
                    dir[static_cast<size_t>(t < Tp ? t : 3 * ns + (t - Tp))] = 1.0;
                }
                for (long i = 0; i < ns; ++i) out_rows[static_cast<size_t>(i)] = dX.data() + (slot[static_cast<size_t>(i)] * T + t) * D;
                J[static_cast<size_t>(s)].apply_rows(dir.data(), dir.data() + 3 * ns, out_rows.data());
                std::fill(dir.begin(), dir.end(), 0.0);
            }
            for (long q0 = 0; q0 < ns && T > 0;) {
                const long k = kind[static_cast<size_t>(lo + order[static_cast<size_t>(q0)])];
                long q1 = q0;
                while (q1 < ns && kind[static_cast<size_t>(lo + order[static_cast<size_t>(q1)])] == k) ++q1;
                const SpeciesJacobian& q = sj[static_cast<size_t>(k)];
                const long d1 = q.d1, w = d1 + 1, m = (q1 - q0) * T;
                // [Bw dx, mean(dx)] for every row of the species at once (Bw's extra row is 1 / D)
                std::vector<double> out(static_cast<size_t>(m * w)), da1(static_cast<size_t>(T * d1)), Gi(static_cast<size_t>(T * d));
                ad::blas::gemm(false, true, m, w, D, 1.0, dX.data() + q0 * T * D, D, q.Bw.data(), D, 0.0, out.data(), w);
                for (long qq = q0; qq < q1; ++qq) {
                    const long i = order[static_cast<size_t>(qq)], r = row_in_kind[static_cast<size_t>(lo + i)];
                    const double* Ai = dX.data() + qq * T * D;  // [T, D]
                    const double rs = q.rs[static_cast<size_t>(r)], mu = q.mu[static_cast<size_t>(r)];
                    std::vector<double> mx(static_cast<size_t>(T), 0.0);  // mean(dx X_i)
                    if (q.bw1.defined())
                        ad::blas::gemm(false, true, T, 1, D, 1.0 / static_cast<double>(D), Ai, D, q.X.data() + r * D, D, 0.0,
                                       mx.data(), 1);
                    for (long t = 0; t < T; ++t) {
                        const double* o = out.data() + ((qq - q0) * T + t) * w;
                        double* v = da1.data() + t * d1;
                        if (!q.bw1.defined()) {
                            std::copy(o, o + d1, v);
                            continue;
                        }
                        const double m1 = o[d1], m2 = (mx[static_cast<size_t>(t)] - mu * m1) * rs;  // mean(dx), mean(dx xh)
                        const double* bwx = q.bwx.data() + r * d1;
                        for (long e = 0; e < d1; ++e) v[e] = rs * (o[e] - m1 * q.bw1[e] - m2 * bwx[e]);
                    }
                    ad::blas::gemm(false, true, T, d, d1, 1.0, da1.data(), d1, q.M.data() + r * d * d1, d1, 0.0, Gi.data(), d);
                    for (long t = 0; t < T; ++t)
                        for (long f = 0; f < d; ++f) g_out[t_index(t) * P + k * d + f] += Gi[static_cast<size_t>(t * d + f)];
                }
                q0 = q1;
            }
            if (rotations) {  // g_{ns-2} = (g . u/|u|) u/|u| + (v x u) / |u|^2, v = -sum_{j < ns-2} (R_j - R_last) x g_j
                double* gm = g_out + 3 * (lo + ns - 2) * P;  // rows a = 0, 1, 2 of atom ns-2
                for (long c = 0; c < P; ++c) {
                    double v[3] = {0, 0, 0};
                    for (long j = 0; j < ns - 2; ++j) {
                        double rj[3], g[3];
                        for (long a = 0; a < 3; ++a) {
                            rj[a] = Rs[3 * j + a] - Rs[3 * (ns - 1) + a];
                            g[a] = g_out[(3 * (lo + j) + a) * P + c];
                        }
                        v[0] -= rj[1] * g[2] - rj[2] * g[1];
                        v[1] -= rj[2] * g[0] - rj[0] * g[2];
                        v[2] -= rj[0] * g[1] - rj[1] * g[0];
                    }
                    const double along = gm[c] / std::sqrt(u2);  // (g . u/|u|) / |u|
                    const double perp[3] = {(v[1] * u[2] - v[2] * u[1]) / u2, (v[2] * u[0] - v[0] * u[2]) / u2,
                                            (v[0] * u[1] - v[1] * u[0]) / u2};
                    for (long a = 0; a < 3; ++a) gm[a * P + c] = along * u[a] + perp[a];
                }
            }
            for (long j = 0; j < ns - 1; ++j)  // the last atom: minus the sum of the others
                for (long c = 0; c < 3 * P; ++c) g_out[(3 * (lo + ns - 1)) * P + c] -= g_out[(3 * (lo + j)) * P + c];
            continue;
        }
        auto g_index = [&](long t) { return t < 3 * ns ? 3 * lo + t : 3 * (n + 3 * s) + (t - 3 * ns); };
        std::vector<const double*> g_rows(static_cast<size_t>(ns));
        std::vector<double> g(static_cast<size_t>(3 * (ns + 3)));
        for (long k = 0; k < S; ++k) {
            bool any = false;
            for (long i = 0; i < ns; ++i) any = any || kind[static_cast<size_t>(lo + i)] == k;
            if (!any) continue;
            const double* jh = sj[static_cast<size_t>(k)].Jh.data();
            for (long f = 0; f < d; ++f) {
                // rows of the atoms of species k (the others null: their pairs are skipped)
                for (long i = 0; i < ns; ++i)
                    g_rows[static_cast<size_t>(i)] = kind[static_cast<size_t>(lo + i)] == k
                                                       ? jh + (row_in_kind[static_cast<size_t>(lo + i)] * d + f) * D
                                                       : nullptr;
                J[static_cast<size_t>(s)].transpose_apply_rows(g_rows.data(), g.data());  // [ns + 3, 3]
                for (long t = 0; t < 3 * ns + 9; ++t) g_out[g_index(t) * P + k * d + f] = g[static_cast<size_t>(t)];
            }
        }
    }
    return G;
}

// ---------------------------------------------------------------------------- ensemble training

namespace {

// Per-structure rows of a split: phi_s [n, P], per-atom targets t_s = (E*_s - b_s) / N_s with b_s
// the terms outside the last layer (composition, ZBL, and for a model whose network energy is not
// exactly phi w^T, e.g. PET's last-layer biases, the rest u_s = scale (E_s - phi_s w^T)), and 1 / N_s.
// The force targets likewise lose the rest's forces scale (F_net + G w^T). With forces: the atom rows
// of the last-layer Jacobian G [3 n_atoms, P] (d phi_s / dR_ia), the force targets F*_ia minus
// the ZBL forces [3 n_atoms], and the first atom of each structure (offsets [n + 1]).
struct EnsembleData {
    Tensor phi, target, inv_atoms;
    Tensor G, force_target;
    std::vector<long> offsets;
    bool has_forces() const { return G.defined(); }
};

EnsembleData ensemble_data(const nn::atomistic::AtomisticModel& model, const nn::bpnn::CompositionModel& composition,
                           double scale, const std::vector<desc::System>& frames, const LlprFitOptions& o, bool forces) {
    const long P = model.n_last_layer_features(), n = static_cast<long>(frames.size());
    EnsembleData d{Tensor::empty({n, P}), Tensor::empty({n}), Tensor::empty({n, 1}), {}, {}, {0}};
    std::vector<Tensor> G_parts, F_parts;
    const SoapBpnn* bpnn = dynamic_cast<const SoapBpnn*>(&model);
    ad::NoGrad no_grad;
    const Tensor w_model = ad::reshape(model.last_layer_weights().detach(), {P, 1});
    for_batches(model, frames, o.batch_size, [&](const Batch& b, const std::vector<desc::System>& part, size_t lo) {
        const nn::bpnn::Output out = model.forward(b);
        Tensor phi = out.last_layer_features;
        Tensor base = composition.baseline(b);
        nn::bpnn::EnergyForcesStress zbl;
        if (model.has_zbl()) zbl = nn::bpnn::zbl_baseline(part);
        if (zbl.energies.defined()) base = base + zbl.energies;
        if (!bpnn)  // the rest u_s of the network energy outside phi w^T (0 for SoapBpnn by construction)
            base = base + scale * (out.energies - ad::reshape(ad::matmul(phi, w_model), {-1}));
        for (long s = 0; s < b.n_structures(); ++s) {
            const long row = static_cast<long>(lo) + s;
            const long N = b.offsets[static_cast<size_t>(s) + 1] - b.offsets[static_cast<size_t>(s)];
            std::copy(phi.data() + s * P, phi.data() + (s + 1) * P, d.phi.data() + row * P);
            d.target.data()[row] = (part[static_cast<size_t>(s)].require_energy(o.energy_key) - base[s]) / static_cast<double>(N);
            d.inv_atoms.data()[row] = 1.0 / static_cast<double>(N);
            d.offsets.push_back(d.offsets.back() + N);
        }
        if (!forces) return;
        const long na = b.n_atoms();
        Tensor G = bpnn ? soap_bpnn_last_layer_jacobian(*bpnn, b) : last_layer_jacobian(model, b);
        G_parts.push_back(ad::reshape(ad::slice(G, 0, 0, na), {3 * na, P}));
        std::vector<Tensor> ref;
        for (const auto& f : part) ref.push_back(f.require_forces(o.forces_key));
        Tensor F = ad::concat(ref, 0);  // [na, 3]
        if (zbl.forces.defined()) F = F - zbl.forces;
        if (!bpnn) {  // the rest's forces: scale (F_net + G w^T)
            const Tensor F_net = model.energy_forces_stress(b, ad::CreateGraph::no).forces.detach();
            F = F - scale * (F_net + ad::reshape(ad::matmul(G_parts.back(), w_model), {na, 3}));
        }
        F_parts.push_back(ad::reshape(F, {3 * na}));
    });
    if (forces) {
        d.G = ad::concat(G_parts, 0);
        d.force_target = ad::concat(F_parts, 0);
    }
    return d;
}

/// Whether every frame has the per-atom column `key`.
bool all_have_forces(const std::vector<desc::System>& frames, const std::string& key) {
    if (key.empty() || frames.empty()) return false;
    for (const auto& f : frames)
        if (!f.find_array(key)) return false;
    return true;
}

// The training loss on rows idx of d (all rows when idx is null) for weights W [K, P]:
// energy_weight L(phi W^T / N, t) (+ forces_weight L_F(-G W^T, F*) with forces).
Tensor split_loss(const EnsembleData& d, const Tensor& W, const std::vector<long>* idx, const LlprFitOptions& o) {
    Tensor phi = idx ? ad::index_select(d.phi, 0, *idx) : d.phi;
    Tensor t = idx ? ad::index_select(d.target, 0, *idx) : d.target;
    Tensor inv = idx ? ad::index_select(d.inv_atoms, 0, *idx) : d.inv_atoms;
    Tensor loss = o.energy_weight * ensemble_loss(o.loss, ad::matmul_nt(phi, W) * inv, t);
    if (!d.has_forces()) return loss;
    Tensor G = d.G, F = d.force_target;
    if (idx) {
        std::vector<long> rows;
        for (long s : *idx)
            for (long r = 3 * d.offsets[static_cast<size_t>(s)]; r < 3 * d.offsets[static_cast<size_t>(s) + 1]; ++r) rows.push_back(r);
        G = ad::index_select(G, 0, rows);
        F = ad::index_select(F, 0, rows);
    }
    return loss + o.forces_weight * ensemble_loss(o.forces_loss, ad::neg(ad::matmul_nt(G, W)), F);
}

}  // namespace

EnsembleLoss parse_ensemble_loss(const std::string& name) {
    if (name == "gaussian_nll_ensemble") return EnsembleLoss::gaussian_nll;
    if (name == "gaussian_crps_ensemble") return EnsembleLoss::gaussian_crps;
    if (name == "empirical_crps_ensemble") return EnsembleLoss::empirical_crps;
    AD_FAIL("llpr: expected loss 'gaussian_nll_ensemble', 'gaussian_crps_ensemble' or 'empirical_crps_ensemble', got '"
            << name << "'");
}

const char* to_string(EnsembleLoss loss) {
    switch (loss) {
        case EnsembleLoss::gaussian_crps: return "gaussian_crps_ensemble";
        case EnsembleLoss::empirical_crps: return "empirical_crps_ensemble";
        default: return "gaussian_nll_ensemble";
    }
}

// mu, v (1/(K-1)) over the members; the constant 1/2 log 2 pi of the NLL left out (as torch's
// GaussianNLLLoss). The Gaussian CRPS is written with gelu(z) = z Phi(z):
// z (2 Phi - 1) + 2 phi = 2 gelu(z) - z + 2 phi(z), so it has autodiff's derivatives of every order.
Tensor ensemble_loss(EnsembleLoss loss, const Tensor& y, const Tensor& t) {
    AD_CHECK(y.ndim() == 2 && y.dim(1) >= 2 && t.ndim() == 1 && t.dim(0) == y.dim(0),
             "llpr: ensemble_loss expected predictions [n, K >= 2] and targets [n], got " << y.shape() << " and "
                                                                                          << t.shape());
    const long n = y.dim(0), K = y.dim(1);
    if (loss == EnsembleLoss::empirical_crps) {
        // sum_kl |y_k - y_l| = 2 sum_k (2 rank_k - K + 1) y_k (rank_k from 0 in the row's sorted
        // order): O(K log K) per row instead of K^2 pairs; the ranks are constants (|.|'' = 0)
        Tensor coef = Tensor::empty({n, K});
        std::vector<long> order(static_cast<size_t>(K));
        for (long i = 0; i < n; ++i) {
            const double* yi = y.data() + i * K;
            for (long k = 0; k < K; ++k) order[static_cast<size_t>(k)] = k;
            std::sort(order.begin(), order.end(), [&](long a, long b) { return yi[a] < yi[b]; });
            for (long j = 0; j < K; ++j) coef.data()[i * K + order[static_cast<size_t>(j)]] = static_cast<double>(2 * j - K + 1);
        }
        Tensor crps = ad::mean(ad::abs(y - ad::reshape(t, {n, 1})), {1}) -
                      ad::sum(y * coef, {1}) / static_cast<double>(K * K);
        return ad::mean(crps);
    }
    Tensor mu = ad::mean(y, {1}, true);                                             // [n, 1]
    Tensor var = ad::sum(ad::square(y - mu), {1}) / static_cast<double>(K - 1);     // [n]
    Tensor r = t - ad::reshape(mu, {n});
    if (loss == EnsembleLoss::gaussian_nll) return ad::mean(0.5 * (ad::log(var) + ad::square(r) / var));
    Tensor sd = ad::sqrt(var), z = r / sd;
    Tensor phi = ad::exp(-0.5 * ad::square(z)) / std::sqrt(2.0 * M_PI);
    return ad::mean(sd * (2.0 * ad::gelu(z) - z + 2.0 * phi - 1.0 / std::sqrt(M_PI)));
}

Tensor train_llpr_ensemble(const nn::atomistic::AtomisticModel& model, const nn::bpnn::CompositionModel& composition,
                           const nn::bpnn::EnergyScaler& scaler, const Llpr& llpr,
                           const Tensor& w, const std::vector<desc::System>& train, const std::vector<desc::System>& val,
                           const Tensor& W0, const LlprFitOptions& o, LlprFitInfo* info) {
    AD_CHECK(W0.defined() && W0.ndim() == 2 && W0.dim(0) >= 2,
             "llpr: expected an ensemble (num_ensemble_members >= 2) to train, got none");
    AD_CHECK(o.learning_rate > 0, "llpr: expected learning_rate > 0, got " << o.learning_rate);
    if (o.forces_required)
        for (const auto& f : train) f.require_forces(o.forces_key);  // named error before any work
    const bool forces = o.forces_weight > 0 && all_have_forces(train, o.forces_key);
    const EnsembleData tr = ensemble_data(model, composition, scaler.scale, train, o, forces),
                       va = ensemble_data(model, composition, scaler.scale, val, o,
                                          forces && all_have_forces(val, o.forces_key));
    // Adam works on whitened coordinates: W = w + alpha Z L^T (L L^T = (C + rI)^-1), so the sampled
    // members have Z ~ N(0, I) and a step of lr moves every posterior direction by the same
    // fraction of its spread (on W itself one lr would be huge along the well-determined directions).
    const long P = W0.dim(1);
    ad::NoGrad no_grad_setup;
    Tensor lt = ad::transpose(llpr.inverse_sqrt()) * llpr.alpha();  // alpha L^T [P, P]
    Tensor lam = llpr.eigenvalues();
    Tensor unwhiten = Tensor::empty({P, P});  // (alpha L^T)^-1 = Q diag(sqrt(max(lambda, 0) + r)) / alpha
    const double r = llpr.regularizer().value;
    for (long a = 0; a < P; ++a)
        for (long k = 0; k < P; ++k)
            unwhiten.data()[a * P + k] = llpr.eigenvectors()[a * P + k] * std::sqrt(std::max(lam[k], 0.0) + r) / llpr.alpha();
    Tensor wrow = ad::reshape(w, {1, P});
    Tensor Z = ad::matmul(W0 - wrow, unwhiten).set_requires_grad(true);  // [K, P]
    auto weights = [&](const Tensor& z) { return wrow + ad::matmul(z, lt); };
    ad::GradMode grad_on(true);
    nn::Adam adam({Z}, o.learning_rate);
    ad::Rng rng(o.seed + 1);
    const long n = tr.phi.dim(0), bs = std::min(o.batch_size, n);
    auto val_loss = [&] {
        ad::NoGrad no_grad;
        return split_loss(va, weights(Z.detach()), nullptr, o).item();
    };
    double best = val_loss();
    Tensor best_W = W0.clone();
    if (info) {
        ad::NoGrad no_grad;
        info->train_nll = {split_loss(tr, W0, nullptr, o).item()};
        info->val_nll = {best};
        info->best_epoch = 0;
        info->used_forces = forces;
    }
    for (long epoch = 1; epoch <= o.num_epochs; ++epoch) {
        std::vector<long> order = rng.permutation(n);
        double sum = 0;
        long steps = 0;
        for (long lo = 0; lo < n; lo += bs) {
            std::vector<long> idx(order.begin() + lo, order.begin() + std::min(n, lo + bs));
            if (idx.size() < 2 && n >= 2) continue;  // one structure says nothing about a spread
            Tensor loss = split_loss(tr, weights(Z), &idx, o);
            adam.zero_grad();
            ad::backward(loss, {Z});
            adam.step();
            sum += loss.item();
            ++steps;
        }
        const double v = val_loss();
        if (info) {
            info->train_nll.push_back(steps ? sum / static_cast<double>(steps) : 0.0);
            info->val_nll.push_back(v);
        }
        if (v < best) {
            best = v;
            ad::NoGrad no_grad;
            best_W = weights(Z.detach()).clone();
            if (info) info->best_epoch = epoch;
        }
    }
    return best_W;
}

// ---------------------------------------------------------------------------- the model

namespace {

// Terms outside the network (ZBL) added to the prediction and to every member (they have no
// last-layer weights, hence no uncertainty): a [n_s], forces [n, 3], stress [n_s, 3, 3].
void add_terms(LlprPrediction& p, const nn::bpnn::EnergyForcesStress& a) {
    if (a.energies.defined()) {
        p.energies = p.energies + a.energies;
        if (p.energy_ensemble.defined()) p.energy_ensemble = p.energy_ensemble + ad::reshape(a.energies, {-1, 1});
    }
    if (a.forces.defined()) {
        p.forces = p.forces + a.forces;
        if (p.forces_ensemble.defined()) p.forces_ensemble = p.forces_ensemble + ad::reshape(a.forces, {-1, 3, 1});
    }
    if (a.stress.defined()) {
        p.stress = p.stress + a.stress;
        if (p.stress_ensemble.defined()) p.stress_ensemble = p.stress_ensemble + ad::reshape(a.stress, {-1, 3, 3, 1});
    }
}

}  // namespace

LlprModel::LlprModel(std::shared_ptr<const nn::atomistic::AtomisticModel> model, nn::bpnn::CompositionModel composition,
                     nn::bpnn::EnergyScaler scaler, Llpr llpr, Tensor ensemble_weights)
    : model_(std::move(model)), composition_(std::move(composition)), scaler_(scaler), llpr_(std::move(llpr)),
      ensemble_(std::move(ensemble_weights)) {
    AD_CHECK(model_, "LlprModel: expected a model, got null");
    const long P = model_->n_last_layer_features();
    AD_CHECK(llpr_.n_features() == P, "LlprModel: expected a posterior over " << P << " last-layer features, got "
                                                                              << llpr_.n_features());
    AD_CHECK(!ensemble_.defined() || (ensemble_.ndim() == 2 && ensemble_.dim(1) == P && ensemble_.dim(0) >= 2),
             "LlprModel: expected ensemble weights [K >= 2, " << P << "], got " << ensemble_.shape());
}

Tensor LlprModel::last_layer_weights() const {
    ad::NoGrad no_grad;
    return ad::reshape(model_->last_layer_weights().detach() * scaler_.scale, {-1});  // [S d]
}

UncertaintyMethod parse_uncertainty_method(const std::string& name) {
    if (name == "llpr") return UncertaintyMethod::llpr;
    if (name == "laplace") return UncertaintyMethod::laplace;
    AD_FAIL("llpr: expected uncertainty_method 'llpr' or 'laplace', got '" << name << "'");
}

const char* to_string(UncertaintyMethod method) { return method == UncertaintyMethod::laplace ? "laplace" : "llpr"; }

LlprModel LlprModel::fit(std::shared_ptr<const nn::atomistic::AtomisticModel> model, nn::bpnn::CompositionModel composition,
                         nn::bpnn::EnergyScaler scaler, const std::vector<desc::System>& train,
                         const std::vector<desc::System>& val, const LlprFitOptions& options, LlprFitInfo* info) {
    const bool laplace = options.uncertainty_method == UncertaintyMethod::laplace;
    AD_CHECK(model, "llpr: expected a model, got null");
    AD_CHECK(!train.empty(), "llpr: expected training frames, got none");
    AD_CHECK(laplace || val.size() >= 2, "llpr: expected a validation set of at least 2 frames to calibrate alpha, got "
                                             << val.size() << "; one validation frame cannot calibrate alpha");
    AD_CHECK(options.num_epochs == 0 || val.size() >= 2,
             "llpr: expected a validation set of at least 2 frames to select the trained ensemble (num_epochs = "
                 << options.num_epochs << "), got " << val.size());
    AD_CHECK(options.num_ensemble_members == 0 || options.num_ensemble_members >= 2,
             "llpr: expected num_ensemble_members 0 (no ensemble) or >= 2, got " << options.num_ensemble_members);
    AD_CHECK(options.num_epochs == 0 || options.num_ensemble_members >= 2,
             "llpr: expected num_ensemble_members >= 2 to train the ensemble weights (num_epochs = "
                 << options.num_epochs << "), got " << options.num_ensemble_members);
    AD_CHECK(laplace || !options.include_noise.value_or(false),
             "llpr: expected include_noise only with uncertainty_method 'laplace' (the noise sigma comes from its "
             "marginal likelihood), got include_noise = true with 'llpr'");
    AD_CHECK(options.energy_weight >= 0 && options.forces_weight >= 0,
             "llpr: expected loss weights >= 0, got energy " << options.energy_weight << ", forces " << options.forces_weight);
    if (options.num_epochs > 0 || laplace)
        for (const auto& f : train) f.require_energy(options.energy_key);
    LlprFitInfo local;
    LlprFitInfo& inf = info ? *info : local;
    inf.n_train = static_cast<long>(train.size());
    inf.n_val = laplace ? 0 : static_cast<long>(val.size());
    if (!laplace || options.num_epochs > 0)
        for (const auto& f : val) f.require_energy(options.energy_key);  // named error before any work

    // phi_s [n, P] and residuals e_s = E_s - E*_s in eV (physical prediction against the reference)
    const auto residuals = [&](const std::vector<desc::System>& frames, Tensor& phi, Tensor& e) {
        const long P = model->last_layer_weights().numel(), n = static_cast<long>(frames.size());
        phi = Tensor::empty({n, P});
        e = Tensor::empty({n});
        ad::NoGrad no_grad;
        for_batches(*model, frames, options.batch_size, [&](const Batch& b, const std::vector<desc::System>& part, size_t lo) {
            nn::bpnn::Output out = model->forward(b);
            Tensor base = composition.baseline(b);
            if (model->has_zbl()) base = base + nn::bpnn::zbl_baseline(part).energies;  // as predict_frames
            for (long s = 0; s < b.n_structures(); ++s) {
                const long row = static_cast<long>(lo) + s;
                std::copy(out.last_layer_features.data() + s * P, out.last_layer_features.data() + (s + 1) * P,
                          phi.data() + row * P);
                e.data()[row] = scaler.scale * out.energies[s] + base[s] -
                                frames[static_cast<size_t>(row)].require_energy(options.energy_key);
            }
        });
    };

    auto t0 = std::chrono::steady_clock::now();
    LlprCovariance cov = llpr_covariance(*model, train, options.batch_size);
    inf.covariance_seconds = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    Llpr llpr = Llpr::fit(cov, laplace ? std::nullopt : options.regularizer);
    inf.fit_seconds = seconds_since(t0);

    LlprLaplaceHypers hypers;
    t0 = std::chrono::steady_clock::now();
    if (laplace) {
        // Per-atom training residuals t_s - g_s w_e = -(E_s - E*_s) / N_s (eV/atom), |w_e|^2; the
        // evidence from the eigenvalues of C; then C + r I with r = sigma^2 tau and alpha = sigma.
        Tensor phi, e;
        residuals(train, phi, e);
        double sse = 0.0;
        for (long s = 0; s < e.numel(); ++s) {
            const double r = e.data()[s] / static_cast<double>(train[static_cast<size_t>(s)].numbers.size());
            sse += r * r;
        }
        const Tensor w = ad::reshape(model->last_layer_weights().detach() * scaler.scale, {-1});
        double w2 = 0.0;
        for (long k = 0; k < w.numel(); ++k) w2 += w.data()[k] * w.data()[k];
        const LinearEvidence ev = maximize_linear_evidence(llpr.eigenvalues(), e.numel(), sse, w2);
        hypers = {ev.tau, ev.sigma, ev.lml, ev.gamma, e.numel(), sse, w2};
        llpr = Llpr::fit(cov, ev.regularizer);
        llpr.set_alpha(ev.sigma);
    } else {
        // alpha from the validation residuals in eV (predicted minus reference total energies).
        Tensor phi, e;
        residuals(val, phi, e);
        llpr.calibrate(phi, e, options.calibration);
    }
    inf.calibration_seconds = seconds_since(t0);

    t0 = std::chrono::steady_clock::now();
    LlprModel wrapped(model, composition, scaler, llpr);
    wrapped.method_ = options.uncertainty_method;
    wrapped.laplace_ = hypers;
    wrapped.include_noise_ = options.include_noise.value_or(laplace);
    if (options.num_ensemble_members > 0) {
        ad::Rng rng(options.seed);
        wrapped.ensemble_ = llpr.sample_ensemble(wrapped.last_layer_weights(), options.num_ensemble_members, rng);
    }
    if (options.num_epochs > 0)
        wrapped.ensemble_ = train_llpr_ensemble(*model, composition, scaler, llpr, wrapped.last_layer_weights(), train, val,
                                                wrapped.ensemble_, options, &inf);
    inf.ensemble_seconds = seconds_since(t0);
    return wrapped;
}

LlprPrediction LlprModel::predict(const std::vector<desc::System>& frames, EnsembleForces ensemble_forces) const {
    nn::bpnn::EnergyForcesStress additive;
    if (model_->has_zbl()) additive = nn::bpnn::zbl_baseline(frames);
    return predict(nn::bpnn::make_batch(frames, model_->cutoff()), ensemble_forces, additive);
}

LlprPrediction LlprModel::predict(const Batch& b, EnsembleForces ensemble_forces,
                                  const nn::bpnn::EnergyForcesStress& additive) const {
    AD_CHECK(!model_->has_zbl() || additive.energies.defined(),
             "llpr: expected the ZBL terms of the batch for a model with zbl = true; predict from the frames");
    const long n = b.n_atoms(), NS = b.n_structures(), K = n_members();
    const double scale = scaler_.scale;
    LlprPrediction p;
    ad::NoGrad no_grad;
    Tensor base = composition_.baseline(b);  // [NS]
    const bool member_forces = K > 0 && ensemble_forces == EnsembleForces::yes;
    Tensor G;
    const SoapBpnn* bpnn = dynamic_cast<const SoapBpnn*>(model_.get());
    if (member_forces && !bpnn) {
        // any model: G by reverse mode through its graph, the outputs from forward()
        nn::bpnn::Output out;
        G = last_layer_jacobian(*model_, b, &out);
        p.energies = out.energies.detach() * scale + base;
        p.features = out.features.detach();
        p.last_layer_features = out.last_layer_features.detach();
        p.atom_last_layer_features = out.atom_last_layer_features.detach();
    } else if (member_forces) {
        // The Jacobian's pass computes the last layer's inputs f_i too: the outputs come from them
        // (the same modules as SoapBpnn::forward), E_s = phi_s w_e^T + baseline.
        Tensor f;
        G = soap_bpnn_last_layer_jacobian(*bpnn, b, JacobianMode::automatic, &f);  // [n + 3 NS, 3, P]
        const long d = f.dim(1), P = ensemble_.dim(1);
        const std::vector<int>& species = bpnn->species();
        p.atom_last_layer_features = Tensor::zeros({n, P});
        for (long i = 0; i < n; ++i) {
            const long k = std::lower_bound(species.begin(), species.end(), b.numbers[static_cast<size_t>(i)]) - species.begin();
            std::copy(f.data() + i * d, f.data() + (i + 1) * d, p.atom_last_layer_features.data() + i * P + k * d);
        }
        p.features = ad::index_add(Tensor::zeros({NS, d}), 0, b.structure, f);
        p.last_layer_features = ad::index_add(Tensor::zeros({NS, P}), 0, b.structure, p.atom_last_layer_features);
        p.energies = ad::reshape(ad::matmul(p.last_layer_features, ad::reshape(last_layer_weights(), {P, 1})), {NS}) + base;
    } else {
        nn::bpnn::Output out = model_->forward(b);
        p.energies = out.energies.detach() * scale + base;
        p.features = out.features.detach();
        p.last_layer_features = out.last_layer_features.detach();
        p.atom_last_layer_features = out.atom_last_layer_features.detach();
    }
    p.energy_uncertainty = llpr_.sigma(p.last_layer_features);
    if (include_noise_) {  // the noise of the per-atom energies, N_s^2 sigma^2 on E_s (as the loss)
        const double s2 = laplace_.sigma_noise * laplace_.sigma_noise;
        for (long s = 0; s < NS; ++s) {
            const double N = static_cast<double>(b.offsets[static_cast<size_t>(s) + 1] - b.offsets[static_cast<size_t>(s)]);
            double& u = p.energy_uncertainty.data()[s];
            u = std::sqrt(u * u + N * N * s2);
        }
    }
    p.atom_energy_uncertainty = llpr_.sigma(p.atom_last_layer_features);
    // Members E_sk = E_s + phi_s (W_k - w_e)^T: centred on the prediction also when the network
    // energy has terms outside phi w^T (PET's last-layer biases).
    if (K > 0)
        p.energy_ensemble = llpr_ensemble_predictions(p.last_layer_features, ensemble_ - ad::reshape(last_layer_weights(), {1, -1})) +
                            ad::reshape(p.energies, {NS, 1});

    if (!member_forces) {
        nn::bpnn::EnergyForcesStress efs = model_->energy_forces_stress(b, ad::CreateGraph::no);
        p.forces = efs.forces.detach() * scale;
        p.stress = efs.stress.detach() * scale;
        add_terms(p, additive);
        return p;
    }
    // Every member at once: F_k = -G W_k^T, stress_k = G_eps W_k^T / V (one product for all k).
    const long P = ensemble_.dim(1), rows = n + 3 * NS;
    Tensor Gm = ad::reshape(G, {rows * 3, P});
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
    if (!bpnn) {
        // F_k = F + (-G (W_k - w_e)^T) with the model's exact F: the forces of terms outside phi w^T
        // (PET's edge bias b_e sum_j c_ij moves with the atoms) are in F and in every member.
        const nn::bpnn::EnergyForcesStress efs = model_->energy_forces_stress(b, ad::CreateGraph::no);
        const Tensor F = efs.forces.detach() * scale, S = efs.stress.detach() * scale;
        for (long r = 0; r < 3 * n; ++r) {
            const double shift = F.data()[r] - p.forces.data()[r];
            p.forces.data()[r] = F.data()[r];
            for (long k = 0; k < K; ++k) p.forces_ensemble.data()[r * K + k] += shift;
        }
        for (long s = 0; s < NS; ++s) {
            if (!(b.volumes[static_cast<size_t>(s)] > 0)) continue;
            for (long c = 0; c < 9; ++c) {
                const double shift = S.data()[9 * s + c] - p.stress.data()[9 * s + c];
                p.stress.data()[9 * s + c] = S.data()[9 * s + c];
                for (long k = 0; k < K; ++k) p.stress_ensemble.data()[(9 * s + c) * K + k] += shift;
            }
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
    add_terms(p, additive);
    return p;
}

// ---------------------------------------------------------------------------- names

std::vector<std::pair<std::string, Tensor>> named_outputs(const LlprPrediction& p) {
    const std::vector<std::pair<std::string, const Tensor*>> all = {
        {"energy", &p.energies},
        {"energy_uncertainty", &p.energy_uncertainty},
        {"mtt::aux::energy_uncertainty", &p.energy_uncertainty},
        {"energy_uncertainty/per_atom", &p.atom_energy_uncertainty},
        {"mtt::aux::energy_uncertainty/per_atom", &p.atom_energy_uncertainty},
        {"energy_ensemble", &p.energy_ensemble},
        {"mtt::aux::energy_ensemble", &p.energy_ensemble},
        {"mtt::aux::energy_last_layer_features", &p.last_layer_features},
        {"mtt::aux::energy_last_layer_features/per_atom", &p.atom_last_layer_features},
        {"features", &p.features},
        {"forces", &p.forces},
        {"stress", &p.stress},
        {"energy_ensemble/forces", &p.forces_ensemble},
        {"energy_ensemble/stress", &p.stress_ensemble},
        {"forces_uncertainty", &p.forces_uncertainty},
    };
    std::vector<std::pair<std::string, Tensor>> out;
    for (const auto& [name, t] : all)
        if (t->defined()) out.emplace_back(name, *t);
    return out;
}

Tensor named_output(const LlprPrediction& p, const std::string& name) {
    std::string known;
    for (const auto& [n, t] : named_outputs(p)) {
        if (n == name) return t;
        known += (known.empty() ? "" : ", ") + n;
    }
    AD_FAIL("llpr: expected one of the outputs " << known << ", got '" << name << "'");
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

std::shared_ptr<nn::atomistic::AtomisticModel> load_model_with_last_layer_features(const nn::Checkpoint& ckpt,
                                                              std::map<int, double>* composition_weights,
                                                              double* energy_scale) {
    const std::string where = ckpt.path.empty() ? "checkpoint" : ckpt.path;
    auto it = ckpt.metadata.find("architecture");
    const std::string arch = it == ckpt.metadata.end() ? "" : it->second;
    std::string known;  // the registered atomistic architectures
    for (const auto& name : nn::atomistic::architecture_names()) known += (known.empty() ? "'" : ", '") + name + "'";
    const std::vector<std::string> names = nn::atomistic::architecture_names();
    AD_CHECK(std::count(names.begin(), names.end(), arch), where << ": expected a model with last-layer features (architecture " << known << "), got "
                                        << (arch.empty() ? std::string("a checkpoint without an architecture")
                                                         : "architecture '" + arch + "'")
                                        << "; LLPR needs the inputs of the energy's last layer");
    nn::Checkpoint model = without_llpr(ckpt);
    auto kind = ckpt.metadata.find("kind");
    if (kind != ckpt.metadata.end() && kind->second == "training_checkpoint")  // the weights at that epoch
        model.tensors = ckpt.section("model.");
    return nn::atomistic::load_model(model, composition_weights, energy_scale);
}

nn::Checkpoint LlprModel::to_checkpoint() const {
    nn::Checkpoint c = model_->to_checkpoint(composition_.weights, scaler_.scale);
    nn::Checkpoint post = llpr_.to_checkpoint();
    c.add(kPrefix, post.tensors);
    for (const auto& [k, v] : post.metadata) c.metadata[kPrefix + k] = v;
    if (ensemble_.defined()) c.tensors.emplace_back(kEnsembleName, ensemble_);
    c.metadata["llpr.targets"] = "energy";
    c.metadata["llpr.uncertainty_method"] = to_string(method_);
    if (method_ == UncertaintyMethod::laplace) {
        auto put = [&](const char* key, double v) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%.17g", v);
            c.metadata[std::string("llpr.laplace.") + key] = buf;
        };
        put("prior_precision", laplace_.prior_precision);
        put("sigma_noise", laplace_.sigma_noise);
        put("log_marginal_likelihood", laplace_.lml);
        put("effective_parameters", laplace_.gamma);
    }
    c.metadata["llpr.include_noise"] = include_noise_ ? "true" : "false";
    return c;
}

LlprModel LlprModel::from_checkpoint(const nn::Checkpoint& ckpt) {
    const std::string where = ckpt.path.empty() ? "checkpoint" : ckpt.path;
    AD_CHECK(holds_llpr(ckpt), where << ": expected an LLPR-wrapped model (metadata 'llpr.energy.format'), got none");
    std::map<int, double> weights;
    double scale = 1.0;
    std::shared_ptr<nn::atomistic::AtomisticModel> model = load_model_with_last_layer_features(ckpt, &weights, &scale);
    nn::Checkpoint post;
    post.path = ckpt.path;
    const std::string prefix = kPrefix;
    for (const auto& t : ckpt.tensors)
        if (t.first.rfind(prefix, 0) == 0 && t.first != kEnsembleName) post.tensors.emplace_back(t.first.substr(prefix.size()), t.second);
    for (const auto& [k, v] : ckpt.metadata)
        if (k.rfind(prefix, 0) == 0) post.metadata[k.substr(prefix.size())] = v;
    Tensor ensemble = ckpt.has(kEnsembleName) ? ckpt.get(kEnsembleName) : Tensor();
    LlprModel m(model, nn::bpnn::CompositionModel{weights}, nn::bpnn::EnergyScaler{scale}, Llpr::from_checkpoint(post),
                ensemble);
    auto it = ckpt.metadata.find("llpr.uncertainty_method");
    if (it != ckpt.metadata.end()) m.method_ = parse_uncertainty_method(it->second);
    auto get = [&](const char* key) {
        auto f = ckpt.metadata.find(std::string("llpr.laplace.") + key);
        return f == ckpt.metadata.end() ? 0.0 : std::strtod(f->second.c_str(), nullptr);
    };
    m.laplace_.prior_precision = get("prior_precision");
    m.laplace_.sigma_noise = get("sigma_noise");
    m.laplace_.lml = get("log_marginal_likelihood");
    m.laplace_.gamma = get("effective_parameters");
    auto noise = ckpt.metadata.find("llpr.include_noise");  // older files: absent, no noise
    if (noise != ckpt.metadata.end()) {
        AD_CHECK(noise->second == "true" || noise->second == "false",
                 where << ": expected metadata 'llpr.include_noise' true or false, got '" << noise->second << "'");
        m.include_noise_ = noise->second == "true";
        AD_CHECK(!m.include_noise_ || m.method_ == UncertaintyMethod::laplace,
                 where << ": expected 'llpr.include_noise' = true only with uncertainty_method laplace, got it with "
                       << to_string(m.method_));
    }
    return m;
}

void LlprModel::save(const std::string& path) const { nn::save_checkpoint(path, to_checkpoint()); }

LlprModel LlprModel::load(const std::string& path) { return from_checkpoint(nn::load_checkpoint(path)); }

// ---------------------------------------------------------------------------- any model

LlprCovariance llpr_covariance(const nn::atomistic::AtomisticModel& model, const std::vector<desc::System>& frames,
                               long batch_size) {
    if (const auto* bpnn = dynamic_cast<const SoapBpnn*>(&model)) return soap_bpnn_llpr_covariance(*bpnn, frames, batch_size);
    AD_CHECK(!frames.empty(), "llpr: expected training frames, got none");
    LlprCovariance cov(model.n_last_layer_features());
    ad::NoGrad no_grad;
    for_batches(model, frames, batch_size, [&](const Batch& b, const std::vector<desc::System>&, size_t) {
        std::vector<long> counts;
        for (long s = 0; s < b.n_structures(); ++s)
            counts.push_back(b.offsets[static_cast<size_t>(s) + 1] - b.offsets[static_cast<size_t>(s)]);
        cov.add(model.forward(b).last_layer_features.detach(), counts);  // phi_s / N_s, as the per-atom loss
    });
    return cov;
}

Tensor last_layer_jacobian(const nn::atomistic::AtomisticModel& model, const Batch& batch, nn::atomistic::Output* output) {
    const long n = batch.n_atoms(), NS = batch.n_structures(), P = model.n_last_layer_features();
    ad::GradMode on(true);
    const nn::atomistic::DerivativeInputs d = nn::atomistic::derivative_inputs(batch);
    const std::vector<Tensor>& inputs = d.inputs;
    const std::vector<long>& strained = d.strained;
    const nn::atomistic::Output out = model.forward(d.batch);
    const Tensor phi = out.last_layer_features;  // [NS, P]
    if (output)
        *output = {out.atom_energies.detach(),     out.energies.detach(), out.atom_features.detach(),
                   out.features.detach(),          out.atom_last_layer_features.detach(),
                   out.last_layer_features.detach()};
    Tensor G = Tensor::zeros({n + 3 * NS, 3, P});
    for (long c = 0; c < P; ++c) {
        Tensor pick = Tensor::zeros({NS, P});
        for (long s = 0; s < NS; ++s) pick.data()[s * P + c] = 1.0;
        const std::vector<Tensor> g = ad::grad({phi}, inputs, {pick});  // d (sum_s phi_sc) / d inputs
        for (long r = 0; r < 3 * n; ++r) G.data()[r * P + c] = g[0].data()[r];
        for (size_t k = 0; k < strained.size(); ++k)
            for (long e = 0; e < 9; ++e) G.data()[(3 * n + 9 * strained[k] + e) * P + c] = g[k + 1].data()[e];
    }
    return G;
}

}  // namespace uq
