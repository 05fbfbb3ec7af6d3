// cli/atomistic_options: the common training options of atomistic architectures. soap_bpnn goes
// through them unchanged (its own tests are in test_bpnn_cli.cpp) and refuses the optional trainer
// keys it never had; the architecture table's errors. A toy architecture (tests/nn/atomistic/
// toy_model.hpp) added with one options entry trains, checkpoints and restarts through the CLI.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include "cli/atomistic_options.hpp"
#include "cli/bpnn_options.hpp"
#include "cli/train_bpnn.hpp"
#include "nn/atomistic/registry.hpp"
#include "tests/cli/cli_helpers.hpp"
#include "tests/helpers.hpp"
#include "tests/nn/atomistic/toy_model.hpp"

namespace {

std::string options(const std::string& training_extra = "") {
    std::ostringstream os;
    os << "seed = 2\n[architecture]\nname = \"soap_bpnn\"\n"
       << "[architecture.model.soap]\ncutoff = 4.0\n"
       << "[architecture.training]\nnum_epochs = 3\n" << training_extra
       << "[training_set.systems]\nread_from = \"data.xyz\"\n";
    return os.str();
}

cli::AtomisticTrainOptions parse(const std::string& text) {
    return cli::parse_atomistic_options(cli::Options::from_string(text, "options.toml"));
}

}  // namespace

TEST_CASE("atomistic_options: soap_bpnn through the common parser; optional keys only where listed",
          "[cli][atomistic_options]") {
    const cli::AtomisticTrainOptions a = parse(options());
    CHECK(a.architecture == "soap_bpnn");
    nn::bpnn::BpnnHypers h;
    h.cutoff = 4.0;
    CHECK(a.hypers == h.to_toml());  // what the registry's factory and the checkpoint's metadata hold
    CHECK(a.settings.num_epochs == 3);
    CHECK(a.settings.seed == 2);
    CHECK(std::isinf(a.settings.grad_clip_norm));
    CHECK(a.settings.scheduler == nn::atomistic::LrScheduler::warmup_cosine);
    // the same options as the soap_bpnn reader gives, and the same expanded TOML
    const cli::BpnnTrainOptions b = cli::parse_bpnn_options(cli::Options::from_string(options(), "options.toml"));
    CHECK(b.settings.hypers.to_toml() == a.hypers);
    CHECK(b.to_toml() == a.to_toml());
    CHECK(parse(a.to_toml()).to_toml() == a.to_toml());
    CHECK(a.to_toml().find("grad_clip_norm") == std::string::npos);  // soap_bpnn lists no optional keys

    // soap_bpnn accepts exactly what it accepted before: no grad_clip_norm / scheduler keys
    for (const char* key : {"grad_clip_norm = 1.0\n", "scheduler = \"plateau\"\n", "scheduler_patience = 3\n",
                            "scheduler_factor = 0.5\n"}) {
        const std::string k = std::string(key).substr(0, std::string(key).find(' '));
        REQUIRE_THROWS_WITH(parse(options(key)), Catch::Contains("unknown key 'architecture.training." + k + "'"));
    }
    // unknown architectures name the known ones
    REQUIRE_THROWS_WITH(cli::find_architecture_options("nanopett"),
                        Catch::Contains("architecture.name: expected one of nanopet, pet, soap_bpnn, got 'nanopett'"));
    std::string text = options();
    text.replace(text.find("soap_bpnn"), 9, "nanopett");
    REQUIRE_THROWS_WITH(parse(text), Catch::Contains("architecture.name") && Catch::Contains("soap_bpnn") &&
                                         Catch::Contains("nanopett"));
    // another architecture's model keys are unknown keys
    text = options();
    text.replace(text.find("soap_bpnn"), 9, "nanopet");
    REQUIRE_THROWS_WITH(parse(text), Catch::Contains("unknown key 'architecture.model.soap"));
}

