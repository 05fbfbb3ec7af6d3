// atomgrad eval MODEL.ckpt STRUCTURES.xyz [-o predictions.xyz] [--json]
// Predicted energy (eV), forces (eV/A) and, for periodic frames, stress (eV/A^3, 9 numbers, ASE's
// sign convention) replace the keys energy / forces / stress in a copy of every frame; all other
// keys are kept. When every frame has a reference energy the metrics are printed (eV, eV/A):
//   energy_{rmse,mae}_per_atom over structures of (E - E*)/n_s; forces_{rmse,mae} over all
//   components (frames with forces); stress_{rmse,mae} over the periodic frames with stress;
// plus atoms_per_second of the model evaluation (energy, forces and stress, batches of 8).
// Everything is checked and computed before predictions.xyz is written (atomically).
#include "cli/cmd_eval_xyz.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "autodiff/error.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/bpnn/bpnn.hpp"
#include "nn/checkpoint.hpp"
#include "nn/json.hpp"

namespace cli {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct Sums {
    double sq = 0, abs = 0;
    long n = 0;
    void add(double d) {
        sq += d * d;
        abs += std::abs(d);
        ++n;
    }
};

}  // namespace

bool is_structure_file_args(const Args& args) {
    long positional = 0;
    for (size_t k = 0; k < args.size(); ++k) {
        if (args[k] == "-o" || args[k] == "--plot") {
            ++k;
            continue;
        }
        if (!args[k].empty() && args[k][0] == '-') continue;
        if (++positional == 2) return ends_with(args[k], ".xyz") || ends_with(args[k], ".extxyz");
    }
    return false;
}

int cmd_eval_xyz(const Args& args) {
    const std::string usage = "usage: atomgrad eval MODEL.ckpt STRUCTURES.xyz [-o predictions.xyz] [--json]";
    ParsedArgs p = parse_args(args, {"-o"}, {"--json"}, usage);
    if (p.positional.size() != 2) throw UsageError{"expected a model and a structure file\n" + usage};
    const std::string model_path = p.positional[0], data_path = p.positional[1];
    const std::string out_path = p.get("-o", "predictions.xyz");

    nn::Checkpoint ckpt = nn::load_checkpoint(model_path);
    std::map<int, double> composition_weights;
    double energy_scale = 1.0;
    auto model = nn::bpnn::SoapBpnn::from_checkpoint(ckpt, &composition_weights, &energy_scale);
    nn::bpnn::CompositionModel composition{composition_weights};
    nn::bpnn::EnergyScaler scaler{energy_scale};
    std::vector<desc::System> frames = desc::read_extxyz(data_path);
    AD_CHECK(!frames.empty(), data_path << ": expected at least one frame, got none");
    const std::vector<int>& species = model->species();
    for (const desc::System& f : frames)
        for (int z : f.numbers)
            AD_CHECK(std::binary_search(species.begin(), species.end(), z),
                     f.where() << ": expected elements the model was trained on, got "
                               << desc::element_symbol(z) << " (Z = " << z << ")");

    // ---- predictions (timed) and metrics
    std::vector<desc::System> out = frames;
    bool have_energy = true;
    for (const desc::System& f : frames) have_energy = have_energy && f.energy().has_value();
    Sums e, fo, st;
    long n_atoms = 0;
    double seconds = 0;
    const size_t bs = 8;
    for (size_t b = 0; b < frames.size(); b += bs) {
        std::vector<desc::System> part(frames.begin() + static_cast<long>(b),
                                       frames.begin() + static_cast<long>(std::min(frames.size(), b + bs)));
        const auto t0 = std::chrono::steady_clock::now();
        nn::bpnn::Batch batch = nn::bpnn::make_batch(part, model->hypers().cutoff);
        nn::bpnn::EnergyForcesStress pred = nn::bpnn::predict(
            model->energy_forces_stress(batch, ad::CreateGraph::no), scaler, composition.baseline(batch));
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        for (size_t k = 0; k < part.size(); ++k) {
            const desc::System& f = part[k];
            desc::System& o = out[b + k];
            const long first = batch.offsets[k], n = f.n_atoms();
            const double energy = pred.energies[static_cast<long>(k)];
            ad::Tensor forces = ad::Tensor::zeros({n, 3});
            for (long c = 0; c < 3 * n; ++c) forces.data()[c] = pred.forces[3 * first + c];
            ad::Tensor stress = ad::Tensor::zeros({3, 3});
            for (long c = 0; c < 9; ++c) stress.data()[c] = pred.stress[9 * static_cast<long>(k) + c];
            if (have_energy) {
                e.add((energy - *f.energy()) / static_cast<double>(n));
                const desc::AtomColumn* ref_f = f.find_array("forces");
                if (ref_f && ref_f->n_cols == 3 && ref_f->type == 'R') {
                    ad::Tensor ref = f.require_forces();
                    for (long c = 0; c < 3 * n; ++c) fo.add(forces[c] - ref[c]);
                }
                if (f.any_pbc() && f.find_info("stress")) {
                    ad::Tensor ref = f.require_stress();
                    for (long c = 0; c < 9; ++c) st.add(stress[c] - ref[c]);
                }
            }
            o.set_energy(energy);
            o.set_forces(forces);
            if (f.any_pbc()) o.set_stress(stress);
            n_atoms += n;
        }
    }
    nn::Json metrics = nn::Json::object();
    metrics["n_structures"] = static_cast<double>(frames.size());
    metrics["n_atoms"] = static_cast<double>(n_atoms);
    if (e.n) {
        metrics["energy_rmse_per_atom"] = std::sqrt(e.sq / static_cast<double>(e.n));
        metrics["energy_mae_per_atom"] = e.abs / static_cast<double>(e.n);
    }
    if (fo.n) {
        metrics["forces_rmse"] = std::sqrt(fo.sq / static_cast<double>(fo.n));
        metrics["forces_mae"] = fo.abs / static_cast<double>(fo.n);
    }
    if (st.n) {
        metrics["stress_rmse"] = std::sqrt(st.sq / static_cast<double>(st.n));
        metrics["stress_mae"] = st.abs / static_cast<double>(st.n);
    }
    metrics["atoms_per_second"] = seconds > 0 ? static_cast<double>(n_atoms) / seconds : 0.0;

    desc::write_extxyz(out_path, out);
    if (p.has("--json")) {
        std::printf("%s\n", metrics.dump().c_str());
    } else {
        std::printf("%zu structures, %ld atoms: predictions written to %s (%.0f atoms/s)\n", frames.size(), n_atoms,
                    out_path.c_str(), metrics["atoms_per_second"].as_number());
        if (e.n)
            std::printf("energy RMSE (per atom): %.2f meV, MAE: %.2f meV\n", 1e3 * std::sqrt(e.sq / static_cast<double>(e.n)),
                        1e3 * e.abs / static_cast<double>(e.n));
        if (fo.n)
            std::printf("forces RMSE: %.2f meV/A, MAE: %.2f meV/A\n", 1e3 * std::sqrt(fo.sq / static_cast<double>(fo.n)),
                        1e3 * fo.abs / static_cast<double>(fo.n));
    }
    return 0;
}

}  // namespace cli
