// soap_bpnn training options (strict schema), the trainer loop (nn/bpnn/trainer), and the
// commands `atomgrad train` (architecture.name = "soap_bpnn") and `atomgrad eval MODEL STRUCTURES.xyz`;
// metatrain's target / loss / trainer keys, best_model_metric, --restart (byte-identical) and --init.
// Tiny models (cutoff 4, l_max 2, n_max 2, one hidden layer of 8) on 20 ethanol frames keep each
// case well under a second.
#include <catch2/catch.hpp>

#include <cmath>

#include "cli/bpnn_options.hpp"
#include "cli/train_bpnn.hpp"
#include "nn/checkpoint.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/bpnn/trainer.hpp"
#include "nn/json.hpp"
#include "tests/cli/cli_helpers.hpp"

using namespace cli_testing;

namespace {

std::string bpnn_options(const std::string& data = "data.xyz", long epochs = 3, long batch_size = 4,
                         const std::string& extra_top = "", const std::string& extra_energy = "") {
    std::ostringstream os;
    os << "seed = 1\nvalidation_set = 0.2\n" << extra_top << "\n[architecture]\nname = \"soap_bpnn\"\n"
       << "[architecture.model.soap]\ncutoff = 4.0\nmax_angular = 2\nmax_radial = 2\n"
       << "[architecture.model.bpnn]\nnum_hidden_layers = 1\nnum_neurons_per_layer = 8\n"
       << "[architecture.training]\nnum_epochs = " << epochs << "\nbatch_size = " << batch_size
       << "\nlearning_rate = 0.01\n"
       << "[training_set.systems]\nread_from = \"" << data << "\"\n"
       << "[training_set.targets.energy]\nkey = \"energy\"\nunit = \"eV\"\n" << extra_energy;
    return os.str();
}

cli::BpnnTrainOptions parse(const std::string& text) {
    return cli::parse_bpnn_options(cli::Options::from_string(text, "options.toml"));
}

nn::bpnn::TrainerSettings tiny_settings() {
    nn::bpnn::TrainerSettings s;
    s.hypers.cutoff = 4.0;
    s.hypers.max_angular = 2;
    s.hypers.max_radial = 2;
    s.hypers.num_hidden_layers = 1;
    s.hypers.num_neurons_per_layer = 8;
    s.num_epochs = 8;
    s.batch_size = 4;
    s.learning_rate = 0.01;
    s.seed = 1;
    return s;
}

}  // namespace

TEST_CASE("bpnn_options: defaults and values", "[cli][bpnn_options]") {
    cli::BpnnTrainOptions o = parse(bpnn_options("d.xyz", 7, 2, "", "forces = false\n"));
    CHECK(o.settings.num_epochs == 7);
    CHECK(o.settings.batch_size == 2);
    CHECK(o.settings.learning_rate == 0.01);
    CHECK(o.settings.warmup_fraction == 0.01);
    CHECK(o.settings.hypers.cutoff == 4.0);
    CHECK(o.settings.hypers.cutoff_width == 0.5);
    CHECK(o.settings.hypers.num_neurons_per_layer == 8);
    CHECK(o.settings.loss.energy.weight == 1.0);
    CHECK(o.settings.forces_key.empty());  // forces = false
    CHECK(o.train_path == "d.xyz");
    CHECK(o.validation.kind == cli::DataSource::Kind::fraction);
    CHECK(o.validation.fraction == 0.2);
    cli::BpnnTrainOptions f = parse(bpnn_options("d.xyz", 1, 1, "test_set = \"t.xyz\"\n"));
    CHECK(f.test.kind == cli::DataSource::Kind::file);
    CHECK(f.test.path == "t.xyz");
    CHECK(f.settings.forces_key == "forces");
    // metatrain's trainer defaults
    const nn::bpnn::TrainerSettings& d = f.settings;
    CHECK(d.best_model_metric == nn::bpnn::BestModelMetric::rmse_prod);
    CHECK_FALSE(d.log_mae);
    CHECK_FALSE(d.log_separate_blocks);
    CHECK(d.scale_targets);
    CHECK(d.remove_composition_contribution);
    CHECK_FALSE(d.loss.per_structure);
    CHECK(d.fixed_composition_weights.empty());
    CHECK_FALSE(d.fixed_scaling_weight.has_value());
    CHECK(f.log_interval == 5);
    CHECK(f.checkpoint_interval == 25);
    for (const nn::bpnn::LossTerm* term : {&d.loss.energy, &d.loss.forces, &d.loss.strain}) {
        CHECK(term->type == nn::bpnn::LossType::mse);
        CHECK(term->weight == 1.0);
        CHECK(term->reduction == nn::bpnn::Reduction::mean);
    }
    CHECK(d.stress_key.empty());
    CHECK(d.virial_key.empty());
    CHECK(nn::bpnn::TrainerSettings{}.batch_size == 8);
    CHECK_FALSE(d.hypers.zbl);  // metatrain's default
    std::string with_zbl = bpnn_options();
    with_zbl = replace(with_zbl, "[architecture.model.bpnn]", "[architecture.model]\nzbl = true\n[architecture.model.bpnn]");
    CHECK(parse(with_zbl).settings.hypers.zbl);
    REQUIRE_THROWS_WITH(parse(replace(with_zbl, "zbl = true", "zbl = 1")),
                        Catch::Contains("architecture.model.zbl"));
}

