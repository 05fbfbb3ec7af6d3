// Speed of last-layer Laplace, the workload of ../shared/peers/laplace_torch_timing.json (float64, CPU):
//   N = 10,000 training points with D = 256 last-layer features, a last Linear 256 -> C with bias
//   (regression C = 1, P = 257; classification C = 10, P = 2570), fitted in mini-batches of 500;
//   Full, Kron and Diag curvature. Timed, each once in this order (as the peer, one run each):
//     fit          curvature over the 20 mini-batches (features given; the peer's fit also ran the
//                  network forward and detected the last layer)
//     predictive   on 1000 test points: GLM f_mu and f_var [n, C, C]; classification adds probit
//                  probabilities (laplace-torch's la(x) defaults: pred_type glm, link_approx probit)
//     lml          log marginal likelihood at the current hyperparameters (tau = 1, sigma = 1)
//     optimise     100 Adam steps on log tau (scalar prior, lr 0.1, from tau = 1; method 'marglik')
// Data: the peer's script (time_laplace.py) is not in shared/, only its figures: it used random
// data of these sizes. Here phi ~ N(0, 1), W and b ~ U(-1/sqrt(D), 1/sqrt(D)) (torch's default
// Linear init), regression targets y ~ N(0, 1), labels uniform over the classes; fixed seed, so
// every run does the same arithmetic (the timings hardly depend on the values). The rows run one
// after another in one process, the first of each size on fresh memory (page faults), as the
// peer's single run per worker process did.
// Peer column: laplace-torch float64, 1 thread when recorded (Full rows), else its float32
// 1-thread figure (marked "f32"; Kron and Diag were only timed in float32).
// usage: bench_laplace SHARED_DIR [threads] [ROW]   (ROW, e.g. "full classification": only that row,
// for profiling)
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_util.hpp"
#include "autodiff/blas.hpp"
#include "autodiff/error.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/random.hpp"
#include "nn/json.hpp"
#include "uq/last_layer_laplace.hpp"

using Clock = std::chrono::steady_clock;
using ad::Tensor;

namespace {

constexpr long kN = 10000, kD = 256, kNTest = 1000, kBatch = 500, kClasses = 10, kSteps = 100;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Times {
    double fit = 0, predictive = 0, lml = 0, optimise = 0;
};

// One (structure, likelihood) row: fit, predictive, lml and the optimisation, each timed once.
Times run(uq::HessianStructure s, uq::Likelihood lik, double& sink) {
    const long C = lik == uq::Likelihood::regression ? 1 : kClasses;
    ad::Rng rng(20250422);
    Tensor phi = rng.normal({kN, kD});
    Tensor phi_test = rng.normal({kNTest, kD});
    const double bound = 1.0 / std::sqrt(double(kD));
    Tensor W = rng.uniform({C, kD}, -bound, bound);
    Tensor b = rng.uniform({C}, -bound, bound);
    Tensor y;
    if (lik == uq::Likelihood::regression) {
        y = rng.normal({kN, C});
    } else {
        y = Tensor::empty({kN});
        for (long i = 0; i < kN; ++i) y.data()[i] = double(rng.below(kClasses));
    }
    uq::LaplaceOptions o;
    o.likelihood = lik;
    o.structure = s;
    uq::LastLayerLaplace la(W, b, o);

    Times t;
    auto t0 = Clock::now();
    uq::FitOptions fo;
    fo.batch_size = kBatch;
    la.fit(phi, y, fo);
    t.fit = seconds_since(t0);

    t0 = Clock::now();
    if (lik == uq::Likelihood::classification) {
        Tensor p = la.predict_probs(phi_test, uq::LinkApprox::probit);
        sink += p[0];
    } else {
        uq::GlmPredictive g = la.glm_predictive(phi_test);
        sink += g.f_var[0];
    }
    t.predictive = seconds_since(t0);

    t0 = Clock::now();
    sink += la.log_marginal_likelihood();
    t.lml = seconds_since(t0);

    t0 = Clock::now();
    uq::MarglikOptions mo;
    mo.n_steps = kSteps;
    sink += la.optimize_prior_precision_marglik(mo)[0];
    t.optimise = seconds_since(t0);
    return t;
}

// The peer's 1-thread record for a row: float64 when present, else float32 (f32 = true).
const nn::Json* peer_record(const nn::Json& peers, const std::string& cls, const std::string& lik, bool& f32) {
    if (!peers.is_object() || !peers.contains("results")) return nullptr;
    const nn::Json* found = nullptr;
    for (const char* dtype : {"float64", "float32"}) {
        for (const nn::Json& r : peers.at("results").as_array()) {
            if (r.at("laplace").as_string() == cls && r.at("likelihood").as_string() == lik &&
                r.at("backend").as_string() == "BackPackGGN" && r.at("dtype").as_string() == dtype &&
                r.at("threads").as_number() == 1)
                found = &r;
        }
        if (found) {
            f32 = std::string(dtype) == "float32";
            return found;
        }
    }
    return nullptr;
}

double field(const nn::Json* r, const char* key) {
    const nn::Json* v = r ? r->find(key) : nullptr;
    return v && v->is_number() ? v->as_number() : 0.0;
}

// "  ours   peer  ratio" for one measurement; a missing peer figure prints as "-".
// Seconds with 3 significant digits in 8 columns; ratios with 2 (at least one decimal below 10).
std::string cell(double ours, double peer) {
    auto secs = [](double v) {
        char b[32];
        if (v >= 100) std::snprintf(b, sizeof b, "%8.1f", v);
        else if (v >= 0.01) std::snprintf(b, sizeof b, "%8.3g", v);
        else std::snprintf(b, sizeof b, "%8.1e", v);
        return std::string(b);
    };
    char r[32] = "      -";
    if (peer > 0) std::snprintf(r, sizeof r, peer / ours < 10 ? "%6.1fx" : "%6.0fx", peer / ours);
    return secs(ours) + " " + (peer > 0 ? secs(peer) : std::string("       -")) + " " + r;
}

}  // namespace

