// Accuracy acceptance: the shipped examples, trained with their own options files, reach the
// documented test accuracy through `atomgrad eval --json`. (Each run takes well under a second.)
#include "cli/csv.hpp"
#include "nn/json.hpp"
#include "tests/cli/cli_helpers.hpp"

using Catch::Matchers::Contains;
using namespace cli_testing;

namespace {

nn::Json train_and_eval(const TempDir& dir, const std::string& example, const std::string& test_csv,
                        std::string* train_output = nullptr) {
    RunResult t = run_cli("train " + quote(repo_file("examples/" + example + "/options.toml")) +
                              " -o model.ckpt --run-dir run",
                          dir.str());
    INFO(t.output);
    REQUIRE(t.status == 0);
    if (train_output) *train_output = t.output;
    RunResult e = run_cli("eval model.ckpt " + quote(repo_file("examples/" + example + "/" + test_csv)) +
                              " -o predictions.csv --json",
                          dir.str());
    INFO(e.output);
    REQUIRE(e.status == 0);
    REQUIRE(e.lines().size() == 1);
    return nn::Json::parse(e.lines()[0]);
}

}  // namespace

TEST_CASE("acceptance: examples/sine reaches test RMSE <= 0.36 inside the training range", "[cli][acceptance]") {
    // test_in_range.csv: the test grid's points in [0, 8], where the 150 training points lie (noise
    // standard deviation 0.3, so 0.3 is the floor).
    TempDir dir;
    std::string out;
    nn::Json j = train_and_eval(dir, "sine", "test_in_range.csv", &out);
    INFO(j.dump());
    CHECK(j.at("n_samples").as_long() == 222);
    CHECK(j.at("rmse").as_number() <= 0.36);
    // the test metrics train reports (options test_set = test_in_range.csv, model before folding
    // its scalers) are eval's on the saved model, to the 4 digits printed
    char buf[32];
    std::snprintf(buf, sizeof buf, "rmse %.4g", j.at("rmse").as_number());
    CHECK_THAT(out, Contains(std::string("test (best epoch ")) && Contains(buf));
}

TEST_CASE("acceptance: examples/digits reaches test accuracy >= 0.95", "[cli][acceptance]") {
    TempDir dir;
    std::string out;
    nn::Json j = train_and_eval(dir, "digits", "test.csv", &out);
    INFO(j.dump());
    CHECK(j.at("n_samples").as_long() == 360);
    CHECK(j.at("accuracy").as_number() >= 0.95);
    CHECK(j.at("nll").as_number() < 0.3);
    char buf[32];
    std::snprintf(buf, sizeof buf, "accuracy %.4g", j.at("accuracy").as_number());
    CHECK_THAT(out, Contains(buf));
}
