// cli/svg: the files are well-formed (balanced tags), hold one element per data point or series,
// carry no NaN/Inf coordinates, are written atomically, and bad input fails with a clear ad::Error.
#include <algorithm>
#include <cmath>
#include <regex>

#include "autodiff/random.hpp"
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

// The text of the first element <g class="NAME" ...> ... </g>, nested groups included.
std::string group(const std::string& s, const std::string& name) {
    const size_t b = s.find("<g class=\"" + name + "\"");
    if (b == std::string::npos) return "";
    size_t i = b + 1;
    for (int depth = 1; depth > 0; i += 2) {
        const size_t open = s.find("<g ", i), close = s.find("</g>", i);
        if (close == std::string::npos) return "";
        i = std::min(open, close);
        depth += i == open ? 1 : -1;
    }
    return s.substr(b, i - 2 - b);
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

// ----------------------------------------------------------------------------- parity, calibration

namespace {

// Plot area of the square parity and calibration figures: left 72, top 40, 368 x 368 px.
constexpr double kL = 72, kT = 40, kW = 368;

struct Mark {
    double cx, cy;
};

std::vector<Mark> circles(const std::string& s) {
    std::vector<Mark> out;
    std::regex c(R"re(<circle cx="([^"]*)" cy="([^"]*)")re");
    for (auto it = std::sregex_iterator(s.begin(), s.end(), c); it != std::sregex_iterator(); ++it)
        out.push_back({std::stod((*it)[1]), std::stod((*it)[2])});
    return out;
}

// The end points of the first dashed path of the data group ("M x0 y0 L x1 y1").
std::vector<double> dashed_line(const std::string& s) {
    std::smatch m;
    const std::string data = group(s, "data");
    REQUIRE(std::regex_search(data, m, std::regex(R"re(<path d="M ([-0-9.]+) ([-0-9.]+) L ([-0-9.]+) ([-0-9.]+)"[^>]*stroke-dasharray)re")));
    return {std::stod(m[1]), std::stod(m[2]), std::stod(m[3]), std::stod(m[4])};
}

// Tick labels of one axis: x ticks are centred under the plot, y ticks end left of it.
std::vector<std::string> tick_labels(const std::string& s, const char* anchor) {
    std::vector<std::string> out;
    const std::string t = group(s, "ticks");
    std::regex r(std::string("text-anchor=\"") + anchor + "\">([^<]*)<");
    for (auto it = std::sregex_iterator(t.begin(), t.end(), r); it != std::sregex_iterator(); ++it) out.push_back((*it)[1]);
    return out;
}

// Calibrated synthetic uncertainties: sigma log-uniform in [10, 300], |e| with e ~ N(0, sigma^2).
void synthetic(long n, uint64_t seed, std::vector<double>& abs_errors, std::vector<double>& sigmas) {
    ad::Rng rng(seed);
    abs_errors.clear();
    sigmas.clear();
    for (long i = 0; i < n; ++i) {
        sigmas.push_back(std::pow(10.0, rng.uniform(1.0, std::log10(300.0))));
        abs_errors.push_back(std::fabs(sigmas.back() * rng.normal()));
    }
}

}  // namespace

TEST_CASE("svg: parity plot has equal axes, y = x corner to corner, RMSE and MAE", "[cli][svg]") {
    TempDir dir;
    const std::string path = dir.file("parity.svg");
    cli::write_parity_svg(path, {0, 1, 2, 3}, {0, 1, 2, 5}, "energy <per atom>", "eV");
    const std::string s = read_text(path);
    CHECK(tag_problem(s) == "");
    CHECK(finite_numbers(s));
    CHECK(s.find("energy &lt;per atom&gt;") != std::string::npos);
    CHECK(circles(group(s, "data")).size() == 4);
    // d = (0, 0, 0, 2): RMSE sqrt(4 / 4) = 1, MAE 2 / 4
    const std::string notes = group(s, "notes");
    CHECK(notes.find(">n = 4<") != std::string::npos);
    CHECK(notes.find(">RMSE 1.00 eV<") != std::string::npos);
    CHECK(notes.find(">MAE 0.500 eV<") != std::string::npos);
    CHECK(s.find(">reference (eV)<") != std::string::npos);
    CHECK(s.find(">predicted (eV)<") != std::string::npos);
    // one range [0 - 0.2, 5 + 0.2] on both axes: same ticks, and y = x from corner to corner
    CHECK(tick_labels(s, "middle") == tick_labels(s, "end"));
    CHECK(tick_labels(s, "middle").front() == "0");
    CHECK_THAT(dashed_line(s), Catch::Matchers::Approx(std::vector<double>{kL, kT + kW, kL + kW, kT}).margin(0.006));
    // the point (3, 5): x at (3 + 0.2) / 5.4 of the width, y at (5 + 0.2) / 5.4 of the height
    const Mark m = circles(group(s, "data")).back();
    CHECK(m.cx == Approx(kL + 3.2 / 5.4 * kW).margin(0.006));  // 2-decimal pixels
    CHECK(m.cy == Approx(kT + kW - 5.2 / 5.4 * kW).margin(0.006));
}

TEST_CASE("svg: many scatter points are thinned on a pixel grid, deterministically, outliers kept", "[cli][svg]") {
    ad::Rng rng(11);
    std::vector<double> ref, pred, uref, upred;
    for (long i = 0; i < 30000; ++i) {
        ref.push_back(rng.uniform(-4000, 4000));
        pred.push_back(ref.back() + 40 * rng.normal());  // a band along the diagonal
        uref.push_back(rng.uniform(-1, 1));
        upred.push_back(rng.uniform(-1, 1));  // the worst case: the whole square filled
    }
    ref.push_back(0);
    pred.push_back(3000);  // one outlier, ~80 px above the diagonal
    const std::string s = cli::parity_svg(ref, pred, "forces", "meV/\xC3\x85");
    CHECK(tag_problem(s) == "");
    CHECK(finite_numbers(s));
    CHECK(s == cli::parity_svg(ref, pred, "forces", "meV/\xC3\x85"));  // same input, same file
    const std::vector<Mark> marks = circles(group(s, "data"));
    CHECK(marks.size() <= size_t(cli::kMaxMarks));
    CHECK(marks.size() > 500);  // the band (~5000 px) keeps a mark per 2 x 2 px cell it covers
    CHECK(s.size() < 150000);
    // pixel distance from the diagonal: the band lies within ~10 px, the outlier far off
    double far = 0;
    for (const Mark& m : marks) far = std::max(far, std::fabs((m.cx - kL) - (kT + kW - m.cy)) / std::sqrt(2.0));
    CHECK(far > 80);
    const std::string u = cli::parity_svg(uref, upred, "uniform", "");
    CHECK(circles(group(u, "data")).size() <= size_t(cli::kMaxMarks));
    CHECK(circles(group(u, "data")).size() > size_t(cli::kMaxMarks) / 4);  // a coarser grid, still filled
    CHECK(u.size() < 150000);
    CHECK(u.find(">reference<") != std::string::npos);  // no unit, no brackets
}

TEST_CASE("svg: calibration bins are equal-count over sorted sigma with RMS sigma and error", "[cli][svg]") {
    // sorted by sigma: (1, 0) (2, 2) | (3, 3) (4, 4) | (5, 0) (6, 12)
    const std::vector<double> sigma = {3, 1, 2, 6, 5, 4}, err = {3, 0, 2, 12, 0, 4};
    const std::vector<cli::CalibrationBin> b = cli::calibration_bins(err, sigma, 3);
    REQUIRE(b.size() == 3);
    const double expect[3][6] = {{1, 2, 2, std::sqrt(2.5), std::sqrt(2.0), 1.0},
                                 {3, 4, 2, std::sqrt(12.5), std::sqrt(12.5), 3.5},
                                 {5, 6, 2, std::sqrt(30.5), std::sqrt(72.0), 6.0}};
    for (int k = 0; k < 3; ++k) {
        CHECK(b[k].sigma_lo == expect[k][0]);
        CHECK(b[k].sigma_hi == expect[k][1]);
        CHECK(b[k].count == expect[k][2]);
        CHECK(b[k].rms_sigma == Approx(expect[k][3]).epsilon(1e-15));
        CHECK(b[k].rms_error == Approx(expect[k][4]).epsilon(1e-15));
        CHECK(b[k].mean_abs_error == Approx(expect[k][5]).epsilon(1e-15));
    }
    // sizes differ by at most one; fewer points than bins: one bin per point
    std::vector<long> sizes;
    for (const auto& c : cli::calibration_bins({1, 1, 1, 1, 1, 1, 1}, {1, 2, 3, 4, 5, 6, 7}, 3)) sizes.push_back(c.count);
    CHECK(sizes == std::vector<long>{2, 2, 3});
    CHECK(cli::calibration_bins({1, 2}, {1, 2}).size() == 2);
    // calibrated Gaussian errors: every bin's RMS error matches its RMS sigma (360 points a bin:
    // the RMS has a relative spread of 1/sqrt(720) = 3.7 %, so 20 % is over 5 spreads)
    std::vector<double> e, s;
    synthetic(5400, 7, e, s);
    const std::vector<cli::CalibrationBin> g = cli::calibration_bins(e, s);
    REQUIRE(g.size() == size_t(cli::kCalibrationBins));
    for (const auto& c : g) {
        CHECK(c.count == 360);
        CHECK(c.rms_error / c.rms_sigma == Approx(1.0).margin(0.2));
        CHECK(c.mean_abs_error * std::sqrt(M_PI / 2) / c.rms_sigma == Approx(1.0).margin(0.2));
    }
}

TEST_CASE("svg: calibration plot is log-log with decade ticks, ideal line, a marker per bin", "[cli][svg]") {
    std::vector<double> e, s;
    synthetic(5400, 7, e, s);
    e[0] = 0.0;  // an exact zero: drawn on the bottom edge
    TempDir dir;
    const std::string path = dir.file("cal.svg");
    cli::write_calibration_svg(path, e, s, "forces: LLPR", "meV/\xC3\x85");
    const std::string svg = read_text(path);
    CHECK(tag_problem(svg) == "");
    CHECK(finite_numbers(svg));
    // sigma in [10, 300]: decades 10 and 100 (a 2x/5x tick would mean less than a decade shown)
    const std::vector<std::string> tx = tick_labels(svg, "middle");
    CHECK(tx == tick_labels(svg, "end"));  // the same range on both axes
    CHECK(std::find(tx.begin(), tx.end(), "10") != tx.end());
    CHECK(std::find(tx.begin(), tx.end(), "100") != tx.end());
    for (const std::string& t : tx) CHECK((t[0] == '1' && t.find_first_not_of("0.", 1) == std::string::npos));
    CHECK_THAT(dashed_line(svg), Catch::Matchers::Approx(std::vector<double>{kL, kT + kW, kL + kW, kT}).margin(0.006));
    // groups of marks: the faint cloud first, then the markers of mean|e| sqrt(pi/2) and of the RMS
    const std::string data = group(svg, "data");
    std::vector<std::string> groups;
    for (size_t i = data.find("<g class=\"points\""); i != std::string::npos; i = data.find("<g class=\"points\"", i + 1))
        groups.push_back(data.substr(i, data.find("</g>", i) - i));
    REQUIRE(groups.size() == 3);
    CHECK(groups[0].find("fill-opacity") != std::string::npos);
    CHECK(circles(groups[0]).size() <= size_t(cli::kMaxMarks));
    CHECK(circles(groups[0]).front().cy == Approx(kT + kW).margin(0.006));  // the zero error, first point
    CHECK(circles(groups[1]).size() == 15);
    CHECK(circles(groups[2]).size() == 15);
    CHECK(group(svg, "notes").find(">n = 5400 in 15 bins<") != std::string::npos);
    double e2 = 0, s2 = 0;
    for (size_t i = 0; i < e.size(); ++i) e2 += e[i] * e[i], s2 += s[i] * s[i];
    char ratio[64];
    std::snprintf(ratio, sizeof ratio, "RMS(error) / RMS(\xCF\x83) = %#.3g<", std::sqrt(e2 / s2));
    CHECK(group(svg, "notes").find(ratio) != std::string::npos);
    CHECK(std::sqrt(e2 / s2) == Approx(1.0).margin(0.03));  // calibrated: 5400 points, spread ~1 %
    CHECK(svg.size() < 150000);
    // a bin of zero errors: its markers on the bottom edge too
    const std::string z = cli::calibration_svg({0, 0, 5, 15}, {1, 1, 10, 10}, "zeros", "eV", 2);
    CHECK(tag_problem(z) == "");
    const std::string rms_marks = z.substr(z.rfind("<g class=\"points\""));  // drawn last
    CHECK(circles(rms_marks).front().cy == Approx(kT + kW).margin(0.006));     // bin 0
}

TEST_CASE("svg: parity and calibration refuse bad input with clear errors", "[cli][svg]") {
    REQUIRE_THROWS_WITH(cli::parity_svg({}, {}, "p", "eV"), Contains("svg: parity 'p': expected at least one point"));
    REQUIRE_THROWS_WITH(cli::parity_svg({1, 2}, {1}, "p", "eV"), Contains("expected 2 values in predicted, got 1"));
    REQUIRE_THROWS_WITH(cli::parity_svg({1, NAN}, {1, 2}, "p", "eV"),
                        Contains("expected finite values, got nan at index 1 of reference"));
    REQUIRE_THROWS_WITH(cli::calibration_svg({1, 2}, {1, 0}, "c", "eV"),
                        Contains("svg: calibration 'c': expected sigma > 0, got 0 at index 1"));
    REQUIRE_THROWS_WITH(cli::calibration_bins({1, -2}, {1, 1}),
                        Contains("svg: calibration_bins: expected |error| >= 0, got -2 at index 1; pass absolute errors"));
    REQUIRE_THROWS_WITH(cli::calibration_svg({1}, {1, 2}, "c", "eV"), Contains("expected 2 values in abs_errors, got 1"));
    REQUIRE_THROWS_WITH(cli::calibration_svg({INFINITY}, {1}, "c", "eV"), Contains("expected finite values, got inf"));
    REQUIRE_THROWS_WITH(cli::calibration_svg({}, {}, "c", "eV"), Contains("expected at least one point, got none"));
    REQUIRE_THROWS_WITH(cli::calibration_bins({1}, {1}, 0), Contains("expected n_bins >= 1, got 0"));
    TempDir dir;
    REQUIRE_THROWS(cli::write_calibration_svg(dir.file("c.svg"), {1}, {-1}, "c", "eV"));
    CHECK_FALSE(cli_testing::fs::exists(dir.file("c.svg")));
}

TEST_CASE("atomgrad eval STRUCTURES.xyz --plot: parity pictures of energy, forces, stress", "[cli][svg][eval_xyz]") {
    TempDir dir;
    cli_testing::copy_to(cli_testing::repo_file("tests/data/cu-emt-6.xyz"), dir.file("cu.xyz"));
    cli_testing::write_text(
        dir.file("options.toml"),
        "seed = 1\nvalidation_set = 0.2\n[architecture]\nname = \"soap_bpnn\"\n"
        "[architecture.model.soap]\ncutoff = 4.0\nmax_angular = 2\nmax_radial = 2\n"
        "[architecture.model.bpnn]\nnum_hidden_layers = 1\nnum_neurons_per_layer = 8\n"
        "[architecture.training]\nnum_epochs = 1\nbatch_size = 2\nlearning_rate = 0.01\n"
        "[training_set.systems]\nread_from = \"cu.xyz\"\n"
        "[training_set.targets.energy]\nkey = \"energy\"\nunit = \"eV\"\nstress = true\n");
    cli_testing::RunResult t = cli_testing::run_cli("train options.toml -o model.ckpt --run-dir run", dir.str());
    INFO(t.output);
    REQUIRE(t.status == 0);

    cli_testing::RunResult r = cli_testing::run_cli("eval model.ckpt cu.xyz -o pred.xyz --plot out/plots", dir.str());
    INFO(r.output);
    REQUIRE(r.status == 0);
    CHECK_THAT(r.output, Contains("plot written to out/plots/forces_parity.svg"));
    // 6 cells of 341 atoms: 6 energies, 1023 force components, 54 stress components
    const char* files[] = {"energy_parity.svg", "forces_parity.svg", "stress_parity.svg"};
    const char* notes[] = {">n = 6<", ">n = 1023<", ">n = 54<"};
    const char* units[] = {"(meV/atom)", "(meV/\xC3\x85)", "(meV/\xC3\x85\xC2\xB3)"};
    for (int k = 0; k < 3; ++k) {
        const std::string s = read_text(dir.file(std::string("out/plots/") + files[k]));
        INFO(files[k]);
        CHECK(tag_problem(s) == "");
        CHECK(finite_numbers(s));
        CHECK(group(s, "notes").find(notes[k]) != std::string::npos);
        CHECK(s.find(std::string(">predicted ") + units[k] + "<") != std::string::npos);
    }
    CHECK(cli_testing::listing(dir.file("out/plots")).size() == 3);  // no temporaries left
    // --json stays one line
    cli_testing::RunResult j = cli_testing::run_cli("eval model.ckpt cu.xyz -o pred.xyz --plot out/plots --json", dir.str());
    CHECK(j.lines().size() == 1);
    // an unusable --plot folder stops eval before anything is written
    cli_testing::write_text(dir.file("blocked"), "a file\n");
    cli_testing::RunResult b = cli_testing::run_cli("eval model.ckpt cu.xyz -o pred2.xyz --plot blocked/plots", dir.str());
    CHECK(b.status == 1);
    CHECK_THAT(b.output, Contains("blocked/plots: cannot create the directory"));
    CHECK_FALSE(cli_testing::fs::exists(dir.file("pred2.xyz")));
    cli_testing::RunResult f = cli_testing::run_cli("eval model.ckpt cu.xyz -o pred3.xyz --plot blocked", dir.str());
    CHECK(f.status == 1);
    CHECK_THAT(f.output, Contains("blocked: expected a directory for --plot"));
    CHECK_FALSE(cli_testing::fs::exists(dir.file("pred3.xyz")));
}

// Regenerates docs/img/calibration_synthetic.svg (run from the repository root):
//   build/tests/run_tests "[.docs]"
TEST_CASE("svg: the calibration picture of docs/img from synthetic data", "[.docs]") {
    std::vector<double> e, s;
    synthetic(5400, 7, e, s);  // as many points as ethanol's 200 test frames have force components
    cli::write_calibration_svg(cli_testing::repo_file("docs/img/calibration_synthetic.svg"), e, s,
                               "synthetic: |e| with e ~ N(0, \xCF\x83\xC2\xB2)", "meV/\xC3\x85");
}
