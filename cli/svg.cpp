// SVG plots (layout and conventions in svg.hpp). Each figure is a string built element by
// element: background, title, grid and ticks, data (inside a clip path), legend.
#include "cli/svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <sstream>
#include <unordered_set>

#include "autodiff/error.hpp"
#include "cli/files.hpp"

namespace cli {

namespace {

// tab10, the matplotlib default cycle: distinguishable and familiar.
const char* const kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
// viridis at 0, 1/8, ..., 1: perceptually uniform and readable in grey, so a confidence map
// shows its levels honestly; linear interpolation between these 9 stops.
const double kViridis[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},  {44, 113, 142}, {33, 144, 141},
                               {39, 173, 129}, {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};

// Margins around the plot area (pixels): room for tick labels, axis labels and the title.
constexpr double kLeft = 72, kRight = 24, kTop = 40, kBottom = 52;

// Pixel coordinates with two decimals: 1/100 pixel is finer than any display.
std::string px(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", v);
    return b;
}

// Characters of a UTF-8 string (for box widths): bytes that do not continue a character.
size_t text_chars(const std::string& s) {
    return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default: out += c;
        }
    }
    return out;
}

std::string color_of(const std::string& given, int& next) {
    return given.empty() ? kPalette[next++ % 10] : given;
}

std::string viridis(double t) {
    t = std::clamp(t, 0.0, 1.0) * 8.0;
    const int k = std::min(7, static_cast<int>(t));
    const double f = t - k;
    char b[16];
    int c[3];
    for (int i = 0; i < 3; ++i) c[i] = static_cast<int>(std::lround(kViridis[k][i] + f * (kViridis[k + 1][i] - kViridis[k][i])));
    std::snprintf(b, sizeof b, "#%02x%02x%02x", c[0], c[1], c[2]);
    return b;
}

// Every value finite (and > 0 on a log axis), with `n` entries.
void check_values(const std::string& where, const std::string& what, const std::vector<double>& v, size_t n,
                  AxisScale scale = AxisScale::linear) {
    AD_CHECK(v.size() == n, where << ": expected " << n << " values in " << what << ", got " << v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        AD_CHECK(std::isfinite(v[i]), where << ": expected finite values, got " << v[i] << " at index " << i << " of "
                                            << what << "; drop or fix non-finite points before plotting");
        AD_CHECK(scale == AxisScale::linear || v[i] > 0,
                 where << ": expected values > 0 on a log axis, got " << v[i] << " at index " << i << " of " << what);
    }
}

double fwd(AxisScale s, double v) { return s == AxisScale::log ? std::log10(v) : v; }

// Range of an axis in transformed units (log10 for log axes).
struct Range {
    double lo, hi;
};

Range axis_range(const Axis& a, const std::vector<const std::vector<double>*>& data, const std::string& where) {
    if (a.lo < a.hi) {
        AD_CHECK(std::isfinite(a.lo) && std::isfinite(a.hi) && (a.scale == AxisScale::linear || a.lo > 0),
                 where << ": expected finite axis limits (> 0 on a log axis), got [" << a.lo << ", " << a.hi << "]");
        return {fwd(a.scale, a.lo), fwd(a.scale, a.hi)};
    }
    double lo = HUGE_VAL, hi = -HUGE_VAL;
    for (const auto* v : data)
        for (double x : *v) {
            lo = std::min(lo, fwd(a.scale, x));
            hi = std::max(hi, fwd(a.scale, x));
        }
    if (lo > hi) return {0.0, 1.0};             // no data on this axis
    if (lo == hi) return {lo - 0.5, hi + 0.5};  // one value: a unit (or one-decade) window
    const double pad = 0.04 * (hi - lo);
    return {lo - pad, hi + pad};
}

// 1, 2 or 5 times a power of ten, near range / 5: 4 to 10 ticks.
double nice_step(double range) {
    const double raw = range / 5.0, p = std::pow(10.0, std::floor(std::log10(raw))), f = raw / p;
    return (f < 1.5 ? 1.0 : f < 3.5 ? 2.0 : f < 7.5 ? 5.0 : 10.0) * p;
}

struct Tick {
    double t;  ///< transformed position
    std::string label;
};

