// Graph-free last-layer features of a SOAP-BPNN with hidden layers, for the LLPR covariance pass
// (uq::soap_bpnn_last_layer_features; costs in docs/llpr.md). Per species Z, with x [D] an atom's
// SOAP row, u = LayerNorm(x) = gamma . (x - mu) / sigma + beta and the first layer a = W u + b:
//   a = (x (gamma . W)^T - mu r) / sigma + (W beta + b),   r[o] = sum_k gamma_k W[o, k],
// mu = sum_k x_k / D, sigma = sqrt(sum_k (x_k - mu)^2 / D + eps) (biased, as nn::LayerNorm): one
// GEMM on the raw rows, no normalised copy. The SOAP rows are symmetric in (a1, a2), so they are
// taken packed (desc::SoapPacked, Dp = 1344 of D = 2556 at the defaults) and the weights folded:
//   Wp[o, t] = (gamma . W)[o, full(t)] + (gamma . W)[o, mirror(t)]   (once on the diagonal),
// and mu, sigma^2 are the sums above with multiplicity(t). Then f = SiLU(a), the further hidden
// layers (and an mlp head) f <- SiLU(W_k f + b_k), and phi_s[(Z, :)] = sum of f over the atoms of
// species Z in structure s. Without layernorm: a = x_packed Wp^T + b with gamma = 1.
// Rows of all atoms of one species in a block of frames go through one GEMM per layer. A block's
// result does not depend on which thread computes it (bit-identical for any thread count).
#pragma once
#include <vector>

#include "descriptors/soap_packed.hpp"
#include "descriptors/system.hpp"
#include "nn/layer_norm.hpp"
#include "nn/linear.hpp"

namespace uq {

/// The per-atom network of one species: optional layernorm, then layers (at least one), each
/// followed by SiLU.
struct SpeciesLayers {
    const nn::LayerNorm* layernorm = nullptr;
    std::vector<const nn::Linear*> layers;
};

class LastLayerFeatureKernel {
  public:
    /// species[k] is the atomic number of nets[k]; soap must outlive the kernel. The weights are
    /// copied (folded) here: later changes to the model are not seen.
    LastLayerFeatureKernel(const desc::Soap& soap, const std::vector<int>& species, const std::vector<SpeciesLayers>& nets,
                           double cutoff);

    long n_features() const { return P_; }  ///< P = S d, the width of phi

    /// phi rows [n_frames, P] of frames[0 .. n_frames-1] into out (row-major), and each frame's
    /// atom count into n_atoms (may be null). Thread-safe (scratch is per thread).
    void compute(const desc::System* frames, long n_frames, double* out, long* n_atoms) const;

  private:
    struct Species {
        int Z = 0;
        bool layernorm = false;
        double eps = 0;
        std::vector<double> wp;    ///< [Dp, d1] folded first layer, transposed
        std::vector<double> r;     ///< [d1] sum_k gamma_k W[o, k]
        std::vector<double> c;     ///< [d1] W beta + b
        long d1 = 0;
        std::vector<std::vector<double>> w, b;  ///< further layers: [n_out, n_in], [n_out] (b may be empty)
        std::vector<long> n_out;
    };
    desc::SoapPacked packed_;
    double cutoff_;
    long D_, Dp_, d_, P_;
    std::vector<Species> species_;
    std::vector<int> lookup_;  ///< Z -> k, -1 if absent
    std::vector<long> diag_;   ///< packed positions of the diagonal entries (multiplicity 1)
};

}  // namespace uq
