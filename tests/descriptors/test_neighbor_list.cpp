// Neighbour list: the cell-list search equals its naive twin bit for bit on random triclinic
// cells, mixed periodicity, small and large cutoffs; neighbour counts of specs/soap_vectors;
// strict cutoff, self-images, wrapping independence, half lists, errors.
#include <chrono>
#include <cmath>
#include <set>
#include <tuple>

#include "descriptors/extxyz.hpp"
#include "descriptors/neighbor_list.hpp"
#include "tests/descriptors/desc_helpers.hpp"
#include "tests/helpers.hpp"

using desc::NeighborList;
using desc::Pairs;
using desc::System;
using desc_testing::make_system;

namespace {

void check_same_list(const NeighborList& a, const NeighborList& b) {
    REQUIRE(a.n_pairs() == b.n_pairs());
    CHECK(a.first == b.first);
    CHECK(a.second == b.second);
    CHECK(a.shift == b.shift);
    CHECK(desc_testing::same_bits(a.vectors, b.vectors));
    CHECK(desc_testing::same_bits(a.distances, b.distances));
}

// n_cells[0] x n_cells[1] x n_cells[2] conventional fcc cells of lattice constant a, rattled.
System fcc(double a, std::array<long, 3> n_cells, double rattle, ad::Rng& rng) {
    const double basis[4][3] = {{0, 0, 0}, {0, 0.5, 0.5}, {0.5, 0, 0.5}, {0.5, 0.5, 0}};
    std::vector<double> x;
    for (long u = 0; u < n_cells[0]; ++u)
        for (long v = 0; v < n_cells[1]; ++v)
            for (long w = 0; w < n_cells[2]; ++w)
                for (const auto& b : basis) {
                    x.push_back(a * (static_cast<double>(u) + b[0]) + rattle * rng.uniform(-1, 1));
                    x.push_back(a * (static_cast<double>(v) + b[1]) + rattle * rng.uniform(-1, 1));
                    x.push_back(a * (static_cast<double>(w) + b[2]) + rattle * rng.uniform(-1, 1));
                }
    std::vector<double> h = {a * static_cast<double>(n_cells[0]), 0, 0, 0, a * static_cast<double>(n_cells[1]), 0,
                             0, 0, a * static_cast<double>(n_cells[2])};
    return make_system(x, h, {true, true, true});
}

std::vector<long> counts_of(const std::string& file, double cutoff) {
    System s = desc::read_extxyz(file).at(0);
    return desc::neighbor_counts(desc::neighbor_list(s, cutoff), s.n_atoms());
}

}  // namespace

TEST_CASE("neighbor_list: neighbour counts of the SOAP test vectors", "[descriptors][neighbor_list]") {
    using V = std::vector<long>;
    CHECK(counts_of("tests/data/cu_fcc4.xyz", 5.0) == V{42, 42, 42, 42});
    CHECK(counts_of("tests/data/cu_fcc4.xyz", 3.0) == V{12, 12, 12, 12});
    CHECK(counts_of("tests/data/water.xyz", 5.0) == V{2, 2, 2});
    CHECK(counts_of("tests/data/water.xyz", 3.0) == V{2, 2, 2});
    // ethanol comes in a 10 A box with pbc F F F: the box is ignored
    CHECK(counts_of("tests/data/ethanol.xyz", 5.0) == V{8, 8, 8, 8, 8, 8, 8, 8, 8});
    CHECK(counts_of("tests/data/ethanol.xyz", 3.0) == V{8, 7, 7, 7, 7, 6, 6, 6, 4});
}

