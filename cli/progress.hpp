#pragma once

#include <chrono>
#include <csignal>
#include <string>
#include <string_view>

namespace csss::cli {

// One status line on stderr that redraws itself ("\r...", at most ten times a second), shown only
// when stderr is a terminal and --quiet is not given: cron and CI logs get no bar.
class ProgressLine {
 public:
  explicit ProgressLine(bool enabled);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  bool enabled() const { return fd_ >= 0; }
  // Redraws with `text` (cut to the terminal's width) unless the last draw was under 100 ms ago;
  // `force` draws anyway.
  void update(std::string_view text, bool force = false);
  // Clears the line (before other output).
  void clear();

 private:
  void write_out(std::string_view text) const;

  int fd_ = -1;  // the terminal (a copy of descriptor 2), -1 when disabled
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

// "[#########.........]" of `width` cells for done/total.
std::string bar(double done, double total, int width = 24);

// "1:05:09", "4:07", "0:03".
std::string duration_text(double seconds);

// While alive, the first SIGINT or SIGTERM sets a flag instead of ending the process, so that a
// long job can stop at a safe point; a second one ends the process at once (the signal's default
// action: the jobs that use this are safe to kill at any moment). The previous handlers come back
// afterwards.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  static bool requested();

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

}  // namespace csss::cli
