#include "nn/linear.hpp"
#include "nn/mlp.hpp"
#include "nn/module.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using testing::AllClose;

namespace {

// A two-level tree: own parameter, a child with its own child, registered in a known order.
struct Inner : nn::Module {
    Tensor a = register_parameter("a", Tensor::zeros({2}));
};
struct Outer : nn::Module {
    Tensor scale = register_parameter("scale", Tensor::ones({}));
    std::shared_ptr<Inner> first = register_module("first", std::make_shared<Inner>());
    std::shared_ptr<nn::Linear> second;
    explicit Outer(ad::Rng& rng) : second(register_module("second", std::make_shared<nn::Linear>(3, 2, rng))) {}
};

std::vector<std::string> names_of(const nn::NamedTensors& named) {
    std::vector<std::string> out;
    for (const auto& kv : named) out.push_back(kv.first);
    return out;
}

}  // namespace

TEST_CASE("module: named_parameters has dotted paths in registration order", "[nn][unit]") {
    ad::Rng rng(0);
    Outer m(rng);
    CHECK(names_of(m.named_parameters()) ==
          std::vector<std::string>{"scale", "first.a", "second.weight", "second.bias"});
    CHECK(names_of(m.state_dict()) == names_of(m.named_parameters()));
    CHECK(m.n_parameters() == 1 + 2 + 6 + 2);
    for (const Tensor& p : m.parameters()) CHECK(p.requires_grad());
    // parameters() are the module's tensors, not copies.
    CHECK(m.parameters()[0].same(m.scale));
    CHECK(m.children().size() == 2);
}

TEST_CASE("module: registration rejects duplicate and dotted names", "[nn][unit]") {
    nn::Module m;
    m.register_parameter("w", Tensor::zeros({1}));
    REQUIRE_THROWS_WITH(m.register_parameter("w", Tensor::zeros({1})), Catch::Contains("got 'w' (already a parameter)"));
    REQUIRE_THROWS_WITH(m.register_module("w", std::make_shared<nn::Module>()), Catch::Contains("already a parameter"));
    REQUIRE_THROWS_WITH(m.register_parameter("a.b", Tensor::zeros({1})), Catch::Contains("without '.'"));
    REQUIRE_THROWS_WITH(m.register_parameter("", Tensor::zeros({1})), Catch::Contains("non-empty name"));
}

TEST_CASE("module: ModuleList names children 0, 1, ...", "[nn][unit]") {
    ad::Rng rng(1);
    nn::Module m;
    auto list = m.register_module("layers", std::make_shared<nn::ModuleList>());
    list->push_back(std::make_shared<nn::Linear>(2, 3, rng, false));
    list->push_back(std::make_shared<nn::Linear>(3, 1, rng, false));
    CHECK(list->size() == 2);
    CHECK(names_of(m.named_parameters()) == std::vector<std::string>{"layers.0.weight", "layers.1.weight"});
}

TEST_CASE("module: load_state_dict copies values in place", "[nn][unit]") {
    ad::Rng rng_a(1), rng_b(2);
    nn::MLP a(2, {5}, 1, nn::Activation::tanh, rng_a), b(2, {5}, 1, nn::Activation::tanh, rng_b);
    const double* before = b.parameters()[0].data();
    b.load_state_dict(a.state_dict());
    CHECK(b.parameters()[0].data() == before);  // same storage: optimisers holding it see the values
    Tensor x = ad::tensor({3, 2}, {0.1, 0.2, -0.3, 0.4, 0.5, -0.6});
    CHECK_THAT(b.forward(x), AllClose(a.forward(x), 0, 0));
    // The copy is a copy: changing a afterwards leaves b alone.
    a.parameters()[0].data()[0] += 1.0;
    CHECK(b.parameters()[0][0] != a.parameters()[0][0]);
}

TEST_CASE("module: load_state_dict names missing, unexpected and mis-shaped keys", "[nn][unit]") {
    ad::Rng rng(3);
    nn::MLP model(1, {50}, 1, nn::Activation::tanh, rng);
    nn::MLP narrow(1, {40}, 1, nn::Activation::tanh, rng);
    const Tensor keep = model.parameters()[1].clone();
    REQUIRE_THROWS_WITH(model.load_state_dict(narrow.state_dict()),
                        "load_state_dict: expected 'layers.0.weight' of shape [50, 1], got [40, 1]");
    CHECK_THAT(model.parameters()[1], AllClose(keep, 0, 0));  // nothing copied on failure

    nn::NamedTensors state = model.state_dict();
    state.erase(state.begin() + 1);
    REQUIRE_THROWS_WITH(model.load_state_dict(state), "load_state_dict: missing key 'layers.0.bias'");

    state = model.state_dict();
    state.emplace_back("layers.2.weight", Tensor::zeros({1}));
    REQUIRE_THROWS_WITH(model.load_state_dict(state), "load_state_dict: unexpected key 'layers.2.weight'");

    state = model.state_dict();
    state.push_back(state[0]);
    REQUIRE_THROWS_WITH(model.load_state_dict(state), Catch::Contains("got 'layers.0.weight' twice"));
}

TEST_CASE("module: zero_grad drops every gradient", "[nn][unit]") {
    ad::Rng rng(4);
    nn::MLP model(2, {3}, 1, nn::Activation::silu, rng);
    ad::backward(ad::sum(model.forward(rng.normal({4, 2}))), model.parameters());
    for (const Tensor& p : model.parameters()) CHECK(p.grad().defined());
    model.zero_grad();
    for (const Tensor& p : model.parameters()) CHECK_FALSE(p.grad().defined());
}
