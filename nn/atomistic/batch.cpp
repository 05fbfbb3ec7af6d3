// Batches of structures (see batch.hpp).
#include "nn/atomistic/batch.hpp"

#include <cmath>

#include "autodiff/ops.hpp"
#include "descriptors/neighbor_list.hpp"

namespace nn::atomistic {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope
using ad::Tensor;

// ---------------------------------------------------------------------------- batches

Batch Batch::with_positions(const Tensor& R) const {
    AD_CHECK(R.ndim() == 2 && R.dim(0) == n_atoms() && R.dim(1) == 3,
             "Batch::with_positions: expected R[" << n_atoms() << ", 3], got " << R.shape());
    Batch b = *this;
    b.positions = R;
    return b;
}

Batch make_batch(const std::vector<desc::System>& frames, double cutoff) {
    AD_CHECK(!frames.empty(), "make_batch: expected at least one frame, got none");
    Batch b;
    b.cutoff = cutoff;
    b.offsets.push_back(0);
    std::vector<Tensor> positions;
    for (size_t s = 0; s < frames.size(); ++s) {
        const desc::System& sys = frames[s];
        AD_CHECK(sys.n_atoms() > 0, "make_batch: expected atoms in " << sys.where() << ", got none");
        desc::NeighborList list = desc::neighbor_list(sys, cutoff, desc::Pairs::full);
        b.pairs.push_back(desc::soap_pairs(list, sys));
        b.numbers.insert(b.numbers.end(), sys.numbers.begin(), sys.numbers.end());
        b.structure.insert(b.structure.end(), static_cast<size_t>(sys.n_atoms()), static_cast<long>(s));
        b.offsets.push_back(b.offsets.back() + sys.n_atoms());
        positions.push_back(sys.positions.detach());
        b.strains.emplace_back();
        b.volumes.push_back(sys.any_pbc() ? std::fabs(sys.volume()) : 0.0);
    }
    b.positions = positions.size() == 1 ? positions[0].clone() : ad::concat(positions, 0);
    return b;
}

// ---------------------------------------------------------------------------- model

}  // namespace nn::atomistic
