// Keeping GDCM and OpenCV from printing: library code never prints (ARCHITECTURE.md).

#include <fcntl.h>
#include <unistd.h>

#include <gdcmTrace.h>
#include <opencv2/core/utils/logger.hpp>

#include <cstdio>
#include <mutex>

#include "imaging/internal.hpp"

namespace csss::imaging::detail {

void silence_libraries() {
  static std::once_flag once;
  std::call_once(once, [] {
    gdcm::Trace::SetDebug(false);
    gdcm::Trace::SetWarning(false);
    gdcm::Trace::SetError(false);
    cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  });
}

namespace {

struct StderrState {
  std::mutex mutex;
  int users = 0;   // live QuietStderr instances
  int saved = -1;  // the original fd 2 while redirected, else -1
};

StderrState& stderr_state() {
  static StderrState state;
  return state;
}

}  // namespace

QuietStderr::QuietStderr() {
  StderrState& s = stderr_state();
  const std::lock_guard<std::mutex> lock(s.mutex);
  if (s.users++ > 0) {
    return;
  }
  std::fflush(stderr);
  const int saved = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
  if (saved < 0) {
    return;  // no stderr to protect
  }
  const int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null < 0 || ::dup2(null, STDERR_FILENO) < 0) {
    if (null >= 0) {
      ::close(null);
    }
    ::close(saved);
    return;
  }
  ::close(null);
  s.saved = saved;
}

QuietStderr::~QuietStderr() {
  StderrState& s = stderr_state();
  const std::lock_guard<std::mutex> lock(s.mutex);
  if (--s.users > 0 || s.saved < 0) {
    return;
  }
  std::fflush(stderr);
  ::dup2(s.saved, STDERR_FILENO);
  ::close(s.saved);
  s.saved = -1;
}

}  // namespace csss::imaging::detail
