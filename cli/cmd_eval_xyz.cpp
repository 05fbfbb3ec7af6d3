// atomgrad eval MODEL.ckpt STRUCTURES.xyz [-o predictions.xyz] [--json] [--plot DIR]
// predictions.xyz is a copy of every frame in which the keys ASE reads as calculator results hold
// the model's predictions: energy (eV), forces (eV/A) and, for periodic frames, stress (eV/A^3,
// 9 numbers, ASE's sign convention). A reference the input carried under such a key is kept as
// ref_<key> (ref_energy, ref_forces, ref_stress, ...); an input that already has ref_<key> (an
// earlier predictions.xyz) keeps it and its <key> is replaced. All other keys are kept as they are.
// Metrics against the references each frame has (eV, eV/A, eV/A^3):
//   energy_{rmse,mae}_per_atom over structures of (E - E*)/n_s; forces_{rmse,mae} over all
//   components of the frames with forces; stress_{rmse,mae} over the periodic frames with stress;
// plus atoms_per_second of the model evaluation (energy, forces and stress, batches of 8).
// --plot DIR: parity pictures (cli/svg) of the quantities with references, in meV units:
// energy_parity.svg (per atom), forces_parity.svg (components), stress_parity.svg (components).
// Everything is checked and computed before predictions.xyz and the pictures are written (atomically).
// An LLPR-wrapped model (uq::holds_llpr) is evaluated by cli/eval_llpr (uncertainties added).
#include "cli/cmd_eval_xyz.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "autodiff/error.hpp"
#include "cli/eval_llpr.hpp"
#include "cli/files.hpp"
#include "cli/svg.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/atomistic/registry.hpp"
#include "nn/bpnn/bpnn.hpp"
#include "nn/bpnn/trainer.hpp"
#include "nn/checkpoint.hpp"
#include "nn/json.hpp"
#include "uq/llpr_model.hpp"

