#pragma once

#include <cstdint>

#include "auth/accounts.hpp"
#include "auth/role.hpp"

namespace csss::auth {

// What `csss maintenance purge` removed.
struct PurgeResult {
  std::int64_t codes = 0;           // expired one-time codes (logins, verification, reset)
  std::int64_t sessions = 0;        // sessions that ended: logged out, revoked, expired or idle
  std::int64_t code_requests = 0;   // records of emailed codes older than the hourly limit's hour
  std::int64_t login_throttle = 0;  // failed-login counts of unknown emails, a day old, unlocked
};

// Housekeeping of the account tables (admins only: Action::run_maintenance). What it removes can
// no longer be used by anyone, so the answers of logins and code checks do not change.
class Maintenance {
 public:
  Maintenance(store::Database& db, const util::Clock& clock, audit::AuditLog& audit,
              AuthSettings settings)
      : db_(db), clock_(clock), audit_(audit), settings_(std::move(settings)) {}

  // Deletes, in one transaction with its audit row ("maintenance.purge", with the counts), every
  // expired code and every ended session (with the codes bound to it), the code requests older
  // than an hour and the day-old failed-login counts of unknown emails that lock nothing.
  PurgeResult purge(const Principal& actor);

 private:
  store::Database& db_;
  const util::Clock& clock_;
  audit::AuditLog& audit_;
  AuthSettings settings_;
};

}  // namespace csss::auth
