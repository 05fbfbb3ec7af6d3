#include "nn/attention.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using nn::AttentionCutoff;
using testing::AllClose;

namespace {
// Tokens [B, T, d] of a fresh rng with the first n_real[b] tokens real; padding and cutoff to match
// (cutoff in (0.2, 1) on real tokens, 0 on padding).
struct Tokens {
    Tensor x, padding, cutoff;
};
Tokens tokens(ad::Rng& rng, long B, long T, long d, const std::vector<long>& n_real) {
    Tokens t{rng.normal({B, T, d}), Tensor::zeros({B, T}), Tensor::zeros({B, T})};
    for (long b = 0; b < B; ++b)
        for (long u = 0; u < n_real[b]; ++u) t.padding.data()[b * T + u] = 1, t.cutoff.data()[b * T + u] = rng.uniform(0.2, 1.0);
    return t;
}
}  // namespace

TEST_CASE("attention: values, padding, zero neighbours, gradients, second gradients, errors", "[nn][attention]") {
    ad::Rng rng(11);
    // One real token: the softmax weight is 1, so y = W_out v: renormalised by c / (c + 1e-6),
    // log-weight exactly.
    for (auto mode : {AttentionCutoff::renormalise, AttentionCutoff::log_weight}) {
        nn::MultiHeadAttention att(2, 1, mode, rng, false);
        std::vector<Tensor> p = att.parameters();  // in_proj [6, 2], out_proj [2, 2]
        std::copy_n(std::vector<double>{1, 0, 0, 1, 1, 0, 0, 1, 1, 2, 3, 4}.data(), 12, p[0].data());  // v = [x0 + 2 x1, 3 x0 + 4 x1]
        std::copy_n(std::vector<double>{1, 0, 1, 1}.data(), 4, p[1].data());
        Tensor x = ad::tensor({1, 1, 2}, {1, -1});  // v = [-1, -1], y = [-1, -2]
        Tensor y = att.forward(x, Tensor::ones({1, 1}), ad::tensor({1, 1}, {0.5}));
        const double k = mode == AttentionCutoff::renormalise ? 0.5 / (0.5 + 1e-6) : 1.0;
        CHECK_THAT(y, AllClose(ad::tensor({1, 1, 2}, {-k, -2 * k})));
    }
    for (auto mode : {AttentionCutoff::renormalise, AttentionCutoff::log_weight}) {
        nn::MultiHeadAttention att(4, 2, mode, rng, true);
        // Padding does not affect real tokens: centre 0 has 2 real of T = 4; compare with T = 2.
        Tokens t = tokens(rng, 2, 4, 4, {2, 3});
        Tensor y = att.forward(t.x, t.padding, t.cutoff);
        Tensor y_short = att.forward(ad::slice(t.x, 1, 0, 2), ad::slice(t.padding, 1, 0, 2), ad::slice(t.cutoff, 1, 0, 2));
        for (long u = 0; u < 2; ++u)
            for (long f = 0; f < 4; ++f) CHECK(y[u * 4 + f] == Approx(y_short[u * 4 + f]).epsilon(1e-14));
        // Changing a padded token's values changes no real output.
        Tensor x2 = t.x.clone();
        for (long f = 0; f < 4; ++f) x2.data()[3 * 4 + f] += 100;  // centre 0, token 3 (padding)
        Tensor y2 = att.forward(x2, t.padding, t.cutoff);
        for (long i = 0; i < 2 * 4; ++i) CHECK(y2[i] == y[i]);
        // A centre with zero neighbours gives finite output.
        Tokens empty = tokens(rng, 1, 3, 4, {0});
        Tensor ye = att.forward(empty.x, empty.padding, empty.cutoff);
        for (long i = 0; i < ye.numel(); ++i) CHECK(std::isfinite(ye[i]));
        // Gradients w.r.t. tokens, cutoff weights and parameters (small cutoff weights away from
        // log_weight's clamp at 1e-15).
        Tokens g = tokens(rng, 2, 3, 4, {3, 2});
        g.x.set_requires_grad(true);
        g.cutoff.set_requires_grad(true);
        std::vector<Tensor> wrt = att.parameters();
        wrt.push_back(g.x);
        wrt.push_back(g.cutoff);
        auto f = [&] { return att.forward(g.x, g.padding, g.cutoff); };
        CHECK(nn_testing::inplace_gradcheck(f, wrt));
        CHECK(nn_testing::inplace_gradgradcheck(f, wrt));
    }
    REQUIRE_THROWS_WITH(nn::MultiHeadAttention(6, 4, AttentionCutoff::renormalise, rng),
                        "MultiHeadAttention: expected d > 0 divisible by n_heads > 0, got d 6 and n_heads 4");
    nn::MultiHeadAttention att(4, 2, AttentionCutoff::renormalise, rng);
    REQUIRE_THROWS_WITH(att.forward(Tensor::ones({2, 3, 5}), Tensor::ones({2, 3}), Tensor::ones({2, 3})),
                        "MultiHeadAttention: expected x[B, T, 4], got [2, 3, 5]");
    REQUIRE_THROWS_WITH(att.forward(Tensor::ones({2, 3, 4}), Tensor::ones({2, 2}), Tensor::ones({2, 3})),
                        "MultiHeadAttention: expected padding and cutoff of shape [2, 3], got [2, 2] and [2, 3]");
}
