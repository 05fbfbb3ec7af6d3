// Optimisers and gradient clipping (formulas in optim.hpp).
#include "nn/optim.hpp"

#include "autodiff/simd.hpp"

#include <cmath>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

namespace nn {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope

Optimizer::Optimizer(std::vector<ad::Tensor> params, double lr) : params_(std::move(params)), lr_(0.0) {
    std::unordered_set<const ad::TensorImpl*> seen;
    for (size_t i = 0; i < params_.size(); ++i) {
        AD_CHECK(params_[i].defined(), "optimizer: expected defined parameters, got an undefined one at " << i);
        AD_CHECK(seen.insert(&params_[i].impl()).second,
                 "optimizer: expected each parameter once, got parameter " << i << " twice");
    }
    set_lr(lr);
}

void Optimizer::set_lr(double lr) {
    AD_CHECK(std::isfinite(lr) && lr >= 0, "optimizer: expected lr >= 0, got " << lr);
    lr_ = lr;
}

void Optimizer::zero_grad() {
    for (auto& p : params_) p.zero_grad();
}

ad::Tensor Optimizer::add_buffer(const std::string& name, const ad::Shape& shape) {
    ad::Tensor t = ad::Tensor::zeros(shape);
    buffers_.emplace_back(name, t);
    return t;
}

NamedTensors Optimizer::state() const {
    NamedTensors out;
    out.emplace_back("lr", ad::Tensor::scalar(lr_));
    for (const auto& b : buffers_) out.emplace_back(b.first, b.second.clone());
    return out;
}

void Optimizer::load_state(const NamedTensors& state) {
    std::unordered_map<std::string, const ad::Tensor*> given;
    for (const auto& kv : state)
        AD_CHECK(given.emplace(kv.first, &kv.second).second,
                 "optimizer load_state: expected each name once, got '" << kv.first << "' twice");
    auto lr_it = given.find("lr");
    AD_CHECK(lr_it != given.end(), "optimizer load_state: missing 'lr'");
    AD_CHECK(lr_it->second->defined() && lr_it->second->numel() == 1,
             "optimizer load_state: expected 'lr' of shape [], got " << lr_it->second->shape());
    for (const auto& b : buffers_) {
        auto it = given.find(b.first);
        AD_CHECK(it != given.end(), "optimizer load_state: missing '" << b.first
                                        << "'; was the state saved by another optimiser or model?");
        AD_CHECK(it->second->defined() && it->second->shape() == b.second.shape(),
                 "optimizer load_state: expected '" << b.first << "' of shape " << b.second.shape() << ", got "
                                                    << it->second->shape());
    }
    if (given.size() != buffers_.size() + 1) {
        std::unordered_set<std::string> known{"lr"};
        for (const auto& b : buffers_) known.insert(b.first);
        for (const auto& kv : state)
            AD_CHECK(known.count(kv.first), "optimizer load_state: unexpected '" << kv.first << "'");
    }
    set_lr(lr_it->second->item());
    for (auto& b : buffers_) {
        const ad::Tensor& src = *given.at(b.first);
        std::memcpy(b.second.data(), src.data(), sizeof(double) * static_cast<size_t>(b.second.numel()));
    }
}

// ----------------------------------------------------------------------------- SGD

SGD::SGD(std::vector<ad::Tensor> params, double lr, double momentum, double weight_decay, bool nesterov)
    : Optimizer(std::move(params), lr), momentum_(momentum), weight_decay_(weight_decay), nesterov_(nesterov) {
    AD_CHECK(momentum >= 0, "SGD: expected momentum >= 0, got " << momentum);
    AD_CHECK(weight_decay >= 0, "SGD: expected weight_decay >= 0, got " << weight_decay);
    AD_CHECK(!nesterov || momentum > 0, "SGD: expected momentum > 0 with nesterov, got " << momentum);
    if (momentum_ != 0)
        for (size_t i = 0; i < params_.size(); ++i)
            momentum_buffer_.push_back(add_buffer("momentum_buffer." + std::to_string(i), params_[i].shape()));
}

// With dampening 0, "buf = g at the first step" equals "buf = mu buf + g" from buf = 0, so the
// zero-initialised buffer needs no flag.
void SGD::step() {
    for (size_t i = 0; i < params_.size(); ++i) {
        ad::Tensor grad = params_[i].grad();
        if (!grad.defined()) continue;
        double* p = params_[i].data();
        const double* g = grad.data();
        const long n = params_[i].numel();
        if (momentum_ == 0) {
            for (long k = 0; k < n; ++k) p[k] -= lr_ * (g[k] + weight_decay_ * p[k]);
            continue;
        }
        double* buf = momentum_buffer_[i].data();
        for (long k = 0; k < n; ++k) {
            double gk = g[k] + weight_decay_ * p[k];
            buf[k] = momentum_ * buf[k] + gk;
            p[k] -= lr_ * (nesterov_ ? gk + momentum_ * buf[k] : buf[k]);
        }
    }
}

// ----------------------------------------------------------------------------- Adam, AdamW

Adam::Adam(std::vector<ad::Tensor> params, double lr, double beta1, double beta2, double eps, double weight_decay)
    : Optimizer(std::move(params), lr), beta1_(beta1), beta2_(beta2), eps_(eps), weight_decay_(weight_decay) {
    AD_CHECK(beta1 >= 0 && beta1 < 1, "Adam: expected 0 <= beta1 < 1, got " << beta1);
    AD_CHECK(beta2 >= 0 && beta2 < 1, "Adam: expected 0 <= beta2 < 1, got " << beta2);
    AD_CHECK(eps >= 0, "Adam: expected eps >= 0, got " << eps);
    AD_CHECK(weight_decay >= 0, "Adam: expected weight_decay >= 0, got " << weight_decay);
    step_ = add_buffer("step", {static_cast<long>(params_.size())});
    for (size_t i = 0; i < params_.size(); ++i) {
        exp_avg_.push_back(add_buffer("exp_avg." + std::to_string(i), params_[i].shape()));
        exp_avg_sq_.push_back(add_buffer("exp_avg_sq." + std::to_string(i), params_[i].shape()));
    }
}

void Adam::step() { update(false); }

namespace {
// The element loop of Adam/AdamW over one parameter; restrict-qualified and cloned for AVX2 so it
// vectorises (p, g, m, v never overlap: each is its own tensor's storage).
AD_VECTOR_CLONES
void adam_kernel(double* __restrict p, const double* __restrict g, double* __restrict m, double* __restrict v,
                 long n, double shrink, double l2, double beta1, double beta2, double step_size,
                 double inv_bias_correction2_sqrt, double eps) {
    for (long k = 0; k < n; ++k) {
        double pk = p[k] * shrink;
        double gk = g[k] + l2 * pk;
        double mk = beta1 * m[k] + (1.0 - beta1) * gk;
        double vk = beta2 * v[k] + (1.0 - beta2) * gk * gk;
        m[k] = mk;
        v[k] = vk;
        p[k] = pk - step_size * mk / (std::sqrt(vk) * inv_bias_correction2_sqrt + eps);
    }
}
}  // namespace

void Adam::update(bool decoupled) {
    for (size_t i = 0; i < params_.size(); ++i) {
        ad::Tensor grad = params_[i].grad();
        if (!grad.defined()) continue;
        const double t = (step_.data()[i] += 1.0);
        const double bias_correction1 = 1.0 - std::pow(beta1_, t);
        const double bias_correction2 = 1.0 - std::pow(beta2_, t);
        const double step_size = lr_ / bias_correction1;
        const double bias_correction2_sqrt = std::sqrt(bias_correction2);
        const double l2 = decoupled ? 0.0 : weight_decay_;
        const double shrink = decoupled ? 1.0 - lr_ * weight_decay_ : 1.0;
        adam_kernel(params_[i].data(), grad.data(), exp_avg_[i].data(), exp_avg_sq_[i].data(), params_[i].numel(),
                    shrink, l2, beta1_, beta2_, step_size, 1.0 / bias_correction2_sqrt, eps_);
    }
}

AdamW::AdamW(std::vector<ad::Tensor> params, double lr, double beta1, double beta2, double eps, double weight_decay)
    : Adam(std::move(params), lr, beta1, beta2, eps, weight_decay) {}

void AdamW::step() { update(true); }

// ----------------------------------------------------------------------------- clipping

double clip_grad_norm(const std::vector<ad::Tensor>& params, double max_norm) {
    AD_CHECK(max_norm > 0, "clip_grad_norm: expected max_norm > 0, got " << max_norm);
    double sum_sq = 0.0;
    for (const auto& p : params) {
        ad::Tensor g = p.grad();
        if (!g.defined()) continue;
        for (long k = 0; k < g.numel(); ++k) sum_sq += g[k] * g[k];
    }
    const double norm = std::sqrt(sum_sq);
    const double coef = max_norm / (norm + 1e-6);  // 1e-6 as torch: no division by zero at norm 0
    if (coef < 1.0) {
        // Two parameters may hold the same gradient storage (the engine passes g through add's
        // backward unchanged): scale each storage once.
        std::unordered_set<const double*> scaled;
        for (const auto& p : params) {
            ad::Tensor g = p.grad();
            if (!g.defined() || !scaled.insert(g.data()).second) continue;
            for (long k = 0; k < g.numel(); ++k) g.data()[k] *= coef;
        }
    }
    return norm;
}

}  // namespace nn