std::vector<Tick> ticks(AxisScale s, Range r) {
    std::vector<Tick> out;
    char b[32];
    if (s == AxisScale::log) {
        // Decades; with fewer than two inside, 2x and 5x as well.
        const long k0 = static_cast<long>(std::ceil(r.lo - 1e-9)), k1 = static_cast<long>(std::floor(r.hi + 1e-9));
        const bool fine = k1 - k0 < 1;
        for (long k = static_cast<long>(std::floor(r.lo)); k <= k1; ++k)
            for (double m : {1.0, 2.0, 5.0}) {
                if (m != 1.0 && !fine) continue;
                const double t = k + std::log10(m);
                if (t < r.lo - 1e-9 || t > r.hi + 1e-9) continue;
                std::snprintf(b, sizeof b, "%g", m * std::pow(10.0, double(k)));
                out.push_back({t, b});
            }
        if (out.size() >= 2) return out;
        // Less than a decade wide: linear ticks in value space, placed at their logarithms.
        out.clear();
        for (const Tick& lin : ticks(AxisScale::linear, {std::pow(10.0, r.lo), std::pow(10.0, r.hi)}))
            if (lin.t > 0) out.push_back({std::log10(lin.t), lin.label});
        return out;
    }
    const double step = nice_step(r.hi - r.lo);
    const int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
    for (double k = std::ceil(r.lo / step - 1e-9); k * step <= r.hi + 1e-9 * step; k += 1.0) {
        double v = k * step;
        if (std::fabs(v) < 1e-12 * step) v = 0.0;  // no "-0"
        std::snprintf(b, sizeof b, "%.*f", decimals, v);
        out.push_back({v, b});
    }
    return out;
}

// The plot area and the maps from data to pixels.
struct Frame {
    double left, top, w, h;
    AxisScale xs, ys;
    Range xr, yr;
    double X(double v) const { return left + (fwd(xs, v) - xr.lo) / (xr.hi - xr.lo) * w; }
    double Y(double v) const { return top + h - (fwd(ys, v) - yr.lo) / (yr.hi - yr.lo) * h; }
    double Xt(double t) const { return left + (t - xr.lo) / (xr.hi - xr.lo) * w; }
    double Yt(double t) const { return top + h - (t - yr.lo) / (yr.hi - yr.lo) * h; }
};

void open_svg(std::ostringstream& os, double width, double height, const std::string& title) {
    os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
       << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << px(width) << "\" height=\"" << px(height)
       << "\" viewBox=\"0 0 " << px(width) << " " << px(height)
       << "\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n"
       << "<title>" << escape(title) << "</title>\n"
       << "<rect x=\"0\" y=\"0\" width=\"" << px(width) << "\" height=\"" << px(height) << "\" fill=\"white\"/>\n"
       << "<text x=\"" << px(width / 2) << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" << escape(title)
       << "</text>\n";
}

// Grid lines, frame, ticks with labels, axis labels, and the clip path "plot-area".
void draw_axes(std::ostringstream& os, const Frame& f, const std::string& xlabel, const std::string& ylabel) {
    os << "<defs><clipPath id=\"plot-area\"><rect x=\"" << px(f.left) << "\" y=\"" << px(f.top) << "\" width=\""
       << px(f.w) << "\" height=\"" << px(f.h) << "\"/></clipPath></defs>\n";
    os << "<g class=\"axes\" stroke=\"#dddddd\" stroke-width=\"1\">\n";
    const std::vector<Tick> tx = ticks(f.xs, f.xr), ty = ticks(f.ys, f.yr);
    for (const Tick& t : tx)
        os << "<line x1=\"" << px(f.Xt(t.t)) << "\" y1=\"" << px(f.top) << "\" x2=\"" << px(f.Xt(t.t)) << "\" y2=\""
           << px(f.top + f.h) << "\"/>\n";
    for (const Tick& t : ty)
        os << "<line x1=\"" << px(f.left) << "\" y1=\"" << px(f.Yt(t.t)) << "\" x2=\"" << px(f.left + f.w) << "\" y2=\""
           << px(f.Yt(t.t)) << "\"/>\n";
    os << "<rect x=\"" << px(f.left) << "\" y=\"" << px(f.top) << "\" width=\"" << px(f.w) << "\" height=\"" << px(f.h)
       << "\" fill=\"none\" stroke=\"#333333\"/>\n</g>\n";
    os << "<g class=\"ticks\" fill=\"#333333\">\n";
    for (const Tick& t : tx)
        os << "<text x=\"" << px(f.Xt(t.t)) << "\" y=\"" << px(f.top + f.h + 16) << "\" text-anchor=\"middle\">"
           << escape(t.label) << "</text>\n";
    for (const Tick& t : ty)
        os << "<text x=\"" << px(f.left - 6) << "\" y=\"" << px(f.Yt(t.t) + 4) << "\" text-anchor=\"end\">"
           << escape(t.label) << "</text>\n";
    os << "</g>\n";
    os << "<text x=\"" << px(f.left + f.w / 2) << "\" y=\"" << px(f.top + f.h + 38) << "\" text-anchor=\"middle\">"
       << escape(xlabel) << "</text>\n";
    const double yl = f.left - 54, ym = f.top + f.h / 2;
    os << "<text x=\"" << px(yl) << "\" y=\"" << px(ym) << "\" text-anchor=\"middle\" transform=\"rotate(-90 " << px(yl)
       << " " << px(ym) << ")\">" << escape(ylabel) << "</text>\n";
}

