// Fused RMSNorm ops (math in ops_rms_norm.hpp).
#include "autodiff/ops_rms_norm.hpp"

#include <cmath>
#include <memory>
#include <vector>

#include "autodiff/ops.hpp"
#include "autodiff/simd.hpp"

namespace ad {

namespace {
AD_VECTOR_CLONES void rs_kernel(const double* x, long rows, long n, double eps, double* rs) {
    for (long r = 0; r < rows; ++r) {
        const double* __restrict px = x + r * n;
        rs[r] = 1.0 / std::sqrt(sum4(n, [px](long f) { return px[f] * px[f]; }) / static_cast<double>(n) + eps);
    }
}

// y = x rs w
AD_VECTOR_CLONES void forward_kernel(const double* x, const double* __restrict w, const double* rs, long rows, long n,
                                     double* y) {
    for (long r = 0; r < rows; ++r) {
        const double* __restrict px = x + r * n;
        double* __restrict py = y + r * n;
        const double s = rs[r];
        for (long f = 0; f < n; ++f) py[f] = px[f] * s * w[f];
    }
}

// gx = Q(g w) = rs (g w - xh m(g w xh))
AD_VECTOR_CLONES void backward_kernel(const double* g, const double* x, const double* __restrict w, const double* rs,
                                      long rows, long n, double* gx) {
    const double inv_n = 1.0 / static_cast<double>(n);
    for (long r = 0; r < rows; ++r) {
        const double* __restrict px = x + r * n;
        const double* __restrict pg = g + r * n;
        double* __restrict po = gx + r * n;
        const double s = rs[r];
        const double cc = inv_n * s * sum4(n, [pg, w, px](long f) { return pg[f] * w[f] * px[f]; });  // m(v xh)
        for (long f = 0; f < n; ++f) po[f] = s * (pg[f] * w[f] - px[f] * s * cc);
    }
}

// gw += sum_r g xh
AD_VECTOR_CLONES void wgrad_kernel(const double* g, const double* x, const double* rs, long rows, long n,
                                   double* __restrict gw) {
    for (long r = 0; r < rows; ++r) {
        const double* __restrict px = x + r * n;
        const double* __restrict pg = g + r * n;
        const double s = rs[r];
        for (long f = 0; f < n; ++f) gw[f] += pg[f] * px[f] * s;
    }
}

void check_rms(const char* where, const Tensor& x, const Tensor& w, double eps) {
    AD_CHECK(x.ndim() >= 1 && x.dim(-1) > 0, where << ": expected x[..., n] with n > 0, got " << x.shape());
    AD_CHECK(w.ndim() == 1 && w.dim(0) == x.dim(-1), where << ": expected w[" << x.dim(-1) << "], got " << w.shape());
    AD_CHECK(eps > 0, where << ": expected eps > 0, got " << eps);
}

// d/dx of <u, Q(v)> with v held fixed (formula in the header), from ops
Tensor rms_norm_backward_dx(const Tensor& u, const Tensor& x, const Tensor& v, double eps) {
    const long last = x.ndim() - 1;
    auto m = [last](const Tensor& t) { return mean(t, {last}, true); };
    Tensor ms_eps = m(square(x)) + eps;  // 1 / rs^2, [..., 1]
    Tensor xh = x / sqrt(ms_eps);
    Tensor mux = m(u * xh), mvx = m(v * xh);
    Tensor t = xh * (m(u * v) - 3.0 * mux * mvx) + u * mvx + v * mux;
    return -(t / ms_eps);
}

using RsPtr = std::shared_ptr<const std::vector<double>>;

RsPtr rs_of(const Tensor& x, double eps, RsPtr st) {
    if (st) return st;
    const long n = x.dim(-1), rows = x.numel() / n;
    auto s = std::make_shared<std::vector<double>>(static_cast<size_t>(rows));
    rs_kernel(x.data(), rows, n, eps, s->data());
    return s;
}

Tensor rms_backward(const Tensor& g, const Tensor& x, const Tensor& w, double eps, RsPtr st);
Tensor rms_wgrad(const Tensor& g, const Tensor& x, double eps, RsPtr st);

Tensor rms_forward(const Tensor& x, const Tensor& w, double eps, RsPtr st) {
    check_rms("rms_norm", x, w, eps);
    const long n = x.dim(-1), rows = x.numel() / n;
    st = rs_of(x, eps, st);
    Tensor y = Tensor::empty(x.shape());
    forward_kernel(x.data(), w.data(), st->data(), rows, n, y.data());
    return record("rms_norm", y, {x, w}, [eps, st](const Tensor& g, const Ctx& c) {
        return Grads{c.needs[0] ? rms_backward(g, c.in[0], c.in[1], eps, st) : Tensor(),
                     c.needs[1] ? rms_wgrad(g, c.in[0], eps, st) : Tensor()};
    });
}

Tensor rms_backward(const Tensor& g, const Tensor& x, const Tensor& w, double eps, RsPtr st) {
    check_rms("rms_norm_backward", x, w, eps);
    AD_CHECK(g.shape() == x.shape(), "rms_norm_backward: expected g" << x.shape() << ", got " << g.shape());
    const long n = x.dim(-1), rows = x.numel() / n;
    st = rs_of(x, eps, st);
    Tensor gx = Tensor::empty(x.shape());
    backward_kernel(g.data(), x.data(), w.data(), st->data(), rows, n, gx.data());
    return record("rms_norm_backward", gx, {g, x, w}, [eps, st](const Tensor& gz, const Ctx& c) {
        const Tensor &in_g = c.in[0], &in_x = c.in[1], &in_w = c.in[2];
        Grads out(3);
        if (c.needs[0] || c.needs[2]) {
            Tensor qgz = rms_backward(gz, in_x, Tensor::ones(in_w.shape()), eps, st);  // Q(gz)
            if (c.needs[0]) out[0] = mul(qgz, in_w);
            if (c.needs[2]) out[2] = sum_to(mul(in_g, qgz), in_w.shape());
        }
        if (c.needs[1]) out[1] = rms_norm_backward_dx(gz, in_x, mul(in_g, in_w), eps);
        return out;
    });
}

Tensor rms_wgrad(const Tensor& g, const Tensor& x, double eps, RsPtr st) {
    AD_CHECK(x.ndim() >= 1 && x.dim(-1) > 0, "rms_norm_wgrad: expected x[..., n] with n > 0, got " << x.shape());
    AD_CHECK(g.shape() == x.shape(), "rms_norm_wgrad: expected g" << x.shape() << ", got " << g.shape());
    AD_CHECK(eps > 0, "rms_norm_wgrad: expected eps > 0, got " << eps);
    const long n = x.dim(-1), rows = x.numel() / n;
    st = rs_of(x, eps, st);
    Tensor gw = Tensor::zeros({n});
    wgrad_kernel(g.data(), x.data(), st->data(), rows, n, gw.data());
    return record("rms_norm_wgrad", gw, {g, x}, [eps, st](const Tensor& ggw, const Ctx& c) {
        return Grads{c.needs[0] ? rms_forward(c.in[1], ggw, eps, st) : Tensor(),
                     c.needs[1] ? rms_backward(c.in[0], c.in[1], ggw, eps, st) : Tensor()};
    });
}
}  // namespace

Tensor rms_norm(const Tensor& x, const Tensor& w, double eps) { return rms_forward(x, w, eps, nullptr); }

Tensor rms_norm_backward(const Tensor& g, const Tensor& x, const Tensor& w, double eps) {
    return rms_backward(g, x, w, eps, nullptr);
}

Tensor rms_norm_wgrad(const Tensor& g, const Tensor& x, double eps) { return rms_wgrad(g, x, eps, nullptr); }

}  // namespace ad
