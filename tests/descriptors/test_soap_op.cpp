// The autodiff ops soap / soap_vjp / soap_jvp (descriptors/soap.cpp): gradcheck w.r.t. positions
// and strain, gradcheck of soap_vjp w.r.t. its upstream gradient (the force-training path),
// forces and stress of a toy energy E = sum(w * p) against finite differences, the gradient of a
// force loss w.r.t. w, invariances, smoothness at the cutoff, and error messages. Also the
// project's read_extxyz + neighbor_list give the same features as the naive test helpers. The row
// ops of a stack (soap_rows / soap_rows_vjp / soap_rows_jvp) against index_select of the soap ops.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "autodiff/gradcheck.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "descriptors/extxyz.hpp"
#include "descriptors/neighbor_list.hpp"
#include "descriptors/soap.hpp"
#include "tests/descriptors/soap_test_helpers.hpp"
#include "tests/helpers.hpp"

using ad::Tensor;

namespace {
std::string reference_path(const std::string& name) {
    return (std::filesystem::path(__FILE__).parent_path().parent_path() / "reference" / "soap" / name).string();
}

desc::SoapHypers small_hypers(std::vector<int> species) {
    desc::SoapHypers h;
    h.cutoff = 3.0;
    h.width = 0.5;
    h.max_angular = 2;
    h.max_radial = 2;
    h.species = std::move(species);
    return h;
}

// A non-periodic 5-atom H/O cluster; distances 0.9..2.6 A, several pairs inside the switching
// region [2.5, 3.0) so that the cutoff derivative is exercised.
soap_testing::Frame cluster() {
    soap_testing::Frame f;
    f.numbers = {8, 1, 1, 8, 1};
    f.positions = {0.0, 0.0, 0.1, 0.0, 0.76, -0.47, 0.05, -0.75, -0.48, 1.9, 0.3, 1.1, 2.1, -0.4, 1.7};
    return f;
}

soap_testing::Frame copper() { return soap_testing::read_xyz(reference_path("cu_fcc4.xyz")).at(0); }

// The Cu atoms in a triclinic cell, periodic in x and y only (a slab; spec sec. 9).
soap_testing::Frame triclinic_slab() {
    auto f = copper();
    f.cell = {3.61, 0.0, 0.0, 0.8, 3.5, 0.0, 0.3, 0.4, 3.7};
    f.pbc = {true, true, false};
    return f;
}

Tensor leaf(const Tensor& t) { return t.detach().set_requires_grad(true); }

double max_abs_diff(const Tensor& a, const Tensor& b) {
    double d = 0.0;
    for (long k = 0; k < a.numel(); ++k) d = std::max(d, std::fabs(a[k] - b[k]));
    return d;
}
}  // namespace

TEST_CASE("soap op: gradcheck w.r.t. positions and strain", "[descriptors][soap]") {
    for (int periodic = 0; periodic < 3; ++periodic) {
        auto f = periodic == 0 ? cluster() : periodic == 1 ? copper() : triclinic_slab();
        desc::Soap calc(small_hypers(periodic ? std::vector<int>{29} : std::vector<int>{1, 8}));
        desc::SoapPairs pairs = soap_testing::naive_pairs(f, periodic ? 3.4 : 3.0);  // Cu: spare images
        ad::Rng rng(3);
        Tensor x = leaf(f.positions_tensor());
        Tensor eps = leaf(rng.normal({3, 3}, 0.0, 0.01));  // away from 0: exercises A = 1 + eps
        auto fn = [&](const ad::Inputs& in) { return desc::soap(in[0], in[1], f.numbers, pairs, calc); };
        CHECK(ad::gradcheck(fn, {x, eps}));
    }
}

