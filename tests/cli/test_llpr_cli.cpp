// `atomgrad train llpr.toml` (architecture.name = "llpr": the options schema, the wrap of a
// soap_bpnn model.ckpt, the run folder) and `atomgrad eval` of the wrapped model (uncertainties
// in the XYZ, UQ metrics in --json), with the one-line errors of bad input. A tiny soap_bpnn
// (cutoff 4, l_max 2, n_max 2, one hidden layer of 8) trained for 3 epochs on 20 ethanol frames.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "cli/llpr_options.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/json.hpp"
#include "tests/cli/cli_helpers.hpp"

using namespace cli_testing;

namespace {

std::string bpnn_options() {
    return "seed = 1\nvalidation_set = 0.2\n[architecture]\nname = \"soap_bpnn\"\n"
           "[architecture.model.soap]\ncutoff = 4.0\nmax_angular = 2\nmax_radial = 2\n"
           "[architecture.model.bpnn]\nnum_hidden_layers = 1\nnum_neurons_per_layer = 8\n"
           "[architecture.training]\nnum_epochs = 3\nbatch_size = 4\nlearning_rate = 0.01\n"
           "[training_set.systems]\nread_from = \"data.xyz\"\n"
           "[training_set.targets.energy]\nkey = \"energy\"\nunit = \"eV\"\n";
}

std::string llpr_options(const std::string& model = "model.ckpt", const std::string& extra_training = "",
                         const std::string& top = "validation_set = 0.2\n", long members = 16) {
    std::ostringstream os;
    os << "seed = 1\n" << top << "[architecture]\nname = \"llpr\"\n"
       << "[architecture.model.num_ensemble_members]\nenergy = " << members << "\n"
       << "[architecture.training]\nmodel_checkpoint = \"" << model << "\"\nbatch_size = 4\n" << extra_training
       << "[training_set.systems]\nread_from = \"data.xyz\"\n"
       << "[training_set.targets.energy]\nkey = \"energy\"\nunit = \"eV\"\n";
    return os.str();
}

cli::LlprTrainOptions parse(const std::string& text) {
    return cli::parse_llpr_options(cli::Options::from_string(text, "llpr.toml"));
}

// data.xyz and a trained model.ckpt in `dir`.
void trained_model(const TempDir& dir) {
    copy_to(repo_file("tests/data/ethanol-xtb-20.xyz"), dir.file("data.xyz"));
    write_text(dir.file("options.toml"), bpnn_options());
    RunResult r = run_cli("train options.toml -o model.ckpt --run-dir run", dir.str());
    INFO(r.output);
    REQUIRE(r.status == 0);
}

std::vector<double> numbers_of(const std::string& text) {
    std::vector<double> v;
    std::istringstream is(text);
    double x;
    while (is >> x) v.push_back(x);
    return v;
}

}  // namespace

