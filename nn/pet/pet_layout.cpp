// Neighbour layout shared by NanoPET and PET (math in pet_layout.hpp).
#include "nn/pet/pet_layout.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "autodiff/ops.hpp"

namespace nn::pet {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope
using ad::Tensor;
using nn::bpnn::Batch;

namespace {
// Two shifts are the same lattice vector (negated) when they agree to this, in A: shifts are
// integer combinations of cell vectors, computed independently for i -> j and j -> i.
constexpr double kShiftTolerance = 1e-6;
}  // namespace

NeighborLayout neighbor_layout(const Batch& b, const std::vector<int>& species, double cutoff, const std::string& who) {
    const long n = b.n_atoms(), S = b.n_structures();
    AD_CHECK(S > 0, who << ": expected a batch with structures, got none");
    AD_CHECK(b.positions.defined() && b.positions.ndim() == 2 && b.positions.dim(0) == n && b.positions.dim(1) == 3,
             who << ": expected positions[" << n << ", 3], got "
                                            << (b.positions.defined() ? b.positions.shape() : ad::Shape{}));
    AD_CHECK(static_cast<long>(b.structure.size()) == n && static_cast<long>(b.offsets.size()) == S + 1 &&
                 static_cast<long>(b.strains.size()) == S && static_cast<long>(b.volumes.size()) == S &&
                 b.offsets.front() == 0 && b.offsets.back() == n,
             who << ": expected a consistent batch (structure [n_atoms], offsets/strains/volumes per structure)");
    AD_CHECK(b.cutoff >= cutoff, who << ": expected a batch built with cutoff >= "
                                             << cutoff << ", got " << b.cutoff
                                             << "; use make_batch(frames, model.hypers().cutoff)");
    std::vector<long> species_index(static_cast<size_t>(n));
    for (long i = 0; i < n; ++i) {
        const int Z = b.numbers[static_cast<size_t>(i)];
        auto it = std::lower_bound(species.begin(), species.end(), Z);
        AD_CHECK(it != species.end() && *it == Z, who << ": expected species of the model, got atomic number " << Z);
        species_index[static_cast<size_t>(i)] = it - species.begin();
    }
    // All pairs with their (strained) vectors from the current values, and each pair's reverse.
    const double* R = b.positions.data();
    std::vector<long> ctr, nbr, str;
    std::vector<double> shift, r2;
    std::vector<long> rev;
    for (long s = 0; s < S; ++s) {
        const desc::SoapPairs& P = b.pairs[static_cast<size_t>(s)];
        const long off = b.offsets[static_cast<size_t>(s)], np = static_cast<long>(P.first.size()), e0 = static_cast<long>(ctr.size());
        AD_CHECK(static_cast<long>(P.second.size()) == np && (np == 0 || P.cell_shifts.shape() == ad::Shape({np, 3})),
                 who << ": expected pairs with first, second [n_pairs] and cell_shifts [n_pairs, 3] in structure " << s);
        const Tensor& eps = b.strains[static_cast<size_t>(s)];
        std::map<std::pair<long, long>, std::vector<long>> by_pair;
        for (long p = 0; p < np; ++p) {
            const long i = off + P.first[static_cast<size_t>(p)], j = off + P.second[static_cast<size_t>(p)];
            double v[3], w[3];
            for (int a = 0; a < 3; ++a) {
                shift.push_back(P.cell_shifts[p * 3 + a]);
                v[a] = R[j * 3 + a] - R[i * 3 + a] + P.cell_shifts[p * 3 + a];
            }
            for (int a = 0; a < 3; ++a) {
                w[a] = v[a];
                if (eps.defined())
                    for (int c = 0; c < 3; ++c) w[a] += eps[a * 3 + c] * v[c];
            }
            ctr.push_back(i), nbr.push_back(j), str.push_back(s);
            r2.push_back(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]);
            by_pair[{i, j}].push_back(e0 + p);
        }
        for (long p = 0; p < np; ++p) {
            const long e = e0 + p;
            long found = -1;
            auto it = by_pair.find({nbr[e], ctr[e]});
            if (it != by_pair.end())
                for (long f : it->second) {
                    bool same = true;
                    for (int a = 0; a < 3; ++a) same = same && std::fabs(shift[f * 3 + a] + shift[e * 3 + a]) < kShiftTolerance;
                    if (same) found = f;
                }
            AD_CHECK(found >= 0, who << ": expected a full neighbour list (every pair i -> j with its reverse j -> i), but pair "
                                     << ctr[e] - off << " -> " << nbr[e] - off << " of structure " << s << " has none");
            rev.push_back(found);
        }
    }
    // Keep a pair when it or its reverse is inside the cutoff (|r| agree up to rounding).
    const double rc2 = cutoff * cutoff;
    const long n_all = static_cast<long>(ctr.size());
    std::vector<long> new_index(static_cast<size_t>(n_all), -1);
    NeighborLayout L;
    L.n_atoms = n;
    std::vector<long> count(static_cast<size_t>(n), 0);
    std::vector<double> kept_shift;
    for (long e = 0; e < n_all; ++e) {
        if (!(r2[e] < rc2 || r2[rev[e]] < rc2)) continue;
        new_index[e] = static_cast<long>(L.centre.size());
        L.centre.push_back(ctr[e]), L.neighbor.push_back(nbr[e]), L.structure.push_back(str[e]);
        for (int a = 0; a < 3; ++a) kept_shift.push_back(shift[e * 3 + a]);
        ++count[ctr[e]];
    }
    const long E = static_cast<long>(L.centre.size());
    L.T = std::max<long>(1, count.empty() ? 1 : *std::max_element(count.begin(), count.end()));
    const long BT = n * L.T;
    L.shifts = E > 0 ? ad::tensor({E, 3}, kept_shift) : Tensor::zeros({0, 3});
    L.padding = Tensor::zeros({n, L.T});
    L.partner.resize(static_cast<size_t>(BT));
    for (long q = 0; q < BT; ++q) L.partner[q] = q;
    L.centre_species.assign(static_cast<size_t>(BT), 0);
    L.neighbor_species.assign(static_cast<size_t>(BT), 0);
    L.slot.resize(static_cast<size_t>(E));
    std::fill(count.begin(), count.end(), 0);
    for (long e = 0; e < E; ++e) {
        const long i = L.centre[e], q = i * L.T + count[i]++;
        L.slot[e] = q;
        L.padding.data()[q] = 1;
        L.centre_species[q] = species_index[i];
        L.neighbor_species[q] = species_index[L.neighbor[e]];
    }
    for (long e = 0; e < n_all; ++e)
        if (new_index[e] >= 0) L.partner[L.slot[new_index[e]]] = L.slot[new_index[rev[e]]];
    return L;
}

Tensor edge_vectors(const Batch& b, const NeighborLayout& L) {
    const long E = static_cast<long>(L.centre.size()), S = b.n_structures();
    if (E == 0) return Tensor();
    Tensor v = ad::add(ad::sub(ad::index_select(b.positions, 0, L.neighbor), ad::index_select(b.positions, 0, L.centre)), L.shifts);
    bool strained = false;
    for (const Tensor& eps : b.strains) strained = strained || eps.defined();
    if (!strained) return v;
    // r[e, a] = sum_c A_s(e)[a, c] v[e, c], elementwise over [E, 3, 3] (no per-edge products)
    std::vector<Tensor> As;
    const Tensor I = ad::tensor({3, 3}, {1, 0, 0, 0, 1, 0, 0, 0, 1});
    for (long s = 0; s < S; ++s) {
        const Tensor& eps = b.strains[static_cast<size_t>(s)];
        As.push_back(eps.defined() ? ad::add(eps, I) : I);
    }
    Tensor A = ad::index_select(ad::stack(As, 0), 0, L.structure);  // [E, 3, 3]
    return ad::sum(ad::mul(A, ad::reshape(v, {E, 1, 3})), {2});      // [E, 3]
}

}  // namespace nn::pet
