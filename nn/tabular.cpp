#include "nn/tabular.hpp"

#include <cmath>
#include <sstream>
#include <toml++/toml.h>

#include "autodiff/ops.hpp"

namespace nn {

Task parse_task(const std::string& name) {
    if (name == "regression") return Task::regression;
    if (name == "classification") return Task::classification;
    AD_FAIL("task: expected 'regression' or 'classification', got '" << name << "'");
}

std::string to_string(Task task) { return task == Task::regression ? "regression" : "classification"; }

namespace {
std::string quoted_list(const std::vector<std::string>& xs) {
    std::ostringstream os;
    os << '[';
    for (size_t k = 0; k < xs.size(); ++k) os << (k ? ", " : "") << toml::value<std::string>(xs[k]);
    os << ']';
    return os.str();
}
}  // namespace

std::string TabularSpec::to_toml() const {
    std::ostringstream os;
    os << "task = \"" << to_string(task) << "\"\n";
    os << "features = " << quoted_list(features) << "\n";
    os << "targets = " << quoted_list(targets) << "\n";
    os << "n_classes = " << n_classes << "\n";
    os << "hidden = [";
    for (size_t k = 0; k < hidden.size(); ++k) os << (k ? ", " : "") << hidden[k];
    os << "]\n";
    os << "activation = \"" << to_string(activation) << "\"\n";
    os << "bias = " << (bias ? "true" : "false") << "\n";
    return os.str();
}

TabularSpec TabularSpec::from_toml(const std::string& text, const std::string& where) {
    toml::table t;
    try {
        t = toml::parse(text);
    } catch (const toml::parse_error& e) {
        AD_FAIL(where << ": metadata 'hypers' is not valid TOML: " << e.description());
    }
    TabularSpec s;
    auto need = [&](const char* key) -> toml::node& {
        toml::node* n = t.get(key);
        AD_CHECK(n != nullptr, where << ": metadata 'hypers' has no '" << key << "'");
        return *n;
    };
    auto strings = [&](const char* key) {
        std::vector<std::string> out;
        toml::array* a = need(key).as_array();
        AD_CHECK(a != nullptr, where << ": metadata 'hypers." << key << "' expected a list of strings");
        for (auto& e : *a) {
            AD_CHECK(e.is_string(), where << ": metadata 'hypers." << key << "' expected a list of strings");
            out.push_back(e.as_string()->get());
        }
        return out;
    };
    s.task = parse_task(need("task").value_or(std::string()));
    s.features = strings("features");
    s.targets = strings("targets");
    s.n_classes = need("n_classes").value_or(0L);
    s.hidden.clear();
    toml::array* h = need("hidden").as_array();
    AD_CHECK(h != nullptr, where << ": metadata 'hypers.hidden' expected a list of integers");
    for (auto& e : *h) s.hidden.push_back(e.value_or(0L));
    s.activation = parse_activation(need("activation").value_or(std::string()));
    s.bias = need("bias").value_or(true);
    return s;
}

TabularModel::TabularModel(TabularSpec spec, ad::Rng& rng) : spec_(std::move(spec)) {
    AD_CHECK(!spec_.features.empty(), "model: expected at least one input feature, got none");
    AD_CHECK(spec_.n_outputs() > 0, "model: expected at least one output, got none");
    mlp_ = std::make_shared<MLP>(static_cast<long>(spec_.features.size()), spec_.hidden, spec_.n_outputs(),
                                 spec_.activation, rng, spec_.bias);
}

namespace {
// Column means and standard deviations of x [n, d] (population std; 1 for constant columns,
// so that a feature that never varies in training is passed through instead of divided by 0).
std::pair<ad::Tensor, ad::Tensor> column_stats(const ad::Tensor& x) {
    const long n = x.dim(0), d = x.dim(1);
    ad::Tensor mean = ad::Tensor::zeros({d}), sd = ad::Tensor::zeros({d});
    for (long r = 0; r < n; ++r)
        for (long j = 0; j < d; ++j) mean.data()[j] += x.data()[r * d + j];
    for (long j = 0; j < d; ++j) mean.data()[j] /= static_cast<double>(n);
    for (long r = 0; r < n; ++r)
        for (long j = 0; j < d; ++j) {
            double u = x.data()[r * d + j] - mean.data()[j];
            sd.data()[j] += u * u;
        }
    for (long j = 0; j < d; ++j) {
        double s = std::sqrt(sd.data()[j] / static_cast<double>(n));
        sd.data()[j] = s > 1e-12 * (1.0 + std::fabs(mean.data()[j])) ? s : 1.0;
    }
    return {mean, sd};
}
}  // namespace

void TabularModel::fit_input_scaler(const ad::Tensor& x) {
    std::tie(input_mean_, input_std_) = column_stats(x);
}

void TabularModel::fit_target_scaler(const ad::Tensor& y) {
    AD_CHECK(spec_.task == Task::regression, "model: target scaling applies to regression only");
    std::tie(target_mean_, target_std_) = column_stats(y);
}

ad::Tensor TabularModel::normalize_inputs(const ad::Tensor& x) const {
    AD_CHECK(x.ndim() == 2 && x.dim(1) == static_cast<long>(spec_.features.size()),
             "model: expected inputs [n, " << spec_.features.size() << "], got " << x.shape());
    if (!input_mean_.defined()) return x;
    return ad::div(ad::sub(x, input_mean_), input_std_);
}

ad::Tensor TabularModel::forward_normalized(const ad::Tensor& x) const { return mlp_->forward(normalize_inputs(x)); }

ad::Tensor TabularModel::forward(const ad::Tensor& x) const {
    ad::Tensor y = forward_normalized(x);
    if (!target_mean_.defined()) return y;
    return ad::add(ad::mul(y, target_std_), target_mean_);
}

std::vector<double> TabularModel::target_scale() const {
    if (target_std_.defined()) return target_std_.to_vector();
    return std::vector<double>(static_cast<size_t>(spec_.n_outputs()), 1.0);
}

ad::Tensor TabularModel::normalize_targets(const ad::Tensor& y) const {
    if (!target_mean_.defined()) return y;
    return ad::div(ad::sub(y, target_mean_), target_std_);
}

ad::Tensor TabularModel::features(const ad::Tensor& x) const { return mlp_->features(normalize_inputs(x)); }

// First layer: W (x - mu)/s + b = (W / s) x + (b - (W / s) mu).
// Last layer:  s_y (W h + b) + mu_y = (s_y W) h + (s_y b + mu_y).
void TabularModel::fold_scalers() {
    const auto& layers = mlp_->layers();
    if (input_mean_.defined()) {
        const Linear& first = *layers.front();
        ad::Tensor W = first.weight();
        const long o = W.dim(0), d = W.dim(1);
        AD_CHECK(first.has_bias() || [&] {
            for (long j = 0; j < d; ++j)
                if (input_mean_.data()[j] != 0) return false;
            return true;
        }(), "model: cannot fold a non-zero input mean into a first layer without bias");
        for (long r = 0; r < o; ++r) {
            double shift = 0;
            for (long j = 0; j < d; ++j) {
                W.data()[r * d + j] /= input_std_.data()[j];
                shift += W.data()[r * d + j] * input_mean_.data()[j];
            }
            if (first.has_bias()) first.bias().data()[r] -= shift;
        }
        input_mean_ = input_std_ = ad::Tensor();
    }
    if (target_mean_.defined()) {
        const Linear& last = *layers.back();
        ad::Tensor W = last.weight();
        const long o = W.dim(0), d = W.dim(1);
        AD_CHECK(last.has_bias(), "model: cannot fold target scaling into a last layer without bias");
        for (long r = 0; r < o; ++r) {
            for (long j = 0; j < d; ++j) W.data()[r * d + j] *= target_std_.data()[r];
            last.bias().data()[r] = last.bias().data()[r] * target_std_.data()[r] + target_mean_.data()[r];
        }
        target_mean_ = target_std_ = ad::Tensor();
    }
}

// First layer: W x + b = (W s) (x - mu)/s + (b + W mu).
bool TabularModel::unfold_input_scaler(const ad::Tensor& x) {
    const Linear& first = *mlp_->layers().front();
    if (input_mean_.defined() || !first.has_bias()) return false;
    auto [mean, sd] = column_stats(x);
    ad::Tensor W = first.weight();
    const long o = W.dim(0), d = W.dim(1);
    for (long r = 0; r < o; ++r) {
        double shift = 0;
        for (long j = 0; j < d; ++j) {
            shift += W.data()[r * d + j] * mean.data()[j];
            W.data()[r * d + j] *= sd.data()[j];
        }
        first.bias().data()[r] += shift;
    }
    input_mean_ = mean;
    input_std_ = sd;
    return true;
}

// Last layer: W h + b = s_y ((W / s_y) h + (b - mu_y) / s_y) + mu_y.
bool TabularModel::unfold_target_scaler(const ad::Tensor& y) {
    AD_CHECK(spec_.task == Task::regression, "model: target scaling applies to regression only");
    const Linear& last = *mlp_->layers().back();
    if (target_mean_.defined() || !last.has_bias()) return false;
    auto [mean, sd] = column_stats(y);
    ad::Tensor W = last.weight();
    const long o = W.dim(0), d = W.dim(1);
    for (long r = 0; r < o; ++r) {
        for (long j = 0; j < d; ++j) W.data()[r * d + j] /= sd.data()[r];
        last.bias().data()[r] = (last.bias().data()[r] - mean.data()[r]) / sd.data()[r];
    }
    target_mean_ = mean;
    target_std_ = sd;
    return true;
}

Checkpoint TabularModel::to_checkpoint() const {
    Checkpoint c;
    c.tensors = mlp_->state_dict();
    if (input_mean_.defined()) {
        c.tensors.push_back({"scaler.input_mean", input_mean_});
        c.tensors.push_back({"scaler.input_std", input_std_});
    }
    if (target_mean_.defined()) {
        c.tensors.push_back({"scaler.target_mean", target_mean_});
        c.tensors.push_back({"scaler.target_std", target_std_});
    }
    c.metadata["format_version"] = std::to_string(kCheckpointFormatVersion);
    c.metadata["architecture"] = "mlp";
    c.metadata["hypers"] = spec_.to_toml();
    return c;
}

TabularModel TabularModel::from_checkpoint(const Checkpoint& ckpt) {
    auto it = ckpt.metadata.find("hypers");
    AD_CHECK(it != ckpt.metadata.end(), ckpt.path << ": expected metadata 'hypers' describing the model, found none");
    auto arch = ckpt.metadata.find("architecture");
    AD_CHECK(arch == ckpt.metadata.end() || arch->second == "mlp",
             ckpt.path << ": expected an 'mlp' model, got architecture '" << arch->second << "'");
    auto ver = ckpt.metadata.find("format_version");
    if (ver != ckpt.metadata.end())
        AD_CHECK(std::atoi(ver->second.c_str()) <= kCheckpointFormatVersion,
                 ckpt.path << ": format_version " << ver->second << " is newer than this build reads ("
                           << kCheckpointFormatVersion << "); update atomgrad");
    TabularSpec spec = TabularSpec::from_toml(it->second, ckpt.path);
    ad::Rng rng(0);
    TabularModel m(spec, rng);
    // Accept both a bare model and a training checkpoint whose model lives under "model.".
    bool prefixed = !ckpt.has("layers.0.weight") && ckpt.has("model.layers.0.weight");
    NamedTensors all = prefixed ? ckpt.section("model.") : ckpt.tensors;
    NamedTensors layers;
    for (auto& [name, t] : all) {
        if (name.rfind("scaler.", 0) == 0) {
            if (name == "scaler.input_mean") m.input_mean_ = t.clone();
            else if (name == "scaler.input_std") m.input_std_ = t.clone();
            else if (name == "scaler.target_mean") m.target_mean_ = t.clone();
            else if (name == "scaler.target_std") m.target_std_ = t.clone();
            else AD_FAIL(ckpt.path << ": unknown tensor '" << name << "'");
        } else if (name.rfind("layers.", 0) == 0) {
            layers.push_back({name, t});
        }
    }
    try {
        m.mlp_->load_state_dict(layers);
    } catch (const ad::Error& e) {
        AD_FAIL(ckpt.path << ": " << e.what());
    }
    return m;
}

}  // namespace nn
