// Threads for atomistic training: one training step's forward, loss and backward with the batch
// cut into chunks of whole structures, each chunk on its own thread with its own graph.
//   chunks:  2^k contiguous groups of structures with about equal atom counts, the smallest
//            k >= 1 with at most kChunkEntries entries (atoms x D, D = the model's step_chunk_width(): the
//            SOAP width for SoapBpnn) per chunk, never
//            more chunks than structures. A function of the batch only, not of the thread count.
//   loss:    L = sum_c L_c, where L_c is energy_loss on chunk c with each term's weight scaled by
//            the chunk's share of that term's mean when it is mean-reduced (structures, force components, stress
//            structures), so sum_c L_c equals the batch's loss (up to rounding).
//   grads:   g = (((g_0 + g_1) + g_2) + ...) in chunk order, each g_c = dL_c/dtheta from its own
//            ad::grad; then added to the parameters' .grad as ad::backward would.
// Each chunk is computed the same way whichever thread runs it, and the sum has a fixed order, so
// results are identical bit for bit for any thread count (1 thread runs the chunks in turn).
// Thread count: set_num_threads(n), else the environment variable ATOMGRAD_NUM_THREADS, else 1.
#pragma once
#include "nn/atomistic/model.hpp"
#include "nn/atomistic/loss.hpp"

namespace nn::atomistic {

/// Threads used by forward_backward: the last set_num_threads(n > 0), else ATOMGRAD_NUM_THREADS
/// (a positive integer), else 1.
int num_threads();
/// Overrides ATOMGRAD_NUM_THREADS for this process; n <= 0 returns to the environment/default.
void set_num_threads(int n);

/// Descriptor entries (atoms x D) per chunk that forward_backward aims at: ~1 MiB per [n, D]
/// tensor, so a chunk's descriptor-sized tensors stay in cache (ethanol batch 8: 2 chunks).
constexpr long kChunkEntries = 131072;

/// Structure ranges [first, last) of the chunks of a batch whose descriptor has D features.
std::vector<std::pair<long, long>> step_chunks(const Batch& batch, long D);

/// Structures first .. last-1 of a batch as a batch of their own (positions copied, no graph).
Batch sub_batch(const Batch& batch, long first, long last);
/// The matching targets (forces rows, stress entries, with_stress renumbered).
Targets sub_targets(const Targets& targets, const Batch& batch, long first, long last);

struct StepResult {
    EnergyForcesStress predictions;  ///< detached; forces/stress only when a derivative weight != 0
    LossTerms loss;                  ///< detached values of the batch's loss and its unweighted terms
};

/// One training step's forward and backward: predictions of `batch` (energies; forces and stress
/// when the targets have forces or stress, through CreateGraph::yes when a derivative term has a
/// non-zero weight), the loss energy_loss(predictions, targets, batch, config), and its gradient
/// added to every parameter's
/// .grad() (as ad::backward(loss.total, model.parameters()) would; call zero_grad first).
/// Chunks run on num_threads() threads; see the file header for what is computed exactly.
/// Energies, forces and stress of a batch without a graph (inference), computed over the same
/// chunks of whole structures as forward_backward, on num_threads() threads: a large batch (e.g.
/// 16 Cu cells through NanoPET/PET) never holds one huge graph. Each structure's numbers depend on
/// its chunk only; the chunks are a function of the batch, so the results are the same for any
/// thread count.
EnergyForcesStress predict_chunked(const AtomisticModel& model, const Batch& batch);

StepResult forward_backward(const AtomisticModel& model, const Batch& batch, const Targets& targets,
                            const LossConfig& config);

}  // namespace nn::atomistic
