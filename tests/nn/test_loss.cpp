#include "nn/loss.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using testing::AllClose;

TEST_CASE("loss: mse and mae values by hand, gradients, shape errors", "[nn][unit]") {
    Tensor pred = ad::tensor({1, 2, 3}), target = ad::tensor({1, 1, 1});
    CHECK(nn::mse_loss(pred, target).item() == Approx(5.0 / 3).epsilon(1e-15));  // (0 + 1 + 4) / 3
    CHECK(nn::mae_loss(pred, target).item() == Approx(1.0).epsilon(1e-15));       // (0 + 1 + 2) / 3
    CHECK(nn::mse_loss(pred, target).shape() == ad::Shape{});

    ad::Rng rng(1);
    Tensor p = rng.normal({4, 2}).set_requires_grad(true), t = rng.normal({4, 2});
    auto mse = [&](const ad::Inputs& in) { return nn::mse_loss(in[0], in[1]); };
    auto mae = [&](const ad::Inputs& in) { return nn::mae_loss(in[0], in[1]); };
    CHECK(ad::gradcheck(mse, {p, t.clone().set_requires_grad(true)}));
    CHECK(ad::gradgradcheck(mse, {p, t.clone().set_requires_grad(true)}));
    CHECK(ad::gradcheck(mae, {p, t}));  // p - t is far from 0 (mae's kink) for normal draws
    REQUIRE_THROWS_WITH(nn::mse_loss(ad::tensor({3, 1}, {1, 2, 3}), pred),
                        "mse_loss: expected target of the prediction's shape [3, 1], got [3]");
    REQUIRE_THROWS_WITH(nn::mae_loss(pred, ad::tensor({1, 2})), Catch::Contains("mae_loss: expected target"));
}

TEST_CASE("loss: huber is quadratic inside delta and linear outside", "[nn][unit]") {
    Tensor pred = ad::tensor({0.5, -2, 3}), target = Tensor::zeros({3});
    // delta 1: 0.5 * 0.25, 1 * (2 - 0.5), 1 * (3 - 0.5)
    CHECK(nn::huber_loss(pred, target).item() == Approx((0.125 + 1.5 + 2.5) / 3).epsilon(1e-15));
    // delta 2: 0.125, |d| = 2 is not < delta so 2 * (2 - 1) = 2 (= 0.5 * 4: continuous), 2 * (3 - 1)
    CHECK(nn::huber_loss(pred, target, 2.0).item() == Approx((0.125 + 2 + 4) / 3).epsilon(1e-15));
    // delta large: huber = mse / 2
    CHECK(nn::huber_loss(pred, target, 10.0).item() == Approx(nn::mse_loss(pred, target).item() / 2).epsilon(1e-15));

    Tensor p = ad::tensor({0.3, -0.4, 1.7, -2.5, 0.9}).set_requires_grad(true);  // none at |d| = delta
    Tensor t = Tensor::zeros({5}).set_requires_grad(true);
    auto f = [](const ad::Inputs& in) { return nn::huber_loss(in[0], in[1], 1.0); };
    CHECK(ad::gradcheck(f, {p, t}));
    CHECK(ad::gradgradcheck(f, {p, t}));
    REQUIRE_THROWS_WITH(nn::huber_loss(pred, target, 0.0), "huber_loss: expected delta > 0, got 0");
}

