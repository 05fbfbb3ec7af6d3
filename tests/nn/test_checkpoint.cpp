#include <cstring>
#include <fstream>
#include <limits>

#include "nn/checkpoint.hpp"
#include "nn/mlp.hpp"
#include "nn/optim.hpp"
#include "tests/nn/nn_helpers.hpp"

using ad::Tensor;
using nn_testing::TempDir;
using testing::AllClose;

namespace {

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file from a header text and raw data bytes (length as 8 little-endian bytes).
std::string file_of(const std::string& header, const std::string& data) {
    std::string out;
    for (int k = 0; k < 8; ++k) out += static_cast<char>((header.size() >> (8 * k)) & 0xFF);
    return out + header + data;
}

bool same_bits(const Tensor& a, const Tensor& b) {
    return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(double) * a.numel()) == 0;
}

}  // namespace

TEST_CASE("checkpoint: round trip is exact, in order, with metadata", "[nn][unit]") {
    TempDir dir;
    const std::string path = dir.file("model.ckpt");
    ad::Rng rng(0);
    nn::Checkpoint c;
    c.tensors.emplace_back("scalar", Tensor::scalar(-0.0));
    c.tensors.emplace_back("empty", Tensor::zeros({0}));
    c.tensors.emplace_back("special", ad::tensor({std::numeric_limits<double>::denorm_min(), 1.7976931348623157e308,
                                                  std::numeric_limits<double>::infinity(), std::nan(""), 0.1}));
    c.tensors.emplace_back("b.weight", rng.normal({2, 3}));
    c.tensors.emplace_back("a.weight", rng.normal({4, 1, 2}));
    c.metadata["format_version"] = "1";
    c.metadata["hypers"] = "[model]\nhidden = [32, 32]\nname = \"x\\ty\"\n";
    nn::save_checkpoint(path, c);

    nn::Checkpoint d = nn::load_checkpoint(path);
    REQUIRE(d.tensors.size() == c.tensors.size());
    for (size_t k = 0; k < c.tensors.size(); ++k) {
        CHECK(d.tensors[k].first == c.tensors[k].first);  // order kept (not sorted)
        CHECK(same_bits(d.tensors[k].second, c.tensors[k].second));
    }
    CHECK(d.metadata == c.metadata);
    CHECK(d.path == path);
    CHECK(std::signbit(d.get("scalar").item()));
    CHECK(d.meta("format_version") == "1");

    // Layout: 8-byte length N, N a multiple of 8 (space padded), a JSON object, then the data.
    std::string bytes = read_bytes(path);
    uint64_t n = 0;
    for (int k = 7; k >= 0; --k) n = (n << 8) | static_cast<unsigned char>(bytes[k]);
    CHECK(n % 8 == 0);
    CHECK(bytes[8] == '{');
    CHECK(bytes.size() == 8 + n + 8 * (1 + 0 + 5 + 6 + 8));
    CHECK_FALSE(std::ifstream(path + ".tmp").good());  // the temporary was renamed away
}

TEST_CASE("checkpoint: model and optimiser sections restore training exactly", "[nn][unit]") {
    TempDir dir;
    ad::Rng rng(1);
    nn::MLP a(2, {4}, 1, nn::Activation::tanh, rng), b(2, {4}, 1, nn::Activation::tanh, rng);
    nn::Adam opt_a(a.parameters(), 0.01), opt_b(b.parameters(), 0.5);
    Tensor x = rng.normal({5, 2});
    auto train_step = [&](nn::MLP& m, nn::Optimizer& opt) {
        opt.zero_grad();
        ad::backward(ad::mean(ad::square(m.forward(x))), m.parameters());
        opt.step();
    };
    train_step(a, opt_a);
    nn::Checkpoint c;
    c.add("model.", a.state_dict());
    c.add("optimizer.", opt_a.state());
    nn::save_checkpoint(dir.file("run.ckpt"), c);

    nn::Checkpoint d = nn::load_checkpoint(dir.file("run.ckpt"));
    CHECK(d.has("model.layers.0.weight"));
    b.load_state_dict(d.section("model."));
    opt_b.load_state(d.section("optimizer."));
    for (int k = 0; k < 2; ++k) {
        train_step(a, opt_a);
        train_step(b, opt_b);
    }
    CHECK_THAT(b.forward(x), AllClose(a.forward(x), 0, 0));
}

// Written "by another program": no metadata, an F32 tensor listed first but stored last, no
// header padding. Values: a = [1.5, -2.25] (F64), b = [0.5, 3] (F32).
TEST_CASE("checkpoint: loads a hand-built file with F32 and F64 tensors", "[nn][unit]") {
    TempDir dir;
    const std::string header = R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},)"
                               R"( "a" : {"dtype":"F64","shape":[2,1],"data_offsets":[0,16]}})";
    const unsigned char data[] = {
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F,  // 1.5     = 0x3FF8000000000000
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xC0,  // -2.25   = 0xC002000000000000
        0x00, 0x00, 0x00, 0x3F,                          // 0.5f    = 0x3F000000
        0x00, 0x00, 0x40, 0x40,                          // 3.0f    = 0x40400000
    };
    write_bytes(dir.file("other.safetensors"), file_of(header, std::string(reinterpret_cast<const char*>(data), 24)));
    nn::Checkpoint c = nn::load_checkpoint(dir.file("other.safetensors"));
    REQUIRE(c.tensors.size() == 2);
    CHECK(c.tensors[0].first == "b");
    CHECK_THAT(c.get("b"), AllClose(ad::tensor({0.5, 3.0}), 0, 0));
    CHECK_THAT(c.get("a"), AllClose(ad::tensor({2, 1}, {1.5, -2.25}), 0, 0));
    CHECK(c.metadata.empty());
    REQUIRE_THROWS_WITH(c.get("c"), dir.file("other.safetensors") + ": expected a tensor named 'c', found none");
    REQUIRE_THROWS_WITH(c.meta("hypers"), dir.file("other.safetensors") + ": expected metadata 'hypers', found none");
}

