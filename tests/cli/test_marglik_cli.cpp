// `atomgrad train` with [architecture.training.marglik]: laplace-torch's marglik_training runs of
// tests/reference/laplace/marglik_training_sine reproduced through the command line (--init from
// the case's foreign init.safetensors), the extended CSV log, the saved model with its posterior
// (read back by eval), a classification run, and the option errors.
#include "cli/files.hpp"
#include "cli/laplace_model.hpp"
#include "cli/train_options.hpp"
#include "nn/tabular.hpp"
#include "tests/cli/cli_helpers.hpp"
#include "tests/uq/reference_case.hpp"

using namespace cli_testing;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
namespace rt = uqtest;

namespace {

std::string case_dir() { return cli::absolute_path(rt::reference_dir("marglik_training_sine")); }

const toml::table& case_root() {
    static const toml::table root = toml::parse_file(case_dir() + "/case.toml");
    return root;
}

// The reference case's common arguments (meta.common_args: 20 epochs, Adam lr 1e-2, one batch of
// all 100 points) with one run's structures; every row of train.csv trains (validation_set = 0).
std::string reference_options(const std::string& hessian, const std::string& prior, const std::string& extra_marglik = "") {
    std::ostringstream os;
    os << "seed = 0\nvalidation_set = 0.0\n\n[architecture]\nname = \"mlp\"\n\n[architecture.model]\nhidden = [16]\n"
       << "activation = \"tanh\"\n\n[architecture.training]\nnum_epochs = 20\nbatch_size = 100\nlearning_rate = 0.01\n"
       << "log_interval = 10\n\n[architecture.training.marglik]\nhessian_structure = \"" << hessian << "\"\n"
       << "prior_structure = \"" << prior << "\"\nlr_hyp = 0.1\nn_hypersteps = 10\n" << extra_marglik
       << "\n[training_set]\nread_from = \"" << case_dir() << "/train.csv\"\ntarget = \"y\"\n";
    return os.str();
}

RunResult train(const TempDir& dir, const std::string& options, const std::string& flags = "") {
    write_text(dir.file("opts.toml"), options);
    return run_cli("train opts.toml -o model.ckpt --run-dir run " + flags, dir.str());
}

cli::LaplaceModel load_wrapped(const std::string& path) {
    nn::Checkpoint c = nn::load_checkpoint(path);
    REQUIRE(cli::LaplaceModel::holds_posterior(c));
    return cli::LaplaceModel::from_checkpoint(c, nn::TabularModel::from_checkpoint(c));
}

}  // namespace

