#include <algorithm>

#include "nn/init.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using testing::AllClose;

namespace {
struct Stats {
    double min, max, mean, var;
};
Stats stats_of(const Tensor& t) {
    Stats s{t[0], t[0], 0, 0};
    for (long i = 0; i < t.numel(); ++i) {
        s.min = std::min(s.min, t[i]);
        s.max = std::max(s.max, t[i]);
        s.mean += t[i];
    }
    s.mean /= t.numel();
    for (long i = 0; i < t.numel(); ++i) s.var += (t[i] - s.mean) * (t[i] - s.mean);
    s.var /= t.numel();
    return s;
}
}  // namespace

// U(-b, b) has mean 0 and variance b^2/3; over N = 80000 values the sample mean has standard
// deviation b / sqrt(3 N) ~ 0.002 b (5 sigma below), the sample variance a relative spread ~ 0.3%.
TEST_CASE("init: kaiming_uniform is U(-1/sqrt(in), 1/sqrt(in)) as torch.nn.Linear", "[nn][unit]") {
    ad::Rng rng(7);
    Tensor w = nn::init::kaiming_uniform({200, 400}, rng);
    const double b = 1.0 / 20.0;  // 1/sqrt(400)
    Stats s = stats_of(w);
    CHECK(w.shape() == ad::Shape{200, 400});
    CHECK(s.min >= -b);
    CHECK(s.max < b);
    CHECK(s.max > 0.999 * b);  // the whole range is used
    CHECK(s.min < -0.999 * b);
    CHECK(std::fabs(s.mean) < 5 * b / std::sqrt(3.0 * 80000));
    CHECK(s.var == Approx(b * b / 3).epsilon(0.02));
}

TEST_CASE("init: the same seed gives the same values, another seed other values", "[nn][unit]") {
    ad::Rng a(11), b(11), c(12);
    Tensor wa = nn::init::kaiming_uniform({3, 4}, a), wb = nn::init::kaiming_uniform({3, 4}, b);
    Tensor wc = nn::init::kaiming_uniform({3, 4}, c);
    CHECK_THAT(wa, AllClose(wb, 0, 0));
    CHECK_FALSE(AllClose(wc, 0, 0).match(wa));
}

TEST_CASE("init: bias_uniform and xavier_uniform bounds", "[nn][unit]") {
    ad::Rng rng(5);
    Stats bias = stats_of(nn::init::bias_uniform(20000, 25, rng));
    CHECK(bias.min >= -0.2);
    CHECK(bias.max < 0.2);
    CHECK(bias.max > 0.19);
    // xavier: b = sqrt(6 / (in + out)) = sqrt(6 / 600) = 0.1; gain scales it.
    Stats x = stats_of(nn::init::xavier_uniform({200, 400}, rng, 2.0));
    CHECK(x.min >= -0.2);
    CHECK(x.max < 0.2);
    CHECK(x.var == Approx(0.04 / 3).epsilon(0.02));
    CHECK_THAT(nn::init::zeros({2, 2}), AllClose(Tensor::zeros({2, 2}), 0, 0));
    CHECK_THAT(nn::init::ones({3}), AllClose(Tensor::ones({3}), 0, 0));
}

TEST_CASE("init: errors name the shape", "[nn][unit]") {
    ad::Rng rng(0);
    REQUIRE_THROWS_WITH(nn::init::kaiming_uniform({5}, rng),
                        "kaiming_uniform: expected a weight shape [out, in, ...], got [5]");
    REQUIRE_THROWS_WITH(nn::init::kaiming_uniform({5, 0}, rng), "kaiming_uniform: expected fan_in > 0, got shape [5, 0]");
}