namespace {

/// The CLI entry of the toy architecture: [architecture.model] num_features; every optional
/// trainer key; defaults as metatrain's nanopet (plateau scheduler, log_interval 10).
cli::ArchitectureOptions toy_options() {
    cli::ArchitectureOptions a;
    a.name = "toy_pair";
    a.model_keys = {{"architecture.model.num_features", cli::Kind::integer}};
    a.training_keys = {"grad_clip_norm", "scheduler", "scheduler_patience", "scheduler_factor"};
    a.read_model = [](const cli::Options& o) {
        return "num_features = " + std::to_string(o.get_int("architecture.model.num_features", 3)) + "\n";
    };
    a.write_model = [](const std::string& hypers) { return "\n[architecture.model]\n" + hypers; };
    a.training_defaults = [](cli::AtomisticTrainOptions& r) {
        r.settings.scheduler = nn::atomistic::LrScheduler::plateau;
        r.log_interval = 10;
    };
    return a;
}

struct ToyCliRegistered {
    toy::ToyRegistered model;
    ToyCliRegistered() { cli::register_architecture_options(toy_options()); }
    ~ToyCliRegistered() { cli::unregister_architecture_options("toy_pair"); }
};

}  // namespace

TEST_CASE("atomistic_options: a new architecture is one options entry; it trains, checkpoints and restarts through "
          "the CLI", "[cli][atomistic_options]") {
    ToyCliRegistered registered;
    testing::TempDir dir;
    const std::string data = cli_testing::repo_file("tests/data/ethanol-xtb-20.xyz");
    const std::string text = "seed = 4\nvalidation_set = 0.3\n[architecture]\nname = \"toy_pair\"\n"
                             "[architecture.model]\nnum_features = 3\n"
                             "[architecture.training]\nnum_epochs = 4\nbatch_size = 4\nlearning_rate = 0.05\n"
                             "checkpoint_interval = 2\ngrad_clip_norm = 10.0\nscheduler_patience = 0\n"
                             "scheduler_factor = 0.5\n"
                             "[training_set.systems]\nread_from = \"" + data + "\"\n";
    cli_testing::write_text(dir.file("options.toml"), text);
    const cli::AtomisticTrainOptions o = cli::read_atomistic_options(dir.file("options.toml"));
    CHECK(o.architecture == "toy_pair");
    CHECK(o.hypers == "num_features = 3\n");
    CHECK(o.settings.scheduler == nn::atomistic::LrScheduler::plateau);  // the architecture's default
    CHECK(o.log_interval == 10);
    CHECK(o.settings.grad_clip_norm == 10.0);
    CHECK(parse(o.to_toml()).to_toml() == o.to_toml());
    CHECK(o.to_toml().find("scheduler = \"plateau\"") != std::string::npos);

    cli::TrainRun run;
    run.output_path = dir.file("model.ckpt");
    run.run_dir = dir.file("run");
    cli::train_atomistic(o, run);
    const nn::Checkpoint model = nn::load_checkpoint(dir.file("model.ckpt"));
    CHECK(model.meta("architecture") == "toy_pair");
    std::map<int, double> weights;
    CHECK(nn::atomistic::load_model(model, &weights)->architecture() == "toy_pair");
    CHECK(weights.size() == 3);
    const nn::Checkpoint epoch2 = nn::load_checkpoint(dir.file("run/checkpoints/epoch_2.ckpt"));
    CHECK(!epoch2.section("scheduler.").empty());  // the plateau state, for an exact restart

    // --restart from epoch 2 ends with the same model bytes as the uninterrupted run
    cli::TrainRun again;
    again.output_path = dir.file("restarted.ckpt");
    again.run_dir = dir.file("run2");
    again.restart_path = dir.file("run/checkpoints/epoch_2.ckpt");
    cli::train_atomistic(o, again);
    CHECK(cli_testing::read_text(dir.file("restarted.ckpt")) == cli_testing::read_text(dir.file("model.ckpt")));
}

TEST_CASE("atomistic_options: the expanded soap_bpnn options keep zbl", "[cli][atomistic_options]") {
    std::string text = options();
    text.replace(text.find("[architecture.model.soap]"), 0, "[architecture.model]\nzbl = true\n");
    const cli::AtomisticTrainOptions a = parse(text);
    CHECK(a.hypers.find("zbl = true") != std::string::npos);
    CHECK(parse(a.to_toml()).hypers == a.hypers);  // options_restart.toml trains the same model
}
