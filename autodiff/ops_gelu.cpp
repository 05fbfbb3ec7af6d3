// GELU's derivatives as fused ops (math in ops_gelu.hpp).
#include "autodiff/ops_gelu.hpp"

#include <cmath>

#include "autodiff/ops.hpp"

namespace ad {

namespace {
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

void check_same(const char* where, const Tensor& g, const Tensor& x) {
    AD_CHECK(g.shape() == x.shape(), where << ": expected g and x of one shape, got " << g.shape() << " and " << x.shape());
}
}  // namespace

Tensor gelu_backward(const Tensor& g, const Tensor& x) {
    check_same("gelu_backward", g, x);
    const long n = x.numel();
    Tensor z = Tensor::empty(x.shape());
    const double *__restrict pg = g.data(), *__restrict px = x.data();
    double* __restrict pz = z.data();
    for (long i = 0; i < n; ++i) {
        const double u = px[i];
        pz[i] = pg[i] * (0.5 * (1.0 + std::erf(u * kInvSqrt2)) + u * kInvSqrt2Pi * std::exp(-0.5 * u * u));
    }
    return record("gelu_backward", z, {g, x}, [](const Tensor& gz, const Ctx& c) {
        return Grads{c.needs[0] ? gelu_backward(gz, c.in[1]) : Tensor(),
                     c.needs[1] ? gelu_backward2(mul(gz, c.in[0]), c.in[1]) : Tensor()};
    });
}

Tensor gelu_backward2(const Tensor& g, const Tensor& x) {
    check_same("gelu_backward2", g, x);
    const long n = x.numel();
    Tensor z = Tensor::empty(x.shape());
    const double *__restrict pg = g.data(), *__restrict px = x.data();
    double* __restrict pz = z.data();
    for (long i = 0; i < n; ++i) {
        const double u = px[i];
        pz[i] = pg[i] * (kInvSqrt2Pi * std::exp(-0.5 * u * u) * (2.0 - u * u));
    }
    return record("gelu_backward2", z, {g, x}, [](const Tensor& gz, const Ctx& c) {
        Grads out(2);
        if (c.needs[0]) out[0] = gelu_backward2(gz, c.in[1]);
        if (c.needs[1]) {  // gz g x phi (x^2 - 4), from ops (third derivatives: never on a training path)
            const Tensor& xx = c.in[1];
            Tensor x2 = square(xx);
            Tensor phi = mul(exp(mul(x2, -0.5)), kInvSqrt2Pi);
            out[1] = mul(mul(gz, c.in[0]), mul(mul(xx, phi), sub(x2, Tensor::scalar(4.0))));
        }
        return out;
    });
}

}  // namespace ad
