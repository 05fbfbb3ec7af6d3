// End-to-end: bad input to `atomgrad train` / `atomgrad eval` gives a non-zero exit code, ONE line
// "atomgrad: error: ..." naming the file and the line (or the key), and leaves no output behind
// (no model.ckpt, predictions.csv, run folder or *.tmp).
#include <filesystem>

#include "tests/cli/cli_helpers.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using namespace cli_testing;

namespace {

// Runs `args` in `dir` and checks the failure: exit code 1, one line "atomgrad: error: ...", the
// given pieces in it, and no file added to or changed in the directory.
std::string expect_error(const TempDir& dir, const std::string& args, const std::vector<std::string>& pieces) {
    const std::set<std::string> before = listing(dir.str());
    RunResult r = run_cli(args, dir.str());
    INFO("atomgrad " << args << "\n--- output:\n" << r.output);
    CHECK(r.status == 1);
    std::vector<std::string> lines = r.lines();
    REQUIRE(lines.size() == 1);
    CHECK_THAT(lines[0], StartsWith("atomgrad: error: "));
    for (const auto& p : pieces) CHECK_THAT(lines[0], Contains(p));
    // nothing new: no model.ckpt, predictions.csv, outputs/ run folder or *.tmp file
    CHECK(listing(dir.str()) == before);
    return lines[0];
}

// A CSV as the training data of the small sine options, then `atomgrad train` (default -o
// model.ckpt and default run folder under outputs/, neither of which may appear).
std::string train_error_with_data(const std::string& csv, const std::vector<std::string>& pieces) {
    TempDir dir;
    write_text(dir.file("train.csv"), csv);
    write_text(dir.file("opts.toml"), sine_options());
    return expect_error(dir, "train opts.toml", pieces);
}

}  // namespace

TEST_CASE("atomgrad train: a non-numeric cell names file, line and column", "[cli][e2e]") {
    train_error_with_data("x,y\n0.1,0.2\n0.3,abc\n0.5,0.6\n", {"train.csv:3:", "column 'y'", "'abc'"});
}

TEST_CASE("atomgrad train: a ragged row names file and line", "[cli][e2e]") {
    train_error_with_data("x,y\n0.1,0.2\n0.3,0.4\n0.5\n", {"train.csv:4:", "expected 2 fields, got 1"});
}

TEST_CASE("atomgrad train: a missing target column names file, header line and column", "[cli][e2e]") {
    train_error_with_data("x,z\n0.1,0.2\n0.3,0.4\n", {"train.csv:1:", "no column 'y'", "columns: x, z"});
}

TEST_CASE("atomgrad train: an empty or header-only data file is an error", "[cli][e2e]") {
    train_error_with_data("", {"train.csv:1:", "empty"});
    train_error_with_data("x,y\n", {"train.csv:1:", "at least one data row"});
}

TEST_CASE("atomgrad train: an unknown options key names file, line and dotted key", "[cli][e2e]") {
    TempDir dir;
    copy_to(repo_file("examples/sine/train.csv"), dir.file("train.csv"));
    // sine_options(): [architecture.training] starts at line 11; the extra line is line 17
    write_text(dir.file("opts.toml"), sine_options(200, 100, "num_epoch = 3\n"));
    expect_error(dir, "train opts.toml",
                 {"opts.toml:17: unknown key 'architecture.training.num_epoch'", "known keys here:", "num_epochs"});
}

TEST_CASE("atomgrad train: a value of the wrong type names file, line and key", "[cli][e2e]") {
    TempDir dir;
    copy_to(repo_file("examples/sine/train.csv"), dir.file("train.csv"));
    write_text(dir.file("opts.toml"), replace(sine_options(), "batch_size = 32", "batch_size = \"32\""));
    expect_error(dir, "train opts.toml",
                 {"opts.toml:13: 'architecture.training.batch_size' expected an integer, got a string"});
    write_text(dir.file("opts.toml"), replace(sine_options(), "activation = \"tanh\"", "activation = \"tahn\""));
    expect_error(dir, "train opts.toml", {"opts.toml:9: 'architecture.model.activation' expected one of tanh, relu"});
}

