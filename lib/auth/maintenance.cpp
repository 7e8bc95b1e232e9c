#include "auth/maintenance.hpp"

#include <fmt/format.h>

#include "audit/audit_log.hpp"
#include "auth/policy.hpp"
#include "store/database.hpp"

namespace csss::auth {

namespace {

// A session nobody can use any more (Authenticator::authenticate refuses it): ended, expired, or
// idle for session.idle_minutes. ?1 is now, ?2 the idle limit in seconds.
constexpr const char* kEndedSession =
    "revoked_at IS NOT NULL OR expires_at <= ?1 OR last_seen_at <= ?1 - ?2";

}  // namespace

PurgeResult Maintenance::purge(const Principal& actor) {
  require(actor, Action::run_maintenance, "store", audit_);
  const util::UnixSeconds now = clock_.now();
  const std::int64_t idle = std::int64_t{settings_.session_idle_minutes} * 60;
  PurgeResult r;
  store::Transaction tx(db_);
  // Codes first: a login code refers to its session.
  db_.prepare(fmt::format("DELETE FROM otp_challenges WHERE expires_at <= ?1 OR session_id IN "
                          "(SELECT id FROM sessions WHERE {})",
                          kEndedSession))
      .bind_all(now, idle)
      .run();
  r.codes = db_.changes();
  db_.prepare(fmt::format("DELETE FROM sessions WHERE {}", kEndedSession))
      .bind_all(now, idle)
      .run();
  r.sessions = db_.changes();
  db_.prepare("DELETE FROM email_code_requests WHERE created_at <= ?").bind(1, now - 3600).run();
  r.code_requests = db_.changes();
  db_.prepare(
         "DELETE FROM login_throttle WHERE updated_at < ?1 - 86400 AND "
         "(locked_until IS NULL OR locked_until <= ?1)")
      .bind(1, now)
      .run();
  r.login_throttle = db_.changes();
  audit_.append({actor.email, "maintenance.purge", "store", audit::Outcome::success,
                 fmt::format("removed {} codes, {} sessions, {} code requests, {} login throttle "
                             "rows",
                             r.codes, r.sessions, r.code_requests, r.login_throttle)});
  tx.commit();
  return r;
}

}  // namespace csss::auth
