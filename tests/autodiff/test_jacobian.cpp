// Jacobians: against hand-derived ones (x -> tanh(W x), a linear model's parameter layout), against
// central differences, Hessians as Jacobians of gradients, and the error messages.
#include <cmath>

#include "autodiff/jacobian.hpp"
#include "tests/helpers.hpp"

using ad::Tensor;
using testing::AllClose;

namespace {

// Central differences of f w.r.t. inputs[k]: shape f.shape + inputs[k].shape.
Tensor fd_jacobian(const ad::Function& f, const ad::Inputs& inputs, size_t k, double eps = 1e-6) {
    ad::NoGrad no_grad;
    ad::Inputs xs;
    for (const Tensor& x : inputs) xs.push_back(x.clone());
    const Tensor y = f(xs);
    const long m = y.numel(), n = xs[k].numel();
    ad::Shape shape = y.shape();
    shape.insert(shape.end(), xs[k].shape().begin(), xs[k].shape().end());
    Tensor J = Tensor::zeros(shape);
    for (long a = 0; a < n; ++a) {
        const double saved = xs[k].data()[a];
        xs[k].data()[a] = saved + eps;
        Tensor up = f(xs);
        xs[k].data()[a] = saved - eps;
        Tensor down = f(xs);
        xs[k].data()[a] = saved;
        for (long e = 0; e < m; ++e) J.data()[e * n + a] = (up[e] - down[e]) / (2 * eps);
    }
    return J;
}

// y = tanh(W x), W [2, 3], x [3] -> y [2]
Tensor tanh_layer(const ad::Inputs& in) {
    return ad::tanh(ad::reshape(ad::matmul(in[1], ad::reshape(in[0], {3, 1})), {2}));
}

}  // namespace

