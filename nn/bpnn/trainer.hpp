// Training of the SOAP-BPNN model: the generic trainer (nn/atomistic/trainer.hpp) with the model's
// hypers in the settings.
#pragma once
#include <memory>
#include <vector>

#include "nn/atomistic/loss.hpp"
#include "nn/atomistic/parallel.hpp"
#include "nn/atomistic/trainer.hpp"
#include "nn/atomistic/zbl.hpp"
#include "nn/bpnn/bpnn.hpp"

namespace nn::bpnn {

using atomistic::to_string;  // LossType, Reduction, BestModelMetric: overloads next to to_string(Head)

/// The trainer's settings plus the model's hypers (metatrain's architecture.model).
struct TrainerSettings : atomistic::TrainerSettings {
    BpnnHypers hypers;
};

/// The trained SOAP-BPNN with its baselines (the generic result with the model's type).
using TrainedModel = atomistic::TrainedModelOf<SoapBpnn>;
/// Called after every epoch with its log, the model so far and the state to save for a restart.
using EpochCallback = std::function<void(const EpochLog&, const TrainedModel&, const TrainingState&)>;

/// atomistic::train_model with SoapBpnn(settings.hypers, species, rng).
TrainedModel train_soap_bpnn(const std::vector<desc::System>& train, const std::vector<desc::System>& val,
                             const TrainerSettings& settings, const EpochCallback& on_epoch = {},
                             const TrainStart& start = {});

}  // namespace nn::bpnn
