// Fused LayerNorm ops (autodiff/ops_norm.cpp) against their naive twin, the LayerNorm built from
// mean / sub / square / sqrt / div / mul / add: values, first and second gradients, errors.
#include "tests/helpers.hpp"

using ad::Tensor;
using testing::AllClose;

namespace {
Tensor leaf(const Tensor& t) { return t.detach().set_requires_grad(true); }

// The naive twin: the composite LayerNorm (as nn::LayerNorm was written before the fused op).
Tensor layer_norm_naive(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
    const long last = x.ndim() - 1;
    Tensor xc = x - ad::mean(x, {last}, true);
    Tensor var = ad::mean(ad::square(xc), {last}, true);
    return xc / ad::sqrt(var + eps) * w + b;
}
}  // namespace

TEST_CASE("layer_norm: values and gradients equal the composite twin", "[autodiff][norm][layer_norm]") {
    ad::Rng rng(11);
    Tensor x = leaf(rng.normal({2, 3, 7}, 0.5, 2.0));
    Tensor w = leaf(rng.normal({7}, 1.0, 0.3));
    Tensor b = leaf(rng.normal({7}));
    Tensor y = ad::layer_norm(x, w, b, 1e-5), y_naive = layer_norm_naive(x, w, b, 1e-5);
    CHECK_THAT(y, AllClose(y_naive, 1e-12));  // same math, different summation order
    // First and second gradients (force-training path) against the twin, through ad::grad.
    Tensor v = rng.normal({2, 3, 7});
    auto grads = [&](bool fused) {
        Tensor out = fused ? ad::layer_norm(x, w, b, 1e-5) : layer_norm_naive(x, w, b, 1e-5);
        std::vector<Tensor> g1 = ad::grad({out}, {x, w, b}, {v}, ad::CreateGraph::yes);
        Tensor s = ad::sum(ad::square(g1[0])) + ad::sum(ad::square(g1[1])) + ad::sum(g1[2] * g1[1]);
        std::vector<Tensor> g2 = ad::grad(s, {x, w, b}, ad::CreateGraph::no);
        g1.insert(g1.end(), g2.begin(), g2.end());
        return g1;
    };
    std::vector<Tensor> fused = grads(true), naive = grads(false);
    for (size_t k = 0; k < fused.size(); ++k) CHECK_THAT(fused[k].detach(), AllClose(naive[k].detach(), 1e-10));
    // the second gradient with recording off (layer_norm_backward's one-pass kernel for w P(gz)
    // and sum_r g P(gz)) equals the recorded one (built from ops)
    Tensor out = ad::layer_norm(x, w, b, 1e-5);
    std::vector<Tensor> g1 = ad::grad({out}, {x, w, b}, {v}, ad::CreateGraph::yes);
    Tensor s = ad::sum(ad::square(g1[0])) + ad::sum(ad::square(g1[1])) + ad::sum(g1[2] * g1[1]);
    std::vector<Tensor> off = ad::grad(s, {x, w, b}, ad::CreateGraph::no), on = ad::grad(s, {x, w, b}, ad::CreateGraph::yes);
    for (size_t k = 0; k < off.size(); ++k) CHECK_THAT(off[k], AllClose(on[k].detach(), 1e-12));
}

TEST_CASE("layer_norm: gradcheck, gradgradcheck, errors", "[autodiff][norm][layer_norm]") {
    ad::Rng rng(12);
    Tensor x = leaf(rng.normal({3, 5}));
    Tensor w = leaf(rng.normal({5}, 1.0, 0.3));
    Tensor b = leaf(rng.normal({5}));
    auto f = [](const ad::Inputs& in) { return ad::layer_norm(in[0], in[1], in[2], 1e-5); };
    CHECK(ad::gradcheck(f, {x, w, b}));
    CHECK(ad::gradgradcheck(f, {x, w, b}));
    // the fused backward ops on their own
    Tensor g = leaf(rng.normal({3, 5}));
    auto fb = [](const ad::Inputs& in) { return ad::layer_norm_backward(in[0], in[1], in[2], 1e-5); };
    CHECK(ad::gradcheck(fb, {g, x, w}));
    CHECK(ad::gradgradcheck(fb, {g, x, w}));
    auto fw = [](const ad::Inputs& in) { return ad::layer_norm_wgrad(in[0], in[1], 1e-5); };
    CHECK(ad::gradcheck(fw, {g, x}));
    CHECK(ad::gradgradcheck(fw, {g, x}));
    REQUIRE_THROWS_WITH(ad::layer_norm(x, Tensor::ones({4}), Tensor::zeros({4}), 1e-5),
                        Catch::Contains("layer_norm: expected w[5], got [4]"));
    REQUIRE_THROWS_WITH(ad::layer_norm(x, Tensor::ones({5}), Tensor::zeros({4}), 1e-5),
                        Catch::Contains("layer_norm: expected b[5], got [4]"));
    REQUIRE_THROWS_WITH(ad::layer_norm(x, Tensor::ones({5}), Tensor::zeros({5}), 0.0),
                        Catch::Contains("layer_norm: expected eps > 0, got 0"));
    REQUIRE_THROWS_WITH(ad::layer_norm_backward(Tensor::ones({2, 5}), x, Tensor::ones({5}), 1e-5),
                        Catch::Contains("layer_norm_backward: expected g[3, 5], got [2, 5]"));
}
