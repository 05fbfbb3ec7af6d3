// Smooth cutoff functions f(r) of a distance, 1 up to r0 = r_c - w and 0 from r_c on, as ops.
// With s = (r - r0) / w in (0, 1):
//   cosine (metatrain NanoPET get_radial_mask, PET cutoff_func "Cosine"):
//       f = 0.5 (1 + cos(pi s))
//   bump   (metatrain PET "Bump"; every derivative vanishes at both ends):
//       f = 0.5 (1 + tanh(u)),  u = cot(pi s)
// f = 1 for r <= r0, f = 0 for r >= r_c. Derivatives in r are d^k f / ds^k / w^k; cosine:
//   f' = -(pi/2) sin(pi s),  f'' = -(pi^2/2) cos(pi s),  f''' = (pi^3/2) sin(pi s)   (in s)
// bump, with t = tanh(u), u_s = -pi (1 + u^2), u_ss = 2 pi^2 u (1 + u^2), u_sss = 2 pi^2 u_s (1 + 3 u^2),
//   t_u = 1 - t^2, t_uu = -2 t t_u, t_uuu = t_u (6 t^2 - 2)   (Faa di Bruno):
//   f' = t_u u_s / 2,  f'' = (t_uu u_s^2 + t_u u_ss) / 2,  f''' = (t_uuu u_s^3 + 3 t_uu u_s u_ss + t_u u_sss) / 2
// The op for derivative k records as backward g * (derivative k + 1), so f is differentiable three
// times (forces need f', force training f''; gradgradcheck reads f''').
#pragma once
#include <string>

#include "autodiff/tensor.hpp"

namespace nn {

enum class CutoffFunction { cosine, bump };

/// f(r) elementwise, any shape; cutoff r_c > 0, 0 < width <= r_c.
ad::Tensor smooth_cutoff(const ad::Tensor& r, CutoffFunction kind, double cutoff, double width);
/// d^order f / dr^order, order 0..3 (an op: its backward is order + 1, up to 3).
ad::Tensor smooth_cutoff_derivative(const ad::Tensor& r, CutoffFunction kind, double cutoff, double width, int order);

/// "cosine" -> CutoffFunction::cosine, "bump" -> bump; throws naming the accepted names.
CutoffFunction parse_cutoff_function(const std::string& name);
std::string to_string(CutoffFunction kind);

}  // namespace nn
