// An LLPR-wrapped atomistic model (metatrain's `llpr` architecture around `soap_bpnn`, `nanopet`
// or `pet`; the SOAP-BPNN has graph-free fast paths below): a trained model with its composition baseline and energy scale, the LLPR posterior of its energy head
// (uq/llpr) fitted on a training split and calibrated on a validation split, and optionally an
// ensemble of last-layer weights drawn from that posterior. Math: docs/llpr.md.
//
// Notation: structures s, atoms i j, species Z (S of them), last-layer width d, features c of
// phi (S d of them), members k (K of them), Cartesian a. The network gives E_s = phi_s w^T with
// phi_s = sum_{i in s} phi_i [S d]; in eV, E_s = phi_s w_e^T + b_s with w_e = scale w and b_s
// the terms outside the network (composition baseline, ZBL when the model has it). Ensemble member
// k: E_sk = phi_s W_k^T + b_s, W [K, S d].
// Member forces F_ik = -G_i W_k^T with G [n_atoms, 3, S d] = d phi_s / dR_i, the Jacobian of the
// summed last-layer features; stress likewise from the strain rows of the SOAP Jacobian.
// Any other AtomisticModel (NanoPET, PET): the network energy may hold terms outside phi w^T
// (PET's last-layer biases b_n N_s + b_e sum c_ij); with E, F, stress the model's own (scaled)
// predictions, members are E_sk = E_s + phi_s (W_k - w_e)^T, F_k = F - G (W_k - w_e)^T,
// stress_k = stress + G_eps (W_k - w_e)^T / V (the same for SoapBpnn, where the rest is 0).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "descriptors/system.hpp"
#include "nn/atomistic/model.hpp"
#include "nn/bpnn/bpnn.hpp"
#include "nn/checkpoint.hpp"
#include "uq/llpr.hpp"

