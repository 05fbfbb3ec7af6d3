#include "nn/cutoff_functions.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using nn::CutoffFunction;
using testing::AllClose;

TEST_CASE("smooth_cutoff: cosine and bump values, derivatives to third order, errors", "[nn][cutoff_functions]") {
    // r_c = 5, width 0.5: r0 = 4.5. At s = 1/4: cosine 0.5 (1 + cos(pi/4)); bump u = cot(pi/4) = 1,
    // 0.5 (1 + tanh 1). At s = 1/2 both are 1/2. Below r0: 1; from r_c on: 0.
    Tensor r = ad::tensor({1.0, 4.5, 4.625, 4.75, 5.0, 7.0});
    CHECK_THAT(nn::smooth_cutoff(r, CutoffFunction::cosine, 5.0, 0.5),
               AllClose(ad::tensor({1, 1, 0.5 * (1 + std::cos(M_PI / 4)), 0.5, 0, 0})));
    CHECK_THAT(nn::smooth_cutoff(r, CutoffFunction::bump, 5.0, 0.5),
               AllClose(ad::tensor({1, 1, 0.5 * (1 + std::tanh(1.0)), 0.5, 0, 0})));
    // Bump derivatives vanish (finite, no NaN) right next to both ends.
    Tensor ends = ad::tensor({4.5 + 1e-300, 4.5 + 1e-12, 5.0 - 1e-12});
    for (int k = 1; k <= 3; ++k) {
        Tensor d = nn::smooth_cutoff_derivative(ends, CutoffFunction::bump, 5.0, 0.5, k);
        for (long i = 0; i < 3; ++i) CHECK(d[i] == 0.0);
    }
    for (auto kind : {CutoffFunction::cosine, CutoffFunction::bump}) {
        // Inside the switching region (away from the ends, where the bump's derivatives are
        // too steep for central differences with eps 1e-6) and outside it on both sides.
        Tensor x = ad::tensor({3.0, 4.55, 4.62, 4.7, 4.8, 4.93, 6.0}).set_requires_grad(true);
        auto f = [kind](const ad::Inputs& in) { return nn::smooth_cutoff(in[0], kind, 5.0, 0.5); };
        CHECK(ad::gradcheck(f, {x}));
        CHECK(ad::gradgradcheck(f, {x}));
        // Third derivative: gradcheck of the second.
        auto f2 = [kind](const ad::Inputs& in) { return nn::smooth_cutoff_derivative(in[0], kind, 5.0, 0.5, 2); };
        CHECK(ad::gradcheck(f2, {x}));
    }
    CHECK(nn::parse_cutoff_function("bump") == CutoffFunction::bump);
    CHECK(nn::to_string(CutoffFunction::cosine) == "cosine");
    REQUIRE_THROWS_WITH(nn::parse_cutoff_function("tanh"), "cutoff function: expected cosine or bump, got 'tanh'");
    REQUIRE_THROWS_WITH(nn::smooth_cutoff(r, CutoffFunction::cosine, 5.0, 6.0),
                        "smooth_cutoff: expected cutoff > 0 and 0 < width <= cutoff, got cutoff 5 and width 6");
    // Fourth derivatives are not implemented: the error names the order.
    Tensor y = ad::tensor({4.7}).set_requires_grad(true);
    Tensor d3 = nn::smooth_cutoff_derivative(y, CutoffFunction::cosine, 5.0, 0.5, 3);
    REQUIRE_THROWS_WITH(ad::grad(ad::sum(d3), {y}, ad::CreateGraph::no), Catch::Contains("expected a derivative order in 0..3, got 4"));
}