TEST_CASE("atomgrad train marglik: laplace-torch's full/scalar and kron/layerwise runs, epoch by epoch",
          "[cli][marglik]") {
    // kron: laplace-torch's truncated sigma-gradient (docs/uq.md), to replay its run
    for (const std::string run : {"full_scalar_backpack", "kron_layerwise_backpack"}) {
        INFO(run);
        const toml::node& R = rt::at(case_root(), {"runs", run});
        const bool kron = run.rfind("kron", 0) == 0;
        TempDir dir;
        RunResult r = train(dir,
                            reference_options(kron ? "kron" : "full", kron ? "layerwise" : "scalar",
                                              kron ? "kron_sigma_gradient = \"laplace_torch\"\n" : ""),
                            "--init " + case_dir() + "/init.safetensors");
        INFO(r.output);
        REQUIRE(r.status == 0);
        CHECK_THAT(r.output, Contains("marginal likelihood (best epoch 20)"));

        // The saved posterior: the run's final tau, sigma and lml. 1e-8 relative: the library
        // replays the same float64 arithmetic (observed <= 4e-15, tests/uq/test_marglik_training).
        cli::LaplaceModel m = load_wrapped(dir.file("model.ckpt"));
        CHECK(m.subset_of_weights() == "all");
        CHECK(rt::scalar_mismatch(m.laplace().log_marginal_likelihood(),
                                  rt::num(rt::at(R, {"final_log_marginal_likelihood"}))) == "");
        CHECK(rt::scalar_mismatch(m.sigma_noise(), rt::num(rt::at(R, {"final_sigma_noise"}))) == "");
        CHECK(rt::array_mismatch(m.laplace().prior_precision(), rt::to_tensor(rt::at(R, {"final_prior_precision"})),
                                 1e-8, 0.0) == "");
        CHECK(read_text(dir.file("model.ckpt")) == read_text(dir.file("run/model.ckpt")));

        // The log: one row per epoch; train_loss = losses[e], neg_log_marglik = the epoch's last
        // marglik (margliks[10 e + 9]). The CSV has 10 significant digits: 1e-8 relative.
        cli::Table log = cli::read_csv(dir.file("run/train.csv"));
        std::vector<std::string> expect = {"epoch", "learning_rate", "train_loss", "train_rmse", "train_mae",
                                           "neg_log_marglik", "sigma_noise", "prior_precision"};
        if (kron)
            for (const char* t : {"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"})
                expect.push_back(std::string("prior_precision_") + t);
        expect.push_back("time_s");
        CHECK(log.columns == expect);
        const ad::Tensor losses = rt::to_tensor(rt::at(R, {"losses"})), margliks = rt::to_tensor(rt::at(R, {"margliks"}));
        ad::Tensor nlml = log.select({"neg_log_marglik"}), loss = log.select({"train_loss"});
        REQUIRE(nlml.numel() == 20);
        for (long e = 0; e < 20; ++e) {
            INFO("epoch " << e + 1);
            CHECK(rt::scalar_mismatch(nlml[e], margliks[10 * e + 9]) == "");
            CHECK(rt::scalar_mismatch(loss[e], losses[e]) == "");
        }
        // The last row's sigma is the one after the last hyper step, the saved one before it.
        CHECK(log.select({"sigma_noise"})[19] != m.sigma_noise());

        // eval on the saved model: the run's glm predictive at the test points
        RunResult ev = run_cli("eval model.ckpt " + case_dir() + "/test.csv -o pred.csv", dir.str());
        REQUIRE(ev.status == 0);
        cli::Table pred = cli::read_csv(dir.file("pred.csv"));
        CHECK(rt::array_mismatch(pred.select({"y"}), ad::reshape(rt::to_tensor(rt::at(R, {"glm_mean_test"})), {-1, 1}),
                                 1e-9, 1e-9) == "");
        CHECK(rt::array_mismatch(pred.select({"y_f_var"}),
                                 ad::reshape(rt::to_tensor(rt::at(R, {"glm_var_test"})), {-1, 1}), 1e-9, 1e-9) == "");

        // options_restart.toml keeps the marglik table and reads back to the same options
        cli::TrainOptions again = cli::read_train_options(dir.file("run/options_restart.toml"));
        CHECK(again.marglik.enabled);
        CHECK(again.marglik.hessian_structure == (kron ? "kron" : "full"));
        CHECK(again.marglik.kron_sigma_gradient == (kron ? "laplace_torch" : "true"));
        CHECK_FALSE(again.scale_inputs);
        CHECK_FALSE(again.scale_targets);
    }
}

