// The soap_bpnn part of the training options (see bpnn_options.hpp).
#include "cli/bpnn_options.hpp"

#include <sstream>

#include "autodiff/error.hpp"

namespace cli {

namespace {

const std::string kModel = "architecture.model.";

long at_least(const Options& o, const std::string& key, long fallback, long min) {
    long v = o.get_int(key, fallback);
    AD_CHECK(v >= min, o.where(key) << ": '" << key << "' expected >= " << min << ", got " << v);
    return v;
}

std::string read_bpnn_model(const Options& o) {
    nn::bpnn::BpnnHypers h;
    const std::string& m = kModel;
    h.cutoff = o.get_float(m + "soap.cutoff", h.cutoff);
    AD_CHECK(h.cutoff > 0, o.where(m + "soap.cutoff") << ": '" << m << "soap.cutoff' expected > 0, got " << h.cutoff);
    h.cutoff_width = o.get_float(m + "soap.cutoff_width", h.cutoff_width);
    AD_CHECK(h.cutoff_width > 0 && h.cutoff_width < h.cutoff,
             o.where(m + "soap.cutoff_width") << ": '" << m << "soap.cutoff_width' expected in (0, cutoff), got "
                                              << h.cutoff_width);
    h.max_angular = static_cast<int>(at_least(o, m + "soap.max_angular", h.max_angular, 0));
    h.max_radial = static_cast<int>(at_least(o, m + "soap.max_radial", h.max_radial, 0));
    h.num_hidden_layers = static_cast<int>(at_least(o, m + "bpnn.num_hidden_layers", h.num_hidden_layers, 0));
    h.num_neurons_per_layer = static_cast<int>(at_least(o, m + "bpnn.num_neurons_per_layer", h.num_neurons_per_layer, 1));
    h.layernorm = o.get_bool(m + "bpnn.layernorm", h.layernorm);
    h.zbl = o.get_bool(m + "zbl", h.zbl);
    const std::string head = o.get_string(m + "heads.energy", "linear");
    o.require_one_of(m + "heads.energy", head, {"linear", "mlp"});
    h.energy_head = nn::bpnn::parse_head(head);
    return h.to_toml();
}

std::string write_bpnn_model(const std::string& hypers) {
    const nn::bpnn::BpnnHypers h = nn::bpnn::BpnnHypers::from_toml(hypers, "hypers");
    auto num = [](double v) { return desc::format_double(v); };
    std::ostringstream os;
    os << "\n[architecture.model]\nzbl = " << (h.zbl ? "true" : "false") << "\n";  // was left out before the split
    os << "\n[architecture.model.soap]\ncutoff = " << num(h.cutoff) << "\ncutoff_width = " << num(h.cutoff_width)
       << "\nmax_angular = " << h.max_angular << "\nmax_radial = " << h.max_radial << "\n";
    os << "\n[architecture.model.bpnn]\nnum_hidden_layers = " << h.num_hidden_layers
       << "\nnum_neurons_per_layer = " << h.num_neurons_per_layer << "\nlayernorm = " << (h.layernorm ? "true" : "false")
       << "\n";
    os << "\n[architecture.model.heads]\nenergy = \"" << nn::bpnn::to_string(h.energy_head) << "\"\n";
    return os.str();
}

}  // namespace

ArchitectureOptions bpnn_architecture_options() {
    ArchitectureOptions a;
    a.name = "soap_bpnn";
    a.model_keys = {
        {kModel + "soap", Kind::table},
        {kModel + "soap.cutoff", Kind::floating},
        {kModel + "soap.cutoff_width", Kind::floating},
        {kModel + "soap.max_angular", Kind::integer},
        {kModel + "soap.max_radial", Kind::integer},
        {kModel + "bpnn", Kind::table},
        {kModel + "bpnn.num_hidden_layers", Kind::integer},
        {kModel + "bpnn.num_neurons_per_layer", Kind::integer},
        {kModel + "bpnn.layernorm", Kind::boolean},
        {kModel + "heads", Kind::table},
        {kModel + "zbl", Kind::boolean},
        {kModel + "heads.energy", Kind::string},
    };
    a.read_model = read_bpnn_model;
    a.write_model = write_bpnn_model;
    return a;
}

const std::map<std::string, Kind>& bpnn_option_keys() {
    static const std::map<std::string, Kind> keys = [] {
        std::map<std::string, Kind> k = common_option_keys();
        const ArchitectureOptions a = bpnn_architecture_options();
        k.insert(a.model_keys.begin(), a.model_keys.end());
        return k;
    }();
    return keys;
}

AtomisticTrainOptions BpnnTrainOptions::atomistic() const {
    AtomisticTrainOptions a;
    a.options_path = options_path;
    a.architecture = "soap_bpnn";
    a.hypers = settings.hypers.to_toml();
    a.settings = settings;  // the common part
    a.log_interval = log_interval;
    a.checkpoint_interval = checkpoint_interval;
    a.train_path = train_path;
    a.validation = validation;
    a.test = test;
    return a;
}

std::string BpnnTrainOptions::to_toml(PathStyle style) const { return atomistic().to_toml(style); }

BpnnTrainOptions parse_bpnn_options(const Options& o) {
    o.require_one_of("architecture.name", o.get_string("architecture.name", ""), {"soap_bpnn"});
    const AtomisticTrainOptions a = parse_atomistic_options(o);
    BpnnTrainOptions r;
    r.options_path = a.options_path;
    static_cast<nn::atomistic::TrainerSettings&>(r.settings) = a.settings;
    r.settings.hypers = nn::bpnn::BpnnHypers::from_toml(a.hypers, o.name());
    r.log_interval = a.log_interval;
    r.checkpoint_interval = a.checkpoint_interval;
    r.train_path = a.train_path;
    r.validation = a.validation;
    r.test = a.test;
    return r;
}

BpnnTrainOptions read_bpnn_options(const std::string& path) { return parse_bpnn_options(Options::from_file(path)); }

}  // namespace cli
