// Extended XYZ: reading the project's data files, exact round trips, ASE's layout, one-line errors.
// tests/data/*.xyz are the first frames of /work/shared/data/* and the soap_vectors structures.
#include <chrono>
#include <filesystem>

#include "descriptors/extxyz.hpp"
#include "tests/descriptors/desc_helpers.hpp"
#include "tests/helpers.hpp"

using desc::System;
using desc_testing::check_same_system;
using testing::AllClose;

namespace {

const std::vector<std::string> kDataFiles = {"tests/data/ethanol-xtb-5.xyz", "tests/data/cu-emt-6.xyz",
                                             "tests/data/cuau-emt-2.xyz",   "tests/data/cu_fcc4.xyz",
                                             "tests/data/ethanol.xyz",      "tests/data/water.xyz"};

// Everything the reader keeps: typed per-frame values, quoting, brackets, bare keys, every column type.
const std::string kEdgeCases =
    "3\n"
    "Lattice=\"4.0 0.0 0.0 0.5 4.0 0.0 0.0 0.3 5.0\" "
    "Properties=species:S:1:pos:R:3:tags:I:1:fixed:L:1:label:S:1:magmoms:R:1 energy=1.5 "
    "name=\"two words\" quote=\"say \\\"hi\\\"\" flag nested={1 2 3} arr=[1, 2, 3] int=42 pbc=\"T F T\"\n"
    "H 0 0 0 1 T a 0.5\n"
    "Au 1.5e0 +2 -3 -2 F b-c nan\n"
    "O 1 2 3 7 True x 1e-310\n"
    "\n"
    "2\r\n"
    "just a comment\r\n"
    "H 0 0 0\r\n"
    "H 0 0 0.74\r\n"
    "1\n"
    "Lattice=\"2 0 0 0 2 0 0 0 2\" Properties=Z:I:1:pos:R:3\n"
    "29 0.1 0.2 -7.5\n";

std::string first_comment_line(const std::string& text) {
    size_t a = text.find('\n') + 1;
    return text.substr(a, text.find('\n', a) - a);
}

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("extxyz: reads the data sets' frames", "[descriptors][extxyz]") {
    auto eth = desc::read_extxyz("tests/data/ethanol-xtb-5.xyz");
    REQUIRE(eth.size() == 5);
    const System& e = eth[0];
    CHECK(e.numbers == std::vector<int>{6, 6, 8, 1, 1, 1, 1, 1, 1});
    CHECK(e.pbc == std::array<bool, 3>{false, false, false});
    CHECK_THAT(e.cell, AllClose(ad::Tensor::zeros({3, 3}), 0, 0));
    CHECK(e.positions[0] == -0.82257661);
    CHECK(e.positions[26] == -1.07475965);
    CHECK(e.require_energy() == -309.54839569771127);
    CHECK(*e.find_info("config_type") == "ethanol_md_500K");
    ad::Tensor f = e.require_forces();
    CHECK(f.shape() == ad::Shape{9, 3});
    CHECK(f[0] == 0.84955731);
    CHECK(f[26] == -0.03959558);
    CHECK(e.where() == "tests/data/ethanol-xtb-5.xyz frame 0 (line 1)");
    CHECK(eth[1].line == 12);

    auto cu = desc::read_extxyz("tests/data/cu-emt-6.xyz");
    REQUIRE(cu.size() == 6);
    CHECK(cu[0].n_atoms() == 32);
    CHECK(cu[0].pbc == std::array<bool, 3>{true, true, true});
    CHECK_THAT(cu[0].cell, AllClose(ad::tensor({3, 3}, {7.18, 0, 0, 0, 7.18, 0, 0, 0, 7.18}), 0, 0));
    CHECK(cu[0].positions[0] == 7.03802291);
    ad::Tensor s = cu[0].require_stress();
    CHECK(s.shape() == ad::Shape{3, 3});
    CHECK(s[0] == -0.016297098257686687);
    CHECK(s[1] == s[3]);
    CHECK(s[8] == -0.009567006791169098);
    CHECK(cu[1].cell[1] != 0.0);  // the strained frame is triclinic
    CHECK(cu[2].n_atoms() == 108);

    auto cuau = desc::read_extxyz("tests/data/cuau-emt-2.xyz");
    REQUIRE(cuau.size() == 2);
    CHECK(cuau[0].numbers[0] == 79);
    CHECK(cuau[0].numbers[1] == 29);
    CHECK(desc::unique_numbers(cuau) == std::vector<int>{29, 79});
    CHECK(desc::unique_numbers(eth) == std::vector<int>{1, 6, 8});
}

TEST_CASE("extxyz: edge cases keep every key and column", "[descriptors][extxyz]") {
    auto fr = desc::parse_extxyz(kEdgeCases, "edge.xyz");
    REQUIRE(fr.size() == 3);
    const System& a = fr[0];
    CHECK(a.numbers == std::vector<int>{1, 79, 8});
    CHECK(a.pbc == std::array<bool, 3>{true, false, true});
    CHECK(a.cell[3] == 0.5);
    CHECK(a.positions[3] == 1.5);
    CHECK(a.positions[4] == 2.0);
    using KV = std::vector<std::pair<std::string, std::string>>;
    CHECK(a.info_raw == KV{{"energy", "1.5"}, {"name", "two words"}, {"quote", "say \"hi\""}, {"flag", "T"},
                           {"nested", "{1 2 3}"}, {"arr", "[1, 2, 3]"}, {"int", "42"}});
    REQUIRE(a.arrays.size() == 4);
    CHECK(a.find_array("tags")->values == std::vector<double>{1, -2, 7});
    CHECK(a.find_array("fixed")->values == std::vector<double>{1, 0, 1});
    CHECK(a.find_array("label")->strings == std::vector<std::string>{"a", "b-c", "x"});
    CHECK(std::isnan(a.find_array("magmoms")->values[1]));
    CHECK(a.find_array("magmoms")->values[2] == 1e-310);

    const System& b = fr[1];  // plain comment, CRLF line ends: default Properties, words as bare keys
    CHECK(b.pbc == std::array<bool, 3>{false, false, false});
    CHECK(b.positions[5] == 0.74);
    CHECK(b.info_raw.size() == 3);
    CHECK(*b.find_info("comment") == "T");

    const System& c = fr[2];  // atomic numbers instead of symbols; Lattice alone means pbc T T T
    CHECK(c.numbers == std::vector<int>{29});
    CHECK(c.pbc == std::array<bool, 3>{true, true, true});
    CHECK(c.positions[2] == -7.5);
}

TEST_CASE("extxyz: read -> write -> read is exact", "[descriptors][extxyz]") {
    desc_testing::TempDir dir;
    std::vector<std::string> texts;
    for (const auto& path : kDataFiles) texts.push_back(slurp(path));
    texts.push_back(kEdgeCases);
    for (const auto& text : texts) {
        auto frames = desc::parse_extxyz(text, "in.xyz");
        std::string out = dir.file("out.xyz");
        desc::write_extxyz(out, frames);
        CHECK_FALSE(std::filesystem::exists(out + ".tmp"));
        auto back = desc::read_extxyz(out);
        REQUIRE(back.size() == frames.size());
        for (size_t k = 0; k < frames.size(); ++k) check_same_system(frames[k], back[k]);
        CHECK(desc::format_extxyz(back) == slurp(out));  // writing is a fixed point
    }
}

TEST_CASE("extxyz: the comment line is the one ASE writes", "[descriptors][extxyz]") {
    for (const auto& path : {"tests/data/cu-emt-6.xyz", "tests/data/ethanol-xtb-5.xyz", "tests/data/cuau-emt-2.xyz"}) {
        std::string text = slurp(path);
        CHECK(first_comment_line(desc::format_extxyz(desc::parse_extxyz(text, path))) == first_comment_line(text));
    }
    // a System built in code: Lattice only when the cell is non-zero; pbc last
    System s = desc_testing::make_system({0, 0, 0}, {}, {false, false, false}, {1});
    s.set_energy(-2.0);
    s.set_info("config_type", "a b");
    CHECK(desc::format_extxyz({s}) ==
          "1\nProperties=species:S:1:pos:R:3 energy=-2.0 config_type=\"a b\" pbc=\"F F F\"\n"
          "H                0               0               0\n");
}

TEST_CASE("extxyz: errors name the file, the line and what was expected", "[descriptors][extxyz]") {
    auto parse = [](const std::string& text) { return desc::parse_extxyz(text, "bad.xyz"); };
    REQUIRE_THROWS_WITH(parse("3\nProperties=species:S:1:pos:R:3\nH 0 0 0\nH 1 0 0\n"),
                        "bad.xyz:4: expected 3 atom lines for the frame starting at line 1, got end of file after 2");
    REQUIRE_THROWS_WITH(parse("1\n\nH 0 0 x1\n"), "bad.xyz:3: expected a real number in column 4 (pos), got 'x1'");
    REQUIRE_THROWS_WITH(parse("1\n\nH 0 0 1.0.0\n"), Catch::Contains("got '1.0.0'"));
    REQUIRE_THROWS_WITH(parse("1\nProperties=species:S:1:pos:Q:3\nH 0 0 0\n"),
                        Catch::StartsWith("bad.xyz:2: expected Properties=name:type:count") &&
                            Catch::Contains("got 'species:S:1:pos:Q:3'"));
    REQUIRE_THROWS_WITH(parse("1\nProperties=species:S:1:pos:R\nH 0 0 0\n"), Catch::StartsWith("bad.xyz:2: expected Properties="));
    REQUIRE_THROWS_WITH(parse("1\nProperties=species:S:1:forces:R:3\nH 0 0 0\n"),
                        Catch::Contains("expected Properties with species:S:1 (or Z:I:1) and pos:R:3"));
    REQUIRE_THROWS_WITH(parse("1\nProperties=species:S:1:pos:R:2\nH 0 0\n"), Catch::Contains("expected pos:R:3"));
    REQUIRE_THROWS_WITH(parse("1\n\nXx 0 0 0\n"),
                        "bad.xyz:3: expected an element symbol (H..Og) in column 1 (species), got 'Xx'");
    REQUIRE_THROWS_WITH(parse("1\n\nH 0 nan 0\n"), "bad.xyz:3: expected a finite coordinate in column 3 (pos), got 'nan'");
    REQUIRE_THROWS_WITH(parse("1\n\nH 0 -inf 0\n"), "bad.xyz:3: expected a finite coordinate in column 3 (pos), got '-inf'");
    // the training targets: NaN/inf forces, energy or stress (other real columns may hold NaN, see kEdgeCases)
    REQUIRE_THROWS_WITH(parse("2\nProperties=species:S:1:pos:R:3:forces:R:3 energy=1.0\nH 0 0 0 1 2 3\nH 1 0 0 nan 0 0\n"),
                        "bad.xyz:4: expected a finite number in column 5 (forces), got 'nan'");
    REQUIRE_THROWS_WITH(parse("1\nenergy=nan\nH 0 0 0\n"), "bad.xyz:2: expected finite numbers for 'energy', got 'nan'");
    REQUIRE_THROWS_WITH(parse("1\nLattice=\"2 0 0 0 2 0 0 0 2\" stress=\"1 0 0 0 1 0 0 0 inf\"\nH 0 0 0\n"),
                        Catch::StartsWith("bad.xyz:2: expected finite numbers for 'stress', got '1 0 0 0 1 0 0 0 inf'"));
    // two atoms on top of each other, directly or through the cell: the frame and both atoms
    REQUIRE_THROWS_WITH(parse("1\n\nH 0 0 0\n3\n\nH 0 0 0\nO 1 0 0\nH 0 0 0.05\n"),
                        Catch::StartsWith("bad.xyz frame 1 (line 4): expected atoms at least 0.1 A apart, got atoms 0 "
                                          "and 2 at distance 0.05 (shift [0, 0, 0])"));
    REQUIRE_THROWS_WITH(parse("2\nLattice=\"3 0 0 0 3 0 0 0 3\"\nCu 0 0 0\nCu 0 0 3\n"),
                        Catch::Contains("frame 0 (line 1): expected atoms at least 0.1 A apart, got atoms 0 and 1 at "
                                        "distance 0 (shift [0, 0, -1])"));
    REQUIRE_THROWS_WITH(parse("1\nLattice=\"1 0 0 2 0 0 0 0 1\" pbc=\"T T T\"\nH 0 0 0\n"),
                        "bad.xyz:2: expected a non-singular Lattice with pbc=\"T T T\", got determinant 0.0");
    REQUIRE_THROWS_WITH(parse("1\npbc=\"F T F\"\nH 0 0 0\n"),
                        "bad.xyz:2: expected a non-singular Lattice with pbc=\"F T F\", got no Lattice");
    REQUIRE_THROWS_WITH(parse("1\nLattice=\"1 2 3\"\nH 0 0 0\n"), Catch::Contains("expected Lattice=\"ax ay az"));
    REQUIRE_THROWS_WITH(parse("1\npbc=\"T T\"\nH 0 0 0\n"), Catch::Contains("expected pbc=\"T T T\""));
    REQUIRE_THROWS_WITH(parse("abc\n"), "bad.xyz:1: expected the number of atoms of a frame, got 'abc'");
    REQUIRE_THROWS_WITH(parse("2\n"), Catch::Contains("expected the comment line of the frame starting at line 1"));
    REQUIRE_THROWS_WITH(parse("1\n\nH 0 0 0 5\n"),
                        "bad.xyz:3: expected 4 columns (Properties=species:S:1:pos:R:3), got 5 in 'H 0 0 0 5'");
    REQUIRE_THROWS_WITH(parse("1\nname=\"abc\nH 0 0 0\n"), Catch::Contains("bad.xyz:2: expected a closing '\"'"));
    REQUIRE_THROWS_WITH(parse("1\na=1 a=2\nH 0 0 0\n"), Catch::Contains("expected each key once"));

    auto frames = parse("1\nenergy=1.0\nH 0 0 0\n1\nfree_energy=2\nH 0 0 0\n");
    CHECK(frames[0].require_energy() == 1.0);
    REQUIRE_THROWS_WITH(frames[1].require_energy(), "bad.xyz frame 1 (line 4): expected per-frame key 'energy', got none");
    REQUIRE_THROWS_WITH(frames[1].require_forces(), "bad.xyz frame 1 (line 4): expected per-atom column 'forces', got none");

    REQUIRE_THROWS_WITH(desc::read_extxyz("/nonexistent/x.xyz"),
                        Catch::StartsWith("read_extxyz: expected a readable file, got '/nonexistent/x.xyz'"));
    REQUIRE_THROWS_WITH(desc::write_extxyz("/nonexistent/x.xyz", frames),
                        Catch::StartsWith("/nonexistent/x.xyz: cannot write ("));
}

TEST_CASE("extxyz: 1000 ethanol frames load in well under 0.1 s", "[descriptors][extxyz]") {
    // the full data set lives in shared/ beside the repository (tests run from the repository root)
    const std::string path = "../shared/data/ethanol-xtb/train.xyz";
    if (!std::filesystem::exists(path)) {
        WARN("skipped: " << path << " not found");
        return;
    }
    auto t0 = std::chrono::steady_clock::now();
    auto frames = desc::read_extxyz(path);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(frames.size() == 1000);
    INFO("read_extxyz: 1000 ethanol frames in " << seconds * 1e3 << " ms");
#ifdef __OPTIMIZE__  // unoptimised sanitizer builds are ~10x slower
    CHECK(seconds < 0.1);
#endif
}