namespace uq {

/// How the posterior's hyperparameters are chosen (docs/llpr.md, "Last-layer Laplace"):
///   llpr     r automatic or given, alpha calibrated on the validation split (metatrain's LLPR)
///   laplace  last-layer Laplace: prior precision tau and noise sigma maximising the log marginal
///            likelihood of the per-atom energies of the training split; r = sigma^2 tau,
///            alpha = sigma (no validation set needed)
enum class UncertaintyMethod { llpr, laplace };
UncertaintyMethod parse_uncertainty_method(const std::string& name);  ///< "llpr" | "laplace"
const char* to_string(UncertaintyMethod method);

/// The hyperparameters of UncertaintyMethod::laplace (eV units: w_e, per-atom energies).
struct LlprLaplaceHypers {
    double prior_precision = 0.0;  ///< tau (eV^-2 per feature unit^2)
    double sigma_noise = 0.0;      ///< sigma (eV/atom)
    double lml = 0.0;              ///< log marginal likelihood at (tau, sigma)
    double gamma = 0.0;            ///< effective number of parameters
    long n_rows = 0;               ///< training structures
    double sse = 0.0;              ///< sum of squared per-atom training residuals (eV^2/atom^2)
    double w_norm2 = 0.0;          ///< |w_e|^2
};

/// The loss of the ensemble weight training (metatrain's names; docs/llpr.md, "Ensemble training"),
/// per row (a per-atom energy or a force component) from the members' predictions y_k and the
/// reference t, mu and v = s^2 the members' mean and unbiased variance, r = t - mu, z = r / s:
///   gaussian_nll    1/2 [log v + r^2 / v]
///   gaussian_crps   s [z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)]   (CRPS of N(mu, v) at t)
///   empirical_crps  1/K sum_k |y_k - t| - 1/(2 K^2) sum_kl |y_k - y_l|   (CRPS of the members)
enum class EnsembleLoss { gaussian_nll, gaussian_crps, empirical_crps };
/// "gaussian_nll_ensemble" | "gaussian_crps_ensemble" | "empirical_crps_ensemble"
EnsembleLoss parse_ensemble_loss(const std::string& name);
const char* to_string(EnsembleLoss loss);  ///< metatrain's name

/// The mean over rows of `loss` for predictions [n, K >= 2] against targets [n] (differentiable in
/// both; with autodiff ops only, so it differentiates twice).
ad::Tensor ensemble_loss(EnsembleLoss loss, const ad::Tensor& predictions, const ad::Tensor& targets);

/// How the wrap is fitted (metatrain's llpr hypers; defaults as metatrain's).
struct LlprFitOptions {
    UncertaintyMethod uncertainty_method = UncertaintyMethod::llpr;
    long batch_size = 8;                      ///< structures per forward pass
    std::optional<double> regularizer;        ///< none: automatic (uq/llpr)
    LlprCalibration calibration = LlprCalibration::absolute_residuals;
    long num_ensemble_members = 0;            ///< energy ensemble size (0: none, else >= 2)
    uint64_t seed = 0;                        ///< ensemble sampling (and shuffling when training it)
    std::string energy_key = "energy";
    /// Training of the ensemble weights after sampling (metatrain's num_epochs, loss, with
    /// train_all_parameters = false: the network stays fixed): epochs of Adam on W [K, S d] over
    /// the training split in batches of batch_size, on `loss` of the members' per-atom energies
    /// (plus forces_weight times `forces_loss` of their force components when forces are used);
    /// the weights with the lowest validation loss are kept. 0: the members stay as sampled.
    long num_epochs = 0;
    double learning_rate = 3e-4;              ///< Adam, constant (metatrain's default value)
    EnsembleLoss loss = EnsembleLoss::gaussian_nll;         ///< on the per-atom energies
    double energy_weight = 1.0;
    /// Forces in the ensemble training: member forces F_k = -G W_k^T against the reference forces
    /// (minus the ZBL forces) under forces_key. Used when forces_key is not empty and every
    /// training frame has that column (with forces_required, a frame without it is an error);
    /// the validation loss has the force term when every validation frame has it.
    std::string forces_key = "forces";
    bool forces_required = false;
    EnsembleLoss forces_loss = EnsembleLoss::gaussian_nll;
    double forces_weight = 1.0;
    /// Add the predictive noise to energy_uncertainty (UncertaintyMethod::laplace only, where it is
    /// the default): sigma_s^2 = alpha^2 phi_s (C + rI)^-1 phi_s^T + N_s^2 sigma_noise^2.
    /// none: true with laplace, false with llpr (true with llpr is an error: it has no noise).
    std::optional<bool> include_noise;
};

/// What the fit measured (for the log).
struct LlprFitInfo {
    double covariance_seconds = 0;   ///< one forward pass over the training split + accumulation
    double fit_seconds = 0;          ///< eigendecomposition
    double calibration_seconds = 0;  ///< forward pass over the validation split + alpha
    double ensemble_seconds = 0;
    long n_train = 0, n_val = 0;
    /// With num_epochs > 0: per epoch the mean training loss (over batches) and the validation
    /// loss (LlprFitOptions::loss, energies per atom in eV/atom, forces in eV/A); entry 0 is the
    /// sampled ensemble, before any step. (Named nll as the default loss.)
    std::vector<double> train_nll, val_nll;
    bool used_forces = false;        ///< the training loss had the force term
    long best_epoch = 0;             ///< epoch whose weights were kept (0: as sampled)
};

/// Whether ensemble forces (and stress) are computed by predict().
enum class EnsembleForces { no, yes };

/// Every output of the wrapped model for a batch (physical units: eV, eV/A, eV/A^3).
/// Names as metatrain's: energy, energy_uncertainty, energy_ensemble, mtt::aux::energy_last_layer_features,
/// features (docs/llpr.md, "Outputs").
struct LlprPrediction {
    ad::Tensor energies;                  ///< [n_structures] E_s (the model's prediction)
    ad::Tensor forces;                    ///< [n_atoms, 3]
    ad::Tensor stress;                    ///< [n_structures, 3, 3] (zeros for non-periodic)
    ad::Tensor energy_uncertainty;        ///< [n_structures] sigma_s = alpha sqrt(phi_s (C + rI)^-1 phi_s^T)
                                          ///< (+ N_s^2 sigma_noise^2 inside the root with include_noise)
    ad::Tensor atom_energy_uncertainty;   ///< [n_atoms] sigma_i = alpha sqrt(phi_i (C + rI)^-1 phi_i^T)
    ad::Tensor features;                  ///< [n_structures, d] sum of the per-atom last-layer inputs
    ad::Tensor last_layer_features;       ///< [n_structures, S d] phi_s
    ad::Tensor atom_last_layer_features;  ///< [n_atoms, S d] phi_i
    // With an ensemble (K > 0):
    ad::Tensor energy_ensemble;           ///< [n_structures, K]
    // With an ensemble and EnsembleForces::yes:
    ad::Tensor forces_ensemble;           ///< [n_atoms, 3, K]
    ad::Tensor stress_ensemble;           ///< [n_structures, 3, 3, K]
    ad::Tensor forces_uncertainty;        ///< [n_atoms, 3] standard deviation over the members (1/(K-1))
    ad::Tensor forces_llpr_uncertainty;   ///< [n_atoms, 3] closed form alpha |G_ia L| (no sampling)
};

/// The outputs of a prediction under metatrain's names (docs/llpr.md, "Outputs"): "energy",
/// "energy_uncertainty" and "mtt::aux::energy_uncertainty", "energy_ensemble" and
/// "mtt::aux::energy_ensemble", "mtt::aux::energy_last_layer_features", "features", "forces",
/// "stress", "energy_ensemble/forces", "energy_ensemble/stress", "forces_uncertainty"; per-atom
/// outputs carry the suffix "/per_atom" ("energy_uncertainty/per_atom",
/// "mtt::aux::energy_last_layer_features/per_atom"). Undefined outputs are left out.
std::vector<std::pair<std::string, ad::Tensor>> named_outputs(const LlprPrediction& prediction);
/// One output by name; an unknown or absent name is an error listing the available ones.
ad::Tensor named_output(const LlprPrediction& prediction, const std::string& name);

/// phi_s [n_structures, S d] of `frames` (the summed last-layer features, as forward()'s
/// last_layer_features, to rounding), without a graph: per batch of batch_size frames the packed
/// SOAP rows and, per species, LayerNorm folded into one first-layer GEMM, then one GEMM per
/// further layer (uq::LastLayerFeatureKernel; a model without hidden layers or head takes the
/// general path: Soap::compute_many, LayerNorm copy, matmuls). The batches run on
/// nn::bpnn::num_threads() threads (ad::parallel_for, OpenBLAS kept to one thread), each writing
/// its own rows: the same bits on any thread count. With n_atoms, also N_s per structure.
ad::Tensor soap_bpnn_last_layer_features(const nn::bpnn::SoapBpnn& model, const std::vector<desc::System>& frames,
                                         long batch_size, std::vector<long>* n_atoms = nullptr);

/// C = sum_s (phi_s / N_s)^T (phi_s / N_s) over `frames` (soap_bpnn_last_layer_features, then
/// one accumulation).
LlprCovariance soap_bpnn_llpr_covariance(const nn::bpnn::SoapBpnn& model, const std::vector<desc::System>& frames,
                                         long batch_size);

/// How soap_bpnn_last_layer_jacobian applies the SOAP Jacobian (docs/llpr.md, "Ensemble forces"):
/// per structure, forward (3 n_s (+ 9) Jacobian-vector products) or reverse (S d vector-Jacobian
/// products); automatic picks the smaller count.
enum class JacobianMode { automatic, forward, reverse };

/// G [n_atoms + 3 n_structures, 3, S d]: rows 0..n_atoms-1 d phi_s / dR_i (s the structure of i),
/// then per structure s three rows d phi_s / d strain_s (meaningful for periodic structures).
/// Cost: min(3 n_s + 9, S d) SOAP Jacobian products per structure plus one batched backward of the
/// per-atom network; it does not depend on the number of ensemble members.
/// With atom_features, also the last layer's inputs f_i [n_atoms, d] of that pass.
ad::Tensor soap_bpnn_last_layer_jacobian(const nn::bpnn::SoapBpnn& model, const nn::bpnn::Batch& batch,
                                         JacobianMode mode = JacobianMode::automatic,
                                         ad::Tensor* atom_features = nullptr);

/// The ensemble training of LlprFitOptions::num_epochs, from the sampled weights W0 [K, S d] of the
/// posterior `llpr` around the model's last layer w [S d] (eV); returns the kept weights and fills
/// info's train_nll, val_nll and best_epoch. Adam runs on whitened coordinates Z, W = w + alpha Z L^T.
ad::Tensor train_llpr_ensemble(const nn::atomistic::AtomisticModel& model, const nn::bpnn::CompositionModel& composition,
                               const nn::bpnn::EnergyScaler& scaler, const Llpr& llpr, const ad::Tensor& w, const std::vector<desc::System>& train,
                               const std::vector<desc::System>& val, const ad::Tensor& W0,
                               const LlprFitOptions& options, LlprFitInfo* info = nullptr);

class LlprModel {
  public:
    /// ensemble_weights: [K, S d] in eV per feature unit (undefined: no ensemble).
    LlprModel(std::shared_ptr<const nn::atomistic::AtomisticModel> model, nn::bpnn::CompositionModel composition,
              nn::bpnn::EnergyScaler scaler, Llpr llpr, ad::Tensor ensemble_weights = {});

