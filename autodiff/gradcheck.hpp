// Central-difference checks of first and second derivatives.
//   gradcheck:     <grad of <f(x), v>, d>  ==  (<f(x + eps d), v> - <f(x - eps d), v>) / (2 eps)
//   for d = every unit vector (small inputs) or random directions (large ones), v random.
//   gradgradcheck: gradcheck of h(x, v) = sum_k <grad_k <f(x), v> (with create_graph), u_k>,
//   differentiated w.r.t. x and v, so every second derivative the backward records is checked.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "autodiff/tensor.hpp"

namespace ad {

using Inputs = std::vector<Tensor>;
using Function = std::function<Tensor(const Inputs&)>;

struct GradcheckOptions {
    double eps = 1e-6;    ///< step of the central difference
    double atol = 1e-6;   ///< |analytic - numeric| <= atol + rtol |numeric|
    double rtol = 1e-4;   ///< central differences in float64 are good to ~1e-8 relative here
    long max_full = 64;   ///< inputs with more elements are probed along random directions
    int n_directions = 6; ///< random directions per large input
    uint64_t seed = 0;
};

/// True when the analytic gradient of f matches central differences for every input that
/// requires grad. Mismatches are printed to stderr.
bool gradcheck(const Function& f, const Inputs& inputs, const GradcheckOptions& opt = {});

/// True when the gradient of f is itself correctly differentiable (second derivatives).
bool gradgradcheck(const Function& f, const Inputs& inputs, const GradcheckOptions& opt = {});

}  // namespace ad