TEST_CASE("llpr_options: metatrain's keys, defaults and bad values", "[cli][llpr]") {
    cli::LlprTrainOptions o = parse(llpr_options());
    CHECK(o.model_checkpoint == "model.ckpt");
    CHECK(o.fit.batch_size == 4);
    CHECK_FALSE(o.fit.regularizer.has_value());  // left out: automatic
    CHECK(o.fit.calibration == uq::LlprCalibration::absolute_residuals);  // metatrain's default
    CHECK(o.fit.num_ensemble_members == 16);
    CHECK(o.validation.fraction == 0.2);
    cli::LlprTrainOptions r = parse(llpr_options("m.ckpt", "regularizer = 1e-8\ncalibration_method = \"crps\"\nnum_epochs = 0\n"));
    CHECK(*r.fit.regularizer == 1e-8);
    CHECK(r.fit.calibration == uq::LlprCalibration::crps);
    CHECK(parse(llpr_options("m.ckpt", "", "", 0)).fit.num_ensemble_members == 0);
    cli::LlprTrainOptions ex = cli::read_llpr_options(repo_file("examples/ethanol/llpr.toml"));  // the example parses
    CHECK(ex.fit.num_ensemble_members == 128);
    CHECK(ex.model_checkpoint == "model.ckpt");

    cli::LlprTrainOptions t = parse(llpr_options("m.ckpt", "num_epochs = 5\nlearning_rate = 1e-2\n"));
    CHECK(t.fit.num_epochs == 5);
    CHECK(t.fit.learning_rate == 1e-2);
    CHECK(o.fit.learning_rate == 3e-4);  // metatrain's default
    REQUIRE_THROWS_WITH(parse(llpr_options("m.ckpt", "num_epochs = 5\n", "", 0)),
                        Catch::Contains("llpr.toml:") && Catch::Contains("num_epochs' expected 0 without an ensemble"));
    REQUIRE_THROWS_WITH(parse(llpr_options("m.ckpt", "num_epochs = -1\n")), Catch::Contains("num_epochs' expected >= 0"));
    REQUIRE_THROWS_WITH(parse(llpr_options("m.ckpt", "calibration_method = \"nll\"\n")),
                        Catch::Contains("calibration_method") && Catch::Contains("absolute_residuals"));
    REQUIRE_THROWS_WITH(parse(llpr_options("m.ckpt", "regularizer = -1.0\n")), Catch::Contains("regularizer' expected >= 0"));
    REQUIRE_THROWS_WITH(parse(llpr_options("m.ckpt", "", "", 1)), Catch::Contains("expected 0 (no ensemble) or >= 2, got 1"));
    REQUIRE_THROWS_WITH(parse(llpr_options("m.ckpt", "warmup_fraction = 0.1\n")),
                        Catch::Contains("unknown key 'architecture.training.warmup_fraction'"));
    REQUIRE_THROWS_WITH(parse(replace(llpr_options(), "model_checkpoint = \"model.ckpt\"\n", "")),
                        Catch::Contains("expected 'architecture.training.model_checkpoint'"));
}

TEST_CASE("llpr_options: ensemble loss, forces, include_noise, train_all_parameters", "[cli][llpr]") {
    const cli::LlprTrainOptions d = parse(llpr_options("m.ckpt", "num_epochs = 2\n"));
    CHECK(d.fit.loss == uq::EnsembleLoss::gaussian_nll);  // metatrain's default
    CHECK(d.fit.forces_loss == uq::EnsembleLoss::gaussian_nll);
    CHECK(d.fit.forces_key == "forces");  // left out: used when every training frame has them
    CHECK_FALSE(d.fit.forces_required);
    CHECK_FALSE(d.fit.include_noise.has_value());  // the method's default
    // metatrain's string form: energies and forces alike
    const cli::LlprTrainOptions c = parse(llpr_options("m.ckpt", "num_epochs = 2\nloss = \"gaussian_crps_ensemble\"\n"));
    CHECK(c.fit.loss == uq::EnsembleLoss::gaussian_crps);
    CHECK(c.fit.forces_loss == uq::EnsembleLoss::gaussian_crps);
    // the table form: a type and weight per term
    const cli::LlprTrainOptions t = parse(llpr_options(
        "m.ckpt", "num_epochs = 2\n[architecture.training.loss.energy]\ntype = \"empirical_crps_ensemble\"\nweight = 2.0\n"
                  "[architecture.training.loss.energy.forces]\ntype = \"gaussian_nll_ensemble\"\nweight = 0.5\n"));
    CHECK(t.fit.loss == uq::EnsembleLoss::empirical_crps);
    CHECK(t.fit.energy_weight == 2.0);
    CHECK(t.fit.forces_loss == uq::EnsembleLoss::gaussian_nll);
    CHECK(t.fit.forces_weight == 0.5);
    // forces as a target: false (never), a key (required)
    const cli::LlprTrainOptions nf = parse(llpr_options("m.ckpt", "num_epochs = 2\n") + "forces = false\n");
    CHECK(nf.fit.forces_key.empty());
    const cli::LlprTrainOptions kf = parse(llpr_options("m.ckpt", "num_epochs = 2\n") + "forces = \"F\"\n");
    CHECK(kf.fit.forces_key == "F");
    CHECK(kf.fit.forces_required);
    CHECK(parse(llpr_options("m.ckpt", "uncertainty_method = \"laplace\"\ninclude_noise = false\n")).fit.include_noise == false);
    CHECK_FALSE(parse(llpr_options("m.ckpt", "train_all_parameters = false\n")).fit.include_noise.has_value());

    REQUIRE_THROWS_WITH(parse(llpr_options("m.ckpt", "num_epochs = 2\nloss = \"mse\"\n")),
                        Catch::Contains("llpr.toml:") && Catch::Contains("'architecture.training.loss' expected one of "
                                                                         "gaussian_nll_ensemble, gaussian_crps_ensemble, "
                                                                         "empirical_crps_ensemble, got 'mse'"));
    REQUIRE_THROWS_WITH(parse(llpr_options("m.ckpt", "num_epochs = 2\n[architecture.training.loss.energy]\ndelta = 1.0\n")),
                        Catch::Contains("unknown key 'architecture.training.loss.energy.delta'"));
    REQUIRE_THROWS_WITH(parse(llpr_options("m.ckpt", "num_epochs = 2\n[architecture.training.loss.energy.forces]\nweight = -1.0\n")),
                        Catch::Contains("loss.energy.forces.weight' expected >= 0, got -1"));
    REQUIRE_THROWS_WITH(parse(llpr_options("m.ckpt", "loss = \"gaussian_nll_ensemble\"\n")),
                        Catch::Contains("'architecture.training.loss' expected only with num_epochs > 0"));
    REQUIRE_THROWS_WITH(parse(llpr_options("m.ckpt", "train_all_parameters = true\n")),
                        Catch::Contains("'architecture.training.train_all_parameters' expected false") &&
                            Catch::Contains("not implemented"));
    REQUIRE_THROWS_WITH(parse(llpr_options("m.ckpt", "include_noise = true\n")),
                        Catch::Contains("'architecture.training.include_noise' expected only with uncertainty_method = "
                                        "\"laplace\""));
    REQUIRE_THROWS_WITH(parse(llpr_options("m.ckpt", "include_noise = 1\n")), Catch::Contains("include_noise"));
}

