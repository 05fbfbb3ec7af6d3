// `atomgrad laplace` and `atomgrad eval` on a wrapped model, against laplace-torch's numbers for
// the reference cases (tests/reference/laplace), loading the cases' safetensors weights as a
// model written by another program.
#include "cli/files.hpp"
#include "cli/laplace_model.hpp"
#include "nn/json.hpp"
#include "tests/cli/cli_helpers.hpp"
#include "tests/uq/reference_case.hpp"

using namespace cli_testing;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
namespace rt = uqtest;

namespace {

// The case folder as an absolute path (the CLI runs in a temporary folder).
std::string case_dir(const std::string& name) { return cli::absolute_path(rt::reference_dir(name)); }

// Options for the reference case `name`; outputs go next to the options file (a temp dir).
std::string case_options(const std::string& name, const std::string& target, const std::string& laplace,
                         const std::string& extra = "") {
    const std::string dir = case_dir(name);
    std::ostringstream os;
    os << "model = \"" << dir << "/model.safetensors\"\n"
       << "test_set = \"" << dir << "/test.csv\"\n"
       << extra << "\n[training_set]\nread_from = \"" << dir << "/train.csv\"\ntarget = \"" << target << "\"\n"
       << "task = \"" << (name.rfind("classification", 0) == 0 ? "classification" : "regression") << "\"\n"
       << "\n[laplace]\noutput = \"wrapped.ckpt\"\npredictions = \"pred.csv\"\n" << laplace;
    return os.str();
}

RunResult run_laplace(const TempDir& dir, const std::string& options) {
    write_text(dir.file("la.toml"), options);
    return run_cli("laplace la.toml --json", dir.str());
}

nn::Json run_json(const TempDir& dir, const std::string& options) {
    RunResult r = run_laplace(dir, options);
    INFO(r.output);
    REQUIRE(r.status == 0);
    return nn::Json::parse(r.lines().back());
}

double ref_num(const rt::Case& c, const std::vector<std::string>& keys) { return rt::num(rt::at(c.root, keys)); }
ad::Tensor ref_tensor(const rt::Case& c, const std::vector<std::string>& keys) { return rt::to_tensor(rt::at(c.root, keys)); }

}  // namespace

TEST_CASE("atomgrad laplace: sine reference, Full/Kron/Diag lml and predictive from a foreign checkpoint",
          "[cli][laplace]") {
    const auto& c = rt::load_case("regression_sine_lllaplace");
    for (const std::string cls : {"FullLLLaplace", "KronLLLaplace", "DiagLLLaplace"}) {
        const std::string structure = cls == "FullLLLaplace" ? "full" : cls == "KronLLLaplace" ? "kron" : "diag";
        INFO(cls);
        TempDir dir;
        nn::Json j = run_json(dir, case_options("regression_sine_lllaplace", "y",
                                                "hessian_structure = \"" + structure +
                                                    "\"\nsigma_noise = 0.3\nprior_precision = 1.0\n"));
        // scalars: the reference README's tolerance (1e-8 relative)
        for (const char* key : {"log_marginal_likelihood", "log_likelihood", "log_det_ratio", "scatter"})
            CHECK(rt::scalar_mismatch(j.at(key).as_number(), ref_num(c, {"results", cls, "at_hyper", key})) == "");
        CHECK(j.at("n_params").as_long() == 51);
        CHECK(j.at("sigma_noise").as_number() == 0.3);
        // predictions: mean and epistemic variance against glm_mean and glm_var_diagonal_output
        // (arrays: 1e-8 relative + 1e-10 of the largest entry, the README's tolerance)
        cli::Table pred = cli::read_csv(dir.file("pred.csv"));
        CHECK(pred.columns == std::vector<std::string>{"y", "y_var", "y_f_var"});
        ad::Tensor mean = pred.select({"y"}), f_var = pred.select({"y_f_var"}), y_var = pred.select({"y_var"});
        ad::Tensor ref_mean = ad::reshape(ref_tensor(c, {"results", cls, "predictive", "glm_mean"}), {-1, 1});
        ad::Tensor ref_var = ad::reshape(ref_tensor(c, {"results", cls, "predictive", "glm_var_diagonal_output"}), {-1, 1});
        // the CSV carries 10 significant digits
        CHECK(rt::array_mismatch(mean, ref_mean, 1e-9, 1e-9) == "");
        CHECK(rt::array_mismatch(f_var, ref_var, 1e-9, 1e-9) == "");
        CHECK(rt::array_mismatch(y_var, ad::add(ref_var, 0.09), 1e-9, 1e-9) == "");  // + sigma^2
        CHECK(fs::exists(dir.file("wrapped.ckpt")));
    }
}

