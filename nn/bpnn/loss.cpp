// Targets and weighted energy/force/stress/virial loss (math in loss.hpp).
#include "nn/bpnn/loss.hpp"

#include "autodiff/ops.hpp"

namespace nn::bpnn {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope
using ad::Tensor;

Targets targets_of(const std::vector<desc::System>& frames, const std::string& energy_key,
                   const std::string& forces_key, const std::string& stress_key) {
    const long B = static_cast<long>(frames.size());
    Targets t;
    t.energies = Tensor::zeros({B});
    bool all_forces = true;
    for (long s = 0; s < B; ++s) {
        const desc::System& f = frames[static_cast<size_t>(s)];
        t.energies.data()[s] = f.require_energy(energy_key);
        all_forces = all_forces && f.find_array(forces_key) != nullptr;
        if (f.any_pbc() && f.find_info(stress_key) != nullptr) t.with_stress.push_back(s);
    }
    if (all_forces) {
        std::vector<Tensor> forces;
        for (const auto& f : frames) forces.push_back(f.require_forces(forces_key));
        t.forces = forces.size() == 1 ? forces[0].clone() : ad::concat(forces, 0);
    }
    if (!t.with_stress.empty()) {
        t.stress = Tensor::zeros({B, 3, 3});
        for (long s : t.with_stress) {
            Tensor sigma = frames[static_cast<size_t>(s)].require_stress(stress_key);
            for (int k = 0; k < 9; ++k) t.stress.data()[s * 9 + k] = sigma[k];
        }
    }
    return t;
}

LossTerms energy_loss(const EnergyForcesStress& pred, const Targets& targets, const Batch& batch,
                      const LossWeights& weights) {
    const long B = batch.n_structures(), N = batch.n_atoms();
    AD_CHECK(targets.energies.defined() && targets.energies.shape() == ad::Shape{B},
             "energy_loss: expected target energies [" << B << "], got "
                                                      << (targets.energies.defined() ? targets.energies.shape() : ad::Shape{}));
    Tensor n_atoms = Tensor::zeros({B});  // [B] atoms per structure (constant)
    for (long s = 0; s < B; ++s)
        n_atoms.data()[s] = static_cast<double>(batch.offsets[static_cast<size_t>(s) + 1] - batch.offsets[static_cast<size_t>(s)]);
    LossTerms out;
    out.total = Tensor::scalar(0.0);
    if (weights.energy != 0) {
        out.energy = ad::mean(ad::square((pred.energies - targets.energies) / n_atoms));
        out.total = out.total + weights.energy * out.energy;
    }
    if (weights.forces != 0 && targets.forces.defined()) {
        AD_CHECK(targets.forces.shape() == (ad::Shape{N, 3}),
                 "energy_loss: expected target forces [" << N << ", 3], got " << targets.forces.shape());
        out.forces = ad::mean(ad::square(pred.forces - targets.forces));
        out.total = out.total + weights.forces * out.forces;
    }
    if ((weights.stress != 0 || weights.virial != 0) && !targets.with_stress.empty()) {
        AD_CHECK(targets.stress.defined() && targets.stress.shape() == (ad::Shape{B, 3, 3}),
                 "energy_loss: expected target stress [" << B << ", 3, 3]");
        Tensor d = ad::index_select(pred.stress - targets.stress, 0, targets.with_stress);  // [P, 3, 3]
        if (weights.stress != 0) {
            out.stress = ad::mean(ad::square(d));
            out.total = out.total + weights.stress * out.stress;
        }
        if (weights.virial != 0) {
            // W - W* = -V (sigma - sigma*); per atom: times -V_s / n_s (constant)
            Tensor scale = Tensor::zeros({static_cast<long>(targets.with_stress.size()), 1, 1});
            for (size_t k = 0; k < targets.with_stress.size(); ++k) {
                const size_t s = static_cast<size_t>(targets.with_stress[k]);
                scale.data()[k] = -batch.volumes[s] / n_atoms[static_cast<long>(s)];
            }
            out.virial = ad::mean(ad::square(d * scale));
            out.total = out.total + weights.virial * out.virial;
        }
    }
    return out;
}

}  // namespace nn::bpnn
