// End-to-end behaviour of `atomgrad train` and `atomgrad eval` on small runs: the run folder, the
// per-epoch log, checkpoints, reproducibility, restart = uninterrupted run, --init, eval metrics.
#include <cmath>
#include <filesystem>

#include "cli/csv.hpp"
#include "cli/files.hpp"
#include "cli/train_options.hpp"
#include "nn/checkpoint.hpp"
#include "nn/json.hpp"
#include "nn/tabular.hpp"
#include "tests/cli/cli_helpers.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using namespace cli_testing;

namespace {

RunResult run_ok(const std::string& args, const TempDir& dir) {
    RunResult r = run_cli(args, dir.str());
    INFO("atomgrad " << args << "\n" << r.output);
    REQUIRE(r.status == 0);
    return r;
}

// Column `name` of a CSV table as numbers.
std::vector<double> column(const cli::Table& t, const std::string& name) {
    const long c = t.column(name), nc = static_cast<long>(t.columns.size());
    std::vector<double> out;
    for (long r = 0; r < t.n_rows(); ++r) out.push_back(t.values[r * nc + c]);
    return out;
}

// The text of a log without its last column (time_s, which differs between runs).
std::vector<std::string> log_rows_without_time(const std::string& path) {
    std::vector<std::string> out;
    for (const auto& line : lines_of(read_text(path))) out.push_back(line.substr(0, line.rfind(',')));
    return out;
}

// The options of a moons classification run with the small settings.
std::string moons_options(long epochs, long checkpoint_interval, const std::string& extra = "") {
    return replace(replace(sine_options(epochs, checkpoint_interval, extra), "target = \"y\"", "target = \"label\""),
                   "task = \"regression\"", "task = \"classification\"");
}

}  // namespace

TEST_CASE("atomgrad train: the run folder holds options, a log row per epoch and the checkpoints",
          "[cli][train]") {
    TempDir dir;
    RunResult r = train_small_sine(dir);  // 200 epochs, checkpoint_interval 100, --run-dir run
    CHECK(listing(dir.file("run")) == std::set<std::string>{"options_restart.toml", "train.csv", "model_100.ckpt",
                                                            "model_200.ckpt", "model.ckpt"});
    CHECK(listing(dir.str()) == std::set<std::string>{"train.csv", "opts.toml", "model.ckpt", "run", "run/options_restart.toml",
                                                      "run/train.csv", "run/model_100.ckpt", "run/model_200.ckpt",
                                                      "run/model.ckpt"});
    // -o gets the same bytes as the run folder's model
    CHECK(read_text(dir.file("model.ckpt")) == read_text(dir.file("run/model.ckpt")));

    // options_restart.toml: the fully expanded options, which read back to the same run
    cli::TrainOptions given = cli::read_train_options(dir.file("opts.toml"));
    cli::TrainOptions restart = cli::read_train_options(dir.file("run/options_restart.toml"));
    // data paths are written absolute, so the file works from any folder: the same run
    using Style = cli::TrainOptions::PathStyle;
    CHECK(restart.to_toml(Style::absolute) == given.to_toml(Style::absolute));
    CHECK(restart.train_path == cli::absolute_path(dir.file("train.csv")));
    CHECK_THAT(read_text(dir.file("run/options_restart.toml")), Contains("optimizer = \"adam\""));

    // the log: header, one row per epoch 1..200 in order, constant learning rate, finite losses
    const std::string log_text = read_text(dir.file("run/train.csv"));
    CHECK(lines_of(log_text)[0] == "epoch,learning_rate,train_loss,train_rmse,train_mae,val_loss,val_rmse,val_mae,time_s");
    cli::Table log = cli::read_csv(dir.file("run/train.csv"));
    REQUIRE(log.n_rows() == 200);
    std::vector<double> epoch = column(log, "epoch"), lr = column(log, "learning_rate"),
                        val_loss = column(log, "val_loss"), train_loss = column(log, "train_loss"),
                        time_s = column(log, "time_s");
    for (long k = 0; k < 200; ++k) {
        CHECK(epoch[k] == k + 1);
        CHECK(lr[k] == 0.01);
        if (k > 0) CHECK(time_s[k] >= time_s[k - 1]);
    }
    // training works: the loss falls well below its start (standardised targets start near 1)
    CHECK(train_loss.back() < 0.5 * train_loss.front());

    // the best model is the epoch of the lowest validation loss (best_model_metric = "loss")
    long best = static_cast<long>(std::min_element(val_loss.begin(), val_loss.end()) - val_loss.begin()) + 1;
    nn::Checkpoint model = nn::load_checkpoint(dir.file("run/model.ckpt"));
    CHECK(model.meta("best_epoch") == std::to_string(best));
    CHECK_THAT(r.output, Contains("validation (best epoch " + std::to_string(best) + ")"));
    // the saved model is a plain MLP: scalers folded into the weights, hypers in the metadata
    for (const auto& [name, t] : model.tensors) CHECK_THAT(name, StartsWith("layers."));
    CHECK(model.tensors.size() == 6);
    nn::TabularModel m = nn::TabularModel::from_checkpoint(model);
    CHECK(m.spec().hidden == std::vector<long>{20, 20});
    CHECK(m.spec().features == std::vector<std::string>{"x"});
    CHECK_FALSE(m.has_scalers());

    // the training checkpoints say what they are and where training stood
    nn::Checkpoint c100 = nn::load_checkpoint(dir.file("run/model_100.ckpt"));
    CHECK(c100.meta("kind") == "training_checkpoint");
    CHECK(c100.meta("epoch") == "100");
    CHECK(c100.meta("step") == std::to_string(100 * 5));  // 135 training rows, batches of 32
    CHECK(nn::load_checkpoint(dir.file("run/model_200.ckpt")).meta("epoch") == "200");
}

