#include "nn/mlp.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using testing::AllClose;

TEST_CASE("mlp: layers are named layers.{i} and shaped n_in -> hidden -> n_out", "[nn][unit]") {
    ad::Rng rng(0);
    nn::MLP mlp(3, {8, 5}, 2, nn::Activation::silu, rng);
    std::vector<std::pair<std::string, ad::Shape>> expected{
        {"layers.0.weight", {8, 3}}, {"layers.0.bias", {8}}, {"layers.1.weight", {5, 8}},
        {"layers.1.bias", {5}},      {"layers.2.weight", {2, 5}}, {"layers.2.bias", {2}}};
    auto named = mlp.state_dict();
    REQUIRE(named.size() == expected.size());
    for (size_t k = 0; k < named.size(); ++k) {
        CHECK(named[k].first == expected[k].first);
        CHECK(named[k].second.shape() == expected[k].second);
    }
    CHECK(mlp.n_parameters() == 8 * 3 + 8 + 5 * 8 + 5 + 2 * 5 + 2);
    CHECK(mlp.n_in() == 3);
    CHECK(mlp.n_out() == 2);
    CHECK(mlp.hidden() == std::vector<long>{8, 5});
    CHECK(mlp.activation() == nn::Activation::silu);
    CHECK(mlp.n_features() == 5);
    CHECK(mlp.last_layer().weight().same(named[4].second));

    nn::MLP no_bias(3, {4}, 1, nn::Activation::tanh, rng, false);
    CHECK(no_bias.state_dict().size() == 2);
    CHECK(no_bias.state_dict()[1].first == "layers.1.weight");
    REQUIRE_THROWS_WITH(mlp.forward(Tensor::ones({2, 4})), "MLP: expected x[n, 3], got [2, 4]");
    REQUIRE_THROWS_WITH(nn::MLP(3, {4, 0}, 1, nn::Activation::tanh, rng), Catch::Contains("expected hidden sizes > 0"));
}

// Regenerate: any seed works; the properties below hold for every seed.
TEST_CASE("mlp: init is reproducible, per-layer bounded by 1/sqrt(fan_in), drawn weight then bias", "[nn][unit]") {
    ad::Rng r1(42), r2(42);
    nn::MLP a(10, {64, 32}, 1, nn::Activation::tanh, r1), b(10, {64, 32}, 1, nn::Activation::tanh, r2);
    for (size_t k = 0; k < a.state_dict().size(); ++k)
        CHECK_THAT(a.state_dict()[k].second, AllClose(b.state_dict()[k].second, 0, 0));
    // Both generators advanced alike: the streams continue in step.
    CHECK(r1.next_u64() == r2.next_u64());
    for (const auto& layer : a.layers()) {
        const double bound = 1 / std::sqrt(static_cast<double>(layer->n_in()));
        for (const Tensor& p : layer->parameters())
            for (long i = 0; i < p.numel(); ++i) CHECK(std::fabs(p[i]) < bound);
    }
    // Layer 0's weight is the first 640 uniforms of the stream, its bias the next 64.
    ad::Rng r3(42);
    Tensor w0 = r3.uniform({64, 10}, -1 / std::sqrt(10.0), 1 / std::sqrt(10.0));
    Tensor b0 = r3.uniform({64}, -1 / std::sqrt(10.0), 1 / std::sqrt(10.0));
    CHECK_THAT(a.state_dict()[0].second, AllClose(w0, 0, 0));
    CHECK_THAT(a.state_dict()[1].second, AllClose(b0, 0, 0));
}

TEST_CASE("mlp: forward is the last layer applied to the features", "[nn][unit]") {
    ad::Rng rng(5);
    nn::MLP mlp(2, {6, 4}, 3, nn::Activation::gelu, rng);
    Tensor x = rng.normal({7, 2});
    Tensor h = mlp.features(x);
    CHECK(h.shape() == ad::Shape{7, 4});
    CHECK_THAT(mlp.forward(x), AllClose(mlp.last_layer().forward(h)));
    // features = act(L1(act(L0(x)))) by hand.
    Tensor h_hand = ad::gelu(mlp.layers()[1]->forward(ad::gelu(mlp.layers()[0]->forward(x))));
    CHECK_THAT(h, AllClose(h_hand));
    // Without hidden layers the features are the input and the model is one Linear.
    nn::MLP lin(2, {}, 1, nn::Activation::tanh, rng);
    CHECK(lin.features(x).same(x));
    CHECK(lin.n_features() == 2);
    CHECK(lin.state_dict().size() == 2);
}

TEST_CASE("mlp: gradients and second gradients w.r.t. input and parameters", "[nn][unit]") {
    ad::Rng rng(6);
    for (auto act : {nn::Activation::tanh, nn::Activation::silu}) {
        INFO(nn::to_string(act));
        nn::MLP mlp(3, {5, 4}, 2, act, rng);
        Tensor x = rng.normal({4, 3}).set_requires_grad(true);
        auto f = [&] { return mlp.forward(x); };
        std::vector<Tensor> wrt = mlp.parameters();
        wrt.insert(wrt.begin(), x);
        CHECK(nn_testing::inplace_gradcheck(f, wrt));
        CHECK(nn_testing::inplace_gradgradcheck(f, wrt));
    }
}

// Force-style training: the loss contains d(sum E)/dx (create_graph), and its gradient w.r.t.
// the parameters must match finite differences.
TEST_CASE("mlp: gradient of a loss on input derivatives matches finite differences", "[nn][unit]") {
    ad::Rng rng(8);
    nn::MLP mlp(3, {6}, 1, nn::Activation::silu, rng);
    Tensor x = rng.normal({5, 3}).set_requires_grad(true);
    auto f = [&] {
        Tensor dEdx = ad::grad(ad::sum(mlp.forward(x)), {x}, ad::CreateGraph::yes)[0];
        return ad::mean(ad::square(dEdx));
    };
    CHECK(nn_testing::inplace_gradcheck(f, mlp.parameters()));
}
