// Helpers for the descriptor tests: a temporary directory, building systems in code, comparing
// systems value by value (bit for bit).
#pragma once
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include "autodiff/random.hpp"
#include "tests/helpers.hpp"
#include "descriptors/system.hpp"

namespace desc_testing {

namespace fs = std::filesystem;

using TempDir = testing::TempDir;

inline void write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

/// A system from row-major positions [n, 3] and cell [3, 3] (all atoms Cu unless numbers given).
inline desc::System make_system(const std::vector<double>& positions, const std::vector<double>& cell,
                                std::array<bool, 3> pbc, std::vector<int> numbers = {}) {
    desc::System s;
    long n = static_cast<long>(positions.size() / 3);
    s.numbers = numbers.empty() ? std::vector<int>(static_cast<size_t>(n), 29) : numbers;
    s.positions = ad::tensor({n, 3}, positions);
    s.cell = ad::tensor({3, 3}, cell.empty() ? std::vector<double>(9, 0.0) : cell);
    s.pbc = pbc;
    return s;
}

/// n atoms uniform in a random triclinic cell (vectors = diagonal lengths + off-diagonal skew),
/// positions spread over [-1, 2) in fractional units so that some lie outside the cell.
inline desc::System random_triclinic(ad::Rng& rng, long n, double length, double skew, std::array<bool, 3> pbc) {
    std::vector<double> h(9);
    for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) h[static_cast<size_t>(3 * r + c)] = r == c ? length * rng.uniform(0.8, 1.2)
                                                                                : skew * rng.uniform(-1, 1);
    std::vector<double> x(static_cast<size_t>(3 * n));
    for (long i = 0; i < n; ++i) {
        double f[3] = {rng.uniform(-1, 2), rng.uniform(-1, 2), rng.uniform(-1, 2)};
        for (int c = 0; c < 3; ++c)
            x[static_cast<size_t>(3 * i + c)] = f[0] * h[static_cast<size_t>(c)] + f[1] * h[static_cast<size_t>(3 + c)] +
                                                f[2] * h[static_cast<size_t>(6 + c)];
    }
    return make_system(x, h, pbc);
}

inline bool same_values(const std::vector<double>& a, const std::vector<double>& b) {
    if (a.size() != b.size()) return false;
    for (size_t k = 0; k < a.size(); ++k)
        if (!(a[k] == b[k] || (std::isnan(a[k]) && std::isnan(b[k])))) return false;
    return true;
}

/// Equal shapes and values (NaN equals NaN).
inline bool same_bits(const ad::Tensor& a, const ad::Tensor& b) {
    if (a.defined() != b.defined()) return false;
    if (!a.defined()) return true;
    if (a.shape() != b.shape()) return false;
    for (long k = 0; k < a.numel(); ++k)
        if (!(a[k] == b[k] || (std::isnan(a[k]) && std::isnan(b[k])))) return false;
    return true;
}

/// Every value of two systems is identical (provenance fields aside).
inline void check_same_system(const desc::System& a, const desc::System& b) {
    CHECK(a.numbers == b.numbers);
    CHECK(same_bits(a.positions, b.positions));
    CHECK(same_bits(a.cell, b.cell));
    CHECK(a.pbc == b.pbc);
    CHECK(a.info_raw == b.info_raw);
    REQUIRE(a.arrays.size() == b.arrays.size());
    for (size_t k = 0; k < a.arrays.size(); ++k) {
        CHECK(a.arrays[k].name == b.arrays[k].name);
        CHECK(a.arrays[k].type == b.arrays[k].type);
        CHECK(a.arrays[k].n_cols == b.arrays[k].n_cols);
        CHECK(same_values(a.arrays[k].values, b.arrays[k].values));
        CHECK(a.arrays[k].strings == b.arrays[k].strings);
    }
}

}  // namespace desc_testing
