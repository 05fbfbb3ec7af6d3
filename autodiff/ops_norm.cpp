// Fused layer normalisation over the last axis (Ba et al. 2016, eq. 4) and its backward as ops.
// Notation: rows r (all leading axes), features f = 0..n-1; per row
//   mu = mean_f x,  var = mean_f (x - mu)^2 (biased),  rs = 1 / sqrt(var + eps),  xh = (x - mu) rs
//   P(v) = rs (v - mean_f v - xh mean_f (v xh))      the VJP of x -> xh (P is self-adjoint)
// layer_norm_backward and layer_norm_wgrad are ops whose backward closes the family (forward +
// backward + second derivatives), so force training differentiates through LayerNorm twice
// with one pass per [rows, n] tensor instead of a dozen elementwise ops. The row statistics
// (mu, rs) are computed once per x and shared by the ops of its backward graph.
#include <cmath>
#include <memory>
#include <vector>

#include "autodiff/ops.hpp"

namespace ad {

namespace {
// sum_f h(f) with four partial sums: the compiler may not reorder a floating-point reduction, and
// one accumulator leaves the loop bound by the add latency.
template <class H>
inline double sum4(long n, H h) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    long f = 0;
    for (; f + 4 <= n; f += 4) {
        s0 += h(f);
        s1 += h(f + 1);
        s2 += h(f + 2);
        s3 += h(f + 3);
    }
    for (; f < n; ++f) s0 += h(f);
    return (s0 + s1) + (s2 + s3);
}

// Row statistics: mean and 1/sqrt(var + eps) (two passes: the one-pass formula cancels).
inline void row_stats(const double* __restrict x, long n, double eps, double& mu, double& rs) {
    mu = sum4(n, [x](long f) { return x[f]; }) / static_cast<double>(n);
    const double m = mu;
    const double v = sum4(n, [x, m](long f) { return (x[f] - m) * (x[f] - m); });
    rs = 1.0 / std::sqrt(v / static_cast<double>(n) + eps);
}

void check_ln(const char* where, const Tensor& x, const Tensor& w, double eps) {
    AD_CHECK(x.ndim() >= 1 && x.dim(-1) > 0, where << ": expected x[..., n] with n > 0, got " << x.shape());
    AD_CHECK(w.ndim() == 1 && w.dim(0) == x.dim(-1),
             where << ": expected w[" << x.dim(-1) << "], got " << w.shape());
    AD_CHECK(eps > 0, where << ": expected eps > 0, got " << eps);
}

// d/dx of <u, P(v)> with v held fixed, per row (m_ = mean_f):
//   -rs^2 [ xh (m_(u v) - m_v m_u - 3 m_(v xh) m_(u xh)) + m_(u xh) (v - m_v) + m_(v xh) (u - m_u) ]
// Built from ops, so it is differentiable again.
Tensor layer_norm_backward_dx(const Tensor& u, const Tensor& x, const Tensor& v, double eps) {
    const long last = x.ndim() - 1;
    auto m = [last](const Tensor& t) { return mean(t, {last}, true); };
    Tensor xc = x - m(x);
    Tensor var_eps = m(square(xc)) + eps;  // [..., 1]
    Tensor xh = xc / sqrt(var_eps);
    Tensor mu = m(u), mv = m(v), muv = m(u * v), mvx = m(v * xh), mux = m(u * xh);
    Tensor t = xh * (muv - mv * mu - 3.0 * mvx * mux) + mux * (v - mv) + mvx * (u - mu);
    return -(t / var_eps);
}
}  // namespace