TEST_CASE("atomgrad train: a classification log has accuracy and nll columns", "[cli][train]") {
    TempDir dir;
    copy_to(repo_file("examples/moons/train.csv"), dir.file("train.csv"));
    write_text(dir.file("opts.toml"), moons_options(4, 2));
    run_ok("train opts.toml -o model.ckpt --run-dir run", dir);
    CHECK(lines_of(read_text(dir.file("run/train.csv")))[0] ==
          "epoch,learning_rate,train_loss,train_accuracy,val_loss,val_accuracy,val_nll,time_s");
    cli::Table log = cli::read_csv(dir.file("run/train.csv"));
    CHECK(log.n_rows() == 4);
    for (double a : column(log, "val_accuracy")) CHECK((a >= 0 && a <= 1));
    CHECK(column(log, "val_loss") == column(log, "val_nll"));
    CHECK(listing(dir.file("run")) ==
          std::set<std::string>{"options_restart.toml", "train.csv", "model_2.ckpt", "model_4.ckpt", "model.ckpt"});
}

TEST_CASE("atomgrad train: the same seed twice gives byte-identical models, another seed does not",
          "[cli][train]") {
    TempDir a, b, c;
    train_small_sine(a);
    train_small_sine(b);
    train_small_sine(c, replace(sine_options(), "seed = 3", "seed = 4"));
    CHECK(read_text(a.file("run/model.ckpt")) == read_text(b.file("run/model.ckpt")));
    CHECK(read_text(a.file("run/model_100.ckpt")) == read_text(b.file("run/model_100.ckpt")));
    CHECK(log_rows_without_time(a.file("run/train.csv")) == log_rows_without_time(b.file("run/train.csv")));
    CHECK(read_text(a.file("run/model.ckpt")) != read_text(c.file("run/model.ckpt")));
}

