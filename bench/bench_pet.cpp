// Speed of NanoPET and PET (default hypers, untrained, seed 0) in training and inference:
//   train step: the trainer's path, nn::atomistic::forward_backward (energies + forces with
//               CreateGraph::yes, energy + force MSE loss, gradient to the parameters over chunks of
//               whole structures, one graph per chunk on 1 and 2 threads) plus an Adam step;
//               batch 16 (metatrain's batch_size for these models). Projected epoch: ms/step x
//               steps per 1000 frames (63 batches of 16 for ethanol).
//   inference:  energies + forces (CreateGraph::no), batch 16, one graph, 1 thread, in atoms/s.
// Data: the first 64 frames of SHARED/data/ethanol-xtb/train.xyz (9 atoms, open; 4 batches, 1
// warm-up pass then 3 timed passes, median) and the first 16 of SHARED/data/cu-emt/train.xyz
// (32-atom periodic cells, ~40 neighbours each: a step is ~20x ethanol's; 1 batch, 1 warm-up and 1
// timed pass; with stress targets the step also trains the stress). Wall and process CPU time.
// The PyTorch peer (../shared/peers/) has no PET figures: the SOAP-BPNN epoch row of
// bench_bpnn_epoch is the nearest reference.
// Inference is what `atomgrad eval` runs: nn::atomistic::predict_chunked (the batch in the same
// chunks of whole structures as the training step, one graph each).
// usage: bench_pet [SHARED_DIR] [MODEL: nanopet|pet|all] [WORKLOAD: ethanol|cu|all]
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/atomistic/parallel.hpp"
#include "nn/optim.hpp"
#include "nn/pet/nanopet.hpp"
#include "nn/pet/pet.hpp"

using Clock = std::chrono::steady_clock;
namespace at = nn::atomistic;

namespace {

struct Workload {
    std::string name;
    std::vector<at::Batch> batches;
    std::vector<at::Targets> targets;
    long atoms_per_batch = 0;
    double steps_per_1000 = 0;
    int timed_passes = 3;  ///< after one warm-up pass
};

Workload load(const std::string& name, const std::string& path, double cutoff, long bs, long n_frames, int timed_passes) {
    std::vector<desc::System> all = desc::read_extxyz(path);
    all.resize(static_cast<size_t>(std::min<long>(n_frames, static_cast<long>(all.size()))));
    Workload w;
    w.name = name;
    w.timed_passes = timed_passes;
    for (size_t b = 0; b < all.size(); b += static_cast<size_t>(bs)) {
        std::vector<desc::System> frames(all.begin() + static_cast<long>(b),
                                         all.begin() + static_cast<long>(std::min(all.size(), b + static_cast<size_t>(bs))));
        w.batches.push_back(at::make_batch(frames, cutoff));
        w.targets.push_back(at::targets_of(frames));
    }
    w.atoms_per_batch = w.batches[0].n_atoms();
    w.steps_per_1000 = static_cast<double>((1000 + bs - 1) / bs);
    return w;
}

double cpu_ms() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return 1e3 * double(ts.tv_sec) + 1e-6 * double(ts.tv_nsec);
}

struct Timing {
    double wall = 0, cpu = 0;  ///< ms per batch: median wall time, and the process CPU time of that pass
};

// On a shared machine the wall time carries the other processes' load; the process CPU time (all
// threads) does not, and at 1 thread it is the figure to compare between runs.
template <class Step>
Timing time_pass(const Workload& w, Step&& step) {
    std::vector<std::pair<double, double>> t;
    for (int rep = 0; rep <= w.timed_passes; ++rep) {  // rep 0 is the warm-up
        auto t0 = Clock::now();
        const double c0 = cpu_ms();
        for (size_t k = 0; k < w.batches.size(); ++k) step(k);
        const double nb = double(w.batches.size());
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / nb;
        if (rep > 0) t.push_back({ms, (cpu_ms() - c0) / nb});
    }
    std::sort(t.begin(), t.end());
    return {t[t.size() / 2].first, t[t.size() / 2].second};
}

void run(const char* label, const at::AtomisticModel& model, const Workload& w) {
    std::vector<ad::Tensor> params = model.parameters();
    nn::Adam opt(params, 1e-4);
    at::LossConfig config;
    double sink = 0;
    const Timing t_inf = time_pass(w, [&](size_t k) { sink += at::predict_chunked(model, w.batches[k]).forces[0]; });
    const long chunks = static_cast<long>(at::step_chunks(w.batches[0], model.step_chunk_width()).size());
    std::printf("%-8s %-8s inference E+F   %8.1f ms/batch %9.0f atoms/s   (1 thread; cpu %.1f ms/batch)\n", label,
                w.name.c_str(), t_inf.wall, 1000.0 * double(w.atoms_per_batch) / t_inf.wall, t_inf.cpu);
    for (int threads : {1, 2}) {
        at::set_num_threads(threads);
        double loss = 0;
        const Timing t_step = time_pass(w, [&](size_t k) {
            opt.zero_grad();
            at::StepResult r = at::forward_backward(model, w.batches[k], w.targets[k], config);
            opt.step();
            loss = r.loss.total.item();
        });
        std::printf("%-8s %-8s train step E+F  %8.1f ms/step  -> epoch (1000 frames, %.0f steps) %6.2f s   (%d thread%s, %ld chunks; cpu %.1f ms/step; loss %.4g)\n",
                    label, w.name.c_str(), t_step.wall, w.steps_per_1000, t_step.wall * w.steps_per_1000 / 1000, threads,
                    threads > 1 ? "s" : "", chunks, t_step.cpu, loss);
    }
    at::set_num_threads(0);
    if (sink == 12345.678) std::printf("%g\n", sink);  // keep the inference results alive
}

}  // namespace

int main(int argc, char** argv) {
    const std::string shared = argc > 1 ? argv[1] : "../shared";
    const std::string which = argc > 2 ? argv[2] : "all", where = argc > 3 ? argv[3] : "all";
    const long bs = 16;
    std::printf("NanoPET / PET (default hypers, batch %ld; ethanol: 4 batches, 3 timed passes; cu-emt: 1 batch, 1 timed\n"
                "pass). The PyTorch peer has no PET figures (../shared/peers/): compare the SOAP-BPNN epoch rows above.\n",
                bs);
    for (const std::string model_name : {"nanopet", "pet"}) {
        if (which != "all" && which != model_name) continue;
        ad::Rng rng(0);
        const std::vector<int> species{1, 6, 8, 29};
        std::shared_ptr<const at::AtomisticModel> model;
        if (model_name == "nanopet")
            model = std::make_shared<nn::pet::NanoPet>(nn::pet::NanoPetHypers{}, species, rng);
        else
            model = std::make_shared<nn::pet::Pet>(nn::pet::PetHypers{}, species, rng);
        const double cutoff = model->cutoff();
        if (where == "all" || where == "ethanol")
            run(model_name.c_str(), *model, load("ethanol", shared + "/data/ethanol-xtb/train.xyz", cutoff, bs, 64, 3));
        if (where == "all" || where == "cu")
            run(model_name.c_str(), *model, load("cu-emt", shared + "/data/cu-emt/train.xyz", cutoff, bs, 16, 1));
    }
    return 0;
}
