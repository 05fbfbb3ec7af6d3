// The padded per-centre neighbour layout shared by NanoPET and PET (metatrain's "NEF" layout:
// nodes, edges, features). Notation: atoms i (centres), tokens t (T = max neighbours of a centre),
// edges e (the kept pairs i -> j), slots q = i T + t of the flattened [n_atoms, T] token grid.
//   kept pairs: |r_ij| < r_c or |r_ji| < r_c (equal up to rounding), r from the current values
//   slot[e] = i T + (rank of e among the edges of i),  padding[i, t] = 1 for a real token
//   partner[q] = slot of the reversed edge j -> i (with the negated cell shift); itself on padding
// The edge vectors enter the model through edge_vectors(), built from ops on batch.positions:
//   r_e = A_s (R_j - R_i + shift_e),  A_s = 1 + strain_s  (identity when the strain is undefined)
// so forces (-dE/dR) and the stress ((1/V) dE/dstrain) flow through them.
#pragma once
#include <string>
#include <vector>

#include "nn/bpnn/bpnn.hpp"

namespace nn::pet {

/// The padded per-centre layout of a batch's pairs (pairs with |r| >= cutoff dropped).
/// Slots q = i T + t; real slots hold one edge each, padded slots none.
struct NeighborLayout {
    long n_atoms = 0, T = 0;          ///< centres and tokens per centre (T >= 1)
    std::vector<long> centre, neighbor;  ///< [n_edges] global atom indices
    std::vector<long> structure;      ///< [n_edges]
    std::vector<long> slot;           ///< [n_edges] slot of each edge
    std::vector<long> partner;        ///< [n_atoms T] slot of the reversed edge (itself for padding)
    ad::Tensor shifts;                ///< [n_edges, 3] Cartesian cell shifts
    ad::Tensor padding;               ///< [n_atoms, T] 1 real, 0 padding
    std::vector<long> centre_species, neighbor_species;  ///< [n_atoms T] species indices (0 on padding)
};

/// The layout of `b` for a model with sorted `species` and `cutoff`; errors start with `who`
/// ("NanoPet", "Pet"): inconsistent batch, batch cutoff < cutoff, unknown species, half list.
NeighborLayout neighbor_layout(const nn::bpnn::Batch& b, const std::vector<int>& species, double cutoff,
                               const std::string& who);

/// r_e = A_s (R_j - R_i + shift_e) [n_edges, 3] as ops on b.positions and b.strains (undefined
/// when the layout has no edge).
ad::Tensor edge_vectors(const nn::bpnn::Batch& b, const NeighborLayout& L);

}  // namespace nn::pet
