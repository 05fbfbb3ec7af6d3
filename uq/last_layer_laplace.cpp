// Last-layer Laplace: GGN of the last Linear from features, GLM predictive, grid search
// (formulas in last_layer_laplace.hpp and docs/uq.md).
#include "uq/last_layer_laplace.hpp"

#include <functional>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "autodiff/graph.hpp"
#include "autodiff/ops.hpp"
#include "nn/checkpoint.hpp"

namespace uq {

using ad::Tensor;
using ad::operator<<;

namespace {

std::vector<ParamBlock> last_layer_layout(const Tensor& W, const Tensor& b) {
    AD_CHECK(W.defined() && W.ndim() == 2, "last_layer_laplace: expected W [C, D], got "
                                               << (W.defined() ? W.shape() : ad::Shape{}));
    std::vector<ParamBlock> layout{{"weight", W.shape()}};
    if (b.defined()) {
        AD_CHECK(b.shape() == ad::Shape({W.dim(0)}),
                 "last_layer_laplace: expected b [" << W.dim(0) << "] for W " << W.shape() << ", got " << b.shape());
        layout.push_back({"bias", b.shape()});
    }
    return layout;
}

Tensor theta_of(const Tensor& W, const Tensor& b) {
    ad::NoGrad ng;
    Tensor w = ad::reshape(W.detach(), {W.numel()});
    return b.defined() ? ad::concat({w, b.detach()}, 0) : w.clone();
}

}  // namespace

LastLayerLaplace::LastLayerLaplace(const Tensor& W, const Tensor& b, LaplaceOptions options)
    : Laplace(last_layer_layout(W, b), theta_of(W, b), W.dim(0), options),
      n_features_(W.dim(1)),
      has_bias_(b.defined()),
      feature_reduction_(options.feature_reduction) {}

LastLayerLaplace LastLayerLaplace::from_mlp(const nn::MLP& mlp, LaplaceOptions options) {
    const nn::Linear& last = mlp.last_layer();
    return LastLayerLaplace(last.weight(), last.has_bias() ? last.bias() : Tensor(), std::move(options));
}

// [n, T, D] -> [n, D]: pick_first phi[:, 0, :], pick_last phi[:, T - 1, :], average the mean over t
// (laplace-torch's FeatureExtractor; [n, D] passes through, as there nothing has an extra dimension).
Tensor LastLayerLaplace::check_features(const Tensor& phi, const char* where) const {
    AD_CHECK(phi.defined(), "last_layer_laplace: " << where << ": expected features phi [n, " << n_features_
                                                   << "], got an undefined tensor");
    if (phi.ndim() == 3) {
        AD_CHECK(feature_reduction_ != FeatureReduction::none,
                 "last_layer_laplace: " << where << ": expected features phi [n, " << n_features_ << "], got "
                                        << phi.shape()
                                        << "; set LaplaceOptions::feature_reduction (pick_first, pick_last or "
                                           "average) for features with an extra dimension");
        AD_CHECK(phi.dim(1) > 0 && phi.dim(2) == n_features_,
                 "last_layer_laplace: " << where << ": expected features phi [n, T, " << n_features_
                                        << "] with T > 0, got " << phi.shape());
        ad::NoGrad ng;
        const long n = phi.dim(0), T = phi.dim(1);
        Tensor p = phi.detach();
        switch (feature_reduction_) {
            case FeatureReduction::pick_first: return ad::reshape(ad::slice(p, 1, 0, 1), {n, n_features_});
            case FeatureReduction::pick_last: return ad::reshape(ad::slice(p, 1, T - 1, T), {n, n_features_});
            case FeatureReduction::average: return ad::mean(p, {1});
            case FeatureReduction::none: break;
        }
    }
    const std::string D = std::to_string(n_features_);
    AD_CHECK(phi.ndim() == 2 && phi.dim(1) == n_features_,
             "last_layer_laplace: " << where << ": expected features phi [n, " << D << "]"
                                    << (feature_reduction_ != FeatureReduction::none ? " or [n, T, " + D + "]" : "")
                                    << ", got " << phi.shape());
    return phi.detach();
}

Tensor LastLayerLaplace::f_mu(const Tensor& phi_in) const {
    Tensor phi = check_features(phi_in, "f_mu");
    ad::NoGrad ng;
    const long C = n_outputs(), D = n_features_;
    Tensor W = ad::reshape(ad::slice(mean(), 0, 0, C * D), {C, D});
    Tensor b = has_bias_ ? ad::slice(mean(), 0, C * D, C * D + C) : Tensor();
    return ad::linear(phi, W, b);
}

// J[n, c, c D + i] = phi[n, i];  J[n, c, C D + c] = 1 (bias).
Tensor LastLayerLaplace::jacobian(const Tensor& phi_in) const {
    Tensor phi = check_features(phi_in, "jacobian");
    const long n = phi.dim(0), C = n_outputs(), D = n_features_, P = n_params();
    Tensor J = Tensor::zeros({n, C, P});
    double* j = J.data();
    for (long i = 0; i < n; ++i)
        for (long c = 0; c < C; ++c) {
            double* row = j + (i * C + c) * P;
            for (long d = 0; d < D; ++d) row[c * D + d] = phi[i * D + d];
            if (has_bias_) row[C * D + c] = 1.0;
        }
    return J;
}

// One mini-batch of m points. Lambda_n = I (regression) or diag(p) - p p^T (classification).
//   Full: with phi~ = [phi, 1], block (c, c') = sum_n Lambda_n[c, c'] phi~_n phi~_n^T, placed at
//         theta indices (c D + i | C D + c) x (c' D + j | C D + c'); only c <= c' is computed and
//         mirrored, so H is exactly symmetric.
//   Diag: H[c D + i] = sum_n Lambda_n[c, c] phi_ni^2,  H[C D + c] = sum_n Lambda_n[c, c].
//   Kron: B = sum_n Lambda_n;  A = (M_b / N) (1/M_b) sum_n phi_n phi_n^T = (1/N) sum_n phi_n phi_n^T.
Curvature LastLayerLaplace::batch_curvature(const Tensor& phi, const Tensor& f, const Tensor& y, long N,
                                            double& loss) const {
    ad::NoGrad ng;
    const long m = phi.dim(0), C = n_outputs(), D = n_features_, P = n_params();
    const bool cls = likelihood() == Likelihood::classification;
    // Lambda [m, C, C] and the loss.
    Tensor Lam = Tensor::zeros({m, C, C});
    loss = 0;
    for (long i = 0; i < m; ++i) {
        double* L = Lam.data() + i * C * C;
        const double* fi = f.data() + i * C;
        if (!cls) {
            for (long c = 0; c < C; ++c) {
                L[c * C + c] = 1.0;
                const double r = fi[c] - y[i * C + c];
                loss += 0.5 * r * r;
            }
            continue;
        }
        double mx = fi[0];
        for (long c = 1; c < C; ++c) mx = std::max(mx, fi[c]);
        double s = 0;
        for (long c = 0; c < C; ++c) s += std::exp(fi[c] - mx);
        const double lse = mx + std::log(s);
        const long label = static_cast<long>(y[i]);
        loss += lse - fi[label];
        for (long c = 0; c < C; ++c) {
            const double pc = std::exp(fi[c] - lse);
            for (long k = 0; k < C; ++k) {
                const double pk = std::exp(fi[k] - lse);
                L[c * C + k] = (c == k ? pc : 0.0) - pc * pk;
            }
        }
    }

    Curvature H;
    switch (structure()) {
        case HessianStructure::full: {
            const long Dt = D + (has_bias_ ? 1 : 0);
            Tensor phit = has_bias_ ? ad::concat({phi, Tensor::ones({m, 1})}, 1) : phi;  // [m, Dt]
            auto idx = [&](long c, long i) { return i < D ? c * D + i : C * D + c; };
            H.full = Tensor::zeros({P, P});
            double* h = H.full.data();
            Tensor w = Tensor::empty({m, 1});
            for (long c = 0; c < C; ++c)
                for (long c2 = c; c2 < C; ++c2) {
                    if (!cls && c2 != c) continue;  // Lambda = I: off-diagonal blocks vanish
                    for (long i = 0; i < m; ++i) w.data()[i] = Lam[(i * C + c) * C + c2];
                    Tensor M = ad::matmul_tn(phit, ad::mul(phit, w));  // [Dt, Dt]
                    for (long i = 0; i < Dt; ++i)
                        for (long j = 0; j < Dt; ++j) {
                            const double v = M[i * Dt + j];
                            h[idx(c, i) * P + idx(c2, j)] = v;
                            h[idx(c2, j) * P + idx(c, i)] = v;
                        }
                }
            break;
        }
        case HessianStructure::diag: {
            H.diag = Tensor::zeros({P});
            double* h = H.diag.data();
            for (long i = 0; i < m; ++i)
                for (long c = 0; c < C; ++c) {
                    const double l = Lam[(i * C + c) * C + c];
                    for (long d = 0; d < D; ++d) h[c * D + d] += l * phi[i * D + d] * phi[i * D + d];
                    if (has_bias_) h[C * D + c] += l;
                }
            break;
        }
        case HessianStructure::kron: {
            Tensor B = ad::sum(Lam, {0});                                   // [C, C]
            Tensor A = ad::mul(ad::matmul_tn(phi, phi), 1.0 / double(N));  // [D, D]
            H.kron.push_back({B, A});
            if (has_bias_) H.kron.push_back({B.clone()});
            break;
        }
    }
    return H;
}

void LastLayerLaplace::fit(const Tensor& phi_in, const Tensor& f_in, const Tensor& targets, const FitOptions& options) {
    Tensor phi = check_features(phi_in, "fit");
    const long n = phi.dim(0), C = n_outputs();
    AD_CHECK(n > 0, "last_layer_laplace: fit: expected at least one data point, got phi " << phi.shape());
    AD_CHECK(f_in.defined() && f_in.shape() == ad::Shape({n, C}),
             "last_layer_laplace: fit: expected outputs f [" << n << ", " << C << "], got "
                                                             << (f_in.defined() ? f_in.shape() : ad::Shape{}));
    AD_CHECK(options.batch_size >= 0, "last_layer_laplace: fit: expected batch_size >= 0, got " << options.batch_size);
    Tensor f = f_in.detach();
    Tensor y = targets.detach();
    if (likelihood() == Likelihood::regression) {
        AD_CHECK(y.numel() == n * C && (y.shape() == ad::Shape({n, C}) || (C == 1 && y.shape() == ad::Shape({n}))),
                 "last_layer_laplace: fit: expected regression targets [" << n << ", " << C << "], got " << y.shape());
    } else {
        AD_CHECK(y.shape() == ad::Shape({n}),
                 "last_layer_laplace: fit: expected class labels [" << n << "], got " << y.shape());
        for (long i = 0; i < n; ++i)
            AD_CHECK(y[i] >= 0 && y[i] < C && y[i] == std::floor(y[i]),
                     "last_layer_laplace: fit: expected integer class labels in [0, " << C << "), got " << y[i]
                                                                                        << " at row " << i);
    }
    if (options.reset) reset_fit();
    const long bs = options.batch_size > 0 ? options.batch_size : n;
    for (long s = 0; s < n; s += bs) {
        const long e = std::min(n, s + bs);
        double loss = 0;
        Curvature H = batch_curvature(ad::slice(phi, 0, s, e), ad::slice(f, 0, s, e), ad::slice(y, 0, s, e), n, loss);
        add_curvature(H, loss, e - s);
    }
}

void LastLayerLaplace::fit(const Tensor& phi, const Tensor& targets, const FitOptions& options) {
    fit(phi, f_mu(phi), targets, options);
}

void LastLayerLaplace::fit(const nn::MLP& mlp, const Tensor& x, const Tensor& targets, const FitOptions& options) {
    AD_CHECK(mlp.n_features() == n_features_ && mlp.n_out() == n_outputs(),
             "last_layer_laplace: fit: expected an MLP with " << n_features_ << " last-layer features and "
                                                              << n_outputs() << " outputs, got " << mlp.n_features()
                                                              << " and " << mlp.n_out());
    Tensor phi;
    {
        ad::NoGrad ng;
        phi = mlp.features(x);
    }
    fit(phi, targets, options);
}

GlmPredictive LastLayerLaplace::glm_predictive(const Tensor& phi_in, OutputCovariance cov) const {
    require_fit("glm_predictive");
    Tensor phi = check_features(phi_in, "glm_predictive");
    ad::NoGrad ng;
    const long n = phi.dim(0), C = n_outputs();
    GlmPredictive out;
    out.f_mu = f_mu(phi);
    if (cov == OutputCovariance::joint) {
        Tensor J = jacobian(phi);
        out.f_mu = ad::reshape(out.f_mu, {n * C});
        out.f_var = functional_covariance(ad::reshape(J, {n * C, n_params()}));
        return out;
    }
    out.f_var = structured_variance(phi);
    if (cov == OutputCovariance::diagonal) out.f_var = output_diagonal(out.f_var);
    return out;
}

// f_var[n, c, c'] = t_n^T Sigma[blk(c), blk(c')] t_n with t_n = [phi_n, 1] (D + 1 entries, or D
// without bias) and blk(c) the parameters of output c: weights c D .. c D + D - 1, then bias C D + c.
// This is J Sigma J^T without forming J [n, C, P] (C times fewer products, no P-wide temporaries):
// T_c = t Sigma[blk(c), :] [n, P], then f_var[n, c, c'] = sum_j T_c[n, blk(c')_j] t_n[j].
// Diag: f_var[n, c, c] = sum_d phi_nd^2 v[c D + d] + v[C D + c]. The dense J path
// (functional_variance(jacobian(phi))) is the test oracle.
Tensor LastLayerLaplace::structured_variance(const Tensor& phi) const {
    const long n = phi.dim(0), C = n_outputs(), D = n_features_, Dt = D + (has_bias_ ? 1 : 0), P = n_params();
    Tensor out = Tensor::zeros({n, C, C});
    double* po = out.data();
    auto index = [&](long c, long j) { return j < D ? c * D + j : C * D + c; };
    if (structure() == HessianStructure::diag) {
        Tensor v = posterior_covariance();  // [P]
        for (long i = 0; i < n; ++i)
            for (long c = 0; c < C; ++c) {
                double acc = 0;
                for (long j = 0; j < Dt; ++j) {
                    const double t = j < D ? phi[i * D + j] : 1.0;
                    acc += t * t * v[index(c, j)];
                }
                po[(i * C + c) * C + c] = acc;
            }
        return out;
    }
    Tensor S = posterior_covariance();  // [P, P]
    Tensor t = has_bias_ ? ad::concat({phi, Tensor::ones({n, 1})}, 1) : phi;  // [n, Dt]
    for (long c = 0; c < C; ++c) {
        std::vector<long> rows(static_cast<size_t>(Dt));
        for (long j = 0; j < Dt; ++j) rows[j] = index(c, j);
        Tensor T = ad::matmul(t, ad::index_select(S, 0, rows));  // [n, P]
        const double* pT = T.data();
        for (long i = 0; i < n; ++i)
            for (long c2 = 0; c2 < C; ++c2) {
                double acc = 0;
                for (long j = 0; j < Dt; ++j) acc += pT[i * P + index(c2, j)] * t[i * Dt + j];
                po[(i * C + c) * C + c2] = acc;
            }
    }
    return out;
}

// ----------------------------------------------------------------------------- nn predictive

NnMoments::NnMoments(Likelihood likelihood, const Tensor& f_ref)
    : likelihood_(likelihood), f_ref_(f_ref.detach()), sum_(Tensor::zeros(f_ref.shape())),
      sum_sq_(Tensor::zeros(f_ref.shape())) {
    AD_CHECK(f_ref.ndim() == 2, "nn_predictive: expected reference outputs [n, C], got " << f_ref.shape());
}

// regression: d = f_s - f_ref, sum += d, sum_sq += d^2; classification: sum += softmax(f_s)
// (max subtracted per row, so exp never overflows).
void NnMoments::add(const Tensor& fs) {
    const long n = f_ref_.dim(0), C = f_ref_.dim(1);
    AD_CHECK(fs.ndim() == 3 && fs.dim(1) == n && fs.dim(2) == C,
             "nn_predictive: expected sampled outputs [k, " << n << ", " << C << "], got " << fs.shape());
    double* s = sum_.data();
    double* q = sum_sq_.data();
    for (long k = 0; k < fs.dim(0); ++k) {
        const double* f = fs.data() + k * n * C;
        for (long i = 0; i < n; ++i) {
            const double* fi = f + i * C;
            if (likelihood_ == Likelihood::regression) {
                for (long c = 0; c < C; ++c) {
                    const double d = fi[c] - f_ref_[i * C + c];
                    s[i * C + c] += d;
                    q[i * C + c] += d * d;
                }
                continue;
            }
            double mx = fi[0];
            for (long c = 1; c < C; ++c) mx = std::max(mx, fi[c]);
            double z = 0;
            for (long c = 0; c < C; ++c) z += std::exp(fi[c] - mx);
            for (long c = 0; c < C; ++c) s[i * C + c] += std::exp(fi[c] - mx) / z;
        }
    }
    n_samples_ += fs.dim(0);
}

NnPredictive NnMoments::result() const {
    const bool reg = likelihood_ == Likelihood::regression;
    AD_CHECK(n_samples_ >= (reg ? 2 : 1), "nn_predictive: expected at least " << (reg ? 2 : 1)
                                                                              << " samples (regression needs 2 for a "
                                                                                 "variance), got "
                                                                              << n_samples_);
    const double S = static_cast<double>(n_samples_);
    NnPredictive out;
    if (!reg) {
        out.mean = ad::mul(sum_, 1.0 / S);
        return out;
    }
    out.mean = Tensor::empty(f_ref_.shape());
    out.variance = Tensor::empty(f_ref_.shape());
    for (long i = 0; i < f_ref_.numel(); ++i) {
        out.mean.data()[i] = f_ref_[i] + sum_[i] / S;
        out.variance.data()[i] = std::max(0.0, (sum_sq_[i] - sum_[i] * sum_[i] / S) / (S - 1.0));
    }
    return out;
}

// theta_s [S, P] -> f_s = phi W_s^T + b_s for a chunk of k samples at once: W_s stacked as
// [k C, D], F = phi W^T [n, k C] (column s C + c), plus b; chunks keep F near 4M values.
NnPredictive LastLayerLaplace::nn_predictive(const Tensor& phi_in, long n_samples, uint64_t seed) const {
    require_fit("nn_predictive");
    Tensor phi = check_features(phi_in, "nn_predictive");
    AD_CHECK(n_samples > 0, "last_layer_laplace: nn_predictive: expected n_samples > 0, got " << n_samples);
    ad::NoGrad ng;
    const long n = phi.dim(0), C = n_outputs(), D = n_features_;
    Tensor theta = sample(n_samples, seed);
    NnMoments acc(likelihood(), f_mu(phi));
    const long chunk = std::max(1L, (1L << 22) / std::max(1L, n * C));
    for (long s0 = 0; s0 < n_samples; s0 += chunk) {
        const long s1 = std::min(n_samples, s0 + chunk), k = s1 - s0;
        Tensor th = ad::slice(theta, 0, s0, s1);  // [k, P]
        Tensor F = ad::matmul_nt(phi, ad::reshape(ad::slice(th, 1, 0, C * D), {k * C, D}));  // [n, k C]
        if (has_bias_) F = ad::add(F, ad::reshape(ad::slice(th, 1, C * D, C * D + C), {1, k * C}));
        acc.add(ad::permute(ad::reshape(F, {n, k, C}), {1, 0, 2}));
    }
    return acc.result();
}

Tensor LastLayerLaplace::predict_probs(const Tensor& phi, LinkApprox link, long n_samples, uint64_t seed) const {
    AD_CHECK(likelihood() == Likelihood::classification,
             "last_layer_laplace: predict_probs: expected a classification Laplace, got regression; use glm_predictive");
    GlmPredictive g = glm_predictive(phi);
    return link == LinkApprox::mc ? mc_probs(g.f_mu, g.f_var, n_samples, seed) : link_probs(link, g.f_mu, g.f_var);
}

// Validation NLL at each grid point (each scored on its own; laplace-torch keeps a running mean
// over the grid instead, see docs/uq.md); the first minimum wins.
GridsearchResult gridsearch_prior_precision(Laplace& la, const std::function<GlmPredictive()>& predict,
                                            const Tensor& y_val, const GridsearchOptions& options) {
    AD_CHECK(la.fitted(), "laplace: gridsearch: expected a fitted Laplace; call fit first");
    AD_CHECK(options.link != LinkApprox::mc, "laplace: gridsearch: expected a deterministic link "
                                             "(probit, bridge, bridge_norm), got mc");
    GridsearchResult r;
    r.grid = options.grid;
    if (r.grid.empty()) {
        // torch.logspace(-4, 4, 100): exponents from both ends (as torch.linspace), then 10^x.
        const long k = 100;
        const double step = 8.0 / (k - 1);
        for (long i = 0; i < k; ++i) r.grid.push_back(std::pow(10.0, i < k / 2 ? -4.0 + step * i : 4.0 - step * (k - 1 - i)));
    }
    const bool cls = la.likelihood() == Likelihood::classification;
    const long n = y_val.dim(0);
    std::vector<long> labels;
    if (cls) {
        AD_CHECK(y_val.shape() == ad::Shape({n}), "laplace: gridsearch: expected labels [" << n << "], got "
                                                                                            << y_val.shape());
        for (long i = 0; i < n; ++i) labels.push_back(static_cast<long>(y_val[i]));
    }
    double best = HUGE_VAL;
    r.prior_precision = r.grid.front();
    for (double tau : r.grid) {
        la.set_prior_precision(ad::tensor({tau}));
        GlmPredictive g = predict();
        const double nll = cls ? nll_classification(link_probs(options.link, g.f_mu, g.f_var), labels)
                               : nll_regression(g.f_mu, g.f_var, y_val, la.sigma_noise());
        r.nll.push_back(nll);
        if (nll < best) {
            best = nll;
            r.prior_precision = tau;
        }
    }
    la.set_prior_precision(ad::tensor({r.prior_precision}));
    return r;
}

GridsearchResult LastLayerLaplace::optimize_prior_precision_gridsearch(const Tensor& phi_val, const Tensor& y_val,
                                                                       const GridsearchOptions& options) {
    return gridsearch_prior_precision(*this, [&] { return glm_predictive(phi_val); }, y_val, options);
}

nn::Checkpoint LastLayerLaplace::to_checkpoint() const {
    nn::Checkpoint c = Laplace::to_checkpoint();
    c.metadata["kind"] = "last_layer";
    c.metadata["feature_reduction"] = to_string(feature_reduction_);
    return c;
}

void LastLayerLaplace::save(const std::string& path) const { nn::save_checkpoint(path, to_checkpoint()); }

LastLayerLaplace LastLayerLaplace::load(const std::string& path) { return from_checkpoint(nn::load_checkpoint(path)); }

LastLayerLaplace LastLayerLaplace::from_checkpoint(const nn::Checkpoint& c) {
    const std::string& path = c.path;
    AD_CHECK(c.metadata.count("kind") && c.meta("kind") == "last_layer",
             path << ": expected a last-layer Laplace checkpoint (metadata kind = last_layer)");
    // layout "weight:C,D" or "weight:C,D;bias:C"
    const std::string& lay = c.meta("layout");
    long C = 0, D = 0;
    const bool bias = lay.find(";bias:") != std::string::npos;
    AD_CHECK(std::sscanf(lay.c_str(), "weight:%ld,%ld", &C, &D) == 2 && C > 0 && D > 0,
             path << ": expected layout 'weight:C,D[;bias:C]', got '" << lay << "'");
    const Tensor& mean = c.get("mean");
    AD_CHECK(mean.numel() == C * D + (bias ? C : 0), path << ": expected mean [" << C * D + (bias ? C : 0) << "], got "
                                                          << mean.shape());
    Tensor W = ad::reshape(ad::slice(mean, 0, 0, C * D), {C, D}).clone();
    Tensor b = bias ? ad::slice(mean, 0, C * D, C * D + C).clone() : Tensor();
    LaplaceOptions o;
    o.likelihood = parse_likelihood(c.meta("likelihood"));
    o.structure = parse_hessian_structure(c.meta("structure"));
    o.sigma_noise = c.get("scalars")[0];
    auto fr = c.metadata.find("feature_reduction");  // absent before sampling was added: none
    o.feature_reduction = fr != c.metadata.end() ? parse_feature_reduction(fr->second) : FeatureReduction::none;
    LastLayerLaplace la(W, b, o);
    la.restore(c);
    return la;
}

}  // namespace uq
