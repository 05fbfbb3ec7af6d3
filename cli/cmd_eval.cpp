// atomgrad eval MODEL.ckpt DATA.csv [-o predictions.csv] [--json]
// Predictions for every row; metrics when the target columns are present.
#include <cstdio>

#include "autodiff/ops.hpp"
#include "cli/commands.hpp"
#include "cli/csv.hpp"
#include "nn/checkpoint.hpp"
#include "nn/json.hpp"
#include "nn/metrics.hpp"
#include "nn/tabular.hpp"

namespace cli {

int cmd_eval(const Args& args) {
    const std::string usage = "usage: atomgrad eval MODEL.ckpt DATA.csv [-o predictions.csv] [--json]";
    ParsedArgs p = parse_args(args, {"-o"}, {"--json"}, usage);
    if (p.positional.size() != 2) throw UsageError{"expected a model and a data file\n" + usage};
    const std::string model_path = p.positional[0], data_path = p.positional[1];
    const std::string out_path = p.get("-o", "predictions.csv");

    nn::TabularModel model = nn::TabularModel::from_checkpoint(nn::load_checkpoint(model_path));
    const nn::TabularSpec& spec = model.spec();
    Table table = read_csv(data_path);
    ad::Tensor x = table.select(spec.features);
    ad::Tensor out;
    {
        ad::NoGrad ng;
        out = model.forward(x);
    }
    bool has_targets = true;
    for (const auto& t : spec.targets)
        if (std::find(table.columns.begin(), table.columns.end(), t) == table.columns.end()) has_targets = false;

    const long n = out.dim(0), k = out.dim(1);
    std::vector<std::string> columns;
    std::vector<std::vector<double>> rows(static_cast<size_t>(n));
    nn::Json metrics = nn::Json::object();
    if (spec.task == nn::Task::classification) {
        ad::Tensor prob;
        {
            ad::NoGrad ng;
            prob = ad::softmax(out, 1);
        }
        std::vector<long> pred = nn::argmax_rows(out);
        columns.push_back(spec.targets[0]);
        for (long j = 0; j < k; ++j) columns.push_back("prob_" + std::to_string(j));
        for (long r = 0; r < n; ++r) {
            rows[r].push_back(static_cast<double>(pred[r]));
            for (long j = 0; j < k; ++j) rows[r].push_back(prob[r * k + j]);
        }
        if (has_targets) {
            std::vector<long> labels = table.labels(spec.targets[0], spec.n_classes);
            metrics["accuracy"] = nn::accuracy(out, labels);
            metrics["nll"] = nn::nll(out, labels);
        }
    } else {
        columns = spec.targets;
        for (long r = 0; r < n; ++r)
            for (long j = 0; j < k; ++j) rows[r].push_back(out[r * k + j]);
        if (has_targets) {
            ad::Tensor y = table.select(spec.targets);
            metrics["rmse"] = nn::rmse(out, y);
            metrics["mae"] = nn::mae(out, y);
        }
    }
    metrics["n_samples"] = n;
    write_csv(out_path, columns, rows);
    if (p.has("--json")) {
        std::printf("%s\n", metrics.dump().c_str());
    } else {
        std::printf("predictions for %ld rows written to %s\n", n, out_path.c_str());
        for (const auto& [key, v] : metrics.as_object())
            if (key != "n_samples") std::printf("%s: %.6g\n", key.c_str(), v.as_number());
        if (!has_targets) std::printf("(no target column in %s: no metrics)\n", data_path.c_str());
    }
    return 0;
}

}  // namespace cli
