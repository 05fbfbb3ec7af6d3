// The built-in atomistic architectures: one line each (nn/atomistic/registry.hpp).
#include "nn/atomistic/registry.hpp"
#include "nn/bpnn/bpnn.hpp"

namespace nn::atomistic {

void register_builtin_architectures() {
    register_architecture(bpnn::architecture());
}

}  // namespace nn::atomistic
