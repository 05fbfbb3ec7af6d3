// Elementwise ops (autodiff/ops_elementwise.cpp): per op, hand values on tiny inputs, gradcheck,
// gradgradcheck and the error message. Hand values were worked out on paper or with Python's math
// module (e = 2.718281828459045, ln 2 = 0.6931471805599453, ln 3 = 1.0986122886681098).
// Inputs of ops with kinks (abs, relu) stay at least 0.2 away from the kink, far beyond eps = 1e-6.
#include "tests/helpers.hpp"

using ad::Tensor;
using testing::AllClose;

namespace {
constexpr double kE = 2.718281828459045;
constexpr double kLn2 = 0.6931471805599453;
constexpr double kLn3 = 1.0986122886681098;

Tensor leaf(const Tensor& t) { return t.detach().set_requires_grad(true); }
}  // namespace

TEST_CASE("add: values, gradients, second gradients, errors", "[autodiff][elementwise][add]") {
    ad::Rng rng(1);
    Tensor a = leaf(rng.normal({3, 4}));
    Tensor b = leaf(rng.normal({4}));  // broadcast over rows
    auto f = [](const ad::Inputs& x) { return ad::add(x[0], x[1]); };
    CHECK_THAT(ad::add(ad::tensor({2, 2}, {1, 2, 3, 4}), ad::tensor({2}, {10, 20})),
               AllClose(ad::tensor({2, 2}, {11, 22, 13, 24})));
    // both sides broadcast: [2, 1] + [3] -> [2, 3]
    CHECK_THAT(ad::add(ad::tensor({2, 1}, {1, 2}), ad::tensor({10, 20, 30})),
               AllClose(ad::tensor({2, 3}, {11, 21, 31, 12, 22, 32})));
    CHECK(ad::gradcheck(f, {a, b}));
    CHECK(ad::gradgradcheck(f, {a, b}));
    CHECK(ad::gradcheck(f, {leaf(rng.normal({2, 1})), leaf(rng.normal({3}))}));
    REQUIRE_THROWS_WITH(ad::add(a, rng.normal({2, 4})), Catch::Contains("add: cannot broadcast [3, 4] with [2, 4]"));
}

TEST_CASE("sub: values, gradients, second gradients, errors", "[autodiff][elementwise][sub]") {
    ad::Rng rng(2);
    Tensor a = leaf(rng.normal({3, 1}));
    Tensor b = leaf(rng.normal({2}));
    auto f = [](const ad::Inputs& x) { return ad::sub(x[0], x[1]); };
    CHECK_THAT(ad::sub(ad::tensor({2, 2}, {5, 7, 9, 11}), ad::tensor({2}, {1, 2})),
               AllClose(ad::tensor({2, 2}, {4, 5, 8, 9})));
    CHECK_THAT(ad::sub(ad::tensor({3}), ad::tensor({2, 1}, {1, 2})), AllClose(ad::tensor({2, 1}, {2, 1})));
    CHECK(ad::gradcheck(f, {a, b}));
    CHECK(ad::gradgradcheck(f, {a, b}));
    REQUIRE_THROWS_WITH(ad::sub(rng.normal({3}), rng.normal({4})), Catch::Contains("sub: cannot broadcast [3] with [4]"));
}

TEST_CASE("mul: values, gradients, second gradients, errors", "[autodiff][elementwise][mul]") {
    ad::Rng rng(7);
    Tensor a = leaf(rng.normal({3, 4}));
    Tensor b = leaf(rng.normal({1, 4}));
    auto f = [](const ad::Inputs& x) { return ad::mul(x[0], x[1]); };
    CHECK_THAT(ad::mul(ad::tensor({1, 2}, {1, 2}), ad::tensor({1, 2}, {3, 4})), AllClose(ad::tensor({1, 2}, {3, 8})));
    CHECK_THAT(ad::mul(ad::tensor({2, 1}, {2, -1}), ad::tensor({3, 4})), AllClose(ad::tensor({2, 2}, {6, 8, -3, -4})));
    CHECK(ad::gradcheck(f, {a, b}));
    CHECK(ad::gradgradcheck(f, {a, b}));
    CHECK(ad::gradgradcheck(f, {a.detach(), b}));  // a constant: the backward skips its gradient
    // x * x: the same tensor on both sides gets both contributions (2 x)
    auto g = [](const ad::Inputs& x) { return ad::mul(x[0], x[0]); };
    CHECK(ad::gradcheck(g, {a}));
    CHECK(ad::gradgradcheck(g, {a}));
    REQUIRE_THROWS_WITH(ad::mul(a, rng.normal({2, 4})), Catch::Contains("mul: cannot broadcast [3, 4] with [2, 4]"));
}