    /// Covariance over `train`, posterior, alpha on `val` (>= 2 frames with energies), ensemble.
    /// With UncertaintyMethod::laplace: r and alpha from the marginal likelihood on `train` (which
    /// needs energies), `val` unused (except by the ensemble training, num_epochs > 0).
    static LlprModel fit(std::shared_ptr<const nn::atomistic::AtomisticModel> model, nn::bpnn::CompositionModel composition,
                         nn::bpnn::EnergyScaler scaler, const std::vector<desc::System>& train,
                         const std::vector<desc::System>& val, const LlprFitOptions& options,
                         LlprFitInfo* info = nullptr);

    /// All outputs for frames (one batch), with the ZBL terms when the model has them (as
    /// nn::bpnn::predict_frames): added to the prediction and to every member.
    LlprPrediction predict(const std::vector<desc::System>& frames,
                           EnsembleForces ensemble_forces = EnsembleForces::yes) const;
    /// The same for a batch built with make_batch(frames, model().hypers().cutoff); `additive`
    /// holds the terms outside the network (zbl_baseline(frames); required when hypers().zbl).
    LlprPrediction predict(const nn::bpnn::Batch& batch, EnsembleForces ensemble_forces = EnsembleForces::yes,
                           const nn::bpnn::EnergyForcesStress& additive = {}) const;

