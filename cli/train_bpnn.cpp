// `atomgrad train` for soap_bpnn (see train_bpnn.hpp).
#include "cli/train_bpnn.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>

#include "autodiff/error.hpp"
#include "cli/progress.hpp"
#include "cli/csv.hpp"
#include "cli/files.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/atomistic/registry.hpp"
#include "nn/checkpoint.hpp"

namespace cli {

namespace {

void append(std::string& s, const char* format, const char* what, const char* name, double value) {
    char buf[256];
    int n = std::snprintf(buf, sizeof buf, format, what, name, value);
    s.append(buf, static_cast<size_t>(n));
}

std::string split_text(const char* what, const nn::atomistic::SplitMetrics& m, const nn::atomistic::TrainerSettings& s) {
    const std::string energy = s.log_separate_blocks ? "energy (_=0)" : "energy";  // the target's single block
    const std::string per_atom = s.loss.per_structure ? "" : " (per atom)";
    const std::string strain = (s.virial_key.empty() ? "stress" : "virial") + std::string(" (strain gradient)");
    std::string out;
    append(out, ", %s loss: %s%.4e", what, "", m.loss);
    append(out, ", %s %s: %.2f meV", what, (energy + " RMSE" + per_atom).c_str(), 1e3 * m.energy_rmse_per_atom);
    if (s.log_mae) append(out, ", %s %s: %.2f meV", what, (energy + " MAE" + per_atom).c_str(), 1e3 * m.energy_mae_per_atom);
    if (!std::isnan(m.forces_rmse)) {
        append(out, ", %s %s: %.2f meV/A", what, "forces RMSE", 1e3 * m.forces_rmse);
        if (s.log_mae) append(out, ", %s %s: %.2f meV/A", what, "forces MAE", 1e3 * m.forces_mae);
    }
    if (!std::isnan(m.strain_rmse_per_atom)) {
        append(out, ", %s %s: %.2f meV", what, (strain + " RMSE" + per_atom).c_str(), 1e3 * m.strain_rmse_per_atom);
        if (s.log_mae)
            append(out, ", %s %s: %.2f meV", what, (strain + " MAE" + per_atom).c_str(), 1e3 * m.strain_mae_per_atom);
    }
    return out;
}

std::string number_text(double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

long meta_long(const nn::Checkpoint& c, const std::string& key) {
    const std::string& v = c.meta(key);
    char* end = nullptr;
    const long out = std::strtol(v.c_str(), &end, 10);
    AD_CHECK(!v.empty() && *end == '\0', c.path << ": metadata '" << key << "' expected an integer, got '" << v << "'");
    return out;
}

/// The model part of a checkpoint (a model checkpoint, or the "model." section of a training one).
nn::Checkpoint model_part(const nn::Checkpoint& c) {
    auto kind = c.metadata.find("kind");
    if (kind == c.metadata.end() || kind->second != "training_checkpoint") return c;
    nn::Checkpoint m;
    m.metadata = c.metadata;
    m.tensors = c.section("model.");
    m.path = c.path;
    return m;
}

}  // namespace

std::string bpnn_log_line(const nn::atomistic::EpochLog& l, const nn::atomistic::TrainerSettings& s) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "Epoch %4ld", l.epoch);
    std::string line = buf + split_text("train", l.train, s);
    if (l.have_val) line += split_text("validation", l.val, s);
    std::snprintf(buf, sizeof buf, ", lr: %.3e", l.lr);
    return line + buf;
}

FrameSplit split_frames(const std::string& base, const std::string& train_path, long seed,
                        const DataSource& validation, const DataSource& test) {
    std::vector<desc::System> all = desc::read_extxyz(join_path(base, train_path));
    FrameSplit s;
    std::vector<size_t> order(all.size());
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(static_cast<uint64_t>(seed));
    std::shuffle(order.begin(), order.end(), rng);
    const auto count = [&](const DataSource& d) {
        return d.kind == DataSource::Kind::fraction
                   ? static_cast<size_t>(std::llround(d.fraction * static_cast<double>(all.size())))
                   : size_t{0};
    };
    const size_t n_val = count(validation), n_test = count(test);
    AD_CHECK(n_val + n_test < all.size(), train_path << ": expected more frames than the validation and test "
                                                        "fractions take, got " << all.size());
    for (size_t k = 0; k < order.size(); ++k) {
        desc::System& f = all[order[k]];
        (k < n_val ? s.val : k < n_val + n_test ? s.test : s.train).push_back(f);
    }
    if (validation.kind == DataSource::Kind::file) s.val = desc::read_extxyz(join_path(base, validation.path));
    if (test.kind == DataSource::Kind::file) s.test = desc::read_extxyz(join_path(base, test.path));
    return s;
}

TrainResult train_bpnn(const BpnnTrainOptions& o, const TrainRun& run) { return train_atomistic(o.atomistic(), run); }

