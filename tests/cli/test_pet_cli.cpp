// `atomgrad train` with architecture.name = "nanopet" and "pet" end to end, with tiny hypers on 20
// ethanol frames: train -> eval --json -> llpr wrap -> eval with uncertainties; --restart byte
// identical (the rotational augmentation's RNG state is in the training checkpoint); the options'
// defaults (metatrain's nanopet / pet trainers) and strict [architecture.model] keys; the examples
// parse.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include "cli/atomistic_options.hpp"
#include "nn/json.hpp"
#include "tests/cli/cli_helpers.hpp"

using namespace cli_testing;

namespace {

std::string model_table(const std::string& name) {
    if (name == "nanopet")
        return "[architecture.model]\ncutoff = 4.0\nd_pet = 8\nnum_heads = 2\nnum_attention_layers = 1\nnum_gnn_layers = 1\n";
    return "[architecture.model]\ncutoff = 4.0\nd_pet = 8\nd_node = 8\nd_head = 4\nd_feedforward = 8\nnum_heads = 2\n"
           "num_attention_layers = 1\nnum_gnn_layers = 1\n";
}

std::string options(const std::string& name, const std::string& extra_training = "") {
    std::ostringstream os;
    os << "seed = 1\nvalidation_set = 0.2\n[architecture]\nname = \"" << name << "\"\n"
       << model_table(name) << "[architecture.training]\nnum_epochs = 4\nbatch_size = 4\nlearning_rate = 0.003\n"
       << "checkpoint_interval = 2\n" << extra_training
       << "[training_set.systems]\nread_from = \"data.xyz\"\n"
       << "[training_set.targets.energy]\nkey = \"energy\"\nunit = \"eV\"\nforces = true\n";
    return os.str();
}

cli::AtomisticTrainOptions parse(const std::string& text) {
    return cli::parse_atomistic_options(cli::Options::from_string(text, "options.toml"));
}

}  // namespace

TEST_CASE("pet cli: options: metatrain's trainer defaults, strict model keys, the examples parse", "[cli][pet]") {
    const cli::AtomisticTrainOptions n = parse(options("nanopet"));
    CHECK(n.architecture == "nanopet");
    CHECK(n.settings.scheduler == nn::atomistic::LrScheduler::plateau);
    CHECK(n.settings.scheduler_patience == 100);
    CHECK(n.settings.scheduler_factor == 0.8);
    CHECK(n.settings.warmup_fraction == 0.0);
    CHECK(n.log_interval == 10);
    CHECK(n.settings.best_model_metric == nn::atomistic::BestModelMetric::rmse_prod);
    CHECK_THAT(n.hypers, Catch::Contains("d_pet = 8") && Catch::Contains("zbl = false"));
    const cli::AtomisticTrainOptions p = parse(options("pet", "grad_clip_norm = 0.5\n"));
    CHECK(p.settings.scheduler == nn::atomistic::LrScheduler::warmup_cosine);
    CHECK(p.settings.grad_clip_norm == 0.5);
    CHECK(parse(options("pet")).settings.grad_clip_norm == 1.0);
    CHECK(p.settings.warmup_fraction == 0.01);
    CHECK(p.settings.best_model_metric == nn::atomistic::BestModelMetric::mae_prod);
    CHECK(p.settings.log_mae);
    // the expanded options read back to the same options
    for (const cli::AtomisticTrainOptions& o : {n, p}) {
        const cli::AtomisticTrainOptions back = parse(o.to_toml());
        CHECK(back.hypers == o.hypers);
        CHECK(back.to_toml() == o.to_toml());
    }
    CHECK_THAT(parse(replace(options("nanopet"), "num_gnn_layers = 1\n", "num_gnn_layers = 1\nzbl = true\n"
                                                                        "[architecture.model.heads]\nenergy = \"linear\"\n"))
                   .hypers,
               Catch::Contains("zbl = true") && Catch::Contains("energy = \"linear\""));
    // one-line errors naming the key
    REQUIRE_THROWS_WITH(parse(replace(options("nanopet"), "d_pet = 8\n", "d_pet = 8\nd_node = 8\n")),
                        Catch::Contains("options.toml") && Catch::Contains("architecture.model.d_node"));
    REQUIRE_THROWS_WITH(parse(replace(options("pet"), "d_pet = 8\n", "d_pett = 8\n")),
                        Catch::Contains("architecture.model.d_pett"));
    REQUIRE_THROWS_WITH(parse(options("pet", "scheduler_patience = 3\n")), Catch::Contains("scheduler_patience"));
    REQUIRE_THROWS_WITH(parse(replace(options("pet"), "num_heads = 2\n", "num_heads = 3\n")),
                        Catch::Contains("d_pet > 0 divisible by num_heads"));
    REQUIRE_THROWS_WITH(parse(replace(options("pet"), "d_pet = 8\n", "normalization = \"BatchNorm\"\nd_pet = 8\n")),
                        Catch::Contains("normalization"));
    for (const char* example : {"examples/ethanol/nanopet.toml", "examples/ethanol/pet.toml", "examples/copper/nanopet.toml",
                                "examples/copper/pet.toml"}) {
        INFO(example);
        CHECK_NOTHROW(cli::read_atomistic_options(repo_file(example)));
    }
}