TEST_CASE("div: values, gradients, second gradients, errors", "[autodiff][elementwise][div]") {
    ad::Rng rng(4);
    Tensor a = leaf(rng.normal({2, 4}));
    Tensor b = leaf(ad::tensor({1.5, -0.8, 2.0, -1.2}));  // |b| >= 0.8: 1/b and 1/b^2 stay tame
    auto f = [](const ad::Inputs& x) { return ad::div(x[0], x[1]); };
    CHECK_THAT(ad::div(ad::tensor({2, 2}, {1, 2, 3, 4}), ad::tensor({2, 4})),
               AllClose(ad::tensor({2, 2}, {0.5, 0.5, 1.5, 1.0})));
    CHECK_THAT(ad::div(ad::tensor({1.0}), ad::tensor({4.0, -8.0})), AllClose(ad::tensor({0.25, -0.125})));
    CHECK(ad::gradcheck(f, {a, b}));
    CHECK(ad::gradgradcheck(f, {a, b}));
    CHECK(ad::gradgradcheck(f, {a, b.detach()}));  // b constant: the backward skips its gradient
    REQUIRE_THROWS_WITH(ad::div(a, rng.normal({3})), Catch::Contains("div: cannot broadcast [2, 4] with [3]"));
}

// No error path: any tensor plus any number is defined.
TEST_CASE("add_scalar: values, gradients, second gradients, errors", "[autodiff][elementwise][add_scalar]") {
    ad::Rng rng(5);
    Tensor x = leaf(rng.normal({2, 3}));
    auto f = [](const ad::Inputs& in) { return ad::add(in[0], 0.5); };
    Tensor v = ad::tensor({1, 2});
    CHECK_THAT(ad::add(v, 0.5), AllClose(ad::tensor({1.5, 2.5})));
    CHECK_THAT(v + 1.0, AllClose(ad::tensor({2, 3})));
    CHECK_THAT(1.0 + v, AllClose(ad::tensor({2, 3})));
    CHECK_THAT(v - 1.0, AllClose(ad::tensor({0, 1})));
    CHECK_THAT(1.0 - v, AllClose(ad::tensor({0, -1})));
    CHECK(ad::gradcheck(f, {x}));
    CHECK(ad::gradgradcheck(f, {x}));
}

// No error path: any tensor times any number is defined.
TEST_CASE("mul_scalar: values, gradients, second gradients, errors", "[autodiff][elementwise][mul_scalar]") {
    ad::Rng rng(6);
    Tensor x = leaf(rng.normal({2, 3}));
    auto f = [](const ad::Inputs& in) { return ad::mul(in[0], -3.0); };
    Tensor v = ad::tensor({1, -2});
    CHECK_THAT(ad::mul(v, 3.0), AllClose(ad::tensor({3, -6})));
    CHECK_THAT(v * 2.0, AllClose(ad::tensor({2, -4})));
    CHECK_THAT(2.0 * v, AllClose(ad::tensor({2, -4})));
    CHECK_THAT(v / 4.0, AllClose(ad::tensor({0.25, -0.5})));
    CHECK_THAT(2.0 / v, AllClose(ad::tensor({2, -1})));
    CHECK(ad::gradcheck(f, {x}));
    CHECK(ad::gradgradcheck(f, {x}));
}

// No error path.
TEST_CASE("neg: values, gradients, second gradients, errors", "[autodiff][elementwise][neg]") {
    ad::Rng rng(8);
    Tensor x = leaf(rng.normal({3, 2}));
    auto f = [](const ad::Inputs& in) { return ad::neg(in[0]); };
    CHECK_THAT(ad::neg(ad::tensor({1.5, -2, 0})), AllClose(ad::tensor({-1.5, 2, 0})));
    CHECK_THAT(-ad::tensor({3}), AllClose(ad::tensor({-3})));
    CHECK(ad::gradcheck(f, {x}));
    CHECK(ad::gradgradcheck(f, {x}));
}

