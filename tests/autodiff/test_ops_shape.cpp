// Shape and indexing ops (autodiff/ops_shape.cpp): per op, hand values on tiny inputs, gradcheck,
// gradgradcheck and the error message. Most inputs are aranges, so every output element tells
// which input element it came from.
#include "tests/helpers.hpp"

using ad::Tensor;
using testing::AllClose;

namespace {
Tensor leaf(const Tensor& t) { return t.detach().set_requires_grad(true); }

// 0, 1, 2, ... in the given shape.
Tensor arange(const ad::Shape& shape) {
    std::vector<double> v(static_cast<size_t>(ad::numel(shape)));
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
    return ad::tensor(shape, v);
}
}  // namespace

TEST_CASE("reshape: values, gradients, second gradients, errors", "[autodiff][shape][reshape]") {
    Tensor x = arange({2, 3});
    CHECK_THAT(ad::reshape(x, {3, 2}), AllClose(arange({3, 2})));  // row-major order is kept
    CHECK_THAT(ad::reshape(x, {-1}), AllClose(arange({6})));
    CHECK_THAT(ad::reshape(x, {1, -1, 2}), AllClose(arange({1, 3, 2})));
    CHECK_THAT(ad::reshape(ad::tensor({5}), {}), AllClose(ad::Tensor::scalar(5)));

    ad::Rng rng(31);
    Tensor a = leaf(rng.normal({2, 3, 2}));
    auto f = [](const ad::Inputs& in) { return ad::reshape(in[0], {3, -1}); };
    CHECK(ad::gradcheck(f, {a}));
    CHECK(ad::gradgradcheck(f, {a}));
    REQUIRE_THROWS_WITH(ad::reshape(x, {4, 2}), Catch::Contains("reshape: cannot reshape [2, 3] (6 elements) to [4, 2]"));
    REQUIRE_THROWS_WITH(ad::reshape(x, {-1, 4}), Catch::Contains("reshape: cannot reshape [2, 3] to [-1, 4]"));
    REQUIRE_THROWS_WITH(ad::reshape(x, {-1, -1}), Catch::Contains("reshape: expected at most one -1 in [-1, -1]"));
    REQUIRE_THROWS_WITH(ad::reshape(x, {-2, -3}), Catch::Contains("reshape: expected sizes >= 0 or -1, got [-2, -3]"));
}

TEST_CASE("transpose: values, gradients, second gradients, errors", "[autodiff][shape][transpose]") {
    CHECK_THAT(ad::transpose(arange({2, 3})), AllClose(ad::tensor({3, 2}, {0, 3, 1, 4, 2, 5})));
    CHECK_THAT(ad::transpose(arange({1, 3})), AllClose(arange({3, 1})));

    ad::Rng rng(32);
    Tensor a = leaf(rng.normal({3, 4}));
    auto f = [](const ad::Inputs& in) { return ad::transpose(in[0]); };
    CHECK(ad::gradcheck(f, {a}));
    CHECK(ad::gradgradcheck(f, {a}));
    REQUIRE_THROWS_WITH(ad::transpose(arange({2, 3, 4})),
                        Catch::Contains("transpose: expected a 2-D tensor, got shape [2, 3, 4]; use permute"));
}

