// Module tree bookkeeping: registration, dotted names, strict state loading.
#include "nn/module.hpp"

#include <cstring>
#include <unordered_map>

namespace nn {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope

void Module::check_new_name(const std::string& name, const char* what) const {
    AD_CHECK(!name.empty() && name.find('.') == std::string::npos,
             "register_" << what << ": expected a non-empty name without '.', got '" << name << "'");
    for (const auto& p : params_)
        AD_CHECK(p.first != name, "register_" << what << ": expected a new name, got '" << name
                                               << "' (already a parameter)");
    for (const auto& c : children_)
        AD_CHECK(c.first != name, "register_" << what << ": expected a new name, got '" << name
                                               << "' (already a module)");
}

ad::Tensor Module::register_parameter(const std::string& name, ad::Tensor t) {
    check_new_name(name, "parameter");
    AD_CHECK(t.defined(), "register_parameter: expected a defined tensor for '" << name << "'");
    AD_CHECK(t.is_leaf(), "register_parameter: expected a leaf tensor for '" << name
                                                                             << "', got an op output; use detach()");
    t.set_requires_grad(true);
    params_.emplace_back(name, t);
    return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
    check_new_name(name, "module");
    AD_CHECK(m != nullptr, "register_module: expected a module for '" << name << "', got null");
    AD_CHECK(m.get() != this, "register_module: a module cannot contain itself ('" << name << "')");
    children_.emplace_back(name, std::move(m));
}

void Module::collect(const std::string& prefix, NamedTensors& out) const {
    for (const auto& p : params_) out.emplace_back(prefix + p.first, p.second);
    for (const auto& c : children_) c.second->collect(prefix + c.first + ".", out);
}

NamedTensors Module::named_parameters() const {
    NamedTensors out;
    collect("", out);
    return out;
}

std::vector<ad::Tensor> Module::parameters() const {
    std::vector<ad::Tensor> out;
    for (auto& p : named_parameters()) out.push_back(p.second);
    return out;
}

NamedTensors Module::state_dict() const { return named_parameters(); }

void Module::load_state_dict(const NamedTensors& state) {
    NamedTensors own = named_parameters();
    std::unordered_map<std::string, const ad::Tensor*> given;
    for (const auto& kv : state) {
        AD_CHECK(given.emplace(kv.first, &kv.second).second,
                 "load_state_dict: expected each key once, got '" << kv.first << "' twice");
    }
    // Check everything first so that a failed load leaves the parameters untouched.
    for (const auto& p : own) {
        auto it = given.find(p.first);
        AD_CHECK(it != given.end(), "load_state_dict: missing key '" << p.first << "'");
        const ad::Tensor& src = *it->second;
        AD_CHECK(src.defined(), "load_state_dict: expected a defined tensor for '" << p.first << "'");
        AD_CHECK(src.shape() == p.second.shape(), "load_state_dict: expected '" << p.first << "' of shape "
                                                      << p.second.shape() << ", got " << src.shape());
        given.erase(it);
    }
    if (!given.empty()) {
        for (const auto& kv : state)  // report the first unexpected key in the caller's order
            AD_CHECK(given.count(kv.first) == 0, "load_state_dict: unexpected key '" << kv.first << "'");
    }
    std::unordered_map<std::string, const ad::Tensor*> by_name;
    for (const auto& kv : state) by_name.emplace(kv.first, &kv.second);
    for (auto& p : own) {
        const ad::Tensor& src = *by_name.at(p.first);
        if (src.data() != p.second.data())
            std::memcpy(p.second.data(), src.data(), sizeof(double) * static_cast<size_t>(p.second.numel()));
    }
}

void Module::zero_grad() {
    for (auto& p : named_parameters()) p.second.zero_grad();
}

long Module::n_parameters() const {
    long n = 0;
    for (const auto& p : named_parameters()) n += p.second.numel();
    return n;
}

}  // namespace nn
