// Learning-rate schedules with transformers.get_scheduler's lambdas (evaluated in double).
#include <algorithm>
#include <cmath>
#include <numbers>

#include "medenc/error.h"
#include "medenc/train.h"

namespace medenc {

ScheduleKind parse_schedule(const std::string& name) {
  if (name == "linear") return ScheduleKind::Linear;
  if (name == "cosine") return ScheduleKind::Cosine;
  if (name == "constant") return ScheduleKind::Constant;
  if (name == "constant_with_warmup") return ScheduleKind::ConstantWithWarmup;
  throw Error("unknown learning-rate schedule '" + name + "' (linear, cosine, constant, constant_with_warmup)");
}

double LrSchedule::lr(int64_t step) const {
  const double s = (double)step;
  const double warmup = (double)warmup_steps, total = (double)total_steps;
  double factor = 1.0;
  if (kind == ScheduleKind::Constant) {
    factor = 1.0;
  } else if (step < warmup_steps) {
    factor = s / std::max(1.0, warmup);
  } else if (kind == ScheduleKind::Linear) {
    factor = std::max(0.0, (total - s) / std::max(1.0, total - warmup));
  } else if (kind == ScheduleKind::Cosine) {
    const double progress = (s - warmup) / std::max(1.0, total - warmup);
    factor = std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * 0.5 * 2.0 * progress)));
  }
  return base_lr * factor;
}

int64_t warmup_steps_from_ratio(int64_t total_steps, double ratio) {
  if (ratio < 0.0 || ratio > 1.0) throw Error("warmup ratio must be in [0, 1]");
  return (int64_t)std::ceil((double)total_steps * ratio);
}

}  // namespace medenc