TEST_CASE("bpnn_options: unknown keys, wrong types and bad values are errors", "[cli][bpnn_options]") {
    REQUIRE_THROWS_WITH(parse(bpnn_options() + "num_epoch = 3\n"),
                        Catch::Contains("unknown key 'training_set.targets.energy.num_epoch'") &&
                            Catch::Contains("known keys here: forces, key, quantity, read_from, stress, unit, virial"));
    REQUIRE_THROWS_WITH(parse(bpnn_options("d.xyz", 1, 1, "", "forces = 3\n")),
                        Catch::Contains("options.toml:") &&
                            Catch::Contains("'training_set.targets.energy.forces' expected true, false, a string or a "
                                            "table, got an integer"));
    REQUIRE_THROWS_WITH(parse(bpnn_options("d.xyz", 1, 1, "", "unit = \"kcal/mol\"\n")),
                        Catch::Contains("unit"));
    REQUIRE_THROWS_WITH(parse(bpnn_options("d.xyz", 0, 1)), Catch::Contains("num_epochs' expected >= 1, got 0"));
    REQUIRE_THROWS_WITH(parse(bpnn_options("d.xyz", 1, 1, "validation_set = 1.5\n")), Catch::Contains("validation_set"));
    std::string no_train = bpnn_options();
    no_train.replace(no_train.find("read_from"), 9, "read_fro");
    REQUIRE_THROWS_WITH(parse(no_train), Catch::Contains("unknown key 'training_set.systems.read_fro'"));
}

TEST_CASE("bpnn trainer: the loss falls on 20 ethanol frames", "[nn][bpnn][trainer]") {
    std::vector<desc::System> frames = desc::read_extxyz(repo_file("tests/data/ethanol-xtb-20.xyz"));
    REQUIRE(frames.size() == 20);
    std::vector<desc::System> train(frames.begin(), frames.begin() + 16), val(frames.begin() + 16, frames.end());
    nn::bpnn::TrainedModel m = nn::bpnn::train_soap_bpnn(train, val, tiny_settings());
    REQUIRE(m.history.size() == 8);
    CHECK(m.history.back().train.loss < 0.9 * m.history.front().train.loss);
    CHECK(m.best_epoch >= 1);
    CHECK(std::isfinite(m.history.back().val.forces_rmse));
    // the kept model is the best epoch's: its rmse_prod (the default metric) is the smallest of the history
    nn::bpnn::SplitMetrics best = nn::bpnn::evaluate(*m.model, m.composition, m.scaler, val, tiny_settings());
    const auto rmse_prod = nn::bpnn::BestModelMetric::rmse_prod;
    double min_val = 1e300;
    for (const auto& h : m.history) min_val = std::min(min_val, nn::bpnn::selected_metric(h.val, rmse_prod));
    CHECK(nn::bpnn::selected_metric(best, rmse_prod) == Approx(min_val).epsilon(1e-9));  // same parameters, same batches
    CHECK(m.best_epoch == nn::bpnn::best_epoch_of(m.history, rmse_prod));
}

TEST_CASE("bpnn trainer: bad input errors", "[nn][bpnn][trainer]") {
    std::vector<desc::System> frames = desc::read_extxyz(repo_file("tests/data/ethanol-xtb-5.xyz"));
    nn::bpnn::TrainerSettings s = tiny_settings();
    s.batch_size = 6;
    REQUIRE_THROWS_WITH(nn::bpnn::train_soap_bpnn(frames, {}, s), Catch::Contains("batch_size: expected 1 .. 5"));
    frames[2].erase_info("energy");
    s.batch_size = 2;
    REQUIRE_THROWS_WITH(nn::bpnn::train_soap_bpnn(frames, {}, s),
                        Catch::Contains("frame 2") && Catch::Contains("energy key 'energy'"));

    // stress asked for: every periodic frame must have it
    std::vector<desc::System> cells = desc::read_extxyz(repo_file("tests/data/cu-emt-6.xyz"));
    REQUIRE(cells[3].any_pbc());
    cells[3].erase_info("stress");
    s.stress_key = "stress";
    REQUIRE_THROWS_WITH(nn::bpnn::train_soap_bpnn(cells, {}, s),
                        Catch::Contains("frame 3") && Catch::Contains("stress key 'stress'") &&
                            Catch::Contains("set stress = false"));
}

