// End-to-end: `atomgrad soap` on the spec's structures (tests/reference/soap/, a copy of
// specs/soap_vectors/) with each case's hypers reproduces the reference files: the same header
// lines, the same number of lines and columns, the same integer index columns, and values within
// the spec tolerances (features 1e-9 M, derivatives 1e-8 M, M = max(1, max|ref|), soap.md sec. 10).
// Also: several frames -> <name>.<frame>.*, default species, and one-line errors with no output.
#include <toml++/toml.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "tests/cli/cli_helpers.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using namespace cli_testing;

namespace {

std::string reference(const std::string& name) { return repo_file("tests/reference/soap/" + name); }

std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> out;
    std::istringstream is(line);
    std::string w;
    while (is >> w) out.push_back(w);
    return out;
}

// Compares a written file with a reference file: header lines ('#') equal as text except the
// "# structure:" line when `structure_line` is given (then ours must equal it), data lines equal
// in number and columns, the first `n_index` columns equal as text, the rest within tol * M.
void compare_files(const std::string& ours_path, const std::string& ref_path, int n_index, double tol,
                   const std::string& structure_line = "") {
    INFO("ours " << ours_path << " vs reference " << ref_path);
    REQUIRE(std::filesystem::exists(ours_path));
    const std::vector<std::string> ours = lines_of(read_text(ours_path)), ref = lines_of(read_text(ref_path));
    REQUIRE(ours.size() == ref.size());
    double max_ref = 0.0, max_diff = 0.0;
    for (size_t r = 0; r < ref.size(); ++r) {
        INFO("line " << r + 1);
        const bool header = !ref[r].empty() && ref[r][0] == '#';
        REQUIRE((!ours[r].empty() && ours[r][0] == '#') == header);
        if (header) {
            if (!structure_line.empty() && ref[r].rfind("# structure:", 0) == 0) CHECK(ours[r] == structure_line);
            else CHECK(ours[r] == ref[r]);
            continue;
        }
        const std::vector<std::string> a = split(ours[r]), b = split(ref[r]);
        REQUIRE(a.size() == b.size());
        for (size_t c = 0; c < b.size(); ++c) {
            if (static_cast<int>(c) < n_index) {
                CHECK(a[c] == b[c]);
                continue;
            }
            char* end = nullptr;
            const double x = std::strtod(a[c].c_str(), &end);
            REQUIRE(*end == '\0');
            const double y = std::strtod(b[c].c_str(), nullptr);
            max_ref = std::max(max_ref, std::abs(y));
            max_diff = std::max(max_diff, std::abs(x - y));
        }
    }
    CHECK(max_diff <= tol * std::max(1.0, max_ref));
}

std::string hyper_args(const toml::table& c) {
    std::ostringstream os;
    os << "--cutoff " << c["cutoff"].value<double>().value() << " --width " << c["width"].value<double>().value()
       << " --max-angular " << c["max_angular"].value<int64_t>().value() << " --max-radial "
       << c["max_radial"].value<int64_t>().value();
    return os.str();
}

std::string species_arg(const toml::table& c) {
    std::string s;
    for (const auto& z : *c["species"].as_array()) s += (s.empty() ? "" : ",") + std::to_string(z.value<int64_t>().value());
    return s;
}

// Runs `args` in `dir`: exit code `status`, one line with the pieces, the directory unchanged.
void expect_failure(const TempDir& dir, const std::string& args, int status, const std::vector<std::string>& pieces) {
    const std::set<std::string> before = listing(dir.str());
    RunResult r = run_cli(args, dir.str());
    INFO("atomgrad " << args << "\n--- output:\n" << r.output);
    CHECK(r.status == status);
    REQUIRE(r.lines().size() == 1);
    for (const auto& p : pieces) CHECK_THAT(r.lines()[0], Contains(p));
    CHECK(listing(dir.str()) == before);
}

}  // namespace

