// GELU's fused derivative ops (autodiff/ops_gelu.cpp): values against the closed forms (std::erf,
// std::exp per element), first to third derivatives by finite differences (gradcheck,
// gradgradcheck of each op), errors.
#include <cmath>

#include "autodiff/ops_gelu.hpp"
#include "tests/helpers.hpp"

using ad::Tensor;
using testing::AllClose;

namespace {
Tensor leaf(const Tensor& t) { return t.detach().set_requires_grad(true); }
}  // namespace

TEST_CASE("gelu_backward, gelu_backward2: values, gradcheck, gradgradcheck, errors", "[autodiff][elementwise][gelu]") {
    ad::Rng rng(41);
    Tensor x = rng.normal({3, 4}, 0.0, 2.0), g = rng.normal({3, 4});
    std::vector<double> d1(12), d2(12);
    for (long i = 0; i < 12; ++i) {
        const double u = x[i], phi = std::exp(-0.5 * u * u) / std::sqrt(2 * M_PI);
        d1[static_cast<size_t>(i)] = g[i] * (0.5 * (1 + std::erf(u / std::sqrt(2.0))) + u * phi);
        d2[static_cast<size_t>(i)] = g[i] * phi * (2 - u * u);
    }
    // same closed forms; the constants 1/sqrt 2, 1/sqrt(2 pi) rounded once instead of per element
    CHECK_THAT(ad::gelu_backward(g, x), AllClose(ad::tensor({3, 4}, d1), 1e-14));
    CHECK_THAT(ad::gelu_backward2(g, x), AllClose(ad::tensor({3, 4}, d2), 1e-14));
    // gelu's backward is gelu_backward: first and second derivatives of gelu itself
    Tensor xs = leaf(x), gs = leaf(g);
    CHECK(ad::gradcheck([](const ad::Inputs& in) { return ad::gelu(in[0]); }, {xs}));
    CHECK(ad::gradgradcheck([](const ad::Inputs& in) { return ad::gelu(in[0]); }, {xs}));
    auto fb = [](const ad::Inputs& in) { return ad::gelu_backward(in[0], in[1]); };
    CHECK(ad::gradcheck(fb, {gs, xs}));
    CHECK(ad::gradgradcheck(fb, {gs, xs}));
    auto fb2 = [](const ad::Inputs& in) { return ad::gelu_backward2(in[0], in[1]); };
    CHECK(ad::gradcheck(fb2, {gs, xs}));
    CHECK(ad::gradgradcheck(fb2, {gs, xs}));
    REQUIRE_THROWS_WITH(ad::gelu_backward(Tensor::ones({2}), x),
                        Catch::Contains("gelu_backward: expected g and x of one shape, got [2] and [3, 4]"));
    REQUIRE_THROWS_WITH(ad::gelu_backward2(Tensor::ones({2}), x),
                        Catch::Contains("gelu_backward2: expected g and x of one shape, got [2] and [3, 4]"));
}
