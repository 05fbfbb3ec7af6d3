// SiLU's fused derivative ops (autodiff/ops_silu.cpp) against the composite twin x sigmoid(x)
// (ad::silu's backward before the fused ops): values, first, second and third derivatives,
// gradcheck and gradgradcheck of each op, errors.
#include "autodiff/ops_silu.hpp"
#include "tests/helpers.hpp"

using ad::Tensor;
using testing::AllClose;

namespace {
Tensor leaf(const Tensor& t) { return t.detach().set_requires_grad(true); }
Tensor silu_naive(const Tensor& x) { return ad::mul(x, ad::sigmoid(x)); }
}  // namespace

TEST_CASE("silu_backward, silu_backward2: values, derivatives against the composite, gradcheck, errors",
          "[autodiff][elementwise][silu]") {
    ad::Rng rng(31);
    // by hand at x = 0: silu' = 1/2, silu'' = 1/2; x = 2: s = 1/(1+e^-2), silu' = s (1 + 2 (1 - s))
    const double s2 = 1.0 / (1.0 + std::exp(-2.0));
    CHECK_THAT(ad::silu_backward(ad::tensor({2}, {3, 1}), ad::tensor({2}, {0, 2})),
               AllClose(ad::tensor({2}, {1.5, s2 * (1 + 2 * (1 - s2))}), 1e-15));
    CHECK_THAT(ad::silu_backward2(ad::tensor({1}, {2}), ad::tensor({1}, {0})), AllClose(ad::tensor({1}, {1.0}), 1e-15));
    Tensor x = leaf(rng.normal({4, 6}, 0.0, 3.0));
    Tensor v = rng.normal({4, 6});
    // first, second and third derivatives through ad::grad (force training: the second)
    auto grads = [&](bool fused) {
        Tensor y = fused ? ad::silu(x) : silu_naive(x);
        std::vector<Tensor> out{y};
        Tensor g1 = ad::grad({y}, {x}, {v}, ad::CreateGraph::yes)[0];
        Tensor g2 = ad::grad({ad::sum(ad::square(g1))}, {x}, {}, ad::CreateGraph::yes)[0];
        Tensor g3 = ad::grad({ad::sum(ad::mul(g2, v))}, {x}, {}, ad::CreateGraph::no)[0];
        return std::vector<Tensor>{y.detach(), g1.detach(), g2.detach(), g3};
    };
    std::vector<Tensor> fused = grads(true), naive = grads(false);
    // same formulas, other rounding order: ~1e-15 relative on values of size <= ~10
    for (size_t k = 0; k < fused.size(); ++k) CHECK_THAT(fused[k], AllClose(naive[k], 1e-12));
    Tensor xs = leaf(rng.normal({3, 4}, 0.0, 2.0)), g = leaf(rng.normal({3, 4}));
    CHECK(ad::gradcheck([](const ad::Inputs& in) { return ad::silu(in[0]); }, {xs}));
    CHECK(ad::gradgradcheck([](const ad::Inputs& in) { return ad::silu(in[0]); }, {xs}));
    auto fb = [](const ad::Inputs& in) { return ad::silu_backward(in[0], in[1]); };
    CHECK(ad::gradcheck(fb, {g, xs}));
    CHECK(ad::gradgradcheck(fb, {g, xs}));
    auto fb2 = [](const ad::Inputs& in) { return ad::silu_backward2(in[0], in[1]); };
    CHECK(ad::gradcheck(fb2, {g, xs}));
    CHECK(ad::gradgradcheck(fb2, {g, xs}));
    REQUIRE_THROWS_WITH(ad::silu_backward(Tensor::ones({2}), xs),
                        Catch::Contains("silu_backward: expected g and x of one shape, got [2] and [3, 4]"));
    REQUIRE_THROWS_WITH(ad::silu_backward2(Tensor::ones({2}), xs),
                        Catch::Contains("silu_backward2: expected g and x of one shape, got [2] and [3, 4]"));
}
