// cli/csv: reading numeric CSV tables, with every error naming the file and the line.
#include "cli/csv.hpp"
#include "tests/cli/cli_helpers.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using cli_testing::TempDir;
using cli_testing::write_text;

namespace {

// Writes `text` to dir/name and returns the path.
std::string csv_file(const TempDir& dir, const std::string& name, const std::string& text) {
    std::string path = dir.file(name);
    write_text(path, text);
    return path;
}

std::string error_of(const std::string& path) {
    try {
        cli::read_csv(path);
    } catch (const ad::Error& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("csv: reads header, values and line numbers", "[cli][csv]") {
    TempDir dir;
    // blank lines, spaces around cells and CRLF line ends are accepted; lines count from 1
    std::string path = csv_file(dir, "a.csv", "\n x , y ,label\r\n1, 2.5, 0\r\n\n-3e-1,4,1\r\n");
    cli::Table t = cli::read_csv(path);
    CHECK(t.path == path);
    CHECK(t.columns == std::vector<std::string>{"x", "y", "label"});
    REQUIRE(t.n_rows() == 2);
    CHECK(t.values.shape() == std::vector<long>{2, 3});
    CHECK(t.header_line == 2);
    CHECK(t.lines == std::vector<long>{3, 5});
    CHECK(t.values[0] == 1.0);
    CHECK(t.values[1] == 2.5);
    CHECK(t.values[3] == -0.3);
    CHECK(t.values[4] == 4.0);
    ad::Tensor sel = t.select({"y", "x"});
    CHECK(sel.shape() == std::vector<long>{2, 2});
    CHECK(sel[0] == 2.5);
    CHECK(sel[1] == 1.0);
    CHECK(sel[2] == 4.0);
    CHECK(sel[3] == -0.3);
    CHECK(t.labels("label") == std::vector<long>{0, 1});
    CHECK(t.labels("label", 2) == std::vector<long>{0, 1});
}

TEST_CASE("csv: a UTF-8 byte order mark before the header is skipped", "[cli][csv]") {
    TempDir dir;
    cli::Table t = cli::read_csv(csv_file(dir, "bom.csv", "\xEF\xBB\xBFx,y\n1,2\n"));
    CHECK(t.columns == std::vector<std::string>{"x", "y"});
    CHECK(t.column("x") == 0);
}

TEST_CASE("csv: a non-numeric cell names file, line, column and the cell", "[cli][csv]") {
    TempDir dir;
    std::string path = csv_file(dir, "bad.csv", "x,y\n1,2\n3,abc\n5,6\n");
    std::string msg = error_of(path);
    CHECK_THAT(msg, StartsWith(path + ":3: "));
    CHECK_THAT(msg, Contains("column 'y'"));
    CHECK_THAT(msg, Contains("'abc'"));
    // a number followed by junk, an empty cell and a number with an inner space are not numbers either
    CHECK_THAT(error_of(csv_file(dir, "junk.csv", "x,y\n1,2\n1.5kg,2\n")), StartsWith(dir.file("junk.csv") + ":3: "));
    CHECK_THAT(error_of(csv_file(dir, "emptycell.csv", "x,y\n1,\n")),
               StartsWith(dir.file("emptycell.csv") + ":2: ") && Contains("column 'y'"));
    CHECK_THAT(error_of(csv_file(dir, "space.csv", "x,y\n1,2\n\n1 2,3\n")), StartsWith(dir.file("space.csv") + ":4: "));
}

TEST_CASE("csv: a ragged row names file, line and the field counts", "[cli][csv]") {
    TempDir dir;
    std::string path = csv_file(dir, "ragged.csv", "x,y,z\n1,2,3\n4,5\n");
    std::string msg = error_of(path);
    CHECK_THAT(msg, StartsWith(path + ":3: "));
    CHECK_THAT(msg, Contains("expected 3 fields, got 2"));
    std::string longer = csv_file(dir, "long.csv", "x,y\n1,2\n3,4\n5,6,7\n");
    CHECK_THAT(error_of(longer), StartsWith(longer + ":4: ") && Contains("expected 2 fields, got 3"));
}

TEST_CASE("csv: NaN and infinite cells are rejected naming file and line", "[cli][csv]") {
    TempDir dir;
    for (std::string cell : {"nan", "NaN", "inf", "-inf", "Infinity", "1e999"}) {
        std::string path = csv_file(dir, "nan.csv", "x,y\n1,2\n2," + cell + "\n");
        INFO("cell " << cell);
        std::string msg = error_of(path);
        CHECK_THAT(msg, StartsWith(path + ":3: "));
        CHECK_THAT(msg, Contains("finite") && Contains("'" + cell + "'"));
    }
}

TEST_CASE("csv: an empty file, a blank file and a header without rows are rejected", "[cli][csv]") {
    TempDir dir;
    std::string empty = csv_file(dir, "empty.csv", "");
    CHECK_THAT(error_of(empty), StartsWith(empty + ":1: ") && Contains("empty"));
    std::string blank = csv_file(dir, "blank.csv", "\n  \n\r\n");
    CHECK_THAT(error_of(blank), StartsWith(blank + ":3: ") && Contains("empty"));
    std::string header = csv_file(dir, "header.csv", "x,y\n");
    CHECK_THAT(error_of(header), StartsWith(header + ":1: ") && Contains("at least one data row"));
    std::string header_blank = csv_file(dir, "header_blank.csv", "\nx,y\n\n\n");
    CHECK_THAT(error_of(header_blank), StartsWith(header_blank + ":2: ") && Contains("at least one data row"));
    std::string missing = dir.file("missing.csv");
    CHECK_THAT(error_of(missing), StartsWith(missing + ": ") && Contains("cannot open"));
}

TEST_CASE("csv: duplicate and empty column names are rejected at the header line", "[cli][csv]") {
    TempDir dir;
    std::string dup = csv_file(dir, "dup.csv", "\nx,y,x\n1,2,3\n");
    CHECK_THAT(error_of(dup), StartsWith(dup + ":2: ") && Contains("'x'") && Contains("twice"));
    std::string unnamed = csv_file(dir, "unnamed.csv", "x,,y\n1,2,3\n");
    CHECK_THAT(error_of(unnamed), StartsWith(unnamed + ":1: ") && Contains("field 2"));
}

TEST_CASE("csv: a missing column names file, header line, the column and the columns present", "[cli][csv]") {
    TempDir dir;
    std::string path = csv_file(dir, "t.csv", "\nx,z\n1,2\n");  // the header is on line 2
    cli::Table t = cli::read_csv(path);
    REQUIRE_THROWS_WITH(t.column("y"), StartsWith(path + ":2: ") && Contains("no column 'y'") &&
                                           Contains("(columns: x, z)"));
    REQUIRE_THROWS_WITH(t.select({"x", "y"}), StartsWith(path + ":2: ") && Contains("'y'"));
    REQUIRE_THROWS_WITH(t.labels("y"), StartsWith(path + ":2: ") && Contains("'y'"));
    CHECK(t.column("z") == 1);
}

TEST_CASE("csv: labels() rejects fractional, negative and out-of-range labels at their line", "[cli][csv]") {
    TempDir dir;
    std::string path = csv_file(dir, "l.csv", "x,a,b,c\n0,0,0,0\n1,1.5,-1,3\n2,2,1,1\n");
    cli::Table t = cli::read_csv(path);
    REQUIRE_THROWS_WITH(t.labels("a"), StartsWith(path + ":3: ") && Contains("integer class label") &&
                                           Contains("column 'a'") && Contains("1.5"));
    REQUIRE_THROWS_WITH(t.labels("b"), StartsWith(path + ":3: ") && Contains("column 'b'") && Contains("-1"));
    // without a class count any label >= 0 goes; with one, labels must be below it
    CHECK(t.labels("c") == std::vector<long>{0, 3, 1});
    CHECK(t.labels("c", 4) == std::vector<long>{0, 3, 1});
    REQUIRE_THROWS_WITH(t.labels("c", 3), StartsWith(path + ":3: ") && Contains("[0, 3)") && Contains("got 3"));
    CHECK(t.labels("x", 3) == std::vector<long>{0, 1, 2});
}

TEST_CASE("csv: write_csv writes header and rows that read back, leaving no temporary file", "[cli][csv]") {
    TempDir dir;
    std::string path = dir.file("out.csv");
    cli::write_csv(path, {"a", "b"}, {{1.0, -2.5}, {0.1, 1e-12}});
    CHECK(cli_testing::read_text(path) == "a,b\n1,-2.5\n0.1,1e-12\n");
    CHECK(cli_testing::listing(dir.str()) == std::set<std::string>{"out.csv"});
    cli::Table t = cli::read_csv(path);
    CHECK(t.columns == std::vector<std::string>{"a", "b"});
    CHECK(t.values[3] == 1e-12);
}

TEST_CASE("csv: split_csv_line trims spaces and a carriage return, keeps empty fields", "[cli][csv]") {
    CHECK(cli::split_csv_line(" a ,b\t,c\r") == std::vector<std::string>{"a", "b", "c"});
    CHECK(cli::split_csv_line("1,,2,") == std::vector<std::string>{"1", "", "2", ""});
    CHECK(cli::split_csv_line("") == std::vector<std::string>{""});
}
