// Random rotations and inversions of structures with their targets: the data augmentation that
// trains models which are not rotation invariant by construction (NanoPET, PET), as metatrain's
// rotational augmenter does (one random orthogonal Q per structure and epoch).
//   Q = s U,  U uniform on SO(3) (Haar measure), s = +1 or -1 with probability 1/2 each
//   positions R' = R Q^T        cell rows a'_k = Q a_k   (cell' = cell Q^T)
//   vectors   F' = F Q^T        (per-atom 3-vector columns such as forces)
//   tensors   sigma' = Q sigma Q^T   (per-frame 3x3 such as stress and virial; s^2 = 1 drops out)
//   energies unchanged.
// U comes from a uniform unit quaternion q = g / |g|, g ~ N(0, I_4) (the normal distribution is
// isotropic, so q is uniform on S^3 and the rotation it represents is Haar-distributed on SO(3)).
#pragma once
#include <string>
#include <vector>

#include "autodiff/random.hpp"
#include "descriptors/system.hpp"

namespace desc {

/// A Haar-random rotation matrix [3, 3] (det +1).
ad::Tensor random_rotation(ad::Rng& rng);
/// random_rotation(rng) times a random sign: an orthogonal matrix [3, 3] with det +-1.
ad::Tensor random_rotation_inversion(ad::Rng& rng);

/// `system` transformed by the orthogonal Q [3, 3]: positions and cell, the per-atom columns
/// named in `vector_keys` ([n, 3] each, e.g. "forces") and the per-frame 3x3 entries named in
/// `tensor_keys` (e.g. "stress", "virial"). Keys not present are skipped; Q must be orthogonal
/// (|Q Q^T - I| < 1e-10, else an error naming the largest deviation).
System transform_system(const System& system, const ad::Tensor& Q, const std::vector<std::string>& vector_keys,
                        const std::vector<std::string>& tensor_keys);

}  // namespace desc
