// cli/options and cli/train_options: strict TOML options (unknown keys and wrong types name the
// file, the line and the dotted key), defaults, validation, and to_toml() round trips.
#include "cli/options.hpp"
#include "cli/train_options.hpp"
#include "tests/cli/cli_helpers.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

// A minimal valid document; each section is a parameter so a test can add a line to it. Line
// numbers: top-level extras start at line 1; the fixed lines follow.
std::string doc(const std::string& top = "", const std::string& model = "", const std::string& training = "",
                const std::string& tset = "", const std::string& target = "\"y\"") {
    return top + "[architecture]\nname = \"mlp\"\n[architecture.model]\n" + model + "[architecture.training]\n" +
           training + "[training_set]\nread_from = \"train.csv\"\ntarget = " + target + "\n" + tset;
}

cli::TrainOptions parse(const std::string& text, const std::string& name = "opts.toml") {
    return cli::parse_train_options(cli::Options::from_string(text, name));
}

std::string error_of(const std::string& text) {
    try {
        parse(text);
    } catch (const ad::Error& e) {
        return e.what();
    }
    return "(no error)";
}

// Every field of two options, compared one by one (to_toml() equality is checked separately).
void check_same(const cli::TrainOptions& a, const cli::TrainOptions& b) {
    CHECK(a.seed == b.seed);
    CHECK(a.architecture == b.architecture);
    CHECK(a.hidden == b.hidden);
    CHECK(a.activation == b.activation);
    CHECK(a.bias == b.bias);
    CHECK(a.num_epochs == b.num_epochs);
    CHECK(a.batch_size == b.batch_size);
    CHECK(a.learning_rate == b.learning_rate);
    CHECK(a.optimizer == b.optimizer);
    CHECK(a.weight_decay == b.weight_decay);
    CHECK(a.momentum == b.momentum);
    CHECK(a.nesterov == b.nesterov);
    CHECK(a.warmup_fraction == b.warmup_fraction);
    CHECK(a.scheduler == b.scheduler);
    CHECK(a.scheduler_step_size == b.scheduler_step_size);
    CHECK(a.scheduler_gamma == b.scheduler_gamma);
    CHECK(a.plateau_factor == b.plateau_factor);
    CHECK(a.plateau_patience == b.plateau_patience);
    CHECK(a.grad_clip_norm == b.grad_clip_norm);
    CHECK(a.log_interval == b.log_interval);
    CHECK(a.checkpoint_interval == b.checkpoint_interval);
    CHECK(a.loss == b.loss);
    CHECK(a.huber_delta == b.huber_delta);
    CHECK(a.best_model_metric == b.best_model_metric);
    CHECK(a.scale_inputs == b.scale_inputs);
    CHECK(a.scale_targets == b.scale_targets);
    CHECK(a.train_path == b.train_path);
    CHECK(a.targets == b.targets);
    CHECK(a.features == b.features);
    CHECK(a.task == b.task);
    CHECK(a.validation.kind == b.validation.kind);
    CHECK(a.validation.fraction == b.validation.fraction);
    CHECK(a.validation.path == b.validation.path);
    CHECK(a.test.kind == b.test.kind);
    CHECK(a.test.fraction == b.test.fraction);
    CHECK(a.test.path == b.test.path);
}

}  // namespace

TEST_CASE("train options: a minimal file gets the documented defaults", "[cli][options]") {
    cli::TrainOptions t = parse(doc(), "dir/opts.toml");
    const cli::TrainOptions d;  // the defaults as declared
    CHECK(t.options_path == "dir/opts.toml");
    CHECK(t.seed == 0);
    CHECK(t.architecture == "mlp");
    CHECK(t.hidden == std::vector<long>{64, 64});
    CHECK(t.activation == "tanh");
    CHECK(t.bias);
    CHECK(t.num_epochs == 100);
    CHECK(t.batch_size == 32);
    CHECK(t.learning_rate == 1e-3);
    CHECK(t.optimizer == "adam");
    CHECK(t.scheduler == "constant");
    CHECK(t.loss == "mse");  // regression default
    CHECK(t.best_model_metric == "loss");
    CHECK(t.scale_inputs);
    CHECK(t.scale_targets);
    CHECK(t.task == "regression");
    CHECK(t.train_path == "train.csv");
    CHECK(t.targets == std::vector<std::string>{"y"});
    CHECK(t.features.empty());
    CHECK(t.validation.kind == cli::DataSource::Kind::fraction);
    CHECK(t.validation.fraction == 0.1);
    CHECK(t.test.kind == cli::DataSource::Kind::none);
    // everything not given equals the struct's declared default (loss is filled in by task)
    cli::TrainOptions expected = d;
    expected.loss = "mse";
    expected.train_path = "train.csv";
    expected.targets = {"y"};
    check_same(t, expected);
}

