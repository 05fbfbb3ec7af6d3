// Learning-rate schedules (formulas in scheduler.hpp).
#include "nn/scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

namespace nn {

using ad::operator<<;  // Shape is a std::vector: bring its printer into scope

namespace {

constexpr ScheduleKind kAllKinds[] = {ScheduleKind::constant, ScheduleKind::cosine, ScheduleKind::step};

void validate(double base_lr, long warmup_steps, ScheduleKind kind, long total_steps, const ScheduleOptions& o) {
    AD_CHECK(std::isfinite(base_lr) && base_lr >= 0, "lr schedule: expected base_lr >= 0, got " << base_lr);
    AD_CHECK(warmup_steps >= 0, "lr schedule: expected warmup_steps >= 0, got " << warmup_steps);
    if (kind == ScheduleKind::cosine) {
        AD_CHECK(total_steps > warmup_steps, "lr schedule: expected total_steps > warmup_steps for cosine, got "
                                                 << total_steps << " and " << warmup_steps);
        AD_CHECK(o.eta_min >= 0 && o.eta_min <= base_lr,
                 "lr schedule: expected 0 <= eta_min <= base_lr, got " << o.eta_min);
    }
    if (kind == ScheduleKind::step) {
        AD_CHECK(o.step_size > 0, "lr schedule: expected step_size > 0, got " << o.step_size);
        AD_CHECK(o.gamma > 0, "lr schedule: expected gamma > 0, got " << o.gamma);
    }
}

// Reads named scalars, each exactly once, and rejects unknown names.
class ScalarReader {
  public:
    ScalarReader(const NamedTensors& state, const char* where) : where_(where) {
        for (const auto& kv : state) {
            AD_CHECK(values_.count(kv.first) == 0, where << ": expected each name once, got '" << kv.first << "' twice");
            AD_CHECK(kv.second.defined() && kv.second.numel() == 1,
                     where << ": expected '" << kv.first << "' of shape [], got " << kv.second.shape());
            values_[kv.first] = kv.second.item();
        }
    }
    double get(const std::string& name) {
        auto it = values_.find(name);
        AD_CHECK(it != values_.end(), where_ << ": missing '" << name << "'");
        double v = it->second;
        values_.erase(it);
        return v;
    }
    long get_long(const std::string& name) {
        double v = get(name);
        AD_CHECK(v == std::floor(v) && std::fabs(v) < 9e15, where_ << ": expected '" << name << "' to be a whole number, got " << v);
        return static_cast<long>(v);
    }
    void finish() const {
        AD_CHECK(values_.empty(), where_ << ": unexpected '" << values_.begin()->first << "'");
    }

