#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace csss::util {
class Clock;
}
namespace csss::store {
class Database;
}

namespace csss::audit {

enum class Outcome { success, failure, denied };

std::string_view to_string(Outcome outcome) noexcept;

// Something that happened, as the caller tells it. `actor` is the account's email (or "system",
// or the email a failed login named); `object` is what was acted on ("user:doctor@x", "session").
struct Event {
  std::string actor;
  std::string action;  // dotted verb: "login", "login.failure", "user.add", "otp.sent", ...
  std::string object;
  Outcome outcome = Outcome::success;
  std::string detail;  // short free text; never secrets or passwords
};

struct Record {
  std::int64_t seq = 0;
  std::int64_t at_ms = 0;  // Unix milliseconds, UTC
  std::string actor;
  std::string action;
  std::string object;
  Outcome outcome = Outcome::success;
  std::string detail;
  std::string prev_hash;
  std::string hash;
};

struct Filter {
  std::optional<std::string> actor;
  std::optional<std::string> action;  // exact, or a prefix ending in '.' or '*' ("login*")
  std::optional<std::int64_t> since_ms;
  std::optional<std::int64_t> until_ms;
  std::size_t limit = 0;  // newest `limit` rows; 0 for all
};

struct VerifyResult {
  bool intact = true;
  std::int64_t rows = 0;
  std::string head_hash;                   // hash of the last row read
  std::optional<std::int64_t> broken_seq;  // first row that does not verify
  std::string problem;                     // what is wrong with it, for people
};

// The append-only, hash-chained log of security-relevant events. Each row's hash covers its own
// content and the previous row's hash, so a changed, removed or reordered row breaks the chain
// from that row on; the head (last seq and hash) is kept apart, so rows cut from the end are
// found too. The store's triggers refuse UPDATE and DELETE on the log.
class AuditLog {
 public:
  AuditLog(store::Database& db, const util::Clock& clock) : db_(db), clock_(clock) {}

  // Appends `event`. Inside an open transaction the row commits or rolls back with the change it
  // records; otherwise it is written in a transaction of its own.
  void append(const Event& event);

  // Rows matching `filter`, oldest first.
  std::vector<Record> list(const Filter& filter) const;

  // Recomputes every hash and link from the first row on.
  VerifyResult verify() const;

 private:
  void append_locked(const Event& event);
  store::Database& db_;
  const util::Clock& clock_;
};

// The hash of a row's content and its prev_hash, as stored in Record::hash.
std::string record_hash(const Record& record);

// prev_hash of the first row.
inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

}  // namespace csss::audit
