// atomgrad laplace OPTIONS.toml [--json]
// Fits a Laplace approximation to a trained model on its training set, over the last layer
// (subset_of_weights = "last_layer", uq::LastLayerLaplace) or every weight ("all", uq::MlpLaplace),
// optionally tunes the prior precision, writes the wrapped model (MLP + posterior) and, for a test
// set, the predictive mean and variance (regression) or class probabilities (classification), by
// the linearised model (pred_type = "glm") or by running the MLP with sampled weights ("nn").
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>

#include "autodiff/ops.hpp"
#include "cli/commands.hpp"
#include "cli/csv.hpp"
#include "cli/files.hpp"
#include "cli/laplace_model.hpp"
#include "cli/model_io.hpp"
#include "cli/options.hpp"
#include "nn/json.hpp"
#include "nn/metrics.hpp"
#include "uq/calibration.hpp"

namespace cli {

namespace {

const std::map<std::string, Kind>& laplace_schema() {
    static const std::map<std::string, Kind> s = merge_schemas(data_set_keys(), {
        {"model", Kind::string},
        {"laplace", Kind::table},
        {"laplace.subset_of_weights", Kind::string},
        {"laplace.hessian_structure", Kind::string},
        {"laplace.likelihood", Kind::string},
        {"laplace.sigma_noise", Kind::floating},
        {"laplace.prior_precision", Kind::float_or_list},
        {"laplace.prior_mean", Kind::float_or_list},
        {"laplace.temperature", Kind::floating},
        {"laplace.optimize_prior_precision", Kind::string},
        {"laplace.prior_structure", Kind::string},
        {"laplace.marglik_steps", Kind::integer},
        {"laplace.marglik_lr", Kind::floating},
        {"laplace.pred_type", Kind::string},
        {"laplace.link_approx", Kind::string},
        {"laplace.n_samples", Kind::integer},
        {"laplace.batch_size", Kind::integer},
        {"laplace.output", Kind::string},
        {"laplace.predictions", Kind::string},
    });
    return s;
}

// A data file named by a key that may be a string or a table with read_from ("" when absent).
std::string data_path(const Options& o, const std::string& key) {
    if (!o.has(key)) return "";
    if (o.is_string(key)) return join_path(o.base_dir(), o.get_string(key, ""));
    AD_CHECK(o.has(key + ".read_from"), o.where(key) << ": '" << key << "' expected a file name or a table with read_from");
    return join_path(o.base_dir(), o.get_string(key + ".read_from", ""));
}

// Inputs and targets of a table for the model: x [n, d]; regression y [n, C]; classification
// labels, also as doubles in y [n] (what the posteriors' fit takes).
struct Data : Split {
    bool has_targets = false;
};

Data take(const Table& t, const nn::TabularSpec& spec, bool need_targets) {
    Data d;
    bool present = true;
    for (const auto& name : spec.targets)
        if (std::find(t.columns.begin(), t.columns.end(), name) == t.columns.end()) present = false;
    if (!present && need_targets) t.column(spec.targets[0]);  // throws naming the missing column
    if (!present) {
        d.x = t.select(spec.features);
        return d;
    }
    const bool classification = spec.task == nn::Task::classification;
    static_cast<Split&>(d) = take_columns(t, spec.features, spec.targets, classification, spec.n_classes);
    d.has_targets = true;
    if (classification) d.y = ad::tensor(std::vector<double>(d.labels.begin(), d.labels.end()));
    return d;
}

std::string default_output(const std::string& model_path, const std::string& suffix) {
    std::string stem = model_path;
    for (const char* ext : {".ckpt", ".safetensors"}) {
        std::string e(ext);
        if (stem.size() > e.size() && stem.compare(stem.size() - e.size(), e.size(), e) == 0) {
            stem.resize(stem.size() - e.size());
            break;
        }
    }
    return stem + suffix;
}

}  // namespace

int cmd_laplace(const Args& args) {
    const std::string usage = "usage: atomgrad laplace OPTIONS.toml [--json]";
    ParsedArgs p = parse_args(args, {}, {"--json"}, usage);
    if (p.positional.size() != 1) throw UsageError{"expected one options file\n" + usage};
    Options o = Options::from_file(p.positional[0]);
    o.check(laplace_schema());

    // ---- model and data
    AD_CHECK(o.has("model"), o.name() << ": expected 'model' (the trained model's checkpoint), found none");
    const std::string model_path = join_path(o.base_dir(), o.get_string("model", ""));
    AD_CHECK(o.has("training_set.read_from"), o.name() << ": expected 'training_set.read_from' (the data the model was trained on)");
    Table train_table = read_csv(join_path(o.base_dir(), o.get_string("training_set.read_from", "")));
    nn::Checkpoint ckpt = nn::load_checkpoint(model_path);
    ForeignModelHints hints;
    hints.task = o.get_string("training_set.task", o.get_string("laplace.likelihood", "regression"));
    o.require_one_of(o.has("training_set.task") ? "training_set.task" : "laplace.likelihood", hints.task,
           {"regression", "classification"});
    hints.targets = o.get_string_list("training_set.target", {});
    hints.features = o.get_string_list("training_set.features", {});
    hints.columns = train_table.columns;
    if (!ckpt.metadata.count("hypers"))
        AD_CHECK(!hints.targets.empty(), o.name() << ": the model " << model_path
                                                   << " does not name its target; give training_set.target");
    nn::TabularModel model = load_tabular_model(ckpt, hints);
    const nn::TabularSpec& spec = model.spec();
    Data train = take(train_table, spec, true);

    // ---- Laplace options
    const std::string L = "laplace.";
    const std::string subset = o.get_string(L + "subset_of_weights", "last_layer");
    o.require_one_of(L + "subset_of_weights", subset, {"last_layer", "all"});
    const bool all_weights = subset == "all";
    const std::string structure = o.get_string(L + "hessian_structure", "full");
    o.require_one_of(L + "hessian_structure", structure, {"full", "kron", "diag"});
    const std::string likelihood = o.get_string(L + "likelihood", nn::to_string(spec.task));
    o.require_one_of(L + "likelihood", likelihood, {"regression", "classification"});
    AD_CHECK(likelihood == nn::to_string(spec.task), o.where(L + "likelihood")
                                                         << ": 'laplace.likelihood' = \"" << likelihood << "\" but the model "
                                                         << "is a " << nn::to_string(spec.task) << " model");
    uq::LaplaceOptions lo;
    lo.likelihood = uq::parse_likelihood(likelihood);
    lo.structure = uq::parse_hessian_structure(structure);
    lo.sigma_noise = o.get_float(L + "sigma_noise", 1.0);
    lo.temperature = o.get_float(L + "temperature", 1.0);
    lo.prior_precision = ad::tensor(o.get_float_list(L + "prior_precision", {1.0}));
    lo.prior_mean = ad::tensor(o.get_float_list(L + "prior_mean", {0.0}));
    const std::string pred_type = o.get_string(L + "pred_type", "glm");
    o.require_one_of(L + "pred_type", pred_type, {"glm", "nn"});
    const uq::LinkApprox link = parse_link_approx(o.get_string(L + "link_approx", "probit"));
    const long n_samples = o.get_int(L + "n_samples", 1000);
    AD_CHECK(n_samples > 0, o.where(L + "n_samples") << ": 'laplace.n_samples' expected a positive integer");
    AD_CHECK(!(pred_type == "nn" && lo.likelihood == uq::Likelihood::regression && n_samples < 2),
             o.where(L + "n_samples") << ": 'laplace.n_samples' expected >= 2 with pred_type = \"nn\" (a sample variance)");
    uq::FitOptions fo;
    fo.batch_size = o.get_int(L + "batch_size", 0);
    AD_CHECK(fo.batch_size >= 0, o.where(L + "batch_size") << ": 'laplace.batch_size' expected an integer >= 0");
    AD_CHECK(fo.batch_size <= train.x.dim(0), o.where(L + "batch_size") << ": 'laplace.batch_size' = " << fo.batch_size
                                                                        << " is larger than the " << train.x.dim(0)
                                                                        << " training rows");

    // ---- the posterior object (checks the hyperparameters against its layout), then the fit
    const std::string method = o.get_string(L + "optimize_prior_precision", "none");
    o.require_one_of(L + "optimize_prior_precision", method, {"none", "marglik", "gridsearch"});
    auto in_options = [&](auto make) {
        try {
            return make();
        } catch (const ad::Error& e) {
            AD_FAIL(o.name() << ": " << e.what());
        }
    };
    std::optional<uq::LastLayerLaplace> last;
    std::optional<uq::MlpLaplace> every;
    if (all_weights)
        every.emplace(in_options([&] { return uq::MlpLaplace(model.mlp(), lo); }));
    else
        last.emplace(in_options([&] { return uq::LastLayerLaplace::from_mlp(model.mlp(), lo); }));
    uq::Laplace& la = all_weights ? static_cast<uq::Laplace&>(*every) : static_cast<uq::Laplace&>(*last);
    {
        // The model has no scalers (load_tabular_model folds them): x is what the MLP sees.
        ad::NoGrad ng;
        if (all_weights)
            every->fit(train.x, train.y, fo);
        else
            last->fit(model.mlp(), model.normalize_inputs(train.x), train.y, fo);
    }

    // ---- prior precision
    if (method == "marglik") {
        uq::MarglikOptions mo;
        const std::string ps = o.get_string(L + "prior_structure", "scalar");
        o.require_one_of(L + "prior_structure", ps, {"scalar", "layerwise", "diagonal"});
        mo.prior_structure = ps == "scalar" ? uq::PriorStructure::scalar
                             : ps == "layerwise" ? uq::PriorStructure::layerwise
                                                 : uq::PriorStructure::diagonal;
        mo.n_steps = o.get_int(L + "marglik_steps", 100);
        mo.lr = o.get_float(L + "marglik_lr", 0.1);
        mo.init_prior_prec = lo.prior_precision[0];
        in_options([&] { return la.optimize_prior_precision_marglik(mo); });
    } else if (method == "gridsearch") {
        const std::string vpath = data_path(o, "validation_set");
        AD_CHECK(!vpath.empty(), o.name() << ": optimize_prior_precision = \"gridsearch\" needs validation_set = \"file.csv\"");
        Data val = take(read_csv(vpath), spec, true);
        uq::GridsearchOptions go;
        go.link = link == uq::LinkApprox::mc ? uq::LinkApprox::probit : link;
        ad::NoGrad ng;
        if (all_weights)
            every->optimize_prior_precision_gridsearch(val.x, val.y, go);
        else
            last->optimize_prior_precision_gridsearch(model.features(val.x), val.y, go);
    }

    // ---- outputs: the wrapped model, then test predictions
    const nn::TabularSpec spec_copy = spec;  // `model` moves into the wrapper next
    const uq::PredType pt = parse_pred_type(pred_type);
    LaplaceModel wrapped = all_weights ? LaplaceModel(std::move(model), std::move(*every), link, n_samples, pt)
                                       : LaplaceModel(std::move(model), std::move(*last), link, n_samples, pt);
    const uq::Laplace& post = wrapped.laplace();
    const std::string out_path = o.has(L + "output") ? join_path(o.base_dir(), o.get_string(L + "output", ""))
                                                     : default_output(model_path, ".laplace.ckpt");
    nn::Checkpoint out = wrapped.to_checkpoint();
    out.metadata["laplace.options"] = "subset_of_weights = \"" + subset + "\"\nhessian_structure = \"" + structure +
                                      "\"\noptimize_prior_precision = \"" + method + "\"\npred_type = \"" + pred_type +
                                      "\"\n";

    nn::Json j = nn::Json::object();
    j["log_marginal_likelihood"] = post.log_marginal_likelihood();
    j["log_likelihood"] = post.log_likelihood();
    j["log_det_ratio"] = post.log_det_ratio();
    j["scatter"] = post.scatter();
    nn::Json tau = nn::Json::array();
    for (long i = 0; i < post.prior_precision().numel(); ++i) tau.push_back(post.prior_precision()[i]);
    j["prior_precision"] = tau;
    j["sigma_noise"] = post.sigma_noise();
    j["temperature"] = post.temperature();
    j["n_params"] = post.n_params();
    j["n_data"] = post.n_data();
    j["subset_of_weights"] = subset;
    j["hessian_structure"] = structure;
    j["likelihood"] = likelihood;
    j["pred_type"] = pred_type;

    std::string pred_path;
    std::vector<std::string> columns;
    std::vector<std::vector<double>> rows;
    const std::string tpath = data_path(o, "test_set");
    if (!tpath.empty()) {
        Table tt = read_csv(tpath);
        Data test = take(tt, wrapped.model().spec(), false);
        Prediction pr = wrapped.predict(test.x);
        const long n = pr.mean.dim(0), C = pr.mean.dim(1);
        rows.assign(static_cast<size_t>(n), {});
        nn::Json tm = nn::Json::object();
        if (likelihood == "regression") {
            const double s2 = post.sigma_noise() * post.sigma_noise();
            for (const auto& t : spec_copy.targets) {
                columns.push_back(t);
                columns.push_back(t + "_var");
                columns.push_back(t + "_f_var");
            }
            for (long r = 0; r < n; ++r)
                for (long c = 0; c < C; ++c) {
                    rows[r].push_back(pr.mean[r * C + c]);
                    rows[r].push_back(pr.f_var[r * C + c] + s2);
                    rows[r].push_back(pr.f_var[r * C + c]);
                }
            if (test.has_targets) {
                tm["rmse"] = nn::rmse(pr.mean, test.y);
                tm["nll"] = uq::nll_regression(pr.mean, pr.f_var, test.y, post.sigma_noise());
            }
        } else {
            columns.push_back(spec_copy.targets[0]);
            for (long c = 0; c < C; ++c) columns.push_back("prob_" + std::to_string(c));
            std::vector<long> pred = nn::argmax_rows(pr.mean);
            for (long r = 0; r < n; ++r) {
                rows[r].push_back(static_cast<double>(pred[r]));
                for (long c = 0; c < C; ++c) rows[r].push_back(pr.mean[r * C + c]);
            }
            if (test.has_targets) {
                tm["accuracy"] = nn::accuracy(ad::log(pr.mean), test.labels);
                tm["nll"] = uq::nll_classification(pr.mean, test.labels);
                tm["ece"] = uq::expected_calibration_error(pr.mean, test.labels);
            }
        }
        if (tm.size() > 0) j["test"] = tm;
        pred_path = o.has(L + "predictions") ? join_path(o.base_dir(), o.get_string(L + "predictions", ""))
                                             : default_output(model_path, ".laplace_predictions.csv");
    }
    nn::save_checkpoint(out_path, out);
    if (!pred_path.empty()) write_csv(pred_path, columns, rows);

    if (p.has("--json")) {
        std::printf("%s\n", j.dump().c_str());
    } else {
        std::printf("%s %s Laplace (%s), %ld parameters, %ld training points\n",
                    all_weights ? "all-weights" : "last-layer", structure.c_str(),
                    likelihood.c_str(), post.n_params(), post.n_data());
        std::printf("log marginal likelihood %.10g (log likelihood %.10g, log det ratio %.10g, scatter %.10g)\n",
                    post.log_marginal_likelihood(), post.log_likelihood(), post.log_det_ratio(), post.scatter());
        std::printf("prior precision %s, sigma_noise %g\n", tau.dump().c_str(), post.sigma_noise());
        if (j.contains("test"))
            for (const auto& [k, v] : j.at("test").as_object()) std::printf("test %s: %.6g\n", k.c_str(), v.as_number());
        std::printf("wrapped model written to %s\n", out_path.c_str());
        if (!pred_path.empty()) std::printf("test predictions written to %s\n", pred_path.c_str());
    }
    return 0;
}

}  // namespace cli