TEST_CASE("soap op: soap_vjp and soap_jvp are correct and differentiable in g", "[descriptors][soap]") {
    auto f = cluster();
    desc::Soap calc(small_hypers({1, 8}));
    desc::SoapPairs pairs = soap_testing::naive_pairs(f, 3.0);
    Tensor x = f.positions_tensor();
    Tensor eps = Tensor::zeros({3, 3});
    auto J = std::make_shared<desc::SoapJacobian>();
    Tensor p = calc.compute(f.numbers, x.data(), pairs, eps.data(), J.get());
    std::shared_ptr<const desc::SoapJacobian> Jc = J;
    ad::Rng rng(5);
    Tensor g = leaf(rng.normal(p.shape()));
    Tensor d = leaf(rng.normal({f.n_atoms() + 3, 3}));
    // <J^T g, d> = <g, J d>: the two products are transposes of each other
    Tensor lhs = ad::sum(desc::soap_vjp(g, x, eps, Jc) * d), rhs = ad::sum(g * desc::soap_jvp(d, x, eps, Jc));
    CHECK(lhs.item() == Approx(rhs.item()).epsilon(1e-12));
    auto vjp = [&](const ad::Inputs& in) { return desc::soap_vjp(in[0], x, eps, Jc); };
    auto jvp = [&](const ad::Inputs& in) { return desc::soap_jvp(in[0], x, eps, Jc); };
    CHECK(ad::gradcheck(vjp, {g}));  // d(sum(soap_vjp(g) * u))/dg = J u
    CHECK(ad::gradgradcheck(vjp, {g}));
    CHECK(ad::gradcheck(jvp, {d}));
    CHECK(ad::gradgradcheck(jvp, {d}));
}

TEST_CASE("soap op: forces and stress of E = sum(w * p) equal minus finite differences", "[descriptors][soap]") {
    auto f = triclinic_slab();
    desc::Soap calc(small_hypers({29}));
    desc::SoapPairs pairs = soap_testing::naive_pairs(f, 3.4);
    ad::Rng rng(11);
    Tensor w = rng.normal({calc.n_features()});
    Tensor x0 = f.positions_tensor();
    auto energy = [&](const Tensor& x, const Tensor& eps) {
        return ad::sum(desc::soap(x, eps, f.numbers, pairs, calc) * w).item();
    };
    Tensor x = leaf(x0), eps = leaf(Tensor::zeros({3, 3}));
    Tensor E = ad::sum(desc::soap(x, eps, f.numbers, pairs, calc) * w);
    auto g = ad::grad(E, {x, eps}, ad::CreateGraph::no);
    const double h = 1e-5;  // central differences: error ~h^2 |E'''| ~ 1e-9
    for (long k = 0; k < x0.numel(); ++k) {
        Tensor xp = x0.clone(), xm = x0.clone();
        xp.data()[k] += h;
        xm.data()[k] -= h;
        const double fd = (energy(xp, Tensor()) - energy(xm, Tensor())) / (2 * h);
        CHECK(-g[0][k] == Approx(-fd).margin(1e-7));
    }
    for (long k = 0; k < 9; ++k) {
        Tensor ep = Tensor::zeros({3, 3}), em = Tensor::zeros({3, 3});
        ep.data()[k] = h;
        em.data()[k] = -h;
        CHECK(g[1][k] == Approx((energy(x0, ep) - energy(x0, em)) / (2 * h)).margin(1e-7));
    }
    // rotation-invariant E: dE/deps is symmetric (spec 8.4)
    for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) CHECK(g[1][3 * a + b] == Approx(g[1][3 * b + a]).margin(1e-10));
}

TEST_CASE("soap op: a force loss is differentiable w.r.t. weights; second derivatives in x throw",
          "[descriptors][soap]") {
    auto f = cluster();
    desc::Soap calc(small_hypers({1, 8}));
    desc::SoapPairs pairs = soap_testing::naive_pairs(f, 3.0);
    ad::Rng rng(13);
    Tensor w = leaf(rng.normal({calc.n_features()}));
    Tensor x0 = f.positions_tensor();
    auto force_loss = [&](const ad::Inputs& in) {
        Tensor R = leaf(x0);
        Tensor E = ad::sum(ad::tanh(desc::soap(R, Tensor(), f.numbers, pairs, calc) * in[0]));
        Tensor F = -ad::grad(E, {R}, ad::CreateGraph::yes)[0];
        return ad::sum(F * F);
    };
    CHECK(ad::gradcheck(force_loss, {w}));

    Tensor R = leaf(x0);
    Tensor E = ad::sum(desc::soap(R, Tensor(), f.numbers, pairs, calc) * w);
    Tensor F = -ad::grad(E, {R}, ad::CreateGraph::yes)[0];
    REQUIRE_THROWS_WITH(ad::grad(ad::sum(F * F), {R}, ad::CreateGraph::no),
                        Catch::Contains("soap: second derivatives w.r.t. positions or strain are not implemented"));
}

