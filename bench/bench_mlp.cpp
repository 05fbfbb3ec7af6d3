// Speed of small dense MLPs, the same work as ../shared/peers/torch_mlp.py (float64, CPU):
//   digits: MLP 64-128-128-10 ReLU, cross-entropy, Adam lr 1e-3, batch 64, reshuffled every epoch;
//           one untimed warm-up epoch, then 60 timed epochs; median of 3 runs.
//   sine:   MLP 1-50-50-1 tanh, MSE, one full-batch Adam step (lr 1e-2) on 150 points = forward +
//           backward + step; 50 warm-up steps, 2000 timed steps; median per step, median of 3 runs.
// Prints our figures beside PyTorch's from the peer results file, with the speed-up ratios.
// usage: bench_mlp SHARED_DIR [threads] [LIVE_PEER.json]
// LIVE_PEER.json is the output of `torch_mlp.py worker --threads N` run just before on this machine
// (bench/run.sh does that when PyTorch is installed): the ratio to it is the one to trust.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "bench/bench_util.hpp"
#include "autodiff/blas.hpp"
#include "autodiff/error.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "cli/csv.hpp"
#include "nn/json.hpp"
#include "nn/loss.hpp"
#include "nn/mlp.hpp"
#include "nn/optim.hpp"

using Clock = std::chrono::steady_clock;

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// seconds per epoch, one run
static double digits_run(const ad::Tensor& X, const std::vector<long>& y, int epochs) {
    ad::Rng rng(0);
    nn::MLP model(64, {128, 128}, 10, nn::Activation::relu, rng);
    std::vector<ad::Tensor> params = model.parameters();
    nn::Adam opt(params, 1e-3);
    ad::Rng shuffle(1);
    const long n = X.dim(0), bs = 64;
    std::vector<long> idx, labels;
    auto epoch = [&]() {
        std::vector<long> perm = shuffle.permutation(n);
        for (long b = 0; b < n; b += bs) {
            long m = std::min(bs, n - b);
            idx.assign(perm.begin() + b, perm.begin() + b + m);
            labels.clear();
            for (long i : idx) labels.push_back(y[i]);
            ad::Tensor xb = ad::index_select(X, 0, idx);
            ad::Tensor loss = nn::cross_entropy(model.forward(xb), labels);
            opt.zero_grad();
            ad::backward(loss, params);
            opt.step();
        }
    };
    epoch();  // warm-up
    auto t0 = Clock::now();
    for (int e = 0; e < epochs; ++e) epoch();
    return std::chrono::duration<double>(Clock::now() - t0).count() / epochs;
}

// median seconds per step, one run
static double sine_run(const ad::Tensor& X, const ad::Tensor& Y, int steps) {
    ad::Rng rng(0);
    nn::MLP model(1, {50, 50}, 1, nn::Activation::tanh, rng);
    std::vector<ad::Tensor> params = model.parameters();
    nn::Adam opt(params, 1e-2);
    auto step = [&]() {
        ad::Tensor loss = nn::mse_loss(model.forward(X), Y);
        opt.zero_grad();
        ad::backward(loss, params);
        opt.step();
    };
    for (int s = 0; s < 50; ++s) step();
    std::vector<double> times;
    for (int s = 0; s < steps; ++s) {
        auto t0 = Clock::now();
        step();
        times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    return median(times);
}

// A worker's "tight" figure (0 when absent).
static double peer(const nn::Json* w, const std::string& workload, const std::string& key) {
    if (!w || !w->is_object() || !w->contains(workload)) return 0;
    return w->at(workload).at("tight").at(key).as_number();
}

int main(int argc, char** argv) {
    std::string shared = argc > 1 ? argv[1] : "../shared";
    int threads = argc > 2 ? std::atoi(argv[2]) : 1;
    ad::blas::set_num_threads(threads);

    cli::Table digits = cli::read_csv(shared + "/data/digits/train.csv");
    std::vector<std::string> pix(digits.columns.begin(), digits.columns.end() - 1);
    ad::Tensor X = ad::mul(digits.select(pix), 1.0 / 16.0);
    std::vector<long> y = digits.labels("label");
    cli::Table sine = cli::read_csv(shared + "/data/sine/train.csv");
    ad::Tensor Xs = sine.select({"x"}), Ys = sine.select({"y"});

    std::vector<double> d, s;
    for (int r = 0; r < 3; ++r) d.push_back(digits_run(X, y, 60));
    for (int r = 0; r < 3; ++r) s.push_back(sine_run(Xs, Ys, 2000));
    double d_ms = median(d) * 1e3, s_us = median(s) * 1e6;

    nn::Json recorded = read_json(shared + "/peers/torch_mlp_results.json");
    const std::string worker = "threads_" + std::to_string(threads) + "_malloc_default";
    const nn::Json* rec = recorded.is_object() ? recorded.at("workers").find(worker) : nullptr;
    nn::Json live = argc > 3 ? read_json(argv[3]) : nn::Json();
    const nn::Json* lv = live.is_object() ? &live : nullptr;
    const double rec_d = peer(rec, "digits", "median_s_per_epoch_wall") * 1e3, rec_s = peer(rec, "sine", "median_us_per_step_wall");
    const double live_d = peer(lv, "digits", "median_s_per_epoch_wall") * 1e3, live_s = peer(lv, "sine", "median_us_per_step_wall");

    auto ratio = [](double peer_v, double ours) { return peer_v > 0 ? peer_v / ours : 0.0; };
    std::printf("MLP training, float64, %d thread%s     atomgrad   PyTorch recorded (ratio)   PyTorch here, now (ratio)\n",
                threads, threads == 1 ? " " : "s");
    std::printf("  digits 64-128-128-10 b64, ms/epoch %8.2f   %8.2f (%5.2fx)          %8.2f (%5.2fx)   goal 2x\n", d_ms,
                rec_d, ratio(rec_d, d_ms), live_d, ratio(live_d, d_ms));
    std::printf("  digits samples/s                  %9.0f  %9.0f                  %9.0f\n", 1437 / (d_ms / 1e3),
                rec_d > 0 ? 1437 / (rec_d / 1e3) : 0.0, live_d > 0 ? 1437 / (live_d / 1e3) : 0.0);
    std::printf("  sine 1-50-50-1 tanh, us/step      %8.1f   %8.1f (%5.2fx)          %8.1f (%5.2fx)   goal 4x\n", s_us,
                rec_s, ratio(rec_s, s_us), live_s, ratio(live_s, s_us));
    return 0;
}