TEST_CASE("pet cli: train, eval --json, llpr wrap, eval with uncertainties, --restart byte identical", "[cli][pet]") {
    for (const std::string name : {"nanopet", "pet"}) {
        INFO(name);
        TempDir dir;
        copy_to(repo_file("tests/data/ethanol-xtb-20.xyz"), dir.file("data.xyz"));
        write_text(dir.file("options.toml"), options(name));
        RunResult full = run_cli("train options.toml -o model.ckpt --run-dir run", dir.str());
        INFO(full.output);
        REQUIRE(full.status == 0);
        CHECK_THAT(full.output, Catch::Contains(name + ": 16 training, 4 validation"));
        CHECK(listing(dir.file("run/checkpoints")) == std::set<std::string>{"epoch_2.ckpt", "epoch_4.ckpt"});
        CHECK_THAT(read_text(dir.file("run/checkpoints/epoch_2.ckpt")), Catch::Contains("augment_rng"));

        RunResult e = run_cli("eval model.ckpt data.xyz -o pred.xyz --json", dir.str());
        INFO(e.output);
        REQUIRE(e.status == 0);
        nn::Json j = nn::Json::parse(e.output);
        CHECK(std::isfinite(j["energy_rmse_per_atom"].as_number()));
        CHECK(std::isfinite(j["forces_rmse"].as_number()));

        // --restart from epoch 2: the same final bytes
        RunResult resumed = run_cli("train options.toml -o resumed.ckpt --run-dir run2 --restart run/checkpoints/epoch_2.ckpt",
                                    dir.str());
        INFO(resumed.output);
        REQUIRE(resumed.status == 0);
        CHECK(read_text(dir.file("resumed.ckpt")) == read_text(dir.file("model.ckpt")));
        CHECK(read_text(dir.file("run2/checkpoints/epoch_4.ckpt")) == read_text(dir.file("run/checkpoints/epoch_4.ckpt")));

        // LLPR wrap and eval with uncertainties
        write_text(dir.file("llpr.toml"),
                   "seed = 1\nvalidation_set = 0.2\n[architecture]\nname = \"llpr\"\n"
                   "[architecture.model.num_ensemble_members]\nenergy = 8\n"
                   "[architecture.training]\nmodel_checkpoint = \"model.ckpt\"\nbatch_size = 4\n"
                   "[training_set.systems]\nread_from = \"data.xyz\"\n"
                   "[training_set.targets.energy]\nkey = \"energy\"\nunit = \"eV\"\n");
        RunResult w = run_cli("train llpr.toml -o wrapped.ckpt --run-dir llpr_run", dir.str());
        INFO(w.output);
        REQUIRE(w.status == 0);
        RunResult we = run_cli("eval wrapped.ckpt data.xyz -o pred_llpr.xyz --json", dir.str());
        INFO(we.output);
        REQUIRE(we.status == 0);
        nn::Json jw = nn::Json::parse(we.output);
        CHECK(jw["energy_uncertainty_mean"].as_number() > 0);
        CHECK(jw["num_ensemble_members"].as_number() == 8);
        CHECK(std::isfinite(jw["forces_uncertainty_mean"].as_number()));
        // the wrap leaves the model's predictions unchanged
        CHECK(jw["energy_rmse_per_atom"].as_number() == Approx(j["energy_rmse_per_atom"].as_number()).epsilon(1e-12));
        CHECK(jw["forces_rmse"].as_number() == Approx(j["forces_rmse"].as_number()).epsilon(1e-10));
    }
    // an unknown model key is a one-line error naming it
    TempDir dir;
    copy_to(repo_file("tests/data/ethanol-xtb-20.xyz"), dir.file("data.xyz"));
    write_text(dir.file("options.toml"), replace(options("pet"), "d_head = 4\n", "d_head = 4\nd_tail = 3\n"));
    RunResult bad = run_cli("train options.toml -o model.ckpt", dir.str());
    CHECK(bad.status != 0);
    CHECK_THAT(bad.output, Catch::Contains("architecture.model.d_tail"));
    CHECK(lines_of(bad.output).size() == 1);
}
