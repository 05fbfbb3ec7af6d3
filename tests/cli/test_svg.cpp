// cli/svg: the files are well-formed (balanced tags), hold one element per data point or series,
// carry no NaN/Inf coordinates, are written atomically, and bad input fails with a clear ad::Error.
#include <cmath>
#include <regex>

#include "cli/svg.hpp"
#include "tests/cli/cli_helpers.hpp"

using Catch::Matchers::Contains;
using cli_testing::read_text;
using cli_testing::TempDir;

namespace {

// Checks that every element closes in order (XML-ish: <?..?> prolog, <a ...>, </a>, <a .../>)
// and that attribute values hold no raw '<'. Returns "" or the first problem.
std::string tag_problem(const std::string& s) {
    std::vector<std::string> stack;
    size_t i = 0;
    while ((i = s.find('<', i)) != std::string::npos) {
        const size_t e = s.find('>', i);
        if (e == std::string::npos) return "unterminated tag at " + std::to_string(i);
        const std::string tag = s.substr(i + 1, e - i - 1);
        if (tag.find('<') != std::string::npos) return "'<' inside tag at " + std::to_string(i);
        i = e + 1;
        if (tag.empty()) return "empty tag";
        if (tag[0] == '?') continue;
        if (tag[0] == '/') {
            const std::string name = tag.substr(1);
            if (stack.empty() || stack.back() != name)
                return "</" + name + "> closes " + (stack.empty() ? std::string("nothing") : "<" + stack.back() + ">");
            stack.pop_back();
            continue;
        }
        if (tag.back() == '/') continue;  // self-closing
        stack.push_back(tag.substr(0, tag.find_first_of(" \n\t")));
    }
    if (!stack.empty()) return "<" + stack.back() + "> never closed";
    return "";
}

size_t count(const std::string& s, const std::string& what) {
    size_t n = 0;
    for (size_t i = s.find(what); i != std::string::npos; i = s.find(what, i + 1)) ++n;
    return n;
}

// The text of the element <g class="NAME" ...> ... </g> (no nested groups inside these).
std::string group(const std::string& s, const std::string& name) {
    const size_t b = s.find("<g class=\"" + name + "\"");
    if (b == std::string::npos) return "";
    return s.substr(b, s.find("</g>", b) - b);
}

// Every number in an attribute value or a path is finite: no "nan"/"inf" anywhere, and every
// coordinate attribute parses.
bool finite_numbers(const std::string& s) {
    if (s.find("nan") != std::string::npos || s.find("inf") != std::string::npos) return false;
    std::regex attr(R"re(\b(x|y|x1|x2|y1|y2|cx|cy|r|width|height)="([^"]*)")re");
    for (auto it = std::sregex_iterator(s.begin(), s.end(), attr); it != std::sregex_iterator(); ++it) {
        const std::string v = (*it)[2];
        char* end = nullptr;
        const double d = std::strtod(v.c_str(), &end);
        if (end == v.c_str() || !std::isfinite(d)) return false;
    }
    return true;
}

cli::LinePlot sine_plot(long n) {
    cli::LinePlot p;
    p.title = "sine & Laplace <band>";
    p.x.label = "x";
    p.y.label = "y";
    std::vector<double> x(n), mean(n), sigma(n);
    for (long i = 0; i < n; ++i) {
        x[i] = -2.0 + 12.0 * i / (n - 1);
        mean[i] = std::sin(x[i]);
        sigma[i] = 0.1 + 0.05 * std::fabs(x[i] - 4.0);
    }
    cli::add_mean_band(p, x, mean, sigma, 2.0, "GLM predictive");
    p.points.push_back({{0.0, 1.0, 2.0, 3.0, 4.0}, {0.0, 0.8, 0.9, 0.1, -0.7}, "train", "", 3.0});
    return p;
}

}  // namespace

TEST_CASE("svg: line plot with band, mean and points is well-formed and complete", "[cli][svg]") {
    TempDir dir;
    const std::string path = dir.file("band.svg");
    cli::write_svg(path, sine_plot(50));
    const std::string s = read_text(path);
    CHECK(tag_problem(s) == "");
    CHECK_FALSE(cli_testing::fs::exists(path + ".tmp"));  // written atomically: the temporary is gone
    CHECK(s.rfind("<?xml", 0) == 0);
    CHECK(count(s, "<svg ") == 1);
    const std::string data = group(s, "data");
    CHECK(count(data, "<path ") == 2);    // one band, one mean line
    CHECK(count(data, "<circle ") == 5);  // one per training point
    // The band path visits each x twice (upper, then lower backwards): 100 vertices.
    std::smatch m;
    REQUIRE(std::regex_search(data, m, std::regex(R"re(<path d="([^"]*)")re")));
    const std::string d = m[1];
    CHECK(count(d, "M ") + count(d, " L ") == 100);
    CHECK(finite_numbers(s));
    CHECK(s.find("sine &amp; Laplace &lt;band&gt;") != std::string::npos);  // the title escaped
    CHECK(s.find("GLM predictive \xC2\xB1 2\xCF\x83") != std::string::npos);  // legend: "± 2σ"
    CHECK(count(group(s, "legend"), "<text") == 3);                          // band, mean, points
    CHECK(count(group(s, "ticks"), "<text") >= 6);                           // both axes have ticks
}

TEST_CASE("svg: log axes put decade ticks and refuse values <= 0", "[cli][svg]") {
    cli::LinePlot p;
    p.title = "error vs sigma";
    p.x.scale = cli::AxisScale::log;
    p.y.scale = cli::AxisScale::log;
    p.lines.push_back({{1e-3, 1.0}, {1e-3, 1.0}, "ideal", "black", 1.0, true});
    p.points.push_back({{1e-3, 1e-2, 1e-1}, {2e-3, 1e-2, 3e-1}, "bins", "", 2.5});
    const std::string s = cli::to_svg(p);
    CHECK(tag_problem(s) == "");
    CHECK(finite_numbers(s));
    const std::string t = group(s, "ticks");
    for (const char* label : {">0.001<", ">0.01<", ">0.1<", ">1<"}) CHECK(t.find(label) != std::string::npos);
    CHECK(count(group(s, "data"), "stroke-dasharray") == 1);
    // Less than a decade: linear ticks (2, 2.5, 3, ...) at their logarithms.
    cli::LinePlot narrow;
    narrow.title = "narrow";
    narrow.x.scale = cli::AxisScale::log;
    narrow.lines.push_back({{2.0, 4.0}, {0.0, 1.0}, "", "", 2.0, false});
    CHECK(count(group(cli::to_svg(narrow), "ticks"), "<text") >= 2 + 4);  // >= 2 on x, 4+ on y
    p.points[0].y[1] = 0.0;
    REQUIRE_THROWS_WITH(cli::to_svg(p), Contains("svg: plot 'error vs sigma': expected values > 0 on a log axis, got 0 "
                                                 "at index 1 of scatter 0 'bins' y"));
}

TEST_CASE("svg: heat map has one cell per grid value, coloured points and a colour bar", "[cli][svg]") {
    cli::HeatMap m;
    m.title = "moons: confidence";
    m.x_label = "x0";
    m.y_label = "x1";
    m.value_label = "max probability";
    m.x_min = -2;
    m.x_max = 3;
    m.y_min = -1.5;
    m.y_max = 2;
    m.nx = 12;
    m.ny = 9;
    for (long j = 0; j < m.ny; ++j)
        for (long i = 0; i < m.nx; ++i) m.values.push_back(0.5 + 0.5 * std::fabs(std::tanh(i - 6.0 + 0.5 * j)));
    m.v_min = 0.5;
    m.v_max = 1.0;
    m.px = {0.0, 1.0, -1.0, 2.0};
    m.py = {0.0, 0.5, 1.0, -0.5};
    m.pclass = {0, 1, 0, 1};
    TempDir dir;
    const std::string path = dir.file("map.svg");
    cli::write_svg(path, m);
    const std::string s = read_text(path);
    CHECK(tag_problem(s) == "");
    CHECK(finite_numbers(s));
    CHECK(count(group(s, "cells"), "<rect ") == size_t(m.nx * m.ny));
    const std::string data = group(s, "data");
    CHECK(count(data, "<circle ") == 4);
    CHECK(count(data, "fill=\"#1f77b4\"") == 2);  // class 0
    CHECK(count(data, "fill=\"#ff7f0e\"") == 2);  // class 1
    CHECK(count(s, "<stop ") == 9);
    CHECK(s.find(">max probability<") != std::string::npos);
    // the lowest and highest values take the ends of the colour map (viridis)
    CHECK(s.find("#440154") != std::string::npos);
    m.values[5] = NAN;
    REQUIRE_THROWS_WITH(cli::to_svg(m), Contains("svg: heat map 'moons: confidence': expected finite values, got nan at "
                                                 "index 5 of values"));
    m.values[5] = 0.7;
    m.pclass.pop_back();
    REQUIRE_THROWS_WITH(cli::to_svg(m), Contains("expected one class per point (4), got 3"));
}

TEST_CASE("svg: reliability diagram draws a bar per non-empty bin and the diagonal", "[cli][svg]") {
    ad::Tensor p = ad::tensor({5, 2}, {0.9, 0.1, 0.8, 0.2, 0.3, 0.7, 0.25, 0.75, 0.6, 0.4});
    std::vector<uq::ReliabilityBin> bins = uq::reliability_bins(p, {0, 1, 1, 0, 0});
    TempDir dir;
    const std::string path = dir.file("rel.svg");
    cli::write_reliability_svg(path, bins, "ECE 0.47");
    const std::string s = read_text(path);
    CHECK(tag_problem(s) == "");
    CHECK(finite_numbers(s));
    const std::string data = group(s, "data");
    CHECK(count(data, "class=\"bar\"") == 4);  // bins 8, 10, 11, 13 hold points
    CHECK(count(data, "class=\"gap\"") == 4);
    CHECK(count(data, "<path ") == 1);  // the diagonal
    bins[3].accuracy = NAN;
    REQUIRE_THROWS_WITH(cli::reliability_svg(bins, "x"), Contains("svg: reliability diagram 'x': expected bins"));
}

TEST_CASE("svg: NaN input and shape mismatches give clear errors, and no file is written", "[cli][svg]") {
    TempDir dir;
    const std::string path = dir.file("bad.svg");
    cli::LinePlot p = sine_plot(10);
    p.lines[0].y[3] = NAN;
    REQUIRE_THROWS_WITH(cli::write_svg(path, p),
                        Contains("svg: plot 'sine & Laplace <band>': expected finite values, got nan at index 3 of line "
                                 "0 'GLM predictive' y; drop or fix non-finite points before plotting"));
    CHECK_FALSE(cli_testing::fs::exists(path));
    CHECK_FALSE(cli_testing::fs::exists(path + ".tmp"));
    cli::LinePlot q;
    q.title = "t";
    REQUIRE_THROWS_WITH(cli::to_svg(q), Contains("expected at least one band, line or scatter series, got none"));
    q.points.push_back({{1, 2, 3}, {1, 2}, "", "", 2});
    REQUIRE_THROWS_WITH(cli::to_svg(q), Contains("expected 3 values in scatter 0 y, got 2"));
    REQUIRE_THROWS_WITH(cli::add_mean_band(q, {0, 1}, {0, 1}, {0.1, -0.1}, 2.0, "m"),
                        Contains("expected sigma >= 0, got -0.1 at index 1"));
    REQUIRE_THROWS_WITH(cli::add_mean_band(q, {0, 1}, {0, INFINITY}, {0.1, 0.1}, 2.0, "m"),
                        Contains("expected finite values, got inf at index 1 of mean"));
}
