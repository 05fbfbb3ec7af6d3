#include "nn/embedding.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using testing::AllClose;

TEST_CASE("embedding: values, gradients, second gradients, errors", "[nn][embedding]") {
    ad::Rng rng(2);
    nn::Embedding emb(3, 2, rng);
    REQUIRE(emb.named_parameters().size() == 1);
    CHECK(emb.weight().shape() == ad::Shape{3, 2});
    std::copy_n(std::vector<double>{1, 2, 3, 4, 5, 6}.data(), 6, emb.weight().data());
    CHECK_THAT(emb.forward({2, 0, 2}), AllClose(ad::tensor({3, 2}, {5, 6, 1, 2, 5, 6})));
    // The gradient of row 2 collects both lookups; the second derivative is 0 (linear), and a
    // product with a leaf checks it is recorded.
    Tensor s = rng.normal({3, 2}).set_requires_grad(true);
    auto f = [&] { return ad::mul(emb.forward({2, 0, 2}), s); };
    CHECK(nn_testing::inplace_gradcheck(f, {emb.weight(), s}));
    CHECK(nn_testing::inplace_gradgradcheck(f, {emb.weight(), s}));
    REQUIRE_THROWS_WITH(emb.forward({0, 3}), "Embedding: expected indices in [0, 3), got 3");
    REQUIRE_THROWS_WITH(nn::Embedding(0, 2, rng), "Embedding: expected n_embeddings > 0 and d > 0, got 0 and 2");
}
