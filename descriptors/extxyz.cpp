// Extended-XYZ reader and writer. The reader walks the file once with pointers (std::from_chars,
// no stream per token): 1000 ethanol frames load in about 18 ms, most of it check_geometry.
// Follows ASE 3.22's ase/io/extxyz.py: Lattice rows are a, b, c; Lattice without pbc means
// pbc="T T T"; a comment line without Properties means species:S:1:pos:R:3; a bare key means T.
//
// Notation: atoms i, Cartesian components c; per-atom column k of the Properties list.
#include "descriptors/extxyz.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "autodiff/io.hpp"
#include "descriptors/neighbor_list.hpp"

namespace desc {

namespace {

bool is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f'; }

std::string snippet(const char* b, const char* e) {
    std::string s(b, e);
    if (s.size() > 60) s = s.substr(0, 57) + "...";
    return s;
}

// Reads a double token [b, e) entirely; accepts a leading '+' (from_chars does not).
bool read_double(const char* b, const char* e, double& out) {
    if (b < e && *b == '+') ++b;
    if (b == e) return false;
    auto r = std::from_chars(b, e, out);
    return r.ec == std::errc() && r.ptr == e;
}

bool read_long(const char* b, const char* e, long& out) {
    if (b < e && *b == '+') ++b;
    if (b == e) return false;
    auto r = std::from_chars(b, e, out);
    return r.ec == std::errc() && r.ptr == e;
}

bool read_bool(const char* b, const char* e, bool& out) {
    std::string t(b, e);
    if (t == "T" || t == "True" || t == "true" || t == "TRUE") return out = true, true;
    if (t == "F" || t == "False" || t == "false" || t == "FALSE") return out = false, true;
    return false;
}

// Splits [b, e) at whitespace into tokens (pointer pairs).
void split(const char* b, const char* e, std::vector<std::pair<const char*, const char*>>& out) {
    out.clear();
    while (true) {
        while (b < e && is_space(*b)) ++b;
        if (b == e) return;
        const char* s = b;
        while (b < e && !is_space(*b)) ++b;
        out.emplace_back(s, b);
    }
}

// The per-frame key=value pairs of a comment line, in order. Values lose their outer quotes;
// inside quotes \" \\ \n are decoded. {..} and [..] values keep their brackets.
std::vector<std::pair<std::string, std::string>> parse_comment(const char* b, const char* e,
                                                               const std::string& where) {
    std::vector<std::pair<std::string, std::string>> out;
    auto quoted = [&](const char*& p) {  // p at the opening quote
        std::string s;
        ++p;
        while (p < e && *p != '"') {
            if (*p == '\\' && p + 1 < e) {
                char n = p[1];
                if (n == '"' || n == '\\') s += n, p += 2;
                else if (n == 'n') s += '\n', p += 2;
                else s += *p++;
            } else {
                s += *p++;
            }
        }
        AD_CHECK(p < e, where << ": expected a closing '\"' in the comment line, got end of line");
        ++p;
        return s;
    };
    const char* p = b;
    while (true) {
        while (p < e && is_space(*p)) ++p;
        if (p == e) break;
        std::string key;
        if (*p == '"') {
            key = quoted(p);
        } else {
            const char* s = p;
            while (p < e && !is_space(*p) && *p != '=') ++p;
            key.assign(s, p);
        }
        AD_CHECK(!key.empty(), where << ": expected key=value, got '=' without a key");
        const char* q = p;
        while (q < e && is_space(*q)) ++q;
        std::string value = "T";  // a bare key means True (ASE)
        if (q < e && *q == '=') {
            p = q + 1;
            while (p < e && is_space(*p)) ++p;
            AD_CHECK(p < e, where << ": expected a value after '" << key << "=', got end of line");
            if (*p == '"') {
                value = quoted(p);
            } else if (*p == '{' || *p == '[') {
                char close = *p == '{' ? '}' : ']';
                const char* s = p;
                while (p < e && *p != close) ++p;
                AD_CHECK(p < e, where << ": expected a closing '" << close << "' for key '" << key
                                      << "', got end of line");
                ++p;
                value.assign(s, p);
            } else {
                const char* s = p;
                while (p < e && !is_space(*p)) ++p;
                value.assign(s, p);
            }
        }
        for (const auto& kv : out)
            AD_CHECK(kv.first != key, where << ": expected each key once in the comment line, got '" << key
                                            << "' twice");
        out.emplace_back(std::move(key), std::move(value));
    }
    return out;
}

// The training targets energy and stress, when written as numbers, must be finite: NaN or inf mark a
// failed reference calculation, and would only surface later as a NaN loss. (Text that is not a
// number is left to the typed accessors, which name the frame and key.)
void check_finite_numbers(const std::string& key, const std::string& value, const std::string& where) {
    std::vector<std::pair<const char*, const char*>> tok;
    split(value.data(), value.data() + value.size(), tok);
    for (const auto& t : tok) {
        double v = 0;
        AD_CHECK(!read_double(t.first, t.second, v) || std::isfinite(v),
                 where << ": expected finite numbers for '" << key << "', got '" << value << "'");
    }
}

enum class Target { species, z, pos, extra };

struct ColumnSpec {
    std::string name;
    char type;
    int n_cols;
    Target target;
    size_t extra;  // index into System::arrays for Target::extra
    bool finite;   // the training target forces: NaN/inf mark a failed reference calculation
};

std::vector<ColumnSpec> parse_properties(const std::string& text, const std::string& where) {
    std::vector<std::string> parts;
    size_t s = 0;
    while (true) {
        size_t c = text.find(':', s);
        parts.push_back(text.substr(s, c == std::string::npos ? std::string::npos : c - s));
        if (c == std::string::npos) break;
        s = c + 1;
    }
    const std::string expect = ": expected Properties=name:type:count[:name:type:count...] with type S, R, I or L "
                               "and count >= 1, got '";
    AD_CHECK(parts.size() % 3 == 0, where << expect << text << "'");
    std::vector<ColumnSpec> cols;
    bool has_pos = false, has_species = false;
    for (size_t k = 0; k < parts.size(); k += 3) {
        const std::string& name = parts[k];
        const std::string& type = parts[k + 1];
        long n = 0;
        bool ok = !name.empty() && type.size() == 1 && std::strchr("SRIL", type[0]) != nullptr &&
                  read_long(parts[k + 2].data(), parts[k + 2].data() + parts[k + 2].size(), n) && n >= 1 &&
                  n <= 1000;
        AD_CHECK(ok, where << expect << text << "'");
        for (const auto& c : cols)
            AD_CHECK(c.name != name, where << ": expected each Properties name once, got '" << name << "' twice in '"
                                           << text << "'");
        ColumnSpec c{name, type[0], static_cast<int>(n), Target::extra, 0, name == "forces" && type[0] == 'R'};
        if (name == "pos") {
            AD_CHECK(c.type == 'R' && n == 3, where << ": expected pos:R:3 in Properties, got '" << text << "'");
            c.target = Target::pos;
            has_pos = true;
        } else if (name == "species") {
            AD_CHECK(c.type == 'S' && n == 1, where << ": expected species:S:1 in Properties, got '" << text << "'");
            c.target = Target::species;
            has_species = true;
        }
        cols.push_back(c);
    }
    if (!has_species)  // ASE accepts atomic numbers Z:I:1 in place of species
        for (auto& c : cols)
            if (c.name == "Z" && c.type == 'I' && c.n_cols == 1) c.target = Target::z, has_species = true;
    AD_CHECK(has_pos && has_species,
             where << ": expected Properties with species:S:1 (or Z:I:1) and pos:R:3, got '" << text << "'");
    return cols;
}

struct Reader {
    const char* p;
    const char* end;
    const std::string& name;
    long line = 0;  // 1-based number of the line last returned

