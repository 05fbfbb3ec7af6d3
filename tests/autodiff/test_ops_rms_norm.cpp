// Fused RMSNorm ops (autodiff/ops_rms_norm.cpp) against their composite twin, the RMSNorm built
// from square / mean / add / pow / mul (nn::RMSNorm before the fused op): values, first and second
// gradients, gradcheck and gradgradcheck of each op of the family, errors.
#include "autodiff/ops_rms_norm.hpp"
#include "tests/helpers.hpp"

using ad::Tensor;
using testing::AllClose;

namespace {
Tensor leaf(const Tensor& t) { return t.detach().set_requires_grad(true); }

Tensor rms_norm_naive(const Tensor& x, const Tensor& w, double eps) {
    Tensor ms = ad::mean(ad::square(x), {x.ndim() - 1}, true);
    return ad::mul(ad::mul(x, ad::pow(ad::add(ms, eps), -0.5)), w);
}
}  // namespace

TEST_CASE("rms_norm: values, gradients, second gradients, gradcheck, gradgradcheck, errors",
          "[autodiff][norm][rms_norm]") {
    ad::Rng rng(21);
    // values by hand: x = [3, 4] -> rms = sqrt(12.5 + eps); w = [1, 2]
    Tensor y0 = ad::rms_norm(ad::tensor({1, 2}, {3, 4}), ad::tensor({2}, {1, 2}), 1e-6);
    CHECK_THAT(y0, AllClose(ad::tensor({1, 2}, {3 / std::sqrt(12.5 + 1e-6), 8 / std::sqrt(12.5 + 1e-6)}), 1e-15));
    Tensor x = leaf(rng.normal({2, 3, 7}, 0.5, 2.0));
    Tensor w = leaf(rng.normal({7}, 1.0, 0.3));
    // same math as the twin, another rounding order (1/sqrt vs pow(-1/2), sums in four parts)
    CHECK_THAT(ad::rms_norm(x, w, 1e-6), AllClose(rms_norm_naive(x, w, 1e-6), 1e-13));
    // first and second gradients (the force-training path) against the twin, through ad::grad
    Tensor v = rng.normal({2, 3, 7});
    auto grads = [&](bool fused) {
        Tensor out = fused ? ad::rms_norm(x, w, 1e-6) : rms_norm_naive(x, w, 1e-6);
        std::vector<Tensor> g1 = ad::grad({out}, {x, w}, {v}, ad::CreateGraph::yes);
        Tensor s = ad::sum(ad::square(g1[0])) + ad::sum(ad::square(g1[1])) + ad::sum(ad::mul(g1[0], x));
        std::vector<Tensor> g2 = ad::grad(s, {x, w}, ad::CreateGraph::no);
        g1.insert(g1.end(), g2.begin(), g2.end());
        return g1;
    };
    std::vector<Tensor> fused = grads(true), naive = grads(false);
    // second derivatives mix ~10 terms of size ~10 (rounding order differs)
    for (size_t k = 0; k < fused.size(); ++k) CHECK_THAT(fused[k].detach(), AllClose(naive[k].detach(), 1e-10));
    // each op of the family, first and second derivatives by finite differences
    Tensor xs = leaf(rng.normal({3, 5})), ws = leaf(rng.normal({5}, 1.0, 0.3)), g = leaf(rng.normal({3, 5}));
    auto f = [](const ad::Inputs& in) { return ad::rms_norm(in[0], in[1], 1e-6); };
    CHECK(ad::gradcheck(f, {xs, ws}));
    CHECK(ad::gradgradcheck(f, {xs, ws}));
    auto fb = [](const ad::Inputs& in) { return ad::rms_norm_backward(in[0], in[1], in[2], 1e-6); };
    CHECK(ad::gradcheck(fb, {g, xs, ws}));
    CHECK(ad::gradgradcheck(fb, {g, xs, ws}));
    auto fw = [](const ad::Inputs& in) { return ad::rms_norm_wgrad(in[0], in[1], 1e-6); };
    CHECK(ad::gradcheck(fw, {g, xs}));
    CHECK(ad::gradgradcheck(fw, {g, xs}));
    REQUIRE_THROWS_WITH(ad::rms_norm(xs, Tensor::ones({4}), 1e-6), Catch::Contains("rms_norm: expected w[5], got [4]"));
    REQUIRE_THROWS_WITH(ad::rms_norm(xs, Tensor::ones({5}), 0.0), Catch::Contains("rms_norm: expected eps > 0, got 0"));
    REQUIRE_THROWS_WITH(ad::rms_norm_backward(Tensor::ones({2, 5}), xs, Tensor::ones({5}), 1e-6),
                        Catch::Contains("rms_norm_backward: expected g[3, 5], got [2, 5]"));
    REQUIRE_THROWS_WITH(ad::rms_norm_wgrad(Tensor::ones({2, 5}), xs, 1e-6),
                        Catch::Contains("rms_norm_wgrad: expected g[3, 5], got [2, 5]"));
}