    const nn::atomistic::AtomisticModel& model() const { return *model_; }
    const nn::bpnn::CompositionModel& composition() const { return composition_; }
    const nn::bpnn::EnergyScaler& scaler() const { return scaler_; }
    const Llpr& llpr() const { return llpr_; }
    /// w_e = scale w [S d]: E_s = phi_s w_e^T + baseline_s in eV.
    ad::Tensor last_layer_weights() const;
    const ad::Tensor& ensemble_weights() const { return ensemble_; }  ///< [K, S d] or undefined
    long n_members() const { return ensemble_.defined() ? ensemble_.dim(0) : 0; }
    UncertaintyMethod uncertainty_method() const { return method_; }
    /// Set with UncertaintyMethod::laplace (else all zero).
    const LlprLaplaceHypers& laplace_hypers() const { return laplace_; }
    /// Whether energy_uncertainty includes the noise N_s^2 sigma_noise^2 (LlprFitOptions::include_noise).
    bool include_noise() const { return include_noise_; }

    /// The model's checkpoint (its architecture, tensors and metadata unchanged) plus the
    /// posterior under "llpr.energy." (tensors and metadata) and "llpr.energy.ensemble_weights",
    /// metadata "llpr.uncertainty_method" and with laplace "llpr.laplace.{prior_precision,
    /// sigma_noise, log_marginal_likelihood, effective_parameters}" (%.17g) and
    /// "llpr.include_noise" ("true" | "false"; absent in older files: false, their behaviour).
    nn::Checkpoint to_checkpoint() const;
    static LlprModel from_checkpoint(const nn::Checkpoint& ckpt);
    void save(const std::string& path) const;
    static LlprModel load(const std::string& path);

  private:
    std::shared_ptr<const nn::atomistic::AtomisticModel> model_;
    nn::bpnn::CompositionModel composition_;
    nn::bpnn::EnergyScaler scaler_;
    Llpr llpr_;
    ad::Tensor ensemble_;
    UncertaintyMethod method_ = UncertaintyMethod::llpr;
    LlprLaplaceHypers laplace_;
    bool include_noise_ = false;
};

/// True when a checkpoint holds an LLPR-wrapped model (metadata "llpr.energy.format").
bool holds_llpr(const nn::Checkpoint& ckpt);
/// The checkpoint without its "llpr." tensors and metadata: the plain model (any architecture).
nn::Checkpoint without_llpr(const nn::Checkpoint& ckpt);
/// The model of a checkpoint (a model file, a wrapped one, or a training checkpoint: its "model."
/// weights), with a one-line error when it has no last-layer features (a checkpoint that is not a
/// soap_bpnn model, e.g. a tabular one).
std::shared_ptr<nn::atomistic::AtomisticModel> load_model_with_last_layer_features(const nn::Checkpoint& ckpt,
                                                                        std::map<int, double>* composition_weights,
                                                                        double* energy_scale);

/// C over `frames` for any model: soap_bpnn_llpr_covariance for a SoapBpnn (graph-free fast
/// path), else phi_s of model.forward() per batch of batch_size.
LlprCovariance llpr_covariance(const nn::atomistic::AtomisticModel& model, const std::vector<desc::System>& frames,
                               long batch_size);

/// G as soap_bpnn_last_layer_jacobian (same rows and layout) for any model: P reverse passes
/// through the model's graph, pass c giving d (sum_s phi_sc) / d(R, eps) (the rows of structure s
/// only depend on phi_s). Strain rows of non-periodic structures are zeros. `output` (if not null)
/// receives the forward pass the Jacobian differentiates, detached (no second forward needed).
ad::Tensor last_layer_jacobian(const nn::atomistic::AtomisticModel& model, const nn::bpnn::Batch& batch,
                               nn::atomistic::Output* output = nullptr);

}  // namespace uq