TEST_CASE("train options: classification defaults to cross entropy and no target scaling", "[cli][options]") {
    cli::TrainOptions t = parse(doc("", "", "", "task = \"classification\"\n"));
    CHECK(t.task == "classification");
    CHECK(t.loss == "cross_entropy");
    CHECK_FALSE(t.scale_targets);
    CHECK_THAT(error_of(doc("", "", "loss = \"mse\"\n", "task = \"classification\"\n")),
               StartsWith("opts.toml:5: ") && Contains("'architecture.training.loss'") && Contains("cross_entropy"));
    CHECK_THAT(error_of(doc("", "", "best_model_metric = \"rmse\"\n", "task = \"classification\"\n")),
               StartsWith("opts.toml:5: ") && Contains("loss, accuracy"));
    CHECK_THAT(error_of(doc("", "", "", "task = \"classification\"\n", "[\"a\", \"b\"]")),
               Contains("'training_set.target'") && Contains("one label column"));
}

TEST_CASE("train options: every value given is read", "[cli][options]") {
    cli::TrainOptions t = parse(
        "seed = 7\nbase_precision = 64\nvalidation_set = 0.25\ntest_set = \"test.csv\"\n" +
        doc("", "hidden = [3, 4, 5]\nactivation = \"silu\"\nbias = false\n",
            "num_epochs = 11\nbatch_size = 5\nlearning_rate = 0.5\noptimizer = \"sgd\"\nweight_decay = 1e-4\n"
            "momentum = 0.5\nnesterov = true\nwarmup_fraction = 0.2\nscheduler = \"step\"\nscheduler_step_size = 3\n"
            "scheduler_gamma = 0.7\nplateau_factor = 0.25\nplateau_patience = 2\ngrad_clip_norm = 1\n"
            "log_interval = 2\ncheckpoint_interval = 4\nloss = \"huber\"\nhuber_delta = 0.5\n"
            "best_model_metric = \"mae\"\nscale_inputs = false\nscale_targets = false\n",
            "features = [\"a\", \"b\"]\n"));
    CHECK(t.seed == 7);
    CHECK(t.validation.kind == cli::DataSource::Kind::fraction);
    CHECK(t.validation.fraction == 0.25);
    CHECK(t.test.kind == cli::DataSource::Kind::file);
    CHECK(t.test.path == "test.csv");
    CHECK(t.hidden == std::vector<long>{3, 4, 5});
    CHECK(t.activation == "silu");
    CHECK_FALSE(t.bias);
    CHECK(t.num_epochs == 11);
    CHECK(t.batch_size == 5);
    CHECK(t.learning_rate == 0.5);
    CHECK(t.optimizer == "sgd");
    CHECK(t.weight_decay == 1e-4);
    CHECK(t.momentum == 0.5);
    CHECK(t.nesterov);
    CHECK(t.warmup_fraction == 0.2);
    CHECK(t.scheduler == "step");
    CHECK(t.scheduler_step_size == 3);
    CHECK(t.scheduler_gamma == 0.7);
    CHECK(t.plateau_factor == 0.25);
    CHECK(t.plateau_patience == 2);
    CHECK(t.grad_clip_norm == 1.0);  // an integer where a number is expected is fine
    CHECK(t.log_interval == 2);
    CHECK(t.checkpoint_interval == 4);
    CHECK(t.loss == "huber");
    CHECK(t.huber_delta == 0.5);
    CHECK(t.best_model_metric == "mae");
    CHECK_FALSE(t.scale_inputs);
    CHECK_FALSE(t.scale_targets);
    CHECK(t.features == std::vector<std::string>{"a", "b"});
}