TEST_CASE("atomgrad laplace: marglik prior optimisation matches laplace-torch's tau", "[cli][laplace]") {
    const auto& c = rt::load_case("regression_sine_lllaplace");
    TempDir dir;
    nn::Json j = run_json(dir, case_options("regression_sine_lllaplace", "y",
                                            "sigma_noise = 0.3\noptimize_prior_precision = \"marglik\"\n"));
    const double ref = ref_num(c, {"results", "FullLLLaplace", "optimize_prior_precision_marglik", "scalar",
                                   "prior_precision", "0"});
    REQUIRE(j.at("prior_precision").size() == 1);
    CHECK(rt::scalar_mismatch(j.at("prior_precision").at(0).as_number(), ref) == "");
}

TEST_CASE("atomgrad laplace: blobs classification probit probabilities, then eval of the wrapped model",
          "[cli][laplace][eval]") {
    const auto& c = rt::load_case("classification_blobs2d_lllaplace");
    TempDir dir;
    nn::Json j = run_json(dir, case_options("classification_blobs2d_lllaplace", "label", "link_approx = \"probit\"\n"));
    CHECK(rt::scalar_mismatch(j.at("log_marginal_likelihood").as_number(),
                              ref_num(c, {"results", "FullLLLaplace", "at_hyper", "log_marginal_likelihood"})) == "");
    cli::Table pred = cli::read_csv(dir.file("pred.csv"));
    ad::Tensor probs = pred.select({"prob_0", "prob_1", "prob_2"});
    CHECK(rt::array_mismatch(probs, ref_tensor(c, {"results", "FullLLLaplace", "predictive", "probit"}), 1e-9, 1e-9) == "");

    // eval on the wrapped model gives the same probabilities; with labels it reports nll and ece
    const std::string val = case_dir("classification_blobs2d_lllaplace") + "/val.csv";
    RunResult r = run_cli("eval wrapped.ckpt " + val + " -o eval.csv --json", dir.str());
    INFO(r.output);
    REQUIRE(r.status == 0);
    nn::Json m = nn::Json::parse(r.lines().back());
    CHECK(m.contains("nll"));
    CHECK(m.contains("ece"));
    CHECK(m.at("accuracy").as_number() > 0.8);  // three well-separated blobs
    RunResult r2 = run_cli("eval wrapped.ckpt " + case_dir("classification_blobs2d_lllaplace") +
                               "/test.csv -o eval_test.csv",
                           dir.str());
    REQUIRE(r2.status == 0);
    CHECK(read_text(dir.file("eval_test.csv")) == read_text(dir.file("pred.csv")));
}

