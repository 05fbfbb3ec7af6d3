// Reductions and broadcasting (autodiff/ops_reduce.cpp): per op, hand values on tiny inputs,
// gradcheck, gradgradcheck and the error message. Hand values come from paper or Python's math
// module (ln 2 = 0.6931471805599453, ln 3 = 1.0986122886681098).
#include "tests/helpers.hpp"

using ad::Tensor;
using testing::AllClose;

namespace {
constexpr double kLn2 = 0.6931471805599453;
constexpr double kLn3 = 1.0986122886681098;

Tensor leaf(const Tensor& t) { return t.detach().set_requires_grad(true); }

// x[i, j, k] = 6 i + 2 j + k, shape [2, 3, 2]: every element tells where it came from.
Tensor arange_232() {
    std::vector<double> v(12);
    for (int i = 0; i < 12; ++i) v[i] = i;
    return ad::tensor({2, 3, 2}, v);
}

// Values 0.5 apart in shuffled order: no ties within any eps, so max has a unique argmax.
Tensor distinct(const ad::Shape& shape, uint64_t seed) {
    ad::Rng rng(seed);
    std::vector<long> p = rng.permutation(ad::numel(shape));
    std::vector<double> v(p.size());
    for (size_t i = 0; i < p.size(); ++i) v[i] = 0.5 * static_cast<double>(p[i]) - 2.0;
    return ad::tensor(shape, v);
}
}  // namespace

TEST_CASE("sum: values, gradients, second gradients, errors", "[autodiff][reduce][sum]") {
    Tensor x = ad::tensor({2, 3}, {1, 2, 3, 4, 5, 6});
    CHECK_THAT(ad::sum(x), AllClose(ad::Tensor::scalar(21)));
    CHECK_THAT(ad::sum(ad::Tensor::scalar(2.5)), AllClose(ad::Tensor::scalar(2.5)));
    CHECK_THAT(ad::sum(x, {0}), AllClose(ad::tensor({5, 7, 9})));
    CHECK_THAT(ad::sum(x, {1}), AllClose(ad::tensor({6, 15})));
    CHECK_THAT(ad::sum(x, {-1}, true), AllClose(ad::tensor({2, 1}, {6, 15})));
    CHECK_THAT(ad::sum(x, {0, 1}), AllClose(ad::Tensor::scalar(21)));
    CHECK_THAT(ad::sum(x, {1, 0}, true), AllClose(ad::tensor({1, 1}, {21})));
    // sum over i and k of 6 i + 2 j + k = 8 j + 14
    CHECK_THAT(ad::sum(arange_232(), {0, 2}), AllClose(ad::tensor({14, 22, 30})));
    CHECK_THAT(ad::sum(arange_232(), {2, 0}, true), AllClose(ad::tensor({1, 3, 1}, {14, 22, 30})));
    // no axes: an identity that must not turn its input into a graph node
    Tensor l = leaf(x);
    CHECK_THAT(ad::sum(l, {}, true), AllClose(x));
    CHECK_THAT(ad::sum(l, {}, false), AllClose(x));
    CHECK(l.is_leaf());

    ad::Rng rng(21);
    Tensor a = leaf(rng.normal({2, 3, 4}));
    auto all = [](const ad::Inputs& in) { return ad::sum(in[0]); };
    auto axes = [](const ad::Inputs& in) { return ad::sum(in[0], {0, 2}); };
    auto keep = [](const ad::Inputs& in) { return ad::sum(in[0], {-2}, true); };
    for (const ad::Function& f : {ad::Function(all), ad::Function(axes), ad::Function(keep)}) {
        CHECK(ad::gradcheck(f, {a}));
        CHECK(ad::gradgradcheck(f, {a}));
    }
    // sum(x) has no error path; the axis form checks its axes
    REQUIRE_THROWS_WITH(ad::sum(x, {2}), Catch::Contains("sum: expected an axis in [-2, 2), got 2"));
    REQUIRE_THROWS_WITH(ad::sum(x, {0, -2}), Catch::Contains("sum: expected distinct axes, got axis -2 twice"));
}