TEST_CASE("bpnn cli: train writes the run folder, eval writes predictions and metrics", "[cli][bpnn_cli]") {
    TempDir dir;
    copy_to(repo_file("tests/data/ethanol-xtb-20.xyz"), dir.file("data.xyz"));
    write_text(dir.file("options.toml"), bpnn_options());
    RunResult r = run_cli("train options.toml -o model.ckpt --run-dir run", dir.str());
    INFO(r.output);
    REQUIRE(r.status == 0);
    CHECK_THAT(r.output, Catch::Contains("Epoch    3, train loss:") && Catch::Contains("train energy RMSE (per atom):") &&
                             Catch::Contains("meV/A") && Catch::Contains("validation forces RMSE"));
    CHECK(listing(dir.file("run")) ==
          std::set<std::string>{"model.ckpt", "options.toml", "options_restart.toml", "train.csv", "train.log"});
    CHECK(lines_of(read_text(dir.file("run/train.csv"))).size() == 4);  // header + 3 epochs
    REQUIRE(fs::exists(dir.file("model.ckpt")));

    RunResult e = run_cli("eval model.ckpt data.xyz -o pred.xyz --json", dir.str());
    INFO(e.output);
    REQUIRE(e.status == 0);
    nn::Json j = nn::Json::parse(e.output);
    for (const char* key : {"energy_rmse_per_atom", "energy_mae_per_atom", "forces_rmse", "forces_mae", "atoms_per_second"})
        CHECK(j[key].as_number() > 0);
    CHECK(j["n_atoms"].as_number() == 180);
    std::vector<desc::System> in = desc::read_extxyz(dir.file("data.xyz"));
    std::vector<desc::System> pred = desc::read_extxyz(dir.file("pred.xyz"));
    REQUIRE(pred.size() == 20);
    CHECK(pred[0].find_info("config_type"));              // extra keys kept
    CHECK(*pred[0].energy() != *in[0].energy());          // predicted energy written
    CHECK(pred[0].require_forces().shape() == ad::Shape{9, 3});

    // the same metrics, by hand, from the written predictions
    double sq = 0;
    for (size_t k = 0; k < 20; ++k) {
        const double d = (*pred[k].energy() - *in[k].energy()) / 9.0;
        sq += d * d;
    }
    CHECK(j["energy_rmse_per_atom"].as_number() == Approx(std::sqrt(sq / 20)).epsilon(1e-9));
}

TEST_CASE("bpnn cli: bad input is one line, non-zero exit, no output", "[cli][bpnn_cli]") {
    TempDir dir;
    std::string text = read_text(repo_file("tests/data/ethanol-xtb-5.xyz"));
    write_text(dir.file("data.xyz"), text);
    // batch larger than the training split (5 frames, 1 for validation)
    write_text(dir.file("big.toml"), bpnn_options("data.xyz", 1, 8));
    RunResult r = run_cli("train big.toml -o model.ckpt --run-dir run", dir.str());
    CHECK(r.status != 0);
    CHECK(r.lines().size() == 1);
    CHECK_THAT(r.output, Catch::Contains("batch_size: expected at most 4"));
    // a frame without the energy key, named
    std::string no_energy = text;
    const size_t second = no_energy.find("energy=", no_energy.find("energy=") + 1);
    no_energy.replace(second, 7, "energX=");
    write_text(dir.file("bad.xyz"), no_energy);
    write_text(dir.file("bad.toml"), bpnn_options("bad.xyz", 1, 2));
    r = run_cli("train bad.toml -o model.ckpt --run-dir run", dir.str());
    CHECK(r.status != 0);
    CHECK(r.lines().size() == 1);
    CHECK_THAT(r.output, Catch::Contains("bad.xyz frame 1") && Catch::Contains("'energy'"));
    CHECK_FALSE(fs::exists(dir.file("run")));
    CHECK_FALSE(fs::exists(dir.file("model.ckpt")));
    // unknown key
    write_text(dir.file("typo.toml"), bpnn_options("data.xyz", 1, 2, "", "forcess = true\n"));
    r = run_cli("train typo.toml --run-dir run", dir.str());
    CHECK(r.status != 0);
    CHECK_THAT(r.output, Catch::Contains("unknown key 'training_set.targets.energy.forcess'"));

    // eval on an element the model does not know
    write_text(dir.file("ok.toml"), bpnn_options("data.xyz", 1, 2));
    REQUIRE(run_cli("train ok.toml -o model.ckpt --run-dir run", dir.str()).status == 0);
    copy_to(repo_file("tests/data/cu_fcc4.xyz"), dir.file("cu.xyz"));
    r = run_cli("eval model.ckpt cu.xyz -o cu_pred.xyz --json", dir.str());
    CHECK(r.status != 0);
    CHECK(r.lines().size() == 1);
    CHECK_THAT(r.output, Catch::Contains("cu.xyz frame 0") && Catch::Contains("got Cu (Z = 29)"));
    CHECK_FALSE(fs::exists(dir.file("cu_pred.xyz")));
}

TEST_CASE("bpnn cli: periodic frames get stress predictions and stress metrics", "[cli][bpnn_cli]") {
    TempDir dir;
    copy_to(repo_file("tests/data/cu-emt-6.xyz"), dir.file("cu.xyz"));
    write_text(dir.file("cu.toml"),
               bpnn_options("cu.xyz", 1, 2, "", "stress = true\n[architecture.training.loss_weights]\nstress = 1.0\n"));
    RunResult r = run_cli("train cu.toml -o cu.ckpt --run-dir run", dir.str());
    INFO(r.output);
    REQUIRE(r.status == 0);
    RunResult e = run_cli("eval cu.ckpt cu.xyz -o pred.xyz --json", dir.str());
    INFO(e.output);
    REQUIRE(e.status == 0);
    nn::Json j = nn::Json::parse(e.output);
    CHECK(j["stress_rmse"].as_number() > 0);
    CHECK(j["stress_mae"].as_number() > 0);
    std::vector<desc::System> pred = desc::read_extxyz(dir.file("pred.xyz"));
    REQUIRE(pred.size() == 6);
    CHECK(pred[0].require_stress().shape() == ad::Shape{3, 3});
}

