// `atomgrad eval MODEL.ckpt STRUCTURES.xyz`: predictions under the keys ASE reads as calculator
// results, references kept as ref_*, metrics against them; bad structure files stop `train` and
// `eval` with one line and no output; the shipped examples' options files parse.
// Tiny models (cutoff 4, l_max 2, n_max 2, one hidden layer of 8) on tests/data keep each case
// well under a second.
#include <catch2/catch.hpp>

#include <cmath>
#include <iterator>
#include <sstream>

#include "cli/bpnn_options.hpp"
#include "cli/train_options.hpp"
#include "descriptors/extxyz.hpp"
#include "nn/json.hpp"
#include "tests/cli/cli_helpers.hpp"

using namespace cli_testing;

namespace {

std::string tiny_options(const std::string& data, const std::string& energy_extra = "") {
    return "seed = 1\nvalidation_set = 0.2\n[architecture]\nname = \"soap_bpnn\"\n"
           "[architecture.model.soap]\ncutoff = 4.0\nmax_angular = 2\nmax_radial = 2\n"
           "[architecture.model.bpnn]\nnum_hidden_layers = 1\nnum_neurons_per_layer = 8\n"
           "[architecture.training]\nnum_epochs = 1\nbatch_size = 2\nlearning_rate = 0.01\n"
           "[training_set.systems]\nread_from = \"" +
           data + "\"\n[training_set.targets.energy]\nkey = \"energy\"\nunit = \"eV\"\n" + energy_extra;
}

void train_tiny(const TempDir& dir, const std::string& data, const std::string& energy_extra = "") {
    write_text(dir.file("options.toml"), tiny_options(data, energy_extra));
    RunResult r = run_cli("train options.toml -o model.ckpt --run-dir run", dir.str());
    INFO(r.output);
    REQUIRE(r.status == 0);
}

nn::Json eval_json(const TempDir& dir, const std::string& args) {
    RunResult r = run_cli("eval " + args + " --json", dir.str());
    INFO(r.output);
    REQUIRE(r.status == 0);
    REQUIRE(r.lines().size() == 1);
    return nn::Json::parse(r.output);
}

struct Errors {
    double sq = 0, abs = 0;
    long n = 0;
    void add(double d) { sq += d * d, abs += std::abs(d), ++n; }
    double rmse() const { return std::sqrt(sq / static_cast<double>(n)); }
    double mae() const { return abs / static_cast<double>(n); }
};

}  // namespace

TEST_CASE("eval xyz: predictions in energy/forces/stress, references in ref_*, metrics against them",
          "[cli][eval_xyz]") {
    TempDir dir;
    copy_to(repo_file("tests/data/cu-emt-6.xyz"), dir.file("cu.xyz"));
    train_tiny(dir, "cu.xyz", "stress = true\n");
    nn::Json j = eval_json(dir, "model.ckpt cu.xyz -o pred.xyz");
    for (const char* key : {"energy_rmse_per_atom", "energy_mae_per_atom", "forces_rmse", "forces_mae", "stress_rmse",
                            "stress_mae", "atoms_per_second"})
        CHECK(j[key].as_number() > 0);
    CHECK(j["n_structures"].as_number() == 6);
    CHECK(j["n_atoms"].as_number() == 341);

    std::vector<desc::System> in = desc::read_extxyz(dir.file("cu.xyz"));
    std::vector<desc::System> pred = desc::read_extxyz(dir.file("pred.xyz"));
    REQUIRE(pred.size() == 6);
    Errors e, f, s;
    for (size_t k = 0; k < 6; ++k) {
        const desc::System &a = in[k], &b = pred[k];
        // the references, untouched, under ref_*; other keys kept
        CHECK(*b.find_info("ref_energy") == *a.find_info("energy"));
        CHECK(*b.find_info("ref_stress") == *a.find_info("stress"));
        CHECK(b.find_array("ref_forces")->values == a.find_array("forces")->values);
        CHECK(*b.find_info("config_type") == *a.find_info("config_type"));
        // the predictions under the standard keys
        const double n = static_cast<double>(b.n_atoms());
        e.add((b.require_energy() - a.require_energy()) / n);
        ad::Tensor df = b.require_forces() - a.require_forces();
        for (long c = 0; c < df.numel(); ++c) f.add(df[c]);
        ad::Tensor ds = b.require_stress() - a.require_stress();
        for (long c = 0; c < 9; ++c) s.add(ds[c]);
    }
    // the metrics, by hand, from the written file (the shortest round-trip text keeps every bit)
    CHECK(j["energy_rmse_per_atom"].as_number() == Approx(e.rmse()).epsilon(1e-12));
    CHECK(j["energy_mae_per_atom"].as_number() == Approx(e.mae()).epsilon(1e-12));
    CHECK(j["forces_rmse"].as_number() == Approx(f.rmse()).epsilon(1e-12));
    CHECK(j["forces_mae"].as_number() == Approx(f.mae()).epsilon(1e-12));
    CHECK(j["stress_rmse"].as_number() == Approx(s.rmse()).epsilon(1e-12));
    CHECK(j["stress_mae"].as_number() == Approx(s.mae()).epsilon(1e-12));

    // evaluating the predictions file again: the references come from ref_*, the old predictions
    // are replaced, nothing is duplicated
    nn::Json again = eval_json(dir, "model.ckpt pred.xyz -o pred2.xyz");
    for (const char* key : {"energy_rmse_per_atom", "forces_mae", "stress_rmse"})
        CHECK(again[key].as_number() == Approx(j[key].as_number()).epsilon(1e-12));
    CHECK(read_text(dir.file("pred2.xyz")) == read_text(dir.file("pred.xyz")));

    // the text form names the units
    RunResult t = run_cli("eval model.ckpt cu.xyz -o pred3.xyz", dir.str());
    CHECK(t.status == 0);
    CHECK_THAT(t.output, Catch::Contains("energy RMSE (per atom):") && Catch::Contains("forces RMSE:") &&
                             Catch::Contains("meV/A^3"));
}

