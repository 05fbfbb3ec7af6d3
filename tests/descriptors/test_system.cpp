// System: element table, typed targets (energy, forces, stress), raw keys, number formatting.
#include <charconv>

#include "descriptors/system.hpp"
#include "tests/descriptors/desc_helpers.hpp"
#include "tests/helpers.hpp"

using desc::System;
using testing::AllClose;

TEST_CASE("system: element symbols and atomic numbers", "[descriptors][system]") {
    CHECK(desc::atomic_number("H") == 1);
    CHECK(desc::atomic_number("C") == 6);
    CHECK(desc::atomic_number("Cu") == 29);
    CHECK(desc::atomic_number("Au") == 79);
    CHECK(desc::atomic_number("Pb") == 82);
    CHECK(desc::atomic_number("Og") == 118);
    for (int z = 1; z <= 118; ++z) CHECK(desc::atomic_number(desc::element_symbol(z)) == z);
    CHECK(desc::element_symbol(8) == "O");
    REQUIRE_THROWS_WITH(desc::atomic_number("Xx"), Catch::Contains("expected an element symbol (H..Og), got 'Xx'"));
    REQUIRE_THROWS_WITH(desc::atomic_number("cu"), Catch::Contains("got 'cu'"));
    REQUIRE_THROWS_WITH(desc::element_symbol(0), Catch::Contains("expected an atomic number in 1..118, got 0"));
    REQUIRE_THROWS_WITH(desc::element_symbol(119), Catch::Contains("got 119"));
}

TEST_CASE("system: format_double is the shortest exact text", "[descriptors][system]") {
    CHECK(desc::format_double(0.1) == "0.1");
    CHECK(desc::format_double(-3) == "-3.0");
    CHECK(desc::format_double(0.0) == "0.0");
    CHECK(desc::format_double(1e-300) == "1e-300");
    ad::Rng rng(3);
    for (int k = 0; k < 1000; ++k) {
        double v = rng.normal() * std::pow(10.0, rng.uniform(-20, 20));
        std::string s = desc::format_double(v);
        double back = 0;
        std::from_chars(s.data(), s.data() + s.size(), back);
        CHECK(back == v);
    }
}

TEST_CASE("system: typed energy, forces and stress over raw keys", "[descriptors][system]") {
    System s = desc_testing::make_system({0, 0, 0, 1, 0, 0}, {3, 0, 0, 0, 3, 0, 0, 0, 3}, {true, true, true});
    CHECK(s.volume() == 27.0);
    CHECK_FALSE(s.energy().has_value());
    REQUIRE_THROWS_WITH(s.require_energy(), Catch::Contains("system: expected per-frame key 'energy', got none"));
    s.set_energy(-1.25);
    CHECK(*s.find_info("energy") == "-1.25");
    CHECK(s.require_energy() == -1.25);
    s.set_info("energy", "abc");
    REQUIRE_THROWS_WITH(s.require_energy(), Catch::Contains("expected a finite real number for 'energy', got 'abc'"));

    ad::Tensor f = ad::tensor({2, 3}, {1, 2, 3, -1, -2, -3});
    s.set_forces(f);
    CHECK_THAT(s.require_forces(), AllClose(f, 0, 0));
    REQUIRE_THROWS_WITH(s.set_forces(ad::tensor({1, 3}, {1, 2, 3})), Catch::Contains("expected forces [2, 3], got [1, 3]"));
    REQUIRE_THROWS_WITH(s.require_forces("dft_forces"), Catch::Contains("expected per-atom column 'dft_forces', got none"));
    s.set_forces(ad::tensor({2, 3}, {1, 2, 3, -1, NAN, -3}), "dft_forces");
    REQUIRE_THROWS_WITH(s.require_forces("dft_forces"),
                        Catch::Contains("expected finite values in per-atom column 'dft_forces', got nan for atom 1"));
    CHECK(s.erase_array("dft_forces"));

    ad::Tensor sigma = ad::tensor({3, 3}, {1, 6, 5, 6, 2, 4, 5, 4, 3});
    s.set_stress(sigma);
    CHECK(*s.find_info("stress") == "1.0 6.0 5.0 6.0 2.0 4.0 5.0 4.0 3.0");
    CHECK_THAT(s.require_stress(), AllClose(sigma, 0, 0));
    s.set_info("virial_voigt", "1 2 3 4 5 6");  // xx yy zz yz xz xy
    CHECK_THAT(s.require_stress("virial_voigt"), AllClose(sigma, 0, 0));
    s.set_info("bad", "1 2 3");
    REQUIRE_THROWS_WITH(s.require_stress("bad"), Catch::Contains("expected 9 finite numbers (3x3 row-major) or 6 (Voigt)"));
    s.set_info("bad", "1 2 3 4 5 inf");
    REQUIRE_THROWS_WITH(s.require_stress("bad"), Catch::Contains("expected 9 finite numbers"));

    // provenance appears in messages
    s.source = "data.xyz";
    s.frame = 4;
    s.line = 57;
    REQUIRE_THROWS_WITH(s.require_energy("free_energy"),
                        Catch::Contains("data.xyz frame 4 (line 57): expected per-frame key 'free_energy', got none"));
    CHECK(s.erase_info("bad"));
    CHECK_FALSE(s.erase_info("bad"));
    CHECK(s.erase_array("forces"));
    CHECK(s.find_array("forces") == nullptr);
}
