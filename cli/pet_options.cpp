// The nanopet and pet parts of the training options (see pet_options.hpp).
#include "cli/pet_options.hpp"

#include <map>
#include <sstream>
#include <vector>

#include "autodiff/error.hpp"
#include "descriptors/system.hpp"
#include "nn/pet/nanopet_hypers.hpp"
#include "nn/pet/pet_hypers.hpp"

namespace cli {

namespace {

const std::string kModel = "architecture.model.";

int read_count(const Options& o, const std::string& key, int fallback) {
    const long v = o.get_int(kModel + key, fallback);
    AD_CHECK(v >= 1 && v <= 1000000, o.where(kModel + key) << ": '" << kModel << key << "' expected >= 1, got " << v);
    return static_cast<int>(v);
}

double read_length(const Options& o, const std::string& key, double fallback) {
    const double v = o.get_float(kModel + key, fallback);
    AD_CHECK(v > 0, o.where(kModel + key) << ": '" << kModel << key << "' expected > 0, got " << v);
    return v;
}

std::string read_choice(const Options& o, const std::string& key, const std::string& fallback,
                        const std::vector<std::string>& allowed) {
    const std::string v = o.get_string(kModel + key, fallback);
    o.require_one_of(kModel + key, v, allowed);
    return v;
}

// Keys NanoPetHypers and PetHypers share, read in the order both read them: cutoff, cutoff_width,
// cutoff_function (one of `functions`, the default first), d_pet; then the attention layout.
template <class H>
void read_cutoff_and_width(const Options& o, H& h, const std::vector<std::string>& functions) {
    h.cutoff = read_length(o, "cutoff", h.cutoff);
    h.cutoff_width = read_length(o, "cutoff_width", h.cutoff_width);
    h.cutoff_function = nn::parse_cutoff_function(read_choice(o, "cutoff_function", nn::to_string(h.cutoff_function), functions));
    h.d_pet = read_count(o, "d_pet", h.d_pet);
}
template <class H>
void read_attention_layout(const Options& o, H& h) {
    h.num_heads = read_count(o, "num_heads", h.num_heads);
    h.num_attention_layers = read_count(o, "num_attention_layers", h.num_attention_layers);
    h.num_gnn_layers = read_count(o, "num_gnn_layers", h.num_gnn_layers);
}

// The [architecture.model] keys of both (nanopet and pet add their own).
std::map<std::string, Kind> shared_model_keys() {
    return {
        {kModel + "cutoff", Kind::floating},       {kModel + "cutoff_width", Kind::floating},
        {kModel + "cutoff_function", Kind::string}, {kModel + "d_pet", Kind::integer},
        {kModel + "num_heads", Kind::integer},      {kModel + "num_attention_layers", Kind::integer},
        {kModel + "num_gnn_layers", Kind::integer}, {kModel + "zbl", Kind::boolean},
    };
}

std::string read_nanopet_model(const Options& o) {
    nn::pet::NanoPetHypers h;
    read_cutoff_and_width(o, h, {"cosine", "bump"});
    read_attention_layout(o, h);
    h.zbl = o.get_bool(kModel + "zbl", h.zbl);
    h.energy_head = nn::pet::parse_head(read_choice(o, "heads.energy", nn::pet::to_string(h.energy_head), {"mlp", "linear"}));
    // the joint conditions (cutoff_width <= cutoff, d_pet divisible by num_heads), naming the file
    return nn::pet::NanoPetHypers::from_toml(h.to_toml(), o.name() + ": [architecture.model]").to_toml();
}

std::string read_pet_model(const Options& o) {
    nn::pet::PetHypers h;
    read_cutoff_and_width(o, h, {"bump", "cosine"});
    h.d_node = read_count(o, "d_node", h.d_node);
    h.d_head = read_count(o, "d_head", h.d_head);
    h.d_feedforward = read_count(o, "d_feedforward", h.d_feedforward);
    read_attention_layout(o, h);
    const std::string norm = read_choice(o, "normalization", to_string(h.normalization), {"RMSNorm", "LayerNorm"});
    h.normalization = norm == "RMSNorm" ? nn::pet::PetNorm::rms_norm : nn::pet::PetNorm::layer_norm;
    const std::string act = read_choice(o, "activation", to_string(h.activation), {"SwiGLU", "SiLU"});
    h.activation = act == "SwiGLU" ? nn::pet::PetActivation::swiglu : nn::pet::PetActivation::silu;
    const std::string tt = read_choice(o, "transformer_type", to_string(h.transformer_type), {"PreLN", "PostLN"});
    h.transformer_type = tt == "PreLN" ? nn::pet::PetTransformerType::pre_ln : nn::pet::PetTransformerType::post_ln;
    h.zbl = o.get_bool(kModel + "zbl", h.zbl);
    return nn::pet::PetHypers::from_toml(h.to_toml(), o.name() + ": [architecture.model]").to_toml();
}

// The hypers TOML (top-level keys, then [heads] for nanopet) as [architecture.model] tables.
std::string write_model(const std::string& hypers) {
    std::ostringstream os;
    os << "\n[architecture.model]\n";
    std::istringstream is(hypers);
    std::string line;
    while (std::getline(is, line)) {
        if (line.size() > 2 && line.front() == '[' && line.back() == ']') {
            os << "[architecture.model." << line.substr(1);  // "[heads]" -> "[architecture.model.heads]"
        } else {
            os << line;
        }
        os << "\n";
    }
    return os.str();
}

}  // namespace

ArchitectureOptions nanopet_architecture_options() {
    ArchitectureOptions a;
    a.name = "nanopet";
    a.model_keys = shared_model_keys();
    a.model_keys.insert({{kModel + "heads", Kind::table}, {kModel + "heads.energy", Kind::string}});
    a.training_keys = {"scheduler_patience", "scheduler_factor"};
    a.read_model = read_nanopet_model;
    a.write_model = write_model;
    a.training_defaults = [](AtomisticTrainOptions& r) {
        nn::atomistic::TrainerSettings& s = r.settings;
        s.batch_size = 16;
        s.num_epochs = 10000;
        s.learning_rate = 3e-4;
        s.warmup_fraction = 0.0;
        s.scheduler = nn::atomistic::LrScheduler::plateau;
        s.scheduler_patience = 100;
        s.scheduler_factor = 0.8;
        s.scale_targets = true;
        s.log_mae = false;
        s.best_model_metric = nn::atomistic::BestModelMetric::rmse_prod;
        r.log_interval = 10;
        r.checkpoint_interval = 100;
    };
    return a;
}

ArchitectureOptions pet_architecture_options() {
    ArchitectureOptions a;
    a.name = "pet";
    a.model_keys = shared_model_keys();
    a.model_keys.insert({{kModel + "d_node", Kind::integer},
                         {kModel + "d_head", Kind::integer},
                         {kModel + "d_feedforward", Kind::integer},
                         {kModel + "normalization", Kind::string},
                         {kModel + "activation", Kind::string},
                         {kModel + "transformer_type", Kind::string}});
    a.training_keys = {"grad_clip_norm"};
    a.read_model = read_pet_model;
    a.write_model = write_model;
    a.training_defaults = [](AtomisticTrainOptions& r) {
        nn::atomistic::TrainerSettings& s = r.settings;
        s.batch_size = 16;
        s.num_epochs = 1000;
        s.learning_rate = 1e-4;
        s.warmup_fraction = 0.01;
        s.scheduler = nn::atomistic::LrScheduler::warmup_cosine;
        s.grad_clip_norm = 1.0;
        s.scale_targets = true;
        s.log_mae = true;
        s.best_model_metric = nn::atomistic::BestModelMetric::mae_prod;
        r.log_interval = 1;
        r.checkpoint_interval = 100;
    };
    return a;
}

}  // namespace cli