TEST_CASE("atomgrad laplace: bad hyperparameters and models give one-line errors and no output",
          "[cli][laplace][errors]") {
    struct Bad {
        std::string name, target, laplace, expect;
    };
    std::string diag51 = "1.0";
    for (int k = 1; k < 51; ++k) diag51 += ", 1.0";
    const std::vector<Bad> cases = {
        {"classification_blobs2d_lllaplace", "label", "sigma_noise = 0.5\n", "sigma_noise"},
        {"regression_sine_lllaplace", "y", "sigma_noise = -0.3\n", "sigma_noise"},
        {"regression_sine_lllaplace", "y", "prior_precision = -1.0\n", "prior precision"},
        {"regression_sine_lllaplace", "y", "hessian_structure = \"kron\"\nprior_precision = [" + diag51 + "]\n", "Kron"},
        {"regression_sine_lllaplace", "y", "prior_precision = [1.0, 2.0, 3.0]\n", "[51] (per parameter), got [3]"},
        {"regression_sine_lllaplace", "y", "hessian_structur = \"full\"\n", "unknown key 'laplace.hessian_structur'"},
        {"regression_sine_lllaplace", "y", "link_approx = \"logit\"\n", "link_approx"},
    };
    for (const auto& b : cases) {
        INFO(b.laplace);
        TempDir dir;
        RunResult r = run_laplace(dir, case_options(b.name, b.target, b.laplace));
        CHECK(r.status == 1);
        REQUIRE(r.lines().size() == 1);
        CHECK_THAT(r.lines()[0], StartsWith("atomgrad: error:") && Contains(b.expect));
        CHECK_FALSE(fs::exists(dir.file("wrapped.ckpt")));
        CHECK_FALSE(fs::exists(dir.file("pred.csv")));
    }
}

TEST_CASE("atomgrad laplace: a singular posterior precision (zero prior, too few data) is refused",
          "[cli][laplace][errors]") {
    // 3 training points cannot pin down 51 last-layer parameters: H has rank <= 3
    TempDir dir;
    const std::string ref = case_dir("regression_sine_lllaplace");
    std::string train = read_text(ref + "/train.csv");
    std::istringstream is(train);
    std::string line, few;
    for (int k = 0; k < 4 && std::getline(is, line); ++k) few += line + "\n";
    write_text(dir.file("few.csv"), few);
    std::string opts = "model = \"" + ref + "/model.safetensors\"\n[training_set]\nread_from = \"few.csv\"\n"
                       "target = \"y\"\n[laplace]\noutput = \"wrapped.ckpt\"\nprior_precision = 0.0\nsigma_noise = 0.3\n";
    RunResult r = run_laplace(dir, opts);
    CHECK(r.status == 1);
    REQUIRE(r.lines().size() == 1);
    CHECK_THAT(r.lines()[0], StartsWith("atomgrad: error:") && Contains("prior precision"));
    CHECK_FALSE(fs::exists(dir.file("wrapped.ckpt")));
}

namespace {

// TOML for a number or a list of numbers, each with 17 significant digits (reads back exactly).
std::string toml_numbers(const ad::Tensor& t) {
    std::ostringstream os;
    os.precision(17);
    if (t.numel() == 1) {
        os << t[0];
        return os.str();
    }
    os << "[";
    for (long i = 0; i < t.numel(); ++i) os << (i ? ", " : "") << t[i];
    os << "]";
    return os.str();
}

}  // namespace

