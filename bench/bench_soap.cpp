// Speed of the SOAP power spectrum (specs/soap.md defaults: r_c 5, w 0.5, L 6, N_r 7) on
//   ethanol: the 1000 training frames of SHARED/data/ethanol-xtb/train.xyz (H C O, D = 2556)
//   Cu:      the first 100 frames of SHARED/data/cu-emt/train.xyz (32-atom periodic cells, D = 284)
// in atoms per second for
//   values:                features only
//   values+jacobian:       features and the per-pair derivatives (what a training step records)
//   values+force VJP:      the above plus one J^T g (forces of E = sum(w * p)), the descriptor work
//                          that forces need (the peers' "forward + VJP to positions")
//   ad::soap + ad::grad:   the same forces through the autodiff op (graph, fresh Jacobian per frame)
// Neighbour lists are built once, outside the timed loops (their cost is printed separately).
// Frames go in batches of 8 through Soap::compute_many (and SoapJacobian::transpose_apply_many),
// which spread a batch's structures over `threads` threads (ad::parallel_for); results are the
// same bits for any thread count. The autodiff row runs one frame at a time on one thread.
// Prints our figures beside librascal's (../shared/peers/soap_peer.md) and the PyTorch peer's
// (../shared/peers/torch_results.md), with ratios and the goals.
// usage: bench_soap [SHARED_DIR] [threads]   (default ../shared, 1)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "descriptors/extxyz.hpp"
#include "descriptors/neighbor_list.hpp"
#include "descriptors/soap.hpp"

using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

