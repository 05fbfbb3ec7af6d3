// The marglik branch of `atomgrad train`: options -> uq::MarglikTrainingOptions, the epoch
// callback (log row, progress), the wrapped model and its metrics.
#include "cli/train_marglik.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "autodiff/ops.hpp"
#include "cli/files.hpp"
#include "cli/laplace_model.hpp"
#include "cli/progress.hpp"
#include "nn/checkpoint.hpp"
#include "nn/metrics.hpp"
#include "nn/scheduler.hpp"
#include "uq/calibration.hpp"
#include "uq/marglik_training.hpp"
#include "uq/predictive.hpp"

namespace cli {

namespace {

std::string fmt(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

uq::PriorStructure parse_prior_structure(const std::string& name) {
    return name == "scalar" ? uq::PriorStructure::scalar
           : name == "layerwise" ? uq::PriorStructure::layerwise
                                 : uq::PriorStructure::diagonal;
}

// Metrics of the posterior predictive on a split: regression rmse, mae of the mean and the
// Gaussian nll with variance f_var + sigma^2; classification accuracy, nll and ECE (15 bins) of
// the probabilities.
std::map<std::string, double> evaluate_posterior(const LaplaceModel& m, const Split& s, bool classification) {
    Prediction pr = m.predict(s.x);
    std::map<std::string, double> out;
    if (classification) {
        out["accuracy"] = nn::accuracy(ad::log(pr.mean), s.labels);
        out["nll"] = uq::nll_classification(pr.mean, s.labels);
        out["ece"] = uq::expected_calibration_error(pr.mean, s.labels);
    } else {
        out["rmse"] = nn::rmse(pr.mean, s.y);
        out["mae"] = nn::mae(pr.mean, s.y);
        out["nll"] = uq::nll_regression(pr.mean, pr.f_var, s.y, m.sigma_noise());
    }
    return out;
}

}  // namespace

TrainResult train_marglik(const TrainOptions& o, const TrainRun& run) {
    const MarglikTrainOptions& g = o.marglik;
    AD_CHECK(run.restart_path.empty(), "train: --restart is not available with [architecture.training.marglik] (the "
                                       "marglik loop writes no training checkpoints); start again, or --init from a "
                                       "model.ckpt");
    const bool classification = o.task == "classification";

    // ---- data and model (no standardisation: the network sees the data's units)
    RunData data = load_run_data(o);
    const nn::TabularSpec spec = model_spec(o, data);
    ad::Rng init_rng(static_cast<uint64_t>(o.seed) + 1);
    nn::TabularModel model(spec, init_rng);
    if (!run.init_path.empty()) {
        model = load_init_model(run.init_path, spec);
        model.fold_scalers();  // a training checkpoint's scalers: the same function on raw numbers
    }
    const Split& train = data.train;
    const long n_train = train.n();
    ad::Tensor targets;
    if (classification) {
        std::vector<double> v(train.labels.begin(), train.labels.end());
        targets = ad::tensor(v);
    } else {
        targets = train.y;
    }

    // ---- laplace-torch's arguments: the model optimiser and schedule from [architecture.training]
    uq::MarglikTrainingOptions mo;
    mo.likelihood = classification ? uq::Likelihood::classification : uq::Likelihood::regression;
    mo.hessian_structure = uq::parse_hessian_structure(g.hessian_structure);
    mo.prior_structure = parse_prior_structure(g.prior_structure);
    mo.n_epochs = o.num_epochs;
    mo.lr = o.learning_rate;
    mo.optimizer = o.optimizer == "sgd" ? uq::ModelOptimizer::sgd : uq::ModelOptimizer::adam;
    mo.momentum = o.optimizer == "sgd" ? o.momentum : 0.0;
    mo.weight_decay = o.weight_decay;
    const long n_batches = (n_train + o.batch_size - 1) / o.batch_size;
    const long total_steps = n_batches * o.num_epochs;
    mo.scheduler = nn::parse_schedule_kind(o.scheduler);
    mo.scheduler_steps = total_steps;
    mo.scheduler_warmup = std::lround(o.warmup_fraction * static_cast<double>(total_steps));
    mo.schedule_options.step_size = o.scheduler_step_size * n_batches;
    mo.schedule_options.gamma = o.scheduler_gamma;
    mo.lr_hyp = g.lr_hyp;
    mo.n_epochs_burnin = g.n_epochs_burnin;
    mo.n_hypersteps = g.n_hypersteps;
    mo.marglik_frequency = g.marglik_frequency;
    mo.prior_prec_init = g.prior_prec_init;
    mo.sigma_noise_init = g.sigma_noise_init;
    mo.temperature = g.temperature;
    mo.fix_sigma_noise = g.fix_sigma_noise;
    mo.batch_size = o.batch_size;
    mo.kron_sigma_gradient =
        g.kron_sigma_gradient == "laplace_torch" ? uq::KronSigmaGradient::laplace_torch : uq::KronSigmaGradient::true_gradient;
    // The same schedule as the one inside marglik_training, to log the rate of each epoch's last step.
    const nn::LrSchedule schedule(o.learning_rate, mo.scheduler_warmup, mo.scheduler, total_steps, mo.schedule_options);

    // ---- outputs
    TrainResult result;
    result.run_dir = run.run_dir.empty() ? make_run_dir("outputs") : run.run_dir;
    make_dirs(result.run_dir);
    write_file_atomic(join_path(result.run_dir, "options_restart.toml"), o.to_toml(TrainOptions::PathStyle::absolute));
    const std::string log_path = join_path(result.run_dir, "train.csv");
    std::ofstream log(log_path, std::ios::trunc);
    AD_CHECK(log.good(), log_path << ": cannot write the training log");
    // Per-tensor prior columns for a layerwise prior (a handful); a scalar or diagonal prior logs
    // its value / mean only.
    std::vector<std::string> tensor_names;
    if (mo.prior_structure == uq::PriorStructure::layerwise)
        for (const auto& kv : model.mlp().named_parameters()) tensor_names.push_back(kv.first);
    log << "epoch,learning_rate,train_loss" << (classification ? ",train_accuracy" : ",train_rmse,train_mae");
    if (data.have_val) log << (classification ? ",val_loss,val_accuracy,val_nll" : ",val_loss,val_rmse,val_mae");
    log << ",neg_log_marglik,sigma_noise,prior_precision";
    for (const auto& name : tensor_names) log << ",prior_precision_" << name;
    log << ",time_s\n";
    std::fprintf(stderr, "atomgrad train: marglik training (%s Laplace, %s prior); %ld training rows, %ld validation, "
                         "%ld test; %ld features -> %ld outputs; %ld parameters; run folder %s\n",
                 g.hessian_structure.c_str(), g.prior_structure.c_str(), n_train, data.have_val ? data.val.n() : 0L,
                 data.have_test ? data.test.n() : 0L, static_cast<long>(spec.features.size()), spec.n_outputs(),
                 model.mlp().n_parameters(), result.run_dir.c_str());

    // ---- one log row and progress line per epoch; the MLP holds the epoch's weights here
    Progress progress("epoch", o.num_epochs, o.log_interval);
    auto t0 = std::chrono::steady_clock::now();
    mo.progress = [&](const uq::MarglikProgress& p) {
        std::map<std::string, double> train_m = evaluate_split(model, train, o);
        train_m["loss"] = p.loss;  // the marglik objective: NLL + prior term / N
        std::map<std::string, double> val_m = data.have_val ? evaluate_split(model, data.val, o) : train_m;
        const ad::Tensor& tau = p.prior_precision;
        double tau_mean = 0;
        for (long k = 0; k < tau.numel(); ++k) tau_mean += tau[k] / static_cast<double>(tau.numel());
        const double lr = schedule.lr_at(p.epoch * n_batches - 1);
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        log.precision(10);
        log << p.epoch << ',' << lr << ',' << train_m["loss"];
        if (classification) log << ',' << train_m["accuracy"];
        else log << ',' << train_m["rmse"] << ',' << train_m["mae"];
        if (data.have_val) {
            if (classification) log << ',' << val_m["loss"] << ',' << val_m["accuracy"] << ',' << val_m["nll"];
            else log << ',' << val_m["loss"] << ',' << val_m["rmse"] << ',' << val_m["mae"];
        }
        log << ',';
        if (p.hyper_step) log << p.neg_log_marglik;  // empty: no Laplace fit this epoch
        log << ',' << p.sigma_noise << ',' << tau_mean;
        for (long k = 0; k < static_cast<long>(tensor_names.size()); ++k) log << ',' << tau[k];
        log << ',' << elapsed << '\n';
        log.flush();

        std::string status = "| lr " + fmt(lr) + " | train loss " + fmt(train_m["loss"]);
        status += classification ? " accuracy " + fmt(train_m["accuracy"]) : " RMSE " + fmt(train_m["rmse"]);
        if (data.have_val)
            status += classification ? " | val accuracy " + fmt(val_m["accuracy"]) : " | val RMSE " + fmt(val_m["rmse"]);
        if (p.hyper_step) status += " | -lml " + fmt(p.neg_log_marglik);
        if (!classification) status += " sigma " + fmt(p.sigma_noise);
        status += " tau " + fmt(tau_mean);
        progress.update(p.epoch, status);
    };

    uq::MarglikTrainingResult r = uq::marglik_training(model.mlp(), train.x, targets, mo);
    progress.finish();

    // ---- the best weights with their posterior, evaluated and saved
    result.best_epoch = r.best_epoch;
    LaplaceModel wrapped(std::move(model), std::move(r.laplace), parse_link_approx(g.link_approx), 1000);
    if (data.have_val) result.validation = evaluate_posterior(wrapped, data.val, classification);
    if (data.have_test) result.test = evaluate_posterior(wrapped, data.test, classification);
    nn::Checkpoint ckpt = wrapped.to_checkpoint();
    ckpt.metadata["best_epoch"] = std::to_string(r.best_epoch);
    ckpt.metadata["options"] = o.to_toml();
    const std::string run_model = join_path(result.run_dir, "model.ckpt");
    nn::save_checkpoint(run_model, ckpt);
    if (!run.output_path.empty()) copy_model_file(run_model, run.output_path);

    const uq::Laplace& la = wrapped.laplace();
    std::string tau;
    for (long k = 0; k < la.prior_precision().numel(); ++k) tau += (k ? ", " : "") + fmt(la.prior_precision()[k]);
    std::fprintf(stderr, "marginal likelihood (best epoch %ld): log marglik %.10g, sigma_noise %.6g, prior_precision [%s]\n",
                 r.best_epoch, la.log_marginal_likelihood(), la.sigma_noise(), tau.c_str());
    auto line = [&](const char* what, const std::map<std::string, double>& m) {
        std::string s;
        for (const auto& [k, v] : m) s += " " + k + " " + fmt(v);
        std::fprintf(stderr, "%s (best epoch %ld, Laplace predictive):%s\n", what, r.best_epoch, s.c_str());
    };
    if (data.have_val) line("validation", result.validation);
    if (data.have_test) line("test", result.test);
    std::fprintf(stderr, "model with its posterior written to %s (and %s)\n", run.output_path.c_str(), run_model.c_str());
    return result;
}

}  // namespace cli