TEST_CASE("permute: values, gradients, second gradients, errors", "[autodiff][shape][permute]") {
    // x[i, j, k] = 6 i + 2 j + k, shape [2, 3, 2];  y = permute(x, {2, 0, 1}): y[k, i, j] = x[i, j, k]
    Tensor x = arange({2, 3, 2});
    CHECK_THAT(ad::permute(x, {2, 0, 1}), AllClose(ad::tensor({2, 2, 3}, {0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11})));
    // y[j, i, k] = x[i, j, k]
    CHECK_THAT(ad::permute(x, {1, 0, -1}), AllClose(ad::tensor({3, 2, 2}, {0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11})));
    CHECK_THAT(ad::permute(x, {0, 1, 2}), AllClose(x));
    // the attention heads' [B, T, H, e] -> [B, H, T, e] (last axis kept: the row-copy path), element by element
    Tensor x4 = arange({2, 3, 4, 5}), y4 = ad::permute(x4, {0, 2, 1, 3});
    REQUIRE(y4.shape() == ad::Shape({2, 4, 3, 5}));
    bool same = true;
    for (long b = 0; b < 2; ++b)
        for (long t = 0; t < 3; ++t)
            for (long h = 0; h < 4; ++h)
                for (long e = 0; e < 5; ++e) same = same && y4[((b * 4 + h) * 3 + t) * 5 + e] == x4[((b * 3 + t) * 4 + h) * 5 + e];
    CHECK(same);

    ad::Rng rng(33);
    Tensor a = leaf(rng.normal({2, 3, 4}));
    for (const std::vector<long>& axes : {std::vector<long>{2, 0, 1}, std::vector<long>{1, 2, 0}}) {
        auto f = [axes](const ad::Inputs& in) { return ad::permute(in[0], axes); };
        CHECK(ad::gradcheck(f, {a}));
        CHECK(ad::gradgradcheck(f, {a}));
    }
    REQUIRE_THROWS_WITH(ad::permute(x, {1, 0}), Catch::Contains("permute: expected 3 axes for shape [2, 3, 2], got 2"));
    REQUIRE_THROWS_WITH(ad::permute(x, {0, 1, 1}), Catch::Contains("permute: expected a permutation, got axis 1 twice"));
    REQUIRE_THROWS_WITH(ad::permute(x, {0, 1, 3}), Catch::Contains("permute: expected an axis in [-3, 3), got 3"));
}

TEST_CASE("slice: values, gradients, second gradients, errors", "[autodiff][shape][slice]") {
    Tensor x = arange({2, 4});
    CHECK_THAT(ad::slice(x, 1, 1, 3), AllClose(ad::tensor({2, 2}, {1, 2, 5, 6})));
    CHECK_THAT(ad::slice(x, -1, -3, -1), AllClose(ad::tensor({2, 2}, {1, 2, 5, 6})));  // from the end
    CHECK_THAT(ad::slice(x, 0, 1, 2), AllClose(ad::tensor({1, 4}, {4, 5, 6, 7})));
    CHECK(ad::slice(x, 1, 2, 2).shape() == ad::Shape{2, 0});

    ad::Rng rng(34);
    Tensor a = leaf(rng.normal({3, 5}));
    auto f = [](const ad::Inputs& in) { return ad::slice(in[0], 1, 1, 4); };
    CHECK(ad::gradcheck(f, {a}));
    CHECK(ad::gradgradcheck(f, {a}));
    REQUIRE_THROWS_WITH(ad::slice(x, 1, 2, 5),
                        Catch::Contains("slice: expected 0 <= start <= stop <= 4 on axis 1 of [2, 4], got 2:5"));
    REQUIRE_THROWS_WITH(ad::slice(x, 1, 3, 2), Catch::Contains("slice: expected 0 <= start <= stop <= 4"));
    REQUIRE_THROWS_WITH(ad::slice(x, 2, 0, 1), Catch::Contains("slice: expected an axis in [-2, 2), got 2"));
}