enum class Swatch { line, dashed, band, box, point };
struct LegendEntry {
    std::string label, color;
    Swatch swatch;
};

// Top-left inside the plot area, on a translucent white box.
void draw_legend(std::ostringstream& os, const Frame& f, const std::vector<LegendEntry>& entries) {
    if (entries.empty()) return;
    size_t chars = 0;
    for (const auto& e : entries) chars = std::max(chars, text_chars(e.label));
    const double x = f.left + 8, y = f.top + 8, row = 18, w = 34 + 7.0 * chars;
    os << "<g class=\"legend\">\n<rect x=\"" << px(x) << "\" y=\"" << px(y) << "\" width=\"" << px(w) << "\" height=\""
       << px(row * entries.size() + 6) << "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#cccccc\"/>\n";
    for (size_t k = 0; k < entries.size(); ++k) {
        const LegendEntry& e = entries[k];
        const double cy = y + 12 + row * k;
        switch (e.swatch) {
            case Swatch::line:
            case Swatch::dashed:
                os << "<line x1=\"" << px(x + 6) << "\" y1=\"" << px(cy) << "\" x2=\"" << px(x + 26) << "\" y2=\"" << px(cy)
                   << "\" stroke=\"" << e.color << "\" stroke-width=\"2\""
                   << (e.swatch == Swatch::dashed ? " stroke-dasharray=\"5 3\"" : "") << "/>\n";
                break;
            case Swatch::band:
                os << "<rect x=\"" << px(x + 6) << "\" y=\"" << px(cy - 5) << "\" width=\"20\" height=\"10\" fill=\""
                   << e.color << "\" fill-opacity=\"0.35\"/>\n";
                break;
            case Swatch::box:
                os << "<rect x=\"" << px(x + 6) << "\" y=\"" << px(cy - 5) << "\" width=\"20\" height=\"10\" fill=\""
                   << e.color << "\"/>\n";
                break;
            case Swatch::point:
                os << "<circle cx=\"" << px(x + 16) << "\" cy=\"" << px(cy) << "\" r=\"3.5\" fill=\"" << e.color << "\"/>\n";
                break;
        }
        os << "<text x=\"" << px(x + 32) << "\" y=\"" << px(cy + 4) << "\">" << escape(e.label) << "</text>\n";
    }
    os << "</g>\n";
}

// "M x0 y0 L x1 y1 ..." through the points.
std::string polyline(const Frame& f, const std::vector<double>& x, const std::vector<double>& y) {
    std::string d;
    for (size_t i = 0; i < x.size(); ++i) d += (i ? " L " : "M ") + px(f.X(x[i])) + " " + px(f.Y(y[i]));
    return d;
}

// The points of a series whose marks are drawn: one per occupied cell of a pixel grid, the first
// in input order; cells of 1 px, doubled until at most kMaxMarks (svg.hpp). Points whose mark
// lies wholly outside the plot area are dropped (the clip path would hide them).
std::vector<size_t> thinned(const Frame& f, const ScatterSeries& p) {
    std::vector<size_t> keep;
    for (double cell = 1.0;; cell *= 2.0) {
        std::unordered_set<long long> seen;
        keep.clear();
        for (size_t i = 0; i < p.x.size(); ++i) {
            const double X = f.X(p.x[i]), Y = f.Y(p.y[i]);
            if (X < f.left - p.radius || X > f.left + f.w + p.radius || Y < f.top - p.radius ||
                Y > f.top + f.h + p.radius)
                continue;
            const long long cx = static_cast<long long>(std::floor((X - f.left + p.radius) / cell)),
                            cy = static_cast<long long>(std::floor((Y - f.top + p.radius) / cell));
            if (seen.insert(cx * 1000003LL + cy).second) keep.push_back(i);
        }
        if (static_cast<long>(keep.size()) <= kMaxMarks) return keep;
    }
}

// One group per series (colour and opacity once), a circle per kept point.
void draw_scatter(std::ostringstream& os, const Frame& f, const ScatterSeries& p, const std::string& color) {
    os << "<g class=\"points\" fill=\"" << color << "\"";
    if (p.opacity < 1.0) os << " fill-opacity=\"" << p.opacity << "\"";
    os << ">\n";
    for (size_t i : thinned(f, p))
        os << "<circle cx=\"" << px(f.X(p.x[i])) << "\" cy=\"" << px(f.Y(p.y[i])) << "\" r=\"" << p.radius << "\"/>\n";
    os << "</g>\n";
}

