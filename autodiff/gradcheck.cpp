#include "autodiff/gradcheck.hpp"

#include <cmath>
#include <iostream>

#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"

namespace ad {

namespace {

double dot(const Tensor& a, const Tensor& b) {
    double s = 0;
    for (long i = 0; i < a.numel(); ++i) s += a[i] * b[i];
    return s;
}

// Fresh leaf copies of the inputs (requires_grad as the originals).
Inputs fresh(const Inputs& xs) {
    Inputs out;
    for (const Tensor& x : xs) {
        Tensor c = x.clone();
        if (x.requires_grad()) c.set_requires_grad(true);
        out.push_back(c);
    }
    return out;
}

}  // namespace

bool gradcheck(const Function& f, const Inputs& inputs, const GradcheckOptions& opt) {
    GradMode on(true);
    Rng rng(opt.seed);
    Inputs xs = fresh(inputs);
    Tensor y = f(xs);
    Tensor v = rng.normal(y.shape());
    std::vector<Tensor> wrt;
    std::vector<size_t> wrt_index;
    for (size_t k = 0; k < xs.size(); ++k)
        if (xs[k].requires_grad()) {
            wrt.push_back(xs[k]);
            wrt_index.push_back(k);
        }
    AD_CHECK(!wrt.empty(), "gradcheck: expected at least one input that requires grad");
    std::vector<Tensor> g = y.requires_grad() ? grad({y}, wrt, {v}) : std::vector<Tensor>();
    if (g.empty())
        for (const Tensor& w : wrt) g.push_back(Tensor::zeros(w.shape()));

    auto value_at = [&](size_t k, const Tensor& d, double step) {
        Inputs p = fresh(xs);
        double* pk = p[k].data();
        for (long i = 0; i < d.numel(); ++i) pk[i] += step * d[i];
        return dot(f(p), v);
    };

    bool ok = true;
    for (size_t j = 0; j < wrt.size(); ++j) {
        size_t k = wrt_index[j];
        const long n = xs[k].numel();
        const bool full = n <= opt.max_full;
        const long probes = full ? n : opt.n_directions;
        for (long t = 0; t < probes; ++t) {
            Tensor d = full ? Tensor::zeros(xs[k].shape()) : rng.normal(xs[k].shape());
            if (full) d.data()[t] = 1.0;
            double numeric = (value_at(k, d, opt.eps) - value_at(k, d, -opt.eps)) / (2 * opt.eps);
            double analytic = dot(g[j], d);
            if (!(std::fabs(analytic - numeric) <= opt.atol + opt.rtol * std::fabs(numeric))) {
                std::cerr << "gradcheck: input " << k << (full ? ", element " : ", direction ") << t
                          << ": analytic " << analytic << " vs numeric " << numeric << "\n";
                ok = false;
            }
        }
    }
    return ok;
}

bool gradgradcheck(const Function& f, const Inputs& inputs, const GradcheckOptions& opt) {
    GradMode on(true);
    Rng rng(opt.seed + 1);
    Inputs xs = fresh(inputs);
    Tensor y0 = f(xs);
    Tensor v = rng.normal(y0.shape()).set_requires_grad(true);
    std::vector<Tensor> us;
    std::vector<size_t> wrt_index;
    for (size_t k = 0; k < xs.size(); ++k)
        if (xs[k].requires_grad()) {
            us.push_back(rng.normal(xs[k].shape()));
            wrt_index.push_back(k);
        }
    // h(x..., v) = sum_k <d<f(x), v>/dx_k, u_k>
    Function h = [&](const Inputs& z) {
        Inputs x(z.begin(), z.end() - 1);
        const Tensor& vv = z.back();
        Tensor y = f(x);
        std::vector<Tensor> wrt;
        for (size_t k : wrt_index) wrt.push_back(x[k]);
        if (!y.requires_grad()) return Tensor::scalar(0.0);
        std::vector<Tensor> g = grad({y}, wrt, {vv}, CreateGraph::yes);
        Tensor acc = Tensor::scalar(0.0);
        for (size_t j = 0; j < g.size(); ++j) acc = add(acc, sum(mul(g[j], us[j])));
        return acc;
    };
    Inputs z = xs;
    z.push_back(v);
    return gradcheck(h, z, opt);
}

}  // namespace ad