TEST_CASE("atomgrad train marglik: classification with validation and test splits, eval of the model",
          "[cli][marglik]") {
    TempDir dir;
    copy_to(cli::absolute_path(rt::reference_dir("classification_blobs2d_lllaplace")) + "/train.csv",
            dir.file("train.csv"));
    const std::string opts =
        "seed = 1\nvalidation_set = 0.2\ntest_set = 0.1\n[architecture]\nname = \"mlp\"\n[architecture.model]\n"
        "hidden = [8]\n[architecture.training]\nnum_epochs = 6\nbatch_size = 32\nlearning_rate = 0.01\n"
        "scheduler = \"cosine\"\n[architecture.training.marglik]\nmarglik_frequency = 2\nn_hypersteps = 5\n"
        "[training_set]\nread_from = \"train.csv\"\ntarget = \"label\"\ntask = \"classification\"\n";
    RunResult r = train(dir, opts);
    INFO(r.output);
    REQUIRE(r.status == 0);
    CHECK_THAT(r.output, Contains("marglik training (kron Laplace, layerwise prior)"));
    CHECK_THAT(r.output, Contains("test (best epoch") && Contains("nll") && Contains("ece"));
    // marglik_frequency = 2: epochs 1, 3, 5 fit no Laplace and leave neg_log_marglik empty
    std::vector<std::string> rows = lines_of(read_text(dir.file("run/train.csv")));
    REQUIRE(rows.size() == 7);
    CHECK(rows[0] == "epoch,learning_rate,train_loss,train_accuracy,val_loss,val_accuracy,val_nll,neg_log_marglik,"
                     "sigma_noise,prior_precision,prior_precision_layers.0.weight,prior_precision_layers.0.bias,"
                     "prior_precision_layers.1.weight,prior_precision_layers.1.bias,time_s");
    CHECK_THAT(rows[1], Contains(",,1,"));      // epoch 1: empty -lml, sigma 1
    CHECK_THAT(rows[2], !Contains(",,"));       // epoch 2: a Laplace fit
    cli::LaplaceModel m = load_wrapped(dir.file("model.ckpt"));
    CHECK(m.laplace().structure() == uq::HessianStructure::kron);
    CHECK(m.laplace().prior_precision().numel() == 4);
    RunResult ev = run_cli("eval model.ckpt train.csv -o pred.csv --json", dir.str());
    INFO(ev.output);
    REQUIRE(ev.status == 0);
    CHECK_THAT(ev.lines().back(), Contains("\"nll\""));
    CHECK(nn::load_checkpoint(dir.file("model.ckpt")).meta("best_epoch") != "0");
}

TEST_CASE("atomgrad train marglik: option errors are one line naming the key", "[cli][marglik][errors]") {
    struct Bad {
        std::string training, marglik, expect;
        std::string task = "regression";
    };
    const std::vector<Bad> cases = {
        {"", "n_hyperstep = 3\n", "unknown key 'architecture.training.marglik.n_hyperstep'"},
        {"", "n_epochs = 3\n", "marglik training takes it from 'architecture.training.num_epochs'"},
        {"", "lr = 0.1\n", "takes it from 'architecture.training.learning_rate'"},
        {"scale_inputs = true\n", "", "'architecture.training.scale_inputs' = true is not available"},
        {"scale_targets = true\n", "", "'architecture.training.scale_targets' = true is not available"},
        {"optimizer = \"adamw\"\n", "", "adamw"},
        {"scheduler = \"plateau\"\n", "", "plateau"},
        {"loss = \"huber\"\n", "", "huber"},
        {"grad_clip_norm = 1.0\n", "", "grad_clip_norm"},
        {"", "prior_structure = \"diagonal\"\n", "does not go with hessian_structure = \"kron\""},
        {"", "kron_sigma_gradient = \"false\"\n", "expected one of true, laplace_torch"},
        {"", "hessian_structure = \"lowrank\"\n", "expected one of full, kron, diag"},
        {"", "n_hypersteps = 0\n", "'architecture.training.marglik.n_hypersteps' expected an integer >= 1"},
        {"", "sigma_noise_init = -1.0\n", "sigma_noise_init' expected a number > 0"},
        {"", "sigma_noise_init = 0.5\n", "expected 1 for classification", "classification"},
    };
    for (const Bad& b : cases) {
        INFO(b.training << b.marglik);
        TempDir dir;
        write_text(dir.file("train.csv"), "x,y\n0,0\n1,1\n2,0\n3,1\n");
        const std::string opts = "validation_set = 0.0\n[architecture]\nname = \"mlp\"\n[architecture.model]\nhidden = [4]\n"
                                 "[architecture.training]\nnum_epochs = 2\nbatch_size = 2\n" + b.training +
                                 "[architecture.training.marglik]\n" + b.marglik +
                                 "[training_set]\nread_from = \"train.csv\"\ntarget = \"y\"\ntask = \"" + b.task + "\"\n";
        RunResult r = train(dir, opts);
        CHECK(r.status == 1);
        REQUIRE(r.lines().size() == 1);
        CHECK_THAT(r.lines()[0], StartsWith("atomgrad: error: ") && Contains(b.expect));
        CHECK_FALSE(fs::exists(dir.file("model.ckpt")));
    }
    // --restart: the marglik loop writes no training checkpoints
    TempDir dir;
    write_text(dir.file("train.csv"), "x,y\n0,0\n1,1\n2,0\n3,1\n");
    RunResult r = train(dir, reference_options("full", "scalar"), "--restart somewhere.ckpt");
    CHECK(r.status == 1);
    CHECK_THAT(r.output, Contains("--restart is not available with [architecture.training.marglik]"));
    // --init with weights of another shape
    RunResult r2 = train(dir, reference_options("full", "scalar"),
                         "--init " + cli::absolute_path(rt::reference_dir("regression_sine_lllaplace")) +
                             "/model.safetensors");
    CHECK(r2.status == 1);
    CHECK_THAT(r2.output, Contains("these weights belong to a different model"));
}