TEST_CASE("neighbor_list: cell lists equal the naive oracle", "[descriptors][neighbor_list]") {
    ad::Rng rng(11);
    const std::array<long, 5> sizes = {1, 2, 7, 30, 70};
    const std::array<double, 4> cutoffs = {0.3, 0.55, 1.0, 1.7};  // in units of the cell length
    long n_cases = 0, n_pairs = 0;
    for (int mask = 0; mask < 8; ++mask) {
        std::array<bool, 3> pbc = {(mask & 1) != 0, (mask & 2) != 0, (mask & 4) != 0};
        for (long n : sizes)
            for (double rc : cutoffs) {
                double length = 4.0;
                double skew = rng.uniform(0, 0.45) * length;
                System s = desc_testing::random_triclinic(rng, n, length, skew, pbc);
                for (Pairs p : {Pairs::full, Pairs::half}) {
                    NeighborList fast = desc::neighbor_list(s, rc * length, p);
                    NeighborList slow = desc::neighbor_list_naive(s, rc * length, p);
                    INFO("pbc mask " << mask << ", n " << n << ", cutoff " << rc * length);
                    check_same_list(fast, slow);
                    ++n_cases;
                    n_pairs += fast.n_pairs();
                }
            }
    }
    CHECK(n_cases == 8 * 5 * 4 * 2);
    CHECK(n_pairs > 100000);  // the comparison is not vacuous

    // molecules without a cell, spread over a box much larger than the cutoff (many empty bins)
    for (long n : {3L, 50L, 200L}) {
        std::vector<double> x(static_cast<size_t>(3 * n));
        for (auto& v : x) v = rng.uniform(-20, 20);
        System s = make_system(x, {}, {false, false, false});
        check_same_list(desc::neighbor_list(s, 4.0), desc::neighbor_list_naive(s, 4.0));
    }
    // a rattled 5x5x5 fcc supercell: ~40 neighbours per atom
    System cu = fcc(3.61, {5, 5, 5}, 0.1, rng);
    NeighborList fast = desc::neighbor_list(cu, 5.0);
    check_same_list(fast, desc::neighbor_list_naive(cu, 5.0));
    CHECK(fast.n_pairs() > 30 * cu.n_atoms());
}

TEST_CASE("neighbor_list: pairs are sorted and their vectors are r_j - r_i + S.cell", "[descriptors][neighbor_list]") {
    ad::Rng rng(5);
    System s = desc_testing::random_triclinic(rng, 20, 3.0, 1.0, {true, false, true});
    NeighborList nl = desc::neighbor_list(s, 4.5);
    REQUIRE(nl.n_pairs() > 0);
    CHECK(nl.vectors.shape() == ad::Shape{nl.n_pairs(), 3});
    CHECK(nl.distances.shape() == ad::Shape{nl.n_pairs()});
    const double* x = s.positions.data();
    const double* h = s.cell.data();
    for (long p = 0; p < nl.n_pairs(); ++p) {
        auto key = std::make_tuple(nl.first[p], nl.second[p], nl.shift[p]);
        if (p > 0) CHECK(std::make_tuple(nl.first[p - 1], nl.second[p - 1], nl.shift[p - 1]) < key);
        CHECK(nl.shift[p][1] == 0);  // no images along the non-periodic direction
        double d2 = 0;
        for (int c = 0; c < 3; ++c) {
            double v = x[3 * nl.second[p] + c] - x[3 * nl.first[p] + c];
            for (int k = 0; k < 3; ++k) v += nl.shift[p][k] * h[3 * k + c];
            CHECK(std::fabs(nl.vectors[3 * p + c] - v) < 1e-12);
            d2 += v * v;
        }
        CHECK(std::fabs(nl.distances[p] - std::sqrt(d2)) < 1e-12);
        CHECK(nl.distances[p] < 4.5);
    }
}

