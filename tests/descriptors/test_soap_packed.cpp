// desc::SoapPacked (values only, half pair list, packed upper triangles) against Soap::compute on
// the full list, the general kernel kept as its oracle: ethanol (3 species, molecules) and
// periodic Cu (1 species, self-images in the list).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "descriptors/neighbor_list.hpp"
#include "descriptors/soap_packed.hpp"
#include "tests/helpers.hpp"

namespace {

// max |packed - oracle| over a structure's rows, relative to the largest feature
double packed_vs_oracle(const desc::System& sys, const desc::Soap& soap) {
    const desc::SoapPacked packed(soap);
    const desc::NeighborList full = desc::neighbor_list(sys, soap.hypers().cutoff, desc::Pairs::full);
    const ad::Tensor ref = soap.compute(sys.numbers, sys.positions.detach(), desc::soap_pairs(full, sys));  // [n, D]
    const desc::NeighborList half = desc::neighbor_list(sys, soap.hypers().cutoff, desc::Pairs::half);
    REQUIRE(half.n_pairs() * 2 == full.n_pairs());
    const long n = sys.n_atoms(), D = soap.n_features(), Dp = packed.n_features();
    std::vector<double> q(static_cast<size_t>(n * Dp), -1.0), scratch;
    std::vector<double*> rows;
    for (long i = 0; i < n; ++i) rows.push_back(q.data() + i * Dp);
    packed.compute(sys.numbers, half.first, half.second, half.vectors.data(), rows.data(), scratch);
    double err = 0, scale = 0;
    for (long i = 0; i < n; ++i) {
        const double* r = ref.data() + i * D;
        double row_sum = 0, packed_sum = 0;
        for (long t = 0; t < Dp; ++t) {
            const double v = q[static_cast<size_t>(i * Dp + t)];
            err = std::max({err, std::fabs(v - r[packed.full_index()[static_cast<size_t>(t)]]),
                            std::fabs(v - r[packed.mirror_index()[static_cast<size_t>(t)]])});
            packed_sum += packed.multiplicity()[static_cast<size_t>(t)] * v;
        }
        for (long k = 0; k < D; ++k) row_sum += r[k], scale = std::max(scale, std::fabs(r[k]));
        CHECK(std::fabs(packed_sum - row_sum) < 1e-12 * (1 + std::fabs(row_sum)));  // multiplicity covers every feature
    }
    return err / scale;
}

}  // namespace

TEST_CASE("soap_packed: upper triangles of Soap::compute from a half list (ethanol, periodic Cu); index maps; errors",
          "[descriptors][soap]") {
    const std::vector<desc::System> eth = testing::test_frames("ethanol-xtb-5.xyz");
    const std::vector<desc::System> cu = testing::test_frames("cu-emt-6.xyz");
    desc::SoapHypers h;  // the defaults: l_max 6, n_max 7
    h.species = {1, 6, 8};
    const desc::Soap soap_eth(h);
    h.species = {29};
    const desc::Soap soap_cu(h);
    // only the order of the sums differs (pairs taken once, both ends): rounding, ~1e-16 relative
    CHECK(packed_vs_oracle(eth[0], soap_eth) < 1e-13);
    CHECK(packed_vs_oracle(eth[3], soap_eth) < 1e-13);
    REQUIRE(cu[0].any_pbc());
    CHECK(packed_vs_oracle(cu[0], soap_cu) < 1e-13);

    // sizes and maps: Dp = sum_l W (W + 1) / 2; every feature is hit by exactly one packed entry
    const desc::SoapPacked p(soap_eth);
    long Dp = 0;
    for (int n_l : soap_eth.n_per_l()) Dp += 3L * n_l * (3L * n_l + 1) / 2;
    CHECK(p.n_features() == Dp);
    CHECK(p.n_features() == 1344);  // the defaults with 3 species, of D = 2556
    std::vector<int> hits(static_cast<size_t>(soap_eth.n_features()), 0);
    for (long t = 0; t < p.n_features(); ++t) {
        const long k1 = p.full_index()[static_cast<size_t>(t)], k2 = p.mirror_index()[static_cast<size_t>(t)];
        ++hits[static_cast<size_t>(k1)];
        if (k2 != k1) ++hits[static_cast<size_t>(k2)];
        CHECK(p.multiplicity()[static_cast<size_t>(t)] == (k1 == k2 ? 1.0 : 2.0));
    }
    CHECK(std::all_of(hits.begin(), hits.end(), [](int c) { return c == 1; }));

    std::vector<double> scratch, row(static_cast<size_t>(Dp));
    std::vector<double*> rows{row.data(), row.data()};
    const double v[3] = {1.0, 0.0, 0.0};
    CHECK_THROWS_WITH(p.compute({1, 6}, {0}, {2}, v, rows.data(), scratch),
                      Catch::Contains("pair 0 refers to atom 2, expected < 2"));
    CHECK_THROWS_WITH(p.compute({1, 7}, {0}, {1}, v, rows.data(), scratch),
                      Catch::Contains("expected atomic numbers from the model's species list, got 7"));
}