TEST_CASE("soap op: rotation, translation and permutation invariance", "[descriptors][soap]") {
    for (int periodic = 0; periodic < 2; ++periodic) {
        auto f = periodic ? copper() : cluster();
        desc::Soap calc(small_hypers(periodic ? std::vector<int>{29} : std::vector<int>{1, 8}));
        Tensor p = calc.compute(f.numbers, f.positions_tensor(), soap_testing::naive_pairs(f, 3.0));
        // rotation about (1, 2, 3) by 0.7 rad (Rodrigues), applied to positions and cell rows
        const double th = 0.7, k0 = 1 / std::sqrt(14.0), k1 = 2 / std::sqrt(14.0), k2 = 3 / std::sqrt(14.0);
        const double c = std::cos(th), s = std::sin(th), t = 1 - c;
        const double Rm[9] = {t * k0 * k0 + c,      t * k0 * k1 - s * k2, t * k0 * k2 + s * k1,
                              t * k0 * k1 + s * k2, t * k1 * k1 + c,      t * k1 * k2 - s * k0,
                              t * k0 * k2 - s * k1, t * k1 * k2 + s * k0, t * k2 * k2 + c};
        auto rotate = [&](double* v) {
            double o[3] = {Rm[0] * v[0] + Rm[1] * v[1] + Rm[2] * v[2], Rm[3] * v[0] + Rm[4] * v[1] + Rm[5] * v[2],
                           Rm[6] * v[0] + Rm[7] * v[1] + Rm[8] * v[2]};
            std::copy(o, o + 3, v);
        };
        auto g = f;
        for (long i = 0; i < g.n_atoms(); ++i) rotate(&g.positions[3 * i]);
        for (int k = 0; k < 3; ++k) rotate(&g.cell[3 * k]);
        CHECK(max_abs_diff(calc.compute(g.numbers, g.positions_tensor(), soap_testing::naive_pairs(g, 3.0)), p) < 1e-12);
        auto tr = f;
        for (long i = 0; i < tr.n_atoms(); ++i)
            for (int a = 0; a < 3; ++a) tr.positions[3 * i + a] += 0.37 * (a + 1) + (periodic ? 3.61 * (i % 2) : 0.0);
        CHECK(max_abs_diff(calc.compute(tr.numbers, tr.positions_tensor(), soap_testing::naive_pairs(tr, 3.0)), p) < 1e-12);
        auto pm = f;
        std::vector<long> perm(static_cast<size_t>(f.n_atoms()));
        for (long i = 0; i < f.n_atoms(); ++i) perm[static_cast<size_t>(i)] = (i * 3 + 1) % f.n_atoms();  // 3 coprime to 4 and 5
        for (long i = 0; i < f.n_atoms(); ++i) {
            pm.numbers[static_cast<size_t>(i)] = f.numbers[static_cast<size_t>(perm[static_cast<size_t>(i)])];
            for (int a = 0; a < 3; ++a) pm.positions[3 * i + a] = f.positions[3 * perm[static_cast<size_t>(i)] + a];
        }
        Tensor q = calc.compute(pm.numbers, pm.positions_tensor(), soap_testing::naive_pairs(pm, 3.0));
        CHECK(max_abs_diff(q, ad::index_select(p, 0, perm)) < 1e-12);
    }
}

TEST_CASE("soap op: a neighbour crossing the cutoff changes features continuously with zero derivative",
          "[descriptors][soap]") {
    desc::Soap calc(small_hypers({1, 8}));
    soap_testing::Frame f;
    f.numbers = {8, 1, 1};
    auto features_at = [&](double d, Tensor* grad_of_sum) {
        f.positions = {0, 0, 0, -0.6, 0.7, 0.1, d, 0.2, 0.3};  // atom 2: 3.6 A from atom 1
        Tensor x = leaf(f.positions_tensor());
        Tensor p = desc::soap(x, Tensor(), f.numbers, soap_testing::naive_pairs(f, 3.0), calc);
        if (grad_of_sum) *grad_of_sum = ad::grad(ad::sum(p), {x}, ad::CreateGraph::no)[0];
        return p.detach();
    };
    const double d_c = std::sqrt(9.0 - 0.13);  // atom 2 at exactly r_c from atom 0
    Tensor g_in, g_out;
    Tensor in = features_at(d_c - 1e-4, &g_in), out = features_at(d_c + 1e-4, &g_out);
    // f_c R_nl ~ (r_c - r)^3: a 1e-4 step changes features by ~1e-12 and gradients by ~1e-8
    CHECK(max_abs_diff(in, out) < 1e-10);
    for (int a = 6; a < 9; ++a) CHECK(std::fabs(g_in[a]) < 1e-6);  // d/dx of the crossing atom
    CHECK(max_abs_diff(g_in, g_out) < 1e-6);
    Tensor at = features_at(d_c, nullptr);  // exactly at r_c: no contribution (strict < in the list too)
    CHECK(max_abs_diff(at, out) < 1e-14);
}

