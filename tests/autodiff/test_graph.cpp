// The reverse-mode engine (autodiff/graph.cpp): accumulation over shared subexpressions, zeros for
// unused inputs, NoGrad, backward() accumulating into .grad(), deep graphs, create_graph for
// higher derivatives, and the engine's own error messages.
#include <cmath>

#include "tests/helpers.hpp"

using ad::Tensor;
using testing::AllClose;

namespace {
Tensor leaf(const Tensor& t) { return t.detach().set_requires_grad(true); }
}  // namespace

TEST_CASE("graph: gradient of a shared subexpression accumulates", "[autodiff][graph]") {
    // s = 2 x, y = s^2 + s:  dy/ds = 2 s + 1,  dy/dx = 2 (2 s + 1);  at x = 3: s = 6, 13, 26
    Tensor x = leaf(ad::tensor({3.0}));
    Tensor s = ad::mul(x, 2.0);
    Tensor y = ad::sum(ad::add(ad::mul(s, s), s));
    std::vector<Tensor> g = ad::grad(y, {x, s}, ad::CreateGraph::no);
    CHECK_THAT(g[0], AllClose(ad::tensor({26.0})));
    CHECK_THAT(g[1], AllClose(ad::tensor({13.0})));  // gradient w.r.t. an intermediate
    // x reaches y along two paths: d(e^x x)/dx = e^x (1 + x); at x = 0, 1, -1: 1, 2 e, 0
    Tensor z = leaf(ad::tensor({0.0, 1.0, -1.0}));
    Tensor w = ad::sum(ad::mul(ad::exp(z), z));
    CHECK_THAT(ad::grad(w, {z}, ad::CreateGraph::no)[0], AllClose(ad::tensor({1.0, 2 * 2.718281828459045, 0.0})));
}

TEST_CASE("graph: gradients with respect to unused inputs are zeros", "[autodiff][graph]") {
    Tensor x = leaf(ad::tensor({1.0, 2.0}));
    Tensor unused = leaf(ad::tensor({2, 3}, {1, 2, 3, 4, 5, 6}));
    Tensor elsewhere = leaf(ad::tensor({4.0}));
    Tensor other = ad::mul(elsewhere, 2.0);  // a graph that does not lead to y
    Tensor y = ad::sum(ad::square(x));
    std::vector<Tensor> g = ad::grad(y, {x, unused, elsewhere}, ad::CreateGraph::no);
    CHECK_THAT(g[0], AllClose(ad::tensor({2.0, 4.0})));
    CHECK_THAT(g[1], AllClose(ad::Tensor::zeros({2, 3})));
    CHECK_THAT(g[2], AllClose(ad::Tensor::zeros({1})));
    CHECK(other.requires_grad());
}

TEST_CASE("graph: only paths to requested targets are walked", "[autodiff][graph]") {
    // y = spy(a, b) + c * w with gradients wanted for a only: spy sees needs = {1, 0} and c * w's
    // backward (a branch that leads to no target) never runs.
    Tensor a = leaf(ad::tensor({1.0})), b = ad::tensor({2.0}), c = leaf(ad::tensor({3.0}));
    std::vector<char> seen_needs;
    int spy_calls = 0, other_calls = 0;
    Tensor spy = ad::record("spy", ad::mul(a.detach(), b), {a, b}, [&](const Tensor& g, const ad::Ctx& ctx) {
        ++spy_calls;
        seen_needs = ctx.needs;
        return ad::Grads{ad::mul(g, ctx.in[1]), Tensor()};
    });
    Tensor other = ad::record("other", ad::mul(c.detach(), 4.0), {c}, [&](const Tensor& g, const ad::Ctx&) {
        ++other_calls;
        return ad::Grads{ad::mul(g, 4.0)};
    });
    std::vector<Tensor> g = ad::grad(ad::sum(ad::add(spy, other)), {a}, ad::CreateGraph::no);
    CHECK_THAT(g[0], AllClose(ad::tensor({2.0})));
    CHECK(spy_calls == 1);
    CHECK(other_calls == 0);
    CHECK(seen_needs == std::vector<char>{1, 0});
}

