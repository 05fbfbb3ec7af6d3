// JSON parser (recursive descent over the RFC 8259 grammar) and printer.
#include "nn/json.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <unordered_set>

#include "autodiff/error.hpp"

namespace nn {

const char* to_string(Json::Type type) {
    switch (type) {
        case Json::Type::null: return "null";
        case Json::Type::boolean: return "bool";
        case Json::Type::number: return "number";
        case Json::Type::string: return "string";
        case Json::Type::array: return "array";
        case Json::Type::object: return "object";
    }
    return "?";
}

Json Json::array(Array items) {
    Json j;
    j.type_ = Type::array;
    j.array_ = std::move(items);
    return j;
}

Json Json::object(Object items) {
    Json j;
    j.type_ = Type::object;
    j.object_ = std::move(items);
    return j;
}

// ----------------------------------------------------------------------------- access

#define JSON_EXPECT(t) AD_CHECK(type_ == (t), "json: expected " << to_string(t) << ", got " << to_string(type_))

bool Json::as_bool() const { JSON_EXPECT(Type::boolean); return bool_; }
double Json::as_number() const { JSON_EXPECT(Type::number); return number_; }
const std::string& Json::as_string() const { JSON_EXPECT(Type::string); return string_; }
const Json::Array& Json::as_array() const { JSON_EXPECT(Type::array); return array_; }
Json::Array& Json::as_array() { JSON_EXPECT(Type::array); return array_; }
const Json::Object& Json::as_object() const { JSON_EXPECT(Type::object); return object_; }
Json::Object& Json::as_object() { JSON_EXPECT(Type::object); return object_; }

long Json::as_long() const {
    double x = as_number();
    AD_CHECK(x == std::floor(x) && std::fabs(x) <= 9007199254740992.0, "json: expected an integer, got " << x);
    return static_cast<long>(x);
}

size_t Json::size() const {
    if (type_ == Type::array) return array_.size();
    if (type_ == Type::object) return object_.size();
    throw ad::Error(std::string("json: expected array or object, got ") + to_string(type_));
}

const Json& Json::at(size_t i) const {
    const Array& a = as_array();
    AD_CHECK(i < a.size(), "json: expected an index below " << a.size() << ", got " << i);
    return a[i];
}

const Json* Json::find(const std::string& key) const {
    for (const auto& kv : as_object())
        if (kv.first == key) return &kv.second;
    return nullptr;
}

const Json& Json::at(const std::string& key) const {
    const Json* v = find(key);
    AD_CHECK(v != nullptr, "json: missing key '" << key << "'");
    return *v;
}

Json& Json::operator[](const std::string& key) {
    if (type_ == Type::null) type_ = Type::object;
    for (auto& kv : as_object())
        if (kv.first == key) return kv.second;
    object_.emplace_back(key, Json());
    return object_.back().second;
}

void Json::push_back(Json value) {
    if (type_ == Type::null) type_ = Type::array;
    as_array().push_back(std::move(value));
}

bool operator==(const Json& a, const Json& b) {
    if (a.type_ != b.type_) return false;
    switch (a.type_) {
        case Json::Type::null: return true;
        case Json::Type::boolean: return a.bool_ == b.bool_;
        case Json::Type::number: return a.number_ == b.number_;
        case Json::Type::string: return a.string_ == b.string_;
        case Json::Type::array: return a.array_ == b.array_;
        case Json::Type::object: return a.object_ == b.object_;
    }
    return false;
}

// ----------------------------------------------------------------------------- printer

namespace {

void dump_string(std::string& out, const std::string& s) {
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);  // UTF-8 bytes pass through
                }
        }
    }
    out += '"';
}

void dump_number(std::string& out, double x) {
    if (!std::isfinite(x)) {
        out += "null";
        return;
    }
    char buf[64];
    // Whole numbers as integers (offsets, counts, sizes must read back as integers elsewhere).
    if (x == std::floor(x) && std::fabs(x) < 1e17 && !(x == 0 && std::signbit(x))) {
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(x));
        out += buf;
        return;
    }
    auto res = std::to_chars(buf, buf + sizeof buf, x);  // shortest round-trip form, locale-free
    out.append(buf, res.ptr);
}

void newline(std::string& out, int indent, int depth) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent * depth), ' ');
}

}  // namespace

void Json::dump_to(std::string& out, int indent, int depth) const {
    switch (type_) {
        case Type::null: out += "null"; return;
        case Type::boolean: out += bool_ ? "true" : "false"; return;
        case Type::number: dump_number(out, number_); return;
        case Type::string: dump_string(out, string_); return;
        case Type::array:
            out += '[';
            for (size_t i = 0; i < array_.size(); ++i) {
                if (i) out += ',';
                newline(out, indent, depth + 1);
                array_[i].dump_to(out, indent, depth + 1);
            }
            if (!array_.empty()) newline(out, indent, depth);
            out += ']';
            return;
        case Type::object:
            out += '{';
            for (size_t i = 0; i < object_.size(); ++i) {
                if (i) out += ',';
                newline(out, indent, depth + 1);
                dump_string(out, object_[i].first);
                out += indent < 0 ? ":" : ": ";
                object_[i].second.dump_to(out, indent, depth + 1);
            }
            if (!object_.empty()) newline(out, indent, depth);
            out += '}';
            return;
    }
}

std::string Json::dump(int indent) const {
    std::string out;
    dump_to(out, indent, 0);
    return out;
}

// ----------------------------------------------------------------------------- parser

namespace {

constexpr int kMaxDepth = 512;  // deeper documents are rejected instead of overflowing the stack

class Parser {
  public:
    explicit Parser(const std::string& text) : s_(text) {}

