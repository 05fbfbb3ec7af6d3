// Loss and output Hessians of the Gaussian and categorical likelihoods (formulas in likelihood.hpp).
#include "uq/likelihood.hpp"

#include <algorithm>
#include <cmath>

#include "autodiff/ops.hpp"

namespace uq {

using ad::Tensor;
using ad::operator<<;

Tensor check_targets(Likelihood likelihood, const Tensor& targets, long n, long C, const char* where) {
    AD_CHECK(targets.defined(), where << ": expected targets for " << n << " points, got an undefined tensor");
    Tensor y = targets.detach();
    if (likelihood == Likelihood::regression) {
        AD_CHECK(y.shape() == ad::Shape({n, C}) || (C == 1 && y.shape() == ad::Shape({n})),
                 where << ": expected regression targets [" << n << ", " << C << "], got " << y.shape());
        return ad::reshape(y, {n, C});
    }
    AD_CHECK(y.shape() == ad::Shape({n}), where << ": expected class labels [" << n << "], got " << y.shape());
    for (long i = 0; i < n; ++i)
        AD_CHECK(y[i] >= 0 && y[i] < C && y[i] == std::floor(y[i]),
                 where << ": expected integer class labels in [0, " << C << "), got " << y[i] << " at row " << i);
    return y;
}

// Softmax through the log-sum-exp with the row maximum subtracted (no overflow for large logits).
OutputHessian output_hessian(Likelihood likelihood, const Tensor& f_in, const Tensor& y) {
    AD_CHECK(f_in.defined() && f_in.ndim() == 2, "output_hessian: expected outputs f [n, C], got "
                                                     << (f_in.defined() ? f_in.shape() : ad::Shape{}));
    const Tensor f = f_in.detach();
    const long n = f.dim(0), C = f.dim(1);
    OutputHessian out;
    out.Lambda = Tensor::zeros({n, C, C});
    double* L = out.Lambda.data();
    for (long i = 0; i < n; ++i, L += C * C) {
        const double* fi = f.data() + i * C;
        if (likelihood == Likelihood::regression) {
            for (long c = 0; c < C; ++c) {
                L[c * C + c] = 1.0;
                const double r = fi[c] - y[i * C + c];
                out.loss += 0.5 * r * r;
            }
            continue;
        }
        const double mx = *std::max_element(fi, fi + C);
        double s = 0;
        for (long c = 0; c < C; ++c) s += std::exp(fi[c] - mx);
        const double lse = mx + std::log(s);
        out.loss += lse - fi[static_cast<long>(y[i])];
        for (long c = 0; c < C; ++c) {
            const double pc = std::exp(fi[c] - lse);
            for (long k = 0; k < C; ++k) L[c * C + k] = (c == k ? pc : 0.0) - pc * std::exp(fi[k] - lse);
        }
    }
    return out;
}

}  // namespace uq
