// `atomgrad train` for llpr (see train_llpr.hpp).
#include "cli/train_llpr.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>

#include "autodiff/error.hpp"
#include "cli/eval_llpr.hpp"
#include "cli/train_bpnn.hpp"
#include "cli/files.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/checkpoint.hpp"

namespace cli {

namespace {

}  // namespace

TrainResult train_llpr(const LlprTrainOptions& o, const TrainRun& run) {
    AD_CHECK(run.init_path.empty() && run.restart_path.empty(),
             "train: expected no --init / --restart for llpr, got one; the model to wrap is "
             "architecture.training.model_checkpoint");
    const auto t_start = std::chrono::steady_clock::now();
    const std::string base = dirname_of(o.options_path);
    // ---- the model (a checkpoint without last-layer features is refused here)
    const std::string model_path = join_path(base, o.model_checkpoint);
    nn::Checkpoint ckpt = nn::load_checkpoint(model_path);
    std::map<int, double> composition_weights;
    double energy_scale = 1.0;
    std::shared_ptr<nn::atomistic::AtomisticModel> model =
        uq::load_model_with_last_layer_features(ckpt, &composition_weights, &energy_scale);

    // ---- data: the split of train_bpnn (same seed and fractions, same frames)
    FrameSplit split = split_frames(base, o.train_path, o.seed, o.validation, o.test);
    std::vector<desc::System>& train = split.train;
    std::vector<desc::System>& val = split.val;
    std::vector<desc::System>& test = split.test;
    const std::vector<int>& species = model->species();
    for (const auto* set : {&train, &val, &test})
        for (const desc::System& f : *set)
            for (int z : f.numbers)
                AD_CHECK(std::binary_search(species.begin(), species.end(), z),
                         f.where() << ": expected elements the model was trained on, got " << desc::element_symbol(z)
                                   << " (Z = " << z << ")");
    for (const auto* set : {&val, &test})
        for (const desc::System& f : *set) f.require_energy(o.fit.energy_key);

    // ---- the wrap (every check above and in fit comes before any output)
    std::string log_text;
    auto say = [&](const std::string& line) {
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
        log_text += line + "\n";
    };
    uq::LlprFitInfo info;
    uq::LlprModel wrapped = uq::LlprModel::fit(model, nn::bpnn::CompositionModel{composition_weights},
                                               nn::bpnn::EnergyScaler{energy_scale}, train, val, o.fit, &info);
    const double wrap_seconds = info.covariance_seconds + info.fit_seconds + info.calibration_seconds + info.ensemble_seconds;

    TrainResult result;
    result.run_dir = run.run_dir.empty() ? make_run_dir("outputs") : run.run_dir;
    make_dirs(result.run_dir);
    write_file_atomic(join_path(result.run_dir, "options.toml"), read_file(o.options_path));
    const long P = wrapped.llpr().n_features();
    char buf[512];
    std::snprintf(buf, sizeof buf, "llpr: %zu training, %zu validation, %zu test structures; model %s; run folder %s",
                  train.size(), val.size(), test.size(), model_path.c_str(), result.run_dir.c_str());
    say(buf);
    std::snprintf(buf, sizeof buf,
                  "llpr: covariance of %ld last-layer features (energy) over %ld training structures, float64, "
                  "per-atom normalised: %.2f s (one forward pass)",
                  P, info.n_train, info.covariance_seconds);
    say(buf);
    if (o.fit.uncertainty_method == uq::UncertaintyMethod::llpr) say("llpr: " + wrapped.llpr().regularizer().describe(P));
    if (o.fit.uncertainty_method == uq::UncertaintyMethod::laplace) {
        const uq::LlprLaplaceHypers& h = wrapped.laplace_hypers();
        std::snprintf(buf, sizeof buf,
                      "llpr: uncertainty_method laplace: prior precision tau = %.6g, noise sigma = %.6g eV/atom, "
                      "log marginal likelihood %.6f (%ld training structures, %.1f effective parameters of %ld); "
                      "regularizer r = sigma^2 tau = %.4g (%ld of %ld eigenvalues of C below it), alpha = sigma",
                      h.prior_precision, h.sigma_noise, h.lml, h.n_rows, h.gamma, P, wrapped.llpr().regularizer().value,
                      wrapped.llpr().regularizer().n_unresolved, P);
        say(buf);
        say(wrapped.include_noise() ? "llpr: energy_uncertainty includes the noise N_s^2 sigma^2 (include_noise = true)"
                                    : "llpr: energy_uncertainty is epistemic only (include_noise = false)");
    } else {
        std::snprintf(buf, sizeof buf, "llpr: alpha = %.6g eV (%s on %ld validation structures)", wrapped.llpr().alpha(),
                      uq::to_string(o.fit.calibration), info.n_val);
        say(buf);
    }
    if (wrapped.n_members() > 0) {
        std::snprintf(buf, sizeof buf, "llpr: energy ensemble of %ld members (seed %ld), re-centred on the model",
                      wrapped.n_members(), o.seed);
        say(buf);
    }
    if (!info.train_nll.empty()) {
        std::snprintf(buf, sizeof buf, "llpr: ensemble training loss %s on per-atom energies (weight %g)%s%s%s",
                      uq::to_string(o.fit.loss), o.fit.energy_weight, info.used_forces ? " + " : "",
                      info.used_forces ? uq::to_string(o.fit.forces_loss) : "", info.used_forces ? " on forces" : " (no forces)");
        if (info.used_forces) std::snprintf(buf + std::strlen(buf), sizeof buf - std::strlen(buf), " (weight %g)", o.fit.forces_weight);
        say(buf);
    }
    const char* loss_name = o.fit.loss == uq::EnsembleLoss::gaussian_nll ? "NLL" : "CRPS";
    for (size_t e = 0; e < info.train_nll.size(); ++e) {
        std::snprintf(buf, sizeof buf, "llpr: ensemble training epoch %3zu, train %s (per atom): %.5g, validation %s: %.5g%s",
                      e, loss_name, info.train_nll[e], loss_name, info.val_nll[e],
                      static_cast<long>(e) == info.best_epoch ? " (kept)" : "");
        say(buf);
    }
    std::snprintf(buf, sizeof buf, "llpr: wrap %.2f s (covariance %.2f, posterior %.3f, calibration %.2f, ensemble %.3f)",
                  wrap_seconds, info.covariance_seconds, info.fit_seconds, info.calibration_seconds,
                  info.ensemble_seconds);
    say(buf);

    const std::string run_model = join_path(result.run_dir, "model.ckpt");
    wrapped.save(run_model);
    if (!run.output_path.empty()) copy_model_file(run_model, run.output_path);
    say("wrapped model written to " + run_model);

    auto report = [&](const char* what, const std::vector<desc::System>& frames, std::map<std::string, double>& out) {
        if (frames.size() < 2) return;
        std::vector<double> E, S, R;
        for (size_t lo = 0; lo < frames.size(); lo += static_cast<size_t>(o.fit.batch_size)) {
            std::vector<desc::System> part(frames.begin() + static_cast<long>(lo),
                                           frames.begin() + static_cast<long>(std::min(
                                                                frames.size(), lo + static_cast<size_t>(o.fit.batch_size))));
            uq::LlprPrediction p = wrapped.predict(part, uq::EnsembleForces::no);
            for (size_t k = 0; k < part.size(); ++k) {
                E.push_back(p.energies[static_cast<long>(k)]);
                S.push_back(p.energy_uncertainty[static_cast<long>(k)]);
                R.push_back(part[k].require_energy(o.fit.energy_key));
            }
        }
        const long n = static_cast<long>(E.size());
        auto m = uq_metrics("energy_", ad::tensor({n}, E), ad::tensor({n}, S), ad::tensor({n}, R));
        std::string line = std::string(what) + ":";
        for (const auto& [k, v] : m) {
            out[k] = v;
            std::snprintf(buf, sizeof buf, " %s %.4g", k.c_str(), v);
            line += buf;
        }
        say(line);
    };
    report("validation", val, result.validation);
    report("test", test, result.test);
    std::snprintf(buf, sizeof buf, "llpr: total %.2f s",
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count());
    say(buf);
    write_file_atomic(join_path(result.run_dir, "llpr.log"), log_text);
    return result;
}

}  // namespace cli