namespace cli {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The keys ASE 3.22 turns into calculator results when it reads extended XYZ (ase/io/extxyz.py:
// per_config_properties, per_atom_properties). metatrain's `mtt eval` writes its predictions under
// the first ones; the references move to ref_<key>, so ase.io.read gives predictions only in
// atoms.calc and the references in atoms.info / atoms.arrays.
const char* const kPerFrameResults[] = {"energy", "free_energy", "stress", "dipole", "magmom"};
const char* const kPerAtomResults[] = {"forces", "energies", "stresses", "charges", "magmoms"};

}  // namespace

// <key> -> ref_<key> for every calculator-result key of the frame (in place, order kept).
void keep_references(desc::System& f) {
    for (const char* key : kPerFrameResults) {
        const std::string ref = std::string("ref_") + key;
        if (f.find_info(ref)) {
            f.erase_info(key);  // an earlier prediction
            continue;
        }
        for (auto& kv : f.info_raw)
            if (kv.first == key) kv.first = ref;
    }
    for (const char* key : kPerAtomResults) {
        const std::string ref = std::string("ref_") + key;
        if (f.find_array(ref)) {
            f.erase_array(key);
            continue;
        }
        if (desc::AtomColumn* a = f.find_array(key)) a->name = ref;
    }
}

void ErrorSums::add(double predicted, double reference) {
    const double d = predicted - reference;
    sq += d * d;
    abs += std::abs(d);
    ++n;
    ref.push_back(reference);
    pred.push_back(predicted);
}

double ErrorSums::rmse() const { return std::sqrt(sq / static_cast<double>(n)); }
double ErrorSums::mae() const { return abs / static_cast<double>(n); }

void EvalErrors::add_json(nn::Json& metrics) const {
    for (const auto& [q, name] : {std::pair<const ErrorSums*, const char*>{&energy, "energy"}, {&forces, "forces"},
                                  {&stress, "stress"}}) {
        if (!q->n) continue;
        const std::string suffix = q == &energy ? "_per_atom" : "";
        metrics[std::string(name) + "_rmse" + suffix] = q->rmse();
        metrics[std::string(name) + "_mae" + suffix] = q->mae();
    }
}

void EvalErrors::print() const {
    if (energy.n) std::printf("energy RMSE (per atom): %.2f meV, MAE: %.2f meV\n", 1e3 * energy.rmse(), 1e3 * energy.mae());
    if (forces.n) std::printf("forces RMSE: %.2f meV/A, MAE: %.2f meV/A\n", 1e3 * forces.rmse(), 1e3 * forces.mae());
    if (stress.n)
        std::printf("stress RMSE: %.3f meV/A^3, MAE: %.3f meV/A^3\n", 1e3 * stress.rmse(), 1e3 * stress.mae());
}

std::vector<std::pair<std::string, std::string>> EvalErrors::parity_plots(const std::string& dir) const {
    std::vector<std::pair<std::string, std::string>> out;
    auto add = [&](const ErrorSums& q, const char* file, const std::string& title, const char* unit) {
        if (!q.n) return;
        std::vector<double> r = q.ref, p = q.pred;
        for (double& v : r) v *= 1e3;
        for (double& v : p) v *= 1e3;
        out.push_back({join_path(dir, file), parity_svg(r, p, title, unit)});
    };
    add(energy, "energy_parity.svg", "energy per atom (" + std::to_string(energy.n) + " structures)", "meV/atom");
    add(forces, "forces_parity.svg", "force components", "meV/\xC3\x85");
    add(stress, "stress_parity.svg", "stress components", "meV/\xC3\x85\xC2\xB3");
    return out;
}

void prepare_plot_dir(const std::string& dir) {
    make_dirs(dir);
    AD_CHECK(std::filesystem::is_directory(dir), dir << ": expected a directory for --plot, got a file");
}

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

EvalFrames prepare_eval_frames(const std::vector<desc::System>& frames, const std::vector<int>& species) {
    for (const desc::System& f : frames)
        for (int z : f.numbers)
            AD_CHECK(std::binary_search(species.begin(), species.end(), z),
                     f.where() << ": expected elements the model was trained on, got "
                               << desc::element_symbol(z) << " (Z = " << z << ")");
    EvalFrames ef;
    ef.out = frames;
    for (desc::System& o : ef.out) keep_references(o);
    ef.ref_energy.resize(ef.out.size());
    ef.ref_forces.resize(ef.out.size());
    ef.ref_stress.resize(ef.out.size());
    for (size_t s = 0; s < ef.out.size(); ++s) {
        const desc::System& o = ef.out[s];
        ef.ref_energy[s] = o.energy("ref_energy");
        const desc::AtomColumn* c = o.find_array("ref_forces");
        if (c && c->type == 'R' && c->n_cols == 3) ef.ref_forces[s] = o.require_forces("ref_forces");
        if (o.any_pbc() && o.find_info("ref_stress")) ef.ref_stress[s] = o.require_stress("ref_stress");
    }
    return ef;
}

int cmd_eval_xyz(const Args& args) {
    const std::string usage =
        "usage: atomgrad eval MODEL.ckpt STRUCTURES.xyz [-o predictions.xyz] [--json] [--plot DIR]";
    ParsedArgs p = parse_args(args, {"-o", "--plot"}, {"--json"}, usage);
    if (p.positional.size() != 2) throw UsageError{"expected a model and a structure file\n" + usage};
    const std::string model_path = p.positional[0], data_path = p.positional[1];
    const std::string out_path = p.get("-o", "predictions.xyz");

    nn::Checkpoint ckpt = nn::load_checkpoint(model_path);
    if (uq::holds_llpr(ckpt)) return cmd_eval_llpr_xyz(p, ckpt);  // an LLPR-wrapped model (cli/eval_llpr)
    std::map<int, double> composition_weights;
    double energy_scale = 1.0;
    auto model = nn::atomistic::load_model(ckpt, &composition_weights, &energy_scale);  // any registered architecture
    nn::bpnn::CompositionModel composition{composition_weights};
    nn::bpnn::EnergyScaler scaler{energy_scale};
    std::vector<desc::System> frames = desc::read_extxyz(data_path);
    AD_CHECK(!frames.empty(), data_path << ": expected at least one frame, got none");
    // ---- species and references (read before the model runs: a malformed one stops here)
    EvalFrames ef = prepare_eval_frames(frames, model->species());
    std::vector<desc::System>& out = ef.out;
    const std::vector<std::optional<double>>& ref_energy = ef.ref_energy;
    const std::vector<ad::Tensor>&ref_forces = ef.ref_forces, &ref_stress = ef.ref_stress;

    // ---- predictions (timed) and metrics
    EvalErrors errors;
    long n_atoms = 0;
    double seconds = 0;
    const size_t bs = 8;
    for (size_t b = 0; b < frames.size(); b += bs) {
        std::vector<desc::System> part(frames.begin() + static_cast<long>(b),
                                       frames.begin() + static_cast<long>(std::min(frames.size(), b + bs)));
        const auto t0 = std::chrono::steady_clock::now();
        // scale, composition baseline and (when the model has it) ZBL included
        const nn::bpnn::EnergyForcesStress pred = nn::bpnn::predict_frames(*model, composition, scaler, part);
        seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        long first = 0;  // first atom of frame k in the batch
        for (size_t k = 0; k < part.size(); first += part[k].n_atoms(), ++k) {
            const size_t s = b + k;
            desc::System& o = out[s];
            const long n = o.n_atoms();
            const double energy = pred.energies[static_cast<long>(k)];
            ad::Tensor forces = ad::Tensor::zeros({n, 3});
            for (long c = 0; c < 3 * n; ++c) forces.data()[c] = pred.forces[3 * first + c];
            ad::Tensor stress = ad::Tensor::zeros({3, 3});
            for (long c = 0; c < 9; ++c) stress.data()[c] = pred.stress[9 * static_cast<long>(k) + c];
            if (ref_energy[s]) errors.energy.add(energy / static_cast<double>(n), *ref_energy[s] / static_cast<double>(n));
            if (ref_forces[s].defined())
                for (long c = 0; c < 3 * n; ++c) errors.forces.add(forces[c], ref_forces[s][c]);
            if (ref_stress[s].defined())
                for (long c = 0; c < 9; ++c) errors.stress.add(stress[c], ref_stress[s][c]);
            o.set_energy(energy);
            o.set_forces(forces);
            if (o.any_pbc()) o.set_stress(stress);
            n_atoms += n;
        }
    }
    nn::Json metrics = nn::Json::object();
    metrics["n_structures"] = static_cast<double>(frames.size());
    metrics["n_atoms"] = static_cast<double>(n_atoms);
    errors.add_json(metrics);
    metrics["atoms_per_second"] = seconds > 0 ? static_cast<double>(n_atoms) / seconds : 0.0;

    std::vector<std::pair<std::string, std::string>> plots;  // made first: a bad value stops before any write
    if (p.has("--plot")) {
        plots = errors.parity_plots(p.get("--plot"));
        prepare_plot_dir(p.get("--plot"));
    }
    desc::write_extxyz(out_path, out);
    for (const auto& [path, svg] : plots) write_file_atomic(path, svg);
    if (p.has("--json")) {
        std::printf("%s\n", metrics.dump().c_str());
    } else {
        std::printf("%zu structures, %ld atoms: predictions written to %s (%.0f atoms/s)\n", frames.size(), n_atoms,
                    out_path.c_str(), metrics["atoms_per_second"].as_number());
        errors.print();
        for (const auto& pl : plots) std::printf("plot written to %s\n", pl.first.c_str());
    }
    return 0;
}

}  // namespace cli