TrainResult train_atomistic(const AtomisticTrainOptions& o, const TrainRun& run) {
    const std::string base = dirname_of(o.options_path);
    const nn::atomistic::TrainerSettings& settings = o.settings;
    // ---- --restart / --init (read before any output)
    nn::atomistic::TrainStart start;
    nn::atomistic::TrainingState restart_state;
    nn::atomistic::CompositionModel restart_composition;
    nn::atomistic::EnergyScaler restart_scaler;
    if (!run.restart_path.empty()) {
        nn::Checkpoint c = nn::load_checkpoint(run.restart_path);
        auto kind = c.metadata.find("kind");
        AD_CHECK(kind != c.metadata.end() && kind->second == "training_checkpoint",
                 run.restart_path << ": expected a training checkpoint (outputs/.../checkpoints/epoch_<n>.ckpt), got a model; "
                                     "use --init to start from its weights");
        AD_CHECK(c.meta("architecture") == o.architecture && c.meta("hypers") == o.hypers,
                 run.restart_path << ": expected the options' model hypers, got a checkpoint with\n" << c.meta("hypers"));
        nn::Checkpoint m = model_part(c);
        nn::atomistic::load_model(m, &restart_composition.weights, &restart_scaler.scale);  // checks the model
        restart_state.epoch = meta_long(c, "epoch");
        restart_state.step = meta_long(c, "step");
        restart_state.best_epoch = meta_long(c, "best_epoch");
        restart_state.best_metric = std::strtod(c.meta("best_metric").c_str(), nullptr);
        restart_state.shuffle_rng = c.meta("shuffle_rng");
        if (c.metadata.count("augment_rng")) restart_state.augment_rng = c.meta("augment_rng");
        restart_state.model = m.tensors;
        restart_state.best = c.section("best.");
        restart_state.optimizer = c.section("optimizer.");
        restart_state.scheduler = c.section("scheduler.");
        start.restart = &restart_state;
        start.composition = &restart_composition;
        start.scaler = &restart_scaler;
    } else if (!run.init_path.empty()) {
        start.init = nn::atomistic::load_model(model_part(nn::load_checkpoint(run.init_path)));
        AD_CHECK(start.init->architecture() == o.architecture && start.init->hypers_toml() == o.hypers,
                 "--init: expected a model with the options' hypers, got " << run.init_path << " with\n"
                                                                         << start.init->hypers_toml());
    }

    // ---- data (every check before any output)
    FrameSplit split = split_frames(base, o.train_path, settings.seed, o.validation, o.test);
    std::vector<desc::System>& train = split.train;
    std::vector<desc::System>& val = split.val;
    std::vector<desc::System>& test = split.test;
    nn::atomistic::check_training_frames(train, settings, "training set");
    if (!val.empty()) nn::atomistic::check_training_frames(val, settings, "validation set");
    if (!test.empty()) nn::atomistic::check_training_frames(test, settings, "test set");
    AD_CHECK(settings.batch_size <= static_cast<long>(train.size()),
             "architecture.training.batch_size: expected at most " << train.size()
                                                                  << " (the training frames), got "
                                                                  << settings.batch_size);

    // ---- outputs
    TrainResult result;
    result.run_dir = run.run_dir.empty() ? make_run_dir("outputs") : run.run_dir;
    make_dirs(result.run_dir);
    write_file_atomic(join_path(result.run_dir, "options.toml"), read_file(o.options_path));
    write_file_atomic(join_path(result.run_dir, "options_restart.toml"),
                      o.to_toml(AtomisticTrainOptions::PathStyle::absolute));
    std::printf("%s: %zu training, %zu validation, %zu test structures; run folder %s\n", o.architecture.c_str(), train.size(),
                val.size(), test.size(), result.run_dir.c_str());
    if (start.restart) std::printf("restarting after epoch %ld of %s\n", restart_state.epoch, run.restart_path.c_str());
    std::fflush(stdout);
    std::string log_text;
    std::vector<std::vector<double>> csv_rows;
    const std::vector<std::string> columns = {
        "epoch",           "lr",
        "train_loss",      "train_energy_rmse_per_atom", "train_energy_mae_per_atom", "train_forces_rmse",
        "train_forces_mae", "train_strain_rmse_per_atom", "train_strain_mae_per_atom",
        "val_loss",        "val_energy_rmse_per_atom",   "val_energy_mae_per_atom",   "val_forces_rmse",
        "val_forces_mae",  "val_strain_rmse_per_atom",   "val_strain_mae_per_atom"};
    const double nan = std::nan("");
    if (start.restart) {
        // Restarting into the folder of the run: keep its log rows up to the checkpoint's epoch (an
        // interrupted run may have logged later epochs), so that the logs read as one run.
        std::ifstream csv(join_path(result.run_dir, "train.csv"));
        std::string row;
        if (std::getline(csv, row) && split_csv_line(row) == columns) {
            while (std::getline(csv, row)) {
                std::vector<double> values;
                for (const std::string& cell : split_csv_line(row)) values.push_back(std::strtod(cell.c_str(), nullptr));
                if (values.size() == columns.size() && values[0] <= static_cast<double>(restart_state.epoch))
                    csv_rows.push_back(values);
            }
        }
        std::ifstream log(join_path(result.run_dir, "train.log"));
        while (std::getline(log, row))
            if (row.rfind("Epoch ", 0) == 0 && std::atol(row.c_str() + 6) <= restart_state.epoch) log_text += row + "\n";
    }
    Progress progress("epoch", settings.num_epochs, 0);
    auto on_epoch = [&](const nn::atomistic::EpochLog& l, const nn::atomistic::TrainedModel& m, const nn::atomistic::TrainingState& state) {
        std::vector<double> row = {static_cast<double>(l.epoch), l.lr};
        for (const nn::atomistic::SplitMetrics* x : {&l.train, &l.val}) {
            const bool have = x == &l.train || l.have_val;
            for (double v : {x->loss, x->energy_rmse_per_atom, x->energy_mae_per_atom, x->forces_rmse, x->forces_mae,
                             x->strain_rmse_per_atom, x->strain_mae_per_atom})
                row.push_back(have ? v : nan);
        }
        csv_rows.push_back(row);
        write_csv(join_path(result.run_dir, "train.csv"), columns, csv_rows);
        const std::string line = bpnn_log_line(l, settings);
        log_text += line + "\n";
        write_file_atomic(join_path(result.run_dir, "train.log"), log_text);
        if (l.epoch % o.log_interval == 0 || l.epoch == settings.num_epochs) {
            if (progress.is_terminal()) progress.finish();  // the log line starts on a fresh line
            std::printf("%s\n", line.c_str());
            std::fflush(stdout);
        }
        char status[96];
        std::snprintf(status, sizeof status, "| %s E %.2f meV/atom, F %.1f meV/A", l.have_val ? "validation" : "train",
                      1e3 * (l.have_val ? l.val : l.train).energy_rmse_per_atom,
                      1e3 * (l.have_val ? l.val : l.train).forces_rmse);
        progress.update(l.epoch, status);  // a bar between the log lines, on a terminal only
        if (o.checkpoint_interval > 0 && l.epoch % o.checkpoint_interval == 0) {
            nn::Checkpoint model_ckpt = m.model->to_checkpoint(m.composition.weights, m.scaler.scale);
            nn::Checkpoint c;
            c.metadata = model_ckpt.metadata;
            c.metadata["kind"] = "training_checkpoint";
            c.metadata["epoch"] = std::to_string(state.epoch);
            c.metadata["step"] = std::to_string(state.step);
            c.metadata["best_epoch"] = std::to_string(state.best_epoch);
            c.metadata["best_metric"] = number_text(state.best_metric);
            c.metadata["shuffle_rng"] = state.shuffle_rng;
            if (!state.augment_rng.empty()) c.metadata["augment_rng"] = state.augment_rng;
            c.metadata["options"] = o.to_toml();
            c.add("model.", state.model);
            c.add("best.", state.best);
            c.add("optimizer.", state.optimizer);
            if (!state.scheduler.empty()) c.add("scheduler.", state.scheduler);
            make_dirs(join_path(result.run_dir, "checkpoints"));
            nn::save_checkpoint(join_path(result.run_dir, "checkpoints/epoch_" + std::to_string(l.epoch) + ".ckpt"), c);
        }
    };
    const nn::atomistic::ModelBuilder build = [&](const std::vector<int>& species, ad::Rng& rng) {
        return nn::atomistic::make_model(o.architecture, o.hypers, species, rng, o.options_path);
    };
    nn::atomistic::TrainedModel trained = nn::atomistic::train_model(build, train, val, settings, on_epoch, start);
    progress.finish();
    result.best_epoch = trained.best_epoch;
    const std::string run_model = join_path(result.run_dir, "model.ckpt");
    nn::save_checkpoint(run_model, trained.model->to_checkpoint(trained.composition.weights, trained.scaler.scale));
    if (!run.output_path.empty()) copy_model_file(run_model, run.output_path);
    std::printf("best epoch %ld (%s); model written to %s\n", trained.best_epoch,
                nn::atomistic::to_string(settings.best_model_metric), run_model.c_str());
    auto report = [&](const char* what, const std::vector<desc::System>& frames, std::map<std::string, double>& out) {
        if (frames.empty()) return;
        nn::atomistic::SplitMetrics m =
            nn::atomistic::evaluate(*trained.model, trained.composition, trained.scaler, frames, settings);
        out = {{"energy_rmse_per_atom", m.energy_rmse_per_atom}, {"energy_mae_per_atom", m.energy_mae_per_atom}};
        std::printf("%s energy RMSE%s: %.2f meV", what, settings.loss.per_structure ? "" : " (per atom)",
                    1e3 * m.energy_rmse_per_atom);
        if (!std::isnan(m.forces_rmse)) {
            out["forces_rmse"] = m.forces_rmse;
            out["forces_mae"] = m.forces_mae;
            std::printf(", %s forces RMSE: %.2f meV/A", what, 1e3 * m.forces_rmse);
        }
        if (!std::isnan(m.strain_rmse_per_atom)) {
            out["strain_rmse_per_atom"] = m.strain_rmse_per_atom;
            out["strain_mae_per_atom"] = m.strain_mae_per_atom;
        }
        std::printf("\n");
    };
    report("validation", val, result.validation);
    report("test", test, result.test);
    return result;
}

}  // namespace cli
