// Speed of a SOAP-BPNN training step on ethanol (default hypers, D = 2556), one thread:
//   forward energy; energy + forces (CreateGraph::no); full step = energy + forces with
//   CreateGraph::yes, energy + force MSE loss, backward to the parameters, Adam step.
// Batch 8 over 64 frames (8 batches per pass); 1 warm-up pass, then 3 timed passes (median).
// Prints ms per batch-8 step and the projected epoch time for 1000 frames (125 steps).
// One graph per batch (no chunks, no threads): bench_bpnn_epoch measures the trainer's path.
// usage: bench_bpnn_step [SHARED_DIR] [BATCH_SIZE] [N_FRAMES]   (default ../shared 8 64)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/bpnn/bpnn.hpp"
#include "nn/bpnn/trainer.hpp"
#include "nn/optim.hpp"

using Clock = std::chrono::steady_clock;

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

int main(int argc, char** argv) {
    const std::string shared = argc > 1 ? argv[1] : "../shared";
    std::vector<desc::System> all = desc::read_extxyz(shared + "/data/ethanol-xtb/train.xyz");
    const long n_frames = std::min<long>(argc > 3 ? std::stol(argv[3]) : 64, static_cast<long>(all.size())), bs = argc > 2 ? std::stol(argv[2]) : 8;
    all.resize(n_frames);
    ad::Rng rng(0);
    nn::bpnn::BpnnHypers hypers;
    nn::bpnn::SoapBpnn model(hypers, {1, 6, 8}, rng);
    std::vector<ad::Tensor> params = model.parameters();
    nn::Adam opt(params, 1e-3);
    nn::bpnn::LossWeights weights;

    std::vector<nn::bpnn::Batch> batches;
    std::vector<nn::bpnn::Targets> targets;
    for (long b = 0; b < n_frames; b += bs) {
        std::vector<desc::System> frames(all.begin() + b, all.begin() + std::min(n_frames, b + bs));
        batches.push_back(nn::bpnn::make_batch(frames, model.hypers().cutoff));
        targets.push_back(nn::bpnn::targets_of(frames));
    }
    const double n_steps = static_cast<double>(batches.size());

    auto time_pass = [&](auto&& step) {
        std::vector<double> t;
        for (int rep = 0; rep < 4; ++rep) {  // rep 0 is the warm-up
            auto t0 = Clock::now();
            for (size_t k = 0; k < batches.size(); ++k) step(k);
            double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / n_steps;
            if (rep > 0) t.push_back(ms);
        }
        return median(t);
    };
    double sink = 0;
    const double t_energy = time_pass([&](size_t k) {
        ad::NoGrad no;
        sink += model.forward(batches[k]).energies[0];
    });
    const double t_forces = time_pass([&](size_t k) {
        auto p = model.energy_forces_stress(batches[k], ad::CreateGraph::no);
        sink += p.forces[0];
    });
    double last_loss = 0;
    const double t_step = time_pass([&](size_t k) {
        auto p = model.energy_forces_stress(batches[k], ad::CreateGraph::yes);
        ad::Tensor loss = nn::bpnn::energy_loss(p, targets[k], batches[k], weights).total;
        opt.zero_grad();
        ad::backward(loss, params);
        opt.step();
        last_loss = loss[0];
    });
    std::printf("bpnn step (ethanol, batch %ld, %ld frames, 1 thread):\n", bs, n_frames);
    std::printf("  forward energy     %8.2f ms/step\n", t_energy);
    std::printf("  energy + forces    %8.2f ms/step\n", t_forces);
    std::printf("  train step (E+F)   %8.2f ms/step   projected epoch (1000 frames, 125 steps) %.3f s\n", t_step,
                t_step * 125 / 1000);
    std::printf("  (loss %.6g, checksum %.6g)\n", last_loss, sink);
    return 0;
}