TEST_CASE("soap op: errors name the problem", "[descriptors][soap]") {
    desc::Soap calc(small_hypers({1, 8}));
    auto f = cluster();
    desc::SoapPairs pairs = soap_testing::naive_pairs(f, 3.0);
    std::vector<int> bad = f.numbers;
    bad[1] = 6;
    REQUIRE_THROWS_WITH(calc.compute(bad, f.positions_tensor(), pairs),
                        Catch::Contains("soap: expected atomic numbers from the model's species list, got 6"));
    REQUIRE_THROWS_WITH(desc::soap(Tensor::zeros({2, 3}), Tensor(), f.numbers, pairs, calc),
                        Catch::Contains("soap: expected positions [5, 3], got [2, 3]"));
    REQUIRE_THROWS_WITH(desc::soap(f.positions_tensor(), Tensor::zeros({3}), f.numbers, pairs, calc),
                        Catch::Contains("soap: expected strain [3, 3] or undefined, got [3]"));
    auto g = f;
    std::copy(g.positions.begin(), g.positions.begin() + 3, g.positions.begin() + 3);  // atom 1 onto atom 0
    desc::SoapPairs same{{0}, {1}, Tensor::zeros({1, 3})};
    REQUIRE_THROWS_WITH(calc.compute(g.numbers, g.positions_tensor(), same),
                        Catch::Contains("soap: expected distinct atoms, got atoms 0 and 1 at the same point"));
    desc::SoapHypers h = small_hypers({8, 1});
    REQUIRE_THROWS_WITH(desc::Soap(h), Catch::Contains("soap: expected species sorted ascending"));
}

TEST_CASE("soap op: read_extxyz + neighbor_list give the naive helpers' features", "[descriptors][soap]") {
    for (const char* name : {"cu_fcc4.xyz", "ethanol.xyz"}) {
        desc::System sys = desc::read_extxyz(reference_path(name)).at(0);
        auto frame = soap_testing::read_xyz(reference_path(name)).at(0);
        desc::SoapHypers h = small_hypers(std::string(name) == "ethanol.xyz" ? std::vector<int>{1, 6, 8} : std::vector<int>{29});
        h.cutoff = 5.0;
        desc::Soap calc(h);
        desc::SoapPairs pairs = desc::soap_pairs(desc::neighbor_list(sys, h.cutoff), sys);
        Tensor a = calc.compute(sys.numbers, sys.positions, pairs);
        Tensor b = calc.compute(frame.numbers, frame.positions_tensor(), soap_testing::naive_pairs(frame, h.cutoff));
        CHECK(max_abs_diff(a, b) < 1e-12);
    }
}

TEST_CASE("soap: the spline calculator equals the exact (std::sph_bessel) one", "[descriptors][soap]") {
    // naive twin of the fast radial kernel; 1e-12: the spline's error is ~1e-14 on O(1) features
    auto f = cluster();
    desc::SoapHypers h = small_hypers({1, 8});
    h.cutoff = 5.0;
    h.max_angular = 6;
    h.max_radial = 7;
    desc::Soap fast(h);
    h.spline_intervals = 0;
    desc::Soap exact(h);
    desc::SoapPairs pairs = soap_testing::naive_pairs(f, 5.0);
    CHECK(max_abs_diff(fast.compute(f.numbers, f.positions_tensor(), pairs),
                       exact.compute(f.numbers, f.positions_tensor(), pairs)) < 1e-12);
}

