// Registry of atomistic architectures: a model from (name, hypers TOML, species, rng), and a model
// from a checkpoint by its "architecture" metadata. An architecture registers itself with one line
// in nn/architectures.cpp (register_builtin_architectures); tests may register more at run time.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "autodiff/random.hpp"
#include "nn/atomistic/model.hpp"

namespace nn::atomistic {

/// Builds a model from its hypers (TOML text, "" = defaults; errors name `where`) and species.
using ModelFactory = std::function<std::shared_ptr<AtomisticModel>(const std::string& hypers_toml,
                                                                   const std::vector<int>& species, ad::Rng& rng,
                                                                   const std::string& where)>;

struct Architecture {
    std::string name;        ///< "soap_bpnn"
    int format_version = 1;  ///< checkpoint layout the factory reads
    ModelFactory make;
};

/// Adds (or replaces) an architecture.
void register_architecture(Architecture architecture);
/// The built-in architectures (defined in nn/architectures.cpp; called once by the registry).
void register_builtin_architectures();
/// The registered names, sorted.
std::vector<std::string> architecture_names();
/// The architecture of that name; unknown names are an error naming `where` and listing the known ones.
const Architecture& find_architecture(const std::string& name, const std::string& where = "architecture.name");
/// Removes an architecture (tests that registered one); unknown names are ignored.
void unregister_architecture(const std::string& name);

/// A fresh model (weights drawn from `rng`).
std::shared_ptr<AtomisticModel> make_model(const std::string& architecture, const std::string& hypers_toml,
                                           const std::vector<int>& species, ad::Rng& rng,
                                           const std::string& where = "hypers");
/// The model of a checkpoint written by AtomisticModel::to_checkpoint (by its "architecture"),
/// with its stored composition weights and energy scale when the pointers are given.
std::shared_ptr<AtomisticModel> load_model(const Checkpoint& ckpt, std::map<int, double>* composition_weights = nullptr,
                                           double* energy_scale = nullptr);

}  // namespace nn::atomistic