TEST_CASE("pow: values, gradients, second gradients, errors", "[autodiff][elementwise][pow]") {
    ad::Rng rng(9);
    CHECK_THAT(ad::pow(ad::tensor({4, 9, 0.25}), 0.5), AllClose(ad::tensor({2, 3, 0.5})));
    CHECK_THAT(ad::pow(ad::tensor({-2, 3}), 3.0), AllClose(ad::tensor({-8, 27})));  // whole p: x < 0 is fine
    CHECK_THAT(ad::pow(ad::tensor({2, -4}), -1.0), AllClose(ad::tensor({0.5, -0.25})));
    CHECK_THAT(ad::pow(ad::tensor({-2, 5}), 0.0), AllClose(ad::tensor({1, 1})));
    // every branch of the backward (p = 0, 1, 2, general); non-integer powers on x in [0.5, 2]
    Tensor any = leaf(rng.normal({2, 3}));
    Tensor pos = leaf(rng.uniform({2, 3}, 0.5, 2.0));
    for (double p : {0.0, 1.0, 2.0, 3.0, -2.0}) {
        auto f = [p](const ad::Inputs& in) { return ad::pow(in[0], p); };
        Tensor x = p < 0 ? pos : any;
        CHECK(ad::gradcheck(f, {x}));
        CHECK(ad::gradgradcheck(f, {x}));
    }
    for (double p : {0.5, -1.5, 2.7}) {
        auto f = [p](const ad::Inputs& in) { return ad::pow(in[0], p); };
        CHECK(ad::gradcheck(f, {pos}));
        CHECK(ad::gradgradcheck(f, {pos}));
    }
    REQUIRE_THROWS_WITH(ad::pow(ad::tensor({1.0, -1.0}), 0.5),
                        Catch::Contains("pow: expected non-negative x for the non-integer power 0.5, got -1"));
}

// No error path.
TEST_CASE("square: values, gradients, second gradients, errors", "[autodiff][elementwise][square]") {
    ad::Rng rng(10);
    Tensor x = leaf(rng.normal({2, 3}));
    auto f = [](const ad::Inputs& in) { return ad::square(in[0]); };
    CHECK_THAT(ad::square(ad::tensor({-3, 0.5, 0})), AllClose(ad::tensor({9, 0.25, 0})));
    CHECK(ad::gradcheck(f, {x}));
    CHECK(ad::gradgradcheck(f, {x}));
}

// No error path: exp is defined everywhere (overflow gives inf, as in IEEE arithmetic).
TEST_CASE("exp: values, gradients, second gradients, errors", "[autodiff][elementwise][exp]") {
    ad::Rng rng(11);
    Tensor x = leaf(rng.normal({2, 3}));
    auto f = [](const ad::Inputs& in) { return ad::exp(in[0]); };
    CHECK_THAT(ad::exp(ad::tensor({0, 1, -1, kLn2})), AllClose(ad::tensor({1, kE, 0.36787944117144233, 2})));
    CHECK(ad::gradcheck(f, {x}));
    CHECK(ad::gradgradcheck(f, {x}));
}

TEST_CASE("log: values, gradients, second gradients, errors", "[autodiff][elementwise][log]") {
    ad::Rng rng(12);
    Tensor x = leaf(rng.uniform({2, 3}, 0.5, 2.0));
    auto f = [](const ad::Inputs& in) { return ad::log(in[0]); };
    CHECK_THAT(ad::log(ad::tensor({1, kE, 0.5, 4})), AllClose(ad::tensor({0, 1, -kLn2, 2 * kLn2})));
    CHECK(ad::gradcheck(f, {x}));
    CHECK(ad::gradgradcheck(f, {x}));
    REQUIRE_THROWS_WITH(ad::log(ad::tensor({1.0, -2.0})), Catch::Contains("log: expected x >= 0, got -2 at index 1"));
}

