// PET transformer layer (nn/pet/pet_transformer): values in closed-form cases, padding and
// per-centre independence, gradients and second gradients, the shape error.
#include "nn/pet/pet_transformer.hpp"
#include "autodiff/ops.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using nn::pet::PetActivation;
using nn::pet::PetNorm;
using nn::pet::PetTransformerLayer;
using nn::pet::PetTransformerType;
using testing::AllClose;

TEST_CASE("pet_transformer: values, padding, gradients, second gradients, errors", "[nn][pet]") {
    ad::Rng rng(31);
    Tensor node = rng.normal({2, 6});
    Tensor edges = rng.normal({2, 3, 4});
    Tensor padding = ad::tensor({2, 3}, {1, 1, 1, 1, 1, 0});
    Tensor cutoff = ad::tensor({2, 3}, {1, 0.5, 0.7, 0.9, 0.3, 0});
    auto zero_non_norm = [](PetTransformerLayer& l) {
        for (auto& [name, p] : l.named_parameters())
            if (name.rfind("norm", 0) != 0) std::fill_n(p.data(), p.numel(), 0.0);
    };
    // All weights and biases 0 (norm weights 1): PreLN adds 0 to edges and node.
    PetTransformerLayer pre(4, 6, 2, 5, PetNorm::rms_norm, PetActivation::swiglu, PetTransformerType::pre_ln, rng);
    CHECK(pre.named_parameters()[0].first == "attention.in_proj.weight");
    zero_non_norm(pre);
    auto [n0, x0] = pre.forward(node, edges, padding, cutoff);
    CHECK_THAT(n0, AllClose(node, 0, 0));
    CHECK_THAT(x0, AllClose(edges, 0, 0));
    // PostLN: edges -> N_m(N_a(x)) with RMSNorm, N(x) = x / sqrt(mean x^2 + eps); node unchanged.
    PetTransformerLayer post(4, 6, 2, 5, PetNorm::rms_norm, PetActivation::silu, PetTransformerType::post_ln, rng);
    zero_non_norm(post);
    auto rms = [](const Tensor& t) {
        return ad::div(t, ad::sqrt(ad::add(ad::mean(ad::square(t), {2}, true), 2.220446049250313e-16)));
    };
    auto [n1, x1] = post.forward(node, edges, padding, cutoff);
    CHECK_THAT(n1, AllClose(node, 0, 0));
    CHECK_THAT(x1, AllClose(rms(rms(edges)), 1e-14, 1e-14));  // rounding of two normalisations

    // Random weights: a padded token's input does not change the real outputs; centres are independent.
    for (auto type : {PetTransformerType::pre_ln, PetTransformerType::post_ln})
        for (long D : {4L, 6L}) {
            PetTransformerLayer l(4, D, 2, 5, PetNorm::layer_norm, PetActivation::swiglu, type, rng);
            Tensor nd = rng.normal({2, D});
            auto [na, xa] = l.forward(nd, edges, padding, cutoff);
            Tensor e2 = edges.clone();
            e2.data()[(1 * 3 + 2) * 4 + 1] += 3.0;  // centre 1, token 2: padding
            auto [nb, xb] = l.forward(nd, e2, padding, cutoff);
            CHECK_THAT(nb, AllClose(na, 0, 0));
            CHECK_THAT(ad::slice(xb, 1, 0, 2), AllClose(ad::slice(xa, 1, 0, 2), 0, 0));
            auto [nc, xc] = l.forward(ad::slice(nd, 0, 0, 1), ad::slice(edges, 0, 0, 1), ad::slice(padding, 0, 0, 1),
                                      ad::slice(cutoff, 0, 0, 1));
            CHECK_THAT(nc, AllClose(ad::slice(na, 0, 0, 1), 1e-13, 1e-13));  // same ops, other BLAS blocking
            CHECK_THAT(xc, AllClose(ad::slice(xa, 0, 0, 1), 1e-13, 1e-13));
        }

    // Gradients w.r.t. inputs (node, edges, cutoff) and parameters, first and second order.
    for (auto type : {PetTransformerType::pre_ln, PetTransformerType::post_ln})
        for (long D : {4L, 6L}) {
            PetTransformerLayer l(4, D, 2, 5, PetNorm::rms_norm, PetActivation::swiglu, type, rng);
            Tensor ng = rng.normal({2, D}).set_requires_grad(true);
            Tensor xg = rng.normal({2, 3, 4}).set_requires_grad(true);
            Tensor cg = cutoff.clone().set_requires_grad(true);
            std::vector<Tensor> wrt = {ng, xg, cg, l.parameters()[0], l.parameters().back()};
            auto f = [&] {
                auto [a, b] = l.forward(ng, xg, padding, cg);
                return ad::concat({ad::reshape(a, {-1}), ad::reshape(b, {-1})}, 0);
            };
            CHECK(nn_testing::inplace_gradcheck(f, wrt));
            CHECK(nn_testing::inplace_gradgradcheck(f, wrt));
        }
    REQUIRE_THROWS_WITH(pre.forward(node, edges, padding, ad::slice(cutoff, 1, 0, 2)),
                        "PetTransformerLayer: expected node [B, 6], edges [B, T, 4], padding and cutoff [B, T], got node "
                        "[2, 6], edges [2, 3, 4], padding [2, 3], cutoff [2, 2]");
    REQUIRE_THROWS_WITH(PetTransformerLayer(6, 6, 4, 5, PetNorm::rms_norm, PetActivation::swiglu, PetTransformerType::pre_ln, rng),
                        "PetTransformerLayer: expected d_pet divisible by n_heads and positive widths, got d_pet 6, d_node 6, "
                        "n_heads 4, d_feedforward 5");
}
