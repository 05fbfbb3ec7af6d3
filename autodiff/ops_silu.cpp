// SiLU's derivatives as fused ops (math in ops_silu.hpp).
#include "autodiff/ops_silu.hpp"

#include "autodiff/fastmath.hpp"
#include "autodiff/ops.hpp"

namespace ad {

namespace {
void check_same(const char* where, const Tensor& g, const Tensor& x) {
    AD_CHECK(g.shape() == x.shape(), where << ": expected g and x of one shape, got " << g.shape() << " and " << x.shape());
}
}  // namespace

Tensor silu_backward(const Tensor& g, const Tensor& x) {
    check_same("silu_backward", g, x);
    const long n = x.numel();
    Tensor z = Tensor::empty(x.shape());
    double* __restrict pz = z.data();
    fast::sigmoid(x.data(), pz, n);  // s, then g s (1 + x (1 - s)) in place
    const double *__restrict pg = g.data(), *__restrict px = x.data();
    for (long i = 0; i < n; ++i) pz[i] = pg[i] * (pz[i] * (1.0 + px[i] * (1.0 - pz[i])));
    return record("silu_backward", z, {g, x}, [](const Tensor& gz, const Ctx& c) {
        return Grads{c.needs[0] ? silu_backward(gz, c.in[1]) : Tensor(),
                     c.needs[1] ? silu_backward2(mul(gz, c.in[0]), c.in[1]) : Tensor()};
    });
}

Tensor silu_backward2(const Tensor& g, const Tensor& x) {
    check_same("silu_backward2", g, x);
    const long n = x.numel();
    Tensor z = Tensor::empty(x.shape());
    double* __restrict pz = z.data();
    fast::sigmoid(x.data(), pz, n);  // s, then g q (2 + x (1 - 2 s)) in place
    const double *__restrict pg = g.data(), *__restrict px = x.data();
    for (long i = 0; i < n; ++i) {
        const double s = pz[i];
        pz[i] = pg[i] * (s * (1.0 - s) * (2.0 + px[i] * (1.0 - 2.0 * s)));
    }
    return record("silu_backward2", z, {g, x}, [](const Tensor& gz, const Ctx& c) {
        Grads out(2);
        if (c.needs[0]) out[0] = silu_backward2(gz, c.in[1]);
        if (c.needs[1]) {  // gz g silu'''(x), from ops (third derivatives: never on a training path)
            const Tensor& xx = c.in[1];
            Tensor s = sigmoid(xx);
            Tensor q = mul(s, sub(Tensor::scalar(1.0), s));
            Tensor t = sub(Tensor::scalar(1.0), mul(s, 2.0));  // 1 - 2 s
            Tensor d3 = mul(q, sub(mul(t, add(mul(xx, t), 3.0)), mul(mul(xx, q), 2.0)));
            out[1] = mul(mul(gz, c.in[0]), d3);
        }
        return out;
    });
}

}  // namespace ad