TEST_CASE("llpr cli: train wraps a soap_bpnn model; eval writes uncertainties and UQ metrics", "[cli][llpr]") {
    TempDir dir;
    trained_model(dir);
    write_text(dir.file("llpr.toml"), llpr_options());
    RunResult r = run_cli("train llpr.toml -o wrapped.ckpt --run-dir llpr_run", dir.str());
    INFO(r.output);
    REQUIRE(r.status == 0);
    // the same split as the soap_bpnn run (same seed and fraction), the regulariser, alpha
    CHECK_THAT(r.output, Catch::Contains("llpr: 16 training, 4 validation, 0 test structures") &&
                             Catch::Contains("covariance of 24 last-layer features") &&
                             Catch::Contains("regularizer") && Catch::Contains("(automatic: d eps lambda_max") &&
                             Catch::Contains("alpha = ") && Catch::Contains("absolute_residuals on 4 validation") &&
                             Catch::Contains("energy ensemble of 16 members") && Catch::Contains("validation: energy_nll"));
    CHECK(listing(dir.file("llpr_run")) == std::set<std::string>{"llpr.log", "model.ckpt", "options.toml"});
    REQUIRE(fs::exists(dir.file("wrapped.ckpt")));

    RunResult e = run_cli("eval wrapped.ckpt data.xyz -o pred.xyz --json", dir.str());
    INFO(e.output);
    REQUIRE(e.status == 0);
    nn::Json j = nn::Json::parse(e.output);
    for (const char* key : {"energy_rmse_per_atom", "forces_rmse", "energy_nll", "energy_zms", "energy_miscalibration_area",
                            "energy_coverage_1sigma", "energy_uncertainty_mean", "forces_zms", "forces_uncertainty_mean",
                            "forces_coverage_3sigma", "forces_miscalibration_area"})
        CHECK(std::isfinite(j[key].as_number()));
    CHECK(j["energy_uncertainty_mean"].as_number() > 0);
    CHECK(j["num_ensemble_members"].as_number() == 16);
    CHECK(std::fabs(j["energy_spearman"].as_number()) <= 1.0);
    // --plot: parity and calibration pictures
    RunResult pl = run_cli("eval wrapped.ckpt data.xyz -o pred_plot.xyz --plot plots", dir.str());
    INFO(pl.output);
    REQUIRE(pl.status == 0);
    CHECK(listing(dir.file("plots")) == std::set<std::string>{"energy_calibration.svg", "energy_parity.svg",
                                                                "forces_calibration.svg", "forces_parity.svg"});
    CHECK_THAT(read_text(dir.file("plots/forces_calibration.svg")), Catch::Contains("<svg") && Catch::Contains("16 members"));
    // the plain model's predictions are unchanged by the wrap
    RunResult plain = run_cli("eval model.ckpt data.xyz -o plain.xyz --json", dir.str());
    REQUIRE(plain.status == 0);
    CHECK(j["energy_rmse_per_atom"].as_number() ==
          Approx(nn::Json::parse(plain.output)["energy_rmse_per_atom"].as_number()).epsilon(1e-12));
    std::vector<desc::System> pred = desc::read_extxyz(dir.file("pred.xyz"));
    REQUIRE(pred.size() == 20);
    CHECK(pred[0].find_info("config_type"));
    CHECK(pred[0].energy("ref_energy").has_value());  // the reference kept, as plain eval does
    const double sigma = std::stod(*pred[0].find_info("energy_uncertainty"));
    CHECK(sigma > 0);
    std::vector<double> members = numbers_of(*pred[0].find_info("energy_ensemble"));
    REQUIRE(members.size() == 16);
    double mean = 0;
    for (double m : members) mean += m / 16.0;
    CHECK(mean == Approx(*pred[0].energy()).epsilon(1e-12));  // re-centred on the prediction
    const desc::AtomColumn* fu = pred[0].find_array("forces_uncertainty");
    REQUIRE(fu);
    CHECK(fu->n_cols == 3);
    CHECK(fu->values[0] > 0);
    const desc::AtomColumn* au = pred[0].find_array("atomic_energy_uncertainty");
    REQUIRE(au);
    CHECK(au->values.size() == 9);

    // a training checkpoint (its current weights) and metatrain's short form of the systems
    write_text(dir.file("options1.toml"), replace(bpnn_options(), "num_epochs = 3", "num_epochs = 1\ncheckpoint_interval = 1"));
    REQUIRE(run_cli("train options1.toml -o m1.ckpt --run-dir run1", dir.str()).status == 0);
    REQUIRE(fs::exists(dir.file("run1/checkpoints/epoch_1.ckpt")));
    write_text(dir.file("tc.toml"), replace(llpr_options("run1/checkpoints/epoch_1.ckpt"),
                                            "[training_set.systems]\nread_from = \"data.xyz\"\n", "") +
                                        "[training_set]\nsystems = \"data.xyz\"\n");
    RunResult tc = run_cli("train tc.toml -o tc.ckpt --run-dir tc_run", dir.str());
    INFO(tc.output);
    REQUIRE(tc.status == 0);
    RunResult etc = run_cli("eval tc.ckpt data.xyz -o tc.xyz --json", dir.str());
    RunResult em1 = run_cli("eval m1.ckpt data.xyz -o m1.xyz --json", dir.str());
    REQUIRE(etc.status == 0);
    REQUIRE(em1.status == 0);
    CHECK(nn::Json::parse(etc.output)["energy_rmse_per_atom"].as_number() ==
          Approx(nn::Json::parse(em1.output)["energy_rmse_per_atom"].as_number()).epsilon(1e-12));

    // the ensemble weights trained (Gaussian NLL): one log line per epoch, energy_ensemble_* metrics
    write_text(dir.file("trained.toml"), llpr_options("model.ckpt", "num_epochs = 3\nlearning_rate = 1e-2\n"));
    RunResult tr = run_cli("train trained.toml -o trained.ckpt --run-dir trained_run", dir.str());
    INFO(tr.output);
    REQUIRE(tr.status == 0);
    CHECK_THAT(tr.output, Catch::Contains("ensemble training epoch   3, train NLL (per atom):"));
    CHECK_THAT(tr.output, Catch::Contains("ensemble training loss gaussian_nll_ensemble on per-atom energies (weight 1) + "
                                          "gaussian_nll_ensemble on forces (weight 1)"));
    RunResult et = run_cli("eval trained.ckpt data.xyz -o trained.xyz --json", dir.str());
    REQUIRE(et.status == 0);
    CHECK(std::isfinite(nn::Json::parse(et.output)["energy_ensemble_nll"].as_number()));
    // the CRPS of the Gaussian, energies only
    write_text(dir.file("crps.toml"), llpr_options("model.ckpt", "num_epochs = 2\nloss = \"gaussian_crps_ensemble\"\n") +
                                          "forces = false\n");
    RunResult tcr = run_cli("train crps.toml -o crps.ckpt --run-dir crps_run", dir.str());
    INFO(tcr.output);
    REQUIRE(tcr.status == 0);
    CHECK_THAT(tcr.output, Catch::Contains("ensemble training loss gaussian_crps_ensemble on per-atom energies (weight 1) "
                                           "(no forces)") &&
                               Catch::Contains("ensemble training epoch   2, train CRPS (per atom):"));

    // a wrap without an ensemble: sigma only, no forces_* UQ metrics
    write_text(dir.file("noens.toml"), llpr_options("model.ckpt", "calibration_method = \"squared_residuals\"\n",
                                                    "validation_set = 0.2\n", 0));
    REQUIRE(run_cli("train noens.toml -o noens.ckpt --run-dir noens_run", dir.str()).status == 0);
    RunResult e2 = run_cli("eval noens.ckpt data.xyz -o pred2.xyz --json", dir.str());
    REQUIRE(e2.status == 0);
    nn::Json j2 = nn::Json::parse(e2.output);
    CHECK(j2["energy_zms"].as_number() > 0);
    CHECK_FALSE(e2.output.find("forces_zms") != std::string::npos);
}