// Lines of text in a box at the bottom right of the plot area.
void draw_notes(std::ostringstream& os, const Frame& f, const std::vector<std::string>& notes) {
    if (notes.empty()) return;
    size_t chars = 0;
    for (const auto& n : notes) chars = std::max(chars, text_chars(n));
    const double row = 18, w = 14 + 7.0 * chars, h = row * notes.size() + 6;
    const double x = f.left + f.w - 8 - w, y = f.top + f.h - 8 - h;
    os << "<g class=\"notes\">\n<rect x=\"" << px(x) << "\" y=\"" << px(y) << "\" width=\"" << px(w) << "\" height=\""
       << px(h) << "\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#cccccc\"/>\n";
    for (size_t k = 0; k < notes.size(); ++k)
        os << "<text x=\"" << px(x + 7) << "\" y=\"" << px(y + 16 + row * k) << "\">" << escape(notes[k]) << "</text>\n";
    os << "</g>\n";
}

// Three significant digits (trailing zeros kept), whole numbers from 1000: "34.8", "0.500", "1234".
std::string short_number(double v) {
    char b[32];
    std::snprintf(b, sizeof b, std::fabs(v) >= 1000 ? "%.0f" : "%#.3g", v);
    return b;
}

std::string where_of(const char* kind, const std::string& title) { return std::string("svg: ") + kind + " '" + title + "'"; }

std::string series_name(const char* kind, size_t k, const std::string& label) {
    return std::string(kind) + " " + std::to_string(k) + (label.empty() ? "" : " '" + label + "'");
}

}  // namespace

// ----------------------------------------------------------------------------- line plot

void add_mean_band(LinePlot& plot, const std::vector<double>& x, const std::vector<double>& mean,
                   const std::vector<double>& sigma, double k, const std::string& label, const std::string& color) {
    const std::string where = where_of("plot", plot.title) + ": add_mean_band";
    check_values(where, "x", x, x.size());
    check_values(where, "mean", mean, x.size());
    check_values(where, "sigma", sigma, x.size());
    AD_CHECK(std::isfinite(k) && k > 0, where << ": expected k > 0 (sigmas), got " << k);
    for (size_t i = 0; i < sigma.size(); ++i)
        AD_CHECK(sigma[i] >= 0, where << ": expected sigma >= 0, got " << sigma[i] << " at index " << i);
    // One colour for the pair: the band is the line's colour, lighter.
    const std::string c = color.empty() ? kPalette[plot.lines.size() % 10] : color;
    BandSeries b{x, mean, mean, "", c, 0.25};
    for (size_t i = 0; i < x.size(); ++i) {
        b.lower[i] = mean[i] - k * sigma[i];
        b.upper[i] = mean[i] + k * sigma[i];
    }
    char kk[32];
    std::snprintf(kk, sizeof kk, "%g", k);
    b.label = label.empty() ? "" : label + " \xC2\xB1 " + kk + "\xCF\x83";  // "label ± kσ"
    plot.bands.push_back(b);
    plot.lines.push_back({x, mean, label, c, 2.0, false});
}