TEST_CASE("sqrt: values, gradients, second gradients, errors", "[autodiff][elementwise][sqrt]") {
    ad::Rng rng(13);
    Tensor x = leaf(rng.uniform({2, 3}, 0.5, 2.0));
    auto f = [](const ad::Inputs& in) { return ad::sqrt(in[0]); };
    CHECK_THAT(ad::sqrt(ad::tensor({4, 0.25, 0, 2})), AllClose(ad::tensor({2, 0.5, 0, 1.4142135623730951})));
    CHECK(ad::gradcheck(f, {x}));
    CHECK(ad::gradgradcheck(f, {x}));
    REQUIRE_THROWS_WITH(ad::sqrt(ad::tensor({-0.5})), Catch::Contains("sqrt: expected x >= 0, got -0.5 at index 0"));
}

// No error path. The subgradient at 0 is 0.
TEST_CASE("abs: values, gradients, second gradients, errors", "[autodiff][elementwise][abs]") {
    Tensor x = leaf(ad::tensor({2, 3}, {-1.3, 0.7, -0.4, 2.1, 0.25, -1.8}));  // >= 0.25 from the kink
    auto f = [](const ad::Inputs& in) { return ad::abs(in[0]); };
    CHECK_THAT(ad::abs(ad::tensor({-2, 3, 0})), AllClose(ad::tensor({2, 3, 0})));
    CHECK(ad::gradcheck(f, {x}));
    CHECK(ad::gradgradcheck(f, {x}));
    Tensor at = leaf(ad::tensor({-1, 0, 2}));
    CHECK_THAT(ad::grad(ad::sum(ad::abs(at)), {at}, ad::CreateGraph::no)[0], AllClose(ad::tensor({-1, 0, 1})));
}

// No error path.
TEST_CASE("tanh: values, gradients, second gradients, errors", "[autodiff][elementwise][tanh]") {
    ad::Rng rng(3);
    Tensor x = leaf(rng.normal({2, 3}));
    auto f = [](const ad::Inputs& in) { return ad::tanh(in[0]); };
    CHECK_THAT(ad::tanh(ad::tensor({0.0, 1.0, -0.5, 400.0})),
               AllClose(ad::tensor({0.0, 0.7615941559557649, -0.46211715726000974, 1.0})));
    CHECK(ad::gradcheck(f, {x}));
    CHECK(ad::gradgradcheck(f, {x}));
}

TEST_CASE("tanh_backward: values, gradients, second gradients, errors", "[autodiff][elementwise][tanh_backward]") {
    ad::Rng rng(14);
    Tensor g = leaf(rng.normal({2, 3}));
    Tensor y = leaf(rng.uniform({2, 3}, -0.9, 0.9));  // a tanh output lies in (-1, 1)
    auto f = [](const ad::Inputs& in) { return ad::tanh_backward(in[0], in[1]); };
    // g (1 - y^2): 2 (1 - 0.25) = 1.5, 3 (1 - 0.01) = 2.97
    CHECK_THAT(ad::tanh_backward(ad::tensor({2, 3}), ad::tensor({0.5, -0.1})), AllClose(ad::tensor({1.5, 2.97})));
    CHECK(ad::gradcheck(f, {g, y}));
    CHECK(ad::gradgradcheck(f, {g, y}));
    REQUIRE_THROWS_WITH(ad::tanh_backward(g, rng.normal({3, 2})),
                        Catch::Contains("tanh_backward: expected g and y of one shape, got [2, 3] and [3, 2]"));
}

// No error path. Large |x| must not overflow (the kernel splits by sign).
TEST_CASE("sigmoid: values, gradients, second gradients, errors", "[autodiff][elementwise][sigmoid]") {
    ad::Rng rng(15);
    Tensor x = leaf(rng.normal({2, 3}));
    auto f = [](const ad::Inputs& in) { return ad::sigmoid(in[0]); };
    // sigmoid(ln 3) = 1 / (1 + 1/3) = 3/4
    CHECK_THAT(ad::sigmoid(ad::tensor({0, kLn3, -kLn3, 1000, -1000})), AllClose(ad::tensor({0.5, 0.75, 0.25, 1, 0})));
    CHECK(ad::gradcheck(f, {x}));
    CHECK(ad::gradgradcheck(f, {x}));
}