TEST_CASE("llpr cli: bad input is one line, non-zero exit, no output", "[cli][llpr]") {
    TempDir dir;
    trained_model(dir);
    // a tabular checkpoint has no last-layer features of an atomistic model
    TempDir sine;
    train_small_sine(sine, sine_options(2, 100));
    copy_to(sine.file("model.ckpt"), dir.file("tab.ckpt"));
    write_text(dir.file("tab.toml"), llpr_options("tab.ckpt"));
    RunResult r = run_cli("train tab.toml -o w.ckpt --run-dir run_tab", dir.str());
    CHECK(r.status != 0);
    CHECK(r.lines().size() == 1);
    CHECK_THAT(r.output, Catch::Contains("expected a model with last-layer features (architecture 'nanopet', 'pet', "
                                         "'soap_bpnn'), got architecture 'mlp'"));
    CHECK_FALSE(fs::exists(dir.file("run_tab")));
    CHECK_FALSE(fs::exists(dir.file("w.ckpt")));

    // a validation set of one frame (a file with one frame)
    desc::write_extxyz(dir.file("one.xyz"), {desc::read_extxyz(dir.file("data.xyz"))[0]});
    write_text(dir.file("one.toml"), llpr_options("model.ckpt", "", "validation_set = \"one.xyz\"\n"));
    r = run_cli("train one.toml -o w.ckpt --run-dir run_one", dir.str());
    CHECK(r.status != 0);
    CHECK(r.lines().size() == 1);
    CHECK_THAT(r.output, Catch::Contains("validation set of at least 2 frames to calibrate alpha, got 1"));
    CHECK_FALSE(fs::exists(dir.file("run_one")));

    // num_epochs > 0 without an ensemble
    write_text(dir.file("ep.toml"), llpr_options("model.ckpt", "num_epochs = 3\n", "validation_set = 0.2\n", 0));
    r = run_cli("train ep.toml -o w.ckpt --run-dir run_ep", dir.str());
    CHECK(r.status != 0);
    CHECK(r.lines().size() == 1);
    CHECK_THAT(r.output, Catch::Contains("expected 0 without an ensemble"));
}

