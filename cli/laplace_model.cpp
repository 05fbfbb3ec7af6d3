#include "cli/laplace_model.hpp"

#include <cstdlib>

#include "autodiff/ops.hpp"

namespace cli {

uq::LinkApprox parse_link_approx(const std::string& name) {
    if (name == "probit") return uq::LinkApprox::probit;
    if (name == "bridge") return uq::LinkApprox::bridge;
    if (name == "bridge_norm") return uq::LinkApprox::bridge_norm;
    if (name == "mc") return uq::LinkApprox::mc;
    AD_FAIL("link_approx: expected one of probit, bridge, bridge_norm, mc, got '" << name << "'");
}

std::string to_string(uq::LinkApprox link) {
    switch (link) {
        case uq::LinkApprox::probit: return "probit";
        case uq::LinkApprox::bridge: return "bridge";
        case uq::LinkApprox::bridge_norm: return "bridge_norm";
        case uq::LinkApprox::mc: return "mc";
    }
    return "?";
}

uq::PredType parse_pred_type(const std::string& name) {
    if (name == "glm") return uq::PredType::glm;
    if (name == "nn") return uq::PredType::nn;
    AD_FAIL("pred_type: expected one of glm, nn, got '" << name << "'");
}

std::string to_string(uq::PredType pred_type) { return pred_type == uq::PredType::glm ? "glm" : "nn"; }

LaplaceModel::LaplaceModel(nn::TabularModel model, uq::LastLayerLaplace la, uq::LinkApprox link, long n_samples,
                           uq::PredType pred_type)
    : model_(std::move(model)), la_(std::move(la)), link_(link), n_samples_(n_samples), pred_type_(pred_type) {
    check_model();
}

LaplaceModel::LaplaceModel(nn::TabularModel model, uq::MlpLaplace la, uq::LinkApprox link, long n_samples,
                           uq::PredType pred_type)
    : model_(std::move(model)), la_(std::move(la)), link_(link), n_samples_(n_samples), pred_type_(pred_type) {
    check_model();
}

void LaplaceModel::check_model() const {
    AD_CHECK(!model_.has_scalers(), "laplace: expected a model with its standardisation folded into the weights");
    AD_CHECK(n_samples_ >= (pred_type_ == uq::PredType::nn && laplace().likelihood() == uq::Likelihood::regression ? 2 : 1),
             "laplace: expected n_samples >= 2 for pred_type nn (a sample variance), got " << n_samples_);
    const auto* all = std::get_if<uq::MlpLaplace>(&la_);
    if (!all) return;
    // The all-weights posterior is centred at theta_MAP: it must be this model's parameters
    // (same layers, same values), else its variances describe another network.
    const uq::MlpParams& p = all->params();
    const nn::MLP& mlp = model_.mlp();
    bool same = p.weight.size() == mlp.layers().size() && p.activation == mlp.activation();
    for (size_t l = 0; same && l < p.weight.size(); ++l) {
        const nn::Linear& layer = *mlp.layers()[l];
        auto equal = [](const ad::Tensor& a, const ad::Tensor& b) {
            if (a.defined() != b.defined()) return false;
            if (!a.defined()) return true;
            if (a.shape() != b.shape()) return false;
            for (long i = 0; i < a.numel(); ++i)
                if (a[i] != b[i]) return false;
            return true;
        };
        same = equal(p.weight[l], layer.weight()) && equal(p.has_bias() ? p.bias[l] : ad::Tensor(), layer.bias());
    }
    AD_CHECK(same, "laplace: expected the all-weights posterior to be centred at the model's parameters, got "
                   "another network (layers, activation or values differ)");
}

const uq::Laplace& LaplaceModel::laplace() const {
    return std::visit([](const auto& la) -> const uq::Laplace& { return la; }, la_);
}

std::string LaplaceModel::subset_of_weights() const {
    return std::holds_alternative<uq::MlpLaplace>(la_) ? "all" : "last_layer";
}

// Last layer: J acts on the features phi(x); all weights: on x itself (the model has no scalers).
// nn draws with seed 0, so a wrapped model predicts the same numbers every time.
Prediction LaplaceModel::predict(const ad::Tensor& x) const {
    ad::NoGrad ng;
    const auto* all = std::get_if<uq::MlpLaplace>(&la_);
    const auto* ll = std::get_if<uq::LastLayerLaplace>(&la_);
    const ad::Tensor in = all ? x : model_.features(x);  // what the posterior's predictive takes
    Prediction p;
    if (pred_type_ == uq::PredType::nn) {
        uq::NnPredictive s = all ? all->nn_predictive(in, n_samples_, 0) : ll->nn_predictive(in, n_samples_, 0);
        p.mean = s.mean;
        p.f_var = s.variance;  // undefined for classification
        return p;
    }
    if (laplace().likelihood() == uq::Likelihood::regression) {
        uq::GlmPredictive g = all ? all->glm_predictive(in, uq::OutputCovariance::diagonal)
                                  : ll->glm_predictive(in, uq::OutputCovariance::diagonal);
        p.mean = g.f_mu;
        p.f_var = g.f_var;
    } else {
        p.mean = all ? all->predict_probs(in, link_, n_samples_, 0) : ll->predict_probs(in, link_, n_samples_, 0);
    }
    return p;
}

nn::Checkpoint LaplaceModel::to_checkpoint() const {
    nn::Checkpoint c = model_.to_checkpoint();
    nn::Checkpoint post = std::visit([](const auto& la) { return la.to_checkpoint(); }, la_);
    c.add("laplace.", post.tensors);
    for (const auto& [k, v] : post.metadata) c.metadata["laplace." + k] = v;
    c.metadata["laplace.link_approx"] = to_string(link_);
    c.metadata["laplace.n_samples"] = std::to_string(n_samples_);
    c.metadata["laplace.pred_type"] = to_string(pred_type_);
    return c;
}

bool LaplaceModel::holds_posterior(const nn::Checkpoint& ckpt) { return ckpt.metadata.count("laplace.format") > 0; }

LaplaceModel LaplaceModel::from_checkpoint(const nn::Checkpoint& ckpt, nn::TabularModel model) {
    nn::Checkpoint post;
    post.path = ckpt.path;
    post.tensors = ckpt.section("laplace.");
    const std::string prefix = "laplace.";
    for (const auto& [k, v] : ckpt.metadata)
        if (k.rfind(prefix, 0) == 0) post.metadata[k.substr(prefix.size())] = v;
    auto n = post.metadata.find("n_samples");
    const long n_samples = n != post.metadata.end() ? std::atol(n->second.c_str()) : 1000;
    const uq::LinkApprox link = parse_link_approx(post.meta("link_approx"));
    auto pt = post.metadata.find("pred_type");  // absent in checkpoints written before nn: glm
    const uq::PredType pred_type = pt != post.metadata.end() ? parse_pred_type(pt->second) : uq::PredType::glm;
    auto kind = post.metadata.find("kind");
    if (kind != post.metadata.end() && kind->second == "mlp")
        return LaplaceModel(std::move(model), uq::MlpLaplace::from_checkpoint(post), link, n_samples, pred_type);
    return LaplaceModel(std::move(model), uq::LastLayerLaplace::from_checkpoint(post), link, n_samples, pred_type);
}

}  // namespace cli