TEST_CASE("options: an unknown key at each level names the dotted key, the line and the known keys",
          "[cli][options]") {
    // top level (line 2)
    std::string msg = error_of("seed = 1\nsead = 2\n" + doc());
    CHECK_THAT(msg, StartsWith("opts.toml:2: unknown key 'sead'"));
    CHECK_THAT(msg, Contains("known keys here:") && Contains("seed") && Contains("validation_set"));
    // an unknown table at top level (line 1 is its header)
    CHECK_THAT(error_of("[trainig]\nx = 1\n" + doc()), StartsWith("opts.toml:1: unknown key 'trainig'"));
    // [architecture] (line 3)
    CHECK_THAT(error_of("[architecture]\nname = \"mlp\"\nnaem = 1\n[training_set]\nread_from = \"a\"\ntarget = \"y\"\n"),
               StartsWith("opts.toml:3: unknown key 'architecture.naem'") && Contains("model, name, training"));
    // [architecture.model] (line 4)
    msg = error_of(doc("", "hidden = [4]\nhiden = [4]\n"));
    CHECK_THAT(msg, StartsWith("opts.toml:5: unknown key 'architecture.model.hiden'"));
    CHECK_THAT(msg, Contains("activation, bias, hidden"));
    // [architecture.training] (line 5)
    msg = error_of(doc("", "", "num_epoch = 3\n"));
    CHECK_THAT(msg, StartsWith("opts.toml:5: unknown key 'architecture.training.num_epoch'"));
    CHECK_THAT(msg, Contains("num_epochs") && Contains("batch_size") && !Contains("read_from"));
    // [training_set] (line 8)
    CHECK_THAT(error_of(doc("", "", "", "targte = \"y\"\n")),
               StartsWith("opts.toml:8: unknown key 'training_set.targte'") && Contains("read_from"));
    // inside a validation_set table (line 9; doc() has 7 lines)
    CHECK_THAT(error_of(doc() + "[validation_set]\nread_fron = \"v.csv\"\n"),
               StartsWith("opts.toml:9: unknown key 'validation_set.read_fron'") && Contains("read_from"));
    // a dotted key inside a table
    CHECK_THAT(error_of("[architecture]\nname = \"mlp\"\nmodel.width = 3\n[training_set]\nread_from = \"a\"\ntarget = \"y\"\n"),
               StartsWith("opts.toml:3: unknown key 'architecture.model.width'"));
}

TEST_CASE("options: a value of the wrong type names the key, the line, what was expected and what came",
          "[cli][options]") {
    CHECK_THAT(error_of(doc("seed = \"1\"\n")),
               StartsWith("opts.toml:1: 'seed' expected an integer, got a string"));
    CHECK_THAT(error_of(doc("", "", "batch_size = 3.5\n")),
               StartsWith("opts.toml:5: 'architecture.training.batch_size' expected an integer, got a number"));
    CHECK_THAT(error_of(doc("", "", "learning_rate = \"fast\"\n")),
               StartsWith("opts.toml:5: 'architecture.training.learning_rate' expected a number, got a string"));
    CHECK_THAT(error_of(doc("", "bias = 1\n")),
               StartsWith("opts.toml:4: 'architecture.model.bias' expected true or false, got an integer"));
    CHECK_THAT(error_of(doc("", "hidden = [8, 8.5]\n")),
               StartsWith("opts.toml:4: 'architecture.model.hidden' expected a list of integers, got a list"));
    CHECK_THAT(error_of(doc("", "hidden = 8\n")),
               StartsWith("opts.toml:4: 'architecture.model.hidden' expected a list of integers, got an integer"));
    CHECK_THAT(error_of(doc("", "", "", "features = [\"a\", 2]\n")),
               StartsWith("opts.toml:8: 'training_set.features' expected a string or a list of strings"));
    CHECK_THAT(error_of(doc("validation_set = true\n")),
               StartsWith("opts.toml:1: 'validation_set' expected a fraction in (0, 1), a file name or a table"));
    CHECK_THAT(error_of("architecture = 3\n[training_set]\nread_from = \"a\"\ntarget = \"y\"\n"),
               StartsWith("opts.toml:1: 'architecture' expected a table, got an integer"));
    CHECK_THAT(error_of(doc("", "", "", "", "3")),
               StartsWith("opts.toml:7: 'training_set.target' expected a string or a list of strings, got an integer"));
}