namespace {

enum Mode { kValues, kJacobian, kForceVjp, kAutodiff };

struct Workload {
    std::string name;
    std::vector<desc::System> frames;
    std::vector<desc::SoapPairs> pairs;
    long n_atoms = 0;
    double t_neighbors = 0;
};

Workload load(const std::string& name, const std::string& path, long n_frames, double cutoff) {
    Workload w{name, desc::read_extxyz(path), {}, 0, 0};
    if (static_cast<long>(w.frames.size()) > n_frames) w.frames.resize(static_cast<size_t>(n_frames));
    auto t0 = Clock::now();
    for (const auto& f : w.frames) w.pairs.push_back(desc::soap_pairs(desc::neighbor_list(f, cutoff), f));
    w.t_neighbors = seconds_since(t0);
    for (const auto& f : w.frames) w.n_atoms += f.n_atoms();
    return w;
}

// All frames in one mode, in batches of 8 (the peer's batch size) for the threaded library calls
// (Soap::compute_many, SoapJacobian::transpose_apply_many); returns a checksum.
double run_frames(const Workload& w, const desc::Soap& calc, const ad::Tensor& weights, Mode mode, int threads) {
    double checksum = 0.0;
    const long D = calc.n_features();
    const size_t n_frames = w.frames.size();
    if (mode == kAutodiff) {  // one frame at a time through the op, one thread
        for (size_t k = 0; k < n_frames; ++k) {
            const auto& f = w.frames[k];
            ad::Tensor x = f.positions.detach().set_requires_grad(true);
            ad::Tensor E = ad::sum(desc::soap(x, ad::Tensor(), f.numbers, w.pairs[k], calc) * weights);
            checksum += ad::grad(E, {x}, ad::CreateGraph::no)[0][0];
        }
        return checksum;
    }
    std::vector<desc::Soap::Input> inputs;
    std::vector<desc::SoapJacobian> jacs;  // reused: no large allocations after the first batches
    for (size_t b = 0; b < n_frames; b += 8) {
        inputs.clear();
        for (size_t k = b; k < std::min(n_frames, b + 8); ++k)
            inputs.push_back({&w.frames[k].numbers, w.frames[k].positions.data(), &w.pairs[k], nullptr});
        ad::Tensor p = calc.compute_many(inputs, threads, mode == kValues ? nullptr : &jacs);
        checksum += p[0];
        if (mode == kForceVjp) {
            ad::Tensor G = ad::Tensor::empty(p.shape());
            for (long i = 0; i < p.dim(0); ++i) std::copy(weights.data(), weights.data() + D, G.data() + i * D);
            checksum += desc::SoapJacobian::transpose_apply_many(jacs, G, threads)[0];
        }
    }
    return checksum;
}

// Median of 3 timed passes over all frames (after one untimed warm-up pass), in atoms/s.
double atoms_per_second(const Workload& w, const desc::Soap& calc, const ad::Tensor& weights, Mode mode, int threads,
                        double& checksum) {
    std::vector<double> times;
    for (int rep = 0; rep < 4; ++rep) {
        auto t = Clock::now();
        checksum += run_frames(w, calc, weights, mode, threads);
        if (rep > 0) times.push_back(seconds_since(t));
    }
    std::sort(times.begin(), times.end());
    return static_cast<double>(w.n_atoms) / times[1];
}

std::string fmt_ratio(double ours, double peer) {
    if (peer <= 0) return "      -";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%6.2fx", ours / peer);
    return buf;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string shared = argc > 1 ? argv[1] : "../shared";
    const int threads = argc > 2 ? std::max(1, std::stoi(argv[2])) : 1;

    // Recorded peer figures, atoms/s, float64. librascal: soap_peer.md, single thread, ethanol x1000
    // (GTO, values only; its Cu figure is for a 256-atom cell, not this workload). PyTorch:
    // torch_results.md, "a. SOAP forward, batch 8" and "a. SOAP forward + VJP to positions, batch 8"
    // (ethanol), descriptor_forward_bs8 / descriptor_forward_vjp_bs8 (Cu); 2-thread figures are
    // atoms / (2 thr f64 seconds) from the same tables.
    struct Peer {
        double librascal, torch_values, torch_vjp;
    };
    const Peer eth = threads == 1 ? Peer{55800, 3.96e4, 6.18e3} : Peer{0, 9000 / 0.2896, 9000 / 1.228};
    const Peer cu = threads == 1 ? Peer{0, 1.41e4, 4.53e3} : Peer{0, 3200 / 0.1927, 3200 / 0.6904};

    desc::SoapHypers h;  // spec defaults
    std::vector<Workload> loads;
    loads.push_back(load("ethanol", shared + "/data/ethanol-xtb/train.xyz", 1000, h.cutoff));
    loads.push_back(load("Cu", shared + "/data/cu-emt/train.xyz", 100, h.cutoff));

    std::printf("SOAP (r_c 5, L 6, N_r 7), float64, %d thread%s%s\n", threads, threads == 1 ? "" : "s",
                threads == 1 ? "" : " (Soap::compute_many / transpose_apply_many over the structures of each batch)");
    std::printf("  %-8s %-22s %12s %10s  %-26s %-26s %s\n", "workload", "path", "atoms/s", "us/frame",
                "librascal (ratio)", "PyTorch peer (ratio)", "goal");
    double checksum = 0.0;
    for (const auto& w : loads) {
        h.species = desc::unique_numbers(w.frames);
        desc::Soap calc(h);
        ad::Rng rng(0);
        ad::Tensor weights = rng.normal({1, calc.n_features()});
        const Peer& peer = w.name == "ethanol" ? eth : cu;
        std::printf("  %-8s %ld frames, %ld atoms, D = %ld; neighbour lists %.0f atoms/s (not included)\n",
                    w.name.c_str(), static_cast<long>(w.frames.size()), w.n_atoms, calc.n_features(),
                    w.n_atoms / w.t_neighbors);
        const char* names[] = {"values", "values+jacobian", "values+force VJP", "ad::soap + ad::grad"};
        for (Mode mode : {kValues, kJacobian, kForceVjp, kAutodiff}) {
            if (threads > 1 && (mode == kJacobian || mode == kAutodiff)) continue;  // the headline rows only
            const double rate = atoms_per_second(w, calc, weights, mode, threads, checksum);
            const double us = 1e6 * static_cast<double>(w.n_atoms) / rate / static_cast<double>(w.frames.size());
            char lib[40] = "", tor[40] = "";
            std::string goal;
            if (mode == kValues) {
                if (peer.librascal > 0)
                    std::snprintf(lib, sizeof lib, "%9.0f (%s)", peer.librascal, fmt_ratio(rate, peer.librascal).c_str());
                std::snprintf(tor, sizeof tor, "%9.0f (%s)", peer.torch_values, fmt_ratio(rate, peer.torch_values).c_str());
                goal = peer.librascal > 0 ? ">= librascal, >= 2x peer" : ">= 2x peer";
                goal += rate >= peer.librascal && rate >= 2 * peer.torch_values ? ": met" : ": NOT met";
            } else if (mode == kForceVjp) {
                std::snprintf(tor, sizeof tor, "%9.0f (%s)", peer.torch_vjp, fmt_ratio(rate, peer.torch_vjp).c_str());
                goal = std::string(">= 5x peer") + (rate >= 5 * peer.torch_vjp ? ": met" : ": NOT met");
            }
            std::printf("  %-8s %-22s %12.0f %10.1f  %-26s %-26s %s\n", "", names[mode], rate, us, lib, tor,
                        goal.c_str());
        }
    }
    std::printf("  (checksum %.6g)\n", checksum);
    return 0;
}
