#include <cstring>

#include "nn/loss.hpp"
#include "nn/mlp.hpp"
#include "nn/optim.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using testing::AllClose;

namespace {
Tensor param(std::vector<double> v) { return ad::tensor(v).set_requires_grad(true); }
void set_grad(const Tensor& p, std::vector<double> g) { Tensor(p).set_grad(ad::tensor(g)); }
}  // namespace

TEST_CASE("optim: SGD plain and with weight decay", "[nn][unit]") {
    Tensor p = param({1, -2});
    nn::SGD sgd({p}, 0.1);
    set_grad(p, {0.5, 1});
    sgd.step();
    CHECK_THAT(p, AllClose(ad::tensor({0.95, -2.1})));
    // Weight decay adds wd p to the gradient: 2 - 0.5 (0 + 0.1 * 2) = 1.9.
    Tensor q = param({2});
    nn::SGD decay({q}, 0.5, 0.0, 0.1);
    set_grad(q, {0});
    decay.step();
    CHECK(q[0] == Approx(1.9).epsilon(1e-15));
}

// Constant gradient g, mu = 0.9: buffers g, 1.9 g, 2.71 g (heavy ball), so after three steps
// p = p0 - lr g (1 + 1.9 + 2.71). Nesterov steps along g + mu buf: 1.9 g, 2.71 g, 3.439 g.
TEST_CASE("optim: SGD momentum and nesterov over three steps", "[nn][unit]") {
    Tensor a = param({1.0}), b = param({1.0});
    nn::SGD heavy({a}, 0.1, 0.9), nesterov({b}, 0.1, 0.9, 0.0, true);
    for (int k = 0; k < 3; ++k) {
        set_grad(a, {2.0});
        set_grad(b, {2.0});
        heavy.step();
        nesterov.step();
    }
    CHECK(a[0] == Approx(1 - 0.1 * 2 * 5.61).epsilon(1e-14));
    CHECK(b[0] == Approx(1 - 0.1 * 2 * (1.9 + 2.71 + 3.439)).epsilon(1e-14));
    REQUIRE_THROWS_WITH(nn::SGD({a}, 0.1, 0.0, 0.0, true), "SGD: expected momentum > 0 with nesterov, got 0");
}

// Expected values from Algorithm 1 of Kingma & Ba written independently (Python, float64):
//   m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t), p -= lr m_hat / (sqrt(v_hat) + eps)
// with p0 = 1, gradients 1, -2, 0.5, lr 0.1; for AdamW p *= 1 - lr wd first, Adam adds wd p to g.
TEST_CASE("optim: Adam, Adam with L2 and AdamW against hand-computed steps", "[nn][unit]") {
    struct Case {
        const char* name;
        std::vector<double> expected;
    };
    const std::vector<double> grads{1.0, -2.0, 0.5};
    auto run = [&](nn::Optimizer& opt, const Tensor& p) {
        std::vector<double> out;
        for (double g : grads) {
            set_grad(p, {g});
            opt.step();
            out.push_back(p[0]);
        }
        return out;
    };
    Tensor p1 = param({1.0}), p2 = param({1.0}), p3 = param({1.0});
    nn::Adam adam({p1}, 0.1);
    nn::Adam adam_l2({p2}, 0.1, 0.9, 0.999, 1e-8, 0.1);
    nn::AdamW adamw({p3}, 0.1, 0.9, 0.999, 1e-8, 0.1);
    std::vector<std::pair<std::vector<double>, std::vector<double>>> results{
        {run(adam, p1), {0.900000001, 0.9366103534720749, 0.9502794196738216}},
        {run(adam_l2, p2), {0.9000000009090909, 0.9310642948391922, 0.937642154937361}},
        {run(adamw, p3), {0.890000001, 0.9177103534620747, 0.9222023161292007}}};
    for (auto& [got, want] : results)
        for (size_t k = 0; k < 3; ++k) CHECK(got[k] == Approx(want[k]).epsilon(1e-13));
}

// Bias correction makes the first Adam step lr g / (|g| + eps) whatever the gradient's scale.
TEST_CASE("optim: Adam's first step has size lr for any gradient scale", "[nn][unit]") {
    Tensor p = param({0.0, 0.0, 0.0});
    nn::Adam adam({p}, 0.01);
    set_grad(p, {1e-3, -1e3, 7.0});
    adam.step();
    CHECK_THAT(p, AllClose(ad::tensor({-0.01, 0.01, -0.01}), 1e-4, 0));
}

// With a zero gradient, AdamW's decay is exactly p (1 - lr wd) (decoupled: the moments stay 0),
// while Adam's L2 term goes through the moments and moves p by ~lr.
TEST_CASE("optim: AdamW decays decoupled from the moments", "[nn][unit]") {
    Tensor a = param({2.0}), b = param({2.0});
    nn::AdamW adamw({a}, 0.1, 0.9, 0.999, 1e-8, 0.5);
    nn::Adam adam({b}, 0.1, 0.9, 0.999, 1e-8, 0.5);
    set_grad(a, {0.0});
    set_grad(b, {0.0});
    adamw.step();
    adam.step();
    CHECK(a[0] == 2.0 * (1 - 0.1 * 0.5));
    CHECK(b[0] == Approx(2.0 - 0.1).epsilon(1e-9));
}

TEST_CASE("optim: parameters without a gradient are skipped, updates are in place", "[nn][unit]") {
    Tensor p = param({1.0}), q = param({1.0});
    const double* storage = p.data();
    nn::Adam adam({p, q}, 0.1);
    set_grad(p, {1.0});
    adam.step();
    adam.step();
    CHECK(p.data() == storage);
    CHECK(q[0] == 1.0);
    nn::NamedTensors st = adam.state();
    CHECK(st[0].first == "lr");
    CHECK(st[1].first == "step");
    CHECK_THAT(st[1].second, AllClose(ad::tensor({2.0, 0.0}), 0, 0));  // per-parameter step counts
    adam.zero_grad();
    CHECK_FALSE(p.grad().defined());
}