namespace {
// Row statistics (mu, rs per row) of one x, computed by whichever op of the family sees x first
// and handed to the ops its backward builds: x is the same tensor there, so a LayerNorm step
// (forward, backward, double backward) reads its [rows, n] input for the statistics once.
struct Stats {
    std::vector<double> mu, rs;
};
using StatsPtr = std::shared_ptr<const Stats>;

StatsPtr stats_of(const Tensor& x, double eps, StatsPtr st) {
    if (st) return st;
    const long n = x.dim(-1), rows = x.numel() / n;
    auto s = std::make_shared<Stats>();
    s->mu.resize(static_cast<size_t>(rows));
    s->rs.resize(static_cast<size_t>(rows));
    for (long r = 0; r < rows; ++r) row_stats(x.data() + r * n, n, eps, s->mu[static_cast<size_t>(r)], s->rs[static_cast<size_t>(r)]);
    return s;
}

Tensor ln_forward(const Tensor& x, const Tensor& w, const Tensor& b, double eps, StatsPtr st);
Tensor ln_backward(const Tensor& g, const Tensor& x, const Tensor& w, double eps, StatsPtr st);
Tensor ln_wgrad(const Tensor& g, const Tensor& x, double eps, StatsPtr st);

// y[r, f] = xh[r, f] w[f] + b[f]
//   gx = layer_norm_backward(g, x, w) = P(g w),  gw = layer_norm_wgrad(g, x) = sum_r g xh,  gb = sum_r g
Tensor ln_forward(const Tensor& x, const Tensor& w, const Tensor& b, double eps, StatsPtr st) {
    check_ln("layer_norm", x, w, eps);
    AD_CHECK(b.shape() == w.shape(), "layer_norm: expected b" << w.shape() << ", got " << b.shape());
    const long n = x.dim(-1), rows = x.numel() / n;
    st = stats_of(x, eps, st);
    Tensor y = Tensor::empty(x.shape());
    const double* pw = w.data();
    const double* pb = b.data();
    for (long r = 0; r < rows; ++r) {
        const double* __restrict px = x.data() + r * n;
        double* __restrict py = y.data() + r * n;
        const double mu = st->mu[static_cast<size_t>(r)], rs = st->rs[static_cast<size_t>(r)];
        for (long f = 0; f < n; ++f) py[f] = (px[f] - mu) * rs * pw[f] + pb[f];
    }
    return record("layer_norm", y, {x, w, b}, [eps, st](const Tensor& g, const Ctx& c) {
        const Tensor& in_x = c.in[0];
        return Grads{c.needs[0] ? ln_backward(g, in_x, c.in[1], eps, st) : Tensor(),
                     c.needs[1] ? ln_wgrad(g, in_x, eps, st) : Tensor(),
                     c.needs[2] ? sum_to(g, c.in[2].shape()) : Tensor()};
    });
}

// gx[r, f] = P(g w)[r, f]
//   d/dg = w P(gz)   (P self-adjoint),  d/dw = sum_r g P(gz),  d/dx: layer_norm_backward_dx above
Tensor ln_backward(const Tensor& g, const Tensor& x, const Tensor& w, double eps, StatsPtr st) {
    check_ln("layer_norm_backward", x, w, eps);
    AD_CHECK(g.shape() == x.shape(), "layer_norm_backward: expected g" << x.shape() << ", got " << g.shape());
    const long n = x.dim(-1), rows = x.numel() / n;
    const double inv_n = 1.0 / static_cast<double>(n);
    st = stats_of(x, eps, st);
    Tensor gx = Tensor::empty(x.shape());
    const double* pw = w.data();
    for (long r = 0; r < rows; ++r) {
        const double* __restrict px = x.data() + r * n;
        const double* __restrict pg = g.data() + r * n;
        double* __restrict po = gx.data() + r * n;
        const double mu = st->mu[static_cast<size_t>(r)], rs = st->rs[static_cast<size_t>(r)];
        const double a = inv_n * sum4(n, [pg, pw](long f) { return pg[f] * pw[f]; });  // mean(v), v = g w
        const double cc = inv_n * rs * sum4(n, [pg, pw, px, mu](long f) { return pg[f] * pw[f] * (px[f] - mu); });
        for (long f = 0; f < n; ++f) po[f] = rs * (pg[f] * pw[f] - a - (px[f] - mu) * rs * cc);
    }
    return record("layer_norm_backward", gx, {g, x, w}, [eps, st](const Tensor& gz, const Ctx& c) {
        const Tensor &in_g = c.in[0], &in_x = c.in[1], &in_w = c.in[2];
        Grads out(3);
        if ((c.needs[0] || c.needs[2]) && !grad_enabled()) {
            // Recording off (a first-order backward through the force graph): w P(gz) and
            // sum_r g P(gz) in one pass per row; the ops in the else branch are its oracle (tests).
            const long nf = in_x.dim(-1), nr = in_x.numel() / nf;
            const double inv = 1.0 / static_cast<double>(nf);
            Tensor gg = c.needs[0] ? Tensor::empty(in_x.shape()) : Tensor();
            Tensor gw = c.needs[2] ? Tensor::zeros(in_w.shape()) : Tensor();
            const double* pwz = in_w.data();
            for (long r = 0; r < nr; ++r) {
                const double* __restrict px = in_x.data() + r * nf;
                const double* __restrict pz = gz.data() + r * nf;
                const double mu = st->mu[static_cast<size_t>(r)], rs = st->rs[static_cast<size_t>(r)];
                const double a = inv * sum4(nf, [pz](long f) { return pz[f]; });
                const double cc = inv * rs * sum4(nf, [pz, px, mu](long f) { return pz[f] * (px[f] - mu); });
                // P(gz)[f] = rs (gz[f] - a - xh[f] cc)
                if (c.needs[0]) {
                    double* __restrict po = gg.data() + r * nf;
                    for (long f = 0; f < nf; ++f) po[f] = pwz[f] * (rs * (pz[f] - a - (px[f] - mu) * rs * cc));
                }
                if (c.needs[2]) {
                    const double* __restrict pg = in_g.data() + r * nf;
                    double* __restrict pgw = gw.data();
                    for (long f = 0; f < nf; ++f) pgw[f] += pg[f] * (rs * (pz[f] - a - (px[f] - mu) * rs * cc));
                }
            }
            out[0] = gg;
            out[2] = gw;
        } else if (c.needs[0] || c.needs[2]) {
            Tensor pgz = ln_backward(gz, in_x, Tensor::ones(in_w.shape()), eps, st);  // P(gz)
            if (c.needs[0]) out[0] = mul(pgz, in_w);
            if (c.needs[2]) out[2] = sum_to(mul(in_g, pgz), in_w.shape());
        }
        if (c.needs[1]) out[1] = layer_norm_backward_dx(gz, in_x, mul(in_g, in_w), eps);
        return out;
    });
}

// gw[f] = sum_r g[r, f] xh[r, f]
//   d/dg = xh ggw = layer_norm(x, ggw, 0),  d/dx = P(g ggw) = layer_norm_backward(g, x, ggw)
Tensor ln_wgrad(const Tensor& g, const Tensor& x, double eps, StatsPtr st) {
    AD_CHECK(x.ndim() >= 1 && x.dim(-1) > 0, "layer_norm_wgrad: expected x[..., n] with n > 0, got " << x.shape());
    AD_CHECK(g.shape() == x.shape(), "layer_norm_wgrad: expected g" << x.shape() << ", got " << g.shape());
    AD_CHECK(eps > 0, "layer_norm_wgrad: expected eps > 0, got " << eps);
    const long n = x.dim(-1), rows = x.numel() / n;
    st = stats_of(x, eps, st);
    Tensor gw = Tensor::zeros({n});
    double* __restrict po = gw.data();
    for (long r = 0; r < rows; ++r) {
        const double* __restrict px = x.data() + r * n;
        const double* __restrict pg = g.data() + r * n;
        const double mu = st->mu[static_cast<size_t>(r)], rs = st->rs[static_cast<size_t>(r)];
        for (long f = 0; f < n; ++f) po[f] += pg[f] * (px[f] - mu) * rs;
    }
    return record("layer_norm_wgrad", gw, {g, x}, [eps, st](const Tensor& ggw, const Ctx& c) {
        const Tensor &in_g = c.in[0], &in_x = c.in[1];
        return Grads{c.needs[0] ? ln_forward(in_x, ggw, Tensor::zeros(ggw.shape()), eps, st) : Tensor(),
                     c.needs[1] ? ln_backward(in_g, in_x, ggw, eps, st) : Tensor()};
    });
}
}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) { return ln_forward(x, w, b, eps, nullptr); }

Tensor layer_norm_backward(const Tensor& g, const Tensor& x, const Tensor& w, double eps) {
    return ln_backward(g, x, w, eps, nullptr);
}

Tensor layer_norm_wgrad(const Tensor& g, const Tensor& x, double eps) { return ln_wgrad(g, x, eps, nullptr); }

}  // namespace ad