TEST_CASE("atomgrad laplace: all weights, the final laplace-torch marglik_training posteriors", "[cli][laplace]") {
    // Each run's returned weights (final_<run>.safetensors, a foreign checkpoint: tanh from its
    // metadata) with the run's final tau and sigma: the lml and the test predictive must be the
    // run's final ones.
    const std::string dir = case_dir("marglik_training_sine");
    toml::table root = toml::parse_file(dir + "/case.toml");
    for (const std::string run : {"full_scalar_backpack", "full_layerwise_backpack", "diag_diag_backpack",
                                  "kron_layerwise_asdl_default", "kron_layerwise_backpack"}) {
        INFO(run);
        const toml::node& R = rt::at(root, {"runs", run});
        const std::string structure = *rt::at(R, {"config", "hessian_structure"}).value<std::string>();
        TempDir tmp;
        std::ostringstream os;
        os.precision(17);
        os << "model = \"" << dir << "/final_" << run << ".safetensors\"\ntest_set = \"" << dir << "/test.csv\"\n"
           << "[training_set]\nread_from = \"" << dir << "/train.csv\"\ntarget = \"y\"\n"
           << "[laplace]\nsubset_of_weights = \"all\"\nhessian_structure = \"" << structure << "\"\n"
           << "prior_precision = " << toml_numbers(rt::to_tensor(rt::at(R, {"final_prior_precision"}))) << "\n"
           << "sigma_noise = " << rt::num(rt::at(R, {"final_sigma_noise"})) << "\n"
           << "output = \"wrapped.ckpt\"\npredictions = \"pred.csv\"\n";
        nn::Json j = run_json(tmp, os.str());
        CHECK(j.at("subset_of_weights").as_string() == "all");
        CHECK(j.at("n_params").as_long() == 49);  // 1-16-1: 16 + 16 + 16 + 1
        CHECK(rt::scalar_mismatch(j.at("log_marginal_likelihood").as_number(),
                                  rt::num(rt::at(R, {"final_log_marginal_likelihood"}))) == "");
        // the CSV carries 10 significant digits
        cli::Table pred = cli::read_csv(tmp.file("pred.csv"));
        CHECK(rt::array_mismatch(pred.select({"y"}), ad::reshape(rt::to_tensor(rt::at(R, {"glm_mean_test"})), {-1, 1}),
                                 1e-9, 1e-9) == "");
        CHECK(rt::array_mismatch(pred.select({"y_f_var"}),
                                 ad::reshape(rt::to_tensor(rt::at(R, {"glm_var_test"})), {-1, 1}), 1e-9, 1e-9) == "");
        // the wrapped model holds the all-weights posterior exactly: eval reproduces the predictions
        nn::Checkpoint w = nn::load_checkpoint(tmp.file("wrapped.ckpt"));
        CHECK(w.meta("laplace.kind") == "mlp");
        nn::TabularModel m = nn::TabularModel::from_checkpoint(w);
        cli::LaplaceModel lm = cli::LaplaceModel::from_checkpoint(w, std::move(m));
        CHECK(lm.subset_of_weights() == "all");
        CHECK(rt::scalar_mismatch(lm.laplace().log_marginal_likelihood(),
                                  rt::num(rt::at(R, {"final_log_marginal_likelihood"}))) == "");
        RunResult r = run_cli("eval wrapped.ckpt " + dir + "/test.csv -o eval.csv", tmp.str());
        REQUIRE(r.status == 0);
        CHECK(read_text(tmp.file("eval.csv")) == read_text(tmp.file("pred.csv")));
    }
}

TEST_CASE("atomgrad laplace: all weights, layerwise marglik prior and errors", "[cli][laplace]") {
    const std::string dir = case_dir("marglik_training_sine");
    auto options = [&](const std::string& laplace) {
        return "model = \"" + dir + "/final_full_layerwise_backpack.safetensors\"\n[training_set]\nread_from = \"" + dir +
               "/train.csv\"\ntarget = \"y\"\n[laplace]\nsubset_of_weights = \"all\"\noutput = \"wrapped.ckpt\"\n" + laplace;
    };
    {
        // marglik on a layerwise prior: one tau per tensor, and a higher evidence than at tau = 1
        TempDir tmp;
        nn::Json at_one = run_json(tmp, options("sigma_noise = 0.7\n"));
        nn::Json j = run_json(tmp, options("sigma_noise = 0.7\noptimize_prior_precision = \"marglik\"\n"
                                           "prior_structure = \"layerwise\"\n"));
        CHECK(j.at("prior_precision").size() == 4);
        CHECK(j.at("log_marginal_likelihood").as_number() > at_one.at("log_marginal_likelihood").as_number());
    }
    {
        // gridsearch on a validation file: one tau from the default grid 10^[-4, 4]
        TempDir tmp;
        nn::Json j = run_json(tmp, "validation_set = \"" + dir + "/train.csv\"\n" +
                                       options("sigma_noise = 0.7\noptimize_prior_precision = \"gridsearch\"\n"));
        REQUIRE(j.at("prior_precision").size() == 1);
        const double tau = j.at("prior_precision").at(0).as_number();
        CHECK(tau >= 1e-4);
        CHECK(tau <= 1e4);
    }
    struct Bad {
        std::string laplace, expect;
    };
    std::string diag49 = "1.0";
    for (int k = 1; k < 49; ++k) diag49 += ", 1.0";
    for (const Bad& b : std::vector<Bad>{
             {"optimize_prior_precision = \"gridsearch\"\n", "needs validation_set"},
             {"prior_precision = [1.0, 2.0, 3.0]\n", "got [3]"},
             {"hessian_structure = \"kron\"\nprior_precision = [" + diag49 + "]\n", "Kron"},
             {"subset_of_weights = \"subnetwork\"\n", "subset_of_weights"},
         }) {
        INFO(b.laplace);
        TempDir tmp;
        std::string opts = options(b.laplace);
        if (b.laplace.rfind("subset_of_weights", 0) == 0)
            opts.replace(opts.find("subset_of_weights = \"all\"\n"), 26, "");
        RunResult r = run_laplace(tmp, opts);
        CHECK(r.status == 1);
        REQUIRE(r.lines().size() == 1);
        CHECK_THAT(r.lines()[0], StartsWith("atomgrad: error:") && Contains(b.expect));
        CHECK_FALSE(fs::exists(tmp.file("wrapped.ckpt")));
    }
}