int main(int argc, char** argv) {
    std::string shared = argc > 1 ? argv[1] : "../shared";
    int threads = argc > 2 ? std::atoi(argv[2]) : 1;
    const std::string only = argc > 3 ? argv[3] : "";
    ad::blas::set_num_threads(threads);
    nn::Json peers = read_json(shared + "/peers/laplace_torch_timing.json");

    std::printf("Last-layer Laplace, N 10000 x D 256, batch 500, float64, %d thread%s; seconds: atomgrad, "
                "laplace-torch 1 thread (ratio)\n",
                threads, threads == 1 ? "" : "s");
    std::printf("  %-24s %-25s   %-25s   %-25s   %-25s\n", "row", "fit", "predictive 1000", "lml",
                "optimise 100 steps");
    double sink = 0;
    std::string slower;  // the cells where laplace-torch is faster
    double full_cls_fit_ratio = 0;
    for (uq::Likelihood lik : {uq::Likelihood::regression, uq::Likelihood::classification}) {
        for (uq::HessianStructure s : {uq::HessianStructure::full, uq::HessianStructure::kron, uq::HessianStructure::diag}) {
            const std::string name = uq::to_string(s), lname = uq::to_string(lik);
            const std::string cls = (s == uq::HessianStructure::full   ? "FullLLLaplace"
                                     : s == uq::HessianStructure::kron ? "KronLLLaplace"
                                                                       : "DiagLLLaplace");
            if (!only.empty() && only != name + " " + lname) continue;
            Times t = run(s, lik, sink);
            bool f32 = false;
            const nn::Json* r = peer_record(peers, cls, lname, f32);
            const double pf = field(r, "fit_s"), pp = field(r, "predictive_1000_s"),
                         pl = field(r, "log_marginal_likelihood_s"),
                         po = field(r, "optimize_prior_precision_marglik_100_steps_s");
            const std::string label = name + " " + (lik == uq::Likelihood::regression ? "regr." : "class.") +
                                      (f32 ? " (peer f32)" : "");
            std::printf("  %-24s %s   %s   %s   %s\n", label.c_str(), cell(t.fit, pf).c_str(), cell(t.predictive, pp).c_str(),
                        cell(t.lml, pl).c_str(), cell(t.optimise, po).c_str());
            const double ours[] = {t.fit, t.predictive, t.lml, t.optimise}, theirs[] = {pf, pp, pl, po};
            const char* what[] = {"fit", "predictive", "lml", "optimise"};
            for (int k = 0; k < 4; ++k)
                if (theirs[k] > 0 && ours[k] >= theirs[k]) slower += " " + name + "/" + lname + "/" + what[k];
            if (s == uq::HessianStructure::full && lik == uq::Likelihood::classification && pf > 0)
                full_cls_fit_ratio = pf / t.fit;
        }
    }
    std::printf("  goal: full classification fit >= 20x: %s (%.0fx); faster in every cell: %s%s\n",
                full_cls_fit_ratio >= 20 ? "met" : "NOT met", full_cls_fit_ratio, slower.empty() ? "met" : "NOT met, slower:",
                slower.c_str());
    return std::isfinite(sink) ? 0 : 1;
}
