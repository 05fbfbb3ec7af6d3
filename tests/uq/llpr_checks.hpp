// Checks of an LLPR-wrapped model (uq/llpr_model) that tests/uq/test_llpr_model (SOAP-BPNN) and
// tests/uq/test_llpr_pet (NanoPET, PET) share.
//   member forces  F_k = -dE_k/dR: central differences of member k's energy with step h
#pragma once
#include <catch2/catch.hpp>

#include <vector>

#include "autodiff/tensor.hpp"
#include "nn/atomistic/batch.hpp"
#include "uq/llpr_model.hpp"

namespace llpr_checks {

/// p = w.predict(b) (with member forces): for atoms 0, 4, 13, components x and z and the given
/// members k, p.forces_ensemble[i, a, k] against -(E_k(R + h e_ia) - E_k(R - h e_ia)) / 2h with
/// h = 1e-5 (truncation ~h^2, rounding ~1e-16/h: Approx margin 1e-6, relative 1e-5).
inline void check_member_forces_fd(const uq::LlprModel& w, const nn::atomistic::Batch& b, const uq::LlprPrediction& p,
                                   const std::vector<long>& members) {
    const long K = p.energy_ensemble.dim(1);
    const double h = 1e-5;
    for (long i : {0L, 4L, 13L}) {
        for (long a : {0L, 2L}) {
            ad::Tensor Rp = b.positions.clone(), Rm = b.positions.clone();
            Rp.data()[3 * i + a] += h;
            Rm.data()[3 * i + a] -= h;
            const ad::Tensor Ep = w.predict(b.with_positions(Rp), uq::EnsembleForces::no).energy_ensemble;
            const ad::Tensor Em = w.predict(b.with_positions(Rm), uq::EnsembleForces::no).energy_ensemble;
            const long s_i = b.structure[static_cast<size_t>(i)];
            for (long k : members) {
                const double fd = -(Ep[s_i * K + k] - Em[s_i * K + k]) / (2 * h);
                CHECK(p.forces_ensemble[(3 * i + a) * K + k] == Approx(fd).margin(1e-6).epsilon(1e-5));
            }
        }
    }
}

}  // namespace llpr_checks
