#include "nn/activation.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using testing::AllClose;

TEST_CASE("activation: names round-trip and bad names list the choices", "[nn][unit]") {
    for (const char* name : {"tanh", "relu", "silu", "gelu", "sigmoid", "softplus", "identity"})
        CHECK(nn::to_string(nn::parse_activation(name)) == name);
    REQUIRE_THROWS_WITH(nn::parse_activation("foo"),
                        "activation: expected one of tanh, relu, silu, gelu, sigmoid, softplus, identity, got 'foo'");
}

TEST_CASE("activation: values by hand and gradients", "[nn][unit]") {
    const double x0 = -1.3, x1 = 0.7;
    Tensor x = ad::tensor({x0, x1});
    auto sig = [](double v) { return 1 / (1 + std::exp(-v)); };
    auto gelu = [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); };
    using A = nn::Activation;
    CHECK_THAT(nn::activate(A::tanh, x), AllClose(ad::tensor({std::tanh(x0), std::tanh(x1)})));
    CHECK_THAT(nn::activate(A::relu, x), AllClose(ad::tensor({0.0, x1})));
    CHECK_THAT(nn::activate(A::silu, x), AllClose(ad::tensor({x0 * sig(x0), x1 * sig(x1)})));
    CHECK_THAT(nn::activate(A::gelu, x), AllClose(ad::tensor({gelu(x0), gelu(x1)})));
    CHECK_THAT(nn::activate(A::sigmoid, x), AllClose(ad::tensor({sig(x0), sig(x1)})));
    CHECK_THAT(nn::activate(A::softplus, x),
               AllClose(ad::tensor({std::log1p(std::exp(x0)), std::log1p(std::exp(x1))})));
    CHECK(nn::activate(A::identity, x).same(x));

    ad::Rng rng(2);
    Tensor z = rng.normal({3, 2}).set_requires_grad(true);  // normal draws: no exact 0 (relu's kink)
    for (A a : {A::tanh, A::relu, A::silu, A::gelu, A::sigmoid, A::softplus, A::identity}) {
        INFO(nn::to_string(a));
        auto f = [a](const ad::Inputs& in) { return nn::activate(a, in[0]); };
        CHECK(ad::gradcheck(f, {z}));
    }
}
