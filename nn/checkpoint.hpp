// Checkpoints in the safetensors layout (https://github.com/huggingface/safetensors):
//   bytes [0, 8)        N, the header length, little-endian u64
//   bytes [8, 8 + N)    JSON header {"__metadata__": {string: string},
//                                    "<name>": {"dtype": "F64", "shape": [..], "data_offsets": [b, e]}, ...}
//                       padded with spaces to a multiple of 8 bytes
//   bytes [8 + N, ...)  tensor data, little-endian, row-major; tensor k occupies [8 + N + b, 8 + N + e)
// We write F64 in order; we read F64 and F32 (converted to double, for files from other programs).
// Saving writes "<path>.tmp" and renames it over <path>, so a crash never leaves a partial file.
#pragma once
#include <map>
#include <string>

#include "nn/module.hpp"

namespace nn {

struct Checkpoint {
    NamedTensors tensors;                         ///< in file order
    std::map<std::string, std::string> metadata;  ///< "format_version", "hypers" (TOML text), ...
    std::string path;                             ///< file it was loaded from ("" when built in memory)

    /// The tensor called `name`; throws naming the key and the file.
    const ad::Tensor& get(const std::string& name) const;
    bool has(const std::string& name) const;
    /// The metadata value of `key`; throws naming the key and the file.
    const std::string& meta(const std::string& key) const;
    /// Appends `named` with each name prefixed ("model." + "layers.0.weight").
    void add(const std::string& prefix, const NamedTensors& named);
    /// The tensors whose names start with `prefix`, with the prefix removed (the reverse of add).
    NamedTensors section(const std::string& prefix) const;
};

/// Writes `ckpt` to `path` (via "<path>.tmp" then rename). Names must be unique and non-empty.
void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
/// Reads a safetensors file; errors are one line starting with the path.
Checkpoint load_checkpoint(const std::string& path);

}  // namespace nn
