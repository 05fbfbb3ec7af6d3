#include "cli/model_io.hpp"

#include <algorithm>

#include "autodiff/error.hpp"

namespace cli {

nn::TabularModel load_tabular_model(const nn::Checkpoint& ckpt, const ForeignModelHints& hints) {
    if (ckpt.metadata.count("hypers")) {
        nn::TabularModel m = nn::TabularModel::from_checkpoint(ckpt);
        m.fold_scalers();
        return m;
    }
    // A foreign MLP: layers.0, layers.1, ... with weight [out, in] and bias [out].
    nn::TabularSpec spec;
    spec.task = nn::parse_task(hints.task);
    long n_layers = 0;
    while (ckpt.has("layers." + std::to_string(n_layers) + ".weight")) ++n_layers;
    AD_CHECK(n_layers > 0, ckpt.path << ": expected an MLP with tensors 'layers.0.weight', 'layers.1.weight', ...; "
                                        "found none");
    std::vector<long> sizes;
    for (long i = 0; i < n_layers; ++i) {
        const ad::Tensor& W = ckpt.get("layers." + std::to_string(i) + ".weight");
        AD_CHECK(W.ndim() == 2, ckpt.path << ": expected 'layers." << i << ".weight' [out, in], got " << W.shape());
        if (i == 0) sizes.push_back(W.dim(1));
        AD_CHECK(W.dim(1) == sizes.back(), ckpt.path << ": 'layers." << i << ".weight' " << W.shape()
                                                     << " does not take the previous layer's " << sizes.back()
                                                     << " outputs");
        sizes.push_back(W.dim(0));
    }
    spec.hidden.assign(sizes.begin() + 1, sizes.end() - 1);
    spec.bias = ckpt.has("layers.0.bias");
    auto act = ckpt.metadata.find("activation");
    spec.activation = nn::parse_activation(act != ckpt.metadata.end() ? act->second : "tanh");
    spec.targets = hints.targets;
    spec.features = hints.features;
    if (spec.features.empty())
        for (const auto& c : hints.columns)
            if (std::find(hints.targets.begin(), hints.targets.end(), c) == hints.targets.end()) spec.features.push_back(c);
    AD_CHECK(static_cast<long>(spec.features.size()) == sizes.front(),
             ckpt.path << ": the model takes " << sizes.front() << " inputs but the data give " << spec.features.size()
                       << " feature columns; list them in training_set.features");
    if (spec.task == nn::Task::classification) {
        spec.n_classes = sizes.back();
    } else {
        AD_CHECK(static_cast<long>(spec.targets.size()) == sizes.back(),
                 ckpt.path << ": the model has " << sizes.back() << " outputs but " << spec.targets.size()
                           << " target columns are named");
    }
    ad::Rng rng(0);
    nn::TabularModel m(spec, rng);
    nn::NamedTensors state;
    for (const auto& [name, t] : ckpt.tensors)
        if (name.rfind("layers.", 0) == 0) state.push_back({name, t});
    try {
        m.mlp().load_state_dict(state);
    } catch (const ad::Error& e) {
        AD_FAIL(ckpt.path << ": " << e.what());
    }
    return m;
}

}  // namespace cli
