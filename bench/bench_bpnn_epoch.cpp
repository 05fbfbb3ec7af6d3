// One SOAP-BPNN training epoch with energies and forces on ethanol, through the library's trainer
// (nn::bpnn::train_soap_bpnn: batches with neighbour lists, scaled targets, forward_backward over
// chunks on the threads, Adam with its schedule, training metrics), beside the PyTorch peer's
// "c. epoch, energy+forces loss" (../shared/peers/torch_results.md):
//   peer:  1000 training frames of SHARED/data/ethanol-xtb/train.xyz, batch 8 (125 steps), E + F
//          MSE, Adam; no validation pass, neighbour lists built before the timed loop; median over
//          repeated epochs after one warm-up epoch.
//   ours:  the same 1000 frames, default hypers (nn/bpnn/default.toml), batch 8, no validation set;
//          6 epochs, median (and min) of epochs 2-6 (epoch 1 includes setup and warms the pools).
//          Our epoch also builds every batch's neighbour lists (the peer's does not).
//   also:  what `atomgrad train` does per epoch with a 10 % validation split: 900 frames trained,
//          100 evaluated (energies and forces).
// Peak memory: a fresh process (this program re-executed with --peak T) reads the frames and runs
// one epoch; the parent reads its ru_maxrss (wait4), as the peer's f. table (344 MiB, 1 thread).
// usage: bench_bpnn_epoch [SHARED_DIR]   (default ../shared)
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/bench_util.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/bpnn/trainer.hpp"

using Clock = std::chrono::steady_clock;

namespace {

nn::bpnn::TrainerSettings settings(long epochs) {
    nn::bpnn::TrainerSettings s;  // default hypers, batch 8, lr 1e-3, energy + forces
    s.num_epochs = epochs;
    return s;
}

struct EpochTimes {
    double median, min;
};

// Seconds per epoch: median and minimum of epochs 2..n (the first carries setup and warm-up).
EpochTimes epoch_seconds(const std::vector<desc::System>& train, const std::vector<desc::System>& val, long n_epochs) {
    std::vector<double> t;
    auto last = Clock::now();
    nn::bpnn::train_soap_bpnn(train, val, settings(n_epochs), [&](const nn::bpnn::EpochLog&, const nn::bpnn::TrainedModel&, const nn::bpnn::TrainingState&) {
        auto now = Clock::now();
        t.push_back(std::chrono::duration<double>(now - last).count());
        last = now;
    });
    t.erase(t.begin());
    std::sort(t.begin(), t.end());
    return {t[t.size() / 2], t[0]};
}

// Peak RSS (MiB) of a fresh process running one epoch on `threads` threads.
double peak_mib(const char* self, const std::string& shared, int threads) {
    const std::string t = std::to_string(threads);
    pid_t pid = fork();
    if (pid == 0) {
        execl(self, self, shared.c_str(), "--peak", t.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    int status = 0;
    struct rusage ru {};
    if (pid < 0 || wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    return static_cast<double>(ru.ru_maxrss) / 1024.0;  // KiB on Linux
}

double peer(const nn::Json& j, const char* section, const char* key) {
    const nn::Json* s = j.is_object() ? j.find("summary") : nullptr;
    const nn::Json* t = s ? s->find(section) : nullptr;
    const nn::Json* v = t ? t->find(key) : nullptr;
    return v && v->is_number() ? v->as_number() : 0.0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string shared = argc > 1 ? argv[1] : "../shared";
    std::vector<desc::System> frames = desc::read_extxyz(shared + "/data/ethanol-xtb/train.xyz");
    if (frames.size() > 1000) frames.resize(1000);
    if (argc > 3 && std::string(argv[2]) == "--peak") {  // child of peak_mib
        nn::bpnn::set_num_threads(std::stoi(argv[3]));
        nn::bpnn::train_soap_bpnn(frames, {}, settings(1));
        return 0;
    }
    const nn::Json j = read_json(shared + "/peers/torch_results.json");
    const double peer_epoch[2] = {peer(j, "ethanol_t1_float64", "c_epoch_energy_forces_s"),
                                  peer(j, "ethanol_t2_float64", "c_epoch_energy_forces_s")};
    const nn::Json* mem = j.is_object() && j.find("summary") ? j.at("summary").find("peak_rss_mib") : nullptr;
    const double peer_peak = mem && mem->find("ethanol_float64_tuned") ? mem->at("ethanol_float64_tuned").as_number() : 0;

    const std::vector<desc::System> train900(frames.begin(), frames.begin() + 900), val100(frames.begin() + 900, frames.end());
    std::printf("SOAP-BPNN training epoch, ethanol, energies + forces, default hypers, batch 8, float64\n");
    std::printf("  %-7s %-38s %9s %7s  %-22s %s\n", "threads", "workload", "s/epoch", "(min)", "PyTorch peer (ratio)", "goal");
    for (int threads : {1, 2}) {
        nn::bpnn::set_num_threads(threads);
        const EpochTimes t = epoch_seconds(frames, {}, 6);
        const double p = peer_epoch[threads - 1];
        char pr[40] = "";
        if (p > 0) std::snprintf(pr, sizeof pr, "%6.3f (%6.2fx)", p, p / t.median);
        std::printf("  %-7d %-38s %9.3f %7.3f  %-22s %s\n", threads, "1000 frames (125 steps), as the peer", t.median, t.min,
                    pr, p > 0 ? (p / t.median >= 5 ? ">= 5x peer: met" : ">= 5x peer: NOT met") : "");
        const EpochTimes tv = epoch_seconds(train900, val100, 4);
        std::printf("  %-7d %-38s %9.3f %7.3f\n", threads, "900 trained + 100 validated", tv.median, tv.min);
    }
    for (int threads : {1, 2}) {
        const double mib = peak_mib(argv[0], shared, threads);
        char pr[40] = "";
        if (peer_peak > 0 && threads == 1) std::snprintf(pr, sizeof pr, "%6.0f (%5.2fx)", peer_peak, mib / peer_peak);
        std::printf("  %-7d %-38s %6.0f MiB %7s  %-22s %s\n", threads, "peak RSS, process running one epoch", mib, "", pr,
                    peer_peak > 0 ? (mib <= peer_peak / 2 ? "<= peer / 2: met" : "<= peer / 2: NOT met") : "");
    }
    nn::bpnn::set_num_threads(0);
    return 0;
}
