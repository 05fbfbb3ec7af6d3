// All-weights Laplace of an MLP: GGN (Full / Diag / KFLR) from batched per-sample signals
// (formulas in mlp_laplace.hpp and docs/uq.md).
#include "uq/mlp_laplace.hpp"

#include <algorithm>
#include <sstream>

#include "autodiff/graph.hpp"
#include "autodiff/ops.hpp"
#include "uq/likelihood.hpp"

namespace uq {

using ad::Tensor;
using ad::operator<<;

namespace {

std::vector<ParamBlock> mlp_layout(const MlpParams& p) {
    AD_CHECK(!p.weight.empty(), "mlp_laplace: expected an MLP with at least one layer, got none");
    std::vector<ParamBlock> layout;
    for (size_t l = 0; l < p.weight.size(); ++l) {
        const std::string name = "layers." + std::to_string(l);
        AD_CHECK(p.weight[l].ndim() == 2 && (l == 0 || p.weight[l].dim(1) == p.weight[l - 1].dim(0)),
                 "mlp_laplace: expected " << name << ".weight [out, " << (l == 0 ? -1 : p.weight[l - 1].dim(0))
                                          << "], got " << p.weight[l].shape());
        layout.push_back({name + ".weight", p.weight[l].shape()});
        if (p.has_bias()) layout.push_back({name + ".bias", p.bias[l].shape()});
    }
    return layout;
}

// The network's inputs are x [n, n_in]; reducing an extra dimension is the last layer's business.
LaplaceOptions checked_options(LaplaceOptions o) {
    AD_CHECK(o.feature_reduction == FeatureReduction::none,
             "mlp_laplace: expected feature_reduction none, got " << to_string(o.feature_reduction)
                                                                  << "; it applies to the last-layer Laplace only");
    return o;
}

Tensor symmetrize(const Tensor& A) { return ad::mul(ad::add(A, ad::transpose(A)), 0.5); }

}  // namespace

MlpLaplace::MlpLaplace(const MlpParams& params, LaplaceOptions options)
    : Laplace(mlp_layout(params), mlp_theta(params), params.weight.back().dim(0), checked_options(std::move(options))),
      params_(params) {}

MlpLaplace::MlpLaplace(const nn::MLP& mlp, LaplaceOptions options) : MlpLaplace(mlp_params(mlp), std::move(options)) {}

Tensor MlpLaplace::f_mu(const Tensor& x) const { return mlp_forward(params_, x); }

Tensor MlpLaplace::jacobian(const Tensor& x) const { return mlp_jacobian(params_, x); }

// One mini-batch of m points, signals G_l [m, C, out_l], inputs a_l [m, in_l]:
//   full: H = J^T (Lambda J) with J [m C, P] (regression: Lambda = I, H = J^T J)
//   diag: H_p = sum_{n, c} J[n, c, p] (Lambda_n J_n)[c, p]
//   kron: B_l = G^T (Lambda G) over [m C, out_l];  A_l = a^T a / N (so the batches sum to 1/N sum_n).
Curvature MlpLaplace::batch_curvature(const Tensor& x, const Tensor& y, long N, double& loss) const {
    ad::NoGrad ng;
    MlpSignals s = mlp_signals(params_, x);
    const long m = x.dim(0), C = n_outputs(), P = n_params();
    const bool cls = likelihood() == Likelihood::classification;
    OutputHessian oh = output_hessian(likelihood(), s.f, y);
    loss = oh.loss;
    Curvature H;
    switch (structure()) {
        case HessianStructure::full:
        case HessianStructure::diag: {
            Tensor J = mlp_jacobian(s, params_.has_bias());  // [m, C, P]
            Tensor LJ = cls ? ad::matmul(oh.Lambda, J) : J;  // Lambda_n J_n
            if (structure() == HessianStructure::full)
                H.full = symmetrize(ad::matmul_tn(ad::reshape(J, {m * C, P}), ad::reshape(LJ, {m * C, P})));
            else
                H.diag = ad::sum(ad::mul(J, LJ), {0, 1});
            break;
        }
        case HessianStructure::kron:
            for (size_t l = 0; l < s.G.size(); ++l) {
                const long out = s.G[l].dim(2);
                Tensor LG = cls ? ad::matmul(oh.Lambda, s.G[l]) : s.G[l];
                Tensor B = symmetrize(ad::matmul_tn(ad::reshape(s.G[l], {m * C, out}), ad::reshape(LG, {m * C, out})));
                Tensor A = ad::mul(ad::matmul_tn(s.input[l], s.input[l]), 1.0 / double(N));
                H.kron.push_back({B, A});
                if (params_.has_bias()) H.kron.push_back({B.clone()});
            }
            break;
    }
    return H;
}

void MlpLaplace::fit(const Tensor& x, const Tensor& targets, const FitOptions& options) {
    const long n_in = params_.weight[0].dim(1);
    AD_CHECK(x.defined() && x.ndim() == 2 && x.dim(1) == n_in && x.dim(0) > 0,
             "mlp_laplace: fit: expected inputs x [n, " << n_in << "] with n > 0, got "
                                                        << (x.defined() ? x.shape() : ad::Shape{}));
    AD_CHECK(options.batch_size >= 0, "mlp_laplace: fit: expected batch_size >= 0, got " << options.batch_size);
    const long n = x.dim(0);
    Tensor y = check_targets(likelihood(), targets, n, n_outputs(), "mlp_laplace: fit");
    Tensor xd = x.detach();
    if (options.reset) reset_fit();
    const long bs = options.batch_size > 0 ? options.batch_size : n;
    for (long s = 0; s < n; s += bs) {
        const long e = std::min(n, s + bs);
        double loss = 0;
        Curvature H = batch_curvature(ad::slice(xd, 0, s, e), ad::slice(y, 0, s, e), n, loss);
        add_curvature(H, loss, e - s);
    }
}

GlmPredictive glm_from_jacobian(const Laplace& la, const Tensor& f_mu, const Tensor& J, OutputCovariance cov) {
    ad::NoGrad ng;
    const long n = J.dim(0), C = J.dim(1);
    GlmPredictive out;
    out.f_mu = f_mu;
    if (cov == OutputCovariance::joint) {
        out.f_mu = ad::reshape(f_mu, {n * C});
        out.f_var = la.functional_covariance(ad::reshape(J, {n * C, J.dim(2)}));
        return out;
    }
    out.f_var = la.functional_variance(J);
    if (cov == OutputCovariance::diagonal) out.f_var = output_diagonal(out.f_var);
    return out;
}

GlmPredictive MlpLaplace::glm_predictive(const Tensor& x, OutputCovariance cov) const {
    require_fit("glm_predictive");
    MlpSignals s = mlp_signals(params_, x);
    return glm_from_jacobian(*this, s.f, mlp_jacobian(s, params_.has_bias()), cov);
}

GridsearchResult MlpLaplace::optimize_prior_precision_gridsearch(const Tensor& x_val, const Tensor& y_val,
                                                                 const GridsearchOptions& options) {
    return gridsearch_prior_precision(*this, [&] { return glm_predictive(x_val); }, y_val, options);
}

Tensor MlpLaplace::predict_probs(const Tensor& x, LinkApprox link, long n_samples, uint64_t seed) const {
    AD_CHECK(likelihood() == Likelihood::classification,
             "mlp_laplace: predict_probs: expected a classification Laplace, got regression; use glm_predictive");
    GlmPredictive g = glm_predictive(x);
    return link == LinkApprox::mc ? mc_probs(g.f_mu, g.f_var, n_samples, seed) : link_probs(link, g.f_mu, g.f_var);
}

// One forward pass per sample: f_s = f(x; theta_s) with theta_s a row of sample(S, seed).
NnPredictive MlpLaplace::nn_predictive(const Tensor& x, long n_samples, uint64_t seed) const {
    require_fit("nn_predictive");
    AD_CHECK(n_samples > 0, "mlp_laplace: nn_predictive: expected n_samples > 0, got " << n_samples);
    ad::NoGrad ng;
    Tensor f = f_mu(x);  // checks x
    const long n = f.dim(0), C = n_outputs(), P = n_params();
    Tensor theta = sample(n_samples, seed);
    NnMoments acc(likelihood(), f);
    for (long s = 0; s < n_samples; ++s) {
        MlpParams p = mlp_params_from_theta(params_, ad::reshape(ad::slice(theta, 0, s, s + 1), {P}));
        acc.add(ad::reshape(mlp_forward(p, x), {1, n, C}));
    }
    return acc.result();
}

nn::Checkpoint MlpLaplace::to_checkpoint() const {
    nn::Checkpoint c = Laplace::to_checkpoint();
    c.metadata["kind"] = "mlp";
    std::ostringstream sizes;
    sizes << params_.weight[0].dim(1);
    for (const auto& W : params_.weight) sizes << ',' << W.dim(0);
    c.metadata["layer_sizes"] = sizes.str();
    c.metadata["activation"] = nn::to_string(params_.activation);
    c.metadata["bias"] = params_.has_bias() ? "true" : "false";
    return c;
}

MlpLaplace MlpLaplace::from_checkpoint(const nn::Checkpoint& c) {
    const std::string& path = c.path;
    AD_CHECK(c.metadata.count("kind") && c.meta("kind") == "mlp",
             path << ": expected an all-weights MLP Laplace checkpoint (metadata kind = mlp), got kind '"
                  << (c.metadata.count("kind") ? c.meta("kind") : std::string()) << "'");
    // layer_sizes "n_0,n_1,...,n_L+1": Linear l maps n_l -> n_l+1
    std::vector<long> sizes;
    {
        std::istringstream is(c.meta("layer_sizes"));
        std::string tok;
        while (std::getline(is, tok, ',')) {
            char* end = nullptr;
            const long v = std::strtol(tok.c_str(), &end, 10);
            AD_CHECK(!tok.empty() && *end == '\0' && v > 0,
                     path << ": expected metadata layer_sizes as positive integers 'n_in,...,n_out', got '"
                          << c.meta("layer_sizes") << "'");
            sizes.push_back(v);
        }
    }
    AD_CHECK(sizes.size() >= 2, path << ": expected metadata layer_sizes with at least 2 sizes, got '"
                                     << c.meta("layer_sizes") << "'");
    const std::string& bias = c.meta("bias");
    AD_CHECK(bias == "true" || bias == "false", path << ": expected metadata bias 'true' or 'false', got '" << bias << "'");
    MlpParams like;
    like.activation = nn::parse_activation(c.meta("activation"));
    for (size_t l = 0; l + 1 < sizes.size(); ++l) {
        like.weight.push_back(Tensor::zeros({sizes[l + 1], sizes[l]}));
        like.bias.push_back(bias == "true" ? Tensor::zeros({sizes[l + 1]}) : Tensor());
    }
    const Tensor& mean = c.get("mean");
    AD_CHECK(mean.ndim() == 1 && mean.numel() == like.n_params(),
             path << ": expected mean [" << like.n_params() << "] for layer_sizes " << c.meta("layer_sizes") << ", got "
                  << mean.shape());
    LaplaceOptions o;
    o.likelihood = parse_likelihood(c.meta("likelihood"));
    o.structure = parse_hessian_structure(c.meta("structure"));
    o.sigma_noise = c.get("scalars")[0];
    MlpLaplace la(mlp_params_from_theta(like, mean), o);
    la.restore(c);
    return la;
}

}  // namespace uq
