// SOAP-BPNN training through the generic trainer (see trainer.hpp).
#include "nn/bpnn/trainer.hpp"

namespace nn::bpnn {

namespace {
TrainedModel as_bpnn(const atomistic::TrainedModel& m) {
    TrainedModel out;
    out.model = std::dynamic_pointer_cast<SoapBpnn>(m.model);
    out.composition = m.composition;
    out.scaler = m.scaler;
    out.best_epoch = m.best_epoch;
    out.history = m.history;
    return out;
}
}  // namespace

TrainedModel train_soap_bpnn(const std::vector<desc::System>& train, const std::vector<desc::System>& val,
                             const TrainerSettings& settings, const EpochCallback& on_epoch, const TrainStart& start) {
    const BpnnHypers hypers = settings.hypers;
    const atomistic::ModelBuilder build = [&](const std::vector<int>& species, ad::Rng& rng) {
        // --init: the init's hypers are compared with the options' by the trainer (hypers_toml)
        return std::make_shared<SoapBpnn>(hypers, species, rng);
    };
    atomistic::EpochCallback callback;
    if (on_epoch)
        callback = [&](const EpochLog& log, const atomistic::TrainedModel& m, const TrainingState& state) {
            on_epoch(log, as_bpnn(m), state);
        };
    return as_bpnn(atomistic::train_model(build, train, val, settings, callback, start));
}

}  // namespace nn::bpnn
