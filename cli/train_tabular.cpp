#include "cli/train_tabular.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>

#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "cli/csv.hpp"
#include "cli/files.hpp"
#include "cli/model_io.hpp"
#include "cli/progress.hpp"
#include "cli/train_marglik.hpp"
#include "nn/checkpoint.hpp"
#include "nn/loss.hpp"
#include "nn/metrics.hpp"
#include "nn/optim.hpp"
#include "nn/scheduler.hpp"
#include "nn/tabular.hpp"

namespace cli {

namespace {

Split rows(const Split& s, const std::vector<long>& idx) {
    Split out;
    out.x = ad::index_select(s.x, 0, idx);
    if (s.y.defined()) out.y = ad::index_select(s.y, 0, idx);
    for (long i : idx)
        if (!s.labels.empty()) out.labels.push_back(s.labels[i]);
    return out;
}

bool higher_is_better(const std::string& metric) { return metric == "accuracy"; }

std::string fmt(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

std::string rng_state_text(const ad::Rng& r) {
    std::ostringstream os;
    for (uint64_t w : r.state()) os << w << ' ';
    return os.str();
}

ad::Rng rng_from_text(const std::string& text, const std::string& where) {
    std::istringstream is(text);
    std::vector<uint64_t> words;
    uint64_t w;
    while (is >> w) words.push_back(w);
    AD_CHECK(words.size() == 6, where << ": metadata 'shuffle_rng' expected 6 numbers, got " << words.size());
    ad::Rng r;
    r.set_state(words);
    return r;
}

nn::NamedTensors clone_all(const nn::NamedTensors& xs) {
    nn::NamedTensors out;
    for (const auto& [k, v] : xs) out.push_back({k, v.clone()});
    return out;
}

}  // namespace

RunData load_run_data(const TrainOptions& o) {
    const std::string base = dirname_of(o.options_path);
    const bool classification = o.task == "classification";
    Table train_table = read_csv(join_path(base, o.train_path));
    std::vector<std::string> features = o.features;
    if (features.empty())
        for (const auto& c : train_table.columns)
            if (std::find(o.targets.begin(), o.targets.end(), c) == o.targets.end()) features.push_back(c);
    AD_CHECK(!features.empty(), train_table.path << ": expected at least one feature column besides the targets");
    for (const auto& t : o.targets) train_table.column(t);  // names a missing target column

    long n_classes = 0;
    if (classification) {
        for (long l : train_table.labels(o.targets[0])) n_classes = std::max(n_classes, l + 1);
        AD_CHECK(n_classes >= 2, train_table.path << ": expected at least 2 classes in column '" << o.targets[0]
                                                  << "', got " << n_classes);
    }
    Split all = take_columns(train_table, features, o.targets, o.task == "classification", n_classes);

    // Validation and test splits: a file, or a fraction of the training rows (seeded).
    ad::Rng split_rng(static_cast<uint64_t>(o.seed));
    std::vector<long> perm = split_rng.permutation(all.n());
    long n_val = o.validation.kind == DataSource::Kind::fraction ? std::lround(o.validation.fraction * all.n()) : 0;
    long n_test = o.test.kind == DataSource::Kind::fraction ? std::lround(o.test.fraction * all.n()) : 0;
    AD_CHECK(n_val + n_test < all.n(), train_table.path << ": " << all.n() << " rows leave nothing to train on after "
                                                       << n_val << " validation and " << n_test << " test rows");
    if (o.validation.kind == DataSource::Kind::fraction)
        AD_CHECK(n_val >= 1, o.where("validation_set") << ": validation_set = " << o.validation.fraction << " of " << all.n()
                                            << " rows is an empty validation set");
    std::vector<long> idx_val(perm.begin(), perm.begin() + n_val);
    std::vector<long> idx_test(perm.begin() + n_val, perm.begin() + n_val + n_test);
    std::vector<long> idx_train(perm.begin() + n_val + n_test, perm.end());
    std::sort(idx_train.begin(), idx_train.end());
    Split train = rows(all, idx_train);
    Split val, test;
    bool have_val = o.validation.kind != DataSource::Kind::none, have_test = o.test.kind != DataSource::Kind::none;
    if (o.validation.kind == DataSource::Kind::file)
        val = take_columns(read_csv(join_path(base, o.validation.path)), features, o.targets, o.task == "classification", n_classes);
    else if (have_val)
        val = rows(all, idx_val);
    if (o.test.kind == DataSource::Kind::file)
        test = take_columns(read_csv(join_path(base, o.test.path)), features, o.targets, o.task == "classification", n_classes);
    else if (have_test)
        test = rows(all, idx_test);
    AD_CHECK(o.batch_size <= train.n(), o.where("architecture.training.batch_size") << ": 'architecture.training.batch_size' = " << o.batch_size
                                                       << " is larger than the " << train.n() << " training rows");

    RunData d;
    d.features = features;
    d.n_classes = n_classes;
    d.train = std::move(train);
    d.val = std::move(val);
    d.test = std::move(test);
    d.have_val = have_val;
    d.have_test = have_test;
    return d;
}

nn::TabularSpec model_spec(const TrainOptions& o, const RunData& d) {
    nn::TabularSpec spec;
    spec.task = nn::parse_task(o.task);
    spec.features = d.features;
    spec.targets = o.targets;
    spec.n_classes = d.n_classes;
    spec.hidden = o.hidden;
    spec.activation = nn::parse_activation(o.activation);
    spec.bias = o.bias;
    return spec;
}

nn::TabularModel load_init_model(const std::string& path, const nn::TabularSpec& spec) {
    // A foreign MLP has no "hypers": read it with the options' columns and task as hints.
    ForeignModelHints hints;
    hints.task = nn::to_string(spec.task);
    hints.targets = spec.targets;
    hints.features = spec.features;
    nn::Checkpoint ckpt = nn::load_checkpoint(path);
    nn::TabularModel init = ckpt.metadata.count("hypers") ? nn::TabularModel::from_checkpoint(ckpt)
                                                          : load_tabular_model(ckpt, hints);
    AD_CHECK(init.spec().to_toml() == spec.to_toml(),
             path << ": these weights belong to a different model (hypers in the file:\n" << init.spec().to_toml() << ")");
    return init;
}

std::map<std::string, double> evaluate_split(const nn::TabularModel& model, const Split& s, const TrainOptions& o) {
    ad::NoGrad ng;
    ad::Tensor out = model.forward(s.x);
    std::map<std::string, double> m;
    if (o.task == "classification") {
        m["loss"] = nn::nll(out, s.labels);
        m["accuracy"] = nn::accuracy(out, s.labels);
        m["nll"] = m["loss"];
    } else {
        ad::Tensor on = model.normalize_targets(out), yn = model.normalize_targets(s.y);
        if (o.loss == "mse") m["loss"] = nn::mse_loss(on, yn).item();
        else if (o.loss == "mae") m["loss"] = nn::mae_loss(on, yn).item();
        else m["loss"] = nn::huber_loss(on, yn, o.huber_delta).item();
        m["rmse"] = nn::rmse(out, s.y);
        m["mae"] = nn::mae(out, s.y);
    }
    return m;
}

void copy_model_file(const std::string& from, const std::string& to) {
    // A copy of the bytes via write_file_atomic, which also handles -o /dev/null (save_checkpoint
    // would rename its temporary file over the device).
    std::ifstream in(from, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    AD_CHECK(in.good() || in.eof(), from << ": cannot read back the saved model");
    write_file_atomic(to, bytes);
}

std::string make_run_dir(const std::string& root) {
    std::time_t now = std::time(nullptr);
    std::tm tm = *std::localtime(&now);
    char day[16], clock[16];
    std::strftime(day, sizeof day, "%Y-%m-%d", &tm);
    std::strftime(clock, sizeof clock, "%H-%M-%S", &tm);
    std::string base = join_path(join_path(root, day), clock);
    std::string dir = base;
    for (int k = 2; file_exists(dir); ++k) dir = base + "-" + std::to_string(k);
    make_dirs(dir);
    return dir;
}

TrainResult train_tabular(const TrainOptions& o, const TrainRun& run) {
    if (o.marglik.enabled) return train_marglik(o, run);
    const bool classification = o.task == "classification";

    // ---- data
    RunData data = load_run_data(o);
    const std::vector<std::string>& features = data.features;
    const Split &train = data.train, &val = data.val, &test = data.test;
    const bool have_val = data.have_val, have_test = data.have_test;

    // ---- model
    const nn::TabularSpec spec = model_spec(o, data);
    ad::Rng init_rng(static_cast<uint64_t>(o.seed) + 1);
    std::unique_ptr<nn::TabularModel> model = std::make_unique<nn::TabularModel>(spec, init_rng);
    nn::Checkpoint restart;
    if (!run.restart_path.empty()) {
        restart = nn::load_checkpoint(run.restart_path);
        auto kind = restart.metadata.find("kind");
        AD_CHECK(kind != restart.metadata.end() && kind->second == "training_checkpoint",
                 run.restart_path << ": expected a training checkpoint (outputs/.../model_<epoch>.ckpt), got a model");
        nn::TabularModel saved = nn::TabularModel::from_checkpoint(restart);
        AD_CHECK(saved.spec().to_toml() == spec.to_toml(),
                 run.restart_path << ": the checkpoint's model differs from the options (hypers in the checkpoint:\n"
                                  << saved.spec().to_toml() << ")");
        *model = std::move(saved);
    } else if (!run.init_path.empty()) {
        // Start from the same function as the given weights (and their scalers, when they have any).
        *model = load_init_model(run.init_path, spec);
        // A saved model has its scalers folded into its weights, so the network would see raw numbers
        // (other loss units, and a far larger effective step on large features than in the run that
        // made it). Re-express the same function with scalers fitted on this training set.
        if (o.scale_inputs) model->unfold_input_scaler(train.x);
        if (o.scale_targets && !classification) model->unfold_target_scaler(train.y);
    } else {
        if (o.scale_inputs) model->fit_input_scaler(train.x);
        if (o.scale_targets && !classification) model->fit_target_scaler(train.y);
    }
    nn::MLP& mlp = model->mlp();
    std::vector<ad::Tensor> params = mlp.parameters();

    // The network sees standardised numbers; computing them once saves work in every step.
    ad::Tensor xn = model->normalize_inputs(train.x);
    ad::Tensor yn = classification ? ad::Tensor() : model->normalize_targets(train.y);

    // ---- optimiser and schedule
    std::unique_ptr<nn::Optimizer> opt;
    if (o.optimizer == "adam")
        opt = std::make_unique<nn::Adam>(params, o.learning_rate, 0.9, 0.999, 1e-8, o.weight_decay);
    else if (o.optimizer == "adamw")
        opt = std::make_unique<nn::AdamW>(params, o.learning_rate, 0.9, 0.999, 1e-8, o.weight_decay);
    else
        opt = std::make_unique<nn::SGD>(params, o.learning_rate, o.momentum, o.weight_decay, o.nesterov);
    const long n_train = train.n();
    const long steps_per_epoch = (n_train + o.batch_size - 1) / o.batch_size;
    const long total_steps = steps_per_epoch * o.num_epochs;
    const long warmup_steps = std::lround(o.warmup_fraction * static_cast<double>(total_steps));
    nn::ScheduleOptions sched_opts;
    sched_opts.step_size = o.scheduler_step_size * steps_per_epoch;
    sched_opts.gamma = o.scheduler_gamma;
    const bool plateau_mode = o.scheduler == "plateau";
    nn::LrSchedule schedule = nn::warmup_then(o.learning_rate, warmup_steps,
                                              plateau_mode ? nn::ScheduleKind::constant : nn::parse_schedule_kind(o.scheduler),
                                              total_steps, sched_opts);
    nn::PlateauOptions plateau_opts;
    plateau_opts.factor = o.plateau_factor;
    plateau_opts.patience = o.plateau_patience;
    nn::ReduceOnPlateau plateau(o.learning_rate, plateau_opts);

    // ---- state (fresh or restored)
    ad::Rng shuffle_rng(static_cast<uint64_t>(o.seed) + 2);
    long start_epoch = 1, step = 0, best_epoch = 0;
    const std::string metric = o.best_model_metric;
    double best = higher_is_better(metric) ? -INFINITY : INFINITY;
    nn::NamedTensors best_state = clone_all(mlp.state_dict());
    if (!run.restart_path.empty()) {
        opt->load_state(restart.section("optimizer."));
        if (plateau_mode) plateau.load_state(restart.section("plateau."));
        shuffle_rng = rng_from_text(restart.meta("shuffle_rng"), run.restart_path);
        start_epoch = std::atol(restart.meta("epoch").c_str()) + 1;
        step = std::atol(restart.meta("step").c_str());
        best_epoch = std::atol(restart.meta("best_epoch").c_str());
        best = std::strtod(restart.meta("best_metric").c_str(), nullptr);
        best_state = clone_all(restart.section("best."));
    }

    // ---- outputs
    TrainResult result;
    result.run_dir = run.run_dir.empty() ? make_run_dir("outputs") : run.run_dir;
    make_dirs(result.run_dir);
    write_file_atomic(join_path(result.run_dir, "options_restart.toml"), o.to_toml(TrainOptions::PathStyle::absolute));
    const std::string log_path = join_path(result.run_dir, "train.csv");
    // A restart appends to the log of its run folder; a new folder (or a fresh run) gets a header.
    const bool new_log = start_epoch == 1 || std::ifstream(log_path, std::ios::ate).tellg() <= 0;
    if (!new_log) {
        // An interrupted run may have logged epochs after its last checkpoint (and half a row):
        // keep the header and the complete rows up to the checkpoint, so no epoch appears twice.
        std::ifstream in(log_path);
        std::string kept, row;
        for (bool header = true; std::getline(in, row) && !in.eof(); header = false)
            if (header || std::atol(row.c_str()) < start_epoch) kept += row + "\n";
        in.close();
        write_file_atomic(log_path, kept);
    }
    std::ofstream log(log_path, new_log ? std::ios::trunc : std::ios::app);
    AD_CHECK(log.good(), log_path << ": cannot write the training log");
    if (new_log) {
        log << "epoch,learning_rate,train_loss";
        log << (classification ? ",train_accuracy" : ",train_rmse,train_mae");
        if (have_val) log << (classification ? ",val_loss,val_accuracy,val_nll" : ",val_loss,val_rmse,val_mae");
        log << ",time_s\n";
    }
    std::fprintf(stderr, "atomgrad train: %ld training rows, %ld validation, %ld test; %ld features -> %ld outputs; "
                         "%ld parameters; run folder %s\n",
                 n_train, have_val ? val.n() : 0L, have_test ? test.n() : 0L, static_cast<long>(features.size()),
                 spec.n_outputs(), mlp.n_parameters(), result.run_dir.c_str());

    const std::vector<double> target_std = model->target_scale();

    auto save_training_checkpoint = [&](long epoch) {
        nn::Checkpoint c = model->to_checkpoint();
        nn::Checkpoint full;
        full.metadata = c.metadata;
        full.add("model.", c.tensors);
        full.add("best.", best_state);
        full.add("optimizer.", opt->state());
        if (plateau_mode) full.add("plateau.", plateau.state());
        full.metadata["kind"] = "training_checkpoint";
        full.metadata["epoch"] = std::to_string(epoch);
        full.metadata["step"] = std::to_string(step);
        full.metadata["best_epoch"] = std::to_string(best_epoch);
        char buf[40];
        std::snprintf(buf, sizeof buf, "%.17g", best);
        full.metadata["best_metric"] = buf;
        full.metadata["shuffle_rng"] = rng_state_text(shuffle_rng);
        full.metadata["options"] = o.to_toml();
        nn::save_checkpoint(join_path(result.run_dir, "model_" + std::to_string(epoch) + ".ckpt"), full);
    };

    // ---- the loop
    Progress progress("epoch", o.num_epochs, o.log_interval);
    auto t0 = std::chrono::steady_clock::now();
    const long n_out = spec.n_outputs();
    std::vector<long> batch_idx;
    std::vector<long> batch_labels;
    for (long epoch = start_epoch; epoch <= o.num_epochs; ++epoch) {
        std::vector<long> order = shuffle_rng.permutation(n_train);
        double loss_sum = 0, sq_sum = 0, abs_sum = 0;
        long correct = 0;
        for (long b = 0; b < n_train; b += o.batch_size) {
            const long m = std::min(o.batch_size, n_train - b);
            batch_idx.assign(order.begin() + b, order.begin() + b + m);
            double lr = plateau_mode ? plateau.lr() * schedule.lr_at(step) / o.learning_rate : schedule.lr_at(step);
            opt->set_lr(lr);
            ad::Tensor xb = ad::index_select(xn, 0, batch_idx);
            ad::Tensor out = mlp.forward(xb);
            ad::Tensor loss;
            if (classification) {
                batch_labels.clear();
                for (long i : batch_idx) batch_labels.push_back(train.labels[i]);
                loss = nn::cross_entropy(out, batch_labels);
            } else {
                ad::Tensor yb = ad::index_select(yn, 0, batch_idx);
                loss = o.loss == "mse" ? nn::mse_loss(out, yb)
                       : o.loss == "mae" ? nn::mae_loss(out, yb)
                                         : nn::huber_loss(out, yb, o.huber_delta);
                const double *po = out.data(), *py = yb.data();
                for (long i = 0; i < m * n_out; ++i) {
                    double d = (po[i] - py[i]) * target_std[i % n_out];
                    sq_sum += d * d;
                    abs_sum += std::fabs(d);
                }
            }
            const double lv = loss.item();
            AD_CHECK(std::isfinite(lv), "train: the loss became " << lv << " at epoch " << epoch << " (step " << step
                                                                  << "); lower architecture.training.learning_rate");
            loss_sum += lv * static_cast<double>(m);
            if (classification) {
                std::vector<long> pred = nn::argmax_rows(out);
                for (long i = 0; i < m; ++i) correct += pred[i] == batch_labels[i];
            }
            opt->zero_grad();
            ad::backward(loss, params);
            if (o.grad_clip_norm > 0) nn::clip_grad_norm(params, o.grad_clip_norm);
            opt->step();
            ++step;
        }
        // epoch metrics: training (accumulated over the epoch's batches) and validation
        std::map<std::string, double> train_m;
        train_m["loss"] = loss_sum / static_cast<double>(n_train);
        if (classification) {
            train_m["accuracy"] = static_cast<double>(correct) / static_cast<double>(n_train);
        } else {
            train_m["rmse"] = std::sqrt(sq_sum / static_cast<double>(n_train * n_out));
            train_m["mae"] = abs_sum / static_cast<double>(n_train * n_out);
        }
        std::map<std::string, double> val_m = have_val ? evaluate_split(*model, val, o) : train_m;
        const double score = val_m.at(metric);
        const bool better = higher_is_better(metric) ? score > best : score < best;
        if (better) {
            best = score;
            best_epoch = epoch;
            for (size_t k = 0; k < best_state.size(); ++k)
                std::copy(params[k].data(), params[k].data() + params[k].numel(), best_state[k].second.data());
        }
        if (plateau_mode) plateau.step(val_m.at("loss"));

        double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        log.precision(10);
        log << epoch << ',' << opt->lr() << ',' << train_m["loss"];
        if (classification) log << ',' << train_m["accuracy"];
        else log << ',' << train_m["rmse"] << ',' << train_m["mae"];
        if (have_val) {
            if (classification) log << ',' << val_m["loss"] << ',' << val_m["accuracy"] << ',' << val_m["nll"];
            else log << ',' << val_m["loss"] << ',' << val_m["rmse"] << ',' << val_m["mae"];
        }
        log << ',' << elapsed << '\n';
        log.flush();

        std::string status = "| lr " + fmt(opt->lr()) + " | train loss " + fmt(train_m["loss"]);
        status += classification ? " accuracy " + fmt(train_m["accuracy"]) : " RMSE " + fmt(train_m["rmse"]);
        if (have_val)
            status += classification ? " | val loss " + fmt(val_m["loss"]) + " accuracy " + fmt(val_m["accuracy"])
                                     : " | val loss " + fmt(val_m["loss"]) + " RMSE " + fmt(val_m["rmse"]);
        progress.update(epoch, status);
        if (epoch % o.checkpoint_interval == 0) save_training_checkpoint(epoch);
    }
    progress.finish();

    // ---- the best model: folded into a plain MLP, evaluated, saved
    mlp.load_state_dict(best_state);
    result.best_epoch = best_epoch;
    if (have_val) result.validation = evaluate_split(*model, val, o);
    if (have_test) result.test = evaluate_split(*model, test, o);
    model->fold_scalers();
    nn::Checkpoint final_ckpt = model->to_checkpoint();
    final_ckpt.metadata["best_epoch"] = std::to_string(best_epoch);
    final_ckpt.metadata["options"] = o.to_toml();
    const std::string run_model = join_path(result.run_dir, "model.ckpt");
    nn::save_checkpoint(run_model, final_ckpt);
    if (!run.output_path.empty()) copy_model_file(run_model, run.output_path);

    auto line = [&](const char* what, const std::map<std::string, double>& m) {
        std::string s;
        for (const auto& [k, v] : m) s += " " + k + " " + fmt(v);
        std::fprintf(stderr, "%s (best epoch %ld):%s\n", what, best_epoch, s.c_str());
    };
    if (have_val) line("validation", result.validation);
    if (have_test) line("test", result.test);
    std::fprintf(stderr, "model written to %s (and %s)\n", run.output_path.c_str(),
                 join_path(result.run_dir, "model.ckpt").c_str());
    return result;
}

}  // namespace cli
