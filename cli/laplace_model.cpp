#include "cli/laplace_model.hpp"

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

LaplaceModel::LaplaceModel(nn::TabularModel model, uq::LastLayerLaplace la, uq::LinkApprox link, long n_samples)
    : model_(std::move(model)), la_(std::move(la)), link_(link), n_samples_(n_samples) {
    AD_CHECK(!model_.has_scalers(), "laplace: expected a model with its standardisation folded into the weights");
}

Prediction LaplaceModel::predict(const ad::Tensor& x) const {
    ad::NoGrad ng;
    ad::Tensor phi = model_.features(x);
    Prediction p;
    if (la_.likelihood() == uq::Likelihood::regression) {
        uq::GlmPredictive g = la_.glm_predictive(phi, uq::OutputCovariance::diagonal);
        p.mean = g.f_mu;
        p.f_var = g.f_var;
    } else {
        p.mean = la_.predict_probs(phi, link_, n_samples_, 0);
    }
    return p;
}

nn::Checkpoint LaplaceModel::to_checkpoint() const {
    nn::Checkpoint c = model_.to_checkpoint();
    nn::Checkpoint post = la_.to_checkpoint();
    c.add("laplace.", post.tensors);
    for (const auto& [k, v] : post.metadata) c.metadata["laplace." + k] = v;
    c.metadata["laplace.link_approx"] = to_string(link_);
    c.metadata["laplace.n_samples"] = std::to_string(n_samples_);
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
    uq::LastLayerLaplace la = uq::LastLayerLaplace::from_checkpoint(post);
    auto n = post.metadata.find("n_samples");
    return LaplaceModel(std::move(model), std::move(la), parse_link_approx(post.meta("link_approx")),
                        n != post.metadata.end() ? std::atol(n->second.c_str()) : 1000);
}

}  // namespace cli
