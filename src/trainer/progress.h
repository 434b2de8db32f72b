#pragma once
// Training progress: throughput and ETA bookkeeping, reported through the run's callbacks.
#include <chrono>
#include <cstdint>
#include <string>

#include "medenc/trainer.h"

namespace medenc {

class TrainProgress {
 public:
  TrainProgress(const TrainerCallbacks& callbacks, int64_t total_steps, int64_t start_step);
  // After each optimizer step, with the tokens it trained on and the seconds it took.
  void step(int64_t global_step, double epoch, double loss, double lr, int64_t tokens, double seconds);
  // A log line.
  void line(const std::string& text);
  // Training throughput: tokens over the time spent in optimizer steps (evaluation and saving excluded).
  double tokens_per_second() const;
  // Remaining steps at the average step time so far.
  std::string eta(int64_t global_step) const;
  std::string elapsed() const;
  double seconds() const;  // wall time since the start

 private:
  const TrainerCallbacks& callbacks_;
  int64_t total_, start_;
  int64_t tokens_ = 0;
  double step_seconds_ = 0;
  std::chrono::steady_clock::time_point t0_;
};

// H:MM:SS
std::string format_duration(double seconds);

}  // namespace medenc
