// atomgrad eval MODEL.ckpt DATA.csv [-o predictions.csv] [--json]
// Predictions for every row; metrics when the target columns are present. A model wrapped with a
// Laplace posterior (`atomgrad laplace`) adds predictive variances (regression: columns <t>_var
// for y and <t>_f_var for f) and the Gaussian NLL; classification reports NLL and the expected
// calibration error (15 bins) in both cases.
#include <cstdio>
#include <optional>

#include "autodiff/ops.hpp"
#include "cli/commands.hpp"
#include "cli/csv.hpp"
#include "cli/laplace_model.hpp"
#include "cli/model_io.hpp"
#include "nn/checkpoint.hpp"
#include "nn/json.hpp"
#include "nn/metrics.hpp"
#include "nn/tabular.hpp"
#include "uq/calibration.hpp"
#include "uq/predictive.hpp"

namespace cli {

int cmd_eval(const Args& args) {
    const std::string usage = "usage: atomgrad eval MODEL.ckpt DATA.csv [-o predictions.csv] [--json]";
    ParsedArgs p = parse_args(args, {"-o"}, {"--json"}, usage);
    if (p.positional.size() != 2) throw UsageError{"expected a model and a data file\n" + usage};
    const std::string model_path = p.positional[0], data_path = p.positional[1];
    const std::string out_path = p.get("-o", "predictions.csv");

    nn::Checkpoint ckpt = nn::load_checkpoint(model_path);
    nn::TabularModel model = nn::TabularModel::from_checkpoint(ckpt);
    std::optional<LaplaceModel> wrapped;
    if (LaplaceModel::holds_posterior(ckpt)) {
        nn::TabularModel folded = nn::TabularModel::from_checkpoint(ckpt);
        folded.fold_scalers();
        wrapped.emplace(LaplaceModel::from_checkpoint(ckpt, std::move(folded)));
    }
    const nn::TabularSpec& spec = model.spec();
    Table table = read_csv(data_path);
    ad::Tensor x = table.select(spec.features);
    bool has_targets = true;
    for (const auto& t : spec.targets)
        if (std::find(table.columns.begin(), table.columns.end(), t) == table.columns.end()) has_targets = false;

    // mean: regression predictions [n, C] or class probabilities [n, K]; f_var with a posterior
    ad::Tensor mean, f_var;
    if (wrapped) {
        Prediction pr = wrapped->predict(x);
        mean = pr.mean;
        f_var = pr.f_var;
    } else {
        ad::NoGrad ng;
        mean = model.forward(x);
        if (spec.task == nn::Task::classification) mean = ad::softmax(mean, 1);
    }

    const long n = mean.dim(0), k = mean.dim(1);
    std::vector<std::string> columns;
    std::vector<std::vector<double>> rows(static_cast<size_t>(n));
    nn::Json metrics = nn::Json::object();
    if (spec.task == nn::Task::classification) {
        std::vector<long> pred = nn::argmax_rows(mean);
        columns.push_back(spec.targets[0]);
        for (long j = 0; j < k; ++j) columns.push_back("prob_" + std::to_string(j));
        for (long r = 0; r < n; ++r) {
            rows[r].push_back(static_cast<double>(pred[r]));
            for (long j = 0; j < k; ++j) rows[r].push_back(mean[r * k + j]);
        }
        if (has_targets) {
            std::vector<long> labels = table.labels(spec.targets[0], spec.n_classes);
            long hits = 0;
            for (long r = 0; r < n; ++r) hits += pred[r] == labels[r];
            metrics["accuracy"] = static_cast<double>(hits) / static_cast<double>(n);
            metrics["nll"] = uq::nll_classification(mean, labels);
            metrics["ece"] = uq::expected_calibration_error(mean, labels, 15);
        }
    } else {
        const double s2 = wrapped ? wrapped->laplace().sigma_noise() * wrapped->laplace().sigma_noise() : 0.0;
        for (const auto& t : spec.targets) {
            columns.push_back(t);
            if (wrapped) {
                columns.push_back(t + "_var");
                columns.push_back(t + "_f_var");
            }
        }
        for (long r = 0; r < n; ++r)
            for (long j = 0; j < k; ++j) {
                rows[r].push_back(mean[r * k + j]);
                if (wrapped) {
                    rows[r].push_back(f_var[r * k + j] + s2);
                    rows[r].push_back(f_var[r * k + j]);
                }
            }
        if (has_targets) {
            ad::Tensor y = table.select(spec.targets);
            metrics["rmse"] = nn::rmse(mean, y);
            metrics["mae"] = nn::mae(mean, y);
            if (wrapped) metrics["nll"] = uq::nll_regression(mean, f_var, y, wrapped->laplace().sigma_noise());
        }
    }
    metrics["n_samples"] = n;
    write_csv(out_path, columns, rows);
    if (p.has("--json")) {
        std::printf("%s\n", metrics.dump().c_str());
    } else {
        std::printf("predictions for %ld rows written to %s%s\n", n, out_path.c_str(),
                    wrapped ? " (with the Laplace predictive)" : "");
        for (const auto& [key, v] : metrics.as_object())
            if (key != "n_samples") std::printf("%s: %.6g\n", key.c_str(), v.as_number());
        if (!has_targets) std::printf("(no target column in %s: no metrics)\n", data_path.c_str());
    }
    return 0;
}

}  // namespace cli