std::string to_svg(const LinePlot& plot) {
    const std::string where = where_of("plot", plot.title);
    AD_CHECK(plot.width > kLeft + kRight + 10 && plot.height > kTop + kBottom + 10,
             where << ": expected a figure larger than its margins, got " << plot.width << " x " << plot.height);
    AD_CHECK(!plot.background.empty() || !plot.bands.empty() || !plot.lines.empty() || !plot.points.empty(),
             where << ": expected at least one band, line or scatter series, got none");
    // Every series: x and its y columns checked (x.size() values, finite, > 0 on a log axis) and
    // collected for the axis ranges.
    std::vector<const std::vector<double>*> xs, ys;
    using Columns = std::initializer_list<std::pair<const char*, const std::vector<double>*>>;
    auto take = [&](const std::string& name, const std::vector<double>& x, Columns cols) {
        check_values(where, name + " x", x, x.size(), plot.x.scale);
        xs.push_back(&x);
        for (const auto& [what, y] : cols) {
            check_values(where, name + " " + what, *y, x.size(), plot.y.scale);
            ys.push_back(y);
        }
    };
    for (size_t k = 0; k < plot.background.size(); ++k) {
        const ScatterSeries& p = plot.background[k];
        take(series_name("background", k, p.label), p.x, {{"y", &p.y}});
    }
    for (size_t k = 0; k < plot.bands.size(); ++k) {
        const BandSeries& b = plot.bands[k];
        take(series_name("band", k, b.label), b.x, {{"lower", &b.lower}, {"upper", &b.upper}});
    }
    for (size_t k = 0; k < plot.lines.size(); ++k) {
        const LineSeries& l = plot.lines[k];
        take(series_name("line", k, l.label), l.x, {{"y", &l.y}});
    }
    for (size_t k = 0; k < plot.points.size(); ++k) {
        const ScatterSeries& p = plot.points[k];
        take(series_name("scatter", k, p.label), p.x, {{"y", &p.y}});
    }
    Frame f{kLeft, kTop, plot.width - kLeft - kRight, plot.height - kTop - kBottom, plot.x.scale, plot.y.scale,
            axis_range(plot.x, xs, where + ": x axis"), axis_range(plot.y, ys, where + ": y axis")};

    std::ostringstream os;
    open_svg(os, plot.width, plot.height, plot.title);
    draw_axes(os, f, plot.x.label, plot.y.label);
    std::vector<LegendEntry> legend;
    int next = 0;
    auto scatter = [&](const ScatterSeries& p) {
        const std::string c = color_of(p.color, next);
        draw_scatter(os, f, p, c);
        if (!p.label.empty()) legend.push_back({p.label, c, Swatch::point});
    };
    os << "<g class=\"data\" clip-path=\"url(#plot-area)\">\n";
    for (const ScatterSeries& p : plot.background) scatter(p);
    for (const BandSeries& b : plot.bands) {
        const std::string c = color_of(b.color, next);
        // Upper edge left to right, lower edge back, closed.
        std::string d = polyline(f, b.x, b.upper);
        for (size_t i = b.x.size(); i-- > 0;) d += " L " + px(f.X(b.x[i])) + " " + px(f.Y(b.lower[i]));
        os << "<path d=\"" << d << (b.x.empty() ? "" : " Z") << "\" fill=\"" << c << "\" fill-opacity=\""
           << b.opacity << "\" stroke=\"none\"/>\n";
        if (!b.label.empty()) legend.push_back({b.label, c, Swatch::band});
    }
    for (const LineSeries& l : plot.lines) {
        const std::string c = color_of(l.color, next);
        os << "<path d=\"" << polyline(f, l.x, l.y) << "\" fill=\"none\" stroke=\"" << c << "\" stroke-width=\""
           << l.width << "\" stroke-linejoin=\"round\"" << (l.dashed ? " stroke-dasharray=\"6 4\"" : "") << "/>\n";
        if (!l.label.empty()) legend.push_back({l.label, c, l.dashed ? Swatch::dashed : Swatch::line});
    }
    for (const ScatterSeries& p : plot.points) scatter(p);
    os << "</g>\n";
    draw_legend(os, f, legend);
    draw_notes(os, f, plot.notes);
    os << "</svg>\n";
    return os.str();
}

// ----------------------------------------------------------------------------- heat map