    bool next(const char*& b, const char*& e) {
        if (p >= end) return false;
        b = p;
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
        e = nl ? nl : end;
        p = nl ? nl + 1 : end;
        if (e > b && e[-1] == '\r') --e;
        ++line;
        return true;
    }
    std::string at() const { return name + ":" + std::to_string(line); }
};

}  // namespace

std::vector<System> parse_extxyz(const std::string& text, const std::string& name) {
    std::vector<System> frames;
    Reader rd{text.data(), text.data() + text.size(), name};
    std::vector<std::pair<const char*, const char*>> tok;
    const char *b, *e;
    while (rd.next(b, e)) {
        split(b, e, tok);
        if (tok.empty()) continue;  // blank lines between or after frames
        long n_atoms = -1;
        AD_CHECK(tok.size() == 1 && read_long(tok[0].first, tok[0].second, n_atoms) && n_atoms >= 0,
                 rd.at() << ": expected the number of atoms of a frame, got '" << snippet(b, e) << "'");
        System sys;
        sys.source = name;
        sys.frame = static_cast<long>(frames.size());
        sys.line = rd.line;
        const long count_line = rd.line;
        AD_CHECK(rd.next(b, e), rd.at() << ": expected the comment line of the frame starting at line " << count_line
                                        << ", got end of file");
        const std::string where = rd.at();
        auto kv = parse_comment(b, e, where);

        std::string properties = "species:S:1:pos:R:3";
        bool has_lattice = false, has_pbc = false;
        std::vector<double> lattice(9, 0.0);
        for (auto& [key, value] : kv) {
            if (key == "Properties") {
                properties = value;
            } else if (key == "Lattice") {
                has_lattice = true;
                split(value.data(), value.data() + value.size(), tok);
                bool ok = tok.size() == 9;
                for (size_t k = 0; ok && k < 9; ++k) ok = read_double(tok[k].first, tok[k].second, lattice[k]) &&
                                                         std::isfinite(lattice[k]);
                AD_CHECK(ok, where << ": expected Lattice=\"ax ay az bx by bz cx cy cz\" (9 finite numbers), got '"
                                   << value << "'");
            } else if (key == "pbc") {
                has_pbc = true;
                split(value.data(), value.data() + value.size(), tok);
                bool ok = tok.size() == 3;
                for (size_t k = 0; ok && k < 3; ++k) ok = read_bool(tok[k].first, tok[k].second, sys.pbc[k]);
                AD_CHECK(ok, where << ": expected pbc=\"T T T\" (three of T/F), got '" << value << "'");
            } else {
                if (key == "energy" || key == "stress") check_finite_numbers(key, value, where);
                sys.info_raw.emplace_back(std::move(key), std::move(value));
            }
        }
        if (has_lattice && !has_pbc) sys.pbc = {true, true, true};  // ASE's rule
        sys.cell = ad::tensor({3, 3}, lattice);
        if (sys.any_pbc()) {
            // singular when the volume is tiny compared with the product of the vector lengths
            double scale = 1;
            for (int k = 0; k < 3; ++k)
                scale *= std::sqrt(lattice[3 * k] * lattice[3 * k] + lattice[3 * k + 1] * lattice[3 * k + 1] +
                                   lattice[3 * k + 2] * lattice[3 * k + 2]);
            double det = sys.volume();
            AD_CHECK(scale > 0 && std::fabs(det) > 1e-10 * scale,
                     where << ": expected a non-singular Lattice with pbc=\"" << (sys.pbc[0] ? "T" : "F") << " "
                           << (sys.pbc[1] ? "T" : "F") << " " << (sys.pbc[2] ? "T" : "F") << "\", got "
                           << (has_lattice ? "determinant " + format_double(det) : std::string("no Lattice")));
        }

        std::vector<ColumnSpec> cols = parse_properties(properties, where);
        size_t n_tokens = 0;
        for (auto& c : cols) {
            n_tokens += static_cast<size_t>(c.n_cols);
            if (c.target != Target::extra) continue;
            c.extra = sys.arrays.size();
            AtomColumn a;
            a.name = c.name;
            a.type = c.type;
            a.n_cols = c.n_cols;
            if (c.type == 'S') a.strings.reserve(static_cast<size_t>(n_atoms * c.n_cols));
            else a.values.reserve(static_cast<size_t>(n_atoms * c.n_cols));
            sys.arrays.push_back(std::move(a));
        }

        sys.numbers.resize(static_cast<size_t>(n_atoms));
        sys.positions = ad::Tensor::empty({n_atoms, 3});
        double* R = sys.positions.data();
        for (long i = 0; i < n_atoms; ++i) {
            AD_CHECK(rd.next(b, e), rd.at() << ": expected " << n_atoms << " atom lines for the frame starting at line "
                                            << count_line << ", got end of file after " << i);
            split(b, e, tok);
            AD_CHECK(tok.size() == n_tokens, rd.at() << ": expected " << n_tokens << " columns (Properties="
                                                     << properties << "), got " << tok.size() << " in '"
                                                     << snippet(b, e) << "'");
            size_t t = 0;
            for (const auto& c : cols) {
                for (int k = 0; k < c.n_cols; ++k, ++t) {
                    const char* tb = tok[t].first;
                    const char* te = tok[t].second;
                    auto bad = [&](const char* what) {
                        AD_FAIL(rd.at() << ": expected " << what << " in column " << (t + 1) << " (" << c.name
                                        << "), got '" << snippet(tb, te) << "'");
                    };
                    switch (c.target) {
                        case Target::species: {
                            int z = atomic_number_or_zero(tb, static_cast<size_t>(te - tb));
                            if (z == 0) bad("an element symbol (H..Og)");
                            sys.numbers[static_cast<size_t>(i)] = z;
                            break;
                        }
                        case Target::z: {
                            long z = 0;
                            if (!read_long(tb, te, z) || z < 1 || z > 118) bad("an atomic number in 1..118");
                            sys.numbers[static_cast<size_t>(i)] = static_cast<int>(z);
                            break;
                        }
                        case Target::pos: {
                            double v = 0;
                            if (!read_double(tb, te, v)) bad("a real number");
                            if (!std::isfinite(v)) bad("a finite coordinate");
                            R[3 * i + k] = v;
                            break;
                        }
                        case Target::extra: {
                            AtomColumn& a = sys.arrays[c.extra];
                            if (c.type == 'S') {
                                a.strings.emplace_back(tb, te);
                            } else if (c.type == 'R') {
                                double v = 0;
                                if (!read_double(tb, te, v)) bad("a real number");
                                if (c.finite && !std::isfinite(v)) bad("a finite number");
                                a.values.push_back(v);
                            } else if (c.type == 'I') {
                                long v = 0;
                                if (!read_long(tb, te, v)) bad("an integer");
                                a.values.push_back(static_cast<double>(v));
                            } else {
                                bool v = false;
                                if (!read_bool(tb, te, v)) bad("a logical (T or F)");
                                a.values.push_back(v ? 1.0 : 0.0);
                            }
                            break;
                        }
                    }
                }
            }
        }
        check_geometry(sys);  // atoms on top of each other (the rest was checked above)
        frames.push_back(std::move(sys));
    }
    return frames;
}

std::vector<System> read_extxyz(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "rb");
    AD_CHECK(f != nullptr, "read_extxyz: expected a readable file, got '" << path << "': " << std::strerror(errno));
    // one read into a buffer of the file's size (growing a string by appends copies it ~20 times)
    std::string text;
    long size = std::fseek(f, 0, SEEK_END) == 0 ? std::ftell(f) : -1;
    std::rewind(f);
    if (size > 0) {
        text.resize(static_cast<size_t>(size));
        text.resize(std::fread(&text[0], 1, text.size(), f));
    }
    char buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);  // files that grew or pipes
    bool failed = std::ferror(f) != 0;
    std::fclose(f);
    AD_CHECK(!failed, "read_extxyz: expected a readable file, got a read error on '" << path << "'");
    return parse_extxyz(text, path);
}

