#include "nn/linear.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using testing::AllClose;

TEST_CASE("linear: parameters, init bounds and values by hand", "[nn][unit]") {
    ad::Rng rng(0);
    nn::Linear lin(3, 2, rng);
    REQUIRE(lin.named_parameters().size() == 2);
    CHECK(lin.named_parameters()[0].first == "weight");
    CHECK(lin.weight().shape() == ad::Shape{2, 3});
    CHECK(lin.bias().shape() == ad::Shape{2});
    for (const Tensor& p : lin.parameters())
        for (long i = 0; i < p.numel(); ++i) CHECK(std::fabs(p[i]) < 1 / std::sqrt(3.0));

    // W = [[1, 2, 3], [-1, 0, 1]], b = [0.5, -0.5]: y[n, o] = sum_i x[n, i] W[o, i] + b[o]
    std::copy_n(std::vector<double>{1, 2, 3, -1, 0, 1}.data(), 6, lin.weight().data());
    std::copy_n(std::vector<double>{0.5, -0.5}.data(), 2, lin.bias().data());
    Tensor x = ad::tensor({2, 3}, {1, 1, 1, 2, 0, -1});
    CHECK_THAT(lin.forward(x), AllClose(ad::tensor({2, 2}, {6.5, -0.5, -0.5, -3.5})));
    // Leading axes are flattened and restored: [2, 1, 3] -> [2, 1, 2]; a vector [3] -> [2].
    CHECK_THAT(lin.forward(ad::reshape(x, {2, 1, 3})), AllClose(ad::tensor({2, 1, 2}, {6.5, -0.5, -0.5, -3.5})));
    CHECK_THAT(lin.forward(ad::tensor({1, 1, 1})), AllClose(ad::tensor({6.5, -0.5})));
}

TEST_CASE("linear: without bias, and errors", "[nn][unit]") {
    ad::Rng rng(1);
    nn::Linear lin(4, 3, rng, false);
    CHECK_FALSE(lin.has_bias());
    CHECK(lin.n_parameters() == 12);
    // x = ones: y[o] = sum_i W[o, i] with nothing added.
    std::vector<double> row_sums(3, 0.0);
    for (long o = 0; o < 3; ++o)
        for (long i = 0; i < 4; ++i) row_sums[o] += lin.weight()[o * 4 + i];
    CHECK_THAT(lin.forward(Tensor::ones({1, 4})), AllClose(ad::tensor({1, 3}, row_sums)));
    REQUIRE_THROWS_WITH(lin.forward(Tensor::ones({2, 5})), "Linear: expected x[..., 4], got [2, 5]");
    REQUIRE_THROWS_WITH(nn::Linear(0, 3, rng), "Linear: expected n_in > 0, got 0");
}

TEST_CASE("linear: gradients and second gradients w.r.t. input and parameters", "[nn][unit]") {
    ad::Rng rng(2);
    nn::Linear lin(3, 4, rng);
    Tensor x = rng.normal({5, 3}).set_requires_grad(true);
    // A nonlinearity after the layer makes second derivatives w.r.t. W and x nonzero.
    auto f = [&] { return ad::tanh(lin.forward(x)); };
    std::vector<Tensor> wrt{x, lin.weight(), lin.bias()};
    CHECK(nn_testing::inplace_gradcheck(f, wrt));
    CHECK(nn_testing::inplace_gradgradcheck(f, wrt));
}