TEST_CASE("options: a bad choice lists the allowed values", "[cli][options]") {
    CHECK_THAT(error_of(doc("", "activation = \"tanhh\"\n")),
               StartsWith("opts.toml:4: 'architecture.model.activation' expected one of "
                          "tanh, relu, silu, gelu, sigmoid, softplus, got 'tanhh'"));
    CHECK_THAT(error_of(doc("", "", "optimizer = \"adagrad\"\n")),
               StartsWith("opts.toml:5: ") && Contains("expected one of adam, adamw, sgd, got 'adagrad'"));
    CHECK_THAT(error_of(doc("", "", "scheduler = \"linear\"\n")),
               StartsWith("opts.toml:5: ") && Contains("constant, cosine, step, plateau"));
    CHECK_THAT(error_of(doc("", "", "loss = \"l1\"\n")), StartsWith("opts.toml:5: ") && Contains("mse, mae, huber"));
    CHECK_THAT(error_of(doc("", "", "best_model_metric = \"accuracy\"\n")),
               StartsWith("opts.toml:5: ") && Contains("loss, rmse, mae"));
    CHECK_THAT(error_of(doc("", "", "", "task = \"ranking\"\n")),
               StartsWith("opts.toml:8: ") && Contains("regression, classification"));
    CHECK_THAT(error_of("[architecture]\nname = \"soap_bpnn\"\n[training_set]\nread_from = \"a\"\ntarget = \"y\"\n"),
               StartsWith("opts.toml:2: 'architecture.name' expected one of mlp, got 'soap_bpnn'"));
}

TEST_CASE("options: values out of range name the key and the line", "[cli][options]") {
    CHECK_THAT(error_of(doc("seed = -1\n")), StartsWith("opts.toml:1: 'seed'"));
    CHECK_THAT(error_of(doc("base_precision = 32\n")), StartsWith("opts.toml:1: 'base_precision' expected 64"));
    CHECK_THAT(error_of(doc("", "hidden = [8, 0]\n")), StartsWith("opts.toml:4: 'architecture.model.hidden'"));
    CHECK_THAT(error_of(doc("", "", "num_epochs = 0\n")),
               StartsWith("opts.toml:5: 'architecture.training.num_epochs' expected a positive integer, got 0"));
    CHECK_THAT(error_of(doc("", "", "batch_size = -4\n")), StartsWith("opts.toml:5: 'architecture.training.batch_size'"));
    CHECK_THAT(error_of(doc("", "", "learning_rate = 0\n")),
               StartsWith("opts.toml:5: 'architecture.training.learning_rate'"));
    CHECK_THAT(error_of(doc("", "", "learning_rate = nan\n")),
               StartsWith("opts.toml:5: 'architecture.training.learning_rate' expected a finite number"));
    CHECK_THAT(error_of(doc("", "", "warmup_fraction = 1.0\n")),
               StartsWith("opts.toml:5: 'architecture.training.warmup_fraction'"));
    CHECK_THAT(error_of(doc("", "", "weight_decay = -0.1\n")),
               StartsWith("opts.toml:5: 'architecture.training.weight_decay'"));
    CHECK_THAT(error_of(doc("", "", "plateau_factor = 1\n")),
               StartsWith("opts.toml:5: 'architecture.training.plateau_factor'"));
    CHECK_THAT(error_of(doc("", "", "huber_delta = 0\n")), StartsWith("opts.toml:5: 'architecture.training.huber_delta'"));
}

TEST_CASE("options: required keys missing are named", "[cli][options]") {
    CHECK_THAT(error_of("[training_set]\nread_from = \"a.csv\"\ntarget = \"y\"\n"),
               StartsWith("opts.toml: ") && Contains("'architecture.name'"));
    CHECK_THAT(error_of("[architecture]\nname = \"mlp\"\n[training_set]\ntarget = \"y\"\n"),
               StartsWith("opts.toml: ") && Contains("'training_set.read_from'"));
    CHECK_THAT(error_of("[architecture]\nname = \"mlp\"\n[training_set]\nread_from = \"a.csv\"\n"),
               StartsWith("opts.toml: ") && Contains("'training_set.target'"));
    CHECK_THAT(error_of(doc("", "", "", "", "[]")), Contains("'training_set.target'"));
}