TEST_CASE("checkpoint: load errors are one line naming the file", "[nn][unit]") {
    TempDir dir;
    const std::string p = dir.file("model.ckpt");
    REQUIRE_THROWS_WITH(nn::load_checkpoint(p), p + ": cannot open: No such file or directory");

    write_bytes(p, "abc");
    REQUIRE_THROWS_WITH(nn::load_checkpoint(p),
                        p + ": truncated: expected at least 8 bytes (the header length), file has 3");

    write_bytes(p, file_of(std::string(20, ' '), "").replace(0, 8, std::string("\xE8\x03\0\0\0\0\0\0", 8)));
    REQUIRE_THROWS_WITH(nn::load_checkpoint(p), p + ": truncated: header says 1000 bytes of JSON header, file has 20 "
                                                    "after the length; is this a safetensors file?");

    nn::Checkpoint c;
    c.tensors.emplace_back("w", ad::tensor({1, 2, 3}));
    nn::save_checkpoint(p, c);
    std::string full = read_bytes(p);
    write_bytes(p, full.substr(0, full.size() - 8));
    REQUIRE_THROWS_WITH(nn::load_checkpoint(p), p + ": truncated: header says 24 bytes of tensor data, file has 16");

    write_bytes(p, file_of(R"({"a": })", ""));
    REQUIRE_THROWS_WITH(nn::load_checkpoint(p), p + ": bad header: json: expected a value at offset 6, got '}'");

    write_bytes(p, file_of(R"([1, 2])", ""));
    REQUIRE_THROWS_WITH(nn::load_checkpoint(p), p + ": bad header: expected a JSON object, got array");

    const std::string data(24, '\0');
    write_bytes(p, file_of(R"({"x": {"dtype": "I64", "shape": [3], "data_offsets": [0, 24]}})", data));
    REQUIRE_THROWS_WITH(nn::load_checkpoint(p), p + ": tensor 'x': unsupported dtype 'I64'; expected F64 or F32");

    write_bytes(p, file_of(R"({"x": {"dtype": "F64", "shape": [3], "data_offsets": [0, 16]}})", data));
    REQUIRE_THROWS_WITH(nn::load_checkpoint(p),
                        p + ": tensor 'x': data_offsets [0,16] span 16 bytes, expected 24 for F64 of shape [3]");

    write_bytes(p, file_of(R"({"x": {"dtype": "F64", "shape": [1], "data_offsets": [16, 8]}})", data));
    REQUIRE_THROWS_WITH(nn::load_checkpoint(p),
                        p + ": tensor 'x': expected data_offsets [begin, end] with 0 <= begin <= end, got [16,8]");

    write_bytes(p, file_of(R"({"x": {"dtype": "F64", "shape": [2], "data_offsets": [16, 32]}})", data));
    REQUIRE_THROWS_WITH(nn::load_checkpoint(p), p + ": truncated: header says 32 bytes of tensor data, file has 24");

    write_bytes(p, file_of(R"({"x": {"dtype": "F64", "shape": [-1], "data_offsets": [0, 8]}})", data));
    REQUIRE_THROWS_WITH(nn::load_checkpoint(p), p + ": tensor 'x': expected shape to hold sizes >= 0, got [-1]");

    write_bytes(p, file_of(R"({"x": {"dtype": "F64", "shape": [1]}})", data));
    REQUIRE_THROWS_WITH(nn::load_checkpoint(p), p + ": tensor 'x': expected keys dtype, shape and data_offsets");

    write_bytes(p, file_of(R"({"__metadata__": {"version": 2}})", ""));
    REQUIRE_THROWS_WITH(nn::load_checkpoint(p), p + ": bad header: expected metadata 'version' to be a string, got number");
}

TEST_CASE("checkpoint: save errors leave no file behind", "[nn][unit]") {
    TempDir dir;
    const std::string p = dir.file("missing_dir/model.ckpt");
    nn::Checkpoint c;
    c.tensors.emplace_back("w", ad::tensor({1.0}));
    REQUIRE_THROWS_WITH(nn::save_checkpoint(p, c), p + ": cannot write (No such file or directory)");
    c.tensors.emplace_back("w", ad::tensor({2.0}));
    REQUIRE_THROWS_WITH(nn::save_checkpoint(dir.file("x.ckpt"), c),
                        "save_checkpoint: expected unique tensor names, got 'w' twice");
    CHECK_FALSE(std::ifstream(dir.file("x.ckpt")).good());
    CHECK_FALSE(std::ifstream(dir.file("x.ckpt.tmp")).good());

    // Saving over an existing checkpoint replaces it.
    nn::Checkpoint one;
    one.tensors.emplace_back("v", ad::tensor({1.0, 2.0}));
    nn::save_checkpoint(dir.file("y.ckpt"), one);
    one.tensors[0].second = ad::tensor({3.0});
    nn::save_checkpoint(dir.file("y.ckpt"), one);
    CHECK_THAT(nn::load_checkpoint(dir.file("y.ckpt")).get("v"), AllClose(ad::tensor({3.0}), 0, 0));
}
