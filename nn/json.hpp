// A small JSON value (RFC 8259): null, bool, number (double), string (UTF-8), array, object.
// Objects keep insertion order (dump writes keys in the order they were added or parsed) and
// reject duplicate keys when parsing. Used for safetensors headers and `atomgrad eval --json`.
// Numbers print as integers when whole (|x| < 1e17), else as the shortest string that reads back
// to the same double; NaN and infinities, which JSON cannot express, print as null.
#pragma once
#include <cstddef>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace nn {

class Json {
  public:
    enum class Type { null, boolean, number, string, array, object };
    using Array = std::vector<Json>;
    using Object = std::vector<std::pair<std::string, Json>>;

    Json() = default;  ///< null
    Json(std::nullptr_t) {}
    Json(bool b) : type_(Type::boolean), bool_(b) {}
    template <class T, std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>, int> = 0>
    Json(T x) : type_(Type::number), number_(static_cast<double>(x)) {}
    Json(const char* s) : type_(Type::string), string_(s) {}
    Json(std::string s) : type_(Type::string), string_(std::move(s)) {}
    static Json array(Array items = {});
    static Json object(Object items = {});

    /// Parses a whole document; throws ad::Error "json: <problem> at offset N".
    static Json parse(const std::string& text);
    /// Compact with indent < 0, else one item per line indented by `indent` spaces per level.
    std::string dump(int indent = -1) const;

    Type type() const { return type_; }
    bool is_null() const { return type_ == Type::null; }
    bool is_bool() const { return type_ == Type::boolean; }
    bool is_number() const { return type_ == Type::number; }
    bool is_string() const { return type_ == Type::string; }
    bool is_array() const { return type_ == Type::array; }
    bool is_object() const { return type_ == Type::object; }

    // Typed access; each throws "json: expected <type>, got <type>" on a mismatch.
    bool as_bool() const;
    double as_number() const;
    long as_long() const;  ///< a whole number with |x| <= 2^53
    const std::string& as_string() const;
    const Array& as_array() const;
    Array& as_array();
    const Object& as_object() const;
    Object& as_object();

    size_t size() const;                           ///< elements of an array or object
    const Json& at(size_t i) const;                ///< array element; throws when out of range
    const Json& at(const std::string& key) const;  ///< object member; throws naming a missing key
    const Json* find(const std::string& key) const;  ///< object member or nullptr
    bool contains(const std::string& key) const { return find(key) != nullptr; }
    /// Object member, appended as null when missing (a null value becomes an empty object).
    Json& operator[](const std::string& key);
    /// Appends to an array (a null value becomes an empty array).
    void push_back(Json value);

    friend bool operator==(const Json& a, const Json& b);
    friend bool operator!=(const Json& a, const Json& b) { return !(a == b); }

  private:
    void dump_to(std::string& out, int indent, int depth) const;

    Type type_ = Type::null;
    bool bool_ = false;
    double number_ = 0.0;
    std::string string_;
    Array array_;
    Object object_;
};

/// "null", "bool", "number", "string", "array", "object".
const char* to_string(Json::Type type);

}  // namespace nn