TEST_CASE("mean: values, gradients, second gradients, errors", "[autodiff][reduce][mean]") {
    Tensor x = ad::tensor({2, 2}, {1, 2, 3, 4});
    CHECK_THAT(ad::mean(x), AllClose(ad::Tensor::scalar(2.5)));
    CHECK_THAT(ad::mean(x, {0}), AllClose(ad::tensor({2, 3})));
    CHECK_THAT(ad::mean(x, {1}, true), AllClose(ad::tensor({2, 1}, {1.5, 3.5})));
    // mean over i and k of 6 i + 2 j + k = 2 j + 3.5
    CHECK_THAT(ad::mean(arange_232(), {0, 2}), AllClose(ad::tensor({3.5, 5.5, 7.5})));

    ad::Rng rng(22);
    Tensor a = leaf(rng.normal({3, 4}));
    auto all = [](const ad::Inputs& in) { return ad::mean(in[0]); };
    auto axis = [](const ad::Inputs& in) { return ad::mean(in[0], {1}, true); };
    for (const ad::Function& f : {ad::Function(all), ad::Function(axis)}) {
        CHECK(ad::gradcheck(f, {a}));
        CHECK(ad::gradgradcheck(f, {a}));
    }
    REQUIRE_THROWS_WITH(ad::mean(ad::Tensor::zeros({0})), Catch::Contains("mean: expected a non-empty tensor, got shape [0]"));
    REQUIRE_THROWS_WITH(ad::mean(ad::Tensor::zeros({2, 0}), {1}),
                        Catch::Contains("mean: expected non-empty reduced axes, got shape [2, 0]"));
    REQUIRE_THROWS_WITH(ad::mean(x, {-3}), Catch::Contains("mean: expected an axis in [-2, 2), got -3"));
}

TEST_CASE("max: values, gradients, second gradients, errors", "[autodiff][reduce][max]") {
    Tensor x = ad::tensor({2, 3}, {1, 5, 3, 4, 2, 6});
    CHECK_THAT(ad::max(x, 1), AllClose(ad::tensor({5, 6})));
    CHECK_THAT(ad::max(x, 0), AllClose(ad::tensor({4, 5, 6})));
    CHECK_THAT(ad::max(x, -1, true), AllClose(ad::tensor({2, 1}, {5, 6})));
    CHECK_THAT(ad::max(arange_232(), 1), AllClose(ad::tensor({2, 2}, {4, 5, 10, 11})));  // j = 2
    // ties: the gradient goes to the first maximal element only
    Tensor t = leaf(ad::tensor({2, 2, 1}));
    CHECK_THAT(ad::grad(ad::sum(ad::max(t, 0)), {t}, ad::CreateGraph::no)[0], AllClose(ad::tensor({1, 0, 0})));

    Tensor a = leaf(distinct({3, 4, 2}, 23));
    for (long axis : {0, 1, -1}) {
        auto f = [axis](const ad::Inputs& in) { return ad::max(in[0], axis); };
        CHECK(ad::gradcheck(f, {a}));
        CHECK(ad::gradgradcheck(f, {a}));
    }
    auto keep = [](const ad::Inputs& in) { return ad::max(in[0], 1, true); };
    CHECK(ad::gradcheck(keep, {a}));
    REQUIRE_THROWS_WITH(ad::max(x, 2), Catch::Contains("max: expected an axis in [-2, 2), got 2"));
    REQUIRE_THROWS_WITH(ad::max(ad::Tensor::zeros({2, 0}), 1),
                        Catch::Contains("max: expected a non-empty axis 1, got shape [2, 0]"));
}

