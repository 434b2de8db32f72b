#include "trainer/progress.h"

#include <cstdio>

#include <fmt/format.h>

namespace medenc {

std::string format_duration(double seconds) {
  const int64_t t = seconds < 0 ? 0 : (int64_t)(seconds + 0.5);
  return fmt::format("{}:{:02d}:{:02d}", t / 3600, (t / 60) % 60, t % 60);
}

TrainProgress::TrainProgress(bool live, int64_t total_steps, int64_t start_step)
    : live_(live), total_(total_steps), start_(start_step), t0_(std::chrono::steady_clock::now()), last_draw_(t0_) {}

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
  if (!live_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(500) && global_step != total_) return;
  last_draw_ = now;
  current_ = fmt::format("step {}/{}  epoch {:.2f}  loss {:.4f}  lr {:.3g}  {:.0f} tokens/s  ETA {}", global_step,
                         total_, epoch, loss, lr, tokens_per_second(), eta(global_step));
  std::fprintf(stderr, "\r\033[K%s", current_.c_str());
  std::fflush(stderr);
}

void TrainProgress::line(const std::string& text) {
  if (live_ && !current_.empty()) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s\n", text.c_str());
  if (live_ && !current_.empty()) std::fprintf(stderr, "%s", current_.c_str());
  std::fflush(stderr);
}

}  // namespace medenc
