// GELU's derivatives as fused ops (autodiff/ops_gelu.cpp), so that ad::gelu's backward and the
// force-training double backward through it are one pass per tensor each instead of the chain
// mul(g, gelu'(x)) whose own backward was six ops (square, mul, exp, mul, sub, mul).
// With Phi(x) = (1 + erf(x / sqrt 2)) / 2 and phi(x) = e^{-x^2/2} / sqrt(2 pi):
//   gelu(x)    = x Phi(x)                                    (ad::gelu, ops.hpp)
//   gelu'(x)   = Phi + x phi
//   gelu''(x)  = phi (2 - x^2)
//   gelu'''(x) = x phi (x^2 - 4)
//   gelu_backward(g, x)  = g gelu'(x):   d/dg = gelu_backward(gz, x),   d/dx = gelu_backward2(gz g, x)
//   gelu_backward2(g, x) = g gelu''(x):  d/dg = gelu_backward2(gz, x),  d/dx = gz g gelu'''(x) (ops)
// Declared apart from ops.hpp so that adding them rebuilt nothing else.
#pragma once
#include "autodiff/tensor.hpp"

namespace ad {

Tensor gelu_backward(const Tensor& g, const Tensor& x);   ///< g gelu'(x), g and x of one shape
Tensor gelu_backward2(const Tensor& g, const Tensor& x);  ///< g gelu''(x), g and x of one shape

}  // namespace ad
