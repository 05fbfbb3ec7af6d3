// Helpers for tests of modules: central-difference checks that perturb tensors in place, so they
// work for a module's own parameters (ad::gradcheck copies its inputs, which a module cannot use),
// and a temporary directory for checkpoint files.
#pragma once
#include <atomic>
#include <cmath>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <unistd.h>
#include <vector>

#include "tests/helpers.hpp"

namespace nn_testing {

inline double dot(const ad::Tensor& a, const ad::Tensor& b) {
    double s = 0;
    for (long i = 0; i < a.numel(); ++i) s += a[i] * b[i];
    return s;
}

/// Compares grad <f(), v> w.r.t. each tensor of `wrt` (leaves that f reads, e.g. parameters and
/// an input that requires grad) with central differences, perturbing the tensors in place.
/// Tolerances as ad::gradcheck: float64 central differences with eps 1e-6 are good to ~1e-8.
inline bool inplace_gradcheck(const std::function<ad::Tensor()>& f, const std::vector<ad::Tensor>& wrt,
                              uint64_t seed = 0, double eps = 1e-6, double atol = 1e-6, double rtol = 1e-4) {
    ad::GradMode on(true);
    ad::Rng rng(seed);
    ad::Tensor y = f();
    ad::Tensor v = rng.normal(y.shape());
    std::vector<ad::Tensor> g;
    if (y.requires_grad())
        g = ad::grad({y}, wrt, {v});
    else
        for (const auto& w : wrt) g.push_back(ad::Tensor::zeros(w.shape()));
    bool ok = true;
    for (size_t j = 0; j < wrt.size(); ++j) {
        const long n = wrt[j].numel();
        const bool full = n <= 64;
        const long probes = full ? n : 6;
        for (long t = 0; t < probes; ++t) {
            ad::Tensor d = full ? ad::Tensor::zeros(wrt[j].shape()) : rng.normal(wrt[j].shape());
            if (full) d.data()[t] = 1.0;
            ad::Tensor saved = wrt[j].clone();
            double* p = wrt[j].data();
            auto value_at = [&](double step) {
                for (long i = 0; i < n; ++i) p[i] = saved[i] + step * d[i];
                return dot(f(), v);  // with grad on: f may itself differentiate (gradgradcheck)
            };
            double numeric = (value_at(eps) - value_at(-eps)) / (2 * eps);
            for (long i = 0; i < n; ++i) p[i] = saved[i];
            double analytic = dot(g[j], d);
            if (!(std::fabs(analytic - numeric) <= atol + rtol * std::fabs(numeric))) {
                std::cerr << "inplace_gradcheck: tensor " << j << ", probe " << t << ": analytic " << analytic
                          << " vs numeric " << numeric << "\n";
                ok = false;
            }
        }
    }
    return ok;
}

/// Second derivatives: inplace_gradcheck of h = sum_k <d<f(), v>/d wrt_k, u_k> (create_graph).
inline bool inplace_gradgradcheck(const std::function<ad::Tensor()>& f, const std::vector<ad::Tensor>& wrt,
                                  uint64_t seed = 0) {
    ad::GradMode on(true);
    ad::Rng rng(seed + 1);
    ad::Tensor v = rng.normal(f().shape());
    std::vector<ad::Tensor> us;
    for (const auto& w : wrt) us.push_back(rng.normal(w.shape()));
    auto h = [&]() {
        ad::Tensor y = f();
        std::vector<ad::Tensor> g = ad::grad({y}, wrt, {v}, ad::CreateGraph::yes);
        ad::Tensor acc = ad::Tensor::scalar(0.0);
        for (size_t j = 0; j < g.size(); ++j) acc = acc + ad::sum(g[j] * us[j]);
        return acc;
    };
    return inplace_gradcheck(h, wrt, seed + 2);
}

/// A fresh directory under the system temp dir, removed with its contents at scope exit.
struct TempDir {
    std::filesystem::path path;
    TempDir() {
        static std::atomic<int> counter{0};
        path = std::filesystem::temp_directory_path() /
               ("atomgrad_nn_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return (path / name).string(); }
};

}  // namespace nn_testing
