// Per-sample Jacobians of an MLP's outputs with respect to all its parameters, by one batched
// analytic backward pass per network (not one per sample or per output).
//   forward:  a_0 = x,  z_l = a_l W_l^T + b_l,  a_{l+1} = act(z_l) (l < L),  f = z_L
//   signals:  G_l[n] = d f_n / d z_l  [C, out_l]:  G_L = I_C,
//             G_{l-1}[n] = (G_l[n] W_l) o act'(z_{l-1}[n])        (chain rule, row-broadcast act')
//   Jacobian: d f_n[c] / d W_l[o, i] = G_l[n, c, o] a_l[n, i]       (outer product signal x input)
//             d f_n[c] / d b_l[o]    = G_l[n, c, o]
// so J_n = [vec(G_0[n] (x) a_0[n]), G_0[n], vec(G_1[n] (x) a_1[n]), G_1[n], ...] [C, P] in the
// order theta = [W_0.flatten(), b_0, W_1.flatten(), b_1, ...] (torch's parameters_to_vector).
// The same signals give the KFLR factors of uq/mlp_laplace (Botev et al. 2017; Martens & Grosse 2015).
// Notation: n points, C outputs, L + 1 Linear layers l = 0..L, P parameters.
#pragma once
#include <vector>

#include "autodiff/tensor.hpp"
#include "nn/activation.hpp"
#include "nn/mlp.hpp"

namespace uq {

/// The parameters of an MLP as plain tensors (no graph): weight[l] [out_l, in_l], bias[l] [out_l]
/// (undefined without biases); the activation follows every layer except the last.
struct MlpParams {
    std::vector<ad::Tensor> weight, bias;
    nn::Activation activation = nn::Activation::tanh;
    bool has_bias() const { return !bias.empty() && bias[0].defined(); }
    long n_params() const;
};

/// Detached copies of the MLP's current parameters.
MlpParams mlp_params(const nn::MLP& mlp);
/// The same architecture as `like`, with values from theta [P] (parameters_to_vector order).
MlpParams mlp_params_from_theta(const MlpParams& like, const ad::Tensor& theta);
/// theta [P] = [W_0.flatten(), b_0, W_1.flatten(), ...].
ad::Tensor mlp_theta(const MlpParams& p);

/// What the per-sample backward needs: layer inputs a_l [n, in_l], signals G_l [n, C, out_l],
/// outputs f [n, C].
struct MlpSignals {
    std::vector<ad::Tensor> input, G;
    ad::Tensor f;
};

/// Forward and batched backward pass for x [n, in_0].
MlpSignals mlp_signals(const MlpParams& p, const ad::Tensor& x);
/// J [n, C, P] from the signals (outer products, written in place).
ad::Tensor mlp_jacobian(const MlpSignals& s, bool has_bias);
/// J [n, C, P] of f(x) = mlp(x) with respect to theta.
ad::Tensor mlp_jacobian(const MlpParams& p, const ad::Tensor& x);
/// f(x) [n, C] (values only).
ad::Tensor mlp_forward(const MlpParams& p, const ad::Tensor& x);

}  // namespace uq
