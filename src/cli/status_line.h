#pragma once
// What the CLI shows on stderr while a job runs: one live status line redrawn in place (only when
// stderr is a terminal, at most twice a second) and log lines printed above it. The library reports
// progress through callbacks; this is the one terminal rendering of them.
#include <chrono>
#include <csignal>
#include <string>

namespace medenc::cli {

class StatusLine {
 public:
  // live: stderr is a terminal (isatty).
  explicit StatusLine(bool live);
  static bool stderr_is_terminal();
  bool live() const { return live_; }
  // Redraws the live line with `text` (skipped when drawn less than 0.5 s ago, unless forced).
  void draw(const std::string& text, bool force = false);
  // Prints a log line (clearing the live line first and redrawing it after).
  void print(const std::string& line);
  // Ends the live line with a newline (once something was drawn).
  void finish();

 private:
  bool live_;
  std::string current_;
  std::chrono::steady_clock::time_point last_{};
};

// H:MM:SS
std::string format_duration(double seconds);

// SIGINT / SIGTERM raise a flag instead of killing the process, for the scope's life: the first
// signal asks the running job to stop cleanly; a second one ends the process as usual.
class InterruptFlag {
 public:
  InterruptFlag();
  ~InterruptFlag();
  static bool raised();
};

}  // namespace medenc::cli
