// atomgrad eval MODEL.ckpt DATA.csv [-o predictions.csv] [--json] [--plot DIR]
// Predictions for every row; metrics when the target columns are present. A model wrapped with a
// Laplace posterior (`atomgrad laplace`) adds predictive variances (regression: columns <t>_var
// for y and <t>_f_var for f) and the Gaussian NLL; classification reports NLL and the expected
// calibration error (15 bins) in both cases. --plot DIR writes SVG pictures that fit the data:
// the predictive band over x (regression on one feature), a confidence map (classification on two
// features) and a reliability diagram (classification with labels).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "autodiff/ops.hpp"
#include "cli/cmd_eval_xyz.hpp"
#include "cli/commands.hpp"
#include "cli/csv.hpp"
#include "cli/files.hpp"
#include "cli/svg.hpp"
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
    if (is_structure_file_args(args)) return cmd_eval_xyz(args);  // atomgrad eval MODEL.ckpt STRUCTURES.xyz
    const std::string usage = "usage: atomgrad eval MODEL.ckpt DATA.csv [-o predictions.csv] [--json] [--plot DIR]";
    ParsedArgs p = parse_args(args, {"-o", "--plot"}, {"--json"}, usage);
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
    auto predict = [&](const ad::Tensor& inputs) {
        if (wrapped) return wrapped->predict(inputs);
        Prediction pr;
        ad::NoGrad ng;
        pr.mean = model.forward(inputs);
        if (spec.task == nn::Task::classification) pr.mean = ad::softmax(pr.mean, 1);
        return pr;
    };
    Prediction pred_all = predict(x);
    ad::Tensor mean = pred_all.mean, f_var = pred_all.f_var;

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
        const double s2 = wrapped ? wrapped->sigma_noise() * wrapped->sigma_noise() : 0.0;
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
            if (wrapped) metrics["nll"] = uq::nll_regression(mean, f_var, y, wrapped->sigma_noise());
        }
    }
    metrics["n_samples"] = n;
    std::vector<std::string> plots;
    if (p.has("--plot")) {
        const std::string dir = p.get("--plot");
        make_dirs(dir);
        const double s2 = wrapped ? wrapped->sigma_noise() * wrapped->sigma_noise() : 0.0;
        if (spec.task == nn::Task::regression && spec.features.size() == 1 && k == 1) {
            // the predictive over x: mean, +-2 std of y (and of f) with a posterior, data on top
            std::vector<long> order(static_cast<size_t>(n));
            for (long r = 0; r < n; ++r) order[r] = r;
            std::sort(order.begin(), order.end(), [&](long a, long b) { return x[a] < x[b]; });
            std::vector<double> xs, ms, sy, sf;
            for (long r : order) {
                xs.push_back(x[r]);
                ms.push_back(mean[r]);
                sy.push_back(wrapped ? std::sqrt(f_var[r] + s2) : 0.0);
                sf.push_back(wrapped ? std::sqrt(f_var[r]) : 0.0);
            }
            LinePlot plot;
            plot.title = wrapped ? "Laplace predictive of y (mean ± 2σ) and of f" : "predictions";
            plot.x.label = spec.features[0];
            plot.y.label = spec.targets[0];
            if (wrapped) {
                add_mean_band(plot, xs, ms, sy, 2.0, "prediction", "#1f77b4");
                BandSeries inner;
                inner.x = xs;
                for (size_t r = 0; r < xs.size(); ++r) {
                    inner.lower.push_back(ms[r] - 2 * sf[r]);
                    inner.upper.push_back(ms[r] + 2 * sf[r]);
                }
                inner.label = "f ± 2σ (epistemic only)";
                inner.color = "#ff7f0e";
                plot.bands.push_back(inner);
            } else {
                LineSeries line;
                line.x = xs;
                line.y = ms;
                line.label = "prediction";
                plot.lines.push_back(line);
            }
            if (has_targets) {
                ScatterSeries pts;
                ad::Tensor y = table.select(spec.targets);
                for (long r = 0; r < n; ++r) {
                    pts.x.push_back(x[r]);
                    pts.y.push_back(y[r]);
                }
                pts.label = "data";
                pts.color = "#444444";
                plot.points.push_back(pts);
            }
            plots.push_back(join_path(dir, "predictive.svg"));
            write_svg(plots.back(), plot);
        }
        if (spec.task == nn::Task::classification && spec.features.size() == 2) {
            // confidence (largest class probability) over a grid around the data
            double x0 = x[0], x1 = x[0], y0 = x[1], y1 = x[1];
            for (long r = 0; r < n; ++r) {
                x0 = std::min(x0, x[2 * r]);
                x1 = std::max(x1, x[2 * r]);
                y0 = std::min(y0, x[2 * r + 1]);
                y1 = std::max(y1, x[2 * r + 1]);
            }
            const double mx = 0.15 * (x1 - x0) + 1e-9, my = 0.15 * (y1 - y0) + 1e-9;
            HeatMap map;
            map.title = wrapped ? "Laplace predictive confidence" : "confidence (softmax)";
            map.x_label = spec.features[0];
            map.y_label = spec.features[1];
            map.value_label = "max class probability";
            map.x_min = x0 - mx;
            map.x_max = x1 + mx;
            map.y_min = y0 - my;
            map.y_max = y1 + my;
            map.nx = map.ny = 40;
            ad::Tensor grid = ad::Tensor::empty({map.nx * map.ny, 2});
            for (long j = 0; j < map.ny; ++j)
                for (long i = 0; i < map.nx; ++i) {
                    grid.data()[2 * (j * map.nx + i)] = map.x_min + (i + 0.5) * (map.x_max - map.x_min) / map.nx;
                    grid.data()[2 * (j * map.nx + i) + 1] = map.y_min + (j + 0.5) * (map.y_max - map.y_min) / map.ny;
                }
            ad::Tensor gp = predict(grid).mean;
            for (long c = 0; c < map.nx * map.ny; ++c) {
                double best = 0;
                for (long j = 0; j < k; ++j) best = std::max(best, gp[c * k + j]);
                map.values.push_back(best);
            }
            map.v_min = 1.0 / static_cast<double>(k);
            map.v_max = 1.0;
            std::vector<long> cls = has_targets ? table.labels(spec.targets[0], spec.n_classes) : nn::argmax_rows(mean);
            for (long r = 0; r < n; ++r) {
                map.px.push_back(x[2 * r]);
                map.py.push_back(x[2 * r + 1]);
                map.pclass.push_back(cls[r]);
            }
            plots.push_back(join_path(dir, "confidence.svg"));
            write_svg(plots.back(), map);
        }
        if (spec.task == nn::Task::classification && has_targets) {
            std::vector<long> labels = table.labels(spec.targets[0], spec.n_classes);
            plots.push_back(join_path(dir, "reliability.svg"));
            char title[128];
            std::snprintf(title, sizeof title, "%s: ECE %.4f (15 bins)", wrapped ? "Laplace predictive" : "softmax",
                          uq::expected_calibration_error(mean, labels, 15));
            write_reliability_svg(plots.back(), uq::reliability_bins(mean, labels, 15), title);
        }
    }
    write_csv(out_path, columns, rows);
    if (p.has("--json")) {
        std::printf("%s\n", metrics.dump().c_str());
    } else {
        std::printf("predictions for %ld rows written to %s%s\n", n, out_path.c_str(),
                    wrapped ? " (with the Laplace predictive)" : "");
        for (const auto& [key, v] : metrics.as_object())
            if (key != "n_samples") std::printf("%s: %.6g\n", key.c_str(), v.as_number());
        if (!has_targets) std::printf("(no target column in %s: no metrics)\n", data_path.c_str());
        for (const auto& f : plots) std::printf("plot written to %s\n", f.c_str());
    }
    return 0;
}

}  // namespace cli
