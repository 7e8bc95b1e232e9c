#include "progress.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

namespace csss::cli {

namespace {

std::atomic<bool> g_interrupted{false};

// Once: the next SIGINT or SIGTERM, whichever came first, takes its default action (sigaction is
// async-signal-safe).
extern "C" void on_interrupt(int) {
  g_interrupted.store(true);
  struct sigaction fallback {};
  fallback.sa_handler = SIG_DFL;
  sigemptyset(&fallback.sa_mask);
  ::sigaction(SIGINT, &fallback, nullptr);
  ::sigaction(SIGTERM, &fallback, nullptr);
}

int terminal_width(int fd) {
  struct winsize ws {};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
    return ws.ws_col;
  return 80;
}

}  // namespace

ProgressLine::ProgressLine(bool enabled) {
  // A descriptor of its own for the terminal: decoding PNG and JPEG points descriptor 2 at
  // /dev/null for a moment (imaging/quiet.cpp), on the import's worker threads, and a line drawn
  // meanwhile would be lost.
  if (enabled && ::isatty(STDERR_FILENO) == 1)
    fd_ = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
}

ProgressLine::~ProgressLine() {
  clear();
  if (fd_ >= 0)
    ::close(fd_);
}

void ProgressLine::write_out(std::string_view text) const {
  std::fflush(stderr);  // what was written before comes first
  while (!text.empty()) {
    const ssize_t n = ::write(fd_, text.data(), text.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;  // a terminal gone away: the line is only a courtesy
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

void ProgressLine::update(std::string_view text, bool force) {
  if (fd_ < 0)
    return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && drawn_ && now - last_ < std::chrono::milliseconds(100))
    return;
  last_ = now;
  const auto width = static_cast<std::size_t>(terminal_width(fd_) - 1);
  const std::string_view shown = text.size() > width ? text.substr(0, width) : text;
  write_out(fmt::format("\r{}\x1b[K", shown));
  drawn_ = true;
}

void ProgressLine::clear() {
  if (fd_ >= 0 && drawn_) {
    write_out("\r\x1b[K");
    drawn_ = false;
  }
}

std::string bar(double done, double total, int width) {
  const double share = total > 0 ? std::clamp(done / total, 0.0, 1.0) : 0.0;
  const int filled = static_cast<int>(std::lround(share * width));
  return "[" + std::string(static_cast<std::size_t>(filled), '#') +
         std::string(static_cast<std::size_t>(width - filled), '.') + "]";
}

std::string duration_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0)
    seconds = 0;
  const auto s = static_cast<long>(std::lround(seconds));
  if (s >= 3600)
    return fmt::format("{}:{:02d}:{:02d}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02d}", s / 60, s % 60);
}

InterruptGuard::InterruptGuard() {
  g_interrupted.store(false);
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, &old_int_);
  ::sigaction(SIGTERM, &action, &old_term_);
}

InterruptGuard::~InterruptGuard() {
  ::sigaction(SIGINT, &old_int_, nullptr);
  ::sigaction(SIGTERM, &old_term_, nullptr);
}

bool InterruptGuard::requested() {
  return g_interrupted.load();
}

}  // namespace csss::cli
