// Jacobians from repeated reverse passes: row e of J is the gradient of <y, onehot_e>.
#include "autodiff/jacobian.hpp"

#include <algorithm>

#include "autodiff/ops.hpp"

namespace ad {

// J_k = stack_e grad(<y, onehot_e>, x_k), reshaped to y.shape + x_k.shape. The rows are joined
// with stack/reshape (ops), so with CreateGraph::yes the result is differentiable.
std::vector<Tensor> jacobian(const Function& f, const Inputs& inputs, CreateGraph cg) {
    GradMode on(true);
    std::vector<Tensor> wrt;
    std::vector<size_t> wrt_index;
    for (size_t k = 0; k < inputs.size(); ++k)
        if (inputs[k].requires_grad()) {
            wrt.push_back(inputs[k]);
            wrt_index.push_back(k);
        }
    AD_CHECK(!wrt.empty(),
             "jacobian: expected at least one input that requires grad, got none; "
             "call set_requires_grad() on the inputs to differentiate");
    Tensor y = f(inputs);
    AD_CHECK(y.defined(), "jacobian: expected the function to return a tensor, got an undefined one");
    const long m = y.numel();

    std::vector<std::vector<Tensor>> rows(wrt.size());  // rows[j][e]: [numel of wrt[j]]
    for (long e = 0; e < m && y.requires_grad(); ++e) {
        Tensor onehot = Tensor::zeros(y.shape());
        onehot.data()[e] = 1.0;
        std::vector<Tensor> gs = grad({y}, wrt, {onehot}, cg);
        for (size_t j = 0; j < wrt.size(); ++j) rows[j].push_back(reshape(gs[j], {wrt[j].numel()}));
    }

    std::vector<Tensor> result(inputs.size());
    for (size_t j = 0; j < wrt.size(); ++j) {
        Shape shape = y.shape();
        shape.insert(shape.end(), wrt[j].shape().begin(), wrt[j].shape().end());
        // y independent of the inputs (no graph) or empty: the Jacobian is zero.
        result[wrt_index[j]] = rows[j].empty() ? Tensor::zeros(shape) : reshape(stack(rows[j], 0), shape);
    }
    return result;
}

Tensor per_sample_jacobian(const std::function<Tensor(const Tensor& x)>& model, const std::vector<Tensor>& params,
                           const Tensor& x) {
    GradMode on(true);
    AD_CHECK(x.ndim() >= 1 && x.dim(0) > 0,
             "per_sample_jacobian: expected a batch x [n, ...] with n >= 1, got " << x.shape());
    AD_CHECK(!params.empty(), "per_sample_jacobian: expected at least one parameter, got none");
    std::vector<long> offset(params.size() + 1, 0);  // theta[offset[q] ...] = params[q] flattened
    for (size_t q = 0; q < params.size(); ++q) {
        AD_CHECK(params[q].requires_grad(), "per_sample_jacobian: expected parameters that require grad, got parameter "
                                                << q << " of shape " << params[q].shape() << " that does not");
        offset[q + 1] = offset[q] + params[q].numel();
    }
    const long n = x.dim(0), n_params = offset.back();
    const Tensor xd = x.detach();  // gradients w.r.t. x are not wanted

    Tensor J;
    long o = 0;
    for (long i = 0; i < n; ++i) {
        Tensor xi = slice(xd, 0, i, i + 1);  // [1, ...]
        Tensor yi = model(xi);
        AD_CHECK(yi.defined() && yi.ndim() == 2 && yi.dim(0) == 1 && (i == 0 || yi.dim(1) == o),
                 "per_sample_jacobian: expected the model to map one sample "
                     << xi.shape() << " to [1, " << (i == 0 ? std::string("o") : std::to_string(o)) << "], got "
                     << (yi.defined() ? to_string(yi.shape()) : std::string("an undefined tensor")));
        if (i == 0) {
            o = yi.dim(1);
            J = Tensor::zeros({n, o, n_params});
        }
        if (!yi.requires_grad()) continue;  // the outputs do not depend on the parameters
        for (long k = 0; k < o; ++k) {
            Tensor onehot = Tensor::zeros({1, o});
            onehot.data()[k] = 1.0;
            std::vector<Tensor> gs = grad({yi}, params, {onehot});
            double* row = J.data() + (i * o + k) * n_params;
            for (size_t q = 0; q < params.size(); ++q)
                std::copy(gs[q].data(), gs[q].data() + gs[q].numel(), row + offset[q]);
        }
    }
    return J;
}

}  // namespace ad
