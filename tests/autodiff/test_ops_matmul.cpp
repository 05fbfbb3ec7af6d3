// Matrix products (autodiff/ops_matmul.cpp): per op, hand values on tiny inputs, gradcheck,
// gradgradcheck and the error message. Non-square shapes throughout, so a transposed gradient
// cannot pass by accident; the second-order checks also exercise the internal a^T b^T product.
#include "tests/helpers.hpp"

using ad::Tensor;
using testing::AllClose;

namespace {
Tensor leaf(const Tensor& t) { return t.detach().set_requires_grad(true); }

const Tensor kA = ad::tensor({2, 2}, {1, 2, 3, 4});
const Tensor kB = ad::tensor({2, 2}, {5, 6, 7, 8});
}  // namespace

TEST_CASE("matmul: values, gradients, second gradients, errors", "[autodiff][matmul][matmul]") {
    CHECK_THAT(ad::matmul(kA, kB), AllClose(ad::tensor({2, 2}, {19, 22, 43, 50})));
    CHECK_THAT(ad::matmul(ad::tensor({1, 3}, {1, 2, 3}), ad::tensor({3, 2}, {1, 0, 0, 1, 1, 1})),
               AllClose(ad::tensor({1, 2}, {4, 5})));
    // batched: [[1,2,3],[4,5,6]] [[1,0],[0,1],[1,1]] = [[4,5],[10,11]];
    //          [[1,1,1],[2,0,-1]] [[1,2],[3,4],[5,6]] = [[9,12],[-3,-2]]
    Tensor a3 = ad::tensor({2, 2, 3}, {1, 2, 3, 4, 5, 6, 1, 1, 1, 2, 0, -1});
    Tensor b3 = ad::tensor({2, 3, 2}, {1, 0, 0, 1, 1, 1, 1, 2, 3, 4, 5, 6});
    CHECK_THAT(ad::matmul(a3, b3), AllClose(ad::tensor({2, 2, 2}, {4, 5, 10, 11, 9, 12, -3, -2})));

    ad::Rng rng(41);
    auto f = [](const ad::Inputs& in) { return ad::matmul(in[0], in[1]); };
    Tensor a = leaf(rng.normal({3, 4})), b = leaf(rng.normal({4, 2}));
    CHECK(ad::gradcheck(f, {a, b}));
    CHECK(ad::gradgradcheck(f, {a, b}));
    Tensor ab = leaf(rng.normal({2, 3, 4})), bb = leaf(rng.normal({2, 4, 2}));
    CHECK(ad::gradcheck(f, {ab, bb}));
    CHECK(ad::gradgradcheck(f, {ab, bb}));
    CHECK(ad::gradgradcheck(f, {a.detach(), b}));  // one constant factor: only the other gradient
    CHECK(ad::gradgradcheck(f, {a, b.detach()}));
    REQUIRE_THROWS_WITH(ad::matmul(a, a), Catch::Contains("matmul: inner sizes differ: [3, 4] times [3, 4]"));
    REQUIRE_THROWS_WITH(ad::matmul(ad::tensor({1, 2, 3}), b),
                        Catch::Contains("matmul: expected two matrices or two batches of matrices, got [3] and [4, 2]"));
    REQUIRE_THROWS_WITH(ad::matmul(ab, rng.normal({3, 4, 2})),
                        Catch::Contains("matmul: expected two matrices or two batches of matrices, got [2, 3, 4] and [3, 4, 2]"));
    REQUIRE_THROWS_WITH(ad::matmul(ab, b), Catch::Contains("matmul: expected two matrices or two batches"));
}

TEST_CASE("matmul_nt: values, gradients, second gradients, errors", "[autodiff][matmul][matmul_nt]") {
    // a b^T = [[1*5 + 2*6, 1*7 + 2*8], [3*5 + 4*6, 3*7 + 4*8]]
    CHECK_THAT(ad::matmul_nt(kA, kB), AllClose(ad::tensor({2, 2}, {17, 23, 39, 53})));
    CHECK_THAT(ad::matmul_nt(ad::tensor({1, 3}, {1, 2, 3}), ad::tensor({2, 3}, {1, 0, 1, 0, 1, 1})),
               AllClose(ad::tensor({1, 2}, {4, 5})));

    ad::Rng rng(42);
    auto f = [](const ad::Inputs& in) { return ad::matmul_nt(in[0], in[1]); };
    Tensor a = leaf(rng.normal({3, 4})), b = leaf(rng.normal({2, 4}));
    CHECK(ad::gradcheck(f, {a, b}));
    CHECK(ad::gradgradcheck(f, {a, b}));
    Tensor ab = leaf(rng.normal({2, 3, 4})), bb = leaf(rng.normal({2, 2, 4}));
    CHECK(ad::gradcheck(f, {ab, bb}));
    CHECK(ad::gradgradcheck(f, {ab, bb}));
    REQUIRE_THROWS_WITH(ad::matmul_nt(a, rng.normal({4, 2})), Catch::Contains("matmul_nt: inner sizes differ: [3, 4] times [4, 2]^T"));
    REQUIRE_THROWS_WITH(ad::matmul_nt(a, ad::tensor({1, 2})), Catch::Contains("matmul_nt: expected two matrices"));
}