TEST_CASE("loss: cross_entropy values by hand, stability, gradients, label errors", "[nn][unit]") {
    // Row 0: equal logits -> -log(1/2). Row 1: softmax(log 3, 0) = (3/4, 1/4), label 1 -> -log(1/4).
    Tensor logits = ad::tensor({2, 2}, {0.0, 0.0, std::log(3.0), 0.0});
    CHECK(nn::cross_entropy(logits, {0, 1}).item() == Approx((std::log(2.0) + std::log(4.0)) / 2).epsilon(1e-15));
    CHECK(nn::cross_entropy(logits, {1, 0}).item() == Approx((std::log(2.0) - std::log(0.75)) / 2).epsilon(1e-15));
    // Huge logits do not overflow (log-sum-exp).
    Tensor big = ad::tensor({1, 2}, {1000.0, 0.0});
    CHECK(nn::cross_entropy(big, {0}).item() == Approx(0.0).margin(1e-300));
    CHECK(nn::cross_entropy(big, {1}).item() == Approx(1000.0).epsilon(1e-15));

    ad::Rng rng(2);
    Tensor z = rng.normal({4, 3}).set_requires_grad(true);
    auto f = [](const ad::Inputs& in) { return nn::cross_entropy(in[0], {2, 0, 1, 1}); };
    CHECK(ad::gradcheck(f, {z}));
    CHECK(ad::gradgradcheck(f, {z}));
    REQUIRE_THROWS_WITH(nn::cross_entropy(z, {0, 5, 1, 1}), "cross_entropy: expected labels in [0, 3), got 5 at position 1");
    REQUIRE_THROWS_WITH(nn::cross_entropy(z, {0, -1, 1, 1}), Catch::Contains("got -1 at position 1"));
    REQUIRE_THROWS_WITH(nn::cross_entropy(z, {0, 1}), Catch::Contains("expected 4 labels"));
    REQUIRE_THROWS_WITH(nn::cross_entropy(ad::tensor({1, 2}), {0}), Catch::Contains("expected logits [n, K], got [2]"));
}

TEST_CASE("loss: gaussian_nll values by hand, eps clamp, broadcast var, gradients", "[nn][unit]") {
    // Elements: (m, t, var) = (0, 1, 1) -> log 1 + 1/1 = 1;  (1, 1, 4) -> log 4 + 0.
    Tensor m = ad::tensor({0, 1}), t = ad::tensor({1, 1}), var = ad::tensor({1, 4});
    const double expected = 0.5 * (1 + std::log(4.0)) / 2;
    CHECK(nn::gaussian_nll_loss(m, t, var).item() == Approx(expected).epsilon(1e-15));
    CHECK(nn::gaussian_nll_loss(m, t, var, true).item() ==
          Approx(expected + 0.5 * std::log(2 * M_PI)).epsilon(1e-15));

    // var = 0 is clamped to eps for the value; the gradient passes through the clamp unchanged:
    // d/dvar 0.5 (log v + d^2 / v) = 0.5 (1/v - d^2 / v^2) at v = eps = 1e-6, d = 0.002: -1.5e6.
    Tensor v0 = ad::tensor({0.0}).set_requires_grad(true);
    Tensor loss = nn::gaussian_nll_loss(ad::tensor({0.0}), ad::tensor({0.002}), v0);
    CHECK(loss.item() == Approx(0.5 * (std::log(1e-6) + 4.0)).epsilon(1e-12));
    ad::backward(loss, {v0});
    CHECK(v0.grad().item() == Approx(-1.5e6).epsilon(1e-9));

    ad::Rng rng(3);
    Tensor mean = rng.normal({4, 2}).set_requires_grad(true), target = rng.normal({4, 2});
    Tensor v = rng.uniform({4, 1}, 0.5, 2.0).set_requires_grad(true);  // one variance per row
    auto f = [&](const ad::Inputs& in) { return nn::gaussian_nll_loss(in[0], target, in[1], true); };
    CHECK(ad::gradcheck(f, {mean, v}));
    CHECK(ad::gradgradcheck(f, {mean, v}));
    REQUIRE_THROWS_WITH(nn::gaussian_nll_loss(m, t, ad::tensor({1.0, -0.5})),
                        "gaussian_nll_loss: expected var >= 0, got -0.5 at flat index 1");
    REQUIRE_THROWS_WITH(nn::gaussian_nll_loss(m, t, ad::tensor({1.0, 1.0, 1.0})), Catch::Contains("cannot broadcast"));
}