TEST_CASE("acceptance: examples/ethanol wrapped with llpr.toml is calibrated on test.xyz", "[cli][llpr][acceptance]") {
    // The example's own options (15 epochs, about 10 s) and llpr.toml (automatic regulariser,
    // absolute_residuals, 128 members), in a temporary copy of examples/ethanol.
    TempDir dir;
    for (const char* f : {"options.toml", "llpr.toml", "train.xyz", "test.xyz"})
        copy_to(repo_file(std::string("examples/ethanol/") + f), dir.file(f));
    RunResult t = run_cli("train options.toml -o model.ckpt --run-dir run", dir.str());
    INFO(t.output);
    REQUIRE(t.status == 0);
    RunResult w = run_cli("train llpr.toml -o model-llpr.ckpt --run-dir llpr", dir.str());
    INFO(w.output);
    REQUIRE(w.status == 0);
    CHECK_THAT(w.output, Catch::Contains("llpr: 900 training, 100 validation, 0 test structures"));
    RunResult e = run_cli("eval model-llpr.ckpt test.xyz -o pred.xyz --json", dir.str());
    INFO(e.output);
    REQUIRE(e.status == 0);
    nn::Json j = nn::Json::parse(e.output);
    CHECK(j["energy_zms"].as_number() > 0.5);
    CHECK(j["energy_zms"].as_number() < 2.0);
    CHECK(j["energy_spearman"].as_number() > 0.2);  // clearly positive (0.46 at the time of writing)
    CHECK(j["forces_zms"].as_number() > 0.5);
    CHECK(j["forces_zms"].as_number() < 2.0);
    CHECK(j["energy_coverage_2sigma"].as_number() > 0.85);
    // displaced test geometries (no hotter trajectory is stored): N(0, 0.1^2) A per coordinate
    std::vector<desc::System> hot = desc::read_extxyz(dir.file("test.xyz"));
    ad::Rng rng(3);
    for (auto& f : hot) {
        f.positions = ad::add(f.positions, rng.normal(f.positions.shape(), 0.0, 0.1));
        f.erase_info("energy");
        f.erase_array("forces");
    }
    desc::write_extxyz(dir.file("hot.xyz"), hot);
    RunResult h = run_cli("eval model-llpr.ckpt hot.xyz -o hot_pred.xyz --json", dir.str());
    INFO(h.output);
    REQUIRE(h.status == 0);
    nn::Json jh = nn::Json::parse(h.output);
    CHECK(jh["energy_uncertainty_mean"].as_number() > 3 * j["energy_uncertainty_mean"].as_number());
    CHECK(jh["forces_uncertainty_mean"].as_number() > 2 * j["forces_uncertainty_mean"].as_number());

    // uncertainty_method laplace (under a second): with the noise N_s^2 sigma^2 (include_noise,
    // its default) the test z-scores are calibrated; epistemic only they are far too small
    // (measured: mean z^2 1.02 with the noise, 10.7 without)
    for (bool noise : {true, false}) {
        INFO("include_noise " << noise);
        write_text(dir.file("lap.toml"), replace(replace(read_text(dir.file("llpr.toml")), "# uncertainty_method = \"laplace\"",
                                                         std::string("uncertainty_method = \"laplace\"\ninclude_noise = ") +
                                                             (noise ? "true" : "false") + " #"),
                                                 "calibration_method = \"absolute_residuals\"", ""));
        RunResult l = run_cli(std::string("train lap.toml -o lap.ckpt --run-dir lap") + (noise ? "1" : "0"), dir.str());
        INFO(l.output);
        REQUIRE(l.status == 0);
        RunResult le = run_cli("eval lap.ckpt test.xyz -o lap.xyz --json", dir.str());
        REQUIRE(le.status == 0);
        const double zms = nn::Json::parse(le.output)["energy_zms"].as_number();
        if (noise) {
            CHECK(zms > 0.5);
            CHECK(zms < 2.0);
        } else {
            CHECK(zms > 4.0);
        }
    }
}