TEST_CASE("neighbor_list: independent of wrapping", "[descriptors][neighbor_list]") {
    ad::Rng rng(8);
    for (std::array<bool, 3> pbc : {std::array<bool, 3>{true, true, true}, std::array<bool, 3>{true, false, true}}) {
        System s = desc_testing::random_triclinic(rng, 25, 4.0, 1.5, pbc);
        NeighborList a = desc::neighbor_list(s, 6.0);
        // move atom i by the lattice translation m_i (periodic directions only)
        std::vector<std::array<int, 3>> m(25);
        System moved = s;
        moved.positions = s.positions.clone();
        double* x = moved.positions.data();
        for (long i = 0; i < 25; ++i) {
            for (int k = 0; k < 3; ++k) m[i][k] = pbc[k] ? static_cast<int>(rng.below(7)) - 3 : 0;
            for (int c = 0; c < 3; ++c)
                for (int k = 0; k < 3; ++k) x[3 * i + c] += m[i][k] * s.cell[3 * k + c];
        }
        NeighborList b = desc::neighbor_list(moved, 6.0);
        // the same pairs with S' = S + m_i - m_j, the same vectors up to rounding
        std::set<std::tuple<long, long, std::array<int, 3>>> expected, got;
        for (long p = 0; p < a.n_pairs(); ++p) {
            std::array<int, 3> sh = a.shift[p];
            for (int k = 0; k < 3; ++k) sh[k] += m[a.first[p]][k] - m[a.second[p]][k];
            expected.insert({a.first[p], a.second[p], sh});
        }
        for (long p = 0; p < b.n_pairs(); ++p) got.insert({b.first[p], b.second[p], b.shift[p]});
        CHECK(got == expected);
        CHECK(desc::neighbor_counts(a, 25) == desc::neighbor_counts(b, 25));
    }
}

TEST_CASE("neighbor_list: half lists hold one of each (i, j, S), (j, i, -S)", "[descriptors][neighbor_list]") {
    ad::Rng rng(9);
    System s = desc_testing::random_triclinic(rng, 12, 3.0, 1.0, {true, true, true});
    NeighborList full = desc::neighbor_list(s, 5.0, Pairs::full);
    NeighborList half = desc::neighbor_list(s, 5.0, Pairs::half);
    CHECK(2 * half.n_pairs() == full.n_pairs());
    std::set<std::tuple<long, long, std::array<int, 3>>> all;
    for (long p = 0; p < full.n_pairs(); ++p) all.insert({full.first[p], full.second[p], full.shift[p]});
    for (long p = 0; p < half.n_pairs(); ++p) {
        auto sh = half.shift[p];
        CHECK(all.count({half.first[p], half.second[p], sh}) == 1);
        CHECK(all.count({half.second[p], half.first[p], {-sh[0], -sh[1], -sh[2]}}) == 1);
        CHECK(half.first[p] <= half.second[p]);
    }
}

TEST_CASE("neighbor_list: strict cutoff, self-images, mixed periodicity", "[descriptors][neighbor_list]") {
    // two atoms exactly 2 apart: not neighbours at r_c = 2, neighbours just above
    System pair = make_system({0, 0, 0, 2, 0, 0}, {}, {false, false, false});
    CHECK(desc::neighbor_list(pair, 2.0).n_pairs() == 0);
    CHECK(desc::neighbor_list(pair, std::nextafter(2.0, 3.0)).n_pairs() == 2);
    // one atom in a cube of edge 3: its six images at exactly 3 count only above r_c = 3
    System one = make_system({0.5, 0.5, 0.5}, {3, 0, 0, 0, 3, 0, 0, 0, 3}, {true, true, true});
    CHECK(desc::neighbor_list(one, 3.0).n_pairs() == 0);
    NeighborList six = desc::neighbor_list(one, std::nextafter(3.0, 4.0));
    CHECK(six.n_pairs() == 6);
    CHECK(six.shift.front() == std::array<int, 3>{-1, 0, 0});
    CHECK(six.shift.back() == std::array<int, 3>{1, 0, 0});
    CHECK(desc::neighbor_list(make_system({0, 0, 0}, {}, {false, false, false}), 10.0).n_pairs() == 0);
    CHECK(desc::neighbor_list(make_system({}, {}, {false, false, false}), 10.0).n_pairs() == 0);
    // a chain periodic along x only (a = 2): atom 0 sees its images at +-2, +-4 and atom 1
    // (3 A away along y) at dx = 0, +-2
    System chain = make_system({0, 0, 0, 0, 3, 0}, {2, 0, 0, 0, 10, 0, 0, 0, 10}, {true, false, false});
    CHECK(desc::neighbor_counts(desc::neighbor_list(chain, 5.0), 2) == std::vector<long>{7, 7});
    // the cell is ignored without pbc, even a singular one
    System flat = make_system({0, 0, 0, 1, 0, 0}, {1, 0, 0, 2, 0, 0, 0, 0, 0}, {false, false, false});
    CHECK(desc::neighbor_list(flat, 1.5).n_pairs() == 2);
}