TEST_CASE("eval xyz: structures without references get predictions and no metrics", "[cli][eval_xyz]") {
    TempDir dir;
    copy_to(repo_file("tests/data/ethanol-xtb-5.xyz"), dir.file("data.xyz"));
    train_tiny(dir, "data.xyz");
    std::vector<desc::System> frames = desc::read_extxyz(dir.file("data.xyz"));
    for (desc::System& f : frames) f.erase_info("energy"), f.erase_array("forces");
    desc::write_extxyz(dir.file("bare.xyz"), frames);
    nn::Json j = eval_json(dir, "model.ckpt bare.xyz -o pred.xyz");
    CHECK(j.dump().find("rmse") == std::string::npos);
    CHECK(j["n_structures"].as_number() == 5);
    CHECK(j["atoms_per_second"].as_number() > 0);
    std::vector<desc::System> pred = desc::read_extxyz(dir.file("pred.xyz"));
    CHECK(pred[0].energy().has_value());
    CHECK(pred[0].require_forces().shape() == ad::Shape{9, 3});
    CHECK(pred[0].find_info("ref_energy") == nullptr);
    CHECK(pred[0].find_array("ref_forces") == nullptr);
    CHECK(pred[0].find_info("stress") == nullptr);  // not periodic
}

TEST_CASE("eval xyz, train: a bad structure file is one line naming file and line or frame, no output",
          "[cli][eval_xyz]") {
    TempDir dir;
    const std::string good = read_text(repo_file("tests/data/ethanol-xtb-5.xyz"));
    write_text(dir.file("good.xyz"), good);
    train_tiny(dir, "good.xyz");  // the model for eval
    // ethanol-xtb-5: 5 frames of 9 atoms; frame k is lines 11 k + 1 (count), 11 k + 2 (comment), then
    // its atoms "C x y z fx fy fz"
    std::vector<std::vector<std::string>> tokens;
    for (const std::string& line : lines_of(good)) {
        std::istringstream is(line);
        tokens.emplace_back(std::istream_iterator<std::string>(is), std::istream_iterator<std::string>());
    }
    REQUIRE(tokens.size() == 55);
    auto text_of = [](const std::vector<std::vector<std::string>>& t) {
        std::string out;
        for (const auto& line : t) {
            for (size_t k = 0; k < line.size(); ++k) out += (k ? " " : "") + line[k];
            out += "\n";
        }
        return out;
    };
    auto with = [&](size_t line, size_t token, const std::string& value) {  // line and token 1-based
        auto t = tokens;
        t[line - 1][token - 1] = value;
        return text_of(t);
    };
    auto overlap = tokens;  // frame 4: atom 2 (line 49) moved onto atom 0 (line 47)
    std::copy(tokens[46].begin() + 1, tokens[46].begin() + 4, overlap[48].begin() + 1);
    auto singular = tokens;  // frame 0 periodic in a flat cell
    singular[1] = {"Lattice=\"5 0 0 0 5 0 10 10 0\"", "Properties=species:S:1:pos:R:3:forces:R:3", "energy=-1.0",
                   "pbc=\"T T T\""};
    auto truncated = tokens;
    truncated.resize(52);
    auto comment = [&](size_t line, const std::string& from, const std::string& to) {
        auto t = tokens;
        for (auto& tok : t[line - 1])
            if (tok.compare(0, from.size(), from) == 0) tok = to;
        return text_of(t);
    };
    struct Case {
        const char* what;
        std::string text;
        std::string message;
    };
    const std::vector<Case> cases = {
        {"NaN coordinate", with(14, 2, "nan"), "bad.xyz:14: expected a finite coordinate in column 2 (pos), got 'nan'"},
        {"inf coordinate", with(25, 4, "-inf"), "bad.xyz:25: expected a finite coordinate in column 4 (pos), got '-inf'"},
        {"NaN energy", comment(35, "energy=", "energy=NaN"), "bad.xyz:35: expected finite numbers for 'energy', got 'NaN'"},
        {"NaN force", with(16, 5, "nan"), "bad.xyz:16: expected a finite number in column 5 (forces), got 'nan'"},
        {"two atoms on top of each other", text_of(overlap),
         "bad.xyz frame 4 (line 45): expected atoms at least 0.1 A apart, got atoms 0 and 2 at distance 0 "},
        {"singular cell with pbc", text_of(singular),
         "bad.xyz:2: expected a non-singular Lattice with pbc=\"T T T\", got determinant 0.0"},
        {"malformed number", with(4, 3, "0.x1"), "bad.xyz:4: expected a real number in column 3 (pos), got '0.x1'"},
        {"truncated file", text_of(truncated),
         "bad.xyz:52: expected 9 atom lines for the frame starting at line 45, got end of file after 6"},
        {"not an atom count", with(12, 1, "nine"), "bad.xyz:12: expected the number of atoms of a frame, got 'nine'"},
    };
    write_text(dir.file("bad.toml"), tiny_options("bad.xyz"));
    for (const Case& c : cases) {
        INFO(c.what);
        write_text(dir.file("bad.xyz"), c.text);
        RunResult t = run_cli("train bad.toml -o bad.ckpt --run-dir badrun", dir.str());
        INFO(t.output);
        CHECK(t.status == 1);
        CHECK(t.lines().size() == 1);
        CHECK_THAT(t.output, Catch::StartsWith("atomgrad: error: ") && Catch::Contains(c.message));
        CHECK_FALSE(fs::exists(dir.file("badrun")));
        CHECK_FALSE(fs::exists(dir.file("bad.ckpt")));
        RunResult e = run_cli("eval model.ckpt bad.xyz -o pred.xyz --json", dir.str());
        INFO(e.output);
        CHECK(e.status == 1);
        CHECK(e.lines().size() == 1);
        CHECK_THAT(e.output, Catch::StartsWith("atomgrad: error: ") && Catch::Contains(c.message));
        CHECK_FALSE(fs::exists(dir.file("pred.xyz")));
        CHECK_FALSE(fs::exists(dir.file("pred.xyz.tmp")));
    }
}

TEST_CASE("examples: every options.toml parses with the strict schema", "[cli][examples]") {
    long n = 0;
    for (const auto& entry : fs::directory_iterator(repo_file("examples"))) {
        const fs::path options = entry.path() / "options.toml";
        if (!fs::exists(options)) continue;
        INFO(options.string());
        ++n;
        if (cli::Options::from_file(options.string()).get_string("architecture.name", "") == "soap_bpnn") {
            cli::BpnnTrainOptions o = cli::read_bpnn_options(options.string());
            CHECK(fs::exists(entry.path() / o.train_path));
        } else {
            cli::TrainOptions o = cli::read_train_options(options.string());
            CHECK(o.num_epochs >= 1);
        }
    }
    CHECK(n >= 5);  // sine, moons, digits, ethanol, copper
}