// ---------------------------------------------------------------------------- metatrain's options

TEST_CASE("bpnn_options: target gradients as booleans, keys or tables; errors", "[cli][bpnn][bpnn_options]") {
    cli::BpnnTrainOptions a = parse(bpnn_options("d.xyz", 1, 1, "", "forces = \"dft_forces\"\nvirial = true\n"));
    CHECK(a.settings.forces_key == "dft_forces");
    CHECK(a.settings.virial_key == "virial");
    CHECK(a.settings.stress_key.empty());
    cli::BpnnTrainOptions b = parse(bpnn_options(
        "d.xyz", 1, 1, "", "quantity = \"energy\"\nread_from = \"d.xyz\"\nforces = {key = \"f2\", read_from = \"./d.xyz\"}\n"
                           "stress = {key = \"s2\"}\n"));
    CHECK(b.settings.forces_key == "f2");
    CHECK(b.settings.stress_key == "s2");
    CHECK(parse(bpnn_options("d.xyz", 1, 1, "", "stress = false\nforces = {}\n")).settings.forces_key == "forces");
    // metatrain's short form of the systems
    CHECK(parse(replace(bpnn_options("d.xyz"), "[training_set.systems]\nread_from = \"d.xyz\"\n",
                        "[training_set]\nsystems = \"s.xyz\"\n")).train_path == "s.xyz");
    REQUIRE_THROWS_WITH(parse(bpnn_options("d.xyz", 1, 1, "", "forces = {key = \"f\", read_from = \"other.xyz\"}\n")),
                        Catch::Contains("options.toml:") &&
                            Catch::Contains("'training_set.targets.energy.forces.read_from' expected the systems file "
                                            "'d.xyz' (targets from other files are not supported), got 'other.xyz'"));
    REQUIRE_THROWS_WITH(parse(bpnn_options("d.xyz", 1, 1, "", "stress = true\nvirial = true\n")),
                        Catch::Contains("'training_set.targets.energy.virial' expected false when stress is used"));
    REQUIRE_THROWS_WITH(parse(bpnn_options("d.xyz", 1, 1, "", "quantity = \"dipole\"\n")),
                        Catch::Contains("'training_set.targets.energy.quantity' expected one of energy, got 'dipole'"));
    REQUIRE_THROWS_WITH(parse(bpnn_options("d.xyz", 1, 1, "", "forces = {name = \"f\"}\n")),
                        Catch::Contains("unknown key 'training_set.targets.energy.forces.name'"));
}

TEST_CASE("bpnn_options: the loss table in metatrain's layouts, the legacy weights, errors", "[cli][bpnn][bpnn_options]") {
    using nn::bpnn::LossType;
    using nn::bpnn::Reduction;
    auto with_loss = [](const std::string& table) { return parse(bpnn_options() + table); };
    // global shorthand
    nn::bpnn::LossConfig g = parse(bpnn_options()).settings.loss;  // (no loss: defaults)
    CHECK(g.energy.type == LossType::mse);
    std::string text = bpnn_options();
    text = replace(text, "learning_rate = 0.01\n", "learning_rate = 0.01\nloss = \"mae\"\n");
    g = parse(text).settings.loss;
    CHECK((g.energy.type == LossType::mae && g.forces.type == LossType::mae && g.strain.type == LossType::mae));
    // per target, with gradients nested under the target
    nn::bpnn::LossConfig c = with_loss(
        "[architecture.training.loss.energy]\ntype = \"huber\"\ndelta = 0.1\nweight = 2.0\nreduction = \"sum\"\n"
        "forces = \"mae\"\n[architecture.training.loss.energy.stress]\ntype = \"mse\"\nweight = 0.5\n").settings.loss;
    CHECK(c.energy.type == LossType::huber);
    CHECK(c.energy.delta == 0.1);
    CHECK(c.energy.weight == 2.0);
    CHECK(c.energy.reduction == Reduction::sum);
    CHECK(c.forces.type == LossType::mae);
    CHECK(c.forces.weight == 1.0);
    CHECK(c.strain.weight == 0.5);
    // the internal "gradients" form
    c = with_loss("[architecture.training.loss.energy.gradients.positions]\nweight = 10.0\n"
                  "[architecture.training.loss.energy.gradients.strain]\ntype = \"huber\"\n").settings.loss;
    CHECK(c.forces.weight == 10.0);
    CHECK(c.strain.type == LossType::huber);
    CHECK(c.strain.delta == 1.0);  // metatrain's default delta
    // legacy loss_weights: weights of the same three terms
    c = with_loss("[architecture.training.loss_weights]\nenergy = 3.0\nforces = 0.5\nstress = 2.0\n").settings.loss;
    CHECK((c.energy.weight == 3.0 && c.forces.weight == 0.5 && c.strain.weight == 2.0));
    // errors: one line each, naming file:line and the key
    REQUIRE_THROWS_WITH(with_loss("[architecture.training.loss.energy]\ntype = \"l2\"\n"),
                        Catch::Contains("options.toml:") &&
                            Catch::Contains("'architecture.training.loss.energy.type' expected one of mse, mae, huber, got 'l2'"));
    REQUIRE_THROWS_WITH(with_loss("[architecture.training.loss.energy]\nreduction = \"none\"\n"),
                        Catch::Contains("'architecture.training.loss.energy.reduction' expected one of mean, sum, got 'none'"));
    REQUIRE_THROWS_WITH(with_loss("[architecture.training.loss.energy]\nweight = -1.0\n"),
                        Catch::Contains("'architecture.training.loss.energy.weight' expected >= 0, got -1"));
    REQUIRE_THROWS_WITH(with_loss("[architecture.training.loss.energy]\ndelta = 0.5\n"),
                        Catch::Contains("'architecture.training.loss.energy.delta' expected only with type = \"huber\""));
    REQUIRE_THROWS_WITH(with_loss("[architecture.training.loss.energy]\ntype = \"huber\"\ndelta = 0.0\n"),
                        Catch::Contains("'architecture.training.loss.energy.delta' expected > 0, got 0"));
    REQUIRE_THROWS_WITH(with_loss("[architecture.training.loss.energy]\nforces = \"mae\"\n"
                                  "[architecture.training.loss.energy.gradients.positions]\nweight = 2.0\n"),
                        Catch::Contains("expected once, got it also as 'architecture.training.loss.energy.forces'"));
    REQUIRE_THROWS_WITH(with_loss("[architecture.training.loss.dipole]\ntype = \"mse\"\n"),
                        Catch::Contains("unknown key 'architecture.training.loss.dipole'; known keys here: energy, "
                                        "forces, stress, virial"));
    REQUIRE_THROWS_WITH(with_loss("[architecture.training.loss.energy]\nweight = 1.0\n"
                                  "[architecture.training.loss_weights]\nenergy = 1.0\n"),
                        Catch::Contains("'architecture.training.loss_weights' expected alone") &&
                            Catch::Contains("[architecture.training.loss.energy] weight"));
}

