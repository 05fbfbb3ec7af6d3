// Learning-rate schedules. LrSchedule is a pure function of the step (0-based, one per optimiser
// step), with a linear warm-up of W steps then one of three decays over s = step - W:
//   warm-up:  lr = base (step + 1) / W                          for step < W
//   constant: lr = base
//   cosine:   lr = eta_min + (base - eta_min) (1 + cos(pi s / (T - W))) / 2 for s < T - W, then eta_min
//             (Loshchilov & Hutter 2017, eq. 5, one cycle; T = total_steps)
//   step:     lr = base gamma^floor(s / step_size)
// ReduceOnPlateau follows torch.optim.lr_scheduler.ReduceLROnPlateau (mode 'min', threshold_mode
// 'rel'): a metric is "better" when it is < best (1 - threshold); after more than `patience` bad
// calls in a row, lr = max(lr factor, min_lr), then `cooldown` calls during which bad counts reset.
#pragma once
#include <string>

#include "nn/module.hpp"

namespace nn {

enum class ScheduleKind { constant, cosine, step };

/// "constant" | "cosine" | "step"; throws naming the accepted names and the bad one.
ScheduleKind parse_schedule_kind(const std::string& name);
std::string to_string(ScheduleKind kind);

struct ScheduleOptions {
    long step_size = 1000;  ///< step: steps between two decays (after warm-up)
    double gamma = 0.1;     ///< step: factor per decay
    double eta_min = 0.0;   ///< cosine: lr reached at total_steps
};

class LrSchedule {
  public:
    LrSchedule(double base_lr, long warmup_steps, ScheduleKind kind, long total_steps, ScheduleOptions options = {});

    /// The learning rate for optimiser step `step` (0-based, >= 0).
    double lr_at(long step) const;

    double base_lr() const { return base_lr_; }
    long warmup_steps() const { return warmup_steps_; }
    ScheduleKind kind() const { return kind_; }
    long total_steps() const { return total_steps_; }
    const ScheduleOptions& options() const { return options_; }

    /// The defining numbers as named scalars ("base_lr", "warmup_steps", "kind" (0 constant,
    /// 1 cosine, 2 step), "total_steps", "step_size", "gamma", "eta_min").
    NamedTensors state() const;
    /// Restores a state() snapshot (validated as by the constructor).
    void load_state(const NamedTensors& state);

  private:
    double base_lr_;
    long warmup_steps_;
    ScheduleKind kind_;
    long total_steps_;
    ScheduleOptions options_;
};

/// Linear warm-up over warmup_steps, then `kind` until total_steps.
LrSchedule warmup_then(double base_lr, long warmup_steps, ScheduleKind kind, long total_steps,
                       ScheduleOptions options = {});

/// Defaults as torch's except factor (torch: 0.1).
struct PlateauOptions {
    double factor = 0.5;      ///< lr multiplier on a reduction, in (0, 1)
    long patience = 10;       ///< bad calls tolerated before reducing
    double threshold = 1e-4;  ///< relative improvement needed to count as better
    long cooldown = 0;        ///< calls after a reduction during which bad calls are not counted
    double min_lr = 0.0;      ///< lower bound of lr
    double eps = 1e-8;        ///< reductions smaller than this are skipped (as torch)
};

class ReduceOnPlateau {
  public:
    explicit ReduceOnPlateau(double lr, PlateauOptions options = {});

    /// Records one metric value (lower is better); returns true when it lowered lr.
    bool step(double metric);
    double lr() const { return lr_; }
    double best() const { return best_; }
    long num_bad_epochs() const { return num_bad_; }
    const PlateauOptions& options() const { return options_; }

    /// Mutable state as named scalars: "lr", "best", "num_bad_epochs", "cooldown_counter",
    /// "last_epoch" (options come from the configuration).
    NamedTensors state() const;
    void load_state(const NamedTensors& state);

  private:
    PlateauOptions options_;
    double lr_;
    double best_;
    long num_bad_ = 0;
    long cooldown_counter_ = 0;
    long last_epoch_ = 0;
};

}  // namespace nn
