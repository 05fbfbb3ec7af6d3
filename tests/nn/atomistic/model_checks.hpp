// The checks every atomistic architecture's tests run (tests/nn/test_bpnn, test_nanopet,
// test_pet), written once against nn::atomistic::AtomisticModel, with the tolerance and the reason
// for it given by the caller (printed with a failure):
//   forces   F = -dE/dR:  -<F, d> = (E(R + h d) - E(R - h d)) / 2h for directions d (central
//            differences, a fresh neighbour list per displaced structure)
//   stress   sigma = (1/V) dE/d(eps): (E(A+ x) - E(A- x)) / 2h / V with A+- = I +- h e_a e_b^T
//            acting on positions and cell (no strain input: the physical definition)
//   translation E(R + t) = E(R), F(R + t) = F(R); permutation E(P R) = E(R), F(P R) = P F(R)
//   checkpoint save, load: same species, hypers, composition weights, scale, parameters and energies
#pragma once
#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/ops.hpp"
#include "nn/atomistic/model.hpp"
#include "tests/nn/nn_helpers.hpp"

namespace model_checks {

using ad::Tensor;
using nn::atomistic::AtomisticModel;

/// |actual - expected| < atol + rtol |expected|; `reason` says why this much (shown on failure).
struct Tolerance {
    double atol, rtol;
    const char* reason;
};

// Tolerances the architectures' tests share.
/// Central differences with step h ~1e-5..1e-4 of energies ~1-10: truncation ~h^2 |E'''| <= 1e-8,
/// rounding ~1e-16 |E| / h <= 1e-10.
constexpr Tolerance kForcesFd{1e-7, 1e-6, "central differences of energies ~1-10: truncation <= 1e-8, rounding <= 1e-10"};
/// The same, divided by the volume (~47 A^3 for 4 Cu, more for 32).
constexpr Tolerance kStressFd{1e-8, 1e-6, "central differences of energies ~10 at h = 1e-5: truncation ~1e-9, rounding ~1e-10, over V >= 47"};
/// Moved or reordered atoms: the same sums in another order, energies ~1-10.
constexpr Tolerance kReordered{1e-10, 0, "the same sums in another order: rounding of energies ~1-10"};

/// Position components k = 3 i + a of atoms 0, 4, 8 (every a): the probes of the PET force tests.
inline const std::vector<long> kProbeComponents = {0, 1, 2, 12, 13, 14, 24, 25, 26};

inline desc::System ethanol(long k = 0) { return testing::test_frames("ethanol-xtb-5.xyz").at(k); }
inline desc::System copper_fcc4() { return testing::test_frames("cu_fcc4.xyz").at(0); }  // 4 Cu, periodic, rattled

using testing::max_abs;

/// x' = A x + t for every atom, cell rows likewise (A any 3x3 matrix, row-major); per-atom arrays
/// (reference forces) are dropped.
inline desc::System transformed(const desc::System& s, const double A[9], const double t[3]) {
    desc::System out = s;
    const long n = s.n_atoms();
    out.positions = Tensor::zeros({n, 3});
    out.cell = Tensor::zeros({3, 3});
    for (long i = 0; i < n; ++i)
        for (int a = 0; a < 3; ++a) {
            double v = t[a];
            for (int b = 0; b < 3; ++b) v += A[a * 3 + b] * s.positions[i * 3 + b];
            out.positions.data()[i * 3 + a] = v;
        }
    for (int k = 0; k < 3; ++k)
        for (int a = 0; a < 3; ++a) {
            double v = 0;
            for (int b = 0; b < 3; ++b) v += A[a * 3 + b] * s.cell[k * 3 + b];
            out.cell.data()[k * 3 + a] = v;
        }
    out.arrays.clear();
    return out;
}

/// E of one structure, on a batch built with the model's own cutoff.
inline double energy_of(const AtomisticModel& model, const desc::System& s) {
    ad::NoGrad no_grad;
    return model.energies(nn::atomistic::make_batch({s}, model.cutoff()))[0];
}

/// Unit directions e_k [n_atoms, 3] of the flat position components k = 3 i + a.
inline std::vector<Tensor> component_directions(long n_atoms, const std::vector<long>& components) {
    std::vector<Tensor> out;
    for (long k : components) {
        Tensor d = Tensor::zeros({n_atoms, 3});
        d.data()[k] = 1.0;
        out.push_back(d);
    }
    return out;
}

/// Forces against central differences of the energy along each direction d [n_atoms, 3] with step h;
/// also that the forces are not all ~0 (> 1e-4), so that the comparison means something.
inline void check_forces_fd(const AtomisticModel& model, const desc::System& s, const std::vector<Tensor>& directions,
                            double h, Tolerance tol) {
    INFO(tol.reason);
    auto efs = model.energy_forces_stress(nn::atomistic::make_batch({s}, model.cutoff()), ad::CreateGraph::no);
    REQUIRE(efs.forces.shape() == (ad::Shape{s.n_atoms(), 3}));
    CHECK(max_abs(efs.forces) > 1e-4);
    for (const Tensor& d : directions) {
        desc::System p = s, m = s;
        p.positions = s.positions + d * h;
        m.positions = s.positions - d * h;
        const double fd = (energy_of(model, p) - energy_of(model, m)) / (2 * h);
        const double analytic = -nn_testing::dot(efs.forces, d);
        CHECK(std::fabs(analytic - fd) < tol.atol + tol.rtol * std::fabs(fd));
    }
}

/// Stress of a periodic structure against (1/V) dE/d(eps) by central differences with step h,
/// every component; also that the stress is not all ~0 (> 1e-6).
inline void check_stress_fd(const AtomisticModel& model, const desc::System& s, double h, Tolerance tol) {
    INFO(tol.reason);
    auto efs = model.energy_forces_stress(nn::atomistic::make_batch({s}, model.cutoff()), ad::CreateGraph::no);
    REQUIRE(efs.stress.shape() == (ad::Shape{1, 3, 3}));
    CHECK(max_abs(efs.stress) > 1e-6);
    const double V = std::fabs(s.volume()), zero[3] = {0, 0, 0};
    for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) {
            double Ap[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, Am[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
            Ap[a * 3 + b] += h;
            Am[a * 3 + b] -= h;
            const double fd = (energy_of(model, transformed(s, Ap, zero)) - energy_of(model, transformed(s, Am, zero))) / (2 * h);
            CHECK(std::fabs(fd / V - efs.stress[a * 3 + b]) < tol.atol + tol.rtol * std::fabs(fd / V));
        }
}

/// Energy and forces unchanged by a rigid shift t of every atom (each within tol).
inline void check_translation_invariance(const AtomisticModel& model, const desc::System& s, const double t[3],
                                         Tolerance tol) {
    INFO(tol.reason);
    const double I[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    auto ref = model.energy_forces_stress(nn::atomistic::make_batch({s}, model.cutoff()), ad::CreateGraph::no);
    auto moved = model.energy_forces_stress(nn::atomistic::make_batch({transformed(s, I, t)}, model.cutoff()),
                                            ad::CreateGraph::no);
    CHECK(std::fabs(moved.energies[0] - ref.energies[0]) < tol.atol + tol.rtol * std::fabs(ref.energies[0]));
    CHECK_THAT(moved.forces, testing::AllClose(ref.forces, tol.rtol, tol.atol));
}

/// Atom k of the permuted structure is atom perm[k] of s: same energy, forces permuted alike
/// (each within tol).
inline void check_permutation_invariance(const AtomisticModel& model, const desc::System& s,
                                         const std::vector<long>& perm, Tolerance tol) {
    INFO(tol.reason);
    const long n = s.n_atoms();
    REQUIRE(static_cast<long>(perm.size()) == n);
    desc::System p = s;
    p.positions = Tensor::zeros({n, 3});
    for (long k = 0; k < n; ++k) {
        p.numbers[static_cast<size_t>(k)] = s.numbers[static_cast<size_t>(perm[static_cast<size_t>(k)])];
        for (int a = 0; a < 3; ++a) p.positions.data()[k * 3 + a] = s.positions[perm[static_cast<size_t>(k)] * 3 + a];
    }
    p.arrays.clear();
    auto ref = model.energy_forces_stress(nn::atomistic::make_batch({s}, model.cutoff()), ad::CreateGraph::no);
    auto got = model.energy_forces_stress(nn::atomistic::make_batch({p}, model.cutoff()), ad::CreateGraph::no);
    CHECK(std::fabs(got.energies[0] - ref.energies[0]) < tol.atol + tol.rtol * std::fabs(ref.energies[0]));
    CHECK_THAT(got.forces, testing::AllClose(ad::index_select(ref.forces, 0, perm), tol.rtol, tol.atol));
}

/// perm[k] = n - 1 - k.
inline std::vector<long> reversed_order(long n) {
    std::vector<long> perm;
    for (long k = n - 1; k >= 0; --k) perm.push_back(k);
    return perm;
}

/// The parameters of `model` with these names, in the model's order; REQUIREs every name found.
inline std::vector<Tensor> parameters_named(const AtomisticModel& model, const std::vector<std::string>& names) {
    std::vector<Tensor> out;
    for (const auto& [name, p] : model.named_parameters())
        if (std::find(names.begin(), names.end(), name) != names.end()) out.push_back(p);
    REQUIRE(out.size() == names.size());
    return out;
}

/// s plus one atom of atomic number Z at (50, 50, 50), far from every other atom.
inline desc::System with_isolated_atom(const desc::System& s, int Z) {
    desc::System out = s;
    out.numbers.push_back(Z);
    out.positions = ad::concat({s.positions, ad::tensor({1, 3}, {50, 50, 50})}, 0);
    out.arrays.clear();
    return out;
}

/// The checkpoint class method of an architecture, e.g. NanoPet::from_checkpoint.
using CheckpointLoader =
    std::function<std::shared_ptr<AtomisticModel>(const nn::Checkpoint&, std::map<int, double>*, double*)>;

/// Save (to a file) and load give the same species, hypers, composition weights, energy scale,
/// parameters (exactly) and energies of `frames` (exactly); a checkpoint of `other_architecture`
/// is refused with the message naming both.
inline void check_checkpoint_round_trip(const AtomisticModel& model, const CheckpointLoader& load,
                                        const std::map<int, double>& weights, double scale,
                                        const std::vector<desc::System>& frames, const std::string& other_architecture) {
    nn_testing::TempDir dir;
    const std::string path = dir.file(model.architecture() + ".ckpt");
    nn::save_checkpoint(path, model.to_checkpoint(weights, scale));
    std::map<int, double> loaded_weights;
    double loaded_scale = 0;
    auto loaded = load(nn::load_checkpoint(path), &loaded_weights, &loaded_scale);
    CHECK(loaded->species() == model.species());
    CHECK(loaded->hypers_toml() == model.hypers_toml());
    CHECK(loaded_weights == weights);
    CHECK(loaded_scale == scale);
    auto a = model.state_dict(), b = loaded->state_dict();
    REQUIRE(a.size() == b.size());
    for (size_t k = 0; k < a.size(); ++k) {
        CHECK(a[k].first == b[k].first);
        CHECK_THAT(b[k].second, testing::AllClose(a[k].second, 0, 0));
    }
    auto batch = nn::atomistic::make_batch(frames, model.cutoff());
    ad::NoGrad no_grad;
    CHECK_THAT(loaded->energies(batch), testing::AllClose(model.energies(batch), 0, 0));
    nn::Checkpoint wrong = model.to_checkpoint();
    wrong.metadata["architecture"] = other_architecture;
    REQUIRE_THROWS_WITH(load(wrong, nullptr, nullptr), "checkpoint: expected architecture '" + model.architecture() +
                                                           "', got '" + other_architecture + "'");
}

/// Seconds per call of fn, the mean of `reps` calls after one warm-up call (buffer pool).
template <class F>
double seconds_per_call(F&& fn, int reps = 5) {
    fn();
    auto t0 = std::chrono::steady_clock::now();
    for (int k = 0; k < reps; ++k) fn();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
}

/// Timings of the three passes training and evaluation use, on one batch.
struct PassTimes {
    double forward, energy_forces, force_loss_backward;  ///< seconds
};
inline PassTimes time_passes(const AtomisticModel& model, const nn::atomistic::Batch& batch) {
    PassTimes t;
    t.forward = seconds_per_call([&] { ad::NoGrad ng; model.energies(batch); });
    t.energy_forces = seconds_per_call([&] { model.energy_forces_stress(batch, ad::CreateGraph::no); });
    t.force_loss_backward = seconds_per_call([&] {
        auto efs = model.energy_forces_stress(batch, ad::CreateGraph::yes);
        Tensor loss = ad::sum(ad::square(efs.energies)) + ad::sum(ad::square(efs.forces));
        ad::backward(loss, model.parameters());
    });
    return t;
}

/// The 5 frames of ethanol-xtb-5.xyz repeated to `n` frames.
inline std::vector<desc::System> ethanol_frames(size_t n) {
    auto frames = testing::test_frames("ethanol-xtb-5.xyz");
    std::vector<desc::System> out;
    for (size_t k = 0; k < n; ++k) out.push_back(frames[k % frames.size()]);
    return out;
}

}  // namespace model_checks
