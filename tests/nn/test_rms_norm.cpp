#include "nn/rms_norm.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using testing::AllClose;

TEST_CASE("rms_norm: values, gradients, second gradients, errors", "[nn][rms_norm]") {
    nn::RMSNorm norm(2, 1e-6);
    REQUIRE(norm.named_parameters().size() == 1);
    CHECK(norm.named_parameters()[0].first == "weight");
    // Row [3, 4]: mean square 12.5; row [0, -2]: mean square 2. Weight [1, 2].
    norm.weight().data()[1] = 2.0;
    const double r1 = std::sqrt(12.5 + 1e-6), r2 = std::sqrt(2 + 1e-6);
    CHECK_THAT(norm.forward(ad::tensor({2, 2}, {3, 4, 0, -2})),
               AllClose(ad::tensor({2, 2}, {3 / r1, 8 / r1, 0, -4 / r2})));
    // Leading axes kept: [2, 1, 2].
    CHECK(norm.forward(ad::tensor({2, 1, 2}, {3, 4, 0, -2})).shape() == ad::Shape{2, 1, 2});
    // Without affine, each row has mean square ms / (ms + eps).
    nn::RMSNorm plain(3, 1e-3, false);
    CHECK(plain.n_parameters() == 0);
    Tensor y = plain.forward(ad::tensor({1, 3}, {1, 2, 2}));  // ms = 3
    CHECK((y[0] * y[0] + y[1] * y[1] + y[2] * y[2]) / 3 == Approx(3 / (3 + 1e-3)).epsilon(1e-14));

    ad::Rng rng(5);
    for (long i = 0; i < 2; ++i) norm.weight().data()[i] = 0.5 + 0.3 * i;
    Tensor x = rng.normal({3, 2}).set_requires_grad(true);
    auto f = [&] { return norm.forward(x); };
    CHECK(nn_testing::inplace_gradcheck(f, {x, norm.weight()}));
    CHECK(nn_testing::inplace_gradgradcheck(f, {x, norm.weight()}));
    REQUIRE_THROWS_WITH(norm.forward(Tensor::ones({2, 3})), "RMSNorm: expected x[..., 2], got [2, 3]");
    REQUIRE_THROWS_WITH(nn::RMSNorm(0), "RMSNorm: expected n > 0, got 0");
}