TEST_CASE("atomgrad train: batch_size larger than the training rows names file, line and key", "[cli][e2e]") {
    TempDir dir;
    copy_to(repo_file("examples/sine/train.csv"), dir.file("train.csv"));  // 150 rows, 135 after validation
    write_text(dir.file("opts.toml"), replace(sine_options(), "batch_size = 32", "batch_size = 136"));
    expect_error(dir, "train opts.toml",
                 {"opts.toml:13: 'architecture.training.batch_size' = 136", "larger than the 135 training rows"});
    // exactly the training rows is fine
    write_text(dir.file("opts.toml"), replace(sine_options(3, 100), "batch_size = 32", "batch_size = 135"));
    RunResult ok = run_cli("train opts.toml -o m.ckpt --run-dir run", dir.str());
    INFO(ok.output);
    CHECK(ok.status == 0);
}

TEST_CASE("atomgrad train: bad validation and test files, a missing options file", "[cli][e2e]") {
    TempDir dir;
    copy_to(repo_file("examples/sine/train.csv"), dir.file("train.csv"));
    write_text(dir.file("val.csv"), "x,y\n1,2\n\n3,nan\n");
    write_text(dir.file("test.csv"), "x,w\n1,2\n");
    write_text(dir.file("opts.toml"), sine_options(200, 100, "", "validation_set = \"val.csv\"\n"));
    expect_error(dir, "train opts.toml", {"val.csv:4:", "finite", "column 'y'"});
    write_text(dir.file("opts.toml"), sine_options(200, 100, "", "test_set = \"test.csv\"\n"));
    expect_error(dir, "train opts.toml", {"test.csv:1:", "no column 'y'"});
    write_text(dir.file("opts.toml"), sine_options(200, 100, "", "validation_set = \"nowhere.csv\"\n"));
    expect_error(dir, "train opts.toml", {"nowhere.csv", "cannot open"});
    expect_error(dir, "train missing.toml", {"missing.toml", "cannot open"});
}

TEST_CASE("atomgrad train: a loss that diverges stops with one error line and no model file", "[cli][e2e]") {
    TempDir dir;
    copy_to(repo_file("examples/sine/train.csv"), dir.file("train.csv"));
    write_text(dir.file("opts.toml"), replace(sine_options(50, 100, "optimizer = \"sgd\"\n"), "learning_rate = 1e-2",
                                              "learning_rate = 1e12"));
    RunResult r = run_cli("train opts.toml -o model.ckpt --run-dir run", dir.str());
    INFO(r.output);
    CHECK(r.status == 1);
    std::vector<std::string> lines = r.lines();
    REQUIRE(!lines.empty());
    CHECK_THAT(lines.back(), StartsWith("atomgrad: error: ") && Contains("learning_rate"));
    CHECK_FALSE(std::filesystem::exists(dir.file("model.ckpt")));
    CHECK_FALSE(std::filesystem::exists(dir.file("run/model.ckpt")));
    for (const auto& f : listing(dir.str())) CHECK_THAT(f, !Contains(".tmp"));
}

TEST_CASE("atomgrad train: --restart from a model and --init from another architecture are errors",
          "[cli][e2e]") {
    TempDir dir;
    train_small_sine(dir);
    expect_error(dir, "train opts.toml -o other.ckpt --run-dir run2 --restart model.ckpt",
                 {"model.ckpt", "expected a training checkpoint"});
    write_text(dir.file("wide.toml"), replace(sine_options(), "hidden = [20, 20]", "hidden = [21, 20]"));
    expect_error(dir, "train wide.toml -o other.ckpt --run-dir run2 --init model.ckpt",
                 {"model.ckpt", "different model"});
    expect_error(dir, "train wide.toml -o other.ckpt --run-dir run2 --restart run/model_100.ckpt",
                 {"run/model_100.ckpt", "differs from the options"});
}

