// Module: a named tree of parameters. Each module registers its own tensors ("weight") and its
// child modules ("layers.0"); named_parameters() walks the tree and joins names with dots, so
// every parameter has a stable path ("layers.0.weight") used by state_dict, checkpoints and
// optimiser state. Order as torch: a module's own parameters first, then each child's, both in
// registration order.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autodiff/tensor.hpp"

namespace nn {

using NamedTensors = std::vector<std::pair<std::string, ad::Tensor>>;

class Module {
  public:
    Module() = default;
    virtual ~Module() = default;
    // Copies would share parameters with the original while looking independent: forbid them.
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;
    Module(Module&&) = default;
    Module& operator=(Module&&) = default;

    /// Registers `t` (made to require grad) under `name` (no dots, unique); returns it.
    ad::Tensor register_parameter(const std::string& name, ad::Tensor t);

    /// Registers a child module under `name` (no dots, unique); returns it.
    template <class M>
    std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
        add_child(name, m);
        return m;
    }

    /// Every parameter of the tree with its dotted path, own parameters first, then children's.
    NamedTensors named_parameters() const;
    std::vector<ad::Tensor> parameters() const;
    /// Same as named_parameters(): the tensors themselves (sharing storage), in order.
    NamedTensors state_dict() const;
    /// Copies values into the parameters in place. Strict: every key must be present once, no
    /// extra keys, same shapes; nothing is copied unless everything matches.
    void load_state_dict(const NamedTensors& state);
    /// Drops the accumulated gradient of every parameter.
    void zero_grad();
    /// Total number of scalar parameters.
    long n_parameters() const;
    /// The direct children with their names, in registration order.
    const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

  private:
    void add_child(const std::string& name, std::shared_ptr<Module> m);
    void check_new_name(const std::string& name, const char* what) const;
    void collect(const std::string& prefix, NamedTensors& out) const;

    NamedTensors params_;
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

/// A list of child modules named "0", "1", ... (so a parent registering it as "layers" gets
/// parameter paths "layers.0.weight", as torch.nn.ModuleList).
class ModuleList : public Module {
  public:
    template <class M>
    std::shared_ptr<M> push_back(std::shared_ptr<M> m) {
        return register_module(std::to_string(size_++), std::move(m));
    }
    long size() const { return size_; }

  private:
    long size_ = 0;
};

}  // namespace nn