TEST_CASE("atomgrad train: a restarted run ends byte-identical to the uninterrupted one", "[cli][train]") {
    // Each setting keeps different state across the checkpoint: Adam moments and step count, the
    // warm-up + cosine schedule position, SGD momentum, the plateau scheduler's counters, the
    // shuffling generator and the best model so far.
    struct Setting {
        std::string name, data, options;
    };
    const std::vector<Setting> settings = {
        {"adam, warm-up + cosine", "examples/sine/train.csv",
         sine_options(60, 30, "scheduler = \"cosine\"\nwarmup_fraction = 0.1\n")},
        {"sgd nesterov, plateau, clipping", "examples/sine/train.csv",
         sine_options(60, 30,
                      "optimizer = \"sgd\"\nnesterov = true\nscheduler = \"plateau\"\nplateau_patience = 2\n"
                      "grad_clip_norm = 0.5\nbest_model_metric = \"rmse\"\n")},
        {"adamw, step schedule, classification", "examples/moons/train.csv",
         moons_options(60, 30,
                       "optimizer = \"adamw\"\nweight_decay = 0.01\nscheduler = \"step\"\nscheduler_step_size = 7\n"
                       "best_model_metric = \"accuracy\"\n")},
    };
    for (const auto& s : settings) {
        SECTION(s.name) {
            TempDir dir;
            copy_to(repo_file(s.data), dir.file("train.csv"));
            write_text(dir.file("opts.toml"), s.options);
            run_ok("train opts.toml -o full.ckpt --run-dir full", dir);
            // resume from the middle in another folder
            run_ok("train opts.toml -o resumed.ckpt --run-dir resumed --restart full/model_30.ckpt", dir);
            CHECK(read_text(dir.file("resumed/model.ckpt")) == read_text(dir.file("full/model.ckpt")));
            CHECK(read_text(dir.file("resumed.ckpt")) == read_text(dir.file("full.ckpt")));
            CHECK(read_text(dir.file("resumed/model_60.ckpt")) == read_text(dir.file("full/model_60.ckpt")));
            // the new folder's log has the header and the epochs after the checkpoint, equal to the full run's
            std::vector<std::string> full = log_rows_without_time(dir.file("full/train.csv"));
            std::vector<std::string> resumed = log_rows_without_time(dir.file("resumed/train.csv"));
            REQUIRE(full.size() == 61);
            REQUIRE(resumed.size() == 31);
            CHECK(resumed[0] == full[0]);
            for (size_t k = 1; k < resumed.size(); ++k) CHECK(resumed[k] == full[k + 30]);
            CHECK_FALSE(std::filesystem::exists(dir.file("resumed/model_30.ckpt")));
        }
    }
}

TEST_CASE("atomgrad train: a restart in the run's own folder continues its log without repeating epochs",
          "[cli][train]") {
    TempDir dir;
    copy_to(repo_file("examples/sine/train.csv"), dir.file("train.csv"));
    write_text(dir.file("opts.toml"), sine_options(40, 20));
    run_ok("train opts.toml -o full.ckpt --run-dir full", dir);
    const std::vector<std::string> full = log_rows_without_time(dir.file("full/train.csv"));
    REQUIRE(full.size() == 41);

    // An interrupted run: killed while writing epoch 34's row; its last checkpoint is model_20.ckpt.
    std::filesystem::create_directory(dir.file("part"));
    copy_to(dir.file("full/model_20.ckpt"), dir.file("part/model_20.ckpt"));
    copy_to(dir.file("full/options_restart.toml"), dir.file("part/options_restart.toml"));
    const std::vector<std::string> log_lines = lines_of(read_text(dir.file("full/train.csv")));
    std::string cut;
    for (int k = 0; k <= 33; ++k) cut += log_lines[k] + "\n";
    cut += log_lines[34].substr(0, 12);
    write_text(dir.file("part/train.csv"), cut);

    run_ok("train opts.toml -o part.ckpt --run-dir part --restart part/model_20.ckpt", dir);
    CHECK(log_rows_without_time(dir.file("part/train.csv")) == full);  // one header, epochs 1..40 once
    CHECK(read_text(dir.file("part/model.ckpt")) == read_text(dir.file("full/model.ckpt")));
    CHECK(read_text(dir.file("part/model_40.ckpt")) == read_text(dir.file("full/model_40.ckpt")));
}