  private:
    const char* where_;
    std::unordered_map<std::string, double> values_;
};

}  // namespace

ScheduleKind parse_schedule_kind(const std::string& name) {
    std::string names;
    for (ScheduleKind k : kAllKinds) {
        if (to_string(k) == name) return k;
        names += (names.empty() ? "" : ", ") + to_string(k);
    }
    throw ad::Error("lr schedule: expected one of " + names + ", got '" + name + "'");
}

std::string to_string(ScheduleKind kind) {
    switch (kind) {
        case ScheduleKind::constant: return "constant";
        case ScheduleKind::cosine: return "cosine";
        case ScheduleKind::step: return "step";
    }
    throw ad::Error("to_string: unknown schedule kind " + std::to_string(static_cast<int>(kind)));
}

// ----------------------------------------------------------------------------- LrSchedule

LrSchedule::LrSchedule(double base_lr, long warmup_steps, ScheduleKind kind, long total_steps, ScheduleOptions options)
    : base_lr_(base_lr), warmup_steps_(warmup_steps), kind_(kind), total_steps_(total_steps), options_(options) {
    validate(base_lr, warmup_steps, kind, total_steps, options);
}

double LrSchedule::lr_at(long step) const {
    AD_CHECK(step >= 0, "lr schedule: expected step >= 0, got " << step);
    if (step < warmup_steps_) return base_lr_ * static_cast<double>(step + 1) / static_cast<double>(warmup_steps_);
    const long s = step - warmup_steps_;
    switch (kind_) {
        case ScheduleKind::constant: return base_lr_;
        case ScheduleKind::cosine: {
            const long span = total_steps_ - warmup_steps_;
            if (s >= span) return options_.eta_min;
            const double c = std::cos(M_PI * static_cast<double>(s) / static_cast<double>(span));
            return options_.eta_min + (base_lr_ - options_.eta_min) * 0.5 * (1.0 + c);
        }
        case ScheduleKind::step:
            return base_lr_ * std::pow(options_.gamma, static_cast<double>(s / options_.step_size));
    }
    throw ad::Error("lr schedule: unknown kind " + std::to_string(static_cast<int>(kind_)));
}

NamedTensors LrSchedule::state() const {
    auto scalar = [](double v) { return ad::Tensor::scalar(v); };
    return {{"base_lr", scalar(base_lr_)},
            {"warmup_steps", scalar(static_cast<double>(warmup_steps_))},
            {"kind", scalar(static_cast<double>(static_cast<int>(kind_)))},
            {"total_steps", scalar(static_cast<double>(total_steps_))},
            {"step_size", scalar(static_cast<double>(options_.step_size))},
            {"gamma", scalar(options_.gamma)},
            {"eta_min", scalar(options_.eta_min)}};
}

void LrSchedule::load_state(const NamedTensors& state) {
    ScalarReader r(state, "lr schedule load_state");
    double base_lr = r.get("base_lr");
    long warmup = r.get_long("warmup_steps");
    long kind = r.get_long("kind");
    AD_CHECK(kind >= 0 && kind <= 2, "lr schedule load_state: expected 'kind' in 0..2, got " << kind);
    long total = r.get_long("total_steps");
    ScheduleOptions o;
    o.step_size = r.get_long("step_size");
    o.gamma = r.get("gamma");
    o.eta_min = r.get("eta_min");
    r.finish();
    *this = LrSchedule(base_lr, warmup, static_cast<ScheduleKind>(kind), total, o);
}

LrSchedule warmup_then(double base_lr, long warmup_steps, ScheduleKind kind, long total_steps, ScheduleOptions options) {
    return LrSchedule(base_lr, warmup_steps, kind, total_steps, options);
}

// ----------------------------------------------------------------------------- ReduceOnPlateau

ReduceOnPlateau::ReduceOnPlateau(double lr, PlateauOptions options)
    : options_(options), lr_(lr), best_(std::numeric_limits<double>::infinity()) {
    AD_CHECK(std::isfinite(lr) && lr >= 0, "ReduceOnPlateau: expected lr >= 0, got " << lr);
    AD_CHECK(options.factor > 0 && options.factor < 1, "ReduceOnPlateau: expected 0 < factor < 1, got " << options.factor);
    AD_CHECK(options.patience >= 0, "ReduceOnPlateau: expected patience >= 0, got " << options.patience);
    AD_CHECK(options.threshold >= 0, "ReduceOnPlateau: expected threshold >= 0, got " << options.threshold);
    AD_CHECK(options.cooldown >= 0, "ReduceOnPlateau: expected cooldown >= 0, got " << options.cooldown);
    AD_CHECK(options.min_lr >= 0, "ReduceOnPlateau: expected min_lr >= 0, got " << options.min_lr);
}

// Order as torch's step(): compare, count, cooldown, then reduce. A NaN metric is never better.
bool ReduceOnPlateau::step(double metric) {
    ++last_epoch_;
    if (metric < best_ * (1.0 - options_.threshold)) {
        best_ = metric;
        num_bad_ = 0;
    } else {
        ++num_bad_;
    }
    if (cooldown_counter_ > 0) {
        --cooldown_counter_;
        num_bad_ = 0;
    }
    if (num_bad_ <= options_.patience) return false;
    cooldown_counter_ = options_.cooldown;
    num_bad_ = 0;
    const double new_lr = std::max(lr_ * options_.factor, options_.min_lr);
    if (lr_ - new_lr <= options_.eps) return false;
    lr_ = new_lr;
    return true;
}

NamedTensors ReduceOnPlateau::state() const {
    auto scalar = [](double v) { return ad::Tensor::scalar(v); };
    return {{"lr", scalar(lr_)},
            {"best", scalar(best_)},
            {"num_bad_epochs", scalar(static_cast<double>(num_bad_))},
            {"cooldown_counter", scalar(static_cast<double>(cooldown_counter_))},
            {"last_epoch", scalar(static_cast<double>(last_epoch_))}};
}

void ReduceOnPlateau::load_state(const NamedTensors& state) {
    ScalarReader r(state, "ReduceOnPlateau load_state");
    double lr = r.get("lr");
    double best = r.get("best");
    long bad = r.get_long("num_bad_epochs");
    long cooldown = r.get_long("cooldown_counter");
    long last = r.get_long("last_epoch");
    r.finish();
    AD_CHECK(std::isfinite(lr) && lr >= 0, "ReduceOnPlateau load_state: expected lr >= 0, got " << lr);
    lr_ = lr;
    best_ = best;
    num_bad_ = bad;
    cooldown_counter_ = cooldown;
    last_epoch_ = last;
}

}  // namespace nn
