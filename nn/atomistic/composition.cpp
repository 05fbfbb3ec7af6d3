// Composition baseline and energy scaler (see composition.hpp).
#include "nn/atomistic/composition.hpp"

#include <algorithm>
#include <cmath>

#include "autodiff/ops.hpp"

namespace nn::atomistic {

using ad::operator<<;
using ad::Tensor;

// ---------------------------------------------------------------------------- composition

CompositionModel CompositionModel::fit(const std::vector<std::vector<int>>& numbers_per_structure,
                                       const std::vector<double>& energies, const std::vector<int>& species,
                                       const std::map<int, double>& fixed) {
    const size_t n = numbers_per_structure.size();
    AD_CHECK(n > 0 && energies.size() == n, "CompositionModel::fit: expected one energy per structure (> 0), got "
                                                << energies.size() << " energies for " << n << " structures");
    std::vector<int> free;
    for (int Z : species)
        if (!fixed.count(Z) && std::find(free.begin(), free.end(), Z) == free.end()) free.push_back(Z);
    CompositionModel m;
    for (const auto& [Z, w] : fixed) m.weights[Z] = w;
    const long F = static_cast<long>(free.size());
    if (F == 0) return m;
    // C[s, a] = number of atoms of free species a in s;  y[s] = E_s - sum_fixed n w.
    std::vector<double> C(n * static_cast<size_t>(F), 0.0), y(n);
    for (size_t s = 0; s < n; ++s) {
        y[s] = energies[s];
        for (int Z : numbers_per_structure[s]) {
            auto it = std::find(free.begin(), free.end(), Z);
            if (it != free.end()) C[s * F + static_cast<size_t>(it - free.begin())] += 1.0;
            else if (fixed.count(Z)) y[s] -= fixed.at(Z);
            else AD_FAIL("CompositionModel::fit: expected species of the model, got atomic number " << Z << " in structure " << s);
        }
    }
    // Normal equations G w = b, G = C^T C, b = C^T y, solved by the pseudo-inverse of G:
    // w = V diag(1/lambda) V^T b over eigenvalues lambda > 1e-10 lambda_max (minimum-norm
    // least squares; directions with lambda ~ 0 are compositions the data cannot tell apart).
    ad::NoGrad no_grad;
    Tensor G = Tensor::zeros({F, F}), rhs = Tensor::zeros({F});
    for (size_t s = 0; s < n; ++s)
        for (long a = 0; a < F; ++a) {
            rhs.data()[a] += C[s * F + a] * y[s];
            for (long b = 0; b < F; ++b) G.data()[a * F + b] += C[s * F + a] * C[s * F + b];
        }
    auto [lambda, V] = ad::eigh(G);
    const double lmax = lambda[F - 1];
    std::vector<double> w(static_cast<size_t>(F), 0.0);
    for (long k = 0; k < F; ++k) {
        if (!(lambda[k] > 1e-10 * lmax)) continue;
        double proj = 0;
        for (long a = 0; a < F; ++a) proj += V[a * F + k] * rhs[a];
        for (long a = 0; a < F; ++a) w[static_cast<size_t>(a)] += V[a * F + k] * proj / lambda[k];
    }
    for (long a = 0; a < F; ++a) m.weights[free[static_cast<size_t>(a)]] = w[static_cast<size_t>(a)];
    return m;
}

double CompositionModel::baseline(const std::vector<int>& numbers) const {
    double e = 0;
    for (int Z : numbers) {
        auto it = weights.find(Z);
        AD_CHECK(it != weights.end(), "CompositionModel: expected a species with a weight, got atomic number " << Z);
        e += it->second;
    }
    return e;
}

Tensor CompositionModel::baseline(const Batch& batch) const {
    Tensor out = Tensor::zeros({batch.n_structures()});
    for (long s = 0; s < batch.n_structures(); ++s)
        out.data()[s] = baseline(std::vector<int>(batch.numbers.begin() + batch.offsets[static_cast<size_t>(s)],
                                                  batch.numbers.begin() + batch.offsets[static_cast<size_t>(s) + 1]));
    return out;
}

std::vector<double> CompositionModel::remove(const std::vector<std::vector<int>>& numbers_per_structure,
                                             const std::vector<double>& energies) const {
    AD_CHECK(numbers_per_structure.size() == energies.size(),
             "CompositionModel::remove: expected one energy per structure, got " << energies.size() << " energies for "
                                                                                 << numbers_per_structure.size() << " structures");
    std::vector<double> out(energies.size());
    for (size_t s = 0; s < energies.size(); ++s) out[s] = energies[s] - baseline(numbers_per_structure[s]);
    return out;
}

// ---------------------------------------------------------------------------- scaling

EnergyScaler EnergyScaler::fit(const std::vector<double>& residual_energies, std::optional<double> fixed) {
    EnergyScaler s;
    if (fixed) {
        AD_CHECK(*fixed > 0 && std::isfinite(*fixed), "EnergyScaler: expected a fixed scale > 0, got " << *fixed);
        s.scale = *fixed;
        return s;
    }
    AD_CHECK(!residual_energies.empty(), "EnergyScaler: expected training energies, got none");
    double y2 = 0;
    for (double y : residual_energies) y2 += y * y;
    s.scale = std::sqrt(y2 / static_cast<double>(residual_energies.size()));
    if (!(s.scale > 0)) s.scale = 1.0;  // all residuals 0: nothing to scale
    return s;
}

void EnergyScaler::scale_down(Tensor& energies, Tensor& forces, Tensor& stress) const {
    ad::NoGrad no_grad;
    if (energies.defined()) energies = energies.detach() / scale;
    if (forces.defined()) forces = forces.detach() / scale;
    if (stress.defined()) stress = stress.detach() / scale;
}

EnergyForcesStress predict(const EnergyForcesStress& network, const EnergyScaler& scaler, const Tensor& baseline) {
    EnergyForcesStress out;
    out.energies = network.energies * scaler.scale;
    if (baseline.defined()) out.energies = out.energies + baseline;
    if (network.forces.defined()) out.forces = network.forces * scaler.scale;
    if (network.stress.defined()) out.stress = network.stress * scaler.scale;
    return out;
}

}  // namespace nn::atomistic