TEST_CASE("neighbor_list: errors", "[descriptors][neighbor_list]") {
    System same = make_system({0, 0, 0, 1, 0, 0, 0, 0, 0}, {}, {false, false, false});
    REQUIRE_THROWS_WITH(desc::neighbor_list(same, 3.0),
                        "neighbor_list: system: expected atoms at least 0.1 A apart, got atoms 0 and 2 at distance 0 "
                        "(shift [0, 0, 0]); duplicated atoms?");
    REQUIRE_THROWS_WITH(desc::neighbor_list_naive(same, 3.0), Catch::Contains("got atoms 0 and 2 at distance 0 "));
    // atom 1 sits 0.05 A from a periodic image of atom 0
    System image = make_system({0, 0, 0, 2.95, 0, 0}, {3, 0, 0, 0, 3, 0, 0, 0, 3}, {true, true, true});
    REQUIRE_THROWS_WITH(desc::neighbor_list(image, 2.0),
                        Catch::Contains("got atoms 0 and 1 at distance 0.05") && Catch::Contains("(shift [-1, 0, 0])"));
    REQUIRE_THROWS_WITH(desc::neighbor_list_naive(image, 2.0), Catch::Contains("got atoms 0 and 1 at distance 0.05"));
    System singular = make_system({0, 0, 0}, {1, 0, 0, 2, 0, 0, 0, 0, 1}, {true, true, true});
    REQUIRE_THROWS_WITH(desc::neighbor_list(singular, 2.0), Catch::Contains("expected a non-singular cell with pbc"));
    REQUIRE_THROWS_WITH(desc::neighbor_list(same, 0.0), Catch::Contains("expected a finite cutoff > 0, got 0"));
    System bad = make_system({0, NAN, 0}, {}, {false, false, false});
    REQUIRE_THROWS_WITH(desc::neighbor_list(bad, 1.0), Catch::Contains("expected finite positions"));
}

TEST_CASE("neighbor_list: check_geometry names the frame and both atoms", "[descriptors][neighbor_list]") {
    // 0.11 A apart passes; a far periodic image of atom 0 at 0.09 A from atom 2 does not
    System ok = make_system({0, 0, 0, 0.11, 0, 0}, {}, {false, false, false});
    desc::check_geometry(ok);
    System close = make_system({0.5, 0.5, 0.5, 2, 2, 2, 0.5, 0.5, 10.41}, {4, 0, 0, 0, 4, 0, 0, 0, 10}, {true, true, true});
    close.source = "c.xyz";
    close.frame = 7;
    close.line = 99;
    REQUIRE_THROWS_WITH(desc::check_geometry(close),
                        Catch::StartsWith("c.xyz frame 7 (line 99): expected atoms at least 0.1 A apart, got atoms 0 and 2 "
                                          "at distance 0.09") && Catch::Contains("(shift [0, 0, -1])"));
    System nan = make_system({0, 0, NAN}, {}, {false, false, false});
    REQUIRE_THROWS_WITH(desc::check_geometry(nan), "system: expected finite positions, got nan for atom 0");
}

TEST_CASE("neighbor_list: 10,192-atom Cu supercell, r_c = 5", "[descriptors][neighbor_list][.slow]") {
    ad::Rng rng(1);
    System cu = fcc(3.61, {14, 14, 13}, 0.01, rng);
    auto t0 = std::chrono::steady_clock::now();
    NeighborList nl = desc::neighbor_list(cu, 5.0);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    WARN("neighbor_list: " << cu.n_atoms() << " atoms, " << nl.n_pairs() << " pairs in " << seconds * 1e3 << " ms");
    CHECK(desc::neighbor_counts(nl, cu.n_atoms()) == std::vector<long>(static_cast<size_t>(cu.n_atoms()), 42));
    CHECK(seconds < 1.0);
}