    Json document() {
        Json v = value(0);
        skip_ws();
        if (pos_ != s_.size()) fail("expected end of input", true);
        return v;
    }

  private:
    [[noreturn]] void fail(const std::string& what, bool show_char = false) const {
        std::string got;
        if (pos_ >= s_.size()) {
            got = ", got end of input";
        } else if (show_char) {
            unsigned char c = static_cast<unsigned char>(s_[pos_]);
            char buf[16];
            if (c >= 0x20 && c < 0x7f)
                std::snprintf(buf, sizeof buf, "'%c'", c);
            else
                std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
            got = std::string(", got ") + buf;
        }
        throw ad::Error("json: " + what + " at offset " + std::to_string(pos_) + got);
    }

    void skip_ws() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
            ++pos_;
    }

    bool consume(char c) {
        if (pos_ < s_.size() && s_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }

    void literal(const char* word) {
        size_t start = pos_;
        for (const char* w = word; *w; ++w, ++pos_)
            if (pos_ >= s_.size() || s_[pos_] != *w) {
                pos_ = start;
                fail(std::string("expected '") + word + "'", true);
            }
    }

    Json value(int depth) {
        if (depth > kMaxDepth) fail("nesting deeper than 512 levels");
        skip_ws();
        if (pos_ >= s_.size()) fail("expected a value");
        char c = s_[pos_];
        switch (c) {
            case '{': return object(depth);
            case '[': return array(depth);
            case '"': return Json(string());
            case 't': literal("true"); return Json(true);
            case 'f': literal("false"); return Json(false);
            case 'n': literal("null"); return Json();
            default:
                if (c == '-' || (c >= '0' && c <= '9')) return Json(number());
                fail("expected a value", true);
        }
    }

    Json object(int depth) {
        ++pos_;  // '{'
        Json obj = Json::object();
        std::unordered_set<std::string> keys;
        skip_ws();
        if (consume('}')) return obj;
        for (;;) {
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a string key", true);
            size_t key_pos = pos_;
            std::string key = string();
            if (!keys.insert(key).second) {
                pos_ = key_pos;
                fail("duplicate key '" + key + "'");
            }
            skip_ws();
            if (!consume(':')) fail("expected ':'", true);
            Json v = value(depth + 1);
            obj.as_object().emplace_back(std::move(key), std::move(v));
            skip_ws();
            if (consume(',')) continue;
            if (consume('}')) return obj;
            fail("expected ',' or '}'", true);
        }
    }

    Json array(int depth) {
        ++pos_;  // '['
        Json arr = Json::array();
        skip_ws();
        if (consume(']')) return arr;
        for (;;) {
            arr.as_array().push_back(value(depth + 1));
            skip_ws();
            if (consume(',')) continue;
            if (consume(']')) return arr;
            fail("expected ',' or ']'", true);
        }
    }

    unsigned hex4() {
        unsigned v = 0;
        for (int k = 0; k < 4; ++k, ++pos_) {
            if (pos_ >= s_.size()) fail("expected 4 hex digits");
            char c = s_[pos_];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
            else fail("expected a hex digit", true);
        }
        return v;
    }

    static void append_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    std::string string() {
        ++pos_;  // opening quote
        std::string out;
        for (;;) {
            if (pos_ >= s_.size()) fail("unterminated string");
            unsigned char c = static_cast<unsigned char>(s_[pos_]);
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (c < 0x20) fail("expected an escaped control character in a string", true);
            if (c != '\\') {
                out += static_cast<char>(c);
                ++pos_;
                continue;
            }
            ++pos_;
            if (pos_ >= s_.size()) fail("unterminated string");
            char e = s_[pos_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    unsigned cp = hex4();
                    if (cp >= 0xD800 && cp < 0xDC00) {  // high surrogate: a low one must follow
                        if (!(consume('\\') && consume('u'))) fail("expected a low surrogate \\u escape");
                        unsigned lo = hex4();
                        if (lo < 0xDC00 || lo >= 0xE000) fail("expected a low surrogate \\u escape");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    } else if (cp >= 0xDC00 && cp < 0xE000) {
                        fail("unpaired low surrogate");
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: --pos_; fail("invalid escape", true);
            }
        }
    }

    static bool digit(char c) { return c >= '0' && c <= '9'; }

    double number() {
        const size_t start = pos_;
        consume('-');
        if (consume('0')) {
        } else if (pos_ < s_.size() && digit(s_[pos_])) {
            while (pos_ < s_.size() && digit(s_[pos_])) ++pos_;
        } else {
            fail("expected a digit", true);
        }
        if (consume('.')) {
            if (!(pos_ < s_.size() && digit(s_[pos_]))) fail("expected a digit after '.'", true);
            while (pos_ < s_.size() && digit(s_[pos_])) ++pos_;
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            ++pos_;
            if (!consume('+')) consume('-');
            if (!(pos_ < s_.size() && digit(s_[pos_]))) fail("expected a digit in the exponent", true);
            while (pos_ < s_.size() && digit(s_[pos_])) ++pos_;
        }
        double x = 0.0;
        auto res = std::from_chars(s_.data() + start, s_.data() + pos_, x);  // locale-free
        if (res.ec == std::errc::result_out_of_range) {
            // Underflow to 0 is harmless; overflow is not a double.
            bool tiny = false;
            for (size_t k = start; k < pos_; ++k)
                if (s_[k] == 'e' || s_[k] == 'E') tiny = s_[k + 1] == '-';
            if (!tiny) {
                pos_ = start;
                fail("number out of range");
            }
            x = 0.0;
        }
        return x;
    }

    const std::string& s_;
    size_t pos_ = 0;
};

}  // namespace

Json Json::parse(const std::string& text) { return Parser(text).document(); }

}  // namespace nn
