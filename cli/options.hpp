// Strict reading of TOML options files. Every key the file holds must be known: an unknown key
// or a value of the wrong type is an error naming the file, the line and the dotted key path:
//   options.toml:12: unknown key 'architecture.training.num_epoch'; known keys here: batch_size, ...
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace toml {
inline namespace v3 {
class table;
class node;
}  // namespace v3
}  // namespace toml

namespace cli {

/// What a key may hold. Float accepts integers; FractionOrFile accepts a number in (0, 1), a
/// file name, or a table with read_from.
enum class Kind { table, integer, floating, boolean, string, integer_list, string_or_list, fraction_or_file, any_table,
                  float_or_list, string_or_table, bool_string_or_table };

/// The keys every data-driven command shares: [training_set] read_from, target, features, task,
/// and validation_set / test_set (a fraction, a file name, or a table with read_from).
const std::map<std::string, Kind>& data_set_keys();

/// `a` with the entries of `b` added.
std::map<std::string, Kind> merge_schemas(std::map<std::string, Kind> a, const std::map<std::string, Kind>& b);

class Options {
  public:
    /// Parses `path`; TOML syntax errors name file, line and column.
    static Options from_file(const std::string& path);
    /// Parses TOML text (`name` is used in messages).
    static Options from_string(const std::string& text, const std::string& name);
    ~Options();
    Options(Options&&) noexcept;
    Options& operator=(Options&&) noexcept;

    /// Declares the known keys (dotted paths) and checks the document against them.
    void check(const std::map<std::string, Kind>& schema) const;

    bool has(const std::string& key) const;
    bool is_string(const std::string& key) const;
    bool is_table(const std::string& key) const;
    long get_int(const std::string& key, long fallback) const;
    double get_float(const std::string& key, double fallback) const;
    bool get_bool(const std::string& key, bool fallback) const;
    std::string get_string(const std::string& key, const std::string& fallback) const;
    std::vector<long> get_int_list(const std::string& key, const std::vector<long>& fallback) const;
    /// A number or a list of numbers.
    std::vector<double> get_float_list(const std::string& key, const std::vector<double>& fallback) const;
    /// The keys of the table at `key` (empty when absent or not a table), sorted.
    std::vector<std::string> keys(const std::string& key) const;
    /// A string or a list of strings.
    std::vector<std::string> get_string_list(const std::string& key, const std::vector<std::string>& fallback) const;
    /// Throws "file:line: 'key' expected one of a, b, got 'value'" unless value is allowed.
    void require_one_of(const std::string& key, const std::string& value, const std::vector<std::string>& allowed) const;
    /// "file:line" of a key, for messages about its value.
    std::string where(const std::string& key) const;
    /// The file name given at construction.
    const std::string& name() const { return name_; }
    /// The directory relative paths in the file are resolved against.
    std::string base_dir() const;

  private:
    Options() = default;
    const toml::node* find(const std::string& key) const;
    std::string name_;
    std::unique_ptr<toml::table> root_;
};

}  // namespace cli
