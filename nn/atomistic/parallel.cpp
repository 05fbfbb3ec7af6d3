// One training step over chunks of a batch on several threads (math in parallel.hpp).
#include "nn/atomistic/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "autodiff/blas.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/parallel.hpp"

namespace nn::atomistic {

using ad::Tensor;

namespace {
std::atomic<int> g_num_threads{0};  // 0: not set, use the environment

int env_num_threads() {
    const char* v = std::getenv("ATOMGRAD_NUM_THREADS");
    if (!v || !*v) return 1;
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    AD_CHECK(end && *end == '\0' && n >= 1 && n <= 1024,
             "ATOMGRAD_NUM_THREADS: expected a positive integer, got '" << v << "'");
    return static_cast<int>(n);
}

// rows [lo, hi) of a row-major tensor whose rows have `width` entries, copied into dst
void copy_rows(const Tensor& src, long lo, long hi, long width, double* dst) {
    std::memcpy(dst, src.data() + lo * width, sizeof(double) * static_cast<size_t>((hi - lo) * width));
}
}  // namespace

int num_threads() {
    const int n = g_num_threads.load();
    return n > 0 ? n : env_num_threads();
}

void set_num_threads(int n) { g_num_threads.store(std::max(0, n)); }

std::vector<std::pair<long, long>> step_chunks(const Batch& b, long D) {
    const long B = b.n_structures(), N = b.n_atoms();
    long n_chunks = 2;  // at least 2 (when there are 2 structures), so that 2 threads have work
    while (n_chunks < B && N * D > kChunkEntries * n_chunks) n_chunks *= 2;
    n_chunks = std::max<long>(1, std::min(n_chunks, B));
    // structure s goes to the chunk holding the middle of its atoms: contiguous, about equal atoms
    std::vector<std::pair<long, long>> out;
    long previous = -1;
    for (long s = 0; s < B; ++s) {
        const long mid2 = b.offsets[static_cast<size_t>(s)] + b.offsets[static_cast<size_t>(s) + 1];  // 2 x middle
        const long c = std::min(n_chunks - 1, mid2 * n_chunks / (2 * std::max<long>(1, N)));
        if (c != previous) out.push_back({s, s});
        previous = c;
        out.back().second = s + 1;
    }
    return out;
}

Batch sub_batch(const Batch& b, long first, long last) {
    AD_CHECK(0 <= first && first < last && last <= b.n_structures(),
             "sub_batch: expected 0 <= first < last <= " << b.n_structures() << ", got " << first << " and " << last);
    const long lo = b.offsets[static_cast<size_t>(first)], hi = b.offsets[static_cast<size_t>(last)];
    Batch s;
    s.cutoff = b.cutoff;
    s.numbers.assign(b.numbers.begin() + lo, b.numbers.begin() + hi);
    for (long k = first; k < last; ++k) {
        s.structure.insert(s.structure.end(),
                           static_cast<size_t>(b.offsets[static_cast<size_t>(k) + 1] - b.offsets[static_cast<size_t>(k)]),
                           k - first);
        s.offsets.push_back(b.offsets[static_cast<size_t>(k)] - lo);
    }
    s.offsets.push_back(hi - lo);
    s.pairs.assign(b.pairs.begin() + first, b.pairs.begin() + last);
    s.strains.assign(b.strains.begin() + first, b.strains.begin() + last);
    s.volumes.assign(b.volumes.begin() + first, b.volumes.begin() + last);
    s.positions = Tensor::empty({hi - lo, 3});
    copy_rows(b.positions, lo, hi, 3, s.positions.data());
    return s;
}

Targets sub_targets(const Targets& t, const Batch& b, long first, long last) {
    const long lo = b.offsets[static_cast<size_t>(first)], hi = b.offsets[static_cast<size_t>(last)];
    Targets s;
    s.energies = Tensor::empty({last - first});
    copy_rows(t.energies, first, last, 1, s.energies.data());
    if (t.forces.defined()) {
        s.forces = Tensor::empty({hi - lo, 3});
        copy_rows(t.forces, lo, hi, 3, s.forces.data());
    }
    for (long k : t.with_stress)
        if (first <= k && k < last) s.with_stress.push_back(k - first);
    if (t.stress.defined() && !s.with_stress.empty()) {
        s.stress = Tensor::empty({last - first, 3, 3});
        copy_rows(t.stress, first, last, 9, s.stress.data());
    }
    return s;
}

namespace {

// OpenBLAS's own threads split some reductions (dgemv), so its results depend on its thread
// count: keep it at one while chunks run, on every thread count (restored at scope exit).
struct OneBlasThread {
    int before = ad::blas::num_threads();
    OneBlasThread() { if (before != 1) ad::blas::set_num_threads(1); }
    ~OneBlasThread() { if (before != 1) ad::blas::set_num_threads(before); }
};

}  // namespace

EnergyForcesStress predict_chunked(const AtomisticModel& model, const Batch& batch) {
    const long B = batch.n_structures(), N = batch.n_atoms();
    const std::vector<std::pair<long, long>> chunks = step_chunks(batch, model.step_chunk_width());
    const long C = static_cast<long>(chunks.size());
    if (C <= 1) return model.energy_forces_stress(batch, ad::CreateGraph::no);
    // outputs allocated by the calling thread (buffers return to the pool of the thread that frees them)
    EnergyForcesStress r{Tensor::empty({B}), Tensor::empty({N, 3}), Tensor::empty({B, 3, 3})};
    const OneBlasThread one_blas_thread;
    ad::parallel_for(C, num_threads(), [&](long c) {
        const auto [first, last] = chunks[static_cast<size_t>(c)];
        const Batch sub = sub_batch(batch, first, last);
        const EnergyForcesStress net = model.energy_forces_stress(sub, ad::CreateGraph::no);
        const long a0 = batch.offsets[static_cast<size_t>(first)];
        std::copy(net.energies.data(), net.energies.data() + (last - first), r.energies.data() + first);
        std::copy(net.forces.data(), net.forces.data() + 3 * sub.n_atoms(), r.forces.data() + 3 * a0);
        std::copy(net.stress.data(), net.stress.data() + 9 * (last - first), r.stress.data() + 9 * first);
    });
    return r;
}

StepResult forward_backward(const AtomisticModel& model, const Batch& batch, const Targets& targets,
                            const LossConfig& config) {
    const long B = batch.n_structures(), N = batch.n_atoms();
    AD_CHECK(B > 0 && static_cast<long>(batch.offsets.size()) == B + 1,
             "forward_backward: expected a batch with structures, got " << B);
    AD_CHECK(targets.energies.defined() && targets.energies.numel() == B,
             "forward_backward: expected target energies [" << B << "]");
    // forces/stress whenever the targets have them (for the metrics); their graph only when a
    // derivative term enters the loss
    const bool with_forces = targets.forces.defined(), with_stress = !targets.with_stress.empty();
    const bool derivatives = with_forces || with_stress;
    const ad::CreateGraph create_graph =
        (with_forces && config.forces.weight != 0) || (with_stress && config.strain.weight != 0) ? ad::CreateGraph::yes
                                                                                                 : ad::CreateGraph::no;
    const std::vector<std::pair<long, long>> chunks = step_chunks(batch, model.step_chunk_width());
    const long C = static_cast<long>(chunks.size());
    const std::vector<Tensor> params = model.parameters();
    const double P = static_cast<double>(targets.with_stress.size());

    // Buffers go back to the pool of the thread that frees them: what the chunks hand back is
    // allocated here, by the calling thread, and the chunks' own tensors die on the chunk's thread.
    StepResult r;
    r.predictions.energies = Tensor::empty({B});
    if (derivatives) {
        r.predictions.forces = Tensor::empty({N, 3});
        r.predictions.stress = Tensor::empty({B, 3, 3});
    }
    // Chunk gradients. On one thread they are the engine's own tensors; with more, each chunk
    // copies its gradients into buffers of this thread, so that its own tensors die on its thread.
    const int threads = num_threads();
    const bool copy_grads = threads > 1 && C > 1;
    std::vector<std::vector<Tensor>> grads(static_cast<size_t>(C));
    if (copy_grads)
        for (auto& g : grads)
            for (const Tensor& p : params) g.push_back(Tensor::empty(p.shape()));
    struct ChunkLoss {
        double total = 0, energy = 0, forces = 0, strain = 0;
        bool has_energy = false, has_forces = false, has_strain = false;
    };
    std::vector<ChunkLoss> losses(static_cast<size_t>(C));

    const OneBlasThread one_blas_thread;
    ad::parallel_for(C, threads, [&](long c) {
        const auto [first, last] = chunks[static_cast<size_t>(c)];
        Batch own_batch;
        Targets own_targets;
        if (C > 1) {
            own_batch = sub_batch(batch, first, last);
            own_targets = sub_targets(targets, batch, first, last);
        }
        const Batch& sub = C > 1 ? own_batch : batch;
        const Targets& st = C > 1 ? own_targets : targets;
        // each mean-reduced term's weight times the chunk's share of that mean (sums add as they are)
        LossConfig w = config;
        const double Pc = static_cast<double>(st.with_stress.size());
        auto share = [](LossTerm& term, double part) {
            if (term.reduction == Reduction::mean) term.weight *= part;
        };
        share(w.energy, static_cast<double>(sub.n_structures()) / static_cast<double>(B));
        share(w.forces, static_cast<double>(sub.n_atoms()) / static_cast<double>(N));
        if (P > 0) share(w.strain, Pc / P);
        ad::GradMode on(true);
        EnergyForcesStress net;
        if (create_graph == ad::CreateGraph::yes) net = model.energy_forces_stress(sub, create_graph);
        else net.energies = model.energies(sub);
        LossTerms lt = energy_loss(net, st, sub, w);
        std::vector<Tensor> g = ad::grad({lt.total}, params, {}, ad::CreateGraph::no);
        if (derivatives && create_graph == ad::CreateGraph::no) {
            // forces/stress only for the metrics (their loss weights are 0): a second, graph-free pass
            const EnergyForcesStress d = model.energy_forces_stress(sub, ad::CreateGraph::no);
            net.forces = d.forces;
            net.stress = d.stress;
        }
        if (copy_grads) {
            for (size_t k = 0; k < params.size(); ++k)
                std::memcpy(grads[static_cast<size_t>(c)][k].data(), g[k].data(), sizeof(double) * static_cast<size_t>(g[k].numel()));
        } else {
            grads[static_cast<size_t>(c)] = std::move(g);
        }
        const long lo = batch.offsets[static_cast<size_t>(first)];
        std::memcpy(r.predictions.energies.data() + first, net.energies.data(), sizeof(double) * static_cast<size_t>(last - first));
        if (derivatives) {
            std::memcpy(r.predictions.forces.data() + 3 * lo, net.forces.data(), sizeof(double) * static_cast<size_t>(3 * sub.n_atoms()));
            std::memcpy(r.predictions.stress.data() + 9 * first, net.stress.data(), sizeof(double) * static_cast<size_t>(9 * (last - first)));
        }
        ChunkLoss& l = losses[static_cast<size_t>(c)];
        l.total = lt.total.item();
        if ((l.has_energy = lt.energy.defined())) l.energy = lt.energy.item();
        if ((l.has_forces = lt.forces.defined())) l.forces = lt.forces.item();
        if ((l.has_strain = lt.strain.defined())) l.strain = lt.strain.item();
    });

    // gradients: ((g_0 + g_1) + g_2) + ..., in place into g_0 when nothing else holds it
    ad::NoGrad no_grad;
    for (size_t k = 0; k < params.size(); ++k) {
        Tensor acc = grads[0][k];
        if (C > 1) {
            const long n = acc.numel();
            const bool own = acc.impl_ptr().use_count() == 2 && acc.impl().buffer.use_count() == 1;  // acc + grads[0][k]
            if (!own) acc = acc.clone();
            double* __restrict a = acc.data();
            for (long c = 1; c < C; ++c) {
                const double* __restrict g = grads[static_cast<size_t>(c)][k].data();
                for (long i = 0; i < n; ++i) a[i] += g[i];
            }
        }
        Tensor p = params[k];
        Tensor old = p.grad();
        p.set_grad(old.defined() ? ad::add(old, acc) : acc);
    }
    // loss: the chunks' totals in order; each unweighted term as the share-weighted sum
    double total = 0, energy = 0, forces = 0, strain = 0;
    bool has_energy = false, has_forces = false, has_strain = false;
    auto part = [](const LossTerm& term, double s) { return term.reduction == Reduction::mean ? s : 1.0; };
    for (long c = 0; c < C; ++c) {
        const ChunkLoss& l = losses[static_cast<size_t>(c)];
        const auto [first, last] = chunks[static_cast<size_t>(c)];
        const double share_s = static_cast<double>(last - first) / static_cast<double>(B);
        const double share_a = static_cast<double>(batch.offsets[static_cast<size_t>(last)] -
                                                   batch.offsets[static_cast<size_t>(first)]) /
                               static_cast<double>(N);
        long pc = 0;
        for (long s : targets.with_stress) pc += first <= s && s < last;
        const double share_p = P > 0 ? static_cast<double>(pc) / P : 0.0;
        total += l.total;
        if (l.has_energy) energy += part(config.energy, share_s) * l.energy, has_energy = true;
        if (l.has_forces) forces += part(config.forces, share_a) * l.forces, has_forces = true;
        if (l.has_strain) strain += part(config.strain, share_p) * l.strain, has_strain = true;
    }
    r.loss.total = Tensor::scalar(total);
    if (has_energy) r.loss.energy = Tensor::scalar(energy);
    if (has_forces) r.loss.forces = Tensor::scalar(forces);
    if (has_strain) r.loss.strain = Tensor::scalar(strain);
    return r;
}

}  // namespace nn::atomistic