TEST_CASE("concat: values, gradients, second gradients, errors", "[autodiff][shape][concat]") {
    Tensor p = ad::tensor({2, 1}, {1, 2});
    Tensor q = ad::tensor({2, 2}, {3, 4, 5, 6});
    CHECK_THAT(ad::concat({p, q}, 1), AllClose(ad::tensor({2, 3}, {1, 3, 4, 2, 5, 6})));
    CHECK_THAT(ad::concat({q, ad::tensor({1, 2}, {7, 8})}, 0), AllClose(ad::tensor({3, 2}, {3, 4, 5, 6, 7, 8})));
    CHECK_THAT(ad::concat({ad::tensor({1}), ad::tensor({2, 3})}, -1), AllClose(ad::tensor({1, 2, 3})));

    ad::Rng rng(35);
    Tensor a = leaf(rng.normal({2, 1, 3}));
    Tensor b = leaf(rng.normal({2, 3, 3}));
    Tensor c = leaf(rng.normal({2, 2, 3}));
    auto f = [](const ad::Inputs& in) { return ad::concat({in[0], in[1], in[2]}, 1); };
    CHECK(ad::gradcheck(f, {a, b, c}));
    CHECK(ad::gradgradcheck(f, {a, b, c}));
    CHECK(ad::gradgradcheck(f, {a, b.detach(), c}));  // a constant in the middle
    REQUIRE_THROWS_WITH(ad::concat({}, 0), Catch::Contains("concat: expected at least one tensor, got none"));
    REQUIRE_THROWS_WITH(ad::concat({p, ad::tensor({1, 2})}, 0),
                        Catch::Contains("concat: expected tensors of rank 2, got [2] at position 1"));
    REQUIRE_THROWS_WITH(ad::concat({p, q}, 0),
                        Catch::Contains("concat: expected shapes that differ only on axis 0, got [2, 1] and [2, 2]"));
    REQUIRE_THROWS_WITH(ad::concat({p, q}, 2), Catch::Contains("concat: expected an axis in [-2, 2), got 2"));
}

TEST_CASE("stack: values, gradients, second gradients, errors", "[autodiff][shape][stack]") {
    Tensor p = ad::tensor({1, 2}), q = ad::tensor({3, 4});
    CHECK_THAT(ad::stack({p, q}, 0), AllClose(ad::tensor({2, 2}, {1, 2, 3, 4})));
    CHECK_THAT(ad::stack({p, q}, 1), AllClose(ad::tensor({2, 2}, {1, 3, 2, 4})));
    CHECK_THAT(ad::stack({p, q, p}, -1), AllClose(ad::tensor({2, 3}, {1, 3, 1, 2, 4, 2})));
    CHECK_THAT(ad::stack({ad::Tensor::scalar(1), ad::Tensor::scalar(2)}, 0), AllClose(ad::tensor({1, 2})));

    ad::Rng rng(36);
    Tensor a = leaf(rng.normal({2, 3}));
    Tensor b = leaf(rng.normal({2, 3}));
    for (long axis : {0, 1, 2}) {
        auto f = [axis](const ad::Inputs& in) { return ad::stack({in[0], in[1]}, axis); };
        CHECK(ad::gradcheck(f, {a, b}));
        CHECK(ad::gradgradcheck(f, {a, b}));
    }
    REQUIRE_THROWS_WITH(ad::stack({}, 0), Catch::Contains("stack: expected at least one tensor, got none"));
    REQUIRE_THROWS_WITH(ad::stack({p, ad::tensor({1, 2, 3})}, 0),
                        Catch::Contains("stack: expected tensors of one shape, got [2] and [3]"));
    REQUIRE_THROWS_WITH(ad::stack({p, q}, 2), Catch::Contains("stack: expected an axis in [-2, 2), got 2"));
}

TEST_CASE("index_select: values, gradients, second gradients, errors", "[autodiff][shape][index_select]") {
    Tensor x = arange({3, 2});  // rows [0, 1], [2, 3], [4, 5]
    CHECK_THAT(ad::index_select(x, 0, {2, 0, 2}), AllClose(ad::tensor({3, 2}, {4, 5, 0, 1, 4, 5})));
    CHECK_THAT(ad::index_select(x, 1, {1}), AllClose(ad::tensor({3, 1}, {1, 3, 5})));
    CHECK(ad::index_select(x, 0, {}).shape() == ad::Shape{0, 2});
    // a repeated index collects the gradient of every copy
    Tensor l = leaf(x);
    CHECK_THAT(ad::grad(ad::sum(ad::index_select(l, 0, {2, 0, 2})), {l}, ad::CreateGraph::no)[0],
               AllClose(ad::tensor({3, 2}, {1, 1, 0, 0, 2, 2})));

    ad::Rng rng(37);
    Tensor a = leaf(rng.normal({4, 3}));
    for (long axis : {0, 1}) {
        auto f = [axis](const ad::Inputs& in) { return ad::index_select(in[0], axis, {2, 0, 2, 1, 0}); };
        CHECK(ad::gradcheck(f, {a}));
        CHECK(ad::gradgradcheck(f, {a}));
    }
    REQUIRE_THROWS_WITH(ad::index_select(x, 0, {0, 3}),
                        Catch::Contains("index_select: expected indices in [0, 3), got 3 at position 1"));
    REQUIRE_THROWS_WITH(ad::index_select(x, 1, {-1}), Catch::Contains("index_select: expected indices in [0, 2), got -1"));
    REQUIRE_THROWS_WITH(ad::index_select(x, 2, {0}), Catch::Contains("index_select: expected an axis in [-2, 2), got 2"));
}