TEST_CASE("soap: compute_many and transpose_apply_many equal the per-structure results, bit for bit, on 1-3 threads", "[descriptors][soap]") {
    const auto data = testing::test_frames;
    std::vector<desc::System> frames = data("ethanol-xtb-5.xyz");
    for (const auto& f : data("cu-emt-6.xyz")) frames.push_back(f);  // periodic, with strain below
    desc::SoapHypers h = small_hypers({1, 6, 8, 29});
    h.cutoff = 4.0;
    desc::Soap calc(h);
    std::vector<desc::SoapPairs> pairs;
    for (const auto& f : frames) pairs.push_back(desc::soap_pairs(desc::neighbor_list(f, h.cutoff), f));
    const double strain[9] = {0.01, 0.002, 0, 0.002, -0.01, 0, 0, 0, 0.003};
    std::vector<desc::Soap::Input> inputs;
    for (size_t s = 0; s < frames.size(); ++s)
        inputs.push_back({&frames[s].numbers, frames[s].positions.data(), &pairs[s], frames[s].any_pbc() ? strain : nullptr});
    // oracle: compute() structure by structure, stacked; J^T g of each structure
    std::vector<Tensor> parts, vjps;
    ad::Rng rng(5);
    std::vector<Tensor> gs;
    for (size_t s = 0; s < frames.size(); ++s) {
        desc::SoapJacobian J;
        parts.push_back(calc.compute(frames[s].numbers, frames[s].positions.data(), pairs[s], inputs[s].strain, &J));
        gs.push_back(rng.normal(parts.back().shape()));
        vjps.push_back(J.transpose_apply(gs.back()));
    }
    Tensor expected = ad::concat(parts, 0);
    for (int threads : {1, 2, 3}) {
        INFO(threads << " threads");
        std::vector<desc::SoapJacobian> jacs;
        Tensor got = calc.compute_many(inputs, threads, &jacs);
        REQUIRE(got.shape() == expected.shape());
        CHECK(std::memcmp(got.data(), expected.data(), sizeof(double) * static_cast<size_t>(got.numel())) == 0);
        REQUIRE(jacs.size() == frames.size());
        for (size_t s = 0; s < frames.size(); ++s) {
            Tensor v = jacs[s].transpose_apply(gs[s]);
            CHECK(std::memcmp(v.data(), vjps[s].data(), sizeof(double) * static_cast<size_t>(v.numel())) == 0);
        }
        Tensor vjp_all = desc::SoapJacobian::transpose_apply_many(jacs, ad::concat(gs, 0), threads);
        Tensor vjp_expected = ad::concat(vjps, 0);
        REQUIRE(vjp_all.shape() == vjp_expected.shape());
        CHECK(std::memcmp(vjp_all.data(), vjp_expected.data(), sizeof(double) * static_cast<size_t>(vjp_all.numel())) == 0);
        Tensor values_only = calc.compute_many(inputs, threads);
        CHECK(std::memcmp(values_only.data(), expected.data(), sizeof(double) * static_cast<size_t>(got.numel())) == 0);
    }
    std::vector<desc::Soap::Input> bad = {{&frames[0].numbers, nullptr, &pairs[0], nullptr}};
    REQUIRE_THROWS_WITH(calc.compute_many(bad, 2), Catch::Contains("compute_many input 0"));
}

// Three structures stacked as a batch: the H/O cluster (no strain), Cu (strained) and the slab.
struct Stack {
    std::vector<std::vector<int>> numbers;
    std::vector<desc::SoapPairs> pairs;
    std::vector<long> offsets{0};
    Tensor positions;
    std::vector<Tensor> strains;
};

Stack three_structures(ad::Rng& rng) {
    Stack s;
    std::vector<Tensor> R;
    int k = 0;
    for (const auto& f : {cluster(), copper(), triclinic_slab()}) {
        s.numbers.push_back(f.numbers);
        s.pairs.push_back(soap_testing::naive_pairs(f, k ? 3.4 : 3.0));
        s.offsets.push_back(s.offsets.back() + f.n_atoms());
        R.push_back(f.positions_tensor());
        s.strains.push_back(k ? leaf(rng.normal({3, 3}, 0.0, 0.01)) : Tensor());
        ++k;
    }
    s.positions = leaf(ad::concat(R, 0));
    return s;
}