TEST_CASE("graph: NoGrad records nothing", "[autodiff][graph]") {
    Tensor x = leaf(ad::tensor({2.0}));
    REQUIRE(ad::grad_enabled());
    {
        ad::NoGrad no_grad;
        CHECK_FALSE(ad::grad_enabled());
        Tensor y = ad::exp(ad::mul(x, x));
        CHECK_FALSE(y.requires_grad());
        CHECK(y.is_leaf());
        {
            ad::GradMode on(true);  // nested guards restore the previous mode
            CHECK(ad::mul(x, x).requires_grad());
        }
        CHECK_FALSE(ad::grad_enabled());
        CHECK(ad::grad(ad::sum(y), {x}, ad::CreateGraph::no)[0].item() == 0.0);  // no path to x
    }
    CHECK(ad::grad_enabled());
    Tensor y = ad::mul(x, x);
    CHECK(y.requires_grad());
    CHECK_FALSE(y.is_leaf());
}

TEST_CASE("graph: backward accumulates into grad across calls", "[autodiff][graph]") {
    Tensor x = leaf(ad::tensor({1.0, 2.0}));
    Tensor w = leaf(ad::tensor({3.0}));
    CHECK_FALSE(x.grad().defined());
    Tensor y = ad::sum(ad::mul(ad::square(x), w));  // dy/dx = 2 x w = [6, 12], dy/dw = 5
    ad::backward(y);
    CHECK_THAT(x.grad(), AllClose(ad::tensor({6.0, 12.0})));
    CHECK_THAT(w.grad(), AllClose(ad::tensor({5.0})));
    CHECK_FALSE(x.grad().requires_grad());  // first-order backward stores plain values
    ad::backward(y);
    CHECK_THAT(x.grad(), AllClose(ad::tensor({12.0, 24.0})));
    CHECK_THAT(w.grad(), AllClose(ad::tensor({10.0})));
    // with explicit targets only those leaves accumulate
    x.zero_grad();
    w.zero_grad();
    ad::backward(y, {x});
    CHECK_THAT(x.grad(), AllClose(ad::tensor({6.0, 12.0})));
    CHECK_FALSE(w.grad().defined());
    // an explicit grad_output scales the result
    ad::backward(ad::mul(x, 2.0), {x}, ad::tensor({1.0, -1.0}));
    CHECK_THAT(x.grad(), AllClose(ad::tensor({8.0, 10.0})));
}

TEST_CASE("graph: a chain of 100000 ops does not overflow the stack", "[autodiff][graph]") {
    // y = x 1.00001^100000: sorting, walking and freeing the graph must all be iterative
    const int n = 100000;
    Tensor x = leaf(ad::tensor({1.0}));
    {
        Tensor y = x;
        for (int i = 0; i < n; ++i) y = ad::mul(y, 1.00001);
        std::vector<Tensor> g = ad::grad(ad::sum(y), {x}, ad::CreateGraph::no);
        // 1e5 roundings of relative size 1e-16 each: 1e-9 is a wide margin
        CHECK(g[0].item() == Approx(std::pow(1.00001, n)).epsilon(1e-9));
        ad::backward(ad::sum(y));
        CHECK(x.grad().item() == Approx(std::pow(1.00001, n)).epsilon(1e-9));
    }  // the graph is freed here
    CHECK(x.is_leaf());
}

TEST_CASE("graph: create_graph gives a differentiable gradient", "[autodiff][graph]") {
    // y = x^3: dy/dx = 3 x^2, d2y/dx2 = 6 x, d3y/dx3 = 6;  at x = 1.5: 6.75, 9, 6
    Tensor x = leaf(ad::tensor({1.5}));
    Tensor y = ad::sum(ad::mul(ad::mul(x, x), x));
    Tensor d1 = ad::grad(y, {x}, ad::CreateGraph::yes)[0];
    CHECK(d1.requires_grad());
    CHECK(d1.item() == Approx(6.75).epsilon(1e-15));
    Tensor d2 = ad::grad(ad::sum(d1), {x}, ad::CreateGraph::yes)[0];
    CHECK(d2.item() == Approx(9.0).epsilon(1e-15));
    Tensor d3 = ad::grad(ad::sum(d2), {x}, ad::CreateGraph::no)[0];
    CHECK(d3.item() == Approx(6.0).epsilon(1e-15));
    CHECK_FALSE(d3.requires_grad());
    // without create_graph the gradient is a plain value
    CHECK_FALSE(ad::grad(y, {x}, ad::CreateGraph::no)[0].requires_grad());
    // backward with create_graph keeps .grad() differentiable (as force training needs)
    ad::backward(y, {x}, Tensor(), ad::CreateGraph::yes);
    Tensor gx = x.grad();
    CHECK(gx.requires_grad());
    x.zero_grad();
    CHECK(ad::grad(ad::sum(gx), {x}, ad::CreateGraph::no)[0].item() == Approx(9.0).epsilon(1e-15));
}

