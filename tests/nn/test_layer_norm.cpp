#include "nn/layer_norm.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using testing::AllClose;

TEST_CASE("layer_norm: values by hand", "[nn][unit]") {
    nn::LayerNorm ln(4, 1e-5);
    CHECK(ln.named_parameters().size() == 2);
    CHECK(ln.named_parameters()[0].first == "weight");
    // Row [1, 2, 3, 4]: mean 2.5, biased variance (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25.
    // Row [-2, -2, 2, 2]: mean 0, variance 4.
    Tensor x = ad::tensor({2, 4}, {1, 2, 3, 4, -2, -2, 2, 2});
    const double s1 = std::sqrt(1.25 + 1e-5), s2 = std::sqrt(4 + 1e-5);
    Tensor expected = ad::tensor({2, 4}, {-1.5 / s1, -0.5 / s1, 0.5 / s1, 1.5 / s1, -2 / s2, -2 / s2, 2 / s2, 2 / s2});
    CHECK_THAT(ln.forward(x), AllClose(expected));
    // Affine part: y w + b per feature.
    std::copy_n(std::vector<double>{1, 2, 3, 4}.data(), 4, ln.weight().data());
    std::copy_n(std::vector<double>{0, 0, 0, 10}.data(), 4, ln.bias().data());
    Tensor y = ln.forward(x);
    CHECK(y[1] == Approx(-1.0 / s1).epsilon(1e-14));
    CHECK(y[7] == Approx(8 / s2 + 10).epsilon(1e-14));
}

TEST_CASE("layer_norm: each row has mean 0 and variance var / (var + eps)", "[nn][unit]") {
    ad::Rng rng(3);
    nn::LayerNorm ln(16, 1e-5, false);
    CHECK(ln.n_parameters() == 0);
    Tensor x = rng.normal({5, 3, 16}, 2.0, 3.0);
    Tensor y = ln.forward(x);
    REQUIRE(y.shape() == x.shape());
    for (long r = 0; r < 15; ++r) {
        double mx = 0, vx = 0, my = 0, vy = 0;
        for (long f = 0; f < 16; ++f) mx += x[r * 16 + f] / 16, my += y[r * 16 + f] / 16;
        for (long f = 0; f < 16; ++f) {
            vx += (x[r * 16 + f] - mx) * (x[r * 16 + f] - mx) / 16;
            vy += (y[r * 16 + f] - my) * (y[r * 16 + f] - my) / 16;
        }
        CHECK(std::fabs(my) < 1e-14);
        CHECK(vy == Approx(vx / (vx + 1e-5)).epsilon(1e-12));
    }
    REQUIRE_THROWS_WITH(ln.forward(Tensor::ones({2, 3})), "LayerNorm: expected x[..., 16], got [2, 3]");
}

TEST_CASE("layer_norm: gradients and second gradients w.r.t. input and parameters", "[nn][unit]") {
    ad::Rng rng(4);
    nn::LayerNorm ln(5);
    for (long i = 0; i < 5; ++i) ln.weight().data()[i] = 1 + 0.1 * i, ln.bias().data()[i] = -0.2 * i;
    Tensor x = rng.normal({3, 5}).set_requires_grad(true);
    auto f = [&] { return ln.forward(x); };
    std::vector<Tensor> wrt{x, ln.weight(), ln.bias()};
    CHECK(nn_testing::inplace_gradcheck(f, wrt));
    CHECK(nn_testing::inplace_gradgradcheck(f, wrt));
}
