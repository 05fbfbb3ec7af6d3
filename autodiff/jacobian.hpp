// Full Jacobians by reverse mode: one backward pass per output element (one-hot grad_outputs),
// and the per-sample Jacobian of a model's outputs with respect to its parameters (the matrix
// behind last-layer/GGN Laplace approximations and NTK-style features).
#pragma once
#include <functional>
#include <vector>

#include "autodiff/gradcheck.hpp"
#include "autodiff/graph.hpp"
#include "autodiff/tensor.hpp"

namespace ad {

/// J_k[e..., a...] = d f(inputs)[e...] / d inputs[k][a...], shape f.shape + inputs[k].shape, for
/// each input that requires grad (an undefined tensor for the others; at least one must require
/// grad). f is evaluated once and differentiated out.numel() times. With CreateGraph::yes the
/// Jacobians carry a graph back to the inputs (Hessians: the jacobian of a gradient).
std::vector<Tensor> jacobian(const Function& f, const Inputs& inputs, CreateGraph cg = CreateGraph::no);

/// J[i, k, p] = d model(x[i:i+1])[0, k] / d theta[p], x [n, ...] -> J [n, o, P], where theta is
/// the concatenation of the parameters in the given order, each flattened row-major:
/// p = (numel of params[0..q-1]) + (row-major index inside params[q]). The model is run on one
/// sample at a time (it must map [1, ...] to [1, o] and treat samples independently) and
/// differentiated o times per sample: n forward and n o backward passes. Values only (no graph).
Tensor per_sample_jacobian(const std::function<Tensor(const Tensor& x)>& model, const std::vector<Tensor>& params,
                           const Tensor& x);

}  // namespace ad
