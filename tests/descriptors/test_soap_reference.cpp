// SOAP against the spec's test vectors (tests/reference/soap/, copied from specs/soap_vectors/):
// neighbour counts (exact), expansion coefficients, features (1e-9 M), position and strain
// derivatives (1e-8 M), with M = max(1, max |reference|) per array (specs/soap.md sec. 10).
// Set SOAP_VERBOSE=1 to print the achieved errors.
#include <catch2/catch.hpp>
#include <toml++/toml.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "descriptors/soap.hpp"
#include "tests/descriptors/soap_test_helpers.hpp"

namespace {
std::string reference_path(const std::string& name) {
    return (std::filesystem::path(__FILE__).parent_path().parent_path() / "reference" / "soap" / name).string();
}

void report(const std::string& what, double diff, double scale) {
    if (std::getenv("SOAP_VERBOSE")) std::printf("%-34s max|diff| = %.3e  M = %.3e  rel = %.3e\n", what.c_str(), diff, scale, diff / scale);
}

// d[n + 3, 3] with a single 1 at (row, col)
ad::Tensor unit_direction(long n, long row, long col) {
    ad::Tensor d = ad::Tensor::zeros({n + 3, 3});
    d.data()[3 * row + col] = 1.0;
    return d;
}
}  // namespace

TEST_CASE("soap: features, expansion, gradients and strain match the spec's vectors", "[descriptors][soap]") {
    toml::table cases = toml::parse_file(reference_path("cases.toml"));
    int n_cases = 0;
    for (const auto& node : *cases["case"].as_array()) {
        const toml::table& c = *node.as_table();
        const std::string name = c["name"].value<std::string>().value();
        SECTION(name) {
            desc::SoapHypers h;
            h.cutoff = c["cutoff"].value<double>().value();
            h.width = c["width"].value<double>().value();
            h.max_angular = static_cast<int>(c["max_angular"].value<int64_t>().value());
            h.max_radial = static_cast<int>(c["max_radial"].value<int64_t>().value());
            for (const auto& z : *c["species"].as_array()) h.species.push_back(static_cast<int>(z.value<int64_t>().value()));
            desc::Soap soap(h);
            std::vector<int> n_per_l;
            for (const auto& v : *c["n_per_l"].as_array()) n_per_l.push_back(static_cast<int>(v.value<int64_t>().value()));
            CHECK(soap.n_per_l() == n_per_l);
            CHECK(soap.n_features() == c["dimension"].value<int64_t>().value());

            auto frame = soap_testing::read_xyz(reference_path(c["structure"].value<std::string>().value())).at(0);
            const long n = frame.n_atoms(), D = soap.n_features();
            desc::SoapPairs pairs = soap_testing::naive_pairs(frame, h.cutoff);
            std::vector<long> counts(static_cast<size_t>(n), 0);
            for (long i : pairs.first) ++counts[static_cast<size_t>(i)];
            std::vector<long> ref_counts;
            for (const auto& v : *c["neighbour_counts"].as_array()) ref_counts.push_back(v.value<int64_t>().value());
            CHECK(counts == ref_counts);

            desc::SoapJacobian J;
            ad::Tensor x = frame.positions_tensor();
            ad::Tensor p = soap.compute(frame.numbers, x.data(), pairs, nullptr, &J);
            std::vector<double> ref;
            for (auto& row : soap_testing::read_rows(reference_path(c["features"].value<std::string>().value())))
                ref.insert(ref.end(), row.begin(), row.end());
            auto [diff, scale] = soap_testing::max_diff_and_scale(p.to_vector(), ref);
            report(name + " features", diff, scale);
            CHECK(diff <= 1e-9 * scale);

            if (auto e = c["expansion"].value<std::string>()) {
                ad::Tensor cx = soap.expansion(frame.numbers, x, pairs);
                std::vector<double> ours, theirs;
                const long Kc = soap.n_coefficients();
                const long S = static_cast<long>(h.species.size());
                for (auto& row : soap_testing::read_rows(reference_path(*e))) {
                    const long i = static_cast<long>(row[0]), l = static_cast<long>(row[1]), m = static_cast<long>(row[2]);
                    const long nn = static_cast<long>(row[3]), s = static_cast<long>(row[4]);
                    const long W = n_per_l[static_cast<size_t>(l)] * S;
                    ours.push_back(cx[i * Kc + soap.coefficient_offset(static_cast<int>(l)) + (m + l) * W + nn * S + s]);
                    theirs.push_back(row[5]);
                }
                auto [de, se] = soap_testing::max_diff_and_scale(ours, theirs);
                report(name + " expansion", de, se);
                CHECK(de <= 1e-9 * se);
            }
            if (auto g = c["gradients"].value<std::string>()) {
                // dense dp_i/dx_(j,a) from the per-pair Jacobian, one direction at a time
                std::vector<double> ours(static_cast<size_t>(n * n * 3 * D));
                for (long j = 0; j < n; ++j)
                    for (long a = 0; a < 3; ++a) {
                        ad::Tensor dp = J.apply(unit_direction(n, j, a));
                        for (long i = 0; i < n; ++i)
                            std::copy(dp.data() + i * D, dp.data() + (i + 1) * D, ours.begin() + ((i * n + j) * 3 + a) * D);
                    }
                std::vector<double> theirs;
                for (auto& row : soap_testing::read_rows(reference_path(*g))) theirs.insert(theirs.end(), row.begin() + 3, row.end());
                auto [dg, sg] = soap_testing::max_diff_and_scale(ours, theirs);
                report(name + " gradients", dg, sg);
                CHECK(dg <= 1e-8 * sg);
            }
            if (auto st = c["strain"].value<std::string>()) {
                std::vector<double> ours(static_cast<size_t>(n * 9 * D));
                for (long a = 0; a < 3; ++a)
                    for (long b = 0; b < 3; ++b) {
                        ad::Tensor dp = J.apply(unit_direction(n, n + a, b));
                        for (long i = 0; i < n; ++i)
                            std::copy(dp.data() + i * D, dp.data() + (i + 1) * D, ours.begin() + ((i * 3 + a) * 3 + b) * D);
                    }
                std::vector<double> theirs;
                for (auto& row : soap_testing::read_rows(reference_path(*st))) theirs.insert(theirs.end(), row.begin() + 3, row.end());
                auto [ds, ss] = soap_testing::max_diff_and_scale(ours, theirs);
                report(name + " strain", ds, ss);
                CHECK(ds <= 1e-8 * ss);
            }
        }
        ++n_cases;
    }
    CHECK(n_cases == 6);
}
