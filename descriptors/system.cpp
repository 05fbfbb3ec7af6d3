// System accessors, the element table (all 118 elements) and shortest round-trip number text.
//
// Notation: atoms i, components c (x, y, z); stress s[c, d] row-major, Voigt order xx yy zz yz xz xy.
#include "descriptors/system.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

namespace desc {

namespace {

const std::vector<std::string>& symbols() {
    static const std::vector<std::string> table = {
        "X",  "H",  "He", "Li", "Be", "B",  "C",  "N",  "O",  "F",  "Ne", "Na", "Mg", "Al", "Si",
        "P",  "S",  "Cl", "Ar", "K",  "Ca", "Sc", "Ti", "V",  "Cr", "Mn", "Fe", "Co", "Ni", "Cu",
        "Zn", "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y",  "Zr", "Nb", "Mo", "Tc", "Ru",
        "Rh", "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I",  "Xe", "Cs", "Ba", "La", "Ce", "Pr",
        "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W",
        "Re", "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac",
        "Th", "Pa", "U",  "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf",
        "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og"};
    return table;
}

// Parses a whole string as one double (no surrounding text allowed).
bool parse_double(const std::string& text, double& out) {
    const char* b = text.data();
    const char* e = b + text.size();
    while (b < e && (*b == ' ' || *b == '\t')) ++b;
    while (e > b && (e[-1] == ' ' || e[-1] == '\t')) --e;
    if (b < e && *b == '+') ++b;
    auto r = std::from_chars(b, e, out);
    return r.ec == std::errc() && r.ptr == e && b != e;
}

std::vector<double> parse_numbers(const std::string& text, bool& ok) {
    std::vector<double> out;
    std::istringstream is(text);
    std::string token;
    ok = true;
    while (is >> token) {
        double v = 0;
        if (!parse_double(token, v)) ok = false;
        out.push_back(v);
    }
    return out;
}

}  // namespace

int atomic_number_or_zero(const char* symbol, size_t length) {
    if (length == 0 || length > 2) return 0;
    const auto& t = symbols();
    for (size_t z = 1; z < t.size(); ++z)
        if (t[z].size() == length && t[z].compare(0, length, symbol, length) == 0) return static_cast<int>(z);
    return 0;
}

int atomic_number(const std::string& symbol) {
    int z = atomic_number_or_zero(symbol.data(), symbol.size());
    AD_CHECK(z != 0, "element: expected an element symbol (H..Og), got '" << symbol << "'");
    return z;
}

const std::string& element_symbol(int number) {
    AD_CHECK(number >= 1 && number <= 118, "element: expected an atomic number in 1..118, got " << number);
    return symbols()[static_cast<size_t>(number)];
}

std::string format_double(double value) {
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, value);
    std::string s(buf, r.ptr);
    // like Python's repr (what ASE writes for per-frame values): integral values keep a ".0"
    if (std::isfinite(value) && s.find_first_of(".e") == std::string::npos) s += ".0";
    return s;
}

