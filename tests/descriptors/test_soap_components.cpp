// SOAP building blocks against tests/reference/soap/components.toml (specs/soap.md sec. 3-5):
// Bessel zeros, R_nl and dR_nl/dr (exact and spline), the shifted-cosine cutoff, real Y_lm and
// their gradients; plus the spline against its exact twin on a fine grid and Y_lm against
// finite differences.
#include <catch2/catch.hpp>
#include <toml++/toml.h>

#include <cmath>
#include <filesystem>

#include "descriptors/cutoff.hpp"
#include "descriptors/radial_basis.hpp"
#include "descriptors/spherical_harmonics.hpp"

namespace {
std::string reference_path(const std::string& name) {
    return (std::filesystem::path(__FILE__).parent_path().parent_path() / "reference" / "soap" / name).string();
}
const toml::table& components() {
    static toml::table t = toml::parse_file(reference_path("components.toml"));
    return t;
}
double num(const toml::node* n) { return n->value<double>().value(); }
}  // namespace

TEST_CASE("soap radial: Bessel zeros, trimming, R_nl and dR_nl/dr match the reference", "[descriptors][soap]") {
    const auto& t = components();
    // reference values are closed-form scipy; ours are std::sph_bessel (exact) or the quintic
    // spline: both agree to ~1e-14, 1e-12 leaves room for libm differences
    desc::RadialBasis exact(5.0, 6, 7, 0), spline(5.0, 6, 7);
    CHECK(exact.n_per_l() == std::vector<int>{8, 7, 7, 6, 6, 5, 5});
    CHECK(desc::RadialBasis(3.0, 2, 2, 0).n_per_l() == std::vector<int>{3, 2, 2});
    CHECK(desc::RadialBasis(5.0, 4, 5, 0).n_per_l() == std::vector<int>{6, 5, 5, 4, 4});
    CHECK(desc::RadialBasis(5.0, 8, 4, 0).n_per_l() == std::vector<int>{5, 4, 4, 3, 3, 2, 2, 2, 1});
    CHECK(desc::RadialBasis(5.0, 6, 2, 0).n_per_l() == std::vector<int>{3, 2, 2, 1, 1, 1, 1});
    const auto& zeros = *t["bessel_zeros"].as_array();
    for (int l = 0; l <= 6; ++l) {
        std::vector<double> z = desc::spherical_bessel_zeros(l, 8);
        for (int k = 0; k < 8; ++k) CHECK(z[k] == Approx(num(zeros[l].as_array()->get(k))).epsilon(1e-14));
    }
    const auto& radii = *t["radial_r"].as_array();
    const auto& R_ref = *t["radial"].as_array();
    const auto& dR_ref = *t["radial_deriv"].as_array();
    std::vector<double> R(exact.n_functions()), dR(exact.n_functions()), Rs(R.size()), dRs(R.size());
    double max_err = 0.0, max_err_spline = 0.0;
    for (size_t ir = 0; ir < radii.size(); ++ir) {
        const double r = num(radii.get(ir));
        exact.evaluate_exact(r, R.data(), dR.data());
        spline.evaluate(r, Rs.data(), dRs.data());
        for (int l = 0; l <= 6; ++l)
            for (int n = 0; n < exact.n_per_l()[l]; ++n) {
                const int f = exact.offsets()[l] + n;
                const double rv = num(R_ref[l].as_array()->get(ir)->as_array()->get(n));
                const double dv = num(dR_ref[l].as_array()->get(ir)->as_array()->get(n));
                max_err = std::max({max_err, std::fabs(R[f] - rv), std::fabs(dR[f] - dv)});
                max_err_spline = std::max({max_err_spline, std::fabs(Rs[f] - rv), std::fabs(dRs[f] - dv)});
            }
    }
    CHECK(max_err < 1e-12);
    CHECK(max_err_spline < 1e-12);
}

TEST_CASE("soap radial: spline equals the exact basis on a fine grid", "[descriptors][soap]") {
    // the spline is the fast twin of evaluate_exact; 1e-11 absolute (|R| <= ~2.2, |dR| <= ~7)
    // keeps features within the spec's 1e-9 and gradients within 1e-8 relative
    for (double rc : {5.0, 3.0}) {
        desc::RadialBasis exact(rc, 6, 7, 0), spline(rc, 6, 7);
        std::vector<double> R(exact.n_functions()), dR(R.size()), Rs(R.size()), dRs(R.size());
        double err = 0.0;
        for (int k = 0; k <= 4000; ++k) {
            const double r = rc * k / 4000.0 * 0.99999 + 1e-7;
            exact.evaluate_exact(r, R.data(), dR.data());
            spline.evaluate(r, Rs.data(), dRs.data());
            for (size_t f = 0; f < R.size(); ++f) err = std::max({err, std::fabs(R[f] - Rs[f]), std::fabs(dR[f] - dRs[f])});
        }
        CHECK(err < 1e-11);
    }
}

TEST_CASE("soap cutoff: shifted cosine values and derivative", "[descriptors][soap]") {
    const auto& t = components();
    desc::ShiftedCosineCutoff fc{5.0, 0.5};
    const auto& r = *t["cutoff_r"].as_array();
    for (size_t k = 0; k < r.size(); ++k) {
        double f, df;
        fc.evaluate(num(r.get(k)), f, df);
        CHECK(f == Approx(num(t["cutoff_f"].as_array()->get(k))).margin(1e-15));
        CHECK(df == Approx(num(t["cutoff_df"].as_array()->get(k))).margin(1e-14));
    }
}

TEST_CASE("soap spherical harmonics: values and gradients match the reference and finite differences",
          "[descriptors][soap]") {
    const auto& t = components();
    desc::SphericalHarmonics sph(6);
    const auto& vs = *t["sph_vectors"].as_array();
    std::vector<double> Y(49), dY(147), Yp(49), Ym(49);
    for (size_t iv = 0; iv < vs.size(); ++iv) {
        double v[3];
        for (int a = 0; a < 3; ++a) v[a] = num(vs[iv].as_array()->get(a));
        sph.compute(v, Y.data(), dY.data());
        const auto& yref = *t["sph"].as_array()->get(iv)->as_array();
        const auto& gref = *t["sph_grad"].as_array()->get(iv)->as_array();
        for (int c = 0; c < 49; ++c) {
            CHECK(Y[c] == Approx(num(yref.get(c))).margin(1e-14));  // O(1) values, float64 recursion
            for (int a = 0; a < 3; ++a) CHECK(dY[3 * c + a] == Approx(num(gref[c].as_array()->get(a))).margin(1e-13));
        }
        for (int a = 0; a < 3; ++a) {  // central differences, eps 1e-6: error ~1e-10
            double vp[3] = {v[0], v[1], v[2]}, vm[3] = {v[0], v[1], v[2]};
            vp[a] += 1e-6;
            vm[a] -= 1e-6;
            sph.compute(vp, Yp.data(), nullptr);
            sph.compute(vm, Ym.data(), nullptr);
            for (int c = 0; c < 49; ++c) CHECK((Yp[c] - Ym[c]) / 2e-6 == Approx(dY[3 * c + a]).margin(1e-8));
        }
    }
}