TEST_CASE("llpr cli: uncertainty_method = \"laplace\" trains, evals and writes uncertainties", "[cli][llpr]") {
    CHECK(parse(llpr_options()).fit.uncertainty_method == uq::UncertaintyMethod::llpr);
    CHECK(parse(llpr_options("model.ckpt", "uncertainty_method = \"laplace\"\n")).fit.uncertainty_method ==
          uq::UncertaintyMethod::laplace);
    CHECK_THROWS_WITH(parse(llpr_options("model.ckpt", "uncertainty_method = \"mc_dropout\"\n")),
                      Catch::Contains("'architecture.training.uncertainty_method' expected one of llpr, laplace, got "
                                      "'mc_dropout'"));
    CHECK_THROWS_WITH(parse(llpr_options("model.ckpt", "uncertainty_method = \"laplace\"\nregularizer = 1e-3\n")),
                      Catch::Contains("'architecture.training.regularizer' expected left out with uncertainty_method"));

    TempDir dir;
    trained_model(dir);
    // no validation set: the hypers come from the training split
    write_text(dir.file("lap.toml"), llpr_options("model.ckpt", "uncertainty_method = \"laplace\"\n", "validation_set = 0.0\n", 8));
    RunResult r = run_cli("train lap.toml -o lap.ckpt --run-dir lap_run", dir.str());
    INFO(r.output);
    REQUIRE(r.status == 0);
    CHECK_THAT(r.output, Catch::Contains("llpr: 20 training, 0 validation") &&
                             Catch::Contains("uncertainty_method laplace: prior precision tau = ") &&
                             Catch::Contains("noise sigma = ") && Catch::Contains("log marginal likelihood") &&
                             Catch::Contains("alpha = sigma"));
    CHECK_THAT(r.output, !Catch::Contains("validation: energy_nll"));
    CHECK(nn::load_checkpoint(dir.file("lap.ckpt")).metadata.at("llpr.uncertainty_method") == "laplace");
    RunResult e = run_cli("eval lap.ckpt data.xyz -o pred.xyz --json", dir.str());
    INFO(e.output);
    REQUIRE(e.status == 0);
    nn::Json j = nn::Json::parse(e.output);
    CHECK(j["energy_uncertainty_mean"].as_number() > 0);
    CHECK(std::isfinite(j["energy_nll"].as_number()));
    CHECK(j["num_ensemble_members"].as_number() == 8);
    std::vector<desc::System> pred = desc::read_extxyz(dir.file("pred.xyz"));
    REQUIRE(pred.size() == 20);
    CHECK(std::stod(*pred[0].find_info("energy_uncertainty")) > 0);
    REQUIRE(pred[0].find_array("forces_uncertainty"));

    // with a validation set: its metrics are reported, nothing is calibrated on it
    write_text(dir.file("lapv.toml"), llpr_options("model.ckpt", "uncertainty_method = \"laplace\"\n"));
    RunResult rv = run_cli("train lapv.toml -o lapv.ckpt --run-dir lapv_run", dir.str());
    INFO(rv.output);
    REQUIRE(rv.status == 0);
    CHECK_THAT(rv.output, Catch::Contains("validation: energy_nll"));

    // a bad value: one line naming the key, nothing written
    write_text(dir.file("bad.toml"), llpr_options("model.ckpt", "uncertainty_method = \"bayes\"\n"));
    RunResult b = run_cli("train bad.toml -o bad.ckpt --run-dir bad_run", dir.str());
    CHECK(b.status != 0);
    CHECK(b.lines().size() == 1);
    CHECK_THAT(b.output, Catch::Contains("architecture.training.uncertainty_method"));
    CHECK_FALSE(fs::exists(dir.file("bad_run")));
    CHECK_FALSE(fs::exists(dir.file("bad.ckpt")));
}