TEST_CASE("jacobian: values, finite differences, second order, errors", "[autodiff][linalg][jacobian]") {
    ad::Rng rng(31);
    Tensor x = rng.normal({3}).set_requires_grad(true);
    Tensor W = rng.normal({2, 3}).set_requires_grad(true);

    SECTION("hand-derived Jacobian of tanh(W x)") {
        // s[k] = 1 - tanh(W x)[k]^2;  dy[k]/dx[a] = s[k] W[k, a];  dy[k]/dW[c, a] = s[k] [k == c] x[a]
        std::vector<Tensor> J = ad::jacobian(tanh_layer, {x, W});
        REQUIRE(J.size() == 2);
        Tensor Jx = Tensor::zeros({2, 3}), JW = Tensor::zeros({2, 2, 3});
        for (long k = 0; k < 2; ++k) {
            double u = 0;
            for (long a = 0; a < 3; ++a) u += W[k * 3 + a] * x[a];
            const double s = 1 - std::tanh(u) * std::tanh(u);
            for (long a = 0; a < 3; ++a) {
                Jx.data()[k * 3 + a] = s * W[k * 3 + a];
                JW.data()[(k * 2 + k) * 3 + a] = s * x[a];
            }
        }
        // 1e-13: the same products summed in a different order (gemm vs the loop above)
        CHECK_THAT(J[0], AllClose(Jx, 1e-13, 1e-13));
        CHECK_THAT(J[1], AllClose(JW, 1e-13, 1e-13));
    }

    SECTION("finite differences; inputs without requires_grad get no Jacobian") {
        // y[i, j] = exp(a[i, j]) * sum_k a[j, k] b[k]: every output depends on several inputs.
        Tensor a = rng.normal({2, 2}, 0.0, 0.5).set_requires_grad(true);
        Tensor b = rng.normal({2}).set_requires_grad(true);
        Tensor c = rng.normal({2});  // a constant input
        ad::Function f = [](const ad::Inputs& in) {
            Tensor ab = ad::reshape(ad::matmul(in[0], ad::reshape(in[1], {2, 1})), {1, 2});
            return ad::add(ad::mul(ad::exp(in[0]), ab), in[2]);
        };
        std::vector<Tensor> J = ad::jacobian(f, {a, b, c});
        REQUIRE(J.size() == 3);
        CHECK(J[0].shape() == ad::Shape{2, 2, 2, 2});
        CHECK(J[1].shape() == ad::Shape{2, 2, 2});
        CHECK_FALSE(J[2].defined());
        // 1e-8: central differences with eps 1e-6 on O(1) values: truncation ~1e-12, rounding ~1e-10
        CHECK_THAT(J[0], AllClose(fd_jacobian(f, {a, b, c}, 0), 1e-8, 1e-8));
        CHECK_THAT(J[1], AllClose(fd_jacobian(f, {a, b, c}, 1), 1e-8, 1e-8));
        // A scalar output: J has the input's shape and equals the gradient.
        ad::Function s = [](const ad::Inputs& in) { return ad::sum(ad::square(in[0])); };
        CHECK_THAT(ad::jacobian(s, {a})[0], AllClose(ad::mul(a, 2.0)));
        // An output that does not depend on the inputs: zeros.
        ad::Function constant = [](const ad::Inputs&) { return Tensor::ones({2}); };
        CHECK_THAT(ad::jacobian(constant, {a})[0], AllClose(Tensor::zeros({2, 2, 2})));
    }

    SECTION("CreateGraph::yes: the Hessian as the Jacobian of a gradient, and gradcheck of J") {
        // f(x) = sum x^3 + x[0] x[1];  H = diag(6 x) + (e0 e1^T + e1 e0^T)
        ad::Function gradient = [](const ad::Inputs& in) {
            Tensor f =
                ad::add(ad::sum(ad::pow(in[0], 3)), ad::mul(ad::slice(in[0], 0, 0, 1), ad::slice(in[0], 0, 1, 2)));
            return ad::grad(ad::sum(f), {in[0]}, ad::CreateGraph::yes)[0];
        };
        Tensor H = ad::jacobian(gradient, {x})[0];
        Tensor expected = ad::diag(ad::mul(x.detach(), 6.0));
        expected.data()[1] += 1;
        expected.data()[3] += 1;
        CHECK_THAT(H, AllClose(expected, 1e-14, 1e-14));
        // J built with a graph differentiates again: d J[tanh(W x)] / d(x, W) against central differences.
        ad::Function jx = [](const ad::Inputs& in) { return ad::jacobian(tanh_layer, in, ad::CreateGraph::yes)[0]; };
        CHECK(ad::gradcheck(jx, {x, W}));
        // Without a graph the Jacobian is a constant.
        CHECK_FALSE(ad::jacobian(tanh_layer, {x, W})[0].requires_grad());
    }

    SECTION("errors") {
        REQUIRE_THROWS_WITH(ad::jacobian(tanh_layer, {x.detach(), W.detach()}),
                            Catch::Contains("jacobian: expected at least one input that requires grad, got none"));
    }
}