TEST_CASE("optim: state and load_state resume exactly", "[nn][unit]") {
    ad::Rng rng(0);
    Tensor p = rng.normal({3}).set_requires_grad(true);
    Tensor q = p.clone().set_requires_grad(true);
    nn::AdamW a({p}, 0.05), b({q}, 0.3);
    for (int k = 0; k < 2; ++k) {
        set_grad(p, rng.normal({3}).to_vector());
        a.step();
    }
    std::memcpy(q.data(), p.data(), 3 * sizeof(double));
    b.load_state(a.state());
    CHECK(b.lr() == 0.05);
    for (int k = 0; k < 3; ++k) {
        std::vector<double> g = rng.normal({3}).to_vector();
        set_grad(p, g);
        set_grad(q, g);
        a.step();
        b.step();
    }
    CHECK_THAT(q, AllClose(p, 0, 0));

    nn::NamedTensors st = a.state();
    CHECK(st.size() == 4);  // lr, step, exp_avg.0, exp_avg_sq.0
    CHECK(st[2].first == "exp_avg.0");
    nn::NamedTensors missing(st.begin(), st.end() - 1);
    REQUIRE_THROWS_WITH(b.load_state(missing), Catch::Contains("optimizer load_state: missing 'exp_avg_sq.0'"));
    nn::NamedTensors extra = st;
    extra.emplace_back("momentum_buffer.0", Tensor::zeros({3}));
    REQUIRE_THROWS_WITH(b.load_state(extra), "optimizer load_state: unexpected 'momentum_buffer.0'");
    nn::NamedTensors shaped = st;
    shaped[2].second = Tensor::zeros({4});
    REQUIRE_THROWS_WITH(b.load_state(shaped), "optimizer load_state: expected 'exp_avg.0' of shape [3], got [4]");
    nn::SGD sgd({p}, 0.1, 0.9);
    REQUIRE_THROWS_WITH(sgd.load_state(st), Catch::Contains("missing 'momentum_buffer.0'"));
}

TEST_CASE("optim: set_lr and argument errors", "[nn][unit]") {
    Tensor p = param({1.0});
    nn::SGD sgd({p}, 0.1);
    sgd.set_lr(0.5);
    CHECK(sgd.lr() == 0.5);
    REQUIRE_THROWS_WITH(sgd.set_lr(-1), "optimizer: expected lr >= 0, got -1");
    REQUIRE_THROWS_WITH(nn::Adam({p}, 0.1, 1.0), "Adam: expected 0 <= beta1 < 1, got 1");
    REQUIRE_THROWS_WITH(nn::Adam({p, p}, 0.1), "optimizer: expected each parameter once, got parameter 1 twice");
}

// Gradients [3, 4] and [12]: total norm 13. With max_norm 6.5 every gradient is scaled by
// 6.5 / (13 + 1e-6); with max_norm 100 nothing changes.
TEST_CASE("optim: clip_grad_norm returns the norm and scales all gradients", "[nn][unit]") {
    Tensor a = param({0, 0}), b = param({0}), c = param({0});
    set_grad(a, {3, 4});
    set_grad(b, {12});
    CHECK(nn::clip_grad_norm({a, b, c}, 100.0) == Approx(13.0).epsilon(1e-15));
    CHECK_THAT(a.grad(), AllClose(ad::tensor({3, 4}), 0, 0));
    CHECK(nn::clip_grad_norm({a, b, c}, 6.5) == Approx(13.0).epsilon(1e-15));
    const double coef = 6.5 / (13.0 + 1e-6);
    CHECK_THAT(a.grad(), AllClose(ad::tensor({3 * coef, 4 * coef})));
    CHECK_THAT(b.grad(), AllClose(ad::tensor({12 * coef})));
    CHECK(nn::clip_grad_norm({a, b}, 100.0) == Approx(6.5).epsilon(1e-6));

    // Two parameters sharing one gradient storage are each scaled once.
    Tensor g = ad::tensor({3.0, 4.0});
    Tensor d = param({0, 0}), e = param({0, 0});
    d.set_grad(g);
    e.set_grad(g);
    CHECK(nn::clip_grad_norm({d, e}, 1.0) == Approx(std::sqrt(50.0)).epsilon(1e-15));
    CHECK(d.grad()[0] == Approx(3.0 / (std::sqrt(50.0) + 1e-6)).epsilon(1e-14));
}

TEST_CASE("optim: a small MLP fits sin(x) with Adam, loss falls 10x", "[nn][unit]") {
    ad::Rng rng(0);
    nn::MLP mlp(1, {16, 16}, 1, nn::Activation::tanh, rng);
    Tensor x = ad::reshape(rng.uniform({32}, -3, 3), {32, 1});
    Tensor y = Tensor::empty({32, 1});
    for (long i = 0; i < 32; ++i) y.data()[i] = std::sin(x[i]);
    nn::Adam opt(mlp.parameters(), 0.01);
    double first = 0, last = 0;
    for (int step = 0; step < 300; ++step) {
        opt.zero_grad();
        Tensor loss = nn::mse_loss(mlp.forward(x), y);
        ad::backward(loss, mlp.parameters());
        nn::clip_grad_norm(mlp.parameters(), 10.0);
        opt.step();
        if (step == 0) first = loss.item();
        last = loss.item();
    }
    CHECK(last < first / 10);
}