TEST_CASE("sigmoid_backward: values, gradients, second gradients, errors",
          "[autodiff][elementwise][sigmoid_backward]") {
    ad::Rng rng(16);
    Tensor g = leaf(rng.normal({2, 3}));
    Tensor y = leaf(rng.uniform({2, 3}, 0.1, 0.9));  // a sigmoid output lies in (0, 1)
    auto f = [](const ad::Inputs& in) { return ad::sigmoid_backward(in[0], in[1]); };
    // g y (1 - y): 2 0.5 0.5 = 0.5, 4 0.25 0.75 = 0.75
    CHECK_THAT(ad::sigmoid_backward(ad::tensor({2, 4}), ad::tensor({0.5, 0.25})), AllClose(ad::tensor({0.5, 0.75})));
    CHECK(ad::gradcheck(f, {g, y}));
    CHECK(ad::gradgradcheck(f, {g, y}));
    REQUIRE_THROWS_WITH(ad::sigmoid_backward(g, rng.normal({3})),
                        Catch::Contains("sigmoid_backward: expected g and y of one shape, got [2, 3] and [3]"));
}

// No error path. The subgradient at 0 is 0.
TEST_CASE("relu: values, gradients, second gradients, errors", "[autodiff][elementwise][relu]") {
    Tensor x = leaf(ad::tensor({2, 3}, {-1.3, 0.7, -0.4, 2.1, 0.25, -1.8}));  // >= 0.25 from the kink
    auto f = [](const ad::Inputs& in) { return ad::relu(in[0]); };
    CHECK_THAT(ad::relu(ad::tensor({-1, 0, 2.5})), AllClose(ad::tensor({0, 0, 2.5})));
    CHECK(ad::gradcheck(f, {x}));
    CHECK(ad::gradgradcheck(f, {x}));
    Tensor at = leaf(ad::tensor({-1, 0, 2}));
    CHECK_THAT(ad::grad(ad::sum(ad::relu(at)), {at}, ad::CreateGraph::no)[0], AllClose(ad::tensor({0, 0, 1})));
}

// No error path.
TEST_CASE("silu: values, gradients, second gradients, errors", "[autodiff][elementwise][silu]") {
    ad::Rng rng(17);
    Tensor x = leaf(rng.normal({2, 3}, 0.0, 2.0));
    auto f = [](const ad::Inputs& in) { return ad::silu(in[0]); };
    // x sigmoid(x): ln 3 * 3/4, -ln 3 * 1/4
    CHECK_THAT(ad::silu(ad::tensor({0, kLn3, -kLn3, -1000})),
               AllClose(ad::tensor({0, 0.8239592165010823, -0.27465307216702745, 0})));
    // silu'(0) = s(0) (1 + 0) = 1/2
    Tensor z = leaf(ad::tensor({0.0}));
    CHECK(ad::grad(ad::sum(ad::silu(z)), {z}, ad::CreateGraph::no)[0].item() == Approx(0.5).margin(1e-15));
    CHECK(ad::gradcheck(f, {x}));
    CHECK(ad::gradgradcheck(f, {x}));
}

// No error path.
TEST_CASE("gelu: values, gradients, second gradients, errors", "[autodiff][elementwise][gelu]") {
    ad::Rng rng(18);
    Tensor x = leaf(rng.normal({2, 3}, 0.0, 1.5));
    auto f = [](const ad::Inputs& in) { return ad::gelu(in[0]); };
    // x Phi(x): Phi(1) = 0.8413447460685429, -Phi(-1) = -0.15865525393145707
    CHECK_THAT(ad::gelu(ad::tensor({0, 1, -1})), AllClose(ad::tensor({0, 0.8413447460685429, -0.15865525393145707})));
    // gelu'(0) = Phi(0) = 1/2;  gelu''(0) = phi(0) (2 - 0) = 2 / sqrt(2 pi)
    Tensor z = leaf(ad::tensor({0.0}));
    Tensor d1 = ad::grad(ad::sum(ad::gelu(z)), {z}, ad::CreateGraph::yes)[0];
    Tensor d2 = ad::grad(ad::sum(d1), {z}, ad::CreateGraph::no)[0];
    CHECK(d1.item() == Approx(0.5).margin(1e-15));
    CHECK(d2.item() == Approx(0.7978845608028654).epsilon(1e-14));
    CHECK(ad::gradcheck(f, {x}));
    CHECK(ad::gradgradcheck(f, {x}));
}

