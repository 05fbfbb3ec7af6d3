#include "cli/options.hpp"

#include <cmath>
#include <sstream>
#include <toml++/toml.h>

#include "autodiff/error.hpp"
#include "cli/files.hpp"

namespace cli {

const std::map<std::string, Kind>& data_set_keys() {
    static const std::map<std::string, Kind> s = {
        {"training_set", Kind::table},
        {"training_set.read_from", Kind::string},
        {"training_set.target", Kind::string_or_list},
        {"training_set.features", Kind::string_or_list},
        {"training_set.task", Kind::string},
        {"validation_set", Kind::fraction_or_file},
        {"validation_set.read_from", Kind::string},
        {"test_set", Kind::fraction_or_file},
        {"test_set.read_from", Kind::string},
    };
    return s;
}

std::map<std::string, Kind> merge_schemas(std::map<std::string, Kind> a, const std::map<std::string, Kind>& b) {
    a.insert(b.begin(), b.end());
    return a;
}

Options::~Options() = default;
Options::Options(Options&&) noexcept = default;
Options& Options::operator=(Options&&) noexcept = default;

Options Options::from_file(const std::string& path) {
    AD_CHECK(file_exists(path), path << ": cannot open the options file (does it exist?)");
    Options o;
    o.name_ = path;
    try {
        o.root_ = std::make_unique<toml::table>(toml::parse_file(path));
    } catch (const toml::parse_error& e) {
        AD_FAIL(path << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description());
    }
    return o;
}

Options Options::from_string(const std::string& text, const std::string& name) {
    Options o;
    o.name_ = name;
    try {
        o.root_ = std::make_unique<toml::table>(toml::parse(text, name));
    } catch (const toml::parse_error& e) {
        AD_FAIL(name << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description());
    }
    return o;
}

std::string Options::base_dir() const { return dirname_of(name_); }

namespace {

const char* kind_name(Kind k) {
    switch (k) {
        case Kind::table: return "a table";
        case Kind::any_table: return "a table";
        case Kind::integer: return "an integer";
        case Kind::floating: return "a number";
        case Kind::boolean: return "true or false";
        case Kind::string: return "a string";
        case Kind::integer_list: return "a list of integers";
        case Kind::string_or_list: return "a string or a list of strings";
        case Kind::fraction_or_file: return "a fraction in (0, 1), a file name or a table with read_from";
        case Kind::float_or_list: return "a number or a list of numbers";
        case Kind::string_or_table: return "a string or a table";
        case Kind::bool_string_or_table: return "true, false, a string or a table";
    }
    return "?";
}

const char* type_name(const toml::node& n) {
    switch (n.type()) {
        case toml::node_type::table: return "a table";
        case toml::node_type::array: return "a list";
        case toml::node_type::string: return "a string";
        case toml::node_type::integer: return "an integer";
        case toml::node_type::floating_point: return "a number";
        case toml::node_type::boolean: return "a boolean";
        default: return "a date or time";
    }
}

bool matches(const toml::node& n, Kind k) {
    switch (k) {
        case Kind::table:
        case Kind::any_table: return n.is_table();
        case Kind::integer: return n.is_integer();
        case Kind::floating: return n.is_integer() || n.is_floating_point();
        case Kind::boolean: return n.is_boolean();
        case Kind::string: return n.is_string();
        case Kind::integer_list: {
            const toml::array* a = n.as_array();
            if (!a) return false;
            for (const auto& e : *a)
                if (!e.is_integer()) return false;
            return true;
        }
        case Kind::string_or_list: {
            if (n.is_string()) return true;
            const toml::array* a = n.as_array();
            if (!a) return false;
            for (const auto& e : *a)
                if (!e.is_string()) return false;
            return true;
        }
        case Kind::fraction_or_file: return n.is_string() || n.is_floating_point() || n.is_integer() || n.is_table();
        case Kind::string_or_table: return n.is_string() || n.is_table();
        case Kind::bool_string_or_table: return n.is_boolean() || n.is_string() || n.is_table();
        case Kind::float_or_list: {
            if (n.is_number()) return true;
            const toml::array* a = n.as_array();
            if (!a || a->empty()) return false;
            for (const auto& e : *a)
                if (!e.is_number()) return false;
            return true;
        }
    }
    return false;
}

void walk(const toml::table& t, const std::string& prefix, const std::map<std::string, Kind>& schema,
          const std::string& file) {
    for (const auto& [k, v] : t) {
        std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
        auto it = schema.find(key);
        if (it == schema.end()) {
            std::ostringstream known;
            int count = 0;
            for (const auto& [sk, sv] : schema) {
                std::string parent = sk.find('.') == std::string::npos ? "" : sk.substr(0, sk.rfind('.'));
                if (parent == prefix) known << (count++ ? ", " : "") << sk.substr(parent.empty() ? 0 : parent.size() + 1);
            }
            AD_FAIL(file << ":" << v.source().begin.line << ": unknown key '" << key << "'; known keys here: "
                         << known.str());
        }
        AD_CHECK(matches(v, it->second), file << ":" << v.source().begin.line << ": '" << key << "' expected "
                                              << kind_name(it->second) << ", got " << type_name(v));
        if (v.is_table() && it->second != Kind::any_table) walk(*v.as_table(), key, schema, file);
    }
}

}  // namespace

void Options::check(const std::map<std::string, Kind>& schema) const { walk(*root_, "", schema, name_); }

const toml::node* Options::find(const std::string& key) const {
    return root_->at_path(key).node();
}

bool Options::has(const std::string& key) const { return find(key) != nullptr; }
bool Options::is_string(const std::string& key) const {
    const toml::node* n = find(key);
    return n && n->is_string();
}
bool Options::is_table(const std::string& key) const {
    const toml::node* n = find(key);
    return n && n->is_table();
}

std::string Options::where(const std::string& key) const {
    const toml::node* n = find(key);
    std::ostringstream os;
    os << name_;
    if (n) os << ":" << n->source().begin.line;
    return os.str();
}

void Options::require_one_of(const std::string& key, const std::string& value,
                             const std::vector<std::string>& allowed) const {
    for (const auto& a : allowed)
        if (a == value) return;
    std::ostringstream os;
    for (size_t k = 0; k < allowed.size(); ++k) os << (k ? ", " : "") << allowed[k];
    AD_FAIL(where(key) << ": '" << key << "' expected one of " << os.str() << ", got '" << value << "'");
}

long Options::get_int(const std::string& key, long fallback) const {
    const toml::node* n = find(key);
    if (!n) return fallback;
    AD_CHECK(n->is_integer(), where(key) << ": '" << key << "' expected an integer, got " << type_name(*n));
    return static_cast<long>(n->as_integer()->get());
}

double Options::get_float(const std::string& key, double fallback) const {
    const toml::node* n = find(key);
    if (!n) return fallback;
    AD_CHECK(n->is_number(), where(key) << ": '" << key << "' expected a number, got " << type_name(*n));
    double v = n->is_integer() ? static_cast<double>(n->as_integer()->get()) : n->as_floating_point()->get();
    AD_CHECK(std::isfinite(v), where(key) << ": '" << key << "' expected a finite number, got " << v);
    return v;
}

bool Options::get_bool(const std::string& key, bool fallback) const {
    const toml::node* n = find(key);
    if (!n) return fallback;
    AD_CHECK(n->is_boolean(), where(key) << ": '" << key << "' expected true or false, got " << type_name(*n));
    return n->as_boolean()->get();
}

std::string Options::get_string(const std::string& key, const std::string& fallback) const {
    const toml::node* n = find(key);
    if (!n) return fallback;
    AD_CHECK(n->is_string(), where(key) << ": '" << key << "' expected a string, got " << type_name(*n));
    return n->as_string()->get();
}

std::vector<long> Options::get_int_list(const std::string& key, const std::vector<long>& fallback) const {
    const toml::node* n = find(key);
    if (!n) return fallback;
    AD_CHECK(matches(*n, Kind::integer_list), where(key) << ": '" << key << "' expected a list of integers, got "
                                                          << type_name(*n));
    std::vector<long> out;
    for (const auto& e : *n->as_array()) out.push_back(static_cast<long>(e.as_integer()->get()));
    return out;
}

std::vector<double> Options::get_float_list(const std::string& key, const std::vector<double>& fallback) const {
    const toml::node* n = find(key);
    if (!n) return fallback;
    AD_CHECK(matches(*n, Kind::float_or_list),
             where(key) << ": '" << key << "' expected a number or a list of numbers, got " << type_name(*n));
    auto value = [&](const toml::node& e) {
        double v = e.is_integer() ? static_cast<double>(e.as_integer()->get()) : e.as_floating_point()->get();
        AD_CHECK(std::isfinite(v), where(key) << ": '" << key << "' expected finite numbers, got " << v);
        return v;
    };
    if (n->is_number()) return {value(*n)};
    std::vector<double> out;
    for (const auto& e : *n->as_array()) out.push_back(value(e));
    return out;
}

std::vector<std::string> Options::keys(const std::string& key) const {
    const toml::node* n = find(key);
    std::vector<std::string> out;
    if (n && n->is_table())
        for (const auto& [k, v] : *n->as_table()) out.emplace_back(k.str());
    return out;
}

std::vector<std::string> Options::get_string_list(const std::string& key,
                                                  const std::vector<std::string>& fallback) const {
    const toml::node* n = find(key);
    if (!n) return fallback;
    AD_CHECK(matches(*n, Kind::string_or_list),
             where(key) << ": '" << key << "' expected a string or a list of strings, got " << type_name(*n));
    if (n->is_string()) return {n->as_string()->get()};
    std::vector<std::string> out;
    for (const auto& e : *n->as_array()) out.push_back(e.as_string()->get());
    return out;
}

}  // namespace cli
