#include "cli/status_line.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>

#include <fmt/format.h>

namespace medenc::cli {

StatusLine::StatusLine(bool live) : live_(live) {}

bool StatusLine::stderr_is_terminal() { return isatty(fileno(stderr)) != 0; }

void StatusLine::draw(const std::string& text, bool force) {
  if (!live_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && !current_.empty() && now - last_ < std::chrono::milliseconds(500)) return;
  last_ = now;
  current_ = text;
  std::fprintf(stderr, "\r\033[K%s", current_.c_str());
  std::fflush(stderr);
}

void StatusLine::print(const std::string& line) {
  if (live_ && !current_.empty()) std::fprintf(stderr, "\r\033[K");
  std::fprintf(stderr, "%s\n", line.c_str());
  if (live_ && !current_.empty()) std::fprintf(stderr, "%s", current_.c_str());
  std::fflush(stderr);
}

void StatusLine::finish() {
  if (!live_ || current_.empty()) return;
  std::fprintf(stderr, "\n");
  std::fflush(stderr);
  current_.clear();
}

std::string format_duration(double seconds) {
  const int64_t t = seconds < 0 ? 0 : (int64_t)(seconds + 0.5);
  return fmt::format("{}:{:02d}:{:02d}", t / 3600, (t / 60) % 60, t % 60);
}

namespace {

std::atomic<bool> interrupted{false};
struct sigaction previous_int, previous_term;
sigset_t previous_mask;

void on_signal(int sig) {
  if (interrupted.exchange(true)) {  // second signal: the default action
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}

}  // namespace

InterruptFlag::InterruptFlag() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &previous_int);
  sigaction(SIGTERM, &sa, &previous_term);
  // A launcher may start us with these signals blocked; unblocked here, one sent before this point
  // (still pending) raises the flag now instead of being lost or killing the process.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &stop_signals, &previous_mask);
}

InterruptFlag::~InterruptFlag() {
  pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
  sigaction(SIGINT, &previous_int, nullptr);
  sigaction(SIGTERM, &previous_term, nullptr);
}

bool InterruptFlag::raised() { return interrupted.load(std::memory_order_relaxed); }

}  // namespace medenc::cli
