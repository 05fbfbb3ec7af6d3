// Small NanoPET and PET hypers (d_pet 8, one attention layer, two GNN layers) that keep a test of
// either model well under a second (tests/nn/pet/test_nanopet, test_pet, tests/uq/test_llpr_pet).
#pragma once
#include "nn/pet/nanopet_hypers.hpp"
#include "nn/pet/pet_hypers.hpp"

namespace nn_testing {

inline nn::pet::NanoPetHypers tiny_nanopet_hypers(double cutoff = 4.0) {
    nn::pet::NanoPetHypers h;
    h.cutoff = cutoff;
    h.cutoff_width = 0.5;
    h.d_pet = 8;
    h.num_heads = 2;
    h.num_attention_layers = 1;
    h.num_gnn_layers = 2;
    return h;
}

inline nn::pet::PetHypers tiny_pet_hypers(double cutoff = 4.0) {
    nn::pet::PetHypers h;
    h.cutoff = cutoff;
    h.d_pet = 8;
    h.d_node = 12;
    h.d_head = 6;
    h.d_feedforward = 10;
    h.num_heads = 2;
    h.num_attention_layers = 1;
    h.num_gnn_layers = 2;
    return h;
}

}  // namespace nn_testing
