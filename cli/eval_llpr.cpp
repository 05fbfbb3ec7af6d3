// atomgrad eval of an LLPR-wrapped soap_bpnn model (see eval_llpr.hpp). Everything is checked and
// computed before predictions.xyz is written (atomically).
#include "cli/eval_llpr.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

#include "autodiff/error.hpp"
#include "autodiff/ops.hpp"
#include "cli/cmd_eval_xyz.hpp"
#include "cli/files.hpp"
#include "cli/svg.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/checkpoint.hpp"
#include "nn/json.hpp"
#include "uq/calibration.hpp"
#include "uq/llpr_model.hpp"

namespace cli {

namespace {

std::string join_numbers(const double* x, long n) {
    std::string s;
    for (long k = 0; k < n; ++k) s += (k ? " " : "") + desc::format_double(x[k]);
    return s;
}

}  // namespace

std::vector<std::pair<std::string, double>> uq_metrics(const std::string& prefix, const ad::Tensor& mean,
                                                       const ad::Tensor& sigma, const ad::Tensor& reference) {
    ad::NoGrad no_grad;
    ad::Tensor var = ad::square(sigma);
    uq::SigmaCoverage c = uq::sigma_coverage(mean, var, reference);
    std::vector<std::pair<std::string, double>> m = {
        {prefix + "nll", uq::gaussian_nll(mean, var, reference)},
        {prefix + "zms", uq::mean_squared_z(mean, var, reference)},
        {prefix + "miscalibration_area", uq::miscalibration_area(mean, var, reference)},
        {prefix + "spearman", uq::spearman(ad::abs(ad::sub(mean, reference)), sigma)},
        {prefix + "coverage_1sigma", c.within_1},
        {prefix + "coverage_2sigma", c.within_2},
        {prefix + "coverage_3sigma", c.within_3},
        {prefix + "uncertainty_mean", ad::mean(sigma).item()},
    };
    return m;
}

int cmd_eval_llpr_xyz(const ParsedArgs& p, const nn::Checkpoint& ckpt) {
    const std::string data_path = p.positional[1];
    const std::string out_path = p.get("-o", "predictions.xyz");

    uq::LlprModel wrapped = uq::LlprModel::from_checkpoint(ckpt);
    std::vector<desc::System> frames = desc::read_extxyz(data_path);
    AD_CHECK(!frames.empty(), data_path << ": expected at least one frame, got none");
    const long K = wrapped.n_members();

    // ---- species and references (as cmd_eval_xyz: kept under ref_<key>, read before the model runs)
    EvalFrames ef = prepare_eval_frames(frames, wrapped.model().species());
    std::vector<desc::System>& out = ef.out;
    const std::vector<std::optional<double>>& ref_energy = ef.ref_energy;
    const std::vector<ad::Tensor>&ref_forces = ef.ref_forces, &ref_stress = ef.ref_stress;

    // ---- predictions (timed) and the per-entry lists the metrics need
    EvalErrors errors;  // energy per atom, forces, stress (metrics and parity plots as plain eval)
    std::vector<double> E, E_sigma, E_ref, F, F_sigma, F_ref, Ek_mean, Ek_sigma;
    double sigma_sum = 0, f_sigma_sum = 0;  // for the uncertainty means, with or without references
    long n_atoms = 0;
    double seconds = 0;
    const size_t bs = 8;
    for (size_t b = 0; b < frames.size(); b += bs) {
        std::vector<desc::System> part(frames.begin() + static_cast<long>(b),
                                       frames.begin() + static_cast<long>(std::min(frames.size(), b + bs)));
        const auto t0 = std::chrono::steady_clock::now();
        uq::LlprPrediction pred = wrapped.predict(part, uq::EnsembleForces::yes);  // ZBL included when the model has it
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        long first = 0;  // first atom of frame k in the batch
        for (size_t k = 0; k < part.size(); first += part[k].n_atoms(), ++k) {
            const size_t fs = b + k;
            desc::System& o = out[fs];
            const long n = o.n_atoms(), s = static_cast<long>(k);
            const double energy = pred.energies[s], sigma = pred.energy_uncertainty[s];
            ad::Tensor forces = ad::Tensor::zeros({n, 3});
            for (long c = 0; c < 3 * n; ++c) forces.data()[c] = pred.forces[3 * first + c];
            ad::Tensor stress = ad::Tensor::zeros({3, 3});
            for (long c = 0; c < 9; ++c) stress.data()[c] = pred.stress[9 * s + c];
            AD_CHECK(std::isfinite(energy) && std::isfinite(sigma) && std::isfinite(ad::sum(forces).item()),
                     frames[fs].where() << ": expected finite predictions, got NaN or Inf");
            sigma_sum += sigma;
            if (K > 0)
                for (long c = 0; c < 3 * n; ++c) f_sigma_sum += pred.forces_uncertainty[3 * first + c];
            if (ref_energy[fs]) {
                errors.energy.add(energy / static_cast<double>(n), *ref_energy[fs] / static_cast<double>(n));
                E.push_back(energy);
                E_sigma.push_back(sigma);
                E_ref.push_back(*ref_energy[fs]);
                if (K > 0) {  // the members' own mean and spread (they differ from the model after training)
                    const double* ek = pred.energy_ensemble.data() + s * K;
                    double m = 0, v = 0;
                    for (long q = 0; q < K; ++q) m += ek[q] / static_cast<double>(K);
                    for (long q = 0; q < K; ++q) v += (ek[q] - m) * (ek[q] - m) / static_cast<double>(K - 1);
                    Ek_mean.push_back(m);
                    Ek_sigma.push_back(std::sqrt(v));
                }
            }
            if (ref_forces[fs].defined())
                for (long c = 0; c < 3 * n; ++c) {
                    errors.forces.add(forces[c], ref_forces[fs][c]);
                    if (K > 0) {
                        F.push_back(forces[c]);
                        F_sigma.push_back(pred.forces_uncertainty[3 * first + c]);
                        F_ref.push_back(ref_forces[fs][c]);
                    }
                }
            if (ref_stress[fs].defined())
                for (long c = 0; c < 9; ++c) errors.stress.add(stress[c], ref_stress[fs][c]);
            o.set_energy(energy);
            o.set_forces(forces);
            if (o.any_pbc()) o.set_stress(stress);
            o.set_info("energy_uncertainty", desc::format_double(sigma));
            desc::AtomColumn atom_sigma{"atomic_energy_uncertainty", 'R', 1, {}, {}};
            for (long i = 0; i < n; ++i) atom_sigma.values.push_back(pred.atom_energy_uncertainty[first + i]);
            o.set_array(atom_sigma);
            if (K > 0) {
                o.set_info("energy_ensemble", join_numbers(pred.energy_ensemble.data() + s * K, K));
                desc::AtomColumn fu{"forces_uncertainty", 'R', 3, {}, {}};
                for (long c = 0; c < 3 * n; ++c) fu.values.push_back(pred.forces_uncertainty[3 * first + c]);
                o.set_array(fu);
            }
            n_atoms += n;
        }
    }
    nn::Json metrics = nn::Json::object();
    metrics["n_structures"] = static_cast<double>(frames.size());
    metrics["n_atoms"] = static_cast<double>(n_atoms);
    metrics["num_ensemble_members"] = static_cast<double>(K);
    errors.add_json(metrics);
    const auto as_tensor = [](const std::vector<double>& v) {
        return ad::tensor({static_cast<long>(v.size())}, v);
    };
    std::vector<std::pair<std::string, double>> uq;
    if (E.size() >= 2) uq = uq_metrics("energy_", as_tensor(E), as_tensor(E_sigma), as_tensor(E_ref));
    if (Ek_mean.size() >= 2)
        for (auto& kv : uq_metrics("energy_ensemble_", as_tensor(Ek_mean), as_tensor(Ek_sigma), as_tensor(E_ref)))
            uq.push_back(kv);
    if (F.size() >= 2)
        for (auto& kv : uq_metrics("forces_", as_tensor(F), as_tensor(F_sigma), as_tensor(F_ref))) uq.push_back(kv);
    for (const auto& [k, v] : uq) metrics[k] = v;
    metrics["energy_uncertainty_mean"] = sigma_sum / static_cast<double>(frames.size());
    if (K > 0) metrics["forces_uncertainty_mean"] = f_sigma_sum / static_cast<double>(3 * n_atoms);
    metrics["atoms_per_second"] = seconds > 0 ? static_cast<double>(n_atoms) / seconds : 0.0;

    // --plot DIR: parity pictures as plain eval, and calibration pictures of the uncertainties
    // (|error| against sigma, cli/svg): energy per structure (LLPR sigma), force components
    // (the ensemble's sigma); meV units. Made first: a bad value stops before any write.
    std::vector<std::pair<std::string, std::string>> plots;
    if (p.has("--plot")) {
        const std::string dir = p.get("--plot");
        plots = errors.parity_plots(dir);
        const auto mev = [](std::vector<double> v) {
            for (double& x : v) x *= 1e3;
            return v;
        };
        const auto abs_errors = [&](const std::vector<double>& a, const std::vector<double>& b) {
            std::vector<double> err(a.size());
            for (size_t q = 0; q < a.size(); ++q) err[q] = 1e3 * std::fabs(a[q] - b[q]);
            return err;
        };
        if (!E.empty())
            plots.push_back({join_path(dir, "energy_calibration.svg"),
                             calibration_svg(abs_errors(E, E_ref), mev(E_sigma),
                                             "energy per structure, LLPR \xCF\x83 (" + std::to_string(E.size()) + " structures)",
                                             "meV")});
        if (!F.empty())
            plots.push_back({join_path(dir, "forces_calibration.svg"),
                             calibration_svg(abs_errors(F, F_ref), mev(F_sigma),
                                             "force components, \xCF\x83 of " + std::to_string(K) + " members",
                                             "meV/\xC3\x85")});
        prepare_plot_dir(dir);
    }
    desc::write_extxyz(out_path, out);
    for (const auto& [path, svg] : plots) write_file_atomic(path, svg);
    if (p.has("--json")) {
        std::printf("%s\n", metrics.dump().c_str());
    } else {
        std::printf("%zu structures, %ld atoms: predictions with LLPR uncertainties (%ld ensemble members) written to "
                    "%s (%.0f atoms/s)\n",
                    frames.size(), n_atoms, K, out_path.c_str(), metrics["atoms_per_second"].as_number());
        errors.print();
        for (const auto& [k, v] : uq) std::printf("%s: %.6g\n", k.c_str(), v);
        if (uq.empty()) std::printf("energy_uncertainty_mean: %.6g\n", metrics["energy_uncertainty_mean"].as_number());
        for (const auto& pl : plots) std::printf("plot written to %s\n", pl.first.c_str());
    }
    return 0;
}

}  // namespace cli