TEST_CASE("atomgrad train: --init accepts an MLP written by another program", "[cli][marglik]") {
    // Ordinary training (standardised) from the case's init.safetensors: no "hypers", so its
    // sizes come from the tensors and tanh from its metadata; the options must describe it.
    TempDir dir;
    std::string opts = reference_options("full", "scalar");
    opts.replace(opts.find("[architecture.training.marglik]"), opts.find("[training_set]") - opts.find("[architecture.training.marglik]"), "");
    RunResult r = train(dir, opts, "--init " + case_dir() + "/init.safetensors");
    INFO(r.output);
    REQUIRE(r.status == 0);
    CHECK_FALSE(cli::LaplaceModel::holds_posterior(nn::load_checkpoint(dir.file("model.ckpt"))));
    std::string relu = opts;
    relu.replace(relu.find("\"tanh\""), 6, "\"relu\"");
    RunResult bad = train(dir, relu, "--init " + case_dir() + "/init.safetensors");
    CHECK(bad.status == 1);
    CHECK_THAT(bad.output, Contains("these weights belong to a different model"));
}

TEST_CASE("train options: marglik defaults are laplace-torch's; standardisation defaults to off", "[cli][marglik]") {
    const std::string base = "[architecture]\nname = \"mlp\"\n[training_set]\nread_from = \"t.csv\"\ntarget = \"y\"\n";
    cli::TrainOptions plain = cli::parse_train_options(cli::Options::from_string(base, "plain.toml"));
    CHECK_FALSE(plain.marglik.enabled);
    CHECK(plain.scale_inputs);
    CHECK(plain.to_toml().find("marglik") == std::string::npos);
    cli::TrainOptions t = cli::parse_train_options(
        cli::Options::from_string(base + "[architecture.training.marglik]\n", "marglik.toml"));
    const cli::MarglikTrainOptions& g = t.marglik;
    CHECK(g.enabled);
    CHECK(g.hessian_structure == "kron");
    CHECK(g.prior_structure == "layerwise");
    CHECK(g.lr_hyp == 0.1);
    CHECK(g.n_epochs_burnin == 0);
    CHECK(g.n_hypersteps == 10);
    CHECK(g.marglik_frequency == 1);
    CHECK(g.prior_prec_init == 1.0);
    CHECK(g.sigma_noise_init == 1.0);
    CHECK(g.temperature == 1.0);
    CHECK_FALSE(g.fix_sigma_noise);
    CHECK(g.kron_sigma_gradient == "true");
    CHECK(g.link_approx == "probit");
    CHECK_FALSE(t.scale_inputs);
    CHECK_FALSE(t.scale_targets);
    // explicit false is accepted
    cli::TrainOptions f = cli::parse_train_options(cli::Options::from_string(
        "[architecture]\nname = \"mlp\"\n[architecture.training]\nscale_inputs = false\n[architecture.training.marglik]\n"
        "[training_set]\nread_from = \"t.csv\"\ntarget = \"y\"\n",
        "f.toml"));
    CHECK_FALSE(f.scale_inputs);
}
