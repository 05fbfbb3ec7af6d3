// safetensors reader and writer (layout in checkpoint.hpp).
#include "nn/checkpoint.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <unordered_set>
#include <vector>

#include "autodiff/io.hpp"
#include "nn/json.hpp"

namespace nn {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope

namespace {

bool host_is_little_endian() {
    const uint16_t one = 1;
    unsigned char first = 0;
    std::memcpy(&first, &one, 1);
    return first == 1;
}

// Copies `n` items of `size` bytes, reversing each item's bytes on big-endian hosts.
void copy_le(void* dst, const void* src, size_t n, size_t size) {
    std::memcpy(dst, src, n * size);
    if (host_is_little_endian()) return;
    auto* p = static_cast<unsigned char*>(dst);
    for (size_t i = 0; i < n; ++i)
        for (size_t a = 0, b = size - 1; a < b; ++a, --b) std::swap(p[i * size + a], p[i * size + b]);
}

std::string where(const std::string& path) { return path.empty() ? std::string("checkpoint") : path; }

}  // namespace

// ----------------------------------------------------------------------------- Checkpoint

const ad::Tensor& Checkpoint::get(const std::string& name) const {
    for (const auto& kv : tensors)
        if (kv.first == name) return kv.second;
    throw ad::Error(where(path) + ": expected a tensor named '" + name + "', found none");
}

bool Checkpoint::has(const std::string& name) const {
    for (const auto& kv : tensors)
        if (kv.first == name) return true;
    return false;
}

const std::string& Checkpoint::meta(const std::string& key) const {
    auto it = metadata.find(key);
    AD_CHECK(it != metadata.end(), where(path) << ": expected metadata '" << key << "', found none");
    return it->second;
}

void Checkpoint::add(const std::string& prefix, const NamedTensors& named) {
    for (const auto& kv : named) tensors.emplace_back(prefix + kv.first, kv.second);
}

NamedTensors Checkpoint::section(const std::string& prefix) const {
    NamedTensors out;
    for (const auto& kv : tensors)
        if (kv.first.compare(0, prefix.size(), prefix) == 0) out.emplace_back(kv.first.substr(prefix.size()), kv.second);
    return out;
}

// ----------------------------------------------------------------------------- save

void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
    Json header = Json::object();
    Json meta = Json::object();
    for (const auto& kv : ckpt.metadata) meta[kv.first] = Json(kv.second);
    header["__metadata__"] = std::move(meta);
    std::unordered_set<std::string> names;
    uint64_t offset = 0;
    for (const auto& [name, t] : ckpt.tensors) {
        AD_CHECK(!name.empty() && name != "__metadata__",
                 "save_checkpoint: expected tensor names other than '' and '__metadata__', got '" << name << "'");
        AD_CHECK(names.insert(name).second, "save_checkpoint: expected unique tensor names, got '" << name << "' twice");
        AD_CHECK(t.defined(), "save_checkpoint: expected a defined tensor for '" << name << "'");
        Json shape = Json::array();
        for (long d : t.shape()) shape.push_back(Json(d));
        const uint64_t bytes = static_cast<uint64_t>(t.numel()) * sizeof(double);
        Json entry = Json::object();
        entry["dtype"] = Json("F64");
        entry["shape"] = std::move(shape);
        entry["data_offsets"] = Json::array({Json(offset), Json(offset + bytes)});
        header[name] = std::move(entry);
        offset += bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned

    // the whole file in memory, then one atomic write: u64 header length, header, data
    std::string bytes(8, '\0');
    const uint64_t n = text.size();
    for (int k = 0; k < 8; ++k) bytes[static_cast<size_t>(k)] = static_cast<char>((n >> (8 * k)) & 0xFF);
    bytes += text;
    for (const auto& kv : ckpt.tensors) {
        const ad::Tensor& t = kv.second;
        const size_t at = bytes.size();
        bytes.resize(at + static_cast<size_t>(t.numel()) * sizeof(double));
        copy_le(&bytes[at], t.data(), static_cast<size_t>(t.numel()), sizeof(double));
    }
    ad::write_file_atomic(path, bytes);
}

// ----------------------------------------------------------------------------- load

Checkpoint load_checkpoint(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    AD_CHECK(in, path << ": cannot open: " << std::strerror(errno));
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    AD_CHECK(!in.bad(), path << ": read error");
    const uint64_t size = bytes.size();
    AD_CHECK(size >= 8, path << ": truncated: expected at least 8 bytes (the header length), file has " << size);
    uint64_t n = 0;
    for (int k = 7; k >= 0; --k) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(k)]);
    AD_CHECK(n <= size - 8, path << ": truncated: header says " << n << " bytes of JSON header, file has "
                                 << size - 8 << " after the length; is this a safetensors file?");
    const uint64_t data_start = 8 + n;
    const uint64_t data_size = size - data_start;

    Json header;
    try {
        header = Json::parse(bytes.substr(8, n));
    } catch (const ad::Error& e) {
        AD_FAIL(path << ": bad header: " << e.what());
    }
    AD_CHECK(header.is_object(), path << ": bad header: expected a JSON object, got " << to_string(header.type()));

    // Validate every entry and find how much tensor data the header claims before reading any.
    struct Entry {
        std::string name;
        ad::Shape shape;
        bool f32;
        uint64_t begin, end;
    };
    std::vector<Entry> entries;
    Checkpoint ckpt;
    ckpt.path = path;
    uint64_t needed = 0;
    for (const auto& [name, value] : header.as_object()) {
        if (name == "__metadata__") {
            AD_CHECK(value.is_object(), path << ": bad header: expected __metadata__ to be an object, got "
                                             << to_string(value.type()));
            for (const auto& [key, v] : value.as_object()) {
                AD_CHECK(v.is_string(), path << ": bad header: expected metadata '" << key << "' to be a string, got "
                                             << to_string(v.type()));
                ckpt.metadata[key] = v.as_string();
            }
            continue;
        }
        const std::string what = path + ": tensor '" + name + "'";
        AD_CHECK(value.is_object(), what << ": expected an object, got " << to_string(value.type()));
        const Json* dtype = value.find("dtype");
        const Json* shape = value.find("shape");
        const Json* offsets = value.find("data_offsets");
        AD_CHECK(dtype && shape && offsets, what << ": expected keys dtype, shape and data_offsets");
        AD_CHECK(dtype->is_string(), what << ": expected dtype to be a string");
        const std::string& dt = dtype->as_string();
        AD_CHECK(dt == "F64" || dt == "F32", what << ": unsupported dtype '" << dt << "'; expected F64 or F32");
        Entry e{name, {}, dt == "F32", 0, 0};
        AD_CHECK(shape->is_array(), what << ": expected shape to be an array of sizes");
        uint64_t count = 1;
        for (const Json& d : shape->as_array()) {
            AD_CHECK(d.is_number() && d.as_number() >= 0 && d.as_number() == std::floor(d.as_number()) &&
                         d.as_number() < 1e15,
                     what << ": expected shape to hold sizes >= 0, got " << shape->dump());
            e.shape.push_back(static_cast<long>(d.as_number()));
            count *= static_cast<uint64_t>(e.shape.back());
            AD_CHECK(count < (uint64_t(1) << 50), what << ": shape " << shape->dump() << " is too large");
        }
        AD_CHECK(offsets->is_array() && offsets->size() == 2 && offsets->at(0).is_number() &&
                     offsets->at(1).is_number() && offsets->at(0).as_number() >= 0 &&
                     offsets->at(0).as_number() <= offsets->at(1).as_number() &&
                     offsets->at(1).as_number() < 9e15 &&
                     offsets->at(0).as_number() == std::floor(offsets->at(0).as_number()) &&
                     offsets->at(1).as_number() == std::floor(offsets->at(1).as_number()),
                 what << ": expected data_offsets [begin, end] with 0 <= begin <= end, got " << offsets->dump());
        e.begin = static_cast<uint64_t>(offsets->at(0).as_number());
        e.end = static_cast<uint64_t>(offsets->at(1).as_number());
        const uint64_t item = e.f32 ? 4 : 8;
        AD_CHECK(e.end - e.begin == count * item,
                 what << ": data_offsets " << offsets->dump() << " span " << e.end - e.begin << " bytes, expected "
                      << count * item << " for " << dt << " of shape " << e.shape);
        needed = std::max(needed, e.end);
        entries.push_back(std::move(e));
    }
    AD_CHECK(needed <= data_size,
             path << ": truncated: header says " << needed << " bytes of tensor data, file has " << data_size);

    const char* data = bytes.data() + data_start;
    for (const Entry& e : entries) {
        ad::Tensor t = ad::Tensor::empty(e.shape);
        const size_t count = static_cast<size_t>(t.numel());
        if (e.f32) {
            std::vector<float> tmp(count);
            copy_le(tmp.data(), data + e.begin, count, sizeof(float));
            for (size_t k = 0; k < count; ++k) t.data()[k] = static_cast<double>(tmp[k]);
        } else {
            copy_le(t.data(), data + e.begin, count, sizeof(double));
        }
        ckpt.tensors.emplace_back(e.name, t);
    }
    return ckpt;
}

}  // namespace nn
