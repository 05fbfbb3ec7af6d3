// Fused RMS normalisation over the last axis (Zhang & Sennrich 2019, eq. 4) and its backward as
// ops (autodiff/ops_rms_norm.cpp). Notation: rows r (all leading axes), features f = 0..n-1:
//   rs = 1 / sqrt(mean_f x^2 + eps),  xh = x rs,  y = xh w
//   Q(v) = rs (v - xh mean_f(v xh))          the VJP of x -> xh (Q is self-adjoint)
//   rms_norm:          gx = rms_norm_backward(g, x, w) = Q(g w),  gw = rms_norm_wgrad(g, x) = sum_r g xh
//   rms_norm_backward: d/dg = w Q(gz),  d/dw = sum_r g Q(gz),
//                      d/dx <u, Q(v)> = -rs^2 [xh (m(u v) - 3 m(u xh) m(v xh)) + u m(v xh) + v m(u xh)]
//                      (m = mean_f, u = gz, v = g w; built from ops, differentiable again)
//   rms_norm_wgrad:    d/dg = xh ggw = rms_norm(x, ggw),  d/dx = Q(g ggw) = rms_norm_backward(g, x, ggw)
// The family closes (forward, backward, second derivatives), so force training differentiates
// through RMSNorm twice with one pass per [rows, n] tensor instead of the composite's six ops
// (square, mean, add, pow, mul, mul). The row factors rs are computed once per x and shared by
// the ops of its backward graph. Declared apart from ops.hpp so that adding it rebuilt nothing else.
#pragma once
#include "autodiff/tensor.hpp"

namespace ad {

Tensor rms_norm(const Tensor& x, const Tensor& w, double eps);                   ///< xh w, x [..., n], w [n]
Tensor rms_norm_backward(const Tensor& g, const Tensor& x, const Tensor& w, double eps);  ///< Q(g w) [..., n]
Tensor rms_norm_wgrad(const Tensor& g, const Tensor& x, double eps);             ///< sum over rows of g xh -> [n]

}  // namespace ad