TEST_CASE("atomgrad eval: a training checkpoint predicts like the folded model of the same epoch",
          "[cli][eval]") {
    TempDir dir;
    train_small_sine(dir, sine_options(12, 1));  // a training checkpoint after every epoch
    const std::string best = nn::load_checkpoint(dir.file("run/model.ckpt")).meta("best_epoch");
    // the training checkpoint keeps the scalers apart; model.ckpt has them folded into the weights
    run_ok("eval run/model_" + best + ".ckpt train.csv -o p_ckpt.csv", dir);
    run_ok("eval model.ckpt train.csv -o p_model.csv", dir);
    std::vector<double> a = column(cli::read_csv(dir.file("p_ckpt.csv")), "y"),
                        b = column(cli::read_csv(dir.file("p_model.csv")), "y");
    REQUIRE(a.size() == 150);
    // folding changes the rounding only; the CSV holds 10 digits
    for (size_t k = 0; k < a.size(); ++k) CHECK(a[k] == Approx(b[k]).epsilon(1e-8).margin(1e-10));
    // resuming from the last checkpoint has nothing left to train and saves the same model
    run_ok("train opts.toml -o again.ckpt --run-dir again --restart run/model_12.ckpt", dir);
    CHECK(read_text(dir.file("again/model.ckpt")) == read_text(dir.file("run/model.ckpt")));
}

TEST_CASE("atomgrad train: --init starts from the given model's function and loss", "[cli][train]") {
    TempDir dir;
    train_small_sine(dir);  // run/: 200 epochs from scratch
    cli::Table log = cli::read_csv(dir.file("run/train.csv"));
    std::vector<double> val_loss = column(log, "val_loss"), val_rmse = column(log, "val_rmse");
    const long best = std::stol(nn::load_checkpoint(dir.file("run/model.ckpt")).meta("best_epoch"));
    const double init_loss = val_loss[best - 1], init_rmse = val_rmse[best - 1];
    REQUIRE(init_loss < 0.5 * val_loss[0]);

    SECTION("a vanishing learning rate: the first epoch reproduces the model's validation loss") {
        // Same seed and data, so the same validation rows; the loss is in the same (standardised) units.
        write_text(dir.file("init.toml"),
                   replace(sine_options(1, 100), "learning_rate = 1e-2", "learning_rate = 1e-12"));
        run_ok("train init.toml -o init.ckpt --run-dir init --init model.ckpt", dir);
        cli::Table ilog = cli::read_csv(dir.file("init/train.csv"));
        REQUIRE(ilog.n_rows() == 1);
        // tolerance: 1e-12 steps change the loss by far less; the log prints 10 digits
        CHECK(column(ilog, "val_loss")[0] == Approx(init_loss).epsilon(1e-6));
        CHECK(column(ilog, "val_rmse")[0] == Approx(init_rmse).epsilon(1e-6));
        // and the model it saves predicts what the init model predicts
        run_ok("eval model.ckpt train.csv -o p0.csv", dir);
        run_ok("eval init.ckpt train.csv -o p1.csv", dir);
        std::vector<double> p0 = column(cli::read_csv(dir.file("p0.csv")), "y"),
                            p1 = column(cli::read_csv(dir.file("p1.csv")), "y");
        REQUIRE(p0.size() == p1.size());
        for (size_t k = 0; k < p0.size(); ++k) CHECK(p1[k] == Approx(p0[k]).epsilon(1e-6).margin(1e-8));
    }
    SECTION("the usual learning rate: the first epoch starts near the model, far below a fresh start") {
        write_text(dir.file("init.toml"), sine_options(5, 100));
        run_ok("train init.toml -o init.ckpt --run-dir init --init model.ckpt", dir);
        std::vector<double> first = column(cli::read_csv(dir.file("init/train.csv")), "val_loss");
        // one epoch of fresh Adam steps at lr 1e-2 moves the loss by less than the epoch-to-epoch
        // noise of the run that made the model (about a factor 2 around its best epoch)
        CHECK(first[0] < 2.5 * init_loss);
        CHECK(first[0] < 0.5 * val_loss[0]);
    }
}

