// Strict reading of the llpr options (see llpr_options.hpp).
#include "cli/llpr_options.hpp"

#include "autodiff/error.hpp"
#include "cli/bpnn_options.hpp"

namespace cli {

const std::map<std::string, Kind>& llpr_option_keys() {
    static const std::map<std::string, Kind> s = [] {
        std::map<std::string, Kind> k = {
            {"seed", Kind::integer},
            {"base_precision", Kind::integer},
            {"architecture", Kind::table},
            {"architecture.name", Kind::string},
            {"architecture.model", Kind::table},
            {"architecture.model.num_ensemble_members", Kind::table},
            {"architecture.model.num_ensemble_members.energy", Kind::integer},
            {"architecture.training", Kind::table},
            {"architecture.training.model_checkpoint", Kind::string},
            {"architecture.training.batch_size", Kind::integer},
            {"architecture.training.regularizer", Kind::floating},
            {"architecture.training.calibration_method", Kind::string},
            {"architecture.training.uncertainty_method", Kind::string},
            {"architecture.training.num_epochs", Kind::integer},
            {"architecture.training.learning_rate", Kind::floating},
            {"architecture.training.include_noise", Kind::boolean},
            {"architecture.training.train_all_parameters", Kind::boolean},
            {"architecture.training.loss", Kind::string_or_table},
            {"architecture.training.loss.energy", Kind::string_or_table},
            {"architecture.training.loss.energy.type", Kind::string},
            {"architecture.training.loss.energy.weight", Kind::floating},
            {"architecture.training.loss.energy.forces", Kind::string_or_table},
            {"architecture.training.loss.energy.forces.type", Kind::string},
            {"architecture.training.loss.energy.forces.weight", Kind::floating},
        };
        // the data keys of soap_bpnn, so that its training_set / validation_set / test_set
        // tables can be copied as they are (the forces / stress targets are accepted and unused)
        for (const auto& [key, kind] : bpnn_option_keys())
            for (const char* root : {"training_set", "validation_set", "test_set"})
                if (key.rfind(root, 0) == 0) k[key] = kind;
        return k;
    }();
    return s;
}

namespace {

const std::vector<std::string> kEnsembleLosses = {"gaussian_nll_ensemble", "gaussian_crps_ensemble",
                                                  "empirical_crps_ensemble"};

/// One term of the ensemble loss at `key`: a type string, or a table of type / weight.
void read_ensemble_term(const Options& o, const std::string& key, uq::EnsembleLoss& type, double& weight) {
    if (!o.has(key)) return;
    const std::string type_key = o.is_string(key) ? key : key + ".type";
    const std::string name = o.get_string(type_key, uq::to_string(type));
    o.require_one_of(type_key, name, kEnsembleLosses);
    type = uq::parse_ensemble_loss(name);
    if (o.is_string(key)) return;
    weight = o.get_float(key + ".weight", weight);
    AD_CHECK(weight >= 0, o.where(key + ".weight") << ": '" << key << ".weight' expected >= 0, got " << weight);
}

}  // namespace

LlprTrainOptions parse_llpr_options(const Options& o) {
    o.check(llpr_option_keys());
    LlprTrainOptions r;
    r.options_path = o.name();
    const std::string name = o.get_string("architecture.name", "");
    o.require_one_of("architecture.name", name, {"llpr"});
    r.seed = o.get_int("seed", 0);
    r.fit.seed = static_cast<uint64_t>(r.seed);
    const std::string t = "architecture.training.";
    AD_CHECK(o.has(t + "model_checkpoint"),
             o.name() << ": expected '" << t << "model_checkpoint' (the trained model to wrap), got none");
    r.model_checkpoint = o.get_string(t + "model_checkpoint", "");
    r.fit.batch_size = o.get_int(t + "batch_size", r.fit.batch_size);
    AD_CHECK(r.fit.batch_size >= 1, o.where(t + "batch_size") << ": '" << t << "batch_size' expected >= 1, got "
                                                              << r.fit.batch_size);
    if (o.has(t + "regularizer")) {
        const double reg = o.get_float(t + "regularizer", 0.0);
        AD_CHECK(reg >= 0, o.where(t + "regularizer") << ": '" << t << "regularizer' expected >= 0 (leave it out for "
                                                                        "the automatic value), got " << reg);
        r.fit.regularizer = reg;
    }
    const std::string method = o.get_string(t + "calibration_method", "absolute_residuals");
    o.require_one_of(t + "calibration_method", method, {"absolute_residuals", "squared_residuals", "crps"});
    r.fit.calibration = uq::parse_llpr_calibration(method);
    const std::string um = o.get_string(t + "uncertainty_method", "llpr");
    o.require_one_of(t + "uncertainty_method", um, {"llpr", "laplace"});
    r.fit.uncertainty_method = uq::parse_uncertainty_method(um);
    AD_CHECK(!(r.fit.uncertainty_method == uq::UncertaintyMethod::laplace && o.has(t + "regularizer")),
             o.where(t + "regularizer") << ": '" << t << "regularizer' expected left out with uncertainty_method = "
                                           "\"laplace\" (r = sigma^2 tau comes from the marginal likelihood), got one");
    const std::string m = "architecture.model.num_ensemble_members.energy";
    r.fit.num_ensemble_members = o.get_int(m, 0);
    AD_CHECK(r.fit.num_ensemble_members == 0 || r.fit.num_ensemble_members >= 2,
             o.where(m) << ": '" << m << "' expected 0 (no ensemble) or >= 2, got " << r.fit.num_ensemble_members);
    r.fit.num_epochs = o.get_int(t + "num_epochs", 0);
    AD_CHECK(r.fit.num_epochs >= 0, o.where(t + "num_epochs") << ": '" << t << "num_epochs' expected >= 0, got "
                                                              << r.fit.num_epochs);
    AD_CHECK(r.fit.num_epochs == 0 || r.fit.num_ensemble_members >= 2,
             o.where(t + "num_epochs") << ": '" << t << "num_epochs' expected 0 without an ensemble (training the "
                                                        "ensemble weights needs '" << m << "' >= 2), got "
                                       << r.fit.num_epochs);
    r.fit.learning_rate = o.get_float(t + "learning_rate", r.fit.learning_rate);
    AD_CHECK(r.fit.learning_rate > 0, o.where(t + "learning_rate") << ": '" << t << "learning_rate' expected > 0, got "
                                                                   << r.fit.learning_rate);
    // the ensemble loss: metatrain's string (energy and forces alike) or [loss.energy] / [loss.energy.forces]
    const std::string loss = t + "loss";
    if (o.has(loss) && o.is_string(loss)) {
        const std::string type = o.get_string(loss, "");
        o.require_one_of(loss, type, kEnsembleLosses);
        r.fit.loss = r.fit.forces_loss = uq::parse_ensemble_loss(type);
    } else {
        read_ensemble_term(o, loss + ".energy", r.fit.loss, r.fit.energy_weight);
        r.fit.forces_loss = r.fit.loss;
        read_ensemble_term(o, loss + ".energy.forces", r.fit.forces_loss, r.fit.forces_weight);
    }
    AD_CHECK(!o.has(loss) || r.fit.num_epochs > 0,
             o.where(loss) << ": '" << loss << "' expected only with num_epochs > 0 (it is the loss of the ensemble "
                                              "training), got num_epochs = " << r.fit.num_epochs);
    AD_CHECK(!o.get_bool(t + "train_all_parameters", false),
             o.where(t + "train_all_parameters")
                 << ": '" << t << "train_all_parameters' expected false (training the network with the ensemble "
                                  "loss is not implemented: only the ensemble weights are trained), got true");
    if (o.has(t + "include_noise")) {
        const bool noise = o.get_bool(t + "include_noise", false);
        AD_CHECK(r.fit.uncertainty_method == uq::UncertaintyMethod::laplace,
                 o.where(t + "include_noise") << ": '" << t << "include_noise' expected only with uncertainty_method = "
                                                 "\"laplace\" (llpr has no noise variance), got it with \"llpr\"");
        r.fit.include_noise = noise;
    }

    // metatrain's short form systems = "file.xyz" is [training_set.systems] read_from = "file.xyz"
    const std::string systems = o.is_string("training_set.systems") ? "training_set.systems" : "training_set.systems.read_from";
    AD_CHECK(o.has(systems), o.name() << ": expected 'training_set.systems.read_from' (the training structures), got none");
    r.train_path = o.get_string(systems, "");
    const std::string e = "training_set.targets.energy.";
    r.fit.energy_key = o.get_string(e + "key", "energy");
    const std::string unit = o.get_string(e + "unit", "eV");
    o.require_one_of(e + "unit", unit, {"eV"});
    o.require_one_of(e + "quantity", o.get_string(e + "quantity", "energy"), {"energy"});
    // forces for the ensemble training: left out, used when every training frame has "forces";
    // false: never; true, a key or a table with key: required
    const std::string fk = e + "forces";
    if (o.has(fk)) {
        r.fit.forces_required = true;
        if (o.is_string(fk)) {
            r.fit.forces_key = o.get_string(fk, "forces");
        } else if (o.is_table(fk)) {
            r.fit.forces_key = o.get_string(fk + ".key", "forces");
            AD_CHECK(!o.has(fk + ".read_from") || o.get_string(fk + ".read_from", "") == r.train_path,
                     o.where(fk + ".read_from") << ": '" << fk << ".read_from' expected the systems file '" << r.train_path
                                                << "' (forces from other files are not supported), got '"
                                                << o.get_string(fk + ".read_from", "") << "'");
        } else if (!o.get_bool(fk, true)) {
            r.fit.forces_key.clear();
            r.fit.forces_required = false;
        }
    }
    r.validation = read_data_set(o, "validation_set", r.validation);
    r.test = read_data_set(o, "test_set", r.test);
    return r;
}

LlprTrainOptions read_llpr_options(const std::string& path) { return parse_llpr_options(Options::from_file(path)); }

}  // namespace cli
