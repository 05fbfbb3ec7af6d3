// LLPR building blocks on ethanol beside the PyTorch peer's "e. LLPR building blocks"
// (../shared/peers/torch_results.md, W = 32: our default hypers' last layer is 32 wide):
//   peer:  last-layer features of the 1000 training frames (full model, SOAP recomputed, batch 8,
//          no grad), F^T F, the inverse of C + reg I, features of the 200 test frames, u = f C^-1 f^T;
//          wall medians of 3.
//   ours:  default hypers (nn/bpnn/default.toml), untrained model with seed 0, the same frames;
//          uq::soap_bpnn_last_layer_features (batches of 8 from the frames, neighbour lists
//          included; the packed-SOAP kernel of uq/llpr_features.hpp), LlprCovariance::add (phi_s / N_s as the wrap), Llpr::fit (eigendecomposition),
//          the test features, Llpr::variance; medians of 7 after one warm-up, 1 and 2 threads
//          (nn::bpnn::set_num_threads). Goal: total >= 5x faster than the peer's.
// A last line puts the 1- and 2-thread totals beside the peer's 1- and 2-thread float64 totals,
// with the load average (the machine is shared: compare the CPU time when the load exceeds the
// core count).
// Also: energies, sigma, 128 members' energies and forces (LlprModel::predict with ensemble forces)
// on the 200 test frames in batches of 8, against one force evaluation (energy_forces_stress) of
// the same batches; median wall times, one thread. Goal <= 10x.
// usage: bench_llpr [SHARED_DIR]   (default ../shared)
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/graph.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "bench/bench_util.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/bpnn/bpnn.hpp"
#include "nn/bpnn/trainer.hpp"
#include "uq/llpr_model.hpp"