std::string to_svg(const HeatMap& m) {
    const std::string where = where_of("heat map", m.title);
    AD_CHECK(m.nx > 0 && m.ny > 0 && static_cast<long>(m.values.size()) == m.nx * m.ny,
             where << ": expected values [ny * nx] with nx, ny > 0, got " << m.values.size() << " values for nx = " << m.nx
                   << ", ny = " << m.ny);
    check_values(where, "values", m.values, m.values.size());
    AD_CHECK(std::isfinite(m.x_min) && std::isfinite(m.x_max) && std::isfinite(m.y_min) && std::isfinite(m.y_max) &&
                 m.x_min < m.x_max && m.y_min < m.y_max,
             where << ": expected finite extents with min < max, got x [" << m.x_min << ", " << m.x_max << "], y ["
                   << m.y_min << ", " << m.y_max << "]");
    check_values(where, "points x", m.px, m.px.size());
    check_values(where, "points y", m.py, m.px.size());
    AD_CHECK(m.pclass.size() == m.px.size(),
             where << ": expected one class per point (" << m.px.size() << "), got " << m.pclass.size());
    for (size_t i = 0; i < m.pclass.size(); ++i)
        AD_CHECK(m.pclass[i] >= 0, where << ": expected classes >= 0, got " << m.pclass[i] << " at point " << i);
    double vlo = m.v_min, vhi = m.v_max;
    if (!(vlo < vhi)) {
        vlo = *std::min_element(m.values.begin(), m.values.end());
        vhi = *std::max_element(m.values.begin(), m.values.end());
        if (vlo == vhi) vhi = vlo + 1.0;  // a constant map: any colour range shows it
    }
    AD_CHECK(std::isfinite(vlo) && std::isfinite(vhi), where << ": expected a finite colour range, got [" << vlo << ", "
                                                               << vhi << "]");
    // The plot area leaves 70 px on the right for the colour bar and its labels.
    const double bar = 70;
    AD_CHECK(m.width > kLeft + kRight + bar + 10 && m.height > kTop + kBottom + 10,
             where << ": expected a figure larger than its margins, got " << m.width << " x " << m.height);
    Frame f{kLeft, kTop, m.width - kLeft - kRight - bar, m.height - kTop - kBottom, AxisScale::linear, AxisScale::linear,
            {m.x_min, m.x_max}, {m.y_min, m.y_max}};

    std::ostringstream os;
    open_svg(os, m.width, m.height, m.title);
    const double cw = f.w / m.nx, ch = f.h / m.ny;
    // Cells first (the grid lines of draw_axes go on top, so they stay visible).
    os << "<g class=\"cells\" shape-rendering=\"crispEdges\">\n";
    for (long j = 0; j < m.ny; ++j)
        for (long i = 0; i < m.nx; ++i)
            os << "<rect x=\"" << px(f.left + i * cw) << "\" y=\"" << px(f.top + f.h - (j + 1) * ch) << "\" width=\""
               << px(cw + 0.3) << "\" height=\"" << px(ch + 0.3) << "\" fill=\""
               << viridis((m.values[j * m.nx + i] - vlo) / (vhi - vlo)) << "\"/>\n";
    os << "</g>\n";
    draw_axes(os, f, m.x_label, m.y_label);
    os << "<g class=\"data\" clip-path=\"url(#plot-area)\">\n";
    for (size_t i = 0; i < m.px.size(); ++i)
        os << "<circle cx=\"" << px(f.X(m.px[i])) << "\" cy=\"" << px(f.Y(m.py[i])) << "\" r=\"3.5\" fill=\""
           << kPalette[m.pclass[i] % 10] << "\" stroke=\"white\" stroke-width=\"0.8\"/>\n";
    os << "</g>\n";
    // Colour bar: a vertical gradient through the viridis stops, with its own ticks.
    const double bx = f.left + f.w + 14, bw = 16;
    os << "<g class=\"colorbar\">\n<defs><linearGradient id=\"cbar\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n";
    for (int k = 0; k <= 8; ++k)
        os << "<stop offset=\"" << px(k / 8.0) << "\" stop-color=\"" << viridis(k / 8.0) << "\"/>\n";
    os << "</linearGradient></defs>\n<rect x=\"" << px(bx) << "\" y=\"" << px(f.top) << "\" width=\"" << px(bw)
       << "\" height=\"" << px(f.h) << "\" fill=\"url(#cbar)\" stroke=\"#333333\"/>\n";
    for (const Tick& t : ticks(AxisScale::linear, {vlo, vhi})) {
        const double y = f.top + f.h - (t.t - vlo) / (vhi - vlo) * f.h;
        os << "<line x1=\"" << px(bx + bw) << "\" y1=\"" << px(y) << "\" x2=\"" << px(bx + bw + 4) << "\" y2=\"" << px(y)
           << "\" stroke=\"#333333\"/>\n<text x=\"" << px(bx + bw + 6) << "\" y=\"" << px(y + 4) << "\">"
           << escape(t.label) << "</text>\n";
    }
    const double lx = m.width - 8, ly = f.top + f.h / 2;
    os << "<text x=\"" << px(lx) << "\" y=\"" << px(ly) << "\" text-anchor=\"middle\" transform=\"rotate(-90 " << px(lx)
       << " " << px(ly) << ")\">" << escape(m.value_label) << "</text>\n</g>\n";
    os << "</svg>\n";
    return os.str();
}

// ----------------------------------------------------------------------------- reliability

std::string reliability_svg(const std::vector<uq::ReliabilityBin>& bins, const std::string& title) {
    const std::string where = where_of("reliability diagram", title);
    AD_CHECK(!bins.empty(), where << ": expected at least one bin, got none");
    for (size_t b = 0; b < bins.size(); ++b) {
        const uq::ReliabilityBin& r = bins[b];
        AD_CHECK(std::isfinite(r.lo) && std::isfinite(r.hi) && std::isfinite(r.confidence) && std::isfinite(r.accuracy) &&
                     r.lo >= 0 && r.lo < r.hi && r.hi <= 1 && r.count >= 0 && r.accuracy >= 0 && r.accuracy <= 1 &&
                     r.confidence >= 0 && r.confidence <= 1,
                 where << ": expected bins with 0 <= lo < hi <= 1 and accuracy, confidence in [0, 1], got bin " << b
                       << " (" << r.lo << ", " << r.hi << "] with accuracy " << r.accuracy << ", confidence "
                       << r.confidence << ", count " << r.count);
    }
    const double width = 460, height = 460;
    Frame f{kLeft, kTop, width - kLeft - kRight, height - kTop - kBottom, AxisScale::linear, AxisScale::linear,
            {0.0, 1.0}, {0.0, 1.0}};
    std::ostringstream os;
    open_svg(os, width, height, title);
    draw_axes(os, f, "confidence", "accuracy");
    os << "<g class=\"data\" clip-path=\"url(#plot-area)\">\n";
    for (const uq::ReliabilityBin& r : bins) {
        if (r.count == 0) continue;
        const double x0 = f.X(r.lo), x1 = f.X(r.hi);
        os << "<rect class=\"bar\" x=\"" << px(x0) << "\" y=\"" << px(f.Y(r.accuracy)) << "\" width=\"" << px(x1 - x0)
           << "\" height=\"" << px(f.Y(0) - f.Y(r.accuracy)) << "\" fill=\"" << kPalette[0]
           << "\" stroke=\"white\" stroke-width=\"0.5\"/>\n";
        const double a = std::min(r.accuracy, r.confidence), c = std::max(r.accuracy, r.confidence);
        os << "<rect class=\"gap\" x=\"" << px(x0) << "\" y=\"" << px(f.Y(c)) << "\" width=\"" << px(x1 - x0)
           << "\" height=\"" << px(f.Y(a) - f.Y(c)) << "\" fill=\"" << kPalette[3] << "\" fill-opacity=\"0.35\"/>\n";
    }
    os << "<path d=\"M " << px(f.X(0)) << " " << px(f.Y(0)) << " L " << px(f.X(1)) << " " << px(f.Y(1))
       << "\" stroke=\"#333333\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\" fill=\"none\"/>\n";
    os << "</g>\n";
    draw_legend(os, f, {{"accuracy", kPalette[0], Swatch::box},
                        {"gap to confidence", kPalette[3], Swatch::band},
                        {"perfect calibration", "#333333", Swatch::dashed}});
    os << "</svg>\n";
    return os.str();
}

