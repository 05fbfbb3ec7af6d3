// The built-in atomistic architectures: one line each (nn/atomistic/registry.hpp).
#include "nn/atomistic/registry.hpp"
#include "nn/bpnn/bpnn.hpp"
#include "nn/pet/nanopet.hpp"
#include "nn/pet/pet.hpp"

namespace nn::atomistic {

void register_builtin_architectures() {
    register_architecture(bpnn::architecture());
    register_architecture(pet::nanopet_architecture());
    register_architecture(pet::pet_architecture());
}

}  // namespace nn::atomistic