TEST_CASE("bpnn_options: trainer keys, fixed weights, round trip through to_toml; errors", "[cli][bpnn][bpnn_options]") {
    const std::string training =
        "[architecture.training]\nnum_epochs = 2\nbatch_size = 2\nlearning_rate = 0.01\nper_structure_targets = "
        "[\"energy\"]\nlog_mae = true\nlog_separate_blocks = true\nbest_model_metric = \"mae_prod\"\n"
        "[architecture.training.fixed_scaling_weights]\nenergy = 2.5\n"
        "[architecture.training.fixed_composition_weights.energy]\n1 = -13.5\n8 = -2040.25\n";
    std::string text = bpnn_options();
    text = text.substr(0, text.find("[architecture.training]")) + training +
           text.substr(text.find("[training_set.systems]"));
    cli::BpnnTrainOptions o = parse(text);
    const nn::bpnn::TrainerSettings& s = o.settings;
    CHECK(s.loss.per_structure);
    CHECK(s.log_mae);
    CHECK(s.log_separate_blocks);
    CHECK(s.best_model_metric == nn::bpnn::BestModelMetric::mae_prod);
    CHECK(s.fixed_scaling_weight == 2.5);
    CHECK(s.fixed_composition_weights == std::map<int, double>{{1, -13.5}, {8, -2040.25}});
    // the expanded options read back to the same options
    cli::BpnnTrainOptions back = cli::parse_bpnn_options(cli::Options::from_string(o.to_toml(), "expanded.toml"));
    CHECK(back.to_toml() == o.to_toml());
    CHECK(back.settings.fixed_composition_weights == s.fixed_composition_weights);
    CHECK(back.validation.fraction == 0.2);
    CHECK(parse(bpnn_options()).to_toml() ==
          cli::parse_bpnn_options(cli::Options::from_string(parse(bpnn_options()).to_toml(), "e.toml")).to_toml());

    auto bad = [&](const std::string& from, const std::string& to) { return parse(replace(text, from, to)); };
    REQUIRE_THROWS_WITH(bad("best_model_metric = \"mae_prod\"", "best_model_metric = \"rmse\""),
                        Catch::Contains("'architecture.training.best_model_metric' expected one of rmse_prod, mae_prod, "
                                        "loss, got 'rmse'"));
    REQUIRE_THROWS_WITH(bad("[\"energy\"]", "[\"forces\"]"),
                        Catch::Contains("'architecture.training.per_structure_targets' expected one of energy, got 'forces'"));
    REQUIRE_THROWS_WITH(bad("1 = -13.5", "H = -13.5"),
                        Catch::Contains("options.toml:") &&
                            Catch::Contains("'architecture.training.fixed_composition_weights.energy.H' expected an "
                                            "atomic number (1 .. 118) as the key, got 'H'"));
    REQUIRE_THROWS_WITH(bad("1 = -13.5", "1 = \"x\""),
                        Catch::Contains("'architecture.training.fixed_composition_weights.energy.1' expected a number, got a string"));
    REQUIRE_THROWS_WITH(bad("energy = 2.5", "energy = -1.0"),
                        Catch::Contains("'architecture.training.fixed_scaling_weights.energy' expected > 0, got -1"));
    REQUIRE_THROWS_WITH(bad("log_mae = true", "log_mae = true\nscale_targets = false"),
                        Catch::Contains("'architecture.training.fixed_scaling_weights.energy' expected scale_targets = true"));
    REQUIRE_THROWS_WITH(bad("log_mae = true", "log_mae = true\nremove_composition_contribution = false"),
                        Catch::Contains("'architecture.training.fixed_composition_weights.energy' expected "
                                        "remove_composition_contribution = true"));
    REQUIRE_THROWS_WITH(bad("log_mae = true", "log_mae = 1"),
                        Catch::Contains("'architecture.training.log_mae' expected true or false, got an integer"));
}