TEST_CASE("atomgrad eval --json: regression metrics agree with predictions.csv", "[cli][eval]") {
    TempDir dir;
    train_small_sine(dir);
    copy_to(repo_file("examples/sine/test_in_range.csv"), dir.file("test.csv"));
    RunResult r = run_ok("eval model.ckpt test.csv --json", dir);  // default -o predictions.csv
    std::vector<std::string> lines = r.lines();
    REQUIRE(lines.size() == 1);
    nn::Json j = nn::Json::parse(lines[0]);
    REQUIRE(j.is_object());
    REQUIRE(j.contains("rmse"));
    REQUIRE(j.contains("mae"));
    CHECK_FALSE(j.contains("accuracy"));
    cli::Table data = cli::read_csv(dir.file("test.csv"));
    cli::Table pred = cli::read_csv(dir.file("predictions.csv"));
    CHECK(pred.columns == std::vector<std::string>{"y"});
    REQUIRE(pred.n_rows() == data.n_rows());
    CHECK(j.at("n_samples").as_long() == data.n_rows());
    std::vector<double> y = column(data, "y"), p = column(pred, "y");
    double sq = 0, ab = 0;
    for (size_t k = 0; k < y.size(); ++k) {
        sq += (p[k] - y[k]) * (p[k] - y[k]);
        ab += std::fabs(p[k] - y[k]);
    }
    // predictions.csv holds 10 significant digits
    CHECK(j.at("rmse").as_number() == Approx(std::sqrt(sq / y.size())).epsilon(1e-8));
    CHECK(j.at("mae").as_number() == Approx(ab / y.size()).epsilon(1e-8));
    CHECK(listing(dir.str()).count("predictions.csv.tmp") == 0);

    // without --json: a readable summary; without the target column: predictions only
    RunResult text = run_ok("eval model.ckpt test.csv -o p2.csv", dir);
    CHECK_THAT(text.output, Contains("rmse: ") && Contains("mae: ") && Contains("p2.csv"));
    write_text(dir.file("x_only.csv"), "x\n0.5\n1.5\n");
    RunResult nolabel = run_ok("eval model.ckpt x_only.csv -o p3.csv --json", dir);
    nn::Json k = nn::Json::parse(nolabel.lines().at(0));
    CHECK_FALSE(k.contains("rmse"));
    CHECK(k.at("n_samples").as_long() == 2);
    CHECK(cli::read_csv(dir.file("p3.csv")).n_rows() == 2);
}

TEST_CASE("atomgrad eval --json: classification accuracy and nll agree with prob_* columns summing to 1",
          "[cli][eval]") {
    TempDir dir;
    copy_to(repo_file("examples/moons/train.csv"), dir.file("train.csv"));
    copy_to(repo_file("examples/moons/test.csv"), dir.file("test.csv"));
    write_text(dir.file("opts.toml"), moons_options(20, 100));
    run_ok("train opts.toml -o model.ckpt --run-dir run", dir);
    RunResult r = run_ok("eval model.ckpt test.csv -o pred.csv --json", dir);
    REQUIRE(r.lines().size() == 1);
    nn::Json j = nn::Json::parse(r.lines()[0]);
    REQUIRE(j.contains("accuracy"));
    REQUIRE(j.contains("nll"));
    CHECK_FALSE(j.contains("rmse"));
    cli::Table data = cli::read_csv(dir.file("test.csv"));
    cli::Table pred = cli::read_csv(dir.file("pred.csv"));
    CHECK(pred.columns == std::vector<std::string>{"label", "prob_0", "prob_1"});
    REQUIRE(pred.n_rows() == data.n_rows());
    std::vector<double> label = column(data, "label"), cls = column(pred, "label"), p0 = column(pred, "prob_0"),
                        p1 = column(pred, "prob_1");
    long correct = 0;
    double nll = 0;
    for (size_t k = 0; k < label.size(); ++k) {
        CHECK(p0[k] + p1[k] == Approx(1.0).epsilon(1e-9));
        CHECK((p0[k] >= 0 && p1[k] >= 0));
        CHECK(cls[k] == (p1[k] > p0[k] ? 1.0 : 0.0));
        correct += cls[k] == label[k];
        nll -= std::log(label[k] == 1 ? p1[k] : p0[k]);
    }
    CHECK(j.at("accuracy").as_number() == Approx(static_cast<double>(correct) / label.size()).epsilon(1e-12));
    CHECK(j.at("nll").as_number() == Approx(nll / label.size()).epsilon(1e-6));
    CHECK(j.at("accuracy").as_number() > 0.75);  // 20 epochs on moons already separate most points
}
