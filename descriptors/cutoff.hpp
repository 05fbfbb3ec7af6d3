// Shifted-cosine cutoff f_c(r) and its derivative side by side (specs/soap.md sec. 4).
//   f_c = 1 for r <= r_c - w;  1/2 [1 + cos(pi (r - r_c + w) / w)] inside;  0 for r >= r_c.
// f_c is C^1 with f_c(r_c) = f_c'(r_c) = 0, so every pair enters and leaves the sum smoothly.
// Notation: r pair distance (A), r_c cutoff radius, w width of the switching region.
#pragma once

namespace desc {

struct ShiftedCosineCutoff {
    double cutoff;  ///< r_c
    double width;   ///< w, 0 < w <= r_c

    /// Writes f_c(r) and f_c'(r).
    void evaluate(double r, double& f, double& df) const;
};

}  // namespace desc