// ----------------------------------------------------------------------------- parity

std::string parity_svg(const std::vector<double>& reference, const std::vector<double>& predicted,
                       const std::string& title, const std::string& unit) {
    const std::string where = where_of("parity", title);
    AD_CHECK(!reference.empty(), where << ": expected at least one point, got none");
    check_values(where, "reference", reference, reference.size());
    check_values(where, "predicted", predicted, reference.size());
    double sq = 0, abs = 0;
    for (size_t i = 0; i < reference.size(); ++i) {
        const double d = predicted[i] - reference[i];
        sq += d * d;
        abs += std::fabs(d);
    }
    const double n = static_cast<double>(reference.size());
    // One range for both axes, so y = x is the diagonal of the (square) plot area.
    const Range r = axis_range(Axis{}, {&reference, &predicted}, where);
    LinePlot plot;
    plot.title = title;
    const std::string u = unit.empty() ? "" : " (" + unit + ")";
    plot.x = {"reference" + u, AxisScale::linear, r.lo, r.hi};
    plot.y = {"predicted" + u, AxisScale::linear, r.lo, r.hi};
    plot.width = kLeft + kRight + 368;
    plot.height = kTop + kBottom + 368;
    plot.lines.push_back({{r.lo, r.hi}, {r.lo, r.hi}, "", "#333333", 1.2, true});
    // Smaller marks for many points, so the cloud along the diagonal keeps some texture.
    plot.points.push_back({reference, predicted, "", kPalette[0], reference.size() > 1000 ? 1.8 : 2.5, 0.6});
    const std::string us = unit.empty() ? "" : " " + unit;
    plot.notes = {"n = " + std::to_string(reference.size()), "RMSE " + short_number(std::sqrt(sq / n)) + us,
                  "MAE " + short_number(abs / n) + us};
    return to_svg(plot);
}

// ----------------------------------------------------------------------------- calibration

namespace {

std::vector<CalibrationBin> checked_bins(const std::string& where, const std::vector<double>& abs_errors,
                                         const std::vector<double>& sigmas, long n_bins) {
    AD_CHECK(n_bins >= 1, where << ": expected n_bins >= 1, got " << n_bins);
    AD_CHECK(!sigmas.empty(), where << ": expected at least one point, got none");
    check_values(where, "sigmas", sigmas, sigmas.size());
    check_values(where, "abs_errors", abs_errors, sigmas.size());
    for (size_t i = 0; i < sigmas.size(); ++i) {
        AD_CHECK(sigmas[i] > 0, where << ": expected sigma > 0, got " << sigmas[i] << " at index " << i
                                      << "; a zero or negative predicted uncertainty has no place on a log axis");
        AD_CHECK(abs_errors[i] >= 0, where << ": expected |error| >= 0, got " << abs_errors[i] << " at index " << i
                                           << "; pass absolute errors |predicted - reference|");
    }
    std::vector<size_t> order(sigmas.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return sigmas[a] < sigmas[b]; });
    const size_t n = sigmas.size(), nb = std::min(n, static_cast<size_t>(n_bins));
    std::vector<CalibrationBin> bins;
    for (size_t b = 0; b < nb; ++b) {
        const size_t i0 = b * n / nb, i1 = (b + 1) * n / nb;
        double s2 = 0, e2 = 0, e1 = 0;
        for (size_t k = i0; k < i1; ++k) {
            const double s = sigmas[order[k]], e = abs_errors[order[k]];
            s2 += s * s;
            e2 += e * e;
            e1 += e;
        }
        const double m = static_cast<double>(i1 - i0);
        bins.push_back({sigmas[order[i0]], sigmas[order[i1 - 1]], static_cast<long>(i1 - i0), std::sqrt(s2 / m),
                        std::sqrt(e2 / m), e1 / m});
    }
    return bins;
}

}  // namespace

