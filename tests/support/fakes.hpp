#pragma once

// Test doubles for the two side effects libcsss lets callers replace (ARCHITECTURE.md): the clock
// and the mail transport. Header-only.

#include <cstdint>
#include <string>
#include <vector>

#include "notify/mail.hpp"
#include "util/clock.hpp"
#include "util/error.hpp"

namespace csss::test {

// A clock that only moves when told to. It starts at 2026-11-21T08:00:00Z.
class ManualClock final : public util::Clock {
 public:
  static constexpr util::UnixSeconds kStart = 1795248000;  // 2026-11-21T08:00:00Z

  explicit ManualClock(util::UnixSeconds start = kStart) : ms_(start * 1000) {}

  util::UnixSeconds now() const override {
    // Floor division, so that times before the epoch round down like SystemClock's.
    return ms_ >= 0 ? ms_ / 1000 : (ms_ - 999) / 1000;
  }
  std::int64_t now_ms() const override { return ms_; }

  void set(util::UnixSeconds t) { ms_ = t * 1000; }
  void set_ms(std::int64_t ms) { ms_ = ms; }
  void advance_ms(std::int64_t ms) { ms_ += ms; }
  void advance_seconds(std::int64_t s) { ms_ += s * 1000; }
  void advance_minutes(std::int64_t m) { ms_ += m * 60 * 1000; }

 private:
  std::int64_t ms_;
};

// Keeps every message it is given, in order. With `fail` set, send() throws Error(io) instead,
// as a transport does when the server cannot be reached.
class MemoryMailTransport final : public notify::MailTransport {
 public:
  std::string send(const notify::MailMessage& message) override {
    ++attempts;
    if (fail)
      throw Error(ErrorKind::io, "could not send mail: the test transport was told to fail");
    sent.push_back(message);
    return "memory:" + std::to_string(sent.size());
  }

  std::vector<notify::MailMessage> sent;
  int attempts = 0;
  bool fail = false;
};

}  // namespace csss::test