TEST_CASE("sum_to: values, gradients, second gradients, errors", "[autodiff][reduce][sum_to]") {
    Tensor x = ad::tensor({2, 3}, {1, 2, 3, 4, 5, 6});
    CHECK_THAT(ad::sum_to(x, {3}), AllClose(ad::tensor({5, 7, 9})));              // column sums
    CHECK_THAT(ad::sum_to(x, {1, 3}), AllClose(ad::tensor({1, 3}, {5, 7, 9})));
    CHECK_THAT(ad::sum_to(x, {2, 1}), AllClose(ad::tensor({2, 1}, {6, 15})));      // row sums
    CHECK_THAT(ad::sum_to(x, {}), AllClose(ad::Tensor::scalar(21)));
    CHECK_THAT(ad::sum_to(x, {2, 3}), AllClose(x));
    // general path: [2, 3, 2] -> [3, 1], sum over i and k of 6 i + 2 j + k = 8 j + 14
    CHECK_THAT(ad::sum_to(arange_232(), {3, 1}), AllClose(ad::tensor({3, 1}, {14, 22, 30})));
    CHECK_THAT(ad::sum_to(arange_232(), {2, 1, 1}), AllClose(ad::tensor({2, 1, 1}, {15, 51})));

    ad::Rng rng(24);
    Tensor a = leaf(rng.normal({2, 3, 4}));
    for (const ad::Shape& s : {ad::Shape{4}, ad::Shape{3, 1}, ad::Shape{2, 1, 4}, ad::Shape{}}) {
        auto f = [s](const ad::Inputs& in) { return ad::sum_to(in[0], s); };
        CHECK(ad::gradcheck(f, {a}));
        CHECK(ad::gradgradcheck(f, {a}));
    }
    REQUIRE_THROWS_WITH(ad::sum_to(x, {4}), Catch::Contains("sum_to: cannot broadcast [4] with [2, 3]"));
    REQUIRE_THROWS_WITH(ad::sum_to(ad::tensor({1, 2, 3}), {2, 3}),
                        Catch::Contains("sum_to: expected a shape that broadcasts to [3], got [2, 3]"));
}

TEST_CASE("expand: values, gradients, second gradients, errors", "[autodiff][reduce][expand]") {
    CHECK_THAT(ad::expand(ad::tensor({1, 2, 3}), {2, 3}), AllClose(ad::tensor({2, 3}, {1, 2, 3, 1, 2, 3})));
    CHECK_THAT(ad::expand(ad::tensor({2, 1}, {1, 2}), {2, 3}), AllClose(ad::tensor({2, 3}, {1, 1, 1, 2, 2, 2})));
    CHECK_THAT(ad::expand(ad::Tensor::scalar(7), {2}), AllClose(ad::tensor({7, 7})));
    CHECK_THAT(ad::expand(ad::tensor({2, 1, 2}, {1, 2, 3, 4}), {2, 2, 2}),
               AllClose(ad::tensor({2, 2, 2}, {1, 2, 1, 2, 3, 4, 3, 4})));

    ad::Rng rng(25);
    for (const ad::Shape& from : {ad::Shape{4}, ad::Shape{3, 1}, ad::Shape{2, 1, 4}, ad::Shape{}}) {
        Tensor a = leaf(rng.normal(from));
        auto f = [](const ad::Inputs& in) { return ad::expand(in[0], {2, 3, 4}); };
        CHECK(ad::gradcheck(f, {a}));
        CHECK(ad::gradgradcheck(f, {a}));
    }
    REQUIRE_THROWS_WITH(ad::expand(ad::tensor({1, 2, 3}), {2, 4}), Catch::Contains("expand: cannot broadcast [3] with [2, 4]"));
    REQUIRE_THROWS_WITH(ad::expand(ad::tensor({2, 3}, {1, 2, 3, 4, 5, 6}), {3}),
                        Catch::Contains("expand: expected a shape that [2, 3] broadcasts to, got [3]"));
}