TEST_CASE("bpnn trainer: scale_targets, fixed scaling and composition weights, no composition", "[nn][bpnn][trainer]") {
    std::vector<desc::System> frames = desc::read_extxyz(repo_file("tests/data/ethanol-xtb-5.xyz"));
    nn::bpnn::TrainerSettings s = tiny_settings();
    s.num_epochs = 1;
    s.batch_size = 5;
    s.forces_key = "";  // energies only: fast
    nn::bpnn::TrainedModel fitted = nn::bpnn::train_soap_bpnn(frames, {}, s);
    CHECK(fitted.scaler.scale != 1.0);
    s.scale_targets = false;
    CHECK(nn::bpnn::train_soap_bpnn(frames, {}, s).scaler.scale == 1.0);
    s.scale_targets = true;
    s.fixed_scaling_weight = 0.125;
    CHECK(nn::bpnn::train_soap_bpnn(frames, {}, s).scaler.scale == 0.125);
    s.fixed_scaling_weight.reset();
    s.fixed_composition_weights = {{1, -10.5}};
    nn::bpnn::TrainedModel fixed = nn::bpnn::train_soap_bpnn(frames, {}, s);
    CHECK(fixed.composition.weights.at(1) == -10.5);  // verbatim
    CHECK(fixed.composition.weights.at(6) != fitted.composition.weights.at(6));
    s.fixed_composition_weights.clear();
    s.remove_composition_contribution = false;
    nn::bpnn::TrainedModel none = nn::bpnn::train_soap_bpnn(frames, {}, s);
    for (int Z : {1, 6, 8}) CHECK(none.composition.weights.at(Z) == 0.0);
    // the scale is then the RMS of the raw energies
    double y2 = 0;
    for (const auto& f : frames) y2 += f.require_energy() * f.require_energy();
    CHECK(none.scaler.scale == Approx(std::sqrt(y2 / 5)).epsilon(1e-12));
}

TEST_CASE("bpnn trainer: per_structure_targets reports per-structure metrics", "[nn][bpnn][trainer]") {
    std::vector<desc::System> frames = desc::read_extxyz(repo_file("tests/data/ethanol-xtb-5.xyz"));
    nn::bpnn::TrainerSettings s = tiny_settings();
    s.num_epochs = 1;
    s.batch_size = 5;
    nn::bpnn::TrainedModel m = nn::bpnn::train_soap_bpnn(frames, {}, s);
    nn::bpnn::SplitMetrics per_atom = nn::bpnn::evaluate(*m.model, m.composition, m.scaler, frames, s);
    s.loss.per_structure = true;
    nn::bpnn::SplitMetrics per_structure = nn::bpnn::evaluate(*m.model, m.composition, m.scaler, frames, s);
    // every ethanol frame has 9 atoms: energy errors 9x, forces unchanged, loss on E_s instead of E_s / 9
    CHECK(per_structure.energy_rmse_per_atom == Approx(9 * per_atom.energy_rmse_per_atom).epsilon(1e-12));
    CHECK(per_structure.energy_mae_per_atom == Approx(9 * per_atom.energy_mae_per_atom).epsilon(1e-12));
    CHECK(per_structure.forces_rmse == per_atom.forces_rmse);
    CHECK(per_structure.loss > per_atom.loss);
}

TEST_CASE("bpnn trainer: best_model_metric picks the epoch metatrain would", "[nn][bpnn][trainer]") {
    // epoch:           1      2      3
    // energy RMSE      1.0    0.5    0.8
    // forces RMSE      1.0    3.0    1.0      rmse_prod: 1.0, 1.5, 0.8  -> epoch 3
    // energy MAE       0.5    0.2    0.4
    // forces MAE       0.5    1.0    0.5      mae_prod:  0.25, 0.2, 0.2 -> epoch 2 (first minimum)
    // loss             2.0    1.0    3.0      loss -> epoch 2
    std::vector<nn::bpnn::EpochLog> history(3);
    const double e_rmse[] = {1.0, 0.5, 0.8}, f_rmse[] = {1.0, 3.0, 1.0}, e_mae[] = {0.5, 0.2, 0.4},
                 f_mae[] = {0.5, 1.0, 0.5}, loss[] = {2.0, 1.0, 3.0};
    for (int k = 0; k < 3; ++k) {
        nn::bpnn::EpochLog& l = history[static_cast<size_t>(k)];
        l.epoch = k + 1;
        l.have_val = true;
        l.val = {loss[k], e_rmse[k], e_mae[k], f_rmse[k], f_mae[k], std::nan(""), std::nan("")};
        l.train = {0.0, 9.0, 9.0, 9.0, 9.0, std::nan(""), std::nan("")};  // ignored: there is a validation set
    }
    CHECK(nn::bpnn::best_epoch_of(history, nn::bpnn::BestModelMetric::rmse_prod) == 3);
    CHECK(nn::bpnn::best_epoch_of(history, nn::bpnn::BestModelMetric::mae_prod) == 2);
    CHECK(nn::bpnn::best_epoch_of(history, nn::bpnn::BestModelMetric::loss) == 2);
    // a strain (stress / virial) RMSE joins the product
    history[2].val.strain_rmse_per_atom = 2.0;  // epoch 3: 1.6
    CHECK(nn::bpnn::best_epoch_of(history, nn::bpnn::BestModelMetric::rmse_prod) == 1);
    // without a validation set, the training metrics decide
    for (auto& l : history) l.have_val = false;
    history[1].train.energy_rmse_per_atom = 1.0;
    CHECK(nn::bpnn::best_epoch_of(history, nn::bpnn::BestModelMetric::rmse_prod) == 2);
}