// No error path. Large |x| must neither overflow nor lose the linear tail.
TEST_CASE("softplus: values, gradients, second gradients, errors", "[autodiff][elementwise][softplus]") {
    ad::Rng rng(19);
    Tensor x = leaf(rng.normal({2, 3}, 0.0, 2.0));
    auto f = [](const ad::Inputs& in) { return ad::softplus(in[0]); };
    // log(1 + e^x): ln 2, ln(1 + 3) = 2 ln 2, 1000 + log(1 + e^-1000) = 1000, log(1 + e^-1000) = 0
    CHECK_THAT(ad::softplus(ad::tensor({0, kLn3, 1000, -1000})), AllClose(ad::tensor({kLn2, 2 * kLn2, 1000, 0})));
    CHECK(ad::gradcheck(f, {x}));
    CHECK(ad::gradgradcheck(f, {x}));
}

TEST_CASE("where: values, gradients, second gradients, errors", "[autodiff][elementwise][where]") {
    ad::Rng rng(20);
    Tensor cond = ad::tensor({2, 1}, {1, 0});  // row 0 from a, row 1 from b
    // cond [2, 1], a [2, 3], b [] broadcast to [2, 3]
    CHECK_THAT(ad::where(cond, ad::tensor({2, 3}, {1, 2, 3, 4, 5, 6}), ad::Tensor::scalar(9)),
               AllClose(ad::tensor({2, 3}, {1, 2, 3, 9, 9, 9})));
    CHECK_THAT(ad::where(ad::tensor({0, 2, -1}), ad::tensor({1, 1, 1}), ad::tensor({0, 0, 0})),
               AllClose(ad::tensor({0, 1, 1})));  // nonzero (even negative) is true
    Tensor a = leaf(rng.normal({2, 3}));
    Tensor b = leaf(rng.normal({}));
    auto f = [cond](const ad::Inputs& in) { return ad::where(cond, in[0], in[1]); };
    CHECK(ad::gradcheck(f, {a, b}));
    CHECK(ad::gradgradcheck(f, {a, b}));
    REQUIRE_THROWS_WITH(ad::where(leaf(cond), a, b), Catch::Contains("where: expected a constant condition"));
    REQUIRE_THROWS_WITH(ad::where(ad::tensor({1, 0}), a, b), Catch::Contains("where: cannot broadcast [2] with [2, 3]"));
}

TEST_CASE("greater: values, gradients, second gradients, errors", "[autodiff][elementwise][greater]") {
    CHECK_THAT(ad::greater(ad::tensor({1, 2, 3}), ad::tensor({2})), AllClose(ad::tensor({0, 0, 1})));  // 2 > 2 is 0
    CHECK_THAT(ad::greater(ad::tensor({2, 1}, {1, 3}), ad::tensor({2, 0})), AllClose(ad::tensor({2, 2}, {0, 1, 1, 1})));
    // A constant: no graph even when the inputs require grad; as a mask inside mul it passes
    // gradients only through the other factor. Inputs are >= 0.3 away from ties.
    Tensor a = leaf(ad::tensor({2, 3}, {-1.3, 0.7, -0.4, 2.1, 0.25, -1.8}));
    Tensor b = leaf(ad::tensor({3}, {0.3, 0.2, -0.9}));
    CHECK_FALSE(ad::greater(a, b).requires_grad());
    auto f = [](const ad::Inputs& in) { return ad::mul(in[0], ad::greater(in[0], in[1])); };
    CHECK(ad::gradcheck(f, {a, b}));
    CHECK(ad::gradgradcheck(f, {a, b}));
    REQUIRE_THROWS_WITH(ad::greater(a, ad::tensor({1, 2})), Catch::Contains("greater: cannot broadcast [2, 3] with [2]"));
}
