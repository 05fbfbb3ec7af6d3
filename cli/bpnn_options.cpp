// Strict reading of the soap_bpnn training options (see bpnn_options.hpp).
#include "cli/bpnn_options.hpp"

#include "autodiff/error.hpp"

namespace cli {

const std::map<std::string, Kind>& bpnn_option_keys() {
    static const std::map<std::string, Kind> s = {
        {"seed", Kind::integer},
        {"base_precision", Kind::integer},
        {"architecture", Kind::table},
        {"architecture.name", Kind::string},
        {"architecture.model", Kind::table},
        {"architecture.model.soap", Kind::table},
        {"architecture.model.soap.cutoff", Kind::floating},
        {"architecture.model.soap.cutoff_width", Kind::floating},
        {"architecture.model.soap.max_angular", Kind::integer},
        {"architecture.model.soap.max_radial", Kind::integer},
        {"architecture.model.bpnn", Kind::table},
        {"architecture.model.bpnn.num_hidden_layers", Kind::integer},
        {"architecture.model.bpnn.num_neurons_per_layer", Kind::integer},
        {"architecture.model.bpnn.layernorm", Kind::boolean},
        {"architecture.model.heads", Kind::table},
        {"architecture.model.heads.energy", Kind::string},
        {"architecture.training", Kind::table},
        {"architecture.training.num_epochs", Kind::integer},
        {"architecture.training.batch_size", Kind::integer},
        {"architecture.training.learning_rate", Kind::floating},
        {"architecture.training.warmup_fraction", Kind::floating},
        {"architecture.training.log_interval", Kind::integer},
        {"architecture.training.checkpoint_interval", Kind::integer},
        {"architecture.training.loss_weights", Kind::table},
        {"architecture.training.loss_weights.energy", Kind::floating},
        {"architecture.training.loss_weights.forces", Kind::floating},
        {"architecture.training.loss_weights.stress", Kind::floating},
        {"training_set", Kind::table},
        {"training_set.systems", Kind::table},
        {"training_set.systems.read_from", Kind::string},
        {"training_set.systems.length_unit", Kind::string},
        {"training_set.targets", Kind::table},
        {"training_set.targets.energy", Kind::table},
        {"training_set.targets.energy.key", Kind::string},
        {"training_set.targets.energy.unit", Kind::string},
        {"training_set.targets.energy.forces", Kind::boolean},
        {"training_set.targets.energy.stress", Kind::boolean},
        {"validation_set", Kind::fraction_or_file},
        {"validation_set.read_from", Kind::string},
        {"validation_set.systems", Kind::table},
        {"validation_set.systems.read_from", Kind::string},
        {"test_set", Kind::fraction_or_file},
        {"test_set.read_from", Kind::string},
        {"test_set.systems", Kind::table},
        {"test_set.systems.read_from", Kind::string},
    };
    return s;
}

namespace {

DataSource read_set(const Options& o, const std::string& key, DataSource fallback) {
    if (!o.has(key)) return fallback;
    DataSource d;
    for (const std::string& k : {key + ".read_from", key + ".systems.read_from"}) {
        if (o.has(k)) {
            d.kind = DataSource::Kind::file;
            d.path = o.get_string(k, "");
            return d;
        }
    }
    if (o.is_string(key)) {
        d.kind = DataSource::Kind::file;
        d.path = o.get_string(key, "");
        return d;
    }
    AD_CHECK(!o.is_table(key), o.where(key) << ": '" << key << "' expected a table with read_from, got a table without it");
    d.fraction = o.get_float(key, 0.0);
    AD_CHECK(d.fraction >= 0 && d.fraction < 1,
             o.where(key) << ": '" << key << "' expected a fraction in [0, 1), got " << d.fraction);
    d.kind = d.fraction > 0 ? DataSource::Kind::fraction : DataSource::Kind::none;
    return d;
}

long positive(const Options& o, const std::string& key, long fallback, long min) {
    long v = o.get_int(key, fallback);
    AD_CHECK(v >= min, o.where(key) << ": '" << key << "' expected >= " << min << ", got " << v);
    return v;
}

}  // namespace

BpnnTrainOptions parse_bpnn_options(const Options& o) {
    o.check(bpnn_option_keys());
    BpnnTrainOptions r;
    r.options_path = o.name();
    const std::string name = o.get_string("architecture.name", "");
    o.require_one_of("architecture.name", name, {"soap_bpnn"});
    nn::bpnn::TrainerSettings& s = r.settings;
    s.seed = o.get_int("seed", 0);
    nn::bpnn::BpnnHypers& h = s.hypers;
    const std::string m = "architecture.model.";
    h.cutoff = o.get_float(m + "soap.cutoff", h.cutoff);
    AD_CHECK(h.cutoff > 0, o.where(m + "soap.cutoff") << ": '" << m << "soap.cutoff' expected > 0, got " << h.cutoff);
    h.cutoff_width = o.get_float(m + "soap.cutoff_width", h.cutoff_width);
    AD_CHECK(h.cutoff_width > 0 && h.cutoff_width < h.cutoff,
             o.where(m + "soap.cutoff_width") << ": '" << m << "soap.cutoff_width' expected in (0, cutoff), got "
                                              << h.cutoff_width);
    h.max_angular = static_cast<int>(positive(o, m + "soap.max_angular", h.max_angular, 0));
    h.max_radial = static_cast<int>(positive(o, m + "soap.max_radial", h.max_radial, 0));
    h.num_hidden_layers = static_cast<int>(positive(o, m + "bpnn.num_hidden_layers", h.num_hidden_layers, 0));
    h.num_neurons_per_layer = static_cast<int>(positive(o, m + "bpnn.num_neurons_per_layer", h.num_neurons_per_layer, 1));
    h.layernorm = o.get_bool(m + "bpnn.layernorm", h.layernorm);
    const std::string head = o.get_string(m + "heads.energy", "linear");
    o.require_one_of(m + "heads.energy", head, {"linear", "mlp"});
    h.energy_head = nn::bpnn::parse_head(head);

    const std::string t = "architecture.training.";
    s.num_epochs = positive(o, t + "num_epochs", s.num_epochs, 1);
    s.batch_size = positive(o, t + "batch_size", s.batch_size, 1);
    s.learning_rate = o.get_float(t + "learning_rate", s.learning_rate);
    AD_CHECK(s.learning_rate > 0, o.where(t + "learning_rate") << ": '" << t << "learning_rate' expected > 0, got "
                                                               << s.learning_rate);
    s.warmup_fraction = o.get_float(t + "warmup_fraction", s.warmup_fraction);
    AD_CHECK(s.warmup_fraction >= 0 && s.warmup_fraction < 1,
             o.where(t + "warmup_fraction") << ": '" << t << "warmup_fraction' expected in [0, 1), got "
                                            << s.warmup_fraction);
    r.log_interval = positive(o, t + "log_interval", r.log_interval, 1);
    r.checkpoint_interval = positive(o, t + "checkpoint_interval", r.checkpoint_interval, 0);
    s.weights.energy = o.get_float(t + "loss_weights.energy", s.weights.energy);
    s.weights.forces = o.get_float(t + "loss_weights.forces", s.weights.forces);
    s.weights.stress = o.get_float(t + "loss_weights.stress", s.weights.stress);

    AD_CHECK(o.has("training_set.systems.read_from"),
             o.name() << ": expected 'training_set.systems.read_from' (the training structures), got none");
    r.train_path = o.get_string("training_set.systems.read_from", "");
    const std::string e = "training_set.targets.energy.";
    s.energy_key = o.get_string(e + "key", "energy");
    const std::string unit = o.get_string(e + "unit", "eV");
    o.require_one_of(e + "unit", unit, {"eV"});
    if (!o.get_bool(e + "forces", true)) s.weights.forces = 0;
    r.use_stress = o.get_bool(e + "stress", false);
    if (!r.use_stress) s.weights.stress = 0;
    r.validation = read_set(o, "validation_set", r.validation);
    r.test = read_set(o, "test_set", r.test);
    return r;
}

BpnnTrainOptions read_bpnn_options(const std::string& path) { return parse_bpnn_options(Options::from_file(path)); }

}  // namespace cli
