// `atomgrad train` for soap_bpnn (see train_bpnn.hpp).
#include "cli/train_bpnn.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>

#include "autodiff/error.hpp"
#include "cli/csv.hpp"
#include "cli/files.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/checkpoint.hpp"

namespace cli {

namespace {

std::string read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    AD_CHECK(in.good(), path << ": expected a readable file, got an error opening it");
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

std::string log_line(const nn::bpnn::EpochLog& l) {
    char buf[512];
    int n = std::snprintf(buf, sizeof buf, "Epoch %4ld, train loss: %.4e, train energy RMSE (per atom): %.2f meV",
                          l.epoch, l.train.loss, 1e3 * l.train.energy_rmse_per_atom);
    std::string s(buf, static_cast<size_t>(n));
    if (!std::isnan(l.train.forces_rmse)) {
        n = std::snprintf(buf, sizeof buf, ", train forces RMSE: %.2f meV/A", 1e3 * l.train.forces_rmse);
        s.append(buf, static_cast<size_t>(n));
    }
    if (l.have_val) {
        n = std::snprintf(buf, sizeof buf, ", validation loss: %.4e, validation energy RMSE (per atom): %.2f meV",
                          l.val.loss, 1e3 * l.val.energy_rmse_per_atom);
        s.append(buf, static_cast<size_t>(n));
        if (!std::isnan(l.val.forces_rmse)) {
            n = std::snprintf(buf, sizeof buf, ", validation forces RMSE: %.2f meV/A", 1e3 * l.val.forces_rmse);
            s.append(buf, static_cast<size_t>(n));
        }
    }
    n = std::snprintf(buf, sizeof buf, ", lr: %.3e", l.lr);
    s.append(buf, static_cast<size_t>(n));
    return s;
}

}  // namespace

TrainResult train_bpnn(const BpnnTrainOptions& o, const TrainRun& run) {
    AD_CHECK(run.init_path.empty() && run.restart_path.empty(),
             "train: expected no --init / --restart for soap_bpnn, got one; not supported yet");
    const std::string base = dirname_of(o.options_path);
    // ---- data (every check before any output)
    std::vector<desc::System> all = desc::read_extxyz(join_path(base, o.train_path));
    std::vector<desc::System> train, val, test;
    std::vector<size_t> order(all.size());
    std::iota(order.begin(), order.end(), 0);
    std::mt19937_64 rng(static_cast<uint64_t>(o.settings.seed));
    std::shuffle(order.begin(), order.end(), rng);
    const auto count = [&](const DataSource& d) {
        return d.kind == DataSource::Kind::fraction
                   ? static_cast<size_t>(std::llround(d.fraction * static_cast<double>(all.size())))
                   : size_t{0};
    };
    const size_t n_val = count(o.validation), n_test = count(o.test);
    AD_CHECK(n_val + n_test < all.size(), o.train_path << ": expected more frames than the validation and test "
                                                          "fractions take, got " << all.size());
    for (size_t k = 0; k < order.size(); ++k) {
        desc::System& f = all[order[k]];
        (k < n_val ? val : k < n_val + n_test ? test : train).push_back(f);
    }
    if (o.validation.kind == DataSource::Kind::file) val = desc::read_extxyz(join_path(base, o.validation.path));
    if (o.test.kind == DataSource::Kind::file) test = desc::read_extxyz(join_path(base, o.test.path));
    nn::bpnn::check_training_frames(train, o.settings, "training set");
    if (!val.empty()) nn::bpnn::check_training_frames(val, o.settings, "validation set");
    if (!test.empty()) nn::bpnn::check_training_frames(test, o.settings, "test set");
    AD_CHECK(o.settings.batch_size <= static_cast<long>(train.size()),
             "architecture.training.batch_size: expected at most " << train.size()
                                                                  << " (the training frames), got "
                                                                  << o.settings.batch_size);

    // ---- outputs
    TrainResult result;
    result.run_dir = run.run_dir.empty() ? make_run_dir("outputs") : run.run_dir;
    make_dirs(result.run_dir);
    write_file_atomic(join_path(result.run_dir, "options.toml"), read_all(o.options_path));
    std::printf("soap_bpnn: %zu training, %zu validation, %zu test structures; run folder %s\n", train.size(),
                val.size(), test.size(), result.run_dir.c_str());
    std::fflush(stdout);
    std::string log_text;
    std::vector<std::vector<double>> csv_rows;
    const std::vector<std::string> columns = {"epoch",
                                              "lr",
                                              "train_loss",
                                              "train_energy_rmse_per_atom",
                                              "train_forces_rmse",
                                              "val_loss",
                                              "val_energy_rmse_per_atom",
                                              "val_forces_rmse"};
    const double nan = std::nan("");
    auto on_epoch = [&](const nn::bpnn::EpochLog& l, const nn::bpnn::TrainedModel& m) {
        csv_rows.push_back({static_cast<double>(l.epoch), l.lr, l.train.loss, l.train.energy_rmse_per_atom,
                            l.train.forces_rmse, l.have_val ? l.val.loss : nan,
                            l.have_val ? l.val.energy_rmse_per_atom : nan, l.have_val ? l.val.forces_rmse : nan});
        write_csv(join_path(result.run_dir, "train.csv"), columns, csv_rows);
        const std::string line = log_line(l);
        log_text += line + "\n";
        write_file_atomic(join_path(result.run_dir, "train.log"), log_text);
        if (l.epoch % o.log_interval == 0 || l.epoch == o.settings.num_epochs) {
            std::printf("%s\n", line.c_str());
            std::fflush(stdout);
        }
        if (o.checkpoint_interval > 0 && l.epoch % o.checkpoint_interval == 0) {
            make_dirs(join_path(result.run_dir, "checkpoints"));
            nn::save_checkpoint(join_path(result.run_dir, "checkpoints/epoch_" + std::to_string(l.epoch) + ".ckpt"),
                                m.model->to_checkpoint(m.composition.weights, m.scaler.scale));
        }
    };
    nn::bpnn::TrainedModel trained = nn::bpnn::train_soap_bpnn(train, val, o.settings, on_epoch);
    result.best_epoch = trained.best_epoch;
    const std::string run_model = join_path(result.run_dir, "model.ckpt");
    nn::save_checkpoint(run_model, trained.model->to_checkpoint(trained.composition.weights, trained.scaler.scale));
    if (!run.output_path.empty()) copy_model_file(run_model, run.output_path);
    std::printf("best epoch %ld; model written to %s\n", trained.best_epoch, run_model.c_str());
    auto report = [&](const char* what, const std::vector<desc::System>& frames, std::map<std::string, double>& out) {
        if (frames.empty()) return;
        nn::bpnn::SplitMetrics m =
            nn::bpnn::evaluate(*trained.model, trained.composition, trained.scaler, frames, o.settings);
        out = {{"energy_rmse_per_atom", m.energy_rmse_per_atom}, {"energy_mae_per_atom", m.energy_mae_per_atom}};
        std::printf("%s energy RMSE (per atom): %.2f meV", what, 1e3 * m.energy_rmse_per_atom);
        if (!std::isnan(m.forces_rmse)) {
            out["forces_rmse"] = m.forces_rmse;
            out["forces_mae"] = m.forces_mae;
            std::printf(", %s forces RMSE: %.2f meV/A", what, 1e3 * m.forces_rmse);
        }
        std::printf("\n");
    };
    report("validation", val, result.validation);
    report("test", test, result.test);
    return result;
}

}  // namespace cli
