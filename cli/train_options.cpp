#include "cli/train_options.hpp"

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "autodiff/error.hpp"
#include "cli/files.hpp"
#include "nn/activation.hpp"

namespace cli {

namespace {

const std::map<std::string, Kind>& schema() {
    static const std::map<std::string, Kind> s = merge_schemas(data_set_keys(), {
        {"seed", Kind::integer},
        {"base_precision", Kind::integer},
        {"architecture", Kind::table},
        {"architecture.name", Kind::string},
        {"architecture.model", Kind::table},
        {"architecture.model.hidden", Kind::integer_list},
        {"architecture.model.activation", Kind::string},
        {"architecture.model.bias", Kind::boolean},
        {"architecture.training", Kind::table},
        {"architecture.training.num_epochs", Kind::integer},
        {"architecture.training.batch_size", Kind::integer},
        {"architecture.training.learning_rate", Kind::floating},
        {"architecture.training.optimizer", Kind::string},
        {"architecture.training.weight_decay", Kind::floating},
        {"architecture.training.momentum", Kind::floating},
        {"architecture.training.nesterov", Kind::boolean},
        {"architecture.training.warmup_fraction", Kind::floating},
        {"architecture.training.scheduler", Kind::string},
        {"architecture.training.scheduler_step_size", Kind::integer},
        {"architecture.training.scheduler_gamma", Kind::floating},
        {"architecture.training.plateau_factor", Kind::floating},
        {"architecture.training.plateau_patience", Kind::integer},
        {"architecture.training.grad_clip_norm", Kind::floating},
        {"architecture.training.log_interval", Kind::integer},
        {"architecture.training.checkpoint_interval", Kind::integer},
        {"architecture.training.loss", Kind::string},
        {"architecture.training.huber_delta", Kind::floating},
        {"architecture.training.best_model_metric", Kind::string},
        {"architecture.training.scale_inputs", Kind::boolean},
        {"architecture.training.scale_targets", Kind::boolean},
        {"architecture.training.marglik", Kind::table},
        {"architecture.training.marglik.hessian_structure", Kind::string},
        {"architecture.training.marglik.prior_structure", Kind::string},
        {"architecture.training.marglik.lr_hyp", Kind::floating},
        {"architecture.training.marglik.n_epochs_burnin", Kind::integer},
        {"architecture.training.marglik.n_hypersteps", Kind::integer},
        {"architecture.training.marglik.marglik_frequency", Kind::integer},
        {"architecture.training.marglik.prior_prec_init", Kind::floating},
        {"architecture.training.marglik.sigma_noise_init", Kind::floating},
        {"architecture.training.marglik.temperature", Kind::floating},
        {"architecture.training.marglik.fix_sigma_noise", Kind::boolean},
        {"architecture.training.marglik.kron_sigma_gradient", Kind::string},
        {"architecture.training.marglik.link_approx", Kind::string},
    });
    return s;
}

DataSource read_source(const Options& o, const std::string& key, DataSource fallback) {
    if (!o.has(key)) return fallback;
    DataSource d;
    if (o.has(key + ".read_from") || o.is_string(key)) {
        d.kind = DataSource::Kind::file;
        d.path = o.is_string(key) ? o.get_string(key, "") : o.get_string(key + ".read_from", "");
        return d;
    }
    AD_CHECK(!o.is_table(key), o.where(key) << ": '" << key << "' expected a table with read_from, got a table without it");
    d.fraction = o.get_float(key, 0.0);
    AD_CHECK(d.fraction >= 0 && d.fraction < 1,
             o.where(key) << ": '" << key << "' expected a fraction in [0, 1), got " << d.fraction);
    d.kind = d.fraction > 0 ? DataSource::Kind::fraction : DataSource::Kind::none;  // 0: no such set
    return d;
}

// laplace-torch's marglik_training arguments that [architecture.training] holds under its own
// name: said in the marglik table they get a pointer there instead of the bare "unknown key".
void reject_marglik_aliases(const Options& o) {
    const std::string m = "architecture.training.marglik.";
    const std::vector<std::pair<std::string, std::string>> aliases = {
        {"n_epochs", "architecture.training.num_epochs"},     {"lr", "architecture.training.learning_rate"},
        {"optimizer", "architecture.training.optimizer"},     {"scheduler", "architecture.training.scheduler"},
        {"batch_size", "architecture.training.batch_size"},   {"weight_decay", "architecture.training.weight_decay"},
        {"likelihood", "training_set.task"},
    };
    for (const auto& [name, there] : aliases)
        AD_CHECK(!o.has(m + name), o.where(m + name) << ": unknown key '" << m << name << "'; marglik training takes it from '"
                                                     << there << "'");
}

// [architecture.training.marglik] (t.task, t.scale_* and the training keys already read).
MarglikTrainOptions parse_marglik(const Options& o, const TrainOptions& t) {
    const std::string m = "architecture.training.marglik.", p = "architecture.training.";
    MarglikTrainOptions g;
    g.enabled = true;
    auto positive = [&](const std::string& key, double fallback) {
        double v = o.get_float(m + key, fallback);
        AD_CHECK(v > 0, o.where(m + key) << ": '" << m << key << "' expected a number > 0, got " << v);
        return v;
    };
    auto count = [&](const std::string& key, long fallback, long least) {
        long v = o.get_int(m + key, fallback);
        AD_CHECK(v >= least, o.where(m + key) << ": '" << m << key << "' expected an integer >= " << least << ", got " << v);
        return v;
    };
    g.hessian_structure = o.get_string(m + "hessian_structure", g.hessian_structure);
    o.require_one_of(m + "hessian_structure", g.hessian_structure, {"full", "kron", "diag"});
    g.prior_structure = o.get_string(m + "prior_structure", g.prior_structure);
    o.require_one_of(m + "prior_structure", g.prior_structure, {"scalar", "layerwise", "diagonal"});
    AD_CHECK(!(g.hessian_structure == "kron" && g.prior_structure == "diagonal"),
             o.where(m + "prior_structure") << ": '" << m << "prior_structure' = \"diagonal\" does not go with "
                                            << "hessian_structure = \"kron\" (a per-parameter prior breaks the "
                                               "Kronecker structure); use scalar or layerwise");
    g.lr_hyp = positive("lr_hyp", g.lr_hyp);
    g.n_epochs_burnin = count("n_epochs_burnin", g.n_epochs_burnin, 0);
    g.n_hypersteps = count("n_hypersteps", g.n_hypersteps, 1);
    g.marglik_frequency = count("marglik_frequency", g.marglik_frequency, 1);
    g.prior_prec_init = positive("prior_prec_init", g.prior_prec_init);
    g.sigma_noise_init = positive("sigma_noise_init", g.sigma_noise_init);
    g.temperature = positive("temperature", g.temperature);
    g.fix_sigma_noise = o.get_bool(m + "fix_sigma_noise", g.fix_sigma_noise);
    g.kron_sigma_gradient = o.get_string(m + "kron_sigma_gradient", g.kron_sigma_gradient);
    o.require_one_of(m + "kron_sigma_gradient", g.kron_sigma_gradient, {"true", "laplace_torch"});
    g.link_approx = o.get_string(m + "link_approx", g.link_approx);
    o.require_one_of(m + "link_approx", g.link_approx, {"probit", "bridge", "bridge_norm", "mc"});
    AD_CHECK(t.task == "regression" || g.sigma_noise_init == 1.0,
             o.where(m + "sigma_noise_init") << ": '" << m << "sigma_noise_init' expected 1 for classification (there is "
                                             << "no observation noise), got " << g.sigma_noise_init);

    // What uq::marglik_training does not do, or decides itself, is refused rather than ignored.
    auto refuse = [&](bool bad, const std::string& key, const std::string& why) {
        AD_CHECK(!bad, o.where(key) << ": '" << key << "' " << why << " with [architecture.training.marglik]");
    };
    const std::string units = "(marglik training fits sigma and the posterior in the data's units)";
    refuse(o.has(p + "scale_inputs") && t.scale_inputs, p + "scale_inputs",
           "= true is not available " + units + "; remove it or set it to false");
    refuse(o.has(p + "scale_targets") && t.scale_targets && t.task == "regression", p + "scale_targets",
           "= true is not available " + units + "; remove it or set it to false");
    refuse(t.optimizer == "adamw", p + "optimizer", "= \"adamw\" is not available; use adam or sgd");
    refuse(t.nesterov, p + "nesterov", "= true is not available");
    refuse(t.scheduler == "plateau", p + "scheduler", "= \"plateau\" is not available; use constant, cosine or step");
    refuse(t.grad_clip_norm > 0, p + "grad_clip_norm", "> 0 is not available");
    refuse(t.loss != "mse" && t.loss != "cross_entropy", p + "loss",
           "= \"" + t.loss + "\" is not available (the Laplace likelihood is Gaussian: mse)");
    return g;
}

}  // namespace

TrainOptions parse_train_options(const Options& o) {
    reject_marglik_aliases(o);
    o.check(schema());
    TrainOptions t;
    t.options_path = o.name();
    for (const auto& entry : schema())
        if (o.has(entry.first)) t.key_where[entry.first] = o.where(entry.first);
    t.seed = o.get_int("seed", t.seed);
    AD_CHECK(t.seed >= 0, o.where("seed") << ": 'seed' expected a non-negative integer, got " << t.seed);
    long precision = o.get_int("base_precision", 64);
    AD_CHECK(precision == 64, o.where("base_precision") << ": 'base_precision' expected 64 (atomgrad computes in float64), got "
                                                        << precision);

    AD_CHECK(o.has("architecture.name"), o.name() << ": expected 'architecture.name' (e.g. name = \"mlp\"), found none");
    t.architecture = o.get_string("architecture.name", t.architecture);
    o.require_one_of("architecture.name", t.architecture, {"mlp"});

    const std::string m = "architecture.model.";
    t.hidden = o.get_int_list(m + "hidden", t.hidden);
    for (long h : t.hidden)
        AD_CHECK(h > 0, o.where(m + "hidden") << ": '" << m << "hidden' expected positive layer widths, got " << h);
    t.activation = o.get_string(m + "activation", t.activation);
    o.require_one_of(m + "activation", t.activation, {"tanh", "relu", "silu", "gelu", "sigmoid", "softplus"});
    t.bias = o.get_bool(m + "bias", t.bias);

    const std::string p = "architecture.training.";
    auto positive_int = [&](const std::string& key, long fallback) {
        long v = o.get_int(p + key, fallback);
        AD_CHECK(v > 0, o.where(p + key) << ": '" << p << key << "' expected a positive integer, got " << v);
        return v;
    };
    auto non_negative = [&](const std::string& key, double fallback) {
        double v = o.get_float(p + key, fallback);
        AD_CHECK(v >= 0, o.where(p + key) << ": '" << p << key << "' expected a number >= 0, got " << v);
        return v;
    };
    t.num_epochs = positive_int("num_epochs", t.num_epochs);
    t.batch_size = positive_int("batch_size", t.batch_size);
    t.learning_rate = o.get_float(p + "learning_rate", t.learning_rate);
    AD_CHECK(t.learning_rate > 0, o.where(p + "learning_rate") << ": '" << p << "learning_rate' expected a number > 0, got "
                                                               << t.learning_rate);
    t.optimizer = o.get_string(p + "optimizer", t.optimizer);
    o.require_one_of(p + "optimizer", t.optimizer, {"adam", "adamw", "sgd"});
    // AdamW's decay is its reason to exist: default 0.01 there (as torch), 0 for Adam and SGD
    t.weight_decay = non_negative("weight_decay", o.get_string(p + "optimizer", t.optimizer) == "adamw" ? 0.01 : 0.0);
    t.momentum = non_negative("momentum", t.momentum);
    t.nesterov = o.get_bool(p + "nesterov", t.nesterov);
    t.warmup_fraction = non_negative("warmup_fraction", t.warmup_fraction);
    AD_CHECK(t.warmup_fraction < 1, o.where(p + "warmup_fraction") << ": '" << p
                                                                   << "warmup_fraction' expected a number in [0, 1), got "
                                                                   << t.warmup_fraction);
    t.scheduler = o.get_string(p + "scheduler", t.scheduler);
    o.require_one_of(p + "scheduler", t.scheduler, {"constant", "cosine", "step", "plateau"});
    t.scheduler_step_size = positive_int("scheduler_step_size", t.scheduler_step_size);
    t.scheduler_gamma = non_negative("scheduler_gamma", t.scheduler_gamma);
    t.plateau_factor = non_negative("plateau_factor", t.plateau_factor);
    AD_CHECK(t.plateau_factor > 0 && t.plateau_factor < 1,
             o.where(p + "plateau_factor") << ": '" << p << "plateau_factor' expected a number in (0, 1), got "
                                           << t.plateau_factor);
    t.plateau_patience = o.get_int(p + "plateau_patience", t.plateau_patience);
    AD_CHECK(t.plateau_patience >= 0, o.where(p + "plateau_patience") << ": '" << p
                                                                     << "plateau_patience' expected an integer >= 0, got "
                                                                     << t.plateau_patience);
    t.grad_clip_norm = non_negative("grad_clip_norm", t.grad_clip_norm);
    t.log_interval = positive_int("log_interval", t.log_interval);
    t.checkpoint_interval = positive_int("checkpoint_interval", t.checkpoint_interval);
    t.huber_delta = o.get_float(p + "huber_delta", t.huber_delta);
    AD_CHECK(t.huber_delta > 0, o.where(p + "huber_delta") << ": '" << p << "huber_delta' expected a number > 0, got "
                                                           << t.huber_delta);
    // With marglik the network sees the data as they are (parse_marglik refuses true).
    const bool marglik = o.has("architecture.training.marglik");
    t.scale_inputs = o.get_bool(p + "scale_inputs", marglik ? false : t.scale_inputs);
    t.scale_targets = o.get_bool(p + "scale_targets", marglik ? false : t.scale_targets);

    AD_CHECK(o.has("training_set.read_from"), o.name() << ": expected 'training_set.read_from' (the training CSV), found none");
    t.train_path = o.get_string("training_set.read_from", "");
    AD_CHECK(o.has("training_set.target"), o.name() << ": expected 'training_set.target' (the target column), found none");
    t.targets = o.get_string_list("training_set.target", {});
    AD_CHECK(!t.targets.empty(), o.where("training_set.target") << ": 'training_set.target' expected at least one column name");
    t.features = o.get_string_list("training_set.features", {});
    t.task = o.get_string("training_set.task", t.task);
    o.require_one_of("training_set.task", t.task, {"regression", "classification"});
    AD_CHECK(t.task == "regression" || t.targets.size() == 1,
             o.where("training_set.target") << ": 'training_set.target' expected one label column for classification, got "
                                            << t.targets.size());

    bool classification = t.task == "classification";
    t.loss = o.get_string(p + "loss", classification ? "cross_entropy" : "mse");
    if (classification)
        o.require_one_of(p + "loss", t.loss, {"cross_entropy"});
    else
        o.require_one_of(p + "loss", t.loss, {"mse", "mae", "huber"});
    t.best_model_metric = o.get_string(p + "best_model_metric", t.best_model_metric);
    if (classification)
        o.require_one_of(p + "best_model_metric", t.best_model_metric, {"loss", "accuracy"});
    else
        o.require_one_of(p + "best_model_metric", t.best_model_metric, {"loss", "rmse", "mae"});
    if (classification) t.scale_targets = false;

    if (marglik) t.marglik = parse_marglik(o, t);

    t.validation = read_source(o, "validation_set", t.validation);
    t.test = read_source(o, "test_set", t.test);
    AD_CHECK(t.bias || (!t.scale_inputs && !t.scale_targets),
             o.where("architecture.model.bias") << ": 'architecture.model.bias' = false needs "
                                                   "architecture.training.scale_inputs = false and scale_targets = false "
                                                   "(the standardisation is folded into the biases of the saved model)");

    return t;
}

TrainOptions read_train_options(const std::string& path) { return parse_train_options(Options::from_file(path)); }

std::string TrainOptions::where(const std::string& key) const {
    auto it = key_where.find(key);
    return it != key_where.end() ? it->second : options_path;
}

namespace {
std::string q(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}
std::string list(const std::vector<std::string>& xs) {
    std::string out = "[";
    for (size_t k = 0; k < xs.size(); ++k) out += (k ? ", " : "") + q(xs[k]);
    return out + "]";
}
// The shortest decimal that reads back to the same double, always with a '.' or an exponent so
// that TOML keeps it a float: 0.9 prints as "0.9", not "0.90000000000000002".
std::string num(double v) {
    char buf[40];
    for (int prec = 1; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    std::string s = buf;
    if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
    return s;
}
std::string source(const DataSource& d, const std::string& resolved_path) {
    if (d.kind == DataSource::Kind::file) return q(resolved_path);
    return num(d.fraction);
}
}  // namespace

std::string TrainOptions::to_toml(PathStyle style) const {
    // Paths are relative to the options file's folder; resolved, they work from anywhere.
    const std::string base = dirname_of(options_path);
    auto path = [&](const std::string& p) { return style == PathStyle::absolute ? absolute_path(join_path(base, p)) : p; };
    std::ostringstream os;
    os << "# fully expanded options of this run (defaults filled in)\n";
    os << "seed = " << seed << "\nbase_precision = 64\n";
    if (validation.kind != DataSource::Kind::none) os << "validation_set = " << source(validation, path(validation.path)) << "\n";
    if (test.kind != DataSource::Kind::none) os << "test_set = " << source(test, path(test.path)) << "\n";
    os << "\n[architecture]\nname = " << q(architecture) << "\n";
    os << "\n[architecture.model]\nhidden = [";
    for (size_t k = 0; k < hidden.size(); ++k) os << (k ? ", " : "") << hidden[k];
    os << "]\nactivation = " << q(activation) << "\nbias = " << (bias ? "true" : "false") << "\n";
    os << "\n[architecture.training]\n";
    os << "num_epochs = " << num_epochs << "\nbatch_size = " << batch_size << "\nlearning_rate = " << num(learning_rate)
       << "\noptimizer = " << q(optimizer) << "\nweight_decay = " << num(weight_decay) << "\nmomentum = " << num(momentum)
       << "\nnesterov = " << (nesterov ? "true" : "false") << "\nwarmup_fraction = " << num(warmup_fraction)
       << "\nscheduler = " << q(scheduler) << "\nscheduler_step_size = " << scheduler_step_size
       << "\nscheduler_gamma = " << num(scheduler_gamma) << "\nplateau_factor = " << num(plateau_factor)
       << "\nplateau_patience = " << plateau_patience << "\ngrad_clip_norm = " << num(grad_clip_norm)
       << "\nlog_interval = " << log_interval << "\ncheckpoint_interval = " << checkpoint_interval
       << "\nloss = " << q(loss) << "\nhuber_delta = " << num(huber_delta) << "\nbest_model_metric = "
       << q(best_model_metric) << "\nscale_inputs = " << (scale_inputs ? "true" : "false")
       << "\nscale_targets = " << (scale_targets ? "true" : "false") << "\n";
    if (marglik.enabled) {
        const MarglikTrainOptions& g = marglik;
        os << "\n[architecture.training.marglik]\nhessian_structure = " << q(g.hessian_structure)
           << "\nprior_structure = " << q(g.prior_structure) << "\nlr_hyp = " << num(g.lr_hyp)
           << "\nn_epochs_burnin = " << g.n_epochs_burnin << "\nn_hypersteps = " << g.n_hypersteps
           << "\nmarglik_frequency = " << g.marglik_frequency << "\nprior_prec_init = " << num(g.prior_prec_init)
           << "\nsigma_noise_init = " << num(g.sigma_noise_init) << "\ntemperature = " << num(g.temperature)
           << "\nfix_sigma_noise = " << (g.fix_sigma_noise ? "true" : "false")
           << "\nkron_sigma_gradient = " << q(g.kron_sigma_gradient) << "\nlink_approx = " << q(g.link_approx) << "\n";
    }
    os << "\n[training_set]\nread_from = " << q(path(train_path)) << "\ntarget = " << list(targets) << "\n";
    if (!features.empty()) os << "features = " << list(features) << "\n";
    os << "task = " << q(task) << "\n";
    return os.str();
}

}  // namespace cli
