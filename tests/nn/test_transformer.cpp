#include "nn/transformer.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using testing::AllClose;

TEST_CASE("transformer: pre-LN and post-LN values, gradients, second gradients, errors", "[nn][transformer]") {
    ad::Rng rng(21);
    Tensor x = rng.normal({2, 3, 4});
    Tensor padding = ad::tensor({2, 3}, {1, 1, 1, 1, 1, 0});
    Tensor cutoff = ad::tensor({2, 3}, {1, 0.5, 0.7, 0.9, 0.3, 0});
    // With attention and feed-forward weights zero (no biases) both blocks add 0:
    // pre-LN gives a^2 x; post-LN gives N(a N(a x)) = N(x) for LayerNorm (scale invariant up to eps).
    nn::TransformerOptions pre = nn::TransformerOptions::nanopet(4, 2);
    nn::TransformerLayer layer(pre, rng);
    CHECK(layer.named_parameters()[0].first == "attention.in_proj.weight");
    for (auto& [name, p] : layer.named_parameters())
        if (name.rfind("norm", 0) != 0) std::fill_n(p.data(), p.numel(), 0.0);
    CHECK_THAT(layer.forward(x, padding, cutoff), AllClose(ad::mul(x, 0.5), 1e-14, 1e-14));
    nn::TransformerOptions post = pre;
    post.placement = nn::NormPlacement::post;
    post.residual_scale = 1.0;
    nn::TransformerLayer post_layer(post, rng);
    for (auto& [name, p] : post_layer.named_parameters())
        if (name.rfind("norm", 0) != 0) std::fill_n(p.data(), p.numel(), 0.0);
    Tensor ln = ad::layer_norm(x, Tensor::ones({4}), Tensor::zeros({4}), 1e-5);
    CHECK_THAT(post_layer.forward(x, padding, cutoff), AllClose(ad::layer_norm(ln, Tensor::ones({4}), Tensor::zeros({4}), 1e-5)));

    // Gradients for NanoPET's layer, PET's post-LN layer and a pre-LN RMSNorm SwiGLU variant.
    nn::TransformerOptions rms = nn::TransformerOptions::pet(4, 2, 6, nn::NormPlacement::pre);
    rms.norm = nn::NormKind::rms_norm;
    rms.ff_kind = nn::FeedForwardKind::gated;
    for (const auto& opt : {pre, nn::TransformerOptions::pet(4, 2, 6), rms}) {
        nn::TransformerLayer l(opt, rng);
        Tensor xg = rng.normal({2, 3, 4}).set_requires_grad(true);
        Tensor cg = cutoff.clone().set_requires_grad(true);
        std::vector<Tensor> wrt = {xg, cg, l.parameters()[0], l.parameters().back()};
        auto f = [&] { return l.forward(xg, padding, cg); };
        CHECK(nn_testing::inplace_gradcheck(f, wrt));
        CHECK(nn_testing::inplace_gradgradcheck(f, wrt));
    }
    nn::TransformerOptions bad = pre;
    bad.residual_scale = 0;
    REQUIRE_THROWS_WITH(nn::TransformerLayer(bad, rng), "TransformerLayer: expected residual_scale > 0, got 0");
}
