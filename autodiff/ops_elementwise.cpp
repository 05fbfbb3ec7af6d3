// Elementwise ops. Notation: x, a, b inputs; y = out; g = dL/dy; gx = dL/dx.
// Binary ops broadcast (NumPy rule) and undo it in backward with sum_to.
#include <cmath>

#include "autodiff/fastmath.hpp"
#include "autodiff/kernels.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/ops_gelu.hpp"
#include "autodiff/ops_silu.hpp"

namespace ad {

namespace kern {
std::vector<long> broadcast_strides(const Shape& in, const Shape& out) {
    std::vector<long> st(out.size(), 0);
    std::vector<long> in_st = strides_of(in);
    size_t off = out.size() - in.size();
    for (size_t k = 0; k < in.size(); ++k) st[off + k] = in[k] == 1 ? 0 : in_st[k];
    return st;
}
}  // namespace kern

namespace {
// Gradient for a broadcast input: sum over the broadcast axes, skipped when shapes agree.
Tensor unbroadcast(const Tensor& g, const Shape& shape) { return g.shape() == shape ? g : sum_to(g, shape); }
}  // namespace

// y = a + b;  ga = g,  gb = g  (summed over broadcast axes)
Tensor add(const Tensor& a, const Tensor& b) {
    Shape s = broadcast_shapes(a.shape(), b.shape(), "add");
    Tensor y = kern::zip(a, b, s, [](double u, double v) { return u + v; });
    return record("add", y, {a, b}, [](const Tensor& g, const Ctx& c) {
        return Grads{c.needs[0] ? unbroadcast(g, c.in[0].shape()) : Tensor(),
                     c.needs[1] ? unbroadcast(g, c.in[1].shape()) : Tensor()};
    });
}

// y = a - b;  ga = g,  gb = -g
Tensor sub(const Tensor& a, const Tensor& b) {
    Shape s = broadcast_shapes(a.shape(), b.shape(), "sub");
    Tensor y = kern::zip(a, b, s, [](double u, double v) { return u - v; });
    return record("sub", y, {a, b}, [](const Tensor& g, const Ctx& c) {
        return Grads{c.needs[0] ? unbroadcast(g, c.in[0].shape()) : Tensor(),
                     c.needs[1] ? neg(unbroadcast(g, c.in[1].shape())) : Tensor()};
    });
}

// y = a * b;  ga = g b,  gb = g a
Tensor mul(const Tensor& a, const Tensor& b) {
    Shape s = broadcast_shapes(a.shape(), b.shape(), "mul");
    Tensor y = kern::zip(a, b, s, [](double u, double v) { return u * v; });
    return record("mul", y, {a, b}, [](const Tensor& g, const Ctx& c) {
        return Grads{c.needs[0] ? unbroadcast(mul(g, c.in[1]), c.in[0].shape()) : Tensor(),
                     c.needs[1] ? unbroadcast(mul(g, c.in[0]), c.in[1].shape()) : Tensor()};
    });
}

// y = a / b;  ga = g / b,  gb = -g y / b
Tensor div(const Tensor& a, const Tensor& b) {
    Shape s = broadcast_shapes(a.shape(), b.shape(), "div");
    Tensor y = kern::zip(a, b, s, [](double u, double v) { return u / v; });
    return record("div", y, {a, b}, [](const Tensor& g, const Ctx& c) {
        return Grads{c.needs[0] ? unbroadcast(div(g, c.in[1]), c.in[0].shape()) : Tensor(),
                     c.needs[1] ? unbroadcast(neg(div(mul(g, c.out), c.in[1])), c.in[1].shape()) : Tensor()};
    });
}

// y = a + s;  ga = g
Tensor add(const Tensor& a, double s) {
    Tensor y = kern::map(a, [s](double u) { return u + s; });
    return record("add_scalar", y, {a}, [](const Tensor& g, const Ctx&) { return Grads{g}; });
}

// y = a s;  ga = g s
Tensor mul(const Tensor& a, double s) {
    Tensor y = kern::map(a, [s](double u) { return u * s; });
    return record("mul_scalar", y, {a}, [s](const Tensor& g, const Ctx&) { return Grads{mul(g, s)}; });
}

// y = -x;  gx = -g
Tensor neg(const Tensor& x) {
    Tensor y = kern::map(x, [](double u) { return -u; });
    return record("neg", y, {x}, [](const Tensor& g, const Ctx&) { return Grads{neg(g)}; });
}

// y = x^p;  gx = g p x^(p-1)
Tensor pow(const Tensor& x, double p) {
    bool whole = std::floor(p) == p;
    const double* px = x.data();
    if (!whole)
        for (long i = 0; i < x.numel(); ++i)
            AD_CHECK(px[i] >= 0, "pow: expected non-negative x for the non-integer power " << p << ", got "
                                                                                           << px[i]);
    Tensor y = kern::map(x, [p](double u) { return std::pow(u, p); });
    return record("pow", y, {x}, [p](const Tensor& g, const Ctx& c) {
        if (p == 0) return Grads{Tensor::zeros(c.in[0].shape())};
        if (p == 1) return Grads{g};
        if (p == 2) return Grads{mul(g, mul(c.in[0], 2.0))};
        return Grads{mul(g, mul(pow(c.in[0], p - 1), p))};
    });
}

// y = x^2;  gx = 2 g x
Tensor square(const Tensor& x) {
    Tensor y = kern::map(x, [](double u) { return u * u; });
    return record("square", y, {x}, [](const Tensor& g, const Ctx& c) { return Grads{mul(g, mul(c.in[0], 2.0))}; });
}

// y = e^x;  gx = g y
Tensor exp(const Tensor& x) {
    Tensor y = Tensor::empty(x.shape());
    fast::exp(x.data(), y.data(), x.numel());
    return record("exp", y, {x}, [](const Tensor& g, const Ctx& c) { return Grads{mul(g, c.out)}; });
}

// y = log x;  gx = g / x
Tensor log(const Tensor& x) {
    const double* px = x.data();
    for (long i = 0; i < x.numel(); ++i)
        AD_CHECK(px[i] >= 0 || std::isnan(px[i]), "log: expected x >= 0, got " << px[i] << " at index " << i);
    Tensor y = kern::map(x, [](double u) { return std::log(u); });
    return record("log", y, {x}, [](const Tensor& g, const Ctx& c) { return Grads{div(g, c.in[0])}; });
}

// y = sqrt x;  gx = g / (2 y)
Tensor sqrt(const Tensor& x) {
    const double* px = x.data();
    for (long i = 0; i < x.numel(); ++i)
        AD_CHECK(px[i] >= 0 || std::isnan(px[i]), "sqrt: expected x >= 0, got " << px[i] << " at index " << i);
    Tensor y = kern::map(x, [](double u) { return std::sqrt(u); });
    return record("sqrt", y, {x}, [](const Tensor& g, const Ctx& c) { return Grads{div(mul(g, 0.5), c.out)}; });
}

// y = |x|;  gx = g sign(x)  (sign(0) = 0: the subgradient of least norm)
Tensor abs(const Tensor& x) {
    Tensor y = kern::map(x, [](double u) { return std::fabs(u); });
    return record("abs", y, {x}, [](const Tensor& g, const Ctx& c) {
        Tensor sign = kern::map(c.in[0], [](double u) { return double((u > 0) - (u < 0)); });
        return Grads{mul(g, sign)};
    });
}

// y = tanh x;  gx = g (1 - y^2)
Tensor tanh(const Tensor& x) {
    Tensor y = Tensor::empty(x.shape());
    fast::tanh(x.data(), y.data(), x.numel());
    return record("tanh", y, {x}, [](const Tensor& g, const Ctx& c) { return Grads{tanh_backward(g, c.out)}; });
}

// z = g (1 - y^2);  gg_g = gz (1 - y^2),  gg_y = -2 gz g y
Tensor tanh_backward(const Tensor& g, const Tensor& y) {
    AD_CHECK(g.shape() == y.shape(), "tanh_backward: expected g and y of one shape, got " << g.shape() << " and "
                                                                                          << y.shape());
    Tensor z = kern::zip(g, y, g.shape(), [](double u, double v) { return u * (1.0 - v * v); });
    return record("tanh_backward", z, {g, y}, [](const Tensor& gz, const Ctx& c) {
        return Grads{c.needs[0] ? tanh_backward(gz, c.in[1]) : Tensor(),
                     c.needs[1] ? mul(mul(gz, c.in[0]), mul(c.in[1], -2.0)) : Tensor()};
    });
}

// y = 1 / (1 + e^-x);  gx = g y (1 - y)
Tensor sigmoid(const Tensor& x) {
    Tensor y = Tensor::empty(x.shape());
    fast::sigmoid(x.data(), y.data(), x.numel());
    return record("sigmoid", y, {x}, [](const Tensor& g, const Ctx& c) { return Grads{sigmoid_backward(g, c.out)}; });
}

// z = g y (1 - y);  gg_g = gz y (1 - y),  gg_y = gz g (1 - 2 y)
Tensor sigmoid_backward(const Tensor& g, const Tensor& y) {
    AD_CHECK(g.shape() == y.shape(), "sigmoid_backward: expected g and y of one shape, got "
                                         << g.shape() << " and " << y.shape());
    Tensor z = kern::zip(g, y, g.shape(), [](double u, double v) { return u * v * (1.0 - v); });
    return record("sigmoid_backward", z, {g, y}, [](const Tensor& gz, const Ctx& c) {
        return Grads{c.needs[0] ? sigmoid_backward(gz, c.in[1]) : Tensor(),
                     c.needs[1] ? mul(mul(gz, c.in[0]), add(mul(c.in[1], -2.0), 1.0)) : Tensor()};
    });
}

// y = max(x, 0);  gx = g [x > 0]  (subgradient 0 at 0). Written without branches: signs are
// random in a network, and a mispredicted branch per element cost more than the arithmetic.
Tensor relu(const Tensor& x) {
    Tensor y = kern::map(x, [](double u) { return u > 0 ? u : 0.0; });
    return record("relu", y, {x}, [](const Tensor& g, const Ctx& c) { return Grads{relu_backward(g, c.in[0])}; });
}

// z = g [x > 0];  gg_g = gz [x > 0],  gg_x = 0 (the mask is piecewise constant)
Tensor relu_backward(const Tensor& g, const Tensor& x) {
    AD_CHECK(g.shape() == x.shape(), "relu_backward: expected g and x of one shape, got " << g.shape() << " and "
                                                                                          << x.shape());
    Tensor z = kern::zip(g, x, g.shape(), [](double u, double v) { return v > 0 ? u : 0.0; });
    return record("relu_backward", z, {g, x}, [](const Tensor& gz, const Ctx& c) {
        return Grads{c.needs[0] ? relu_backward(gz, c.in[1]) : Tensor(), Tensor()};
    });
}

// y = x s, s = sigmoid(x);  gx = g s (1 + x (1 - s))
Tensor silu(const Tensor& x) {
    Tensor y = Tensor::empty(x.shape());
    fast::sigmoid(x.data(), y.data(), x.numel());
    const double* px = x.data();
    double* py = y.data();
    for (long i = 0; i < x.numel(); ++i) py[i] *= px[i];
    // gx = g silu'(x) as one fused op (autodiff/ops_silu.hpp; its composite twin is the test oracle)
    return record("silu", y, {x}, [](const Tensor& g, const Ctx& c) { return Grads{silu_backward(g, c.in[0])}; });
}

// y = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2;  gx = g (Phi(x) + x phi(x)),
// phi(x) = e^{-x^2/2} / sqrt(2 pi), by the op gelu_backward (autodiff/ops_gelu.hpp) so that it is
// differentiable again.
namespace {
constexpr double kInvSqrt2 = 0.70710678118654752440;
}  // namespace

Tensor gelu(const Tensor& x) {
    Tensor y = kern::map(x, [](double u) { return u * 0.5 * (1.0 + std::erf(u * kInvSqrt2)); });
    return record("gelu", y, {x}, [](const Tensor& g, const Ctx& c) { return Grads{gelu_backward(g, c.in[0])}; });
}

// y = log(1 + e^x) = max(x, 0) + log1p(e^{-|x|});  gx = g sigmoid(x)
Tensor softplus(const Tensor& x) {
    Tensor y = kern::map(x, [](double u) { return std::max(u, 0.0) + std::log1p(std::exp(-std::fabs(u))); });
    return record("softplus", y, {x}, [](const Tensor& g, const Ctx& c) { return Grads{mul(g, sigmoid(c.in[0]))}; });
}

// y = cond ? a : b;  ga = g [cond],  gb = g [!cond]
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
    AD_CHECK(!cond.requires_grad(), "where: expected a constant condition, got a tensor that requires grad");
    Shape s = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
    auto spread = [&s](const Tensor& t) { return t.shape() == s ? t : expand(t.detach(), s); };
    Tensor ce = spread(cond), ae = spread(a), be = spread(b);
    Tensor y = Tensor::empty(s);
    const double *pc = ce.data(), *pa = ae.data(), *pb = be.data();
    double* py = y.data();
    for (long i = 0; i < y.numel(); ++i) py[i] = pc[i] != 0 ? pa[i] : pb[i];
    Tensor cond_const = cond.detach();
    return record("where", y, {a, b}, [cond_const](const Tensor& g, const Ctx& c) {
        Tensor zero = Tensor::scalar(0.0);
        return Grads{c.needs[0] ? unbroadcast(where(cond_const, g, zero), c.in[0].shape()) : Tensor(),
                     c.needs[1] ? unbroadcast(where(cond_const, zero, g), c.in[1].shape()) : Tensor()};
    });
}

Tensor greater(const Tensor& a, const Tensor& b) {
    Shape s = broadcast_shapes(a.shape(), b.shape(), "greater");
    return kern::zip(a, b, s, [](double u, double v) { return u > v ? 1.0 : 0.0; });
}

Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator-(const Tensor& x) { return neg(x); }
Tensor operator+(const Tensor& a, double b) { return add(a, b); }
Tensor operator+(double a, const Tensor& b) { return add(b, a); }
Tensor operator-(const Tensor& a, double b) { return add(a, -b); }
Tensor operator-(double a, const Tensor& b) { return add(neg(b), a); }
Tensor operator*(const Tensor& a, double b) { return mul(a, b); }
Tensor operator*(double a, const Tensor& b) { return mul(b, a); }
Tensor operator/(const Tensor& a, double b) { return mul(a, 1.0 / b); }
Tensor operator/(double a, const Tensor& b) { return div(Tensor::scalar(a), b); }

}  // namespace ad
