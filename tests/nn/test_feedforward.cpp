#include "nn/feedforward.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using testing::AllClose;

TEST_CASE("feedforward: plain and gated values, gradients, second gradients, errors", "[nn][feedforward]") {
    ad::Rng rng(3);
    // Plain gelu without bias (NanoPET): W1 = [1, 1], W2 = [2, 3]^T, x = [0.5, 0.5]: h = 1,
    // y = W2 gelu(1), gelu(1) = Phi(1) = 0.8413447460685429.
    nn::FeedForward plain(2, 1, nn::FeedForwardKind::plain, nn::Activation::gelu, rng, false);
    CHECK(plain.n_parameters() == 4);
    std::copy_n(std::vector<double>{1, 1}.data(), 2, plain.parameters()[0].data());
    std::copy_n(std::vector<double>{2, 3}.data(), 2, plain.parameters()[1].data());
    const double g1 = 0.8413447460685429;
    CHECK_THAT(plain.forward(ad::tensor({1, 2}, {0.5, 0.5})), AllClose(ad::tensor({1, 2}, {2 * g1, 3 * g1})));
    // Gated silu (SwiGLU): W_in = I (value x0, gate x1), W2 = [1, 2]^T, b = 0: y = W2 x0 silu(x1).
    nn::FeedForward gated(2, 1, nn::FeedForwardKind::gated, nn::Activation::silu, rng, true);
    REQUIRE(gated.named_parameters().size() == 4);
    CHECK(gated.named_parameters()[0].first == "w_in.weight");
    CHECK(gated.named_parameters()[0].second.shape() == ad::Shape{2, 2});
    std::vector<Tensor> p = gated.parameters();
    std::copy_n(std::vector<double>{1, 0, 0, 1}.data(), 4, p[0].data());
    std::copy_n(std::vector<double>{0, 0}.data(), 2, p[1].data());
    std::copy_n(std::vector<double>{1, 2}.data(), 2, p[2].data());
    std::copy_n(std::vector<double>{0, 0}.data(), 2, p[3].data());
    const double s1 = 1 / (1 + std::exp(-1.0));  // silu(1)
    CHECK_THAT(gated.forward(ad::tensor({1, 1, 2}, {2, 1})), AllClose(ad::tensor({1, 1, 2}, {2 * s1, 4 * s1})));

    for (auto kind : {nn::FeedForwardKind::plain, nn::FeedForwardKind::gated}) {
        nn::FeedForward ff(3, 4, kind, nn::Activation::silu, rng, true);
        Tensor x = rng.normal({2, 2, 3}).set_requires_grad(true);
        std::vector<Tensor> wrt = ff.parameters();
        wrt.push_back(x);
        auto f = [&] { return ff.forward(x); };
        CHECK(nn_testing::inplace_gradcheck(f, wrt));
        CHECK(nn_testing::inplace_gradgradcheck(f, wrt));
    }
    REQUIRE_THROWS_WITH(plain.forward(Tensor::ones({2, 3})), "FeedForward: expected x[..., 2], got [2, 3]");
    REQUIRE_THROWS_WITH(nn::FeedForward(2, 0, nn::FeedForwardKind::plain, nn::Activation::gelu, rng),
                        "FeedForward: expected d_ff > 0, got 0");
}
