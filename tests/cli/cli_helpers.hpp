// Helpers for the tests of the command-line program: a temporary directory, small file I/O, and
// running the `atomgrad` binary (next to the test binary: build/tests/run_tests -> build/atomgrad)
// with its combined stdout + stderr and exit code.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/helpers.hpp"

namespace cli_testing {

namespace fs = std::filesystem;

using TempDir = testing::TempDir;

/// `s` with its first `from` replaced by `to` (REQUIREs that `from` is there).
inline std::string replace(std::string s, const std::string& from, const std::string& to) {
    size_t p = s.find(from);
    REQUIRE(p != std::string::npos);
    return s.replace(p, from.size(), to);
}

inline void write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    REQUIRE(out.good());
}

inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// Every line of a text (without the newline); a last line without '\n' counts too.
inline std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream is(text);
    std::string line;
    while (std::getline(is, line)) out.push_back(line);
    return out;
}

/// The names of the files (and folders) in a directory, recursively, relative to it.
inline std::set<std::string> listing(const std::string& dir) {
    std::set<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir)) out.insert(fs::relative(e.path(), dir).string());
    return out;
}

/// The repository root: the tests run from it (make test).
inline std::string repo_root() { return fs::current_path().string(); }

inline std::string repo_file(const std::string& rel) { return (fs::current_path() / rel).string(); }

/// The atomgrad binary of the same build as this test binary.
inline std::string binary() {
    static const std::string path = [] {
        std::error_code ec;
        fs::path self = fs::read_symlink("/proc/self/exe", ec);
        if (!ec) {
            fs::path p = self.parent_path().parent_path() / "atomgrad";
            if (fs::exists(p)) return p.string();
        }
        return (fs::current_path() / "build" / "atomgrad").string();
    }();
    return path;
}

inline std::string quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') out += "'\\''";
        else out += c;
    }
    return out + "'";
}

struct RunResult {
    int status = -1;     ///< exit code (-1: did not exit normally)
    std::string output;  ///< stdout and stderr together
    std::vector<std::string> lines() const { return lines_of(output); }
};

/// Runs `atomgrad <args>` in directory `cwd` (args are passed to the shell as written).
inline RunResult run_cli(const std::string& args, const std::string& cwd) {
    const std::string bin = binary();
    INFO("binary " << bin);
    REQUIRE(fs::exists(bin));
    const std::string cmd = "cd " + quote(cwd) + " && OPENBLAS_NUM_THREADS=1 " + quote(bin) + " " + args + " 2>&1";
    RunResult r;
    FILE* pipe = ::popen(cmd.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
    int st = ::pclose(pipe);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

/// Options for a small, fast sine regression (the caller copies the training CSV next to it).
inline std::string sine_options(long epochs = 200, long checkpoint_interval = 100, const std::string& extra_training = "",
                                const std::string& top = "validation_set = 0.1\n") {
    std::ostringstream os;
    os << "seed = 3\n"
       << top << "\n[architecture]\nname = \"mlp\"\n\n[architecture.model]\nhidden = [20, 20]\nactivation = \"tanh\"\n\n"
       << "[architecture.training]\nnum_epochs = " << epochs << "\nbatch_size = 32\nlearning_rate = 1e-2\n"
       << "log_interval = 1000\ncheckpoint_interval = " << checkpoint_interval << "\n"
       << extra_training << "\n[training_set]\nread_from = \"train.csv\"\ntarget = \"y\"\ntask = \"regression\"\n";
    return os.str();
}

/// Copies a file into a directory under a new name.
inline void copy_to(const std::string& from, const std::string& to) {
    fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

}  // namespace cli_testing

namespace cli_testing {

/// Sets up `dir` with the sine training data and the small sine options (opts.toml), trains
/// with --run-dir run -o model.ckpt and returns the run's output; REQUIREs success.
inline RunResult train_small_sine(const TempDir& dir, const std::string& options = sine_options()) {
    copy_to(repo_file("examples/sine/train.csv"), dir.file("train.csv"));
    write_text(dir.file("opts.toml"), options);
    RunResult r = run_cli("train opts.toml -o model.ckpt --run-dir run", dir.str());
    INFO(r.output);
    REQUIRE(r.status == 0);
    return r;
}

}  // namespace cli_testing
