// soap_bpnn training options (strict schema), the trainer loop (nn/bpnn/trainer), and the
// commands `atomgrad train` (architecture.name = "soap_bpnn") and `atomgrad eval MODEL STRUCTURES.xyz`.
// Tiny models (cutoff 4, l_max 2, n_max 2, one hidden layer of 8) on 20 ethanol frames keep each
// case well under a second.
#include <catch2/catch.hpp>

#include <cmath>

#include "cli/bpnn_options.hpp"
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
    CHECK(o.settings.weights.energy == 1.0);
    CHECK(o.settings.weights.forces == 0.0);  // forces = false
    CHECK(o.train_path == "d.xyz");
    CHECK(o.validation.kind == cli::DataSource::Kind::fraction);
    CHECK(o.validation.fraction == 0.2);
    cli::BpnnTrainOptions f = parse(bpnn_options("d.xyz", 1, 1, "test_set = \"t.xyz\"\n"));
    CHECK(f.test.kind == cli::DataSource::Kind::file);
    CHECK(f.test.path == "t.xyz");
    CHECK(f.settings.weights.forces == 1.0);
    CHECK(nn::bpnn::TrainerSettings{}.batch_size == 8);
}

TEST_CASE("bpnn_options: unknown keys, wrong types and bad values are errors", "[cli][bpnn_options]") {
    REQUIRE_THROWS_WITH(parse(bpnn_options() + "num_epoch = 3\n"),
                        Catch::Contains("unknown key 'training_set.targets.energy.num_epoch'") &&
                            Catch::Contains("known keys here: forces, key, stress, unit"));
    REQUIRE_THROWS_WITH(parse(bpnn_options("d.xyz", 1, 1, "", "forces = \"yes\"\n")),
                        Catch::Contains("options.toml:") &&
                            Catch::Contains("'training_set.targets.energy.forces' expected true or false, got a string"));
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
    // the kept model is the best epoch's: its validation loss is the smallest of the history
    nn::bpnn::SplitMetrics best = nn::bpnn::evaluate(*m.model, m.composition, m.scaler, val, tiny_settings());
    double min_val = 1e300;
    for (const auto& h : m.history) min_val = std::min(min_val, h.val.loss);
    CHECK(best.loss == Approx(min_val).epsilon(1e-9));  // same parameters, same batches
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
    CHECK(listing(dir.file("run")) == std::set<std::string>{"model.ckpt", "options.toml", "train.csv", "train.log"});
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