TEST_CASE("graph: errors name grad_outputs shapes and inputs", "[autodiff][graph]") {
    Tensor x = leaf(ad::tensor({1.0, 2.0}));
    Tensor y = ad::mul(x, 2.0);  // [2]
    REQUIRE_THROWS_WITH(ad::grad({y}, {x}, {ad::Tensor::ones({3})}),
                        Catch::Contains("grad: expected grad_outputs[0] of shape [2], got [3]"));
    REQUIRE_THROWS_WITH(ad::grad({y}, {x}),
                        Catch::Contains("grad: expected grad_outputs for an output of shape [2]; only one-element outputs default to 1"));
    REQUIRE_THROWS_WITH(ad::grad(ad::sum(y), {ad::tensor({1.0})}, ad::CreateGraph::no),
                        Catch::Contains("grad: expected inputs that require grad"));
    REQUIRE_THROWS_WITH(ad::backward(y, {x}, ad::tensor({2, 1}, {1, 1})),
                        Catch::Contains("grad: expected grad_outputs[0] of shape [2], got [2, 1]"));
}

TEST_CASE("graph: the engine checks each gradient's shape and names the op", "[autodiff][graph]") {
    Tensor x = leaf(ad::tensor({1.0, 2.0}));
    Tensor bad_shape = ad::record("bad_op", ad::tensor({3.0, 4.0}), {x}, [](const Tensor&, const ad::Ctx&) {
        return ad::Grads{ad::Tensor::zeros({3})};
    });
    REQUIRE_THROWS_WITH(ad::grad(ad::sum(bad_shape), {x}, ad::CreateGraph::no),
                        Catch::Contains("grad: op 'bad_op' produced a gradient of shape [3] for input 0 of shape [2]"));
    Tensor bad_count = ad::record("bad_count", ad::tensor({3.0, 4.0}), {x}, [](const Tensor& g, const ad::Ctx&) {
        return ad::Grads{g, g};
    });
    REQUIRE_THROWS_WITH(ad::grad(ad::sum(bad_count), {x}, ad::CreateGraph::no),
                        Catch::Contains("grad: op 'bad_count' returned 2 gradients for 1 inputs"));
}

TEST_CASE("graph: products add into a running gradient sum (Ctx::into) as a fresh product and an add would",
          "[autodiff][graph]") {
    // W is used by a linear layer and a matmul, twice each, and through a force-like second
    // derivative: with recording off the later products add into the running sum (beta = 1);
    // with recording on every gradient is its own tensor. Same values either way.
    ad::Rng rng(31);
    Tensor W = leaf(rng.normal({4, 6})), x = leaf(rng.normal({5, 6})), v = rng.normal({5, 6});
    auto loss = [&]() {
        Tensor h = ad::tanh(ad::linear(x, W, Tensor()));                       // [5, 4]
        Tensor gx = ad::grad({ad::sum(h * h)}, {x}, {}, ad::CreateGraph::yes)[0];  // g W inside
        Tensor y = ad::matmul(ad::matmul(h, W), ad::transpose(W));            // [5, 4]
        return ad::sum(gx * v) + ad::sum(y * y) + ad::sum(ad::linear(x, W, Tensor()));
    };
    Tensor l1 = loss(), l2 = loss();
    Tensor off = ad::grad(l1, {W, x}, ad::CreateGraph::no)[0];
    Tensor on = ad::grad(l2, {W, x}, ad::CreateGraph::yes)[0];
    CHECK_THAT(off, AllClose(on.detach(), 1e-12));
    auto f = [&](const ad::Inputs& in) {
        Tensor h = ad::tanh(ad::linear(x, in[0], Tensor()));
        return ad::matmul(ad::matmul(h, in[0]), ad::transpose(in[0])) + ad::linear(x, in[0], Tensor());
    };
    CHECK(ad::gradcheck(f, {W}));
}
