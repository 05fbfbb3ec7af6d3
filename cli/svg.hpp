// Tiny SVG plots written by atomgrad itself (no plotting library): a line plot with shaded bands
// (a predictive mean +- k sigma) and scatter points, on linear or log axes; a 2-D heat map (a
// classification confidence map over a grid, data points coloured by class) with a colour bar;
// a reliability diagram (accuracy per confidence bin against the diagonal).
// Every coordinate must be finite: NaN or Inf input throws ad::Error naming the plot and series.
// Files are written atomically (path.tmp, then rename; cli/files.hpp).
// Pixel layout: the plot area is the figure minus fixed margins; data (x, y) maps linearly (or
// by log10) onto it, y upwards.
#pragma once
#include <string>
#include <vector>

#include "uq/calibration.hpp"

namespace cli {

enum class AxisScale { linear, log };

/// One axis: label, scale and limits (lo >= hi: from the data, padded by 4%).
struct Axis {
    std::string label;
    AxisScale scale = AxisScale::linear;
    double lo = 0.0, hi = 0.0;
};

/// Colours are any SVG colour string; empty = the next colour of the tab10 palette.
struct LineSeries {
    std::vector<double> x, y;  ///< [n] each, drawn in the given order
    std::string label, color;
    double width = 2.0;
    bool dashed = false;
};
/// The region between lower and upper over x, filled.
struct BandSeries {
    std::vector<double> x, lower, upper;  ///< [n] each
    std::string label, color;
    double opacity = 0.25;
};
struct ScatterSeries {
    std::vector<double> x, y;  ///< [n] each
    std::string label, color;
    double radius = 2.5;
};

struct LinePlot {
    std::string title;
    Axis x, y;
    std::vector<BandSeries> bands;      ///< drawn first
    std::vector<LineSeries> lines;      ///< then lines
    std::vector<ScatterSeries> points;  ///< then points on top
    double width = 640, height = 420;   ///< pixels
};

/// Adds the band mean +- k sigma and the mean line over x (x, mean, sigma [n]; sigma >= 0).
void add_mean_band(LinePlot& plot, const std::vector<double>& x, const std::vector<double>& mean,
                   const std::vector<double>& sigma, double k, const std::string& label, const std::string& color = "");

/// A grid of values over [x_min, x_max] x [y_min, y_max]: values[j * nx + i] is the cell of
/// column i (from x_min) and row j (from y_min, drawn at the bottom).
struct HeatMap {
    std::string title, x_label, y_label, value_label;
    double x_min = 0, x_max = 1, y_min = 0, y_max = 1;
    long nx = 0, ny = 0;
    std::vector<double> values;            ///< [ny * nx]
    double v_min = 0, v_max = 0;           ///< colour range (v_min >= v_max: the data range)
    std::vector<double> px, py;            ///< points drawn on top [m]
    std::vector<long> pclass;              ///< class of each point [m] (palette colour)
    double width = 560, height = 460;
};

std::string to_svg(const LinePlot& plot);
std::string to_svg(const HeatMap& map);
/// Bars of accuracy per confidence bin (lo..hi), the gap to the mean confidence shaded, and the
/// diagonal accuracy = confidence; empty bins have no bar.
std::string reliability_svg(const std::vector<uq::ReliabilityBin>& bins, const std::string& title);

void write_svg(const std::string& path, const LinePlot& plot);
void write_svg(const std::string& path, const HeatMap& map);
void write_reliability_svg(const std::string& path, const std::vector<uq::ReliabilityBin>& bins,
                           const std::string& title);

}  // namespace cli
