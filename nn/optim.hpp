// Optimisers with torch's update rules (torch.optim.SGD, Adam, AdamW; non-amsgrad, dampening 0).
// With g the gradient of parameter p, lr the learning rate, t the step count of p (from 1):
//   SGD:   g += wd p;  buf = mu buf + g (buf = g at the first step);  g = nesterov ? g + mu buf : buf;
//          p -= lr g
//   Adam:  g += wd p  (L2 in the gradient);  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//          p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)        (Kingma & Ba 2015, Alg. 1)
//   AdamW: p *= 1 - lr wd  (decoupled decay, Loshchilov & Hutter 2019, Alg. 2), then Adam with wd = 0
// Updates are plain loops over .data() into state buffers allocated once at construction: a step
// records no graph and allocates nothing. Parameters whose grad is undefined are skipped.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "autodiff/tensor.hpp"
#include "nn/module.hpp"

namespace nn {

class Optimizer {
  public:
    Optimizer(std::vector<ad::Tensor> params, double lr);
    virtual ~Optimizer() = default;
    Optimizer(const Optimizer&) = delete;
    Optimizer& operator=(const Optimizer&) = delete;

    /// Updates every parameter that has a gradient, in place.
    virtual void step() = 0;
    /// Drops the accumulated gradients of the parameters.
    void zero_grad();
    double lr() const { return lr_; }
    void set_lr(double lr);
    const std::vector<ad::Tensor>& params() const { return params_; }

    /// A copy of the optimiser state: "lr" ([]) and the per-parameter buffers, named
    /// "<buffer>.<parameter index>" ("exp_avg.3") or "step" ([n_params] step counts).
    NamedTensors state() const;
    /// Restores a state() snapshot (same optimiser kind and parameter shapes); strict on names.
    void load_state(const NamedTensors& state);

  protected:
    /// Adds a zero-initialised state buffer (called by subclass constructors); returns it.
    ad::Tensor add_buffer(const std::string& name, const ad::Shape& shape);

    std::vector<ad::Tensor> params_;
    double lr_;

  private:
    NamedTensors buffers_;
};

class SGD : public Optimizer {
  public:
    /// Buffers "momentum_buffer.i" when momentum != 0. nesterov needs momentum > 0.
    SGD(std::vector<ad::Tensor> params, double lr, double momentum = 0.0, double weight_decay = 0.0,
        bool nesterov = false);
    void step() override;

  private:
    double momentum_, weight_decay_;
    bool nesterov_;
    std::vector<ad::Tensor> momentum_buffer_;
};

class Adam : public Optimizer {
  public:
    /// weight_decay is L2 added to the gradient, as torch.optim.Adam.
    /// Buffers "step" [n_params], "exp_avg.i", "exp_avg_sq.i".
    Adam(std::vector<ad::Tensor> params, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
         double weight_decay = 0.0);
    void step() override;

  protected:
    /// One Adam update; `decoupled` selects AdamW's decay.
    void update(bool decoupled);

    double beta1_, beta2_, eps_, weight_decay_;
    ad::Tensor step_;  ///< [n_params] step count of each parameter
    std::vector<ad::Tensor> exp_avg_, exp_avg_sq_;
};

class AdamW : public Adam {
  public:
    /// weight_decay is decoupled: p *= 1 - lr wd before the Adam update.
    AdamW(std::vector<ad::Tensor> params, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
          double weight_decay = 0.01);
    void step() override;
};

/// Scales all gradients by max_norm / (norm + 1e-6) when that is < 1, where norm is the 2-norm of
/// all gradients concatenated; returns norm (before clipping). Parameters without grad are skipped.
double clip_grad_norm(const std::vector<ad::Tensor>& params, double max_norm);

}  // namespace nn
