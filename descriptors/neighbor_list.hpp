// Neighbour pairs within a cutoff, with periodic images: the neighbour set of specs/soap.md sec. 2.
// Linear in the number of atoms (cell lists over the fractional box); neighbor_list_naive is the
// O(N^2 x images) twin kept as the test oracle. Algorithm: docs/descriptors.md.
//
// Notation: atoms i (first, the centre) and j (second); pairs p; lattice vectors a_k = cell[k, :];
// shift S = (S_0, S_1, S_2) integers, S_k = 0 where pbc_k is false;
//   r_ij(S) = x_j - x_i + S_0 a_0 + S_1 a_1 + S_2 a_2,   pair p kept when 0 < |r_ij(S)| < r_c,
// except (i, i, S = 0). Self-images (i, i, S != 0) are pairs.
#pragma once
#include <array>
#include <vector>

#include "descriptors/system.hpp"

namespace desc {

/// Atoms closer than this (Å) are "on top of each other": duplicated atoms or broken data. No
/// chemical bond comes near it (the shortest, H2, is 0.74 Å); SOAP would see one blurred density.
constexpr double kMinAtomDistance = 0.1;

/// full: both (i, j, S) and (j, i, -S). half: only the one with i < j, or i == j and S > 0
/// (lexicographically).
enum class Pairs { full, half };

struct NeighborList {
    std::vector<long> first, second;       ///< [n_pairs] i and j
    std::vector<std::array<int, 3>> shift;  ///< [n_pairs] S
    ad::Tensor vectors;                     ///< [n_pairs, 3] r_ij(S) = x_j - x_i + S . cell (no graph)
    ad::Tensor distances;                   ///< [n_pairs] |r_ij(S)|
    long n_pairs() const { return static_cast<long>(first.size()); }
};

/// Pairs with |r_ij(S)| < cutoff, sorted by first, then second, then shift (lexicographic), so the
/// result is reproducible and independent of how positions are wrapped (up to rounding of the
/// vectors). Errors: cutoff <= 0 or not finite, non-finite positions, singular cell with any pbc,
/// two atoms (or an atom and an image) closer than kMinAtomDistance (the message names both).
NeighborList neighbor_list(const System& system, double cutoff, Pairs pairs = Pairs::full);

/// Same result by an O(N^2 x images) loop over the shift ranges of soap.md sec. 2 (the oracle).
NeighborList neighbor_list_naive(const System& system, double cutoff, Pairs pairs = Pairs::full);

/// Checks `system` for non-finite positions, a singular cell with pbc and two atoms (or periodic
/// images) closer than kMinAtomDistance; errors start with system.where() and name both atoms.
/// Linear in the number of atoms (a neighbour list with cutoff kMinAtomDistance).
void check_geometry(const System& system);

/// Number of pairs whose first atom is i: [n_atoms] (the neighbour counts of specs/soap_vectors).
std::vector<long> neighbor_counts(const NeighborList& list, long n_atoms);

}  // namespace desc
