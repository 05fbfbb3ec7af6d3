// Shared by the benchmark programs: reading a peer's results file.
#pragma once
#include <fstream>
#include <sstream>
#include <string>

#include "autodiff/error.hpp"
#include "nn/json.hpp"

/// The JSON document at `path`, or null when the file is missing or not valid JSON (the bench
/// then prints its own figures without the peer's).
inline nn::Json read_json(const std::string& path) {
    std::ifstream f(path);
    if (!f) return nn::Json();
    std::stringstream ss;
    ss << f.rdbuf();
    try {
        return nn::Json::parse(ss.str());
    } catch (const ad::Error&) {
        return nn::Json();
    }
}
