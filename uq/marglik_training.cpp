// Marginal-likelihood training (Immer et al. 2021, Algorithm 1; steps in marglik_training.hpp
// and docs/uq.md).
#include "uq/marglik_training.hpp"

#include <cmath>
#include <limits>
#include <memory>

#include "autodiff/graph.hpp"
#include "autodiff/ops.hpp"
#include "nn/optim.hpp"
#include "uq/likelihood.hpp"

namespace uq {

using ad::Tensor;
using ad::operator<<;

namespace {

void check_options(const MarglikTrainingOptions& o) {
    const char* w = "marglik_training";
    AD_CHECK(o.n_epochs >= 0, w << ": expected n_epochs >= 0, got " << o.n_epochs);
    AD_CHECK(std::isfinite(o.lr) && o.lr > 0, w << ": expected lr > 0, got " << o.lr);
    AD_CHECK(std::isfinite(o.lr_hyp) && o.lr_hyp > 0, w << ": expected lr_hyp > 0, got " << o.lr_hyp);
    AD_CHECK(o.n_hypersteps >= 1, w << ": expected n_hypersteps >= 1, got " << o.n_hypersteps);
    AD_CHECK(o.marglik_frequency >= 1, w << ": expected marglik_frequency >= 1, got " << o.marglik_frequency);
    AD_CHECK(o.n_epochs_burnin >= 0, w << ": expected n_epochs_burnin >= 0, got " << o.n_epochs_burnin);
    AD_CHECK(std::isfinite(o.prior_prec_init) && o.prior_prec_init > 0,
             w << ": expected prior_prec_init > 0, got " << o.prior_prec_init);
    AD_CHECK(std::isfinite(o.sigma_noise_init) && o.sigma_noise_init > 0,
             w << ": expected sigma_noise_init > 0, got " << o.sigma_noise_init);
    AD_CHECK(std::isfinite(o.temperature) && o.temperature > 0, w << ": expected temperature > 0, got " << o.temperature);
    AD_CHECK(o.batch_size >= 0, w << ": expected batch_size >= 0, got " << o.batch_size);
    AD_CHECK(o.momentum >= 0 && o.weight_decay >= 0,
             w << ": expected momentum >= 0 and weight_decay >= 0, got " << o.momentum << " and " << o.weight_decay);
    AD_CHECK(!(o.hessian_structure == HessianStructure::kron && o.prior_structure == PriorStructure::diagonal),
             w << ": expected prior_structure scalar or layerwise for hessian_structure kron, got diagonal; "
                  "a per-parameter prior breaks the Kronecker structure");
}

// delta [P]: tau [1] broadcast, tau [n_tensors] repeated over each tensor, or tau [P] itself.
Tensor expand_to_params(const Tensor& tau, PriorStructure structure, const std::vector<Tensor>& params) {
    if (structure == PriorStructure::diagonal) return tau;
    std::vector<Tensor> parts;
    for (size_t q = 0; q < params.size(); ++q)
        parts.push_back(Tensor::full({params[q].numel()}, structure == PriorStructure::scalar ? tau[0] : tau[q]));
    return ad::concat(parts, 0);
}

}  // namespace

MarglikTrainingResult marglik_training(nn::MLP& mlp, const Tensor& x, const Tensor& targets,
                                       const MarglikTrainingOptions& o) {
    std::vector<Tensor> params = mlp.parameters();  // model order = theta order
    check_options(o);
    AD_CHECK(x.defined() && x.ndim() == 2 && x.dim(1) == mlp.n_in() && x.dim(0) > 0,
             "marglik_training: expected inputs x [N, " << mlp.n_in() << "] with N > 0, got "
                                                        << (x.defined() ? x.shape() : ad::Shape{}));
    const long N = x.dim(0), C = mlp.n_out();
    const bool cls = o.likelihood == Likelihood::classification;
    const Tensor X = x.detach();
    const Tensor Y = check_targets(o.likelihood, targets, N, C, "marglik_training");
    // One-hot labels for the cross-entropy (constant).
    Tensor onehot;
    if (cls) {
        onehot = Tensor::zeros({N, C});
        for (long i = 0; i < N; ++i) onehot.data()[i * C + static_cast<long>(Y[i])] = 1.0;
    }
    long P = 0;
    for (const auto& p : params) P += p.numel();
    const long n_tau = o.prior_structure == PriorStructure::scalar      ? 1
                       : o.prior_structure == PriorStructure::layerwise ? static_cast<long>(params.size())
                                                                         : P;

    // 1. Hyperparameters in log space; Adam on (log tau, log sigma) (log sigma only when trained).
    Tensor log_tau = Tensor::full({n_tau}, std::log(o.temperature * o.prior_prec_init)).set_requires_grad(true);
    Tensor log_sigma = Tensor::full({1}, std::log(o.sigma_noise_init)).set_requires_grad(true);
    const bool train_sigma = !cls && !o.fix_sigma_noise;
    std::vector<Tensor> hypers{log_tau};
    if (train_sigma) hypers.push_back(log_sigma);
    nn::Adam hyper_opt(hypers, o.lr_hyp);

    std::unique_ptr<nn::Optimizer> opt;
    if (o.optimizer == ModelOptimizer::adam)
        opt = std::make_unique<nn::Adam>(params, o.lr, 0.9, 0.999, 1e-8, o.weight_decay);
    else
        opt = std::make_unique<nn::SGD>(params, o.lr, o.momentum, o.weight_decay);
    const long bs = o.batch_size > 0 ? std::min(o.batch_size, N) : N;
    const long n_batches = (N + bs - 1) / bs;
    std::unique_ptr<nn::LrSchedule> schedule;
    if (o.scheduler != nn::ScheduleKind::constant || o.scheduler_warmup > 0)
        schedule = std::make_unique<nn::LrSchedule>(o.lr, o.scheduler_warmup, o.scheduler,
                                                    o.scheduler_steps > 0 ? o.scheduler_steps : o.n_epochs * n_batches,
                                                    o.schedule_options);

    auto current_sigma = [&] { return cls ? 1.0 : std::exp(log_sigma[0]); };
    auto laplace_options = [&](const Tensor& tau, double sigma) {
        LaplaceOptions lo;
        lo.likelihood = o.likelihood;
        lo.structure = o.hessian_structure;
        lo.sigma_noise = sigma;
        lo.prior_precision = tau.detach().clone();
        lo.temperature = o.temperature;
        return lo;
    };
    FitOptions fit_options;
    fit_options.batch_size = o.batch_size;

    MarglikTrainingResult r{MlpLaplace(mlp, laplace_options(ad::exp(log_tau.detach()), current_sigma())), {}, {}, {}, 0};
    double best = std::numeric_limits<double>::infinity();
    nn::NamedTensors best_weights;
    Tensor best_tau;
    double best_sigma = 1.0;
    long step = 0;

    for (long epoch = 1; epoch <= o.n_epochs; ++epoch) {
        // 2. One pass over the batches: loss = NLL_mean + 1/2 delta theta^2 / N / crit.
        double epoch_loss = 0;
        for (long s = 0; s < N; s += bs) {
            const long e = std::min(N, s + bs), m = e - s;
            const double sigma = current_sigma();
            const double crit = cls ? o.temperature : o.temperature / (2.0 * sigma * sigma);
            Tensor delta = expand_to_params(ad::exp(log_tau.detach()), o.prior_structure, params);  // [P], a constant
            if (schedule) opt->set_lr(schedule->lr_at(step));
            opt->zero_grad();
            Tensor f = mlp.forward(ad::slice(X, 0, s, e));
            Tensor nll = cls ? ad::neg(ad::mean(ad::sum(ad::mul(ad::slice(onehot, 0, s, e), ad::log_softmax(f, 1)), {1})))
                             : ad::mean(ad::square(ad::sub(f, ad::slice(Y, 0, s, e))));
            std::vector<Tensor> flat;
            for (const auto& p : params) flat.push_back(ad::reshape(p, {p.numel()}));
            Tensor theta = ad::concat(flat, 0);
            Tensor reg = ad::mul(ad::sum(ad::mul(ad::mul(delta, theta), theta)), 0.5 / double(N) / crit);
            Tensor loss = ad::add(nll, reg);
            ad::backward(loss, params);
            opt->step();
            ++step;
            epoch_loss += loss.item() * double(m);
        }
        r.losses.push_back(epoch_loss / double(N));

        MarglikProgress progress;
        progress.epoch = epoch;
        progress.loss = r.losses.back();
        const bool hyper = epoch % o.marglik_frequency == 0 && epoch >= o.n_epochs_burnin;
        if (hyper) {
            // 3. Laplace at the current weights, then n_hypersteps Adam steps on -lml.
            MlpLaplace la(mlp, laplace_options(ad::exp(log_tau.detach()), current_sigma()));
            la.set_kron_sigma_gradient(o.kron_sigma_gradient);
            la.fit(X, Y, fit_options);
            Tensor tau_before;
            double sigma_before = 1.0;
            for (long k = 0; k < o.n_hypersteps; ++k) {
                hyper_opt.zero_grad();
                Tensor tau = ad::exp(log_tau);
                Tensor sigma = train_sigma ? ad::exp(log_sigma) : Tensor::full({1}, la.sigma_noise());
                tau_before = tau.detach().clone();
                sigma_before = sigma.item();
                Tensor neg = ad::neg(la.log_marginal_likelihood(tau, sigma));
                std::vector<Tensor> g = ad::grad(neg, hypers, ad::CreateGraph::no);
                for (size_t q = 0; q < hypers.size(); ++q) hypers[q].set_grad(g[q]);
                hyper_opt.step();
                r.margliks.push_back(neg.item());
            }
            // 4. Keep the weights and the hypers *before* the last update of the best epoch.
            if (r.margliks.back() < best) {
                best = r.margliks.back();
                best_weights.clear();
                for (const auto& kv : mlp.state_dict()) best_weights.emplace_back(kv.first, kv.second.detach().clone());
                best_tau = tau_before;
                best_sigma = sigma_before;
                r.best_epoch = epoch;
            }
            progress.hyper_step = true;
            progress.neg_log_marglik = r.margliks.back();
        }
        if (o.progress) {
            progress.prior_precision = ad::exp(log_tau.detach());
            progress.sigma_noise = current_sigma();
            o.progress(progress);
        }
    }

    // 5. The best weights with the best hypers (or the last ones when no hyper step ran).
    Tensor tau_final = ad::exp(log_tau.detach());
    double sigma_final = current_sigma();
    if (r.best_epoch > 0) {
        mlp.load_state_dict(best_weights);
        tau_final = best_tau;
        sigma_final = best_sigma;
    }
    r.laplace = MlpLaplace(mlp, laplace_options(tau_final, sigma_final));
    r.laplace.set_kron_sigma_gradient(o.kron_sigma_gradient);
    r.laplace.fit(X, Y, fit_options);
    for (const auto& kv : mlp.state_dict()) r.weights.emplace_back(kv.first, kv.second.detach().clone());
    return r;
}

}  // namespace uq
