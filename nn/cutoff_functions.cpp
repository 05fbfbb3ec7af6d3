// Smooth cutoff functions (math in cutoff_functions.hpp).
#include "nn/cutoff_functions.hpp"

#include <cmath>

#include "autodiff/graph.hpp"
#include "autodiff/kernels.hpp"
#include "autodiff/ops.hpp"

namespace nn {

namespace {

constexpr double kPi = 3.14159265358979323846;

// d^k/ds^k of the cosine switch at s in (0, 1)
double cosine_ds(double s, int k) {
    const double a = kPi * s;
    switch (k) {
        case 0: return 0.5 * (1 + std::cos(a));
        case 1: return -0.5 * kPi * std::sin(a);
        case 2: return -0.5 * kPi * kPi * std::cos(a);
        default: return 0.5 * kPi * kPi * kPi * std::sin(a);
    }
}

// d^k/ds^k of the bump switch at s in (0, 1)
double bump_ds(double s, int k) {
    const double u = 1.0 / std::tan(kPi * s);
    const double t = std::tanh(u);
    if (k == 0) return 0.5 * (1 + t);
    // Near the ends |u| grows like 1/(pi s): 1 - t^2 = 1/cosh^2 u ~ 4 e^{-2|u|} decays faster than
    // any power of u grows, so every derivative is 0 in float64 once |u| > 300 (and u^3 would
    // overflow long before 1 - tanh^2 could cancel it).
    if (std::fabs(u) > 300) return 0.0;
    const double e = std::exp(-2 * std::fabs(u));
    const double tu = 4 * e / ((1 + e) * (1 + e));  // 1 - t^2 without cancellation
    const double us = -kPi * (1 + u * u);
    if (k == 1) return 0.5 * tu * us;
    const double tuu = -2 * t * tu;
    const double uss = 2 * kPi * kPi * u * (1 + u * u);
    if (k == 2) return 0.5 * (tuu * us * us + tu * uss);
    const double tuuu = tu * (6 * t * t - 2);
    const double usss = 2 * kPi * kPi * us * (1 + 3 * u * u);
    return 0.5 * (tuuu * us * us * us + 3 * tuu * us * uss + tu * usss);
}

}  // namespace

ad::Tensor smooth_cutoff_derivative(const ad::Tensor& r, CutoffFunction kind, double cutoff, double width, int order) {
    AD_CHECK(cutoff > 0 && width > 0 && width <= cutoff,
             "smooth_cutoff: expected cutoff > 0 and 0 < width <= cutoff, got cutoff " << cutoff << " and width "
                                                                                          << width);
    AD_CHECK(order >= 0 && order <= 3,
             "smooth_cutoff: expected a derivative order in 0..3, got " << order
                                                                         << "; derivatives beyond the third are not implemented");
    const double r0 = cutoff - width, scale = std::pow(width, -order);
    ad::Tensor y = ad::kern::map(r, [=](double v) {
        if (v <= r0) return order == 0 ? 1.0 : 0.0;
        if (v >= cutoff) return 0.0;
        const double s = (v - r0) / width;
        return scale * (kind == CutoffFunction::cosine ? cosine_ds(s, order) : bump_ds(s, order));
    });
    const char* name = order == 0 ? "smooth_cutoff" : "smooth_cutoff_derivative";
    return ad::record(name, y, {r}, [=](const ad::Tensor& g, const ad::Ctx& c) {
        return ad::Grads{ad::mul(g, smooth_cutoff_derivative(c.in[0], kind, cutoff, width, order + 1))};
    });
}

ad::Tensor smooth_cutoff(const ad::Tensor& r, CutoffFunction kind, double cutoff, double width) {
    return smooth_cutoff_derivative(r, kind, cutoff, width, 0);
}

CutoffFunction parse_cutoff_function(const std::string& name) {
    if (name == "cosine") return CutoffFunction::cosine;
    if (name == "bump") return CutoffFunction::bump;
    AD_CHECK(false, "cutoff function: expected cosine or bump, got '" << name << "'");
    return CutoffFunction::cosine;
}

std::string to_string(CutoffFunction kind) { return kind == CutoffFunction::cosine ? "cosine" : "bump"; }

}  // namespace nn