TEST_CASE("bpnn trainer: log lines with log_mae, log_separate_blocks, per_structure_targets", "[cli][bpnn][trainer]") {
    nn::bpnn::EpochLog l;
    l.epoch = 3;
    l.train = {1.5, 0.002, 0.001, 0.03, 0.02, std::nan(""), std::nan("")};
    nn::bpnn::TrainerSettings s;
    std::string line = cli::bpnn_log_line(l, s);
    CHECK_THAT(line, Catch::StartsWith("Epoch    3, train loss: 1.5000e+00, train energy RMSE (per atom): 2.00 meV, "
                                       "train forces RMSE: 30.00 meV/A, lr:"));
    s.log_mae = true;
    s.log_separate_blocks = true;  // energy has one block: only the name changes, as metatrain's "energy (_=0)"
    s.loss.per_structure = true;
    line = cli::bpnn_log_line(l, s);
    CHECK_THAT(line, Catch::Contains("train energy (_=0) RMSE: 2.00 meV, train energy (_=0) MAE: 1.00 meV, "
                                     "train forces RMSE: 30.00 meV/A, train forces MAE: 20.00 meV/A"));
}

TEST_CASE("bpnn cli: --restart continues byte for byte, --init starts from given weights, options_restart.toml",
          "[cli][bpnn][bpnn_cli]") {
    TempDir dir;
    copy_to(repo_file("tests/data/ethanol-xtb-5.xyz"), dir.file("data.xyz"));
    // 4 training frames in batches of 2, energies and forces; checkpoints every 2 epochs
    std::string opts = replace(bpnn_options("data.xyz", 4, 2), "learning_rate = 0.01\n",
                               "learning_rate = 0.01\ncheckpoint_interval = 2\n");
    write_text(dir.file("options.toml"), opts);
    RunResult full = run_cli("train options.toml -o full.ckpt --run-dir run", dir.str());
    INFO(full.output);
    REQUIRE(full.status == 0);
    CHECK(listing(dir.file("run/checkpoints")) == std::set<std::string>{"epoch_2.ckpt", "epoch_4.ckpt"});

    // restart from epoch 2 in another folder: the same final bytes (best model, and the state after epoch 4)
    RunResult resumed = run_cli("train options.toml -o resumed.ckpt --run-dir run2 --restart run/checkpoints/epoch_2.ckpt",
                                dir.str());
    INFO(resumed.output);
    REQUIRE(resumed.status == 0);
    CHECK_THAT(resumed.output, Catch::Contains("restarting after epoch 2") && Catch::Contains("Epoch    4"));
    CHECK_FALSE(resumed.output.find("Epoch    1") != std::string::npos);
    CHECK(read_text(dir.file("resumed.ckpt")) == read_text(dir.file("full.ckpt")));
    CHECK(read_text(dir.file("run2/checkpoints/epoch_4.ckpt")) == read_text(dir.file("run/checkpoints/epoch_4.ckpt")));

    // restarting into the run's own folder keeps its log rows up to the checkpoint: one row per epoch
    const std::string full_csv = read_text(dir.file("run/train.csv"));
    REQUIRE(run_cli("train options.toml -o again.ckpt --run-dir run --restart run/checkpoints/epoch_2.ckpt", dir.str())
                .status == 0);
    CHECK(read_text(dir.file("run/train.csv")) == full_csv);
    CHECK(lines_of(read_text(dir.file("run/train.log"))).size() == 4);
    CHECK(read_text(dir.file("again.ckpt")) == read_text(dir.file("full.ckpt")));

    // options_restart.toml: absolute paths, usable from anywhere, the same settings
    const std::string restart_text = read_text(dir.file("run/options_restart.toml"));
    CHECK_THAT(restart_text, Catch::Contains("read_from = \"" + fs::absolute(dir.file("data.xyz")).string() + "\""));
    cli::BpnnTrainOptions again = cli::read_bpnn_options(dir.file("run/options_restart.toml"));
    CHECK(again.settings.num_epochs == 4);
    CHECK(again.checkpoint_interval == 2);

    // --init: the weights of a model; with a negligible learning rate they stay as given
    write_text(dir.file("init.toml"), replace(opts, "learning_rate = 0.01\n", "learning_rate = 1e-30\n"));
    RunResult init = run_cli("train init.toml -o init.ckpt --run-dir run3 --init full.ckpt", dir.str());
    INFO(init.output);
    REQUIRE(init.status == 0);
    nn::Checkpoint given = nn::load_checkpoint(dir.file("full.ckpt"));
    nn::Checkpoint after = nn::load_checkpoint(dir.file("init.ckpt"));
    REQUIRE(given.tensors.size() == after.tensors.size());
    double max_diff = 0;
    for (size_t k = 0; k < given.tensors.size(); ++k)
        for (long i = 0; i < given.tensors[k].second.numel(); ++i)
            max_diff = std::max(max_diff, std::abs(given.tensors[k].second[i] - after.tensors[k].second[i]));
    CHECK(max_diff < 1e-20);  // Adam moves each weight by at most ~lr per step
    // a training checkpoint works for --init too (its current weights)
    CHECK(run_cli("train init.toml -o init2.ckpt --run-dir run4 --init run/checkpoints/epoch_2.ckpt", dir.str()).status == 0);

    // errors: one line, non-zero exit
    RunResult r = run_cli("train options.toml --run-dir run5 --restart full.ckpt", dir.str());
    CHECK(r.status != 0);
    CHECK(r.lines().size() == 1);
    CHECK_THAT(r.output, Catch::Contains("full.ckpt: expected a training checkpoint") && Catch::Contains("--init"));
    write_text(dir.file("wide.toml"), replace(opts, "num_neurons_per_layer = 8", "num_neurons_per_layer = 4"));
    r = run_cli("train wide.toml --run-dir run6 --restart run/checkpoints/epoch_2.ckpt", dir.str());
    CHECK(r.status != 0);
    CHECK_THAT(r.output, Catch::Contains("epoch_2.ckpt: expected the options' model hypers"));
    r = run_cli("train wide.toml --run-dir run7 --init full.ckpt", dir.str());
    CHECK(r.status != 0);
    CHECK(r.lines().size() == 1);
    CHECK_THAT(r.output, Catch::Contains("--init: expected a model with the options' hypers"));
    CHECK_FALSE(fs::exists(dir.file("run5")));
    CHECK_FALSE(fs::exists(dir.file("run6")));
}

