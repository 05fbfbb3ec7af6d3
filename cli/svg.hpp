// Tiny SVG plots written by atomgrad itself (no plotting library): a line plot with shaded bands
// (a predictive mean +- k sigma) and scatter points, on linear or log axes; a 2-D heat map (a
// classification confidence map over a grid, data points coloured by class) with a colour bar;
// a reliability diagram (accuracy per confidence bin against the diagonal); a parity plot
// (predicted against reference) and a calibration plot (binned error against predicted sigma).
// Every coordinate must be finite: NaN or Inf input throws ad::Error naming the plot and series.
// Files are written atomically (path.tmp, then rename; cli/files.hpp).
// Pixel layout: the plot area is the figure minus fixed margins; data (x, y) maps linearly (or
// by log10) onto it, y upwards.
// Scatter marks are thinned on a pixel grid: one mark per occupied cell (the first point of the
// series, in input order, that falls in it, drawn at its own position); cells are 1 px, doubled
// until the series has at most kMaxMarks marks. Marks closer than a pixel coincide on screen, so
// only very dense clouds lose anything (their density, not their extent: every outlier keeps a
// mark), and 30k force components stay a file of ~100 KB. Deterministic: same input, same file.
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
    double opacity = 1.0;
};

/// At most this many marks per scatter series (see the pixel-grid thinning above).
constexpr long kMaxMarks = 2500;

struct LinePlot {
    std::string title;
    Axis x, y;
    std::vector<ScatterSeries> background;  ///< drawn first (a faint cloud behind everything)
    std::vector<BandSeries> bands;          ///< then bands
    std::vector<LineSeries> lines;          ///< then lines
    std::vector<ScatterSeries> points;      ///< then points on top
    std::vector<std::string> notes;         ///< lines of text in a box at the bottom right
    double width = 640, height = 420;       ///< pixels
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

/// Parity plot: predicted against reference ([n] each, n >= 1, finite, in `unit`, e.g. "meV/Å"),
/// both axes over the same range (the data's, padded by 4 %) on a square plot area, the line
/// y = x corner to corner, and n, RMSE and MAE of predicted - reference in a box. Points are
/// thinned as any scatter series (above).
std::string parity_svg(const std::vector<double>& reference, const std::vector<double>& predicted,
                       const std::string& title, const std::string& unit);

/// Calibration of predicted uncertainties (regression, e.g. LLPR on energies or forces).
/// abs_errors[i] = |predicted_i - reference_i| >= 0, sigmas[i] > 0 the predicted standard
/// deviation of point i (same unit); [n] each.
constexpr long kCalibrationBins = 15;

/// One bin of points with similar sigma.
struct CalibrationBin {
    double sigma_lo, sigma_hi;  ///< smallest and largest sigma in the bin
    long count;
    double rms_sigma;       ///< sqrt(mean sigma^2): the error a calibrated model predicts
    double rms_error;       ///< sqrt(mean |e|^2)
    double mean_abs_error;  ///< mean |e| (times sqrt(pi/2), an estimate of a Gaussian's sigma)
};

/// Equal-count bins over the points sorted by sigma (ties by index): B = min(n_bins, n) bins, bin
/// b holds sorted points [b n / B, (b + 1) n / B), so sizes differ by at most one. Equal counts
/// (rather than equal widths in log sigma) give every bin the same statistical weight, whatever
/// the spread of sigma. Throws ad::Error for sigma <= 0, |e| < 0, non-finite values or n = 0.
std::vector<CalibrationBin> calibration_bins(const std::vector<double>& abs_errors, const std::vector<double>& sigmas,
                                             long n_bins = kCalibrationBins);

/// Calibration plot, log-log: per bin of calibration_bins the RMS error against the RMS sigma
/// (line with markers) and mean |e| sqrt(pi/2) (a second estimate of the error's sigma, less
/// sensitive to outliers), the ideal line error = sigma, and every point's |e| against its sigma
/// faintly behind. Both axes span the sigmas and the bin values (at least one decade, padded by
/// 4 % in log units); decade ticks. Values outside are drawn on the nearest edge: an error of
/// exactly 0 (or a bin of zero errors) sits on the bottom edge. The notes give n, the number of
/// bins and RMS(e) / RMS(sigma) over all points (1 when calibrated on average).
std::string calibration_svg(const std::vector<double>& abs_errors, const std::vector<double>& sigmas,
                            const std::string& title, const std::string& unit, long n_bins = kCalibrationBins);

void write_svg(const std::string& path, const LinePlot& plot);
void write_svg(const std::string& path, const HeatMap& map);
void write_reliability_svg(const std::string& path, const std::vector<uq::ReliabilityBin>& bins,
                           const std::string& title);
void write_parity_svg(const std::string& path, const std::vector<double>& reference,
                      const std::vector<double>& predicted, const std::string& title, const std::string& unit);
void write_calibration_svg(const std::string& path, const std::vector<double>& abs_errors,
                           const std::vector<double>& sigmas, const std::string& title, const std::string& unit,
                           long n_bins = kCalibrationBins);

}  // namespace cli