TEST_CASE("matmul_tn: values, gradients, second gradients, errors", "[autodiff][matmul][matmul_tn]") {
    // a^T b = [[1*5 + 3*7, 1*6 + 3*8], [2*5 + 4*7, 2*6 + 4*8]]
    CHECK_THAT(ad::matmul_tn(kA, kB), AllClose(ad::tensor({2, 2}, {26, 30, 38, 44})));
    CHECK_THAT(ad::matmul_tn(ad::tensor({3, 1}, {1, 2, 3}), ad::tensor({3, 2}, {1, 0, 0, 1, 1, 1})),
               AllClose(ad::tensor({1, 2}, {4, 5})));

    ad::Rng rng(43);
    auto f = [](const ad::Inputs& in) { return ad::matmul_tn(in[0], in[1]); };
    Tensor a = leaf(rng.normal({4, 3})), b = leaf(rng.normal({4, 2}));
    CHECK(ad::gradcheck(f, {a, b}));
    CHECK(ad::gradgradcheck(f, {a, b}));
    Tensor ab = leaf(rng.normal({2, 4, 3})), bb = leaf(rng.normal({2, 4, 2}));
    CHECK(ad::gradcheck(f, {ab, bb}));
    CHECK(ad::gradgradcheck(f, {ab, bb}));
    REQUIRE_THROWS_WITH(ad::matmul_tn(a, rng.normal({3, 2})), Catch::Contains("matmul_tn: inner sizes differ: [4, 3]^T times [3, 2]"));
    REQUIRE_THROWS_WITH(ad::matmul_tn(ab, b), Catch::Contains("matmul_tn: expected two matrices"));
}

TEST_CASE("linear: values, gradients, second gradients, errors", "[autodiff][matmul][linear]") {
    // y[n, o] = sum_i x[n, i] W[o, i] + b[o]
    Tensor x = ad::tensor({2, 2}, {1, 2, -1, 3});
    Tensor W = ad::tensor({3, 2}, {1, 0, 0, 1, 1, 1});
    Tensor bias = ad::tensor({0.5, -1, 2});
    CHECK_THAT(ad::linear(x, W, bias), AllClose(ad::tensor({2, 3}, {1.5, 1, 5, -0.5, 2, 4})));
    CHECK_THAT(ad::linear(x, W, Tensor()), AllClose(ad::tensor({2, 3}, {1, 2, 3, -1, 3, 2})));

    ad::Rng rng(44);
    Tensor xs = leaf(rng.normal({4, 3})), Ws = leaf(rng.normal({2, 3})), bs = leaf(rng.normal({2}));
    auto with_bias = [](const ad::Inputs& in) { return ad::linear(in[0], in[1], in[2]); };
    auto no_bias = [](const ad::Inputs& in) { return ad::linear(in[0], in[1], Tensor()); };
    CHECK(ad::gradcheck(with_bias, {xs, Ws, bs}));
    CHECK(ad::gradgradcheck(with_bias, {xs, Ws, bs}));
    CHECK(ad::gradcheck(no_bias, {xs, Ws}));
    CHECK(ad::gradgradcheck(no_bias, {xs, Ws}));
    CHECK(ad::gradgradcheck(with_bias, {xs.detach(), Ws, bs.detach()}));  // constants are skipped
    REQUIRE_THROWS_WITH(ad::linear(xs, rng.normal({2, 4}), bs),
                        Catch::Contains("linear: expected x[n, in] and W[out, in], got x[4, 3] and W[2, 4]"));
    REQUIRE_THROWS_WITH(ad::linear(ad::tensor({1, 2, 3}), Ws, bs), Catch::Contains("linear: expected x[n, in] and W[out, in]"));
    REQUIRE_THROWS_WITH(ad::linear(xs, Ws, rng.normal({3})), Catch::Contains("linear: expected bias [2], got [3]"));
}

TEST_CASE("outer: values, gradients, second gradients, errors", "[autodiff][matmul][outer]") {
    CHECK_THAT(ad::outer(ad::tensor({1, 2}), ad::tensor({3, 4, 5})), AllClose(ad::tensor({2, 3}, {3, 4, 5, 6, 8, 10})));

    ad::Rng rng(45);
    Tensor a = leaf(rng.normal({3})), b = leaf(rng.normal({4}));
    auto f = [](const ad::Inputs& in) { return ad::outer(in[0], in[1]); };
    CHECK(ad::gradcheck(f, {a, b}));
    CHECK(ad::gradgradcheck(f, {a, b}));
    REQUIRE_THROWS_WITH(ad::outer(kA, b), Catch::Contains("outer: expected two vectors, got [2, 2] and [4]"));
}