TEST_CASE("options: TOML syntax errors name file, line and column", "[cli][options]") {
    CHECK_THAT(error_of("seed = 1\n[architecture\nname = \"mlp\"\n"), StartsWith("opts.toml:2:"));
    CHECK_THAT(error_of("seed = 1\nseed = 2\n"), StartsWith("opts.toml:2:"));  // TOML forbids redefinition
    cli_testing::TempDir dir;
    std::string path = dir.file("broken.toml");
    cli_testing::write_text(path, "seed = 1\n\nlearning_rate = = 3\n");
    REQUIRE_THROWS_WITH(cli::read_train_options(path), StartsWith(path + ":3:"));
    std::string missing = dir.file("missing.toml");
    REQUIRE_THROWS_WITH(cli::read_train_options(missing), StartsWith(missing + ": ") && Contains("cannot open"));
}

TEST_CASE("options: validation_set and test_set as fraction, file name or table", "[cli][options]") {
    cli::TrainOptions t = parse(doc("validation_set = 0.2\ntest_set = \"t.csv\"\n"));
    CHECK(t.validation.kind == cli::DataSource::Kind::fraction);
    CHECK(t.validation.fraction == 0.2);
    CHECK(t.test.kind == cli::DataSource::Kind::file);
    CHECK(t.test.path == "t.csv");

    t = parse(doc("validation_set = \"v.csv\"\n") + "[test_set]\nread_from = \"sub/t.csv\"\n");
    CHECK(t.validation.kind == cli::DataSource::Kind::file);
    CHECK(t.validation.path == "v.csv");
    CHECK(t.test.kind == cli::DataSource::Kind::file);
    CHECK(t.test.path == "sub/t.csv");

    t = parse(doc("validation_set = { read_from = \"v2.csv\" }\ntest_set = 0.3\n"));
    CHECK(t.validation.kind == cli::DataSource::Kind::file);
    CHECK(t.validation.path == "v2.csv");
    CHECK(t.test.kind == cli::DataSource::Kind::fraction);
    CHECK(t.test.fraction == 0.3);

    for (const char* none : {"0", "0.0"}) {  // 0: no validation set
        INFO("validation_set = " << none);
        CHECK(parse(doc(std::string("validation_set = ") + none + "\n")).validation.kind == cli::DataSource::Kind::none);
    }
    for (const char* bad : {"1", "1.5", "-0.2"}) {
        INFO("validation_set = " << bad);
        CHECK_THAT(error_of(doc(std::string("validation_set = ") + bad + "\n")),
                   StartsWith("opts.toml:1: 'validation_set' expected a fraction in [0, 1)"));
    }
    CHECK_THAT(error_of(doc() + "[validation_set]\n"),
               StartsWith("opts.toml:8: 'validation_set' expected a table with read_from"));
    CHECK_THAT(error_of(doc() + "[validation_set]\nread_from = 3\n"),
               StartsWith("opts.toml:9: 'validation_set.read_from' expected a string"));
}

TEST_CASE("train options: where() gives file and line of a key the file sets", "[cli][options]") {
    cli::TrainOptions t = parse(doc("", "", "batch_size = 8\n"), "o.toml");
    CHECK(t.where("architecture.training.batch_size") == "o.toml:5");
    CHECK(t.where("training_set.read_from") == "o.toml:7");
    CHECK(t.where("seed") == "o.toml");  // not in the file: the file alone
}

