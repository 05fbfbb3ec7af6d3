// Strict reading of the training options of atomistic architectures (see atomistic_options.hpp).
#include "cli/atomistic_options.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "autodiff/error.hpp"
#include "cli/bpnn_options.hpp"
#include "cli/files.hpp"
#include "cli/pet_options.hpp"
#include "descriptors/system.hpp"

namespace cli {

namespace fs = std::filesystem;

namespace {

const std::string kTrain = "architecture.training.";
const std::string kLoss = "architecture.training.loss";
const std::string kEnergy = "training_set.targets.energy";

// Where each term of the loss may be written (current metatrain layout first, then the internal
// "gradients" form, then the older layout with forces / stress / virial next to the target).
const std::vector<std::string> kForcesTerm = {kLoss + ".energy.forces", kLoss + ".energy.gradients.positions",
                                              kLoss + ".forces"};
const std::vector<std::string> kStrainTerm = {kLoss + ".energy.stress", kLoss + ".energy.virial",
                                              kLoss + ".energy.gradients.strain", kLoss + ".stress",
                                              kLoss + ".virial"};

void add_term_keys(std::map<std::string, Kind>& s, const std::string& key) {
    s[key] = Kind::string_or_table;
    s[key + ".type"] = Kind::string;
    s[key + ".weight"] = Kind::floating;
    s[key + ".reduction"] = Kind::string;
    s[key + ".delta"] = Kind::floating;
}

}  // namespace

namespace {

/// The CLI's architectures: one line each (tests add theirs with register_architecture_options).
std::vector<ArchitectureOptions>& architecture_options_table() {
    static std::vector<ArchitectureOptions> table = {
        bpnn_architecture_options(),
        nanopet_architecture_options(),
        pet_architecture_options(),
    };
    return table;
}

/// The optional trainer keys (ArchitectureOptions::training_keys) and their kinds.
const std::map<std::string, Kind>& optional_training_keys() {
    static const std::map<std::string, Kind> k = {
        {"grad_clip_norm", Kind::floating},
        {"scheduler", Kind::string},
        {"scheduler_patience", Kind::integer},
        {"scheduler_factor", Kind::floating},
    };
    return k;
}

}  // namespace

void register_architecture_options(ArchitectureOptions options) {
    unregister_architecture_options(options.name);
    architecture_options_table().push_back(std::move(options));
}

void unregister_architecture_options(const std::string& name) {
    auto& t = architecture_options_table();
    t.erase(std::remove_if(t.begin(), t.end(), [&](const ArchitectureOptions& a) { return a.name == name; }), t.end());
}

std::vector<std::string> architecture_option_names() {
    std::vector<std::string> names;
    for (const auto& a : architecture_options_table()) names.push_back(a.name);
    std::sort(names.begin(), names.end());
    return names;
}

const ArchitectureOptions& find_architecture_options(const std::string& name) {
    for (const auto& a : architecture_options_table())
        if (a.name == name) return a;
    std::string known;
    for (const auto& n : architecture_option_names()) known += (known.empty() ? "" : ", ") + n;
    AD_FAIL("architecture.name: expected one of " << known << ", got '" << name << "'");
}

const std::map<std::string, Kind>& common_option_keys() {
    static const std::map<std::string, Kind> s = [] {
        std::map<std::string, Kind> k = {
            {"seed", Kind::integer},
            {"base_precision", Kind::integer},
            {"architecture", Kind::table},
            {"architecture.name", Kind::string},
            {"architecture.model", Kind::table},
            {"architecture.training", Kind::table},
            {kTrain + "num_epochs", Kind::integer},
            {kTrain + "batch_size", Kind::integer},
            {kTrain + "learning_rate", Kind::floating},
            {kTrain + "warmup_fraction", Kind::floating},
            {kTrain + "log_interval", Kind::integer},
            {kTrain + "checkpoint_interval", Kind::integer},
            {kTrain + "per_structure_targets", Kind::string_or_list},
            {kTrain + "log_mae", Kind::boolean},
            {kTrain + "log_separate_blocks", Kind::boolean},
            {kTrain + "best_model_metric", Kind::string},
            {kTrain + "scale_targets", Kind::boolean},
            {kTrain + "remove_composition_contribution", Kind::boolean},
            {kTrain + "fixed_scaling_weights", Kind::table},
            {kTrain + "fixed_scaling_weights.energy", Kind::floating},
            {kTrain + "fixed_composition_weights", Kind::table},
            {kTrain + "fixed_composition_weights.energy", Kind::any_table},
            {kTrain + "loss_weights", Kind::table},
            {kTrain + "loss_weights.energy", Kind::floating},
            {kTrain + "loss_weights.forces", Kind::floating},
            {kTrain + "loss_weights.stress", Kind::floating},
            {kLoss + ".energy.gradients", Kind::table},
            {"training_set", Kind::table},
            {"training_set.systems", Kind::string_or_table},
            {"training_set.systems.read_from", Kind::string},
            {"training_set.systems.length_unit", Kind::string},
            {"training_set.targets", Kind::table},
            {kEnergy, Kind::table},
            {kEnergy + ".key", Kind::string},
            {kEnergy + ".unit", Kind::string},
            {kEnergy + ".quantity", Kind::string},
            {kEnergy + ".read_from", Kind::string},
            {"validation_set", Kind::fraction_or_file},
            {"validation_set.read_from", Kind::string},
            {"validation_set.systems", Kind::table},
            {"validation_set.systems.read_from", Kind::string},
            {"test_set", Kind::fraction_or_file},
            {"test_set.read_from", Kind::string},
            {"test_set.systems", Kind::table},
            {"test_set.systems.read_from", Kind::string},
        };
        k[kLoss] = Kind::string_or_table;
        add_term_keys(k, kLoss + ".energy");
        for (const auto& key : kForcesTerm) add_term_keys(k, key);
        for (const auto& key : kStrainTerm) add_term_keys(k, key);
        for (const char* g : {"forces", "stress", "virial"}) {
            k[kEnergy + "." + g] = Kind::bool_string_or_table;
            k[kEnergy + "." + g + ".key"] = Kind::string;
            k[kEnergy + "." + g + ".read_from"] = Kind::string;
        }
        return k;
    }();
    return s;
}

namespace {


/// Whether two paths written in the options name the same file (relative to the options' folder).
bool same_file(const Options& o, const std::string& a, const std::string& b) {
    return fs::path(join_path(o.base_dir(), a)).lexically_normal() == fs::path(join_path(o.base_dir(), b)).lexically_normal();
}

long positive(const Options& o, const std::string& key, long fallback, long min) {
    long v = o.get_int(key, fallback);
    AD_CHECK(v >= min, o.where(key) << ": '" << key << "' expected >= " << min << ", got " << v);
    return v;
}

/// One loss term at `key`: a type string, or a table of type / weight / reduction / delta.
void read_term(const Options& o, const std::string& key, nn::atomistic::LossTerm& term) {
    if (!o.has(key)) return;
    const std::string type_key = o.is_string(key) ? key : key + ".type";
    const std::string type = o.get_string(type_key, nn::atomistic::to_string(term.type));
    o.require_one_of(type_key, type, {"mse", "mae", "huber"});
    term.type = nn::atomistic::parse_loss_type(type);
    if (o.is_string(key)) return;
    term.weight = o.get_float(key + ".weight", term.weight);
    AD_CHECK(term.weight >= 0, o.where(key + ".weight") << ": '" << key << ".weight' expected >= 0, got " << term.weight);
    const std::string reduction = o.get_string(key + ".reduction", nn::atomistic::to_string(term.reduction));
    o.require_one_of(key + ".reduction", reduction, {"mean", "sum"});
    term.reduction = nn::atomistic::parse_reduction(reduction);
    if (o.has(key + ".delta")) {
        AD_CHECK(term.type == nn::atomistic::LossType::huber,
                 o.where(key + ".delta") << ": '" << key << ".delta' expected only with type = \"huber\", got type = \""
                                         << type << "\"");
        term.delta = o.get_float(key + ".delta", term.delta);
        AD_CHECK(term.delta > 0, o.where(key + ".delta") << ": '" << key << ".delta' expected > 0, got " << term.delta);
    }
}

/// The one place (of `keys`) a term is written, or "" (two places are an error).
std::string term_key(const Options& o, const std::vector<std::string>& keys) {
    std::string found;
    for (const auto& k : keys) {
        if (!o.has(k)) continue;
        AD_CHECK(found.empty(), o.where(k) << ": '" << k << "' expected once, got it also as '" << found << "'");
        found = k;
    }
    return found;
}

/// A target gradient (forces / stress / virial): "" when off, else the per-frame key.
std::string read_gradient(const Options& o, const std::string& name, bool fallback, const std::string& systems) {
    const std::string key = kEnergy + "." + name;
    if (!o.has(key)) return fallback ? name : "";
    if (o.is_string(key)) return o.get_string(key, name);
    if (!o.is_table(key)) return o.get_bool(key, fallback) ? name : "";
    const std::string from = o.get_string(key + ".read_from", systems);
    AD_CHECK(same_file(o, from, systems),
             o.where(key + ".read_from") << ": '" << key << ".read_from' expected the systems file '" << systems
                                         << "' (targets from other files are not supported), got '" << from << "'");
    return o.get_string(key + ".key", name);
}

}  // namespace

DataSource read_data_set(const Options& o, const std::string& key, DataSource fallback) {
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

AtomisticTrainOptions parse_atomistic_options(const Options& o) {
    AtomisticTrainOptions r;
    r.options_path = o.name();
    const std::string name = o.get_string("architecture.name", "");
    o.require_one_of("architecture.name", name, architecture_option_names());
    const ArchitectureOptions& arch = find_architecture_options(name);
    std::map<std::string, Kind> keys = common_option_keys();
    keys.insert(arch.model_keys.begin(), arch.model_keys.end());
    for (const std::string& k : arch.training_keys) keys[kTrain + k] = optional_training_keys().at(k);
    o.check(keys);
    r.architecture = name;
    if (arch.training_defaults) arch.training_defaults(r);
    nn::atomistic::TrainerSettings& s = r.settings;
    s.seed = o.get_int("seed", 0);
    r.hypers = arch.read_model(o);

    const std::string& t = kTrain;
    s.num_epochs = positive(o, t + "num_epochs", s.num_epochs, 1);
    s.batch_size = positive(o, t + "batch_size", s.batch_size, 1);
    s.learning_rate = o.get_float(t + "learning_rate", s.learning_rate);
    AD_CHECK(s.learning_rate > 0, o.where(t + "learning_rate") << ": '" << t << "learning_rate' expected > 0, got "
                                                               << s.learning_rate);
    s.warmup_fraction = o.get_float(t + "warmup_fraction", s.warmup_fraction);
    AD_CHECK(s.warmup_fraction >= 0 && s.warmup_fraction < 1,
             o.where(t + "warmup_fraction") << ": '" << t << "warmup_fraction' expected in [0, 1), got "
                                            << s.warmup_fraction);
    if (o.has(t + "scheduler")) {
        const std::string scheduler = o.get_string(t + "scheduler", "");
        o.require_one_of(t + "scheduler", scheduler, {"warmup_cosine", "plateau"});
        s.scheduler = nn::atomistic::parse_lr_scheduler(scheduler);
    }
    s.scheduler_patience = positive(o, t + "scheduler_patience", s.scheduler_patience, 0);
    s.scheduler_factor = o.get_float(t + "scheduler_factor", s.scheduler_factor);
    AD_CHECK(s.scheduler_factor > 0 && s.scheduler_factor < 1,
             o.where(t + "scheduler_factor") << ": '" << t << "scheduler_factor' expected in (0, 1), got "
                                             << s.scheduler_factor);
    s.grad_clip_norm = o.get_float(t + "grad_clip_norm", s.grad_clip_norm);
    AD_CHECK(s.grad_clip_norm > 0, o.where(t + "grad_clip_norm") << ": '" << t
                                                                 << "grad_clip_norm' expected > 0 (inf: no clipping), got "
                                                                 << s.grad_clip_norm);
    r.log_interval = positive(o, t + "log_interval", r.log_interval, 1);
    r.checkpoint_interval = positive(o, t + "checkpoint_interval", r.checkpoint_interval, 0);
    for (const std::string& target : o.get_string_list(t + "per_structure_targets", {})) {
        o.require_one_of(t + "per_structure_targets", target, {"energy"});
        s.loss.per_structure = true;
    }
    s.log_mae = o.get_bool(t + "log_mae", s.log_mae);
    s.log_separate_blocks = o.get_bool(t + "log_separate_blocks", s.log_separate_blocks);
    const std::string metric = o.get_string(t + "best_model_metric", nn::atomistic::to_string(s.best_model_metric));
    o.require_one_of(t + "best_model_metric", metric, {"rmse_prod", "mae_prod", "loss"});
    s.best_model_metric = nn::atomistic::parse_best_model_metric(metric);
    s.scale_targets = o.get_bool(t + "scale_targets", s.scale_targets);
    if (o.has(t + "fixed_scaling_weights.energy")) {
        const std::string k = t + "fixed_scaling_weights.energy";
        const double w = o.get_float(k, 1.0);
        AD_CHECK(w > 0, o.where(k) << ": '" << k << "' expected > 0, got " << w);
        AD_CHECK(s.scale_targets, o.where(k) << ": '" << k << "' expected scale_targets = true, got scale_targets = false");
        s.fixed_scaling_weight = w;
    }
    s.remove_composition_contribution = o.get_bool(t + "remove_composition_contribution", true);
    const std::string fixed = t + "fixed_composition_weights.energy";
    for (const std::string& z : o.keys(fixed)) {
        const std::string k = fixed + "." + z;
        long Z = 0;
        size_t used = 0;
        try {
            Z = std::stol(z, &used);
        } catch (const std::logic_error&) {
            used = 0;
        }
        AD_CHECK(used == z.size() && Z >= 1 && Z <= 118,
                 o.where(k) << ": '" << k << "' expected an atomic number (1 .. 118) as the key, got '" << z << "'");
        s.fixed_composition_weights[static_cast<int>(Z)] = o.get_float(k, 0.0);
    }
    AD_CHECK(s.fixed_composition_weights.empty() || s.remove_composition_contribution,
             o.where(fixed) << ": '" << fixed << "' expected remove_composition_contribution = true, got false");

    // ---- loss: the current table, or the legacy loss_weights
    nn::atomistic::LossConfig& L = s.loss;
    AD_CHECK(!(o.has(kLoss) && o.has(t + "loss_weights")),
             o.where(t + "loss_weights") << ": '" << t << "loss_weights' expected alone, got it with '" << kLoss
                                         << "'; write the weights as [" << kLoss << ".energy] weight, ["
                                         << kLoss << ".energy.forces] weight, [" << kLoss << ".energy.stress] weight");
    if (o.is_string(kLoss)) {
        const std::string type = o.get_string(kLoss, "mse");
        o.require_one_of(kLoss, type, {"mse", "mae", "huber"});
        L.energy.type = L.forces.type = L.strain.type = nn::atomistic::parse_loss_type(type);
    }
    read_term(o, kLoss + ".energy", L.energy);
    read_term(o, term_key(o, kForcesTerm), L.forces);
    read_term(o, term_key(o, kStrainTerm), L.strain);
    L.energy.weight = o.get_float(t + "loss_weights.energy", L.energy.weight);
    L.forces.weight = o.get_float(t + "loss_weights.forces", L.forces.weight);
    L.strain.weight = o.get_float(t + "loss_weights.stress", L.strain.weight);
    for (const char* w : {"energy", "forces", "stress"}) {
        const std::string k = t + "loss_weights." + w;
        AD_CHECK(o.get_float(k, 0.0) >= 0, o.where(k) << ": '" << k << "' expected >= 0, got " << o.get_float(k, 0.0));
    }

    // ---- data and targets
    // metatrain's short form systems = "file.xyz" is [training_set.systems] read_from = "file.xyz"
    const std::string systems = o.is_string("training_set.systems") ? "training_set.systems" : "training_set.systems.read_from";
    AD_CHECK(o.has(systems),
             o.name() << ": expected 'training_set.systems.read_from' (the training structures), got none");
    r.train_path = o.get_string(systems, "");
    const std::string e = kEnergy + ".";
    s.energy_key = o.get_string(e + "key", "energy");
    const std::string unit = o.get_string(e + "unit", "eV");
    o.require_one_of(e + "unit", unit, {"eV"});
    o.require_one_of(e + "quantity", o.get_string(e + "quantity", "energy"), {"energy"});
    const std::string energy_from = o.get_string(e + "read_from", r.train_path);
    AD_CHECK(same_file(o, energy_from, r.train_path),
             o.where(e + "read_from") << ": '" << e << "read_from' expected the systems file '" << r.train_path
                                      << "' (targets from other files are not supported), got '" << energy_from << "'");
    s.forces_key = read_gradient(o, "forces", true, r.train_path);
    s.stress_key = read_gradient(o, "stress", false, r.train_path);
    s.virial_key = read_gradient(o, "virial", false, r.train_path);
    AD_CHECK(s.stress_key.empty() || s.virial_key.empty(),
             o.where(e + "virial") << ": '" << e << "virial' expected false when stress is used (both are the strain "
                                                  "gradient), got both");
    r.validation = read_data_set(o, "validation_set", r.validation);
    r.test = read_data_set(o, "test_set", r.test);
    return r;
}

AtomisticTrainOptions read_atomistic_options(const std::string& path) {
    return parse_atomistic_options(Options::from_file(path));
}

namespace {

std::string quote(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string num(double v) { return desc::format_double(v); }

void write_term(std::ostream& os, const std::string& table, const nn::atomistic::LossTerm& term) {
    os << "\n[" << table << "]\ntype = " << quote(nn::atomistic::to_string(term.type)) << "\nweight = " << num(term.weight)
       << "\nreduction = " << quote(nn::atomistic::to_string(term.reduction)) << "\n";
    if (term.type == nn::atomistic::LossType::huber) os << "delta = " << num(term.delta) << "\n";
}

}  // namespace

std::string AtomisticTrainOptions::to_toml(PathStyle style) const {
    const std::string base = dirname_of(options_path);
    auto path = [&](const std::string& p) { return style == PathStyle::absolute ? absolute_path(join_path(base, p)) : p; };
    auto source = [&](const DataSource& d) { return d.kind == DataSource::Kind::file ? quote(path(d.path)) : num(d.fraction); };
    const nn::atomistic::TrainerSettings& s = settings;
    const ArchitectureOptions& arch = find_architecture_options(architecture);
    std::ostringstream os;
    os << "# fully expanded options of this run (defaults filled in)\n";
    os << "seed = " << s.seed << "\n";
    os << "validation_set = " << source(validation) << "\n";  // 0: none (absent would mean 0.1)
    if (test.kind != DataSource::Kind::none) os << "test_set = " << source(test) << "\n";
    os << "\n[architecture]\nname = " << quote(architecture) << "\n";
    os << arch.write_model(hypers);
    os << "\n[architecture.training]\nnum_epochs = " << s.num_epochs << "\nbatch_size = " << s.batch_size
       << "\nlearning_rate = " << num(s.learning_rate) << "\nwarmup_fraction = " << num(s.warmup_fraction)
       << "\nlog_interval = " << log_interval << "\ncheckpoint_interval = " << checkpoint_interval
       << "\nper_structure_targets = [" << (s.loss.per_structure ? "\"energy\"" : "") << "]"
       << "\nlog_mae = " << (s.log_mae ? "true" : "false")
       << "\nlog_separate_blocks = " << (s.log_separate_blocks ? "true" : "false")
       << "\nbest_model_metric = " << quote(nn::atomistic::to_string(s.best_model_metric))
       << "\nscale_targets = " << (s.scale_targets ? "true" : "false")
       << "\nremove_composition_contribution = " << (s.remove_composition_contribution ? "true" : "false") << "\n";
    for (const std::string& k : arch.training_keys) {  // only where the architecture accepts them
        if (k == "grad_clip_norm") os << "grad_clip_norm = " << (std::isinf(s.grad_clip_norm) ? "inf" : num(s.grad_clip_norm)) << "\n";
        if (k == "scheduler") os << "scheduler = " << quote(nn::atomistic::to_string(s.scheduler)) << "\n";
        if (k == "scheduler_patience") os << "scheduler_patience = " << s.scheduler_patience << "\n";
        if (k == "scheduler_factor") os << "scheduler_factor = " << num(s.scheduler_factor) << "\n";
    }
    if (s.fixed_scaling_weight) os << "\n[architecture.training.fixed_scaling_weights]\nenergy = " << num(*s.fixed_scaling_weight) << "\n";
    if (!s.fixed_composition_weights.empty()) {
        os << "\n[architecture.training.fixed_composition_weights.energy]\n";
        for (const auto& [Z, w] : s.fixed_composition_weights) os << Z << " = " << num(w) << "\n";
    }
    write_term(os, kLoss + ".energy", s.loss.energy);
    write_term(os, kLoss + ".energy.gradients.positions", s.loss.forces);
    write_term(os, kLoss + ".energy.gradients.strain", s.loss.strain);
    os << "\n[training_set.systems]\nread_from = " << quote(path(train_path)) << "\n";
    os << "\n[training_set.targets.energy]\nquantity = \"energy\"\nkey = " << quote(s.energy_key) << "\nunit = \"eV\"\n";
    auto gradient = [&](const char* name, const std::string& key) {
        os << name << " = " << (key.empty() ? std::string("false") : quote(key)) << "\n";
    };
    gradient("forces", s.forces_key);
    gradient("stress", s.stress_key);
    gradient("virial", s.virial_key);
    return os.str();
}

}  // namespace cli