using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double cpu_now() {  // process CPU time (all threads): less sensitive to other load than wall time
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

double peer_step(const nn::Json& j, int threads, const char* step) {
    const nn::Json* p = j.is_object() ? j.find("bench") : nullptr;
    const bool total = std::string(step) == "total";
    for (const char* k : {threads == 1 ? "t1" : "t2", "dtypes", "float64", "e_llpr_w32", total ? "total_median_s" : step,
                          total ? "" : "median_s"}) {
        if (!*k) break;
        if (!p || !p->is_object()) return 0.0;
        p = p->find(k);
    }
    return p && p->is_number() ? p->as_number() : 0.0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string shared = argc > 1 ? argv[1] : "../shared";
    std::vector<desc::System> train = desc::read_extxyz(shared + "/data/ethanol-xtb/train.xyz");
    std::vector<desc::System> test = desc::read_extxyz(shared + "/data/ethanol-xtb/test.xyz");
    if (train.size() > 1000) train.resize(1000);
    if (test.size() > 200) test.resize(200);
    const nn::Json j = read_json(shared + "/peers/torch_results.json");

    ad::Rng rng(0);
    auto model = std::make_shared<nn::bpnn::SoapBpnn>(nn::bpnn::BpnnHypers{}, std::vector<int>{1, 6, 8}, rng);
    const long P = static_cast<long>(model->species().size()) * model->n_features();
    const long bs = 8, reps = 7;

    std::printf("LLPR building blocks, ethanol, default hypers (S d = %ld last-layer features), batch 8, float64\n", P);
    std::printf("  %-7s %-24s %10s  %-24s %s\n", "threads", "step", "s (wall)", "PyTorch peer W=32 (ratio)", "goal");
    const char* names[5] = {"collect_train_features", "FtF", "inverse", "test_features", "test_uncertainties"};
    double totals[2][3] = {{0, 0, 0}, {0, 0, 0}};  // [threads - 1]: wall, CPU, peer
    for (int threads : {1, 2}) {
        nn::bpnn::set_num_threads(threads);
        std::vector<std::vector<double>> t(6), cpu(2);
        for (long r = 0; r <= reps; ++r) {
            double s[5];
            const double c0 = cpu_now();
            auto t0 = Clock::now();
            std::vector<long> counts;
            const ad::Tensor F = uq::soap_bpnn_last_layer_features(*model, train, bs, &counts);
            s[0] = since(t0);
            const double c1 = cpu_now();
            t0 = Clock::now();
            uq::LlprCovariance cov(P);
            cov.add(F, counts);
            s[1] = since(t0);
            t0 = Clock::now();
            const uq::Llpr llpr = uq::Llpr::fit(cov);
            s[2] = since(t0);
            t0 = Clock::now();
            const ad::Tensor Ft = uq::soap_bpnn_last_layer_features(*model, test, bs);
            s[3] = since(t0);
            t0 = Clock::now();
            const ad::Tensor u = llpr.variance(Ft);
            s[4] = since(t0);
            const double c2 = cpu_now();
            if (r == 0) continue;  // warm-up
            cpu[0].push_back(c1 - c0), cpu[1].push_back(c2 - c0);
            double total = 0;
            for (int k = 0; k < 5; ++k) t[k].push_back(s[k]), total += s[k];
            t[5].push_back(total);
        }
        for (int k = 0; k < 6; ++k) {
            const char* name = k < 5 ? names[k] : "total";
            const double ours = median(t[k]), p = peer_step(j, threads, name);
            char pr[48] = "";
            if (p > 0) std::snprintf(pr, sizeof pr, "%9.3g (%7.1fx)", p, p / ours);
            std::printf("  %-7d %-24s %10.3g  %-24s %s\n", threads, name, ours, pr,
                        k == 5 && p > 0 ? (p / ours >= 5 ? ">= 5x peer: met" : ">= 5x peer: NOT met") : "");
        }
        std::printf("  %-7d %-24s %10.3g  (CPU s of all threads: collect_train_features %.3g)\n", threads,
                    "total, CPU", median(cpu[1]), median(cpu[0]));
        totals[threads - 1][0] = median(t[5]), totals[threads - 1][1] = median(cpu[1]);
        totals[threads - 1][2] = peer_step(j, threads, "total");
    }
    double load[3] = {0, 0, 0};
    if (FILE* f = std::fopen("/proc/loadavg", "r")) {
        if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = load[1] = load[2] = 0;
        std::fclose(f);
    }
    std::printf("  totals (wall; CPU): 1 thread %.3g s; %.3g s vs peer %.3g s: %.1fx; %.1fx | 2 threads %.3g s; %.3g s "
                "vs peer %.3g s: %.1fx; %.1fx | goal >= 5x | load %.2f %.2f %.2f\n",
                totals[0][0], totals[0][1], totals[0][2], totals[0][2] / totals[0][0], totals[0][2] / totals[0][1],
                totals[1][0], totals[1][1], totals[1][2], totals[1][2] / totals[1][0], totals[1][2] / totals[1][1],
                load[0], load[1], load[2]);

    // 128 members' energies + forces (+ sigma) against one force evaluation, one thread.
    nn::bpnn::set_num_threads(1);
    std::vector<nn::bpnn::Batch> batches;
    for (size_t lo = 0; lo < test.size(); lo += bs) {
        std::vector<desc::System> part(test.begin() + static_cast<long>(lo),
                                       test.begin() + static_cast<long>(std::min(test.size(), lo + bs)));
        batches.push_back(nn::bpnn::make_batch(part, model->hypers().cutoff));
    }
    uq::Llpr llpr = uq::Llpr::fit(uq::soap_bpnn_llpr_covariance(*model, train, bs));
    ad::Rng erng(1);
    const ad::Tensor w = ad::reshape(model->last_layer_weights().detach(), {-1});
    ad::Tensor W = llpr.sample_ensemble(w, 128, erng);
    nn::bpnn::CompositionModel composition;
    composition.weights = {{1, 0.0}, {6, 0.0}, {8, 0.0}};
    const uq::LlprModel wrapped(model, composition, nn::bpnn::EnergyScaler{}, llpr, W);
    std::vector<double> tf, te;
    for (long r = 0; r <= reps; ++r) {
        auto t0 = Clock::now();
        {
            ad::NoGrad no_grad;
            for (const auto& b : batches) (void)model->energy_forces_stress(b, ad::CreateGraph::no);
        }
        const double f = since(t0);
        t0 = Clock::now();
        for (const auto& b : batches) (void)wrapped.predict(b, uq::EnsembleForces::yes);
        const double e = since(t0);
        if (r > 0) tf.push_back(f), te.push_back(e);
    }
    const double f = median(tf), e = median(te);
    std::printf("  %-7d %-44s %8.3f s vs %6.3f s  (%5.1fx)  %s\n", 1,
                "128 members' energies + forces (+ sigma), 200 test frames, vs one force evaluation", e, f, e / f,
                e / f <= 10 ? "<= 10x: met" : "<= 10x: NOT met");
    nn::bpnn::set_num_threads(0);
    return 0;
}