TEST_CASE("logsumexp: values, gradients, second gradients, errors", "[autodiff][reduce][logsumexp]") {
    // row 0: log(1 + 1) = ln 2;  row 1: log(e + e^2) = 2 + log(1 + e^-1) = 2.313261687518223
    Tensor x = ad::tensor({2, 2}, {0, 0, 1, 2});
    CHECK_THAT(ad::logsumexp(x, 1), AllClose(ad::tensor({kLn2, 2.313261687518223})));
    CHECK_THAT(ad::logsumexp(x, -1, true), AllClose(ad::tensor({2, 1}, {kLn2, 2.313261687518223})));
    // column 0: log(1 + e) = 1.3132616875182228;  column 1: log(1 + e^2) = 2.1269280110429722
    CHECK_THAT(ad::logsumexp(x, 0), AllClose(ad::tensor({1.3132616875182228, 2.1269280110429722})));
    // the max is subtracted first, so large values do not overflow: 1000 + ln 2
    CHECK_THAT(ad::logsumexp(ad::tensor({1000, 1000}), 0), AllClose(ad::tensor({}, {1000 + kLn2})));

    ad::Rng rng(26);
    Tensor a = leaf(rng.normal({3, 4, 2}));
    for (long axis : {0, 1, 2}) {
        auto f = [axis](const ad::Inputs& in) { return ad::logsumexp(in[0], axis, axis == 1); };
        CHECK(ad::gradcheck(f, {a}));
        CHECK(ad::gradgradcheck(f, {a}));
    }
    REQUIRE_THROWS_WITH(ad::logsumexp(x, 2), Catch::Contains("logsumexp: expected an axis in [-2, 2), got 2"));
    REQUIRE_THROWS_WITH(ad::logsumexp(ad::Tensor::zeros({2, 0}), 1),
                        Catch::Contains("logsumexp: expected a non-empty axis 1, got shape [2, 0]"));
}

TEST_CASE("log_softmax: values, gradients, second gradients, errors", "[autodiff][reduce][log_softmax]") {
    // [0, ln 3] - log(1 + 3) = [-ln 4, ln 3 - ln 4]; shifting every element leaves it unchanged
    Tensor expect = ad::tensor({2, 2}, {-2 * kLn2, kLn3 - 2 * kLn2, -2 * kLn2, kLn3 - 2 * kLn2});
    CHECK_THAT(ad::log_softmax(ad::tensor({2, 2}, {0, kLn3, 1000, 1000 + kLn3}), 1), AllClose(expect, 1e-12, 1e-12));
    CHECK_THAT(ad::log_softmax(ad::tensor({2, 1}, {0, kLn3}), 0), AllClose(ad::tensor({2, 1}, {-2 * kLn2, kLn3 - 2 * kLn2})));

    ad::Rng rng(27);
    Tensor a = leaf(rng.normal({3, 4}));
    for (long axis : {0, -1}) {
        auto f = [axis](const ad::Inputs& in) { return ad::log_softmax(in[0], axis); };
        CHECK(ad::gradcheck(f, {a}));
        CHECK(ad::gradgradcheck(f, {a}));
    }
    REQUIRE_THROWS_WITH(ad::log_softmax(a, 2), Catch::Contains("log_softmax: expected an axis in [-2, 2), got 2"));
}

TEST_CASE("softmax: values, gradients, second gradients, errors", "[autodiff][reduce][softmax]") {
    // e^[0, ln 3] / 4 = [1/4, 3/4]; each row sums to 1 even for large values
    CHECK_THAT(ad::softmax(ad::tensor({2, 2}, {0, kLn3, -1000, -1000 + kLn3}), 1),
               AllClose(ad::tensor({2, 2}, {0.25, 0.75, 0.25, 0.75})));
    CHECK_THAT(ad::softmax(ad::tensor({2, 2}, {0, 5, kLn3, 5}), 0), AllClose(ad::tensor({2, 2}, {0.25, 0.5, 0.75, 0.5})));

    ad::Rng rng(28);
    Tensor a = leaf(rng.normal({3, 4}));
    for (long axis : {0, 1}) {
        auto f = [axis](const ad::Inputs& in) { return ad::softmax(in[0], axis); };
        CHECK(ad::gradcheck(f, {a}));
        CHECK(ad::gradgradcheck(f, {a}));
    }
    REQUIRE_THROWS_WITH(ad::softmax(a, -3), Catch::StartsWith("softmax: expected an axis in [-2, 2), got -3"));
}
