#include "nn/json.hpp"
#include "tests/nn/nn_helpers.hpp"

using nn::Json;

TEST_CASE("json: parses every kind of value", "[nn][unit]") {
    Json j = Json::parse(R"( {"a": [1, -2.5, 3e2, 0, -0.125E-1], "b": {"c": null, "d": true, "e": false},
                              "s": "x\"y\\z\/\n\t\u00e9\ud83d\ude00" } )");
    REQUIRE(j.is_object());
    CHECK(j.size() == 3);
    const Json& a = j.at("a");
    CHECK(a.size() == 5);
    CHECK(a.at(0).as_long() == 1);
    CHECK(a.at(1).as_number() == -2.5);
    CHECK(a.at(2).as_number() == 300);
    CHECK(a.at(4).as_number() == -0.0125);
    CHECK(j.at("b").at("c").is_null());
    CHECK(j.at("b").at("d").as_bool());
    CHECK_FALSE(j.at("b").at("e").as_bool());
    // Escapes decode to UTF-8: e-acute is 2 bytes, the emoji (a surrogate pair) 4 bytes.
    CHECK(j.at("s").as_string() == "x\"y\\z/\n\t\xC3\xA9\xF0\x9F\x98\x80");
    CHECK(j.find("zz") == nullptr);
    CHECK(j.contains("b"));
}

TEST_CASE("json: dump keeps insertion order and reads back the same", "[nn][unit]") {
    Json j;
    j["zeta"] = Json(1);
    j["alpha"] = Json::array({Json(0.1), Json("t\"x\n"), Json(), Json(false)});
    j["mid"]["inner"] = Json(12345678901.0);
    j["mid"]["list"].push_back(Json(-3));
    CHECK(j.dump() == R"({"zeta":1,"alpha":[0.1,"t\"x\n",null,false],"mid":{"inner":12345678901,"list":[-3]}})");
    CHECK(Json::parse(j.dump()) == j);
    CHECK(Json::parse(j.dump(2)) == j);
    CHECK(Json::parse("[]").dump(2) == "[]");
    CHECK(Json::object().dump() == "{}");
    CHECK(Json::parse(R"({"a":[1]})").dump(2) == "{\n  \"a\": [\n    1\n  ]\n}");
}

TEST_CASE("json: numbers print shortest and round-trip exactly", "[nn][unit]") {
    for (double x : {0.1, 1.0 / 3, -2.5e-300, 1.7976931348623157e308, 6.02214076e23, 1e17, 4503599627370497.0}) {
        Json j(x);
        CHECK(Json::parse(j.dump()).as_number() == x);
    }
    CHECK(Json(0.1).dump() == "0.1");
    CHECK(Json(100).dump() == "100");
    CHECK(Json(-7L).dump() == "-7");
    CHECK(Json(std::nan("")).dump() == "null");  // JSON has no NaN
    CHECK(Json(-1.0 / 0.0).dump() == "null");
    CHECK(Json::parse("1e-400").as_number() == 0.0);  // underflow rounds to zero
}

TEST_CASE("json: parse errors give the offset", "[nn][unit]") {
    REQUIRE_THROWS_WITH(Json::parse(R"({"a": 1 "b": 2})"), "json: expected ',' or '}' at offset 8, got '\"'");
    REQUIRE_THROWS_WITH(Json::parse("[1, 2"), "json: expected ',' or ']' at offset 5, got end of input");
    REQUIRE_THROWS_WITH(Json::parse("01"), "json: expected end of input at offset 1, got '1'");
    REQUIRE_THROWS_WITH(Json::parse("\"abc"), "json: unterminated string at offset 4, got end of input");
    REQUIRE_THROWS_WITH(Json::parse(R"({"k": 1, "k": 2})"), "json: duplicate key 'k' at offset 9");
    REQUIRE_THROWS_WITH(Json::parse(R"(["\q"])"), "json: invalid escape at offset 3, got 'q'");
    REQUIRE_THROWS_WITH(Json::parse("[tru]"), "json: expected 'true' at offset 1, got 't'");
    REQUIRE_THROWS_WITH(Json::parse("1e999"), "json: number out of range at offset 0");
    REQUIRE_THROWS_WITH(Json::parse("-"), "json: expected a digit at offset 1, got end of input");
    REQUIRE_THROWS_WITH(Json::parse(""), "json: expected a value at offset 0, got end of input");
    REQUIRE_THROWS_WITH(Json::parse("\"a\nb\""), Catch::Contains("expected an escaped control character"));
    REQUIRE_THROWS_WITH(Json::parse(std::string(1000, '[')), Catch::Contains("nesting deeper than 512 levels"));
}

TEST_CASE("json: typed access errors name the types", "[nn][unit]") {
    Json j = Json::parse(R"({"n": 1.5, "s": "x"})");
    REQUIRE_THROWS_WITH(j.at("s").as_number(), "json: expected number, got string");
    REQUIRE_THROWS_WITH(j.at("n").as_long(), "json: expected an integer, got 1.5");
    REQUIRE_THROWS_WITH(j.at("missing"), "json: missing key 'missing'");
    REQUIRE_THROWS_WITH(j["s"].push_back(Json(1)), "json: expected array, got string");
}