TEST_CASE("soap_rows: rows of a stack equal index_select of the per-structure soap ops, with their gradients",
          "[descriptors][soap]") {
    desc::Soap calc(small_hypers({1, 8, 29}));
    ad::Rng rng(21);
    Stack st = three_structures(rng);
    const long n = st.offsets.back();
    auto oracle = [&](const Tensor& R, const std::vector<Tensor>& eps, const std::vector<long>& rows) {
        std::vector<Tensor> parts;
        for (size_t s = 0; s < st.numbers.size(); ++s)
            parts.push_back(desc::soap(ad::slice(R, 0, st.offsets[s], st.offsets[s + 1]), eps[s], st.numbers[s], st.pairs[s], calc));
        return ad::index_select(ad::concat(parts, 0), 0, rows);
    };
    std::vector<std::vector<long>> species_rows(3);  // H, O, Cu
    for (long s = 0, i = 0; s < 3; ++s)
        for (int Z : st.numbers[static_cast<size_t>(s)]) species_rows[Z == 1 ? 0 : Z == 8 ? 1 : 2].push_back(i++);
    auto stack = desc::soap_stack(st.positions, st.strains, st.numbers, st.pairs, st.offsets, calc);
    for (const auto& rows : species_rows) {
        Tensor y = desc::soap_rows(st.positions, st.strains, rows, stack);
        Tensor expected = oracle(st.positions, st.strains, rows);
        REQUIRE(y.shape() == expected.shape());
        CHECK(std::memcmp(y.data(), expected.data(), sizeof(double) * static_cast<size_t>(y.numel())) == 0);
        // gradients w.r.t. positions and strains against the oracle's
        Tensor w = rng.normal(y.shape());
        std::vector<Tensor> wrt{st.positions, st.strains[1], st.strains[2]};
        auto g = ad::grad(ad::sum(y * w), wrt, ad::CreateGraph::no);
        auto ge = ad::grad(ad::sum(expected * w), wrt, ad::CreateGraph::no);
        for (size_t k = 0; k < g.size(); ++k) CHECK(max_abs_diff(g[k], ge[k]) < 1e-12);
    }
    // gradcheck w.r.t. positions and strains (the stack is recomputed at every probe)
    const std::vector<long> rows{7, 0, 3, 12};
    auto fn = [&](const ad::Inputs& in) {
        std::vector<Tensor> eps{Tensor(), in[1], in[2]};
        return desc::soap_rows(in[0], eps, rows, desc::soap_stack(in[0], eps, st.numbers, st.pairs, st.offsets, calc));
    };
    CHECK(ad::gradcheck(fn, {st.positions, st.strains[1], st.strains[2]}));
    // vjp / jvp: transposes of each other, differentiable in g and d; vjp w.r.t. g of all rows = J^T
    Tensor g = leaf(rng.normal({static_cast<long>(rows.size()), calc.n_features()}));
    Tensor d = leaf(rng.normal({n + 9, 3}));
    Tensor lhs = ad::sum(desc::soap_rows_vjp(g, st.positions, st.strains, rows, stack) * d);
    Tensor rhs = ad::sum(g * desc::soap_rows_jvp(d, st.positions, st.strains, rows, stack));
    CHECK(lhs.item() == Approx(rhs.item()).epsilon(1e-12));
    auto vjp = [&](const ad::Inputs& in) { return desc::soap_rows_vjp(in[0], st.positions, st.strains, rows, stack); };
    auto jvp = [&](const ad::Inputs& in) { return desc::soap_rows_jvp(in[0], st.positions, st.strains, rows, stack); };
    CHECK(ad::gradcheck(vjp, {g}));
    CHECK(ad::gradgradcheck(vjp, {g}));
    CHECK(ad::gradcheck(jvp, {d}));
    CHECK(ad::gradgradcheck(jvp, {d}));
}

TEST_CASE("soap_rows: errors name the problem; second derivatives in x throw", "[descriptors][soap]") {
    desc::Soap calc(small_hypers({1, 8, 29}));
    ad::Rng rng(22);
    Stack st = three_structures(rng);
    auto stack = desc::soap_stack(st.positions, st.strains, st.numbers, st.pairs, st.offsets, calc);
    REQUIRE_THROWS_WITH(desc::soap_rows(st.positions, st.strains, {0, 0}, stack),
                        Catch::Contains("soap_rows: expected distinct rows, got 0 twice"));
    REQUIRE_THROWS_WITH(desc::soap_rows(st.positions, st.strains, {0, 99}, stack),
                        Catch::Contains("soap_rows: expected rows in [0, 13), got 99 at position 1"));
    REQUIRE_THROWS_WITH(desc::soap_rows(st.positions, {Tensor()}, {0}, stack),
                        Catch::Contains("soap_rows: expected 3 strains (undefined for none), got 1"));
    Tensor y = desc::soap_rows(st.positions, st.strains, {0, 5, 9}, stack);
    Tensor F = -ad::grad(ad::sum(ad::tanh(y)), {st.positions}, ad::CreateGraph::yes)[0];
    REQUIRE_THROWS_WITH(ad::grad(ad::sum(F * F), {st.positions}, ad::CreateGraph::no),
                        Catch::Contains("soap: second derivatives w.r.t. positions or strain are not implemented"));
}