TEST_CASE("bpnn trainer: zbl = true removes the ZBL terms from the targets and adds them to predictions",
          "[nn][bpnn][trainer][zbl]") {
    // Frames squeezed to 60 % so that C-H, O-H and C-O pairs fall inside r_cov(Z_i) + r_cov(Z_j),
    // where ZBL is not zero.
    std::vector<desc::System> frames = desc::read_extxyz(repo_file("tests/data/ethanol-xtb-5.xyz"));
    for (desc::System& f : frames)
        for (long k = 0; k < f.positions.numel(); ++k) f.positions.data()[k] *= 0.6;
    nn::bpnn::TrainerSettings s = tiny_settings();
    s.num_epochs = 1;
    s.batch_size = 5;
    s.hypers.zbl = true;
    nn::bpnn::TrainedModel trained = nn::bpnn::train_soap_bpnn(frames, {}, s);
    CHECK(trained.model->hypers().zbl);

    // the composition and the scale are fitted to E - E_ZBL
    std::vector<std::vector<int>> numbers;
    std::vector<double> rest;
    for (const desc::System& f : frames) {
        const double e_zbl = nn::bpnn::zbl(f).energy;
        REQUIRE(e_zbl > 1.0);  // eV: the squeeze makes the term matter
        numbers.push_back(f.numbers);
        rest.push_back(f.require_energy() - e_zbl);
    }
    const auto comp = nn::bpnn::CompositionModel::fit(numbers, rest, {1, 6, 8});
    for (int Z : {1, 6, 8}) CHECK(trained.composition.weights.at(Z) == Approx(comp.weights.at(Z)).epsilon(1e-12));
    CHECK(trained.scaler.scale == Approx(nn::bpnn::EnergyScaler::fit(comp.remove(numbers, rest)).scale).epsilon(1e-12));

    // predictions = those of the same weights without ZBL + the ZBL terms
    nn::bpnn::BpnnHypers h = trained.model->hypers();
    h.zbl = false;
    ad::Rng rng(0);
    nn::bpnn::SoapBpnn plain(h, trained.model->species(), rng);
    plain.load_state_dict(trained.model->state_dict());
    const auto with = nn::bpnn::predict_frames(*trained.model, trained.composition, trained.scaler, frames);
    const auto without = nn::bpnn::predict_frames(plain, trained.composition, trained.scaler, frames);
    const auto terms = nn::bpnn::zbl_baseline(frames);
    for (long k = 0; k < 5; ++k) CHECK(with.energies[k] - without.energies[k] == Approx(terms.energies[k]).epsilon(1e-12));
    for (long c = 0; c < terms.forces.numel(); ++c)
        CHECK(with.forces[c] - without.forces[c] == Approx(terms.forces[c]).epsilon(1e-10).margin(1e-10));

    // the flag travels with the checkpoint
    auto back = nn::bpnn::SoapBpnn::from_checkpoint(trained.model->to_checkpoint());
    CHECK(back->hypers().zbl);
}