TEST_CASE("atomgrad eval --plot: band for 1-D regression, confidence map and reliability for 2-D classification",
          "[cli][eval][plot]") {
    TempDir dir;
    // sine: wrapped model -> predictive.svg with the data points and both bands
    run_json(dir, case_options("regression_sine_lllaplace", "y", "sigma_noise = 0.3\n"));
    const std::string sine = case_dir("regression_sine_lllaplace");
    RunResult r = run_cli("eval wrapped.ckpt " + sine + "/val.csv -o e.csv --plot plots", dir.str());
    INFO(r.output);
    REQUIRE(r.status == 0);
    const std::string svg = read_text(dir.file("plots/predictive.svg"));
    CHECK_THAT(svg, StartsWith("<svg") || Contains("<svg"));
    CHECK_THAT(svg, Contains("epistemic"));
    CHECK(svg.find("nan") == std::string::npos);
    // blobs: confidence.svg and reliability.svg (labels present in val.csv)
    TempDir dir2;
    run_json(dir2, case_options("classification_blobs2d_lllaplace", "label", ""));
    RunResult r2 = run_cli("eval wrapped.ckpt " + case_dir("classification_blobs2d_lllaplace") +
                               "/val.csv -o e.csv --plot plots",
                           dir2.str());
    INFO(r2.output);
    REQUIRE(r2.status == 0);
    CHECK(fs::exists(dir2.file("plots/confidence.svg")));
    CHECK_THAT(read_text(dir2.file("plots/reliability.svg")), Contains("ECE"));
}

TEST_CASE("atomgrad laplace: NaN hyperparameters and a checkpoint without Linear layers are refused",
          "[cli][laplace][errors]") {
    TempDir dir;
    RunResult r = run_laplace(dir, case_options("regression_sine_lllaplace", "y", "sigma_noise = nan\n"));
    CHECK(r.status == 1);
    REQUIRE(r.lines().size() == 1);
    CHECK_THAT(r.lines()[0], StartsWith("atomgrad: error:") && Contains("laplace.sigma_noise") && Contains("finite"));

    // a safetensors file holding no layers.{i}.weight: not a model with a last Linear layer
    nn::Checkpoint c;
    c.tensors.push_back({"encoder.weight", ad::Tensor::ones({2, 2})});
    nn::save_checkpoint(dir.file("other.safetensors"), c);
    std::string opts = case_options("regression_sine_lllaplace", "y", "sigma_noise = 0.3\n");
    opts.replace(opts.find("model = \""), opts.find('\n') + 1, "model = \"other.safetensors\"\n");
    RunResult r2 = run_laplace(dir, opts);
    CHECK(r2.status == 1);
    REQUIRE(r2.lines().size() == 1);
    CHECK_THAT(r2.lines()[0], StartsWith("atomgrad: error:") && Contains("other.safetensors") &&
                                  Contains("layers.0.weight"));
    CHECK_FALSE(fs::exists(dir.file("wrapped.ckpt")));
}

