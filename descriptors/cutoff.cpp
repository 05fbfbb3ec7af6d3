#include "descriptors/cutoff.hpp"

#include <cmath>

namespace desc {

void ShiftedCosineCutoff::evaluate(double r, double& f, double& df) const {
    const double start = cutoff - width;
    if (r <= start) {
        f = 1.0;
        df = 0.0;
    } else if (r >= cutoff) {  // images at exactly r_c contribute exactly 0 (spec sec. 2)
        f = 0.0;
        df = 0.0;
    } else {
        const double t = M_PI * (r - start) / width;
        f = 0.5 * (1.0 + std::cos(t));
        df = -0.5 * M_PI / width * std::sin(t);
    }
}

}  // namespace desc