TEST_CASE("train options: to_toml() re-parses to the same options", "[cli][options]") {
    SECTION("defaults") {
        cli::TrainOptions a = parse(doc());
        cli::TrainOptions b = parse(a.to_toml(), "restart.toml");
        check_same(a, b);
        CHECK(b.to_toml() == a.to_toml());
    }
    SECTION("everything set, awkward numbers and paths") {
        cli::TrainOptions a = parse(
            "seed = 123456789\nvalidation_set = { read_from = \"va\\\\l \\\"1\\\".csv\" }\ntest_set = 0.3333333333333333\n" +
            doc("", "hidden = [1, 2, 3, 4]\nactivation = \"softplus\"\nbias = true\n",
                "num_epochs = 7\nbatch_size = 3\nlearning_rate = 0.1234567890123456789\noptimizer = \"adamw\"\n"
                "weight_decay = 3e-7\nmomentum = 0.0\nnesterov = true\nwarmup_fraction = 0.1\nscheduler = \"plateau\"\n"
                "scheduler_step_size = 9\nscheduler_gamma = 0.3\nplateau_factor = 0.9\nplateau_patience = 0\n"
                "grad_clip_norm = 2.5\nlog_interval = 3\ncheckpoint_interval = 1\nloss = \"mae\"\nhuber_delta = 1e300\n"
                "best_model_metric = \"rmse\"\nscale_inputs = false\n",
                "features = \"x\"\n", "[\"y\", \"z\"]"));
        CHECK(a.validation.path == "va\\l \"1\".csv");
        CHECK(a.features == std::vector<std::string>{"x"});
        cli::TrainOptions b = parse(a.to_toml(), "restart.toml");
        check_same(a, b);
        CHECK(b.to_toml() == a.to_toml());
    }
    SECTION("classification") {
        cli::TrainOptions a = parse(doc("", "", "", "task = \"classification\"\n"));
        cli::TrainOptions b = parse(a.to_toml(), "restart.toml");
        check_same(a, b);
    }
}

TEST_CASE("options: typed getters, fallbacks and where()", "[cli][options]") {
    cli::Options o = cli::Options::from_string("a = 1\n[t]\nb = 2.5\nc = true\nd = \"s\"\ne = [1, 2]\nf = [\"x\"]\n", "g.toml");
    CHECK(o.name() == "g.toml");
    CHECK(o.get_int("a", 0) == 1);
    CHECK(o.get_int("missing", 42) == 42);
    CHECK(o.get_float("a", 0) == 1.0);
    CHECK(o.get_float("t.b", 0) == 2.5);
    CHECK(o.get_bool("t.c", false));
    CHECK(o.get_string("t.d", "") == "s");
    CHECK(o.get_int_list("t.e", {}) == std::vector<long>{1, 2});
    CHECK(o.get_string_list("t.f", {}) == std::vector<std::string>{"x"});
    CHECK(o.get_string_list("t.d", {}) == std::vector<std::string>{"s"});
    CHECK(o.is_table("t"));
    CHECK(o.is_string("t.d"));
    CHECK_FALSE(o.has("t.z"));
    CHECK(o.where("t.c") == "g.toml:4");
    CHECK(o.where("nothing") == "g.toml");
    REQUIRE_THROWS_WITH(o.get_int("t.b", 0), StartsWith("g.toml:3: 't.b' expected an integer, got a number"));
    REQUIRE_THROWS_WITH(o.get_string("a", ""), StartsWith("g.toml:1: 'a' expected a string, got an integer"));
    REQUIRE_THROWS_WITH(o.get_bool("t.d", false), StartsWith("g.toml:5: 't.d' expected true or false, got a string"));
    CHECK(cli::Options::from_string("", "sub/dir/x.toml").base_dir() == "sub/dir");
    CHECK(cli::Options::from_string("", "x.toml").base_dir() == ".");
}

TEST_CASE("train options: bias = false needs standardisation off; adamw's decay defaults to 0.01",
          "[cli][options]") {
    CHECK_THAT(error_of(doc("", "bias = false\n")),
               StartsWith("opts.toml:") && Contains("'architecture.model.bias' = false needs"));
    cli::TrainOptions t = parse(doc("", "bias = false\n", "scale_inputs = false\nscale_targets = false\n"));
    CHECK_FALSE(t.bias);
    CHECK(parse(doc("", "", "optimizer = \"adamw\"\n")).weight_decay == 0.01);
    CHECK(parse(doc("", "", "optimizer = \"adamw\"\nweight_decay = 0.2\n")).weight_decay == 0.2);
    CHECK(parse(doc("", "", "optimizer = \"adam\"\n")).weight_decay == 0.0);
}
