// Strict reading of a model's hypers from TOML (nn/bpnn/hypers, nn/pet/nanopet_hypers,
// nn/pet/pet_hypers): parse errors, unknown keys and wrong types are errors that name `where`
// (file or checkpoint), the key path and its line.
//   "<where>: hypers are not valid TOML (line N): <description>"
//   "<where>: <key> (line N): unknown key; expected <allowed, in order>"     top level
//   "<where>: <table>.<key> (line N): unknown key"                           inside a table
//   "<where>: <path><key> (line N): wrong type"        (integers are accepted for doubles)
//   "<where>: <key>: expected '<a>' or '<b>', got '<value>'"                 two-valued strings
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>
#include <toml++/toml.h>

#include "autodiff/error.hpp"

namespace nn::hypers_toml {

/// The TOML document `text`.
toml::table parse(const std::string& text, const std::string& where);

/// Every top-level key of `root` is one of `allowed` (listed in the error in this order).
void require_known_keys(const toml::table& root, const std::vector<std::string>& allowed, const std::string& where);

/// Every key of `table` (named `name` in `root`) is one of `allowed`.
void require_known_keys_in(const toml::table& table, const std::string& name, const std::set<std::string>& allowed,
                           const std::string& where);

/// out = t[key] when present (t may be null: absent table); `path` prefixes the key in errors ("heads.").
template <class T>
void read(const toml::table* t, const std::string& path, const char* key, T& out, const std::string& where) {
    if (t == nullptr) return;
    const toml::node* n = t->get(key);
    if (n == nullptr) return;
    std::optional<T> v = n->value_exact<T>();
    if constexpr (std::is_same_v<T, double>) {
        if (!v && n->is_integer()) v = static_cast<double>(n->as_integer()->get());
    }
    AD_CHECK(v.has_value(), where << ": " << path << key << " (line " << n->source().begin.line << "): wrong type");
    out = *v;
}

/// read() of a TOML integer into an int.
inline void read_int(const toml::table* t, const std::string& path, const char* key, int& out, const std::string& where) {
    int64_t v = out;
    read(t, path, key, v, where);
    out = static_cast<int>(v);
}

/// A top-level string key with two accepted values a (-> va) and b (-> vb).
template <class E>
void read_choice(const toml::table& t, const char* key, E& out, const char* a, E va, const char* b, E vb,
                 const std::string& where) {
    std::string s = out == va ? a : b;
    read(&t, "", key, s, where);
    AD_CHECK(s == a || s == b, where << ": " << key << ": expected '" << a << "' or '" << b << "', got '" << s << "'");
    out = s == a ? va : vb;
}

}  // namespace nn::hypers_toml
