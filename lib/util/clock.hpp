#pragma once

#include <cstdint>

namespace csss::util {

// Seconds since the Unix epoch, UTC. The store keeps every time in this unit.
using UnixSeconds = std::int64_t;

// The source of "now" for everything that expires (sessions, codes, lockouts). Tests replace it
// with a clock they can move.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual UnixSeconds now() const = 0;
  // Milliseconds since the epoch, for audit timestamps that must order events within a second.
  virtual std::int64_t now_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  UnixSeconds now() const override;
  std::int64_t now_ms() const override;
};

}  // namespace csss::util
