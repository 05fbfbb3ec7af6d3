// Strict reading of a model's hypers from TOML (see hypers_toml.hpp).
#include "nn/hypers_toml.hpp"

namespace nn::hypers_toml {

toml::table parse(const std::string& text, const std::string& where) {
    try {
        return toml::parse(text);
    } catch (const toml::parse_error& e) {
        AD_FAIL(where << ": hypers are not valid TOML (line " << e.source().begin.line << "): " << e.description());
    }
}

void require_known_keys(const toml::table& root, const std::vector<std::string>& allowed, const std::string& where) {
    for (const auto& [key, value] : root) {
        const std::string k(key.str());
        bool known = false;
        std::string list;
        for (const std::string& a : allowed) {
            known = known || a == k;
            list += (list.empty() ? "" : ", ") + a;
        }
        AD_CHECK(known, where << ": " << k << " (line " << value.source().begin.line << "): unknown key; expected " << list);
    }
}

void require_known_keys_in(const toml::table& table, const std::string& name, const std::set<std::string>& allowed,
                           const std::string& where) {
    for (const auto& [key, value] : table) {
        const std::string k(key.str());
        AD_CHECK(allowed.count(k), where << ": " << name << "." << k << " (line " << value.source().begin.line
                                         << "): unknown key");
    }
}

}  // namespace nn::hypers_toml