TEST_CASE("index_add_to_zeros: equals its naive twin index_add(zeros, ...)", "[autodiff][shape][index_add]") {
    ad::Rng rng(39);
    Tensor src = leaf(rng.normal({2, 5, 3}));
    const std::vector<long> idx{3, 0, 3, 1, 3};  // repeats, and rows 2, 4 never selected
    Tensor fast = ad::index_add_to_zeros({2, 6, 3}, 1, idx, src);
    CHECK_THAT(fast, AllClose(ad::index_add(Tensor::zeros({2, 6, 3}), 1, idx, src), 1e-15));
    auto f = [idx](const ad::Inputs& in) { return ad::index_add_to_zeros({2, 6, 3}, 1, idx, in[0]); };
    CHECK(ad::gradcheck(f, {src}));
    CHECK(ad::gradgradcheck(f, {src}));
    REQUIRE_THROWS_WITH(ad::index_add_to_zeros({2, 6, 3}, 1, {0, 6, 1, 1, 1}, src),
                        Catch::Contains("index_add: expected indices in [0, 6), got 6 at position 1"));
}

TEST_CASE("index_add: values, gradients, second gradients, errors", "[autodiff][shape][index_add]") {
    // segment sums: y[0] = 1 + 3, y[1] = 0, y[2] = 2
    CHECK_THAT(ad::index_add(ad::Tensor::zeros({3}), 0, {0, 2, 0}, ad::tensor({1, 2, 3})), AllClose(ad::tensor({4, 0, 2})));
    CHECK_THAT(ad::index_add(arange({2, 2}), 1, {1, 1}, ad::tensor({2, 2}, {10, 20, 30, 40})),
               AllClose(ad::tensor({2, 2}, {0, 31, 2, 73})));

    ad::Rng rng(38);
    Tensor x = leaf(rng.normal({3, 2}));
    Tensor src = leaf(rng.normal({4, 2}));
    auto f = [](const ad::Inputs& in) { return ad::index_add(in[0], 0, {0, 2, 0, 1}, in[1]); };
    CHECK(ad::gradcheck(f, {x, src}));
    CHECK(ad::gradgradcheck(f, {x, src}));
    CHECK(ad::gradgradcheck(f, {x.detach(), src}));
    REQUIRE_THROWS_WITH(ad::index_add(x, 0, {0, 1}, src), Catch::Contains("index_add: expected src of shape [2, 2], got [4, 2]"));
    REQUIRE_THROWS_WITH(ad::index_add(x, 0, {0, 1, 3, 0}, src),
                        Catch::Contains("index_add: expected indices in [0, 3), got 3 at position 2"));
    REQUIRE_THROWS_WITH(ad::index_add(x, -3, {0}, src), Catch::Contains("index_add: expected an axis in [-2, 2), got -3"));
}

