#include "tests/helpers.hpp"

using ad::Tensor;
using testing::AllClose;

TEST_CASE("add: values, gradients, second gradients, errors", "[autodiff][add]") {
    ad::Rng rng(1);
    Tensor a = rng.normal({3, 4}).set_requires_grad(true);
    Tensor b = rng.normal({4}).set_requires_grad(true);  // broadcast over rows
    auto f = [](const ad::Inputs& x) { return ad::add(x[0], x[1]); };
    CHECK_THAT(ad::add(ad::tensor({2, 2}, {1, 2, 3, 4}), ad::tensor({2}, {10, 20})),
               AllClose(ad::tensor({2, 2}, {11, 22, 13, 24})));
    CHECK(ad::gradcheck(f, {a, b}));
    CHECK(ad::gradgradcheck(f, {a, b}));
    REQUIRE_THROWS_WITH(ad::add(a, rng.normal({2, 4})), Catch::Contains("add: cannot broadcast [3, 4] with [2, 4]"));
}

TEST_CASE("mul: values, gradients, second gradients, errors", "[autodiff][mul]") {
    ad::Rng rng(7);
    Tensor a = rng.normal({3, 4}).set_requires_grad(true);
    Tensor b = rng.normal({1, 4}).set_requires_grad(true);
    auto f = [](const ad::Inputs& x) { return ad::mul(x[0], x[1]); };
    CHECK_THAT(ad::mul(ad::tensor({1, 2}, {1, 2}), ad::tensor({1, 2}, {3, 4})), AllClose(ad::tensor({1, 2}, {3, 8})));
    CHECK(ad::gradcheck(f, {a, b}));
    CHECK(ad::gradgradcheck(f, {a, b}));
    REQUIRE_THROWS_WITH(ad::mul(a, rng.normal({2, 4})), Catch::Contains("mul: cannot broadcast [3, 4] with [2, 4]"));
}

TEST_CASE("tanh: values, gradients, second gradients", "[autodiff][tanh]") {
    ad::Rng rng(3);
    Tensor x = rng.normal({2, 3}).set_requires_grad(true);
    auto f = [](const ad::Inputs& in) { return ad::tanh(in[0]); };
    CHECK_THAT(ad::tanh(ad::tensor({0.0, 1.0})), AllClose(ad::tensor({0.0, std::tanh(1.0)})));
    CHECK(ad::gradcheck(f, {x}));
    CHECK(ad::gradgradcheck(f, {x}));
}
