// Loader for the laplace-torch reference cases in tests/reference/laplace/<case>/ (provenance in
// tests/reference/laplace/README.md): case.toml through toml++ (numbers and arrays of numbers ->
// ad::Tensor, bit for bit), the CSV data sets, the trained MLP, and the README section 8
// comparison rules as Catch checks.
#pragma once
#include <catch2/catch.hpp>
#include <toml++/toml.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "autodiff/ops.hpp"
#include "cli/csv.hpp"
#include "nn/checkpoint.hpp"
#include "nn/mlp.hpp"

namespace uqtest {

using ad::operator<<;

inline std::string reference_dir(const std::string& name) {
    return (std::filesystem::path(__FILE__).parent_path().parent_path() / "reference" / "laplace" / name).string();
}

/// A parsed case: the TOML tree, the data and the model with its last-layer features.
struct Case {
    std::string name, dir;
    toml::table root;
    bool classification = false;
    ad::Tensor X_train, X_val, X_test;  ///< [n, d]
    ad::Tensor y_train, y_val;          ///< regression [n, 1]; classification labels [n] as doubles
    std::vector<long> labels_val;
    std::shared_ptr<nn::MLP> mlp;
    ad::Tensor phi_train, phi_val, phi_test;  ///< last-layer features
};

/// Walks keys (table keys, or decimal indices into arrays); throws naming the path.
inline const toml::node& at(const toml::node& start, const std::vector<std::string>& keys) {
    const toml::node* n = &start;
    std::string path;
    for (const auto& k : keys) {
        path += "." + k;
        const toml::node* next = nullptr;
        if (auto t = n->as_table()) next = t->get(k);
        else if (auto a = n->as_array()) next = a->get(std::stoul(k));
        if (!next) throw std::runtime_error("reference case: no key " + path);
        n = next;
    }
    return *n;
}

inline double num(const toml::node& n) {
    if (auto v = n.value<double>()) return *v;
    throw std::runtime_error("reference case: expected a number");
}

inline bool has(const toml::node& start, const std::vector<std::string>& keys) {
    try {
        at(start, keys);
        return true;
    } catch (const std::runtime_error&) {
        return false;
    }
}

/// A number -> [], an array of numbers -> [n], arrays of arrays -> [n, m], ... (row-major).
inline ad::Tensor to_tensor(const toml::node& n) {
    ad::Shape shape;
    const toml::node* p = &n;
    while (auto a = p->as_array()) {
        shape.push_back(static_cast<long>(a->size()));
        if (a->empty()) break;
        p = a->get(0);
    }
    std::vector<double> values;
    values.reserve(ad::numel(shape));
    std::function<void(const toml::node&)> walk = [&](const toml::node& x) {
        if (auto a = x.as_array())
            for (const auto& e : *a) walk(e);
        else
            values.push_back(num(x));
    };
    walk(n);
    REQUIRE(static_cast<long>(values.size()) == ad::numel(shape));
    return ad::tensor(shape, values);
}

inline ad::Tensor columns(const cli::Table& t, const std::string& prefix) {
    std::vector<std::string> names;
    for (const auto& c : t.columns)
        if (c.rfind(prefix, 0) == 0) names.push_back(c);
    return t.select(names);
}

/// Loads (once per run) the case `name`.
inline const Case& load_case(const std::string& name) {
    static std::map<std::string, std::unique_ptr<Case>> cache;
    auto& slot = cache[name];
    if (slot) return *slot;
    auto c = std::make_unique<Case>();
    c->name = name;
    c->dir = reference_dir(name);
    c->root = toml::parse_file(c->dir + "/case.toml");
    c->classification = *c->root["likelihood"].value<std::string>() == "classification";
    cli::Table train = cli::read_csv(c->dir + "/train.csv"), val = cli::read_csv(c->dir + "/val.csv"),
               test = cli::read_csv(c->dir + "/test.csv");
    c->X_train = columns(train, "x");
    c->X_val = columns(val, "x");
    c->X_test = columns(test, "x");
    if (c->classification) {
        auto to_doubles = [](const std::vector<long>& l) {
            std::vector<double> v(l.begin(), l.end());
            return ad::tensor({static_cast<long>(l.size())}, v);
        };
        c->y_train = to_doubles(train.labels("label"));
        c->labels_val = val.labels("label");
        c->y_val = to_doubles(c->labels_val);
    } else {
        c->y_train = columns(train, "y");
        c->y_val = columns(val, "y");
    }
    // The trained network: layers.{i}.weight [out, in], layers.{i}.bias, tanh hidden activations.
    nn::Checkpoint ck = nn::load_checkpoint(c->dir + "/model.safetensors");
    std::vector<long> sizes;
    for (long i = 0; ck.has("layers." + std::to_string(i) + ".weight"); ++i) {
        const ad::Tensor& W = ck.get("layers." + std::to_string(i) + ".weight");
        if (i == 0) sizes.push_back(W.dim(1));
        sizes.push_back(W.dim(0));
    }
    ad::Rng rng(0);
    c->mlp = std::make_shared<nn::MLP>(sizes.front(), std::vector<long>(sizes.begin() + 1, sizes.end() - 1),
                                       sizes.back(), nn::Activation::tanh, rng);
    c->mlp->load_state_dict(ck.tensors);
    ad::NoGrad ng;
    c->phi_train = c->mlp->features(c->X_train);
    c->phi_val = c->mlp->features(c->X_val);
    c->phi_test = c->mlp->features(c->X_test);
    slot = std::move(c);
    return *slot;
}

// ---- README section 8 tolerances

/// Scalars: |d| <= 1e-8 |ref| (float64 re-derivations agree to < 1e-12; 1e-8 leaves room for
/// a different but equally exact summation/factorisation order); exact zeros: |d| <= 1e-12.
inline std::string scalar_mismatch(double a, double ref, double rtol = 1e-8) {
    const double tol = ref == 0.0 ? 1e-12 : rtol * std::fabs(ref);
    if (std::fabs(a - ref) <= tol) return "";
    std::ostringstream os;
    os.precision(17);
    os << "got " << a << ", reference " << ref << " (|d| = " << std::fabs(a - ref) << " > " << tol << ")";
    return os.str();
}

/// Arrays: |d| <= 1e-8 |ref| + floor max|ref| elementwise (floor 1e-10: inverses of precisions
/// with condition ~1e5 and Kron matrices rebuilt from eigenvectors put ~1e-17 where ref is 0).
inline std::string array_mismatch(const ad::Tensor& a, const ad::Tensor& ref, double rtol = 1e-8, double floor = 1e-10) {
    std::ostringstream os;
    os.precision(17);
    if (!a.defined() || a.shape() != ref.shape()) {
        os << "shape " << (a.defined() ? a.shape() : ad::Shape{}) << " vs reference " << ref.shape();
        return os.str();
    }
    double mx = 0;
    for (long i = 0; i < ref.numel(); ++i) mx = std::max(mx, std::fabs(ref[i]));
    long worst = -1;
    double worst_excess = 0;
    for (long i = 0; i < ref.numel(); ++i) {
        const double d = std::fabs(a[i] - ref[i]), tol = rtol * std::fabs(ref[i]) + floor * mx;
        if (!(d <= tol) && (worst < 0 || d - tol > worst_excess)) {
            worst = i;
            worst_excess = d - tol;
        }
    }
    if (worst < 0) return "";
    os << "element " << worst << ": got " << a[worst] << ", reference " << ref[worst] << " (max|ref| " << mx << ")";
    return os.str();
}

}  // namespace uqtest

#define CHECK_SCALAR_REF(actual, ref)                                  \
    do {                                                               \
        const std::string m_ = uqtest::scalar_mismatch((actual), (ref)); \
        INFO(#actual << ": " << m_);                                   \
        CHECK(m_.empty());                                             \
    } while (0)

#define CHECK_ARRAY_REF(actual, ref)                                  \
    do {                                                              \
        const std::string m_ = uqtest::array_mismatch((actual), (ref)); \
        INFO(#actual << ": " << m_);                                  \
        CHECK(m_.empty());                                            \
    } while (0)
