// Batches of structures for any atomistic model, and the outputs every model gives.
// Notation: atoms i (n_atoms), structures s (n_structures), last-layer width P.
//   Batch: frames concatenated in order; per structure a full neighbour list (structure-local
//   indices, periodic images as shifts), a strain input eps_s [3, 3] (or none) and the volume V_s.
//   Output: e_i, E_s = sum_{i in s} e_i, the last layer's inputs f_i and their sums, and
//   metatrain's mtt::aux::energy_last_layer_features phi_i [P] (with E_s = sum_{i in s} phi_i w^T).
//   EnergyForcesStress: E_s, F_i = -dE/dR_i, stress_s = (1/V_s) dE_s/d(eps_s) (ASE convention).
#pragma once
#include <vector>

#include "autodiff/tensor.hpp"
#include "descriptors/soap.hpp"
#include "descriptors/system.hpp"

namespace nn::atomistic {

/// Several structures as one set of atoms. Pairs are per structure, with structure-local indices,
/// so no pair crosses structures. Atoms of structure s are offsets[s] .. offsets[s+1]-1.
struct Batch {
    std::vector<int> numbers;            ///< [n_atoms]
    ad::Tensor positions;                ///< [n_atoms, 3]; may require grad (or come from a graph)
    std::vector<long> structure;         ///< [n_atoms] structure index of each atom
    std::vector<long> offsets;           ///< [n_structures + 1]
    std::vector<desc::SoapPairs> pairs;  ///< [n_structures], local atom indices
    std::vector<ad::Tensor> strains;     ///< [n_structures]: [3, 3] or undefined (no strain)
    std::vector<double> volumes;         ///< [n_structures] |det cell|, 0 without periodicity
    double cutoff = 0;                   ///< radius the pairs were built with (>= the model's cutoff)

    long n_atoms() const { return static_cast<long>(numbers.size()); }
    long n_structures() const { return static_cast<long>(pairs.size()); }
    /// A copy with other positions [n_atoms, 3] (pairs stay valid: same atoms, same images).
    Batch with_positions(const ad::Tensor& R) const;
};

/// Neighbour list (full, `cutoff`) per frame, positions concatenated in frame order.
Batch make_batch(const std::vector<desc::System>& frames, double cutoff);

struct Output {
    ad::Tensor atom_energies;        ///< [n_atoms] e_i
    ad::Tensor energies;             ///< [n_structures] E_s
    ad::Tensor atom_features;        ///< [n_atoms, d] f_i, the input of the last layer (d per model)
    ad::Tensor features;             ///< [n_structures, d] sum of f_i per structure
    ad::Tensor atom_last_layer_features;  ///< [n_atoms, P] phi_i (SoapBpnn: f_i in its species' block, P = S d)
    ad::Tensor last_layer_features;       ///< [n_structures, P] sum of phi_i: E = phi w^T
};

struct EnergyForcesStress {
    ad::Tensor energies;  ///< [n_structures]
    ad::Tensor forces;    ///< [n_atoms, 3] = -dE/dR
    ad::Tensor stress;    ///< [n_structures, 3, 3] = (1/V) dE/dstrain; zeros where V = 0
};

}  // namespace nn::atomistic
