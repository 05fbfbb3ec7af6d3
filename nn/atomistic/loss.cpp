// Targets and metatrain's energy/forces/strain loss (math in loss.hpp).
#include "nn/atomistic/loss.hpp"

#include "autodiff/ops.hpp"

namespace nn::atomistic {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope
using ad::Tensor;

LossType parse_loss_type(const std::string& name) {
    if (name == "mse") return LossType::mse;
    if (name == "mae") return LossType::mae;
    if (name == "huber") return LossType::huber;
    AD_FAIL("loss type: expected one of mse, mae, huber, got '" << name << "'");
}

Reduction parse_reduction(const std::string& name) {
    if (name == "mean") return Reduction::mean;
    if (name == "sum") return Reduction::sum;
    AD_FAIL("loss reduction: expected one of mean, sum, got '" << name << "'");
}

const char* to_string(LossType type) {
    switch (type) {
        case LossType::mse: return "mse";
        case LossType::mae: return "mae";
        case LossType::huber: return "huber";
    }
    return "?";
}

const char* to_string(Reduction reduction) { return reduction == Reduction::sum ? "sum" : "mean"; }

Targets targets_of(const std::vector<desc::System>& frames, const std::string& energy_key,
                   const std::string& forces_key, const std::string& stress_key, const std::string& virial_key) {
    const long B = static_cast<long>(frames.size());
    const std::string& strain_key = virial_key.empty() ? stress_key : virial_key;
    Targets t;
    t.energies = Tensor::zeros({B});
    bool all_forces = !forces_key.empty();
    for (long s = 0; s < B; ++s) {
        const desc::System& f = frames[static_cast<size_t>(s)];
        t.energies.data()[s] = f.require_energy(energy_key);
        all_forces = all_forces && f.find_array(forces_key) != nullptr;
        if (!strain_key.empty() && f.any_pbc() && f.find_info(strain_key) != nullptr) t.with_stress.push_back(s);
    }
    if (all_forces) {
        std::vector<Tensor> forces;
        for (const auto& f : frames) forces.push_back(f.require_forces(forces_key));
        t.forces = forces.size() == 1 ? forces[0].clone() : ad::concat(forces, 0);
    }
    if (!t.with_stress.empty()) {
        t.stress = Tensor::zeros({B, 3, 3});
        for (long s : t.with_stress) {
            const desc::System& f = frames[static_cast<size_t>(s)];
            Tensor value = f.require_stress(strain_key);
            // a virial W = -V sigma (metatrain reads it as the strain gradient -W)
            const double factor = virial_key.empty() ? 1.0 : -1.0 / std::abs(f.volume());
            for (int k = 0; k < 9; ++k) t.stress.data()[s * 9 + k] = factor * value[k];
        }
    }
    return t;
}

// Huber: quadratic inside |r| < delta, linear outside; the pieces meet with equal value and slope
// at |r| = delta, so where() picking one branch per element gives the right gradient everywhere.
Tensor loss_term(const Tensor& r, const LossTerm& term) {
    Tensor e;
    switch (term.type) {
        case LossType::mse: e = ad::square(r); break;
        case LossType::mae: e = ad::abs(r); break;  // subgradient 0 at r = 0
        case LossType::huber: {
            AD_CHECK(term.delta > 0, "loss: expected huber delta > 0, got " << term.delta);
            Tensor a = ad::abs(r);
            Tensor inside = ad::greater(Tensor::scalar(term.delta), a.detach());  // constant mask
            e = ad::where(inside, 0.5 * ad::square(r), term.delta * (a - 0.5 * term.delta));
            break;
        }
    }
    return term.reduction == Reduction::sum ? ad::sum(e) : ad::mean(e);
}

LossTerms energy_loss(const EnergyForcesStress& pred, const Targets& targets, const Batch& batch,
                      const LossConfig& config) {
    const long B = batch.n_structures(), N = batch.n_atoms();
    AD_CHECK(targets.energies.defined() && targets.energies.shape() == ad::Shape{B},
             "energy_loss: expected target energies [" << B << "], got "
                                                      << (targets.energies.defined() ? targets.energies.shape() : ad::Shape{}));
    // [B] divisor of structure s: n_s (per atom) or 1 (per_structure), a constant
    Tensor divisor = Tensor::zeros({B});
    for (long s = 0; s < B; ++s)
        divisor.data()[s] = config.per_structure ? 1.0
                                                 : static_cast<double>(batch.offsets[static_cast<size_t>(s) + 1] -
                                                                       batch.offsets[static_cast<size_t>(s)]);
    LossTerms out;
    out.total = Tensor::scalar(0.0);
    if (config.energy.weight != 0) {
        out.energy = loss_term((pred.energies - targets.energies) / divisor, config.energy);
        out.total = out.total + config.energy.weight * out.energy;
    }
    if (config.forces.weight != 0 && targets.forces.defined()) {
        AD_CHECK(targets.forces.shape() == (ad::Shape{N, 3}),
                 "energy_loss: expected target forces [" << N << ", 3], got " << targets.forces.shape());
        AD_CHECK(pred.forces.defined(), "energy_loss: expected predicted forces, got none");
        out.forces = loss_term(pred.forces - targets.forces, config.forces);
        out.total = out.total + config.forces.weight * out.forces;
    }
    if (config.strain.weight != 0 && !targets.with_stress.empty()) {
        AD_CHECK(targets.stress.defined() && targets.stress.shape() == (ad::Shape{B, 3, 3}),
                 "energy_loss: expected target stress [" << B << ", 3, 3]");
        AD_CHECK(pred.stress.defined(), "energy_loss: expected predicted stress, got none");
        // strain gradient V sigma, per atom: (sigma - sigma*) times V_s / n_s (a constant)
        Tensor scale = Tensor::zeros({static_cast<long>(targets.with_stress.size()), 1, 1});
        for (size_t k = 0; k < targets.with_stress.size(); ++k) {
            const long s = targets.with_stress[k];
            scale.data()[k] = batch.volumes[static_cast<size_t>(s)] / divisor[s];
        }
        Tensor d = ad::index_select(pred.stress - targets.stress, 0, targets.with_stress);  // [P, 3, 3]
        out.strain = loss_term(d * scale, config.strain);
        out.total = out.total + config.strain.weight * out.strain;
    }
    return out;
}

}  // namespace nn::atomistic
