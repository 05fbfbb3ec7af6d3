// Precompiled once (build/tests/catch_pch.hpp.gch) and force-included in every test file: parsing
// Catch2's single header dominated the test build. Without the .gch the header is used as is.
#pragma once
#include <catch2/catch.hpp>
