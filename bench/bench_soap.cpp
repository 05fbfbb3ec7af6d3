// Speed of the SOAP power spectrum (specs/soap.md defaults: r_c 5, L 6, N_r 7, species H C O,
// D = 2556) on ethanol frames, single thread: atoms per second for
//   values:            features only
//   values+jacobian:   features and the per-pair derivatives (what a training step records)
//   values+forces:     the above plus one J^T g (forces of E = sum(w * p))
//   ad::soap + ad::grad: the same forces through the autodiff op (graph, a fresh Jacobian per frame)
// Neighbour lists are built once, outside the timed loops (their cost is printed separately).
// usage: bench_soap [path/to/train.xyz] [n_frames]   (default ../shared/data/ethanol-xtb/train.xyz, 1000)
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

int main(int argc, char** argv) {
    const std::string path = argc > 1 ? argv[1] : "../shared/data/ethanol-xtb/train.xyz";
    const long n_frames = argc > 2 ? std::stol(argv[2]) : 1000;
    std::vector<desc::System> frames = desc::read_extxyz(path);
    if (static_cast<long>(frames.size()) > n_frames) frames.resize(static_cast<size_t>(n_frames));
    desc::SoapHypers h;
    h.species = {1, 6, 8};
    desc::Soap calc(h);
    long n_atoms = 0;
    for (const auto& f : frames) n_atoms += f.n_atoms();

    auto t0 = Clock::now();
    std::vector<desc::SoapPairs> pairs;
    for (const auto& f : frames) pairs.push_back(desc::soap_pairs(desc::neighbor_list(f, h.cutoff), f));
    const double t_nl = seconds_since(t0);

    ad::Rng rng(0);
    ad::Tensor w = rng.normal({1, calc.n_features()});
    double checksum = 0.0;
    desc::SoapJacobian J;  // reused: its vectors keep their capacity from frame to frame
    auto run = [&](int mode) {
        std::vector<double> times;
        for (int rep = 0; rep < 3; ++rep) {
            auto t = Clock::now();
            for (size_t k = 0; k < frames.size(); ++k) {
                const auto& f = frames[k];
                if (mode == 3) {  // the autodiff op: forces of E = sum(w * p) through ad::grad
                    ad::Tensor x = f.positions.detach().set_requires_grad(true);
                    ad::Tensor E = ad::sum(desc::soap(x, ad::Tensor(), f.numbers, pairs[k], calc) * w);
                    checksum += ad::grad(E, {x}, ad::CreateGraph::no)[0][0];
                } else if (mode == 0) {
                    ad::Tensor p = calc.compute(f.numbers, f.positions.data(), pairs[k], nullptr, nullptr);
                    checksum += p[0];
                } else {
                    ad::Tensor p = calc.compute(f.numbers, f.positions.data(), pairs[k], nullptr, &J);
                    checksum += p[0];
                    if (mode == 2) {
                        ad::Tensor G = ad::Tensor::empty(p.shape());
                        for (long i = 0; i < p.dim(0); ++i) std::copy(w.data(), w.data() + p.dim(1), G.data() + i * p.dim(1));
                        checksum += J.transpose_apply(G)[0];
                    }
                }
            }
            times.push_back(seconds_since(t));
        }
        std::sort(times.begin(), times.end());
        return times[1];  // median of 3
    };
    const char* names[] = {"values", "values+jacobian", "values+forces (J^T g)", "ad::soap + ad::grad"};
    std::printf("SOAP bench: %zu ethanol frames, %ld atoms, D = %ld, single thread\n", frames.size(), n_atoms,
                calc.n_features());
    std::printf("  %-24s %10.0f atoms/s  (neighbour lists, not included below)\n", "neighbor_list", n_atoms / t_nl);
    for (int mode = 0; mode < 4; ++mode) {
        const double t = run(mode);
        std::printf("  %-24s %10.0f atoms/s  %8.2f us/frame\n", names[mode], n_atoms / t, 1e6 * t / frames.size());
    }
    std::printf("  (checksum %.6g)\n", checksum);
    return 0;
}
