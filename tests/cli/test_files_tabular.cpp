// cli/files (atomic writes, also to pipes and devices) and the scaler folding of nn::TabularModel
// that `atomgrad train` relies on (fold for saving, unfold for --init).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/files.hpp"
#include "nn/tabular.hpp"
#include "tests/cli/cli_helpers.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using cli_testing::TempDir;
using testing::AllClose;

TEST_CASE("files: write_file_atomic replaces a file and leaves no temporary", "[cli][files]") {
    TempDir dir;
    const std::string path = dir.file("a.txt");
    cli::write_file_atomic(path, "one");
    cli::write_file_atomic(path, "two");
    CHECK(cli_testing::read_text(path) == "two");
    CHECK(cli_testing::listing(dir.str()) == std::set<std::string>{"a.txt"});
    REQUIRE_THROWS_WITH(cli::write_file_atomic(dir.file("no/such/dir/a.txt"), "x"), StartsWith(dir.file("no/such/dir/a.txt")));
    REQUIRE_THROWS_WITH(cli::write_file_atomic(dir.str(), "x"), StartsWith(dir.str()) && Contains("directory"));
}

TEST_CASE("files: write_file_atomic writes into a pipe instead of replacing it", "[cli][files]") {
    // `-o /dev/null` or a pipe: renaming a temporary file over it would replace the device.
    TempDir dir;
    const std::string fifo = dir.file("pipe");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    int fd = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);  // a reader, so that opening to write does not block
    REQUIRE(fd >= 0);
    cli::write_file_atomic(fifo, "hello");
    char buf[16] = {};
    ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    CHECK(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0) == "hello");
    struct stat st;
    REQUIRE(::stat(fifo.c_str(), &st) == 0);
    CHECK(S_ISFIFO(st.st_mode));
    CHECK(cli_testing::listing(dir.str()) == std::set<std::string>{"pipe"});
}

TEST_CASE("files: path helpers", "[cli][files]") {
    CHECK(cli::dirname_of("a/b/c.toml") == "a/b");
    CHECK(cli::dirname_of("c.toml") == ".");
    CHECK(cli::dirname_of("/c.toml") == "/");
    CHECK(cli::join_path(".", "x.csv") == "x.csv");
    CHECK(cli::join_path("a", "x.csv") == "a/x.csv");
    CHECK(cli::join_path("a/", "x.csv") == "a/x.csv");
    CHECK(cli::join_path("a", "/abs/x.csv") == "/abs/x.csv");
    TempDir dir;
    cli::make_dirs(dir.file("p/q/r"));
    CHECK(cli::file_exists(dir.file("p/q/r")));
    cli::make_dirs(dir.file("p/q/r"));  // again: fine
}

namespace {

// A regression model on 3 features with 2 targets, random weights and data far from standardised.
struct Fixture {
    ad::Rng rng{11};
    nn::TabularSpec spec;
    ad::Tensor x, y;
    Fixture() {
        spec.features = {"a", "b", "c"};
        spec.targets = {"u", "v"};
        spec.hidden = {5, 4};
        x = ad::add(ad::mul(rng.normal({20, 3}), ad::tensor({3}, {3.0, 0.01, 100.0})), ad::tensor({3}, {10.0, -2.0, 500.0}));
        y = ad::add(ad::mul(rng.normal({20, 2}), ad::tensor({2}, {50.0, 0.1})), ad::tensor({2}, {-7.0, 3.0}));
    }
};

}  // namespace

TEST_CASE("tabular: fold_scalers and unfold_*_scaler keep the model's function", "[cli][tabular]") {
    Fixture f;
    nn::TabularModel m(f.spec, f.rng);
    m.fit_input_scaler(f.x);
    m.fit_target_scaler(f.y);
    ad::NoGrad ng;
    const ad::Tensor before = m.forward(f.x);
    const ad::Tensor normalized_before = m.forward_normalized(f.x);

    m.fold_scalers();  // what model.ckpt holds
    CHECK_FALSE(m.has_scalers());
    // tolerance: folding re-associates products of O(100) numbers; 1e-10 relative is rounding
    CHECK_THAT(m.forward(f.x), AllClose(before, 1e-10, 1e-10));

    // --init: the same function again, with the scalers of the (same) training data
    CHECK(m.unfold_input_scaler(f.x));
    CHECK(m.unfold_target_scaler(f.y));
    CHECK(m.has_scalers());
    CHECK_THAT(m.forward(f.x), AllClose(before, 1e-10, 1e-10));
    // the network sees standardised numbers as in the original model, so the loss units agree
    CHECK_THAT(m.forward_normalized(f.x), AllClose(normalized_before, 1e-10, 1e-10));
    CHECK(m.target_scale()[0] > 10);  // the first target's spread is about 50
    // a model that has its scalers is left alone
    CHECK_FALSE(m.unfold_input_scaler(f.x));
    CHECK_FALSE(m.unfold_target_scaler(f.y));
    CHECK_THAT(m.forward(f.x), AllClose(before, 1e-10, 1e-10));
}

TEST_CASE("tabular: unfolding needs biases; classification has no target scaler", "[cli][tabular]") {
    Fixture f;
    f.spec.bias = false;
    nn::TabularModel m(f.spec, f.rng);
    ad::NoGrad ng;
    const ad::Tensor before = m.forward(f.x);
    CHECK_FALSE(m.unfold_input_scaler(f.x));
    CHECK_FALSE(m.unfold_target_scaler(f.y));
    CHECK_FALSE(m.has_scalers());
    CHECK_THAT(m.forward(f.x), AllClose(before, 0, 0));

    nn::TabularSpec cls = Fixture().spec;
    cls.task = nn::Task::classification;
    cls.targets = {"label"};
    cls.n_classes = 3;
    nn::TabularModel c(cls, f.rng);
    REQUIRE_THROWS_WITH(c.unfold_target_scaler(f.y), Contains("regression only"));
    const ad::Tensor logits = c.forward(f.x);
    CHECK(c.unfold_input_scaler(f.x));
    CHECK_THAT(c.forward(f.x), AllClose(logits, 1e-10, 1e-10));
}

TEST_CASE("tabular: a checkpoint round trip keeps scalers and outputs exactly", "[cli][tabular]") {
    Fixture f;
    nn::TabularModel m(f.spec, f.rng);
    m.fit_input_scaler(f.x);
    m.fit_target_scaler(f.y);
    nn::TabularModel back = nn::TabularModel::from_checkpoint(m.to_checkpoint());
    CHECK(back.spec().to_toml() == m.spec().to_toml());
    ad::NoGrad ng;
    CHECK_THAT(back.forward(f.x), AllClose(m.forward(f.x), 0, 0));
}
