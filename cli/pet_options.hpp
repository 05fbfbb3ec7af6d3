// The nanopet and pet parts of the `atomgrad train` options (the rest is common:
// atomistic_options.hpp). [architecture.model] holds the model's hypers, strictly:
//   nanopet: cutoff, cutoff_width, cutoff_function ("cosine" | "bump"), d_pet, num_heads,
//            num_attention_layers, num_gnn_layers, zbl, [heads] energy ("mlp" | "linear")
//   pet:     cutoff, cutoff_width, cutoff_function ("bump" | "cosine"), d_pet, d_node, d_head,
//            d_feedforward, num_heads, num_attention_layers, num_gnn_layers, normalization
//            ("RMSNorm" | "LayerNorm"), activation ("SwiGLU" | "SiLU"), transformer_type
//            ("PreLN" | "PostLN"), zbl
// Defaults of the hypers: nn/pet/nanopet_hypers.hpp, nn/pet/pet_hypers.hpp. Training defaults and
// optional trainer keys as metatrain's trainers (docs/nanopet.md, docs/pet.md have the tables):
//   nanopet (metatrain deprecated/nanopet documentation.py TrainerHypers): batch_size 16,
//     num_epochs 10000, learning_rate 3e-4, scheduler "plateau" (patience 100, factor 0.8), no
//     warm-up, log_interval 10, checkpoint_interval 100, scale_targets true, log_mae false,
//     best_model_metric "rmse_prod"; optional keys scheduler_patience, scheduler_factor.
//   pet (metatrain pet documentation.py TrainerHypers): batch_size 16, num_epochs 1000,
//     learning_rate 1e-4, warmup_fraction 0.01 then cosine to 0 ("warmup_cosine"), log_interval
//     1, checkpoint_interval 100, scale_targets true, log_mae true, best_model_metric
//     "mae_prod", grad_clip_norm 1; optional key grad_clip_norm.
// Both train with rotational augmentation (the models are not rotation invariant; trainer.hpp).
#pragma once
#include "cli/atomistic_options.hpp"

namespace cli {

/// The CLI entry of nanopet (listed in atomistic_options.cpp).
ArchitectureOptions nanopet_architecture_options();
/// The CLI entry of pet (listed in atomistic_options.cpp).
ArchitectureOptions pet_architecture_options();

}  // namespace cli