TEST_CASE("atomgrad eval: a missing or truncated checkpoint names the file", "[cli][e2e]") {
    TempDir dir;
    train_small_sine(dir);
    expect_error(dir, "eval nope.ckpt train.csv", {"nope.ckpt"});
    const std::string bytes = read_text(dir.file("model.ckpt"));
    REQUIRE(bytes.size() > 200);
    // cut in the length field, in the JSON header, and in the tensor data
    for (size_t cut : {size_t(4), size_t(100), bytes.size() - 8}) {
        INFO("cut at " << cut << " of " << bytes.size() << " bytes");
        write_text(dir.file("cut.ckpt"), bytes.substr(0, cut));
        expect_error(dir, "eval cut.ckpt train.csv", {"cut.ckpt", "truncated"});
    }
    write_text(dir.file("text.ckpt"), "not a checkpoint at all, just text of some length\n");
    expect_error(dir, "eval text.ckpt train.csv", {"text.ckpt"});
}

TEST_CASE("atomgrad eval: a CSV lacking a feature column names file, line and column", "[cli][e2e]") {
    TempDir dir;
    train_small_sine(dir);
    write_text(dir.file("data.csv"), "z,y\n1,2\n");
    expect_error(dir, "eval model.ckpt data.csv", {"data.csv:1:", "no column 'x'", "columns: z, y"});
    write_text(dir.file("data.csv"), "x,y\n1,2\n2,zwei\n");
    expect_error(dir, "eval model.ckpt data.csv -o p.csv --json", {"data.csv:3:", "'zwei'"});
}

TEST_CASE("atomgrad eval: labels outside the model's classes name file and line", "[cli][e2e]") {
    TempDir dir;
    copy_to(repo_file("examples/moons/train.csv"), dir.file("train.csv"));
    write_text(dir.file("opts.toml"), replace(replace(sine_options(5, 100), "target = \"y\"", "target = \"label\""),
                                              "task = \"regression\"", "task = \"classification\""));
    RunResult r = run_cli("train opts.toml -o model.ckpt --run-dir run", dir.str());
    INFO(r.output);
    REQUIRE(r.status == 0);
    write_text(dir.file("data.csv"), "x1,x2,label\n0,0,1\n0,1,2\n");
    expect_error(dir, "eval model.ckpt data.csv", {"data.csv:3:", "[0, 2)", "column 'label'"});
}

TEST_CASE("atomgrad: usage errors exit with code 2 and leave nothing behind", "[cli][e2e]") {
    TempDir dir;
    write_text(dir.file("opts.toml"), sine_options());
    const std::set<std::string> before = listing(dir.str());
    struct Case {
        std::string args, first_line;
    };
    for (const Case& c : std::vector<Case>{{"", "atomgrad: "},
                                           {"frobnicate", "atomgrad: error: unknown command 'frobnicate'"},
                                           {"train", "atomgrad train: expected one options file"},
                                           {"train opts.toml --epochs 3", "atomgrad train: unknown option --epochs"},
                                           {"train opts.toml -o", "atomgrad train: option -o expects a value"},
                                           {"train opts.toml --init a.ckpt --restart b.ckpt",
                                            "atomgrad train: --init and --restart exclude each other"},
                                           {"eval model.ckpt", "atomgrad eval: expected a model and a data file"},
                                           {"eval a b c", "atomgrad eval: expected a model and a data file"}}) {
        RunResult r = run_cli(c.args, dir.str());
        INFO("atomgrad " << c.args << "\n" << r.output);
        CHECK(r.status == 2);
        REQUIRE(!r.lines().empty());
        CHECK_THAT(r.lines()[0], StartsWith(c.first_line));
        CHECK_THAT(r.output, Contains("usage: atomgrad"));
        CHECK(listing(dir.str()) == before);
    }
    RunResult help = run_cli("--help", dir.str());
    CHECK(help.status == 0);
    CHECK_THAT(help.output, Contains("usage: atomgrad"));
}