TEST_CASE("atomgrad soap: reproduces the spec's features, gradients and strain files", "[cli][soap]") {
    toml::table cases = toml::parse_file(reference("cases.toml"));
    int n_cases = 0;
    for (const auto& node : *cases["case"].as_array()) {
        const toml::table& c = *node.as_table();
        const std::string name = c["name"].value<std::string>().value();
        SECTION(name) {
            TempDir dir;
            const auto gradients = c["gradients"].value<std::string>();
            const auto strain = c["strain"].value<std::string>();
            const std::string args = "soap " + quote(reference(c["structure"].value<std::string>().value())) + " " +
                                     hyper_args(c) + " --species " + species_arg(c) + (gradients ? " --gradients" : "") +
                                     (strain ? " --strain" : "") + " --name " + name + " -o out";
            RunResult r = run_cli(args, dir.str());
            INFO("atomgrad " << args << "\n--- output:\n" << r.output);
            REQUIRE(r.status == 0);
            compare_files(dir.file("out/" + name + ".features.txt"), reference(c["features"].value<std::string>().value()),
                          0, 1e-9);
            if (gradients) compare_files(dir.file("out/" + name + ".gradients.txt"), reference(*gradients), 3, 1e-8);
            if (strain) compare_files(dir.file("out/" + name + ".strain.txt"), reference(*strain), 3, 1e-8);
            std::set<std::string> expected = {"out", "out/" + name + ".features.txt"};
            if (gradients) expected.insert("out/" + name + ".gradients.txt");
            if (strain) expected.insert("out/" + name + ".strain.txt");
            CHECK(listing(dir.str()) == expected);  // no *.tmp left
        }
        ++n_cases;
    }
    CHECK(n_cases == 6);
}

TEST_CASE("atomgrad soap: several frames are <name>.<frame>.*; species default to the file's", "[cli][soap]") {
    TempDir dir;
    const std::string water = read_text(reference("water.xyz"));
    write_text(dir.file("two.xyz"), water + water);
    // no --species: the sorted distinct atomic numbers of the file, [1, 8] as in water.small
    RunResult r = run_cli("soap two.xyz --cutoff 3 --width 0.5 --max-angular 2 --max-radial 2 --gradients -o .", dir.str());
    INFO(r.output);
    REQUIRE(r.status == 0);
    CHECK(listing(dir.str()) == std::set<std::string>{"two.xyz", "two.0.features.txt", "two.1.features.txt",
                                                      "two.0.gradients.txt", "two.1.gradients.txt"});
    for (int k = 0; k < 2; ++k) {
        const std::string structure = "# structure: two.xyz frame " + std::to_string(k);
        compare_files(dir.file("two." + std::to_string(k) + ".features.txt"), reference("water.small.features.txt"), 0,
                      1e-9, structure);
        compare_files(dir.file("two." + std::to_string(k) + ".gradients.txt"), reference("water.small.gradients.txt"), 3,
                      1e-8, structure);
    }
}

TEST_CASE("atomgrad soap: bad input is one line and leaves no output", "[cli][soap]") {
    TempDir dir;
    copy_to(reference("water.xyz"), dir.file("water.xyz"));
    const std::string hypers = " --cutoff 3 --width 0.5 --max-angular 2 --max-radial 2";
    expect_failure(dir, "soap water.xyz" + hypers + " --species 1,6 -o out", 1,
                   {"atomgrad: error: ", "water.xyz frame 0", "O (Z = 8)", "not in --species 1,6"});
    expect_failure(dir, "soap water.xyz" + hypers + " --gradient -o out", 2, {"unknown option --gradient", "usage:"});
    expect_failure(dir, "soap water.xyz --cutoff 3x --width 0.5 -o out", 1, {"--cutoff expected a number, got '3x'"});
    expect_failure(dir, "soap water.xyz --cutoff 3 --width 4 -o out", 1, {"--width expected 0 < width <= cutoff"});
    expect_failure(dir, "soap water.xyz --cutoff 3 --max-radial -1 -o out", 1, {"--max-radial expected an integer"});
    expect_failure(dir, "soap water.xyz" + hypers + " --max-radial 3 -o out", 2, {"option --max-radial given twice"});
    expect_failure(dir, "soap water.xyz" + hypers + " --species 1,x8 -o out", 1, {"--species"});
    expect_failure(dir, "soap missing.xyz" + hypers + " -o out", 1, {"missing.xyz"});
    expect_failure(dir, "soap" + hypers, 2, {"expected one structure file"});
}