std::vector<CalibrationBin> calibration_bins(const std::vector<double>& abs_errors, const std::vector<double>& sigmas,
                                             long n_bins) {
    return checked_bins("svg: calibration_bins", abs_errors, sigmas, n_bins);
}

std::string calibration_svg(const std::vector<double>& abs_errors, const std::vector<double>& sigmas,
                            const std::string& title, const std::string& unit, long n_bins) {
    const std::string where = where_of("calibration", title);
    const std::vector<CalibrationBin> bins = checked_bins(where, abs_errors, sigmas, n_bins);
    // mean |e| sqrt(pi/2) = sigma for e ~ N(0, sigma^2), since E|e| = sigma sqrt(2 / pi).
    const double kSqrtHalfPi = std::sqrt(std::acos(-1.0) / 2.0);
    // Axes: log10 of every sigma and every positive bin value, at least a decade, padded by 4 %.
    double lo = HUGE_VAL, hi = -HUGE_VAL;
    auto cover = [&](double v) {
        if (v <= 0) return;
        lo = std::min(lo, std::log10(v));
        hi = std::max(hi, std::log10(v));
    };
    for (double s : sigmas) cover(s);
    for (const CalibrationBin& b : bins) {
        cover(b.rms_error);
        cover(b.mean_abs_error * kSqrtHalfPi);
    }
    if (hi - lo < 1.0) {
        const double mid = 0.5 * (lo + hi);
        lo = mid - 0.5;
        hi = mid + 0.5;
    }
    const double pad = 0.04 * (hi - lo), a = std::pow(10.0, lo - pad), z = std::pow(10.0, hi + pad);
    auto inside = [&](double v) { return std::clamp(v, a, z); };  // drawn on the nearest edge

    LinePlot plot;
    plot.title = title;
    const std::string u = unit.empty() ? "" : " (" + unit + ")";
    plot.x = {"predicted \xCF\x83" + u, AxisScale::log, a, z};
    plot.y = {"|error|" + u, AxisScale::log, a, z};
    plot.width = kLeft + kRight + 368;
    plot.height = kTop + kBottom + 368;
    ScatterSeries cloud{sigmas, abs_errors, "individual |error|", "#7f7f7f", 1.3, 0.3};
    for (double& e : cloud.y) e = inside(e);
    plot.background.push_back(std::move(cloud));
    plot.lines.push_back({{a, z}, {a, z}, "ideal: error = \xCF\x83", "#333333", 1.2, true});
    LineSeries rms{{}, {}, "RMS error per bin", kPalette[0], 1.5, false};
    LineSeries mae{{}, {}, "mean |error| \xC2\xB7 \xE2\x88\x9A(\xCF\x80/2)", kPalette[1], 1.5, false};
    double e2 = 0, s2 = 0;
    for (const CalibrationBin& b : bins) {
        rms.x.push_back(b.rms_sigma);
        rms.y.push_back(inside(b.rms_error));
        mae.x.push_back(b.rms_sigma);
        mae.y.push_back(inside(b.mean_abs_error * kSqrtHalfPi));
        e2 += b.rms_error * b.rms_error * static_cast<double>(b.count);
        s2 += b.rms_sigma * b.rms_sigma * static_cast<double>(b.count);
    }
    plot.lines.push_back(rms);
    plot.lines.push_back(mae);
    plot.points.push_back({mae.x, mae.y, "", kPalette[1], 2.8, 1.0});
    plot.points.push_back({rms.x, rms.y, "", kPalette[0], 3.5, 1.0});
    plot.notes = {"n = " + std::to_string(sigmas.size()) + " in " + std::to_string(bins.size()) + " bins",
                  "RMS(error) / RMS(\xCF\x83) = " + short_number(std::sqrt(e2 / s2))};
    return to_svg(plot);
}

// ----------------------------------------------------------------------------- files

void write_svg(const std::string& path, const LinePlot& plot) { write_file_atomic(path, to_svg(plot)); }
void write_svg(const std::string& path, const HeatMap& map) { write_file_atomic(path, to_svg(map)); }
void write_reliability_svg(const std::string& path, const std::vector<uq::ReliabilityBin>& bins,
                           const std::string& title) {
    write_file_atomic(path, reliability_svg(bins, title));
}
void write_parity_svg(const std::string& path, const std::vector<double>& reference,
                      const std::vector<double>& predicted, const std::string& title, const std::string& unit) {
    write_file_atomic(path, parity_svg(reference, predicted, title, unit));
}
void write_calibration_svg(const std::string& path, const std::vector<double>& abs_errors,
                           const std::vector<double>& sigmas, const std::string& title, const std::string& unit,
                           long n_bins) {
    write_file_atomic(path, calibration_svg(abs_errors, sigmas, title, unit, n_bins));
}

}  // namespace cli