TEST_CASE("per_sample_jacobian: values, finite differences, errors", "[autodiff][linalg][per_sample_jacobian]") {
    ad::Rng rng(32);

    SECTION("layout on a linear model, by hand") {
        // y[0, k] = sum_d W[k, d] x[d] + b[k]:  dy[k]/dW[c, d] = [k == c] x[d],  dy[k]/db[c] = [k == c]
        Tensor W = rng.normal({2, 3}).set_requires_grad(true);
        Tensor b = rng.normal({2}).set_requires_grad(true);
        Tensor x = rng.normal({4, 3});
        Tensor J = ad::per_sample_jacobian([&](const Tensor& xi) { return ad::linear(xi, W, b); }, {W, b}, x);
        REQUIRE(J.shape() == ad::Shape{4, 2, 8});
        Tensor expected = Tensor::zeros({4, 2, 8});
        for (long i = 0; i < 4; ++i)
            for (long k = 0; k < 2; ++k) {
                double* row = expected.data() + (i * 2 + k) * 8;
                for (long d = 0; d < 3; ++d) row[k * 3 + d] = x[i * 3 + d];  // W block: offset 0, row-major
                row[6 + k] = 1.0;                                            // b block: offset 6
            }
        CHECK_THAT(J, AllClose(expected));
    }

    SECTION("two-layer tanh network against finite differences and against jacobian()") {
        const long n = 3, d = 2, h = 4, o = 2;
        Tensor W1 = rng.normal({h, d}).set_requires_grad(true);
        Tensor b1 = rng.normal({h}, 0.0, 0.1).set_requires_grad(true);
        Tensor W2 = rng.normal({o, h}).set_requires_grad(true);
        Tensor b2 = rng.normal({o}, 0.0, 0.1).set_requires_grad(true);
        std::vector<Tensor> params{W1, b1, W2, b2};
        auto model = [&](const Tensor& x) { return ad::linear(ad::tanh(ad::linear(x, W1, b1)), W2, b2); };
        Tensor x = rng.normal({n, d});
        Tensor J = ad::per_sample_jacobian(model, params, x);
        const long P = h * d + h + o * h + o;
        REQUIRE(J.shape() == ad::Shape{n, o, P});

        // Central differences on the whole batch: column p of J is d model(x) / d theta[p].
        const double eps = 1e-6;
        Tensor fd = Tensor::zeros({n, o, P});
        long p = 0;
        for (Tensor& q : params)
            for (long a = 0; a < q.numel(); ++a, ++p) {
                ad::NoGrad no_grad;
                const double saved = q.data()[a];
                q.data()[a] = saved + eps;
                Tensor up = model(x);
                q.data()[a] = saved - eps;
                Tensor down = model(x);
                q.data()[a] = saved;
                for (long e = 0; e < n * o; ++e) fd.data()[e * P + p] = (up[e] - down[e]) / (2 * eps);
            }
        // 1e-8: central differences with eps 1e-6 on O(1) values: truncation ~1e-12, rounding ~1e-10
        CHECK_THAT(J, AllClose(fd, 1e-8, 1e-8));

        // Samples are independent, so the batch Jacobian w.r.t. W1 is per-sample: its [i, k] block is
        // J[i, k, 0 : h d]. 1e-13: one pass over the batch vs one per sample (different gemm blocking).
        auto batch = [&](const ad::Inputs& in) { return ad::linear(ad::tanh(ad::linear(x, in[0], b1)), W2, b2); };
        Tensor JW1 = ad::jacobian(batch, {W1})[0];  // [n, o, h, d]
        for (long i = 0; i < n; ++i)
            CHECK_THAT(
                ad::reshape(ad::slice(ad::slice(JW1, 0, i, i + 1), 1, 0, o), {o, h * d}),
                AllClose(ad::reshape(ad::slice(ad::slice(J, 0, i, i + 1), 2, 0, h * d), {o, h * d}), 1e-13, 1e-13));
    }

    SECTION("errors") {
        Tensor W = rng.normal({2, 3}).set_requires_grad(true);
        Tensor x = rng.normal({4, 3});
        auto flat = [&](const Tensor& xi) { return ad::reshape(ad::linear(xi, W, Tensor()), {2}); };
        REQUIRE_THROWS_WITH(
            ad::per_sample_jacobian(flat, {W}, x),
            Catch::Contains("per_sample_jacobian: expected the model to map one sample [1, 3] to [1, o], got [2]"));
        auto model = [&](const Tensor& xi) { return ad::linear(xi, W, Tensor()); };
        REQUIRE_THROWS_WITH(
            ad::per_sample_jacobian(model, {W.detach()}, x),
            Catch::Contains(
                "per_sample_jacobian: expected parameters that require grad, got parameter 0 of shape [2, 3]"));
        REQUIRE_THROWS_WITH(
            ad::per_sample_jacobian(model, {W}, Tensor::zeros({0, 3})),
            Catch::Contains("per_sample_jacobian: expected a batch x [n, ...] with n >= 1, got [0, 3]"));
    }
}
