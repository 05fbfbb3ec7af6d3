// SiLU's derivatives as fused ops (autodiff/ops_silu.cpp), so that ad::silu's backward and the
// force-training double backward through it are one pass per tensor each instead of six ops
// (sigmoid, 1 - s, x (1 - s), + 1, s (...), g (...)) and their own backward graphs.
// With s = sigmoid(x) = 1 / (1 + e^-x), q = s (1 - s) = s':
//   silu(x)    = x s                                        (ad::silu, ops.hpp)
//   silu'(x)   = s (1 + x (1 - s))
//   silu''(x)  = q (2 + x (1 - 2 s))
//   silu'''(x) = q ((1 - 2 s)(3 + x (1 - 2 s)) - 2 x q)
//   silu_backward(g, x)  = g silu'(x):   d/dg = silu_backward(gz, x),   d/dx = silu_backward2(gz g, x)
//   silu_backward2(g, x) = g silu''(x):  d/dg = silu_backward2(gz, x),  d/dx = gz g silu'''(x) (ops)
// Declared apart from ops.hpp so that adding them rebuilt nothing else.
#pragma once
#include "autodiff/tensor.hpp"

namespace ad {

Tensor silu_backward(const Tensor& g, const Tensor& x);   ///< g silu'(x), g and x of one shape
Tensor silu_backward2(const Tensor& g, const Tensor& x);  ///< g silu''(x), g and x of one shape

}  // namespace ad