TEST_CASE("atomgrad laplace: pred_type = \"nn\" agrees with glm within the sampling error; eval keeps it",
          "[cli][laplace][sample]") {
    // For the last layer the nn predictive samples the exact distribution of the glm one, so with
    // S draws: |mean - glm_mean| <= 5 sqrt(var / S) and |f_var - glm_var| <= 5 var sqrt(2 / (S - 1)),
    // plus 1e-9 for the CSV's 10 significant digits.
    const auto& c = rt::load_case("regression_sine_lllaplace");
    const long S = 20000;
    TempDir dir;
    nn::Json j = run_json(dir, case_options("regression_sine_lllaplace", "y",
                                            "sigma_noise = 0.3\nprior_precision = 1.0\npred_type = \"nn\"\n"
                                            "n_samples = 20000\n"));
    CHECK(j.at("pred_type").as_string() == "nn");
    cli::Table pred = cli::read_csv(dir.file("pred.csv"));
    ad::Tensor mean = pred.select({"y"}), f_var = pred.select({"y_f_var"}), y_var = pred.select({"y_var"});
    ad::Tensor ref_mean = ref_tensor(c, {"results", "FullLLLaplace", "predictive", "glm_mean"});
    ad::Tensor ref_var = ref_tensor(c, {"results", "FullLLLaplace", "predictive", "glm_var_diagonal_output"});
    REQUIRE(mean.numel() == ref_mean.numel());
    for (long i = 0; i < mean.numel(); ++i) {
        INFO("row " << i);
        CHECK(std::fabs(mean[i] - ref_mean[i]) <= 5 * std::sqrt(ref_var[i] / S) + 1e-9);
        CHECK(std::fabs(f_var[i] - ref_var[i]) <= 5 * ref_var[i] * std::sqrt(2.0 / (S - 1)) + 1e-9);
        CHECK(std::fabs(y_var[i] - f_var[i] - 0.09) <= 1e-9);  // + sigma^2
    }
    // the wrapped model stores the predictive; eval (seed 0) reproduces the predictions
    nn::Checkpoint w = nn::load_checkpoint(dir.file("wrapped.ckpt"));
    CHECK(w.meta("laplace.pred_type") == "nn");
    CHECK(w.meta("laplace.n_samples") == "20000");
    RunResult r = run_cli("eval wrapped.ckpt " + case_dir("regression_sine_lllaplace") + "/test.csv -o eval.csv", dir.str());
    REQUIRE(r.status == 0);
    CHECK(read_text(dir.file("eval.csv")) == read_text(dir.file("pred.csv")));

    // classification: the sampled softmax mean against laplace-torch's mc link (20000 draws of the
    // same Gaussian f): 5 standard errors of a difference, 5 sqrt(2 / 4 / 20000) = 0.025
    const auto& b = rt::load_case("classification_blobs2d_lllaplace");
    TempDir dir2;
    run_json(dir2, case_options("classification_blobs2d_lllaplace", "label", "pred_type = \"nn\"\nn_samples = 20000\n"));
    ad::Tensor probs = cli::read_csv(dir2.file("pred.csv")).select({"prob_0", "prob_1", "prob_2"});
    ad::Tensor ref_mc = ref_tensor(b, {"results", "FullLLLaplace", "predictive", "mc", "probs"});
    REQUIRE(probs.shape() == ref_mc.shape());
    double worst = 0;
    for (long i = 0; i < probs.numel(); ++i) worst = std::max(worst, std::fabs(probs[i] - ref_mc[i]));
    CHECK(worst <= 0.025);

    // a sample variance needs two samples; unknown pred_type names the choices
    TempDir dir3;
    RunResult bad = run_laplace(dir3, case_options("regression_sine_lllaplace", "y", "pred_type = \"nn\"\nn_samples = 1\n"));
    CHECK(bad.status == 1);
    CHECK_THAT(bad.output, Contains("n_samples' expected >= 2"));
    bad = run_laplace(dir3, case_options("regression_sine_lllaplace", "y", "pred_type = \"mc\"\n"));
    CHECK(bad.status == 1);
    CHECK_THAT(bad.output, Contains("glm, nn"));
}
