#include "trainer/progress.h"

#include <fmt/format.h>

namespace medenc {

std::string format_duration(double seconds) {
  const int64_t t = seconds < 0 ? 0 : (int64_t)(seconds + 0.5);
  return fmt::format("{}:{:02d}:{:02d}", t / 3600, (t / 60) % 60, t % 60);
}

TrainProgress::TrainProgress(const TrainerCallbacks& callbacks, int64_t total_steps, int64_t start_step)
    : callbacks_(callbacks), total_(total_steps), start_(start_step), t0_(std::chrono::steady_clock::now()) {}

double TrainProgress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

double TrainProgress::tokens_per_second() const {
  return step_seconds_ > 0 ? (double)tokens_ / step_seconds_ : 0.0;
}

std::string TrainProgress::elapsed() const { return format_duration(seconds()); }

std::string TrainProgress::eta(int64_t global_step) const {
  const int64_t done = global_step - start_;
  if (done <= 0) return "?";
  return format_duration(step_seconds_ / (double)done * (double)(total_ - global_step));
}

void TrainProgress::step(int64_t global_step, double epoch, double loss, double lr, int64_t tokens,
                         double seconds) {
  tokens_ += tokens;
  step_seconds_ += seconds;
  if (!callbacks_.on_step) return;
  TrainStepInfo info;
  info.step = global_step;
  info.total_steps = total_;
  info.epoch = epoch;
  info.loss = loss;
  info.learning_rate = lr;
  info.tokens_per_second = tokens_per_second();
  const int64_t done = global_step - start_;
  if (done > 0) info.eta_seconds = step_seconds_ / (double)done * (double)(total_ - global_step);
  callbacks_.on_step(info);
}

void TrainProgress::line(const std::string& text) {
  if (callbacks_.on_message) callbacks_.on_message(text);
}

}  // namespace medenc
