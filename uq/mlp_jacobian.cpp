// Batched per-sample Jacobians of an MLP (math in mlp_jacobian.hpp).
#include "uq/mlp_jacobian.hpp"

#include "autodiff/graph.hpp"
#include "autodiff/ops.hpp"

namespace uq {

using ad::Tensor;
using ad::operator<<;

long MlpParams::n_params() const {
    long P = 0;
    for (size_t l = 0; l < weight.size(); ++l) P += weight[l].numel() + (has_bias() ? bias[l].numel() : 0);
    return P;
}

MlpParams mlp_params(const nn::MLP& mlp) {
    MlpParams p;
    p.activation = mlp.activation();
    for (const auto& layer : mlp.layers()) {
        p.weight.push_back(layer->weight().detach().clone());
        p.bias.push_back(layer->has_bias() ? layer->bias().detach().clone() : Tensor());
    }
    return p;
}

MlpParams mlp_params_from_theta(const MlpParams& like, const Tensor& theta) {
    const long P = like.n_params();
    AD_CHECK(theta.defined() && theta.ndim() == 1 && theta.numel() == P,
             "mlp_params_from_theta: expected theta [" << P << "], got " << (theta.defined() ? theta.shape() : ad::Shape{}));
    ad::NoGrad ng;
    MlpParams p;
    p.activation = like.activation;
    long o = 0;
    for (size_t l = 0; l < like.weight.size(); ++l) {
        const long m = like.weight[l].numel();
        p.weight.push_back(ad::reshape(ad::slice(theta.detach(), 0, o, o + m), like.weight[l].shape()).clone());
        o += m;
        if (like.has_bias()) {
            const long k = like.bias[l].numel();
            p.bias.push_back(ad::slice(theta.detach(), 0, o, o + k).clone());
            o += k;
        } else {
            p.bias.push_back(Tensor());
        }
    }
    return p;
}

Tensor mlp_theta(const MlpParams& p) {
    ad::NoGrad ng;
    std::vector<Tensor> parts;
    for (size_t l = 0; l < p.weight.size(); ++l) {
        parts.push_back(ad::reshape(p.weight[l].detach(), {p.weight[l].numel()}));
        if (p.has_bias()) parts.push_back(p.bias[l].detach());
    }
    return ad::concat(parts, 0);
}

namespace {

void check_input(const MlpParams& p, const Tensor& x, const char* where) {
    AD_CHECK(!p.weight.empty(), where << ": expected an MLP with at least one layer, got none");
    const long n_in = p.weight[0].dim(1);
    AD_CHECK(x.defined() && x.ndim() == 2 && x.dim(1) == n_in,
             where << ": expected x [n, " << n_in << "], got " << (x.defined() ? x.shape() : ad::Shape{}));
}

}  // namespace

Tensor mlp_forward(const MlpParams& p, const Tensor& x) {
    check_input(p, x, "mlp_forward");
    ad::NoGrad ng;
    Tensor a = x.detach();
    for (size_t l = 0; l < p.weight.size(); ++l) {
        a = ad::linear(a, p.weight[l], p.bias[l]);
        if (l + 1 < p.weight.size()) a = nn::activate(p.activation, a);
    }
    return a;
}

// act'(z) for any elementwise activation: the gradient of sum(act(z)) w.r.t. z, one batched
// reverse pass (the activation ops' own derivative rules, e.g. tanh: 1 - a^2).
MlpSignals mlp_signals(const MlpParams& p, const Tensor& x) {
    check_input(p, x, "mlp_signals");
    const size_t n_layers = p.weight.size();
    const long n = x.dim(0);
    MlpSignals s;
    std::vector<Tensor> dact;  // act'(z_l) [n, out_l], l < L
    Tensor a = x.detach();
    for (size_t l = 0; l < n_layers; ++l) {
        s.input.push_back(a);
        Tensor z;
        {
            ad::NoGrad ng;
            z = ad::linear(a, p.weight[l], p.bias[l]);
        }
        if (l + 1 == n_layers) {
            s.f = z;
            break;
        }
        ad::GradMode on(true);
        Tensor zt = z.clone().set_requires_grad(true);
        Tensor y = nn::activate(p.activation, zt);
        dact.push_back(ad::grad(ad::sum(y), {zt}, ad::CreateGraph::no)[0].detach());
        a = y.detach();
    }
    ad::NoGrad ng;
    const long C = s.f.dim(1);
    // G_L[n] = I_C.
    Tensor G = Tensor::zeros({n, C, C});
    for (long i = 0; i < n; ++i)
        for (long c = 0; c < C; ++c) G.data()[(i * C + c) * C + c] = 1.0;
    s.G.assign(n_layers, Tensor());
    s.G[n_layers - 1] = G;
    for (size_t l = n_layers - 1; l > 0; --l) {
        const long out = p.weight[l].dim(0), in = p.weight[l].dim(1);
        // G_{l-1}[n, c, i] = sum_o G_l[n, c, o] W_l[o, i] * act'(z_{l-1})[n, i]
        Tensor back = ad::reshape(ad::matmul(ad::reshape(s.G[l], {n * C, out}), p.weight[l]), {n, C, in});
        s.G[l - 1] = ad::mul(back, ad::reshape(dact[l - 1], {n, 1, in}));
    }
    return s;
}

// J[n, c, o_W + o in + i] = G[n, c, o] a[n, i];  J[n, c, o_b + o] = G[n, c, o].
Tensor mlp_jacobian(const MlpSignals& s, bool has_bias) {
    const long n = s.f.dim(0), C = s.f.dim(1);
    long P = 0;
    for (size_t l = 0; l < s.G.size(); ++l) P += s.G[l].dim(2) * (s.input[l].dim(1) + (has_bias ? 1 : 0));
    Tensor J = Tensor::empty({n, C, P});
    double* j = J.data();
    long off = 0;
    for (size_t l = 0; l < s.G.size(); ++l) {
        const long out = s.G[l].dim(2), in = s.input[l].dim(1);
        const double* G = s.G[l].data();
        const double* a = s.input[l].data();
        for (long i = 0; i < n; ++i)
            for (long c = 0; c < C; ++c) {
                double* row = j + (i * C + c) * P + off;
                const double* g = G + (i * C + c) * out;
                const double* ai = a + i * in;
                for (long o = 0; o < out; ++o) {
                    const double go = g[o];
                    for (long k = 0; k < in; ++k) row[o * in + k] = go * ai[k];
                }
                if (has_bias)
                    for (long o = 0; o < out; ++o) row[out * in + o] = g[o];
            }
        off += out * in + (has_bias ? out : 0);
    }
    return J;
}

Tensor mlp_jacobian(const MlpParams& p, const Tensor& x) { return mlp_jacobian(mlp_signals(p, x), p.has_bias()); }

}  // namespace uq