namespace {

void append_double(std::string& out, double v, int width) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    int len = static_cast<int>(r.ptr - buf);
    out.append(static_cast<size_t>(len < width ? width - len : 1), ' ');
    out.append(buf, r.ptr);
}

bool needs_quotes(const std::string& v) {
    if (v.empty()) return true;
    for (char ch : v)
        if (is_space(ch) || ch == '\n' || ch == '=' || ch == '"' || ch == '\\' || ch == '{' || ch == '[' ||
            ch == '}' || ch == ']')
            return true;
    return false;
}

void append_value(std::string& out, const std::string& v) {
    bool bracketed = v.size() >= 2 && ((v.front() == '[' && v.back() == ']') || (v.front() == '{' && v.back() == '}')) &&
                     v.find_first_of("\"\n", 0) == std::string::npos &&
                     v.find(v.front() == '[' ? ']' : '}') == v.size() - 1;
    if (bracketed || !needs_quotes(v)) {
        out += v;
        return;
    }
    out += '"';
    for (char ch : v) {
        if (ch == '"' || ch == '\\') out += '\\', out += ch;
        else if (ch == '\n') out += "\\n";
        else out += ch;
    }
    out += '"';
}

}  // namespace

std::string format_extxyz(const std::vector<System>& frames) {
    std::string out;
    for (const System& s : frames) {
        const long n = s.n_atoms();
        AD_CHECK(s.positions.defined() && s.positions.shape() == ad::Shape({n, 3}),
                 "write_extxyz: " << s.where() << ": expected positions [" << n << ", 3], got "
                                  << (s.positions.defined() ? s.positions.shape() : ad::Shape{}));
        for (const auto& a : s.arrays) {
            size_t want = static_cast<size_t>(n * a.n_cols);
            AD_CHECK((a.type == 'S' ? a.strings.size() : a.values.size()) == want,
                     "write_extxyz: " << s.where() << ": expected " << want << " values in column '" << a.name << "'");
        }
        out += std::to_string(n);
        out += '\n';
        bool has_cell = false;
        if (s.cell.defined())
            for (long k = 0; k < s.cell.numel(); ++k) has_cell = has_cell || s.cell[k] != 0.0;
        if (has_cell) {
            AD_CHECK(s.cell.numel() == 9, "write_extxyz: " << s.where() << ": expected cell [3, 3], got " << s.cell.shape());
            out += "Lattice=\"";
            for (long k = 0; k < 9; ++k) {
                if (k) out += ' ';
                out += format_double(s.cell[k]);
            }
            out += "\" ";
        }
        out += "Properties=species:S:1:pos:R:3";
        for (const auto& a : s.arrays) {
            out += ':';
            out += a.name;
            out += ':';
            out += a.type;
            out += ':';
            out += std::to_string(a.n_cols);
        }
        for (const auto& [key, value] : s.info_raw) {
            out += ' ';
            append_value(out, key);
            out += '=';
            append_value(out, value);
        }
        out += " pbc=\"";
        out += s.pbc[0] ? 'T' : 'F';
        out += s.pbc[1] ? " T" : " F";
        out += s.pbc[2] ? " T\"\n" : " F\"\n";
        const double* R = s.positions.data();
        for (long i = 0; i < n; ++i) {
            const std::string& sym = element_symbol(s.numbers[static_cast<size_t>(i)]);
            out += sym;
            if (sym.size() < 2) out += ' ';
            for (int c = 0; c < 3; ++c) append_double(out, R[3 * i + c], 16);
            for (const auto& a : s.arrays) {
                for (int k = 0; k < a.n_cols; ++k) {
                    size_t idx = static_cast<size_t>(i * a.n_cols + k);
                    if (a.type == 'S') {
                        out += ' ';
                        out += a.strings[idx];
                    } else if (a.type == 'R') {
                        append_double(out, a.values[idx], 16);
                    } else if (a.type == 'I') {
                        out += ' ';
                        out += std::to_string(static_cast<long long>(a.values[idx]));
                    } else {
                        out += a.values[idx] != 0.0 ? " T" : " F";
                    }
                }
            }
            out += '\n';
        }
    }
    return out;
}

void write_extxyz(const std::string& path, const std::vector<System>& frames) {
    ad::write_file_atomic(path, format_extxyz(frames));
}

}  // namespace desc