std::vector<int> unique_numbers(const std::vector<System>& frames) {
    std::vector<int> out;
    for (const auto& f : frames) out.insert(out.end(), f.numbers.begin(), f.numbers.end());
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

double System::volume() const {
    if (!cell.defined() || cell.numel() != 9) return 0.0;
    const double* h = cell.data();
    return h[0] * (h[4] * h[8] - h[5] * h[7]) - h[1] * (h[3] * h[8] - h[5] * h[6]) +
           h[2] * (h[3] * h[7] - h[4] * h[6]);
}

std::string System::where() const {
    if (source.empty() && frame < 0) return "system";
    std::ostringstream os;
    os << (source.empty() ? "system" : source);
    if (frame >= 0) os << " frame " << frame;
    if (line > 0) os << " (line " << line << ")";
    return os.str();
}

const std::string* System::find_info(const std::string& key) const {
    for (const auto& kv : info_raw)
        if (kv.first == key) return &kv.second;
    return nullptr;
}

void System::set_info(const std::string& key, const std::string& value) {
    for (auto& kv : info_raw)
        if (kv.first == key) {
            kv.second = value;
            return;
        }
    info_raw.emplace_back(key, value);
}

bool System::erase_info(const std::string& key) {
    for (auto it = info_raw.begin(); it != info_raw.end(); ++it)
        if (it->first == key) {
            info_raw.erase(it);
            return true;
        }
    return false;
}

const AtomColumn* System::find_array(const std::string& name) const {
    for (const auto& a : arrays)
        if (a.name == name) return &a;
    return nullptr;
}

AtomColumn* System::find_array(const std::string& name) {
    for (auto& a : arrays)
        if (a.name == name) return &a;
    return nullptr;
}

void System::set_array(AtomColumn column) {
    size_t want = static_cast<size_t>(n_atoms()) * static_cast<size_t>(column.n_cols);
    size_t got = column.type == 'S' ? column.strings.size() : column.values.size();
    AD_CHECK(column.n_cols >= 1 && got == want,
             where() << ": expected " << want << " values for per-atom column '" << column.name << "' ("
                     << n_atoms() << " atoms x " << column.n_cols << "), got " << got);
    AD_CHECK(column.name != "species" && column.name != "pos",
             where() << ": expected a per-atom column other than species/pos, got '" << column.name
                     << "'; set numbers/positions instead");
    for (auto& a : arrays)
        if (a.name == column.name) {
            a = std::move(column);
            return;
        }
    arrays.push_back(std::move(column));
}

bool System::erase_array(const std::string& name) {
    for (auto it = arrays.begin(); it != arrays.end(); ++it)
        if (it->name == name) {
            arrays.erase(it);
            return true;
        }
    return false;
}

std::optional<double> System::energy(const std::string& key) const {
    const std::string* v = find_info(key);
    if (!v) return std::nullopt;
    return require_energy(key);
}

double System::require_energy(const std::string& key) const {
    const std::string* v = find_info(key);
    AD_CHECK(v != nullptr, where() << ": expected per-frame key '" << key << "', got none");
    double e = 0;
    AD_CHECK(parse_double(*v, e) && std::isfinite(e),
             where() << ": expected a finite real number for '" << key << "', got '" << *v << "'");
    return e;
}

void System::set_energy(double value, const std::string& key) { set_info(key, format_double(value)); }

ad::Tensor System::require_forces(const std::string& key) const {
    const AtomColumn* a = find_array(key);
    AD_CHECK(a != nullptr, where() << ": expected per-atom column '" << key << "', got none");
    AD_CHECK(a->type == 'R' && a->n_cols == 3,
             where() << ": expected per-atom column '" << key << "' of type R with 3 components, got " << a->type
                     << ":" << a->n_cols);
    for (size_t k = 0; k < a->values.size(); ++k)
        AD_CHECK(std::isfinite(a->values[k]), where() << ": expected finite values in per-atom column '" << key
                                                      << "', got " << a->values[k] << " for atom " << k / 3);
    return ad::tensor({n_atoms(), 3}, a->values);
}

void System::set_forces(const ad::Tensor& forces, const std::string& key) {
    AD_CHECK(forces.shape() == ad::Shape({n_atoms(), 3}),
             where() << ": expected forces [" << n_atoms() << ", 3], got " << forces.shape());
    AtomColumn c;
    c.name = key;
    c.type = 'R';
    c.n_cols = 3;
    c.values = forces.to_vector();
    set_array(std::move(c));
}

ad::Tensor System::require_stress(const std::string& key) const {
    const std::string* v = find_info(key);
    AD_CHECK(v != nullptr, where() << ": expected per-frame key '" << key << "', got none");
    bool ok = false;
    std::vector<double> s = parse_numbers(*v, ok);
    for (double x : s) ok = ok && std::isfinite(x);
    AD_CHECK(ok && (s.size() == 9 || s.size() == 6),
             where() << ": expected 9 finite numbers (3x3 row-major) or 6 (Voigt) for '" << key << "', got '" << *v
                     << "'");
    if (s.size() == 6)  // Voigt xx yy zz yz xz xy
        s = {s[0], s[5], s[4], s[5], s[1], s[3], s[4], s[3], s[2]};
    return ad::tensor({3, 3}, s);
}

void System::set_stress(const ad::Tensor& stress, const std::string& key) {
    AD_CHECK(stress.numel() == 9, where() << ": expected stress [3, 3], got " << stress.shape());
    std::string text;
    for (long k = 0; k < 9; ++k) {
        if (k) text += ' ';
        text += format_double(stress[k]);
    }
    set_info(key, text);
}

}  // namespace desc