TEST_CASE("gather: values, gradients, second gradients, errors", "[autodiff][shape][gather]") {
    // the torch.gather example: y[i][j] = x[i][idx[i][j]]
    Tensor x = ad::tensor({2, 2}, {1, 2, 3, 4});
    CHECK_THAT(ad::gather(x, 1, {{2, 2}, {0, 0, 1, 0}}), AllClose(ad::tensor({2, 2}, {1, 1, 4, 3})));
    // axis 0: y[0][j] = x[idx[0][j]][j] = [x[1][0], x[0][1]]
    CHECK_THAT(ad::gather(x, 0, {{1, 2}, {1, 0}}), AllClose(ad::tensor({1, 2}, {3, 2})));

    ad::Rng rng(39);
    Tensor a = leaf(rng.normal({3, 4}));
    ad::Index idx1{{3, 2}, {3, 3, 0, 1, 2, 0}};      // axis 1, repeated index in row 0
    ad::Index idx0{{2, 4}, {2, 0, 1, 2, 2, 1, 1, 0}};  // axis 0
    auto f1 = [idx1](const ad::Inputs& in) { return ad::gather(in[0], 1, idx1); };
    auto f0 = [idx0](const ad::Inputs& in) { return ad::gather(in[0], 0, idx0); };
    for (const ad::Function& f : {ad::Function(f1), ad::Function(f0)}) {
        CHECK(ad::gradcheck(f, {a}));
        CHECK(ad::gradgradcheck(f, {a}));
    }
    REQUIRE_THROWS_WITH(ad::gather(x, 1, {{2}, {0, 1}}), Catch::Contains("gather: expected an index of rank 2, got [2]"));
    REQUIRE_THROWS_WITH(ad::gather(x, 1, {{2, 2}, {0, 1}}),
                        Catch::Contains("gather: expected 4 index values for shape [2, 2], got 2"));
    REQUIRE_THROWS_WITH(ad::gather(x, 1, {{3, 1}, {0, 0, 0}}),
                        Catch::Contains("gather: expected index size <= 2 on axis 0, got [3, 1]"));
    REQUIRE_THROWS_WITH(ad::gather(x, 1, {{1, 1}, {2}}), Catch::Contains("gather: expected indices in [0, 2), got 2"));
    REQUIRE_THROWS_WITH(ad::gather(x, 2, {{1, 1}, {0}}), Catch::Contains("gather: expected an axis in [-2, 2), got 2"));
}

TEST_CASE("scatter_add: values, gradients, second gradients, errors", "[autodiff][shape][scatter_add]") {
    // y[idx[i][j]][j] += src[i][j] (torch.scatter_add, axis 0)
    ad::Index idx{{2, 5}, {0, 1, 2, 0, 0, 2, 0, 0, 1, 2}};
    Tensor src = ad::tensor({2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
    CHECK_THAT(ad::scatter_add(ad::Tensor::zeros({3, 5}), 0, idx, src),
               AllClose(ad::tensor({3, 5}, {1, 7, 8, 4, 5, 0, 2, 0, 9, 0, 6, 0, 3, 0, 10})));
    // axis 1 with a repeated index: y[i][idx[i][j]] += src[i][j], on top of x
    CHECK_THAT(ad::scatter_add(ad::tensor({2, 2}, {1, 1, 1, 1}), 1, {{2, 2}, {1, 1, 0, 1}}, ad::tensor({2, 2}, {1, 2, 3, 4})),
               AllClose(ad::tensor({2, 2}, {1, 4, 4, 5})));

    ad::Rng rng(40);
    Tensor x = leaf(rng.normal({3, 5}));
    Tensor s = leaf(rng.normal({2, 5}));
    auto f = [idx](const ad::Inputs& in) { return ad::scatter_add(in[0], 0, idx, in[1]); };
    CHECK(ad::gradcheck(f, {x, s}));
    CHECK(ad::gradgradcheck(f, {x, s}));
    CHECK(ad::gradgradcheck(f, {x.detach(), s}));
    REQUIRE_THROWS_WITH(ad::scatter_add(x, 0, idx, rng.normal({2, 4})),
                        Catch::Contains("scatter_add: expected src of the index's shape [2, 5], got [2, 4]"));
    REQUIRE_THROWS_WITH(ad::scatter_add(x, 0, {{1, 1}, {3}}, ad::tensor({1, 1}, {1})),
                        Catch::Contains("scatter_add: expected indices in [0, 3), got 3"));
    REQUIRE_THROWS_WITH(ad::scatter_add(x, 0, {{1}, {0}}, ad::tensor({1})),
                        Catch::Contains("scatter_add: expected an index of rank 2, got [1]"));
}
