#include <doctest/doctest.h>

#include <algorithm>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "audit/audit_log.hpp"
#include "auth/accounts.hpp"
#include "auth/login.hpp"
#include "crypto/random.hpp"
#include "store/database.hpp"
#include "support/check_error.hpp"
#include "support/fakes.hpp"
#include "support/temp_dir.hpp"
#include "util/time.hpp"

using namespace csss::auth;
using csss::ErrorKind;
using csss::audit::AuditLog;
using csss::audit::Filter;
using csss::audit::Outcome;
using csss::audit::Record;
using csss::store::Database;
using csss::store::OpenMode;
using csss::test::check_error;
using csss::test::contains;
using csss::test::ManualClock;

namespace {

const std::string kAdminEmail = "admin@example.org";
const std::string kAdminPassword = "admin-password-1";
const std::string kPatientEmail = "patient@example.org";
const std::string kPatientPassword = "patient-password-1";
constexpr const char* kBadCredentials = "wrong email or password";

// A store with an admin and a patient, the login rules at their defaults, a clock the test moves
// and a mailbox it reads.
struct World {
  csss::test::TempDir dir;
  ManualClock clock;
  Database db = Database::open(dir / "csss.db", OpenMode::create);
  AuditLog audit{db, clock};
  csss::test::MemoryMailTransport mail;
  AuthSettings settings;
  Accounts accounts{db, clock, audit, settings};
  Authenticator auth{db, clock, audit, mail, settings};
  User admin = accounts.create_first_admin({kAdminEmail, "Ada Admin", Role::admin, kAdminPassword});
  User patient = add(kPatientEmail, Role::patient, kPatientPassword);

  User add(const std::string& email, Role role, const std::string& password) {
    Principal p;
    p.user_id = admin.id;
    p.email = admin.email;
    p.role = Role::admin;
    return accounts.add(p, {email, "Test User", role, password});
  }

  // Audit rows of `action` about `actor`, oldest first.
  std::vector<Record> rows(const std::string& action, const std::string& actor) const {
    Filter f;
    f.action = action;
    f.actor = actor;
    return audit.list(f);
  }

  std::int64_t live_sessions(std::int64_t user_id) {
    auto st = db.prepare("SELECT count(*) FROM sessions WHERE user_id = ? AND revoked_at IS NULL");
    st.bind(1, user_id);
    REQUIRE(st.step());
    return st.get_int(0);
  }
};

// The 6-digit code in a sign-in mail.
std::string code_in(const csss::notify::MailMessage& m) {
  static const std::regex code_re("code is ([0-9]{6})\\b");
  std::smatch match;
  REQUIRE(std::regex_search(m.body, match, code_re));
  return match[1].str();
}

// A 6-digit code that differs from `code`.
std::string other_code(const std::string& code) {
  std::string c = code;
  c[0] = static_cast<char>('0' + (c[0] - '0' + 1) % 10);
  return c;
}

bool is_token(const std::string& t) {
  return t.size() == 64 && std::all_of(t.begin(), t.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

TEST_CASE("auth::mask_email") {
  CHECK(mask_email("admin@example.org") == "a***n@example.org");
  CHECK(mask_email("patient@example.org") == "pa***t@example.org");
  CHECK(mask_email("bob@example.org") == "b***b@example.org");
  CHECK(mask_email("al@example.org") == "a***@example.org");
  CHECK(mask_email("a@example.org") == "a***@example.org");
  CHECK(mask_email("no-at-sign") == "***");
  CHECK(mask_email("@example.org") == "***");
}

TEST_CASE("auth::Authenticator::login") {
  World w;

  SUBCASE("a patient gets a token for an active session") {
    const LoginResult r = w.auth.login(kPatientEmail, kPatientPassword);
    CHECK(is_token(r.token));
    CHECK_FALSE(r.awaiting_otp);
    CHECK(r.expires_at == ManualClock::kStart + 60 * 60);
    CHECK(r.user.id == w.patient.id);
    CHECK(r.masked_email == "pa***t@example.org");
    CHECK(w.mail.sent.empty());
    const Principal p = w.auth.authenticate(r.token);
    CHECK(p.user_id == w.patient.id);
    CHECK(p.email == kPatientEmail);
    CHECK(p.role == Role::patient);
    CHECK(p.session_id > 0);
    CHECK(p.session_expires_at == r.expires_at);
    const auto rows = w.rows("login", kPatientEmail);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].outcome == Outcome::success);
  }
  SUBCASE("the email is trimmed and matched without case") {
    const LoginResult r = w.auth.login("  Patient@EXAMPLE.org ", kPatientPassword);
    CHECK(w.auth.authenticate(r.token).user_id == w.patient.id);
  }
  SUBCASE("each login gets its own token; the store keeps only its hash") {
    const LoginResult a = w.auth.login(kPatientEmail, kPatientPassword);
    const LoginResult b = w.auth.login(kPatientEmail, kPatientPassword);
    CHECK(a.token != b.token);
    CHECK(w.live_sessions(w.patient.id) == 2);
    auto st = w.db.prepare("SELECT count(*) FROM sessions WHERE token_hash = ? OR token_hash = ?");
    st.bind_all(a.token, b.token);
    REQUIRE(st.step());
    CHECK(st.get_int(0) == 0);
  }
  SUBCASE("a wrong password and an unknown email look the same") {
    const std::string wrong = check_error(
        [&] { (void)w.auth.login(kPatientEmail, "not-the-password"); }, ErrorKind::authentication);
    const std::string unknown =
        check_error([&] { (void)w.auth.login("nobody@example.org", kPatientPassword); },
                    ErrorKind::authentication);
    CHECK(wrong == unknown);
    CHECK(wrong == kBadCredentials);
    const auto failed = w.rows("login", kPatientEmail);
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].outcome == Outcome::failure);
    CHECK(failed[0].detail == "wrong password");
    const auto ghost = w.rows("login", "nobody@example.org");
    REQUIRE(ghost.size() == 1);
    CHECK(ghost[0].outcome == Outcome::failure);
    CHECK(ghost[0].detail == "unknown account");
    CHECK(w.live_sessions(w.patient.id) == 0);
  }
  SUBCASE("a disabled account is refused, even with the right password") {
    Principal admin_p;
    admin_p.user_id = w.admin.id;
    admin_p.email = kAdminEmail;
    admin_p.role = Role::admin;
    w.accounts.set_disabled(admin_p, kPatientEmail, true);
    check_error([&] { (void)w.auth.login(kPatientEmail, kPatientPassword); },
                ErrorKind::authentication, "disabled");
    CHECK(w.live_sessions(w.patient.id) == 0);
    const auto rows = w.rows("login", kPatientEmail);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].detail == "account disabled");
  }
}

TEST_CASE("auth::Authenticator::login lockout") {
  World w;
  const int max = w.settings.max_failures;  // 5
  REQUIRE(max == 5);

  SUBCASE("max_failures wrong passwords lock the account until the lockout has passed") {
    for (int i = 1; i < max; ++i) {
      CAPTURE(i);
      const std::string msg =
          check_error([&] { (void)w.auth.login(kPatientEmail, "wrong-password-x"); },
                      ErrorKind::authentication);
      CHECK(msg == kBadCredentials);
    }
    CHECK(w.accounts.find(w.patient.id)->failed_logins == max - 1);
    const std::string lock_msg =
        check_error([&] { (void)w.auth.login(kPatientEmail, "wrong-password-x"); },
                    ErrorKind::authentication, "locked until 2026-11-21T08:15:00Z");
    CHECK(contains(lock_msg, "15 minutes"));
    CHECK(w.accounts.find(w.patient.id)->locked_until == ManualClock::kStart + 15 * 60);

    const auto locks = w.rows("account.lock", kPatientEmail);
    REQUIRE(locks.size() == 1);
    CHECK(locks[0].object == "user:patient@example.org");
    CHECK(w.rows("login", kPatientEmail).size() == static_cast<std::size_t>(max));

    // Even the right password is refused while locked; the message says until when.
    w.clock.advance_minutes(10);
    check_error([&] { (void)w.auth.login(kPatientEmail, kPatientPassword); },
                ErrorKind::authentication, "until 2026-11-21T08:15:00Z (in 5 minutes)");
    w.clock.advance_seconds(5 * 60 - 1);
    check_error([&] { (void)w.auth.login(kPatientEmail, kPatientPassword); },
                ErrorKind::authentication, "locked");
    w.clock.advance_seconds(1);  // exactly at the end of the lockout
    const LoginResult r = w.auth.login(kPatientEmail, kPatientPassword);
    CHECK(w.auth.authenticate(r.token).user_id == w.patient.id);
    CHECK_FALSE(w.accounts.find(w.patient.id)->locked_until.has_value());
  }
  SUBCASE("after the lockout, failures count from zero again") {
    for (int i = 0; i < max; ++i) {
      (void)csss::test::error_of([&] { (void)w.auth.login(kPatientEmail, "wrong-password-x"); });
    }
    w.clock.advance_minutes(15);
    const std::string msg = check_error(
        [&] { (void)w.auth.login(kPatientEmail, "wrong-password-x"); }, ErrorKind::authentication);
    CHECK(msg == kBadCredentials);
    CHECK(w.accounts.find(w.patient.id)->failed_logins == 1);
  }
  SUBCASE("a successful login resets the failure count") {
    for (int i = 1; i < max; ++i) {
      (void)csss::test::error_of([&] { (void)w.auth.login(kPatientEmail, "wrong-password-x"); });
    }
    REQUIRE(w.accounts.find(w.patient.id)->failed_logins == max - 1);
    CHECK_NOTHROW(w.auth.login(kPatientEmail, kPatientPassword));
    CHECK(w.accounts.find(w.patient.id)->failed_logins == 0);
    // max - 1 more failures do not lock it.
    for (int i = 1; i < max; ++i) {
      (void)csss::test::error_of([&] { (void)w.auth.login(kPatientEmail, "wrong-password-x"); });
    }
    CHECK_FALSE(w.accounts.find(w.patient.id)->locked_until.has_value());
    CHECK_NOTHROW(w.auth.login(kPatientEmail, kPatientPassword));
  }
  SUBCASE("an unknown email locks exactly like an account, so lockouts reveal no account") {
    std::vector<std::string> known, unknown;
    for (int i = 0; i < max + 1; ++i) {
      known.push_back(check_error([&] { (void)w.auth.login(kPatientEmail, "wrong-password-x"); },
                                  ErrorKind::authentication));
      unknown.push_back(
          check_error([&] { (void)w.auth.login("nobody@example.org", "wrong-password-x"); },
                      ErrorKind::authentication));
    }
    CHECK(unknown == known);
    CHECK(contains(unknown[static_cast<std::size_t>(max) - 1], "locked until"));
    CHECK(contains(unknown[static_cast<std::size_t>(max)], "account locked"));
    CHECK(w.rows("account.lock", "nobody@example.org").size() == 1);
    // The lockout of an unknown email ends like an account's.
    w.clock.advance_minutes(15);
    CHECK(check_error([&] { (void)w.auth.login("nobody@example.org", "wrong-password-x"); },
                      ErrorKind::authentication) == kBadCredentials);
  }
}

TEST_CASE("auth::Authenticator::complete_otp") {
  World w;
  const LoginResult pending = w.auth.login(kAdminEmail, kAdminPassword);
  REQUIRE(pending.awaiting_otp);
  REQUIRE(w.mail.sent.size() == 1);
  const std::string code = code_in(w.mail.sent[0]);

  SUBCASE("an admin login mails one 6-digit code and waits for it") {
    const auto& m = w.mail.sent[0];
    CHECK(m.to == kAdminEmail);
    CHECK(m.from == w.settings.mail_from);
    CHECK(contains(m.subject, "code"));
    CHECK_FALSE(contains(m.subject, code));  // subjects travel in the clear
    CHECK(code.size() == 6);
    CHECK(is_token(pending.token));
    CHECK(pending.masked_email == "a***n@example.org");
    CHECK(pending.expires_at == ManualClock::kStart + 10 * 60);
    check_error([&] { (void)w.auth.authenticate(pending.token); }, ErrorKind::authentication,
                "not complete");
    const auto sent = w.rows("otp.sent", kAdminEmail);
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].outcome == Outcome::success);
    CHECK(sent[0].detail == "to a***n@example.org");
    CHECK_FALSE(contains(sent[0].detail, code));
    // The code is not in the store either, only its salted hash.
    auto st = w.db.prepare("SELECT count(*) FROM otp_challenges WHERE code_hash = ?");
    st.bind(1, code);
    REQUIRE(st.step());
    CHECK(st.get_int(0) == 0);
  }
  SUBCASE("the right code gives a new, active token") {
    w.clock.advance_minutes(2);
    const LoginResult done = w.auth.complete_otp(pending.token, kAdminEmail, code);
    CHECK_FALSE(done.awaiting_otp);
    CHECK(is_token(done.token));
    CHECK(done.token != pending.token);
    CHECK(done.expires_at == w.clock.now() + 60 * 60);
    const Principal p = w.auth.authenticate(done.token);
    CHECK(p.user_id == w.admin.id);
    CHECK(p.role == Role::admin);
    check_error([&] { (void)w.auth.authenticate(pending.token); }, ErrorKind::authentication);
    const auto used = w.rows("otp.used", kAdminEmail);
    REQUIRE(used.size() == 1);
    CHECK(used[0].outcome == Outcome::success);
    const auto logins = w.rows("login", kAdminEmail);
    REQUIRE(logins.size() == 1);
    CHECK(logins[0].outcome == Outcome::success);
    CHECK(logins[0].detail == "with emailed code");
    CHECK(w.audit.verify().intact);
  }
  SUBCASE("surrounding blanks in the code and email are ignored") {
    CHECK_NOTHROW(w.auth.complete_otp(pending.token, " ADMIN@example.org ", " " + code + "\n"));
  }
  SUBCASE("wrong codes count down the attempts; then even the right code is refused") {
    const std::string wrong = other_code(code);
    const char* expected[] = {"4 attempts left", "3 attempts left", "2 attempts left",
                              "1 attempt left", "no attempts are left"};
    REQUIRE(w.settings.otp_max_attempts == 5);
    for (const std::string text : expected) {
      CAPTURE(text);
      check_error([&] { (void)w.auth.complete_otp(pending.token, kAdminEmail, wrong); },
                  ErrorKind::authentication, text);
    }
    check_error([&] { (void)w.auth.complete_otp(pending.token, kAdminEmail, code); },
                ErrorKind::authentication, "too many wrong codes");
    check_error([&] { (void)w.auth.authenticate(pending.token); }, ErrorKind::authentication);
    CHECK(w.rows("otp.verify", kAdminEmail).size() == 6);
    CHECK(w.rows("otp.used", kAdminEmail).empty());
  }
  SUBCASE("a wrong code, then the right one within the attempts, works") {
    check_error([&] { (void)w.auth.complete_otp(pending.token, kAdminEmail, other_code(code)); },
                ErrorKind::authentication, "4 attempts left");
    CHECK_NOTHROW(w.auth.complete_otp(pending.token, kAdminEmail, code));
  }
  SUBCASE("the code is valid for otp.ttl_minutes") {
    w.clock.advance_seconds(10 * 60 - 1);
    CHECK_NOTHROW(w.auth.complete_otp(pending.token, kAdminEmail, code));
  }
  SUBCASE("an expired code is refused") {
    w.clock.advance_minutes(10);
    check_error([&] { (void)w.auth.complete_otp(pending.token, kAdminEmail, code); },
                ErrorKind::authentication, "expired");
  }
  SUBCASE("a used code is refused") {
    const LoginResult done = w.auth.complete_otp(pending.token, kAdminEmail, code);
    check_error([&] { (void)w.auth.complete_otp(done.token, kAdminEmail, code); },
                ErrorKind::authentication, "already been used");
    check_error([&] { (void)w.auth.complete_otp(pending.token, kAdminEmail, code); },
                ErrorKind::authentication, "already been used");
    CHECK(w.rows("otp.used", kAdminEmail).size() == 1);
  }
  SUBCASE("no pending session: refused") {
    check_error([&] { (void)w.auth.complete_otp(std::nullopt, kAdminEmail, code); },
                ErrorKind::authentication, "no login on this terminal is waiting for a code");
    check_error([&] { (void)w.auth.complete_otp(csss::crypto::random_hex(32), kAdminEmail, code); },
                ErrorKind::authentication, "waiting for a code");
    // Another user's session does not complete the admin's login.
    const std::string patient_token = w.auth.login(kPatientEmail, kPatientPassword).token;
    check_error([&] { (void)w.auth.complete_otp(patient_token, kAdminEmail, code); },
                ErrorKind::authentication, "waiting for a code");
    // And the pending session still works afterwards.
    CHECK_NOTHROW(w.auth.complete_otp(pending.token, kAdminEmail, code));
  }
  SUBCASE("a malformed code is invalid input") {
    for (const std::string bad : {"", "12345", "1234567", "12345a", "12 456"}) {
      CAPTURE(bad);
      check_error([&] { (void)w.auth.complete_otp(pending.token, kAdminEmail, bad); },
                  ErrorKind::invalid_input, "6 digits");
    }
  }
  SUBCASE("a new login sends a new code; the old code does not complete it") {
    const LoginResult second = w.auth.login(kAdminEmail, kAdminPassword);
    REQUIRE(w.mail.sent.size() == 2);
    const std::string code2 = code_in(w.mail.sent[1]);
    if (code2 != code) {
      check_error([&] { (void)w.auth.complete_otp(second.token, kAdminEmail, code); },
                  ErrorKind::authentication, "wrong code");
    }
    CHECK_NOTHROW(w.auth.complete_otp(second.token, kAdminEmail, code2));
  }
}

TEST_CASE("auth::Authenticator::login mail failure") {
  World w;
  w.mail.fail = true;
  check_error([&] { (void)w.auth.login(kAdminEmail, kAdminPassword); }, ErrorKind::io,
              "could not send mail");
  CHECK(w.mail.attempts == 1);
  CHECK(w.mail.sent.empty());
  CHECK(w.live_sessions(w.admin.id) == 0);  // the half-open session was closed again
  const auto sent = w.rows("otp.sent", kAdminEmail);
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].outcome == Outcome::failure);
  CHECK(w.audit.verify().intact);

  // Once mail works again, so does the login.
  w.mail.fail = false;
  const LoginResult pending = w.auth.login(kAdminEmail, kAdminPassword);
  REQUIRE(w.mail.sent.size() == 1);
  const LoginResult done = w.auth.complete_otp(pending.token, kAdminEmail, code_in(w.mail.sent[0]));
  CHECK(w.auth.authenticate(done.token).role == Role::admin);
}

TEST_CASE("auth::Authenticator::authenticate") {
  World w;
  const LoginResult r = w.auth.login(kPatientEmail, kPatientPassword);

  SUBCASE("an unknown token") {
    check_error([&] { (void)w.auth.authenticate(csss::crypto::random_hex(32)); },
                ErrorKind::authentication, "not logged in");
    check_error([&] { (void)w.auth.authenticate(""); }, ErrorKind::authentication, "not logged in");
  }
  SUBCASE("after logout") {
    CHECK(w.auth.logout(r.token));
    check_error([&] { (void)w.auth.authenticate(r.token); }, ErrorKind::authentication,
                "session has ended");
    CHECK_FALSE(w.auth.logout(r.token));  // nothing left to end
    CHECK_FALSE(w.auth.logout(csss::crypto::random_hex(32)));
    const auto rows = w.rows("logout", kPatientEmail);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].outcome == Outcome::success);
  }
  SUBCASE("expired after session.ttl_minutes, even when in use") {
    // Used every 10 minutes, so never idle.
    for (int i = 0; i < 5; ++i) {
      w.clock.advance_minutes(10);
      CHECK_NOTHROW(w.auth.authenticate(r.token));
    }
    w.clock.advance_seconds(10 * 60 - 1);
    CHECK_NOTHROW(w.auth.authenticate(r.token));
    w.clock.advance_seconds(1);  // 60 minutes after login
    check_error([&] { (void)w.auth.authenticate(r.token); }, ErrorKind::authentication,
                "expired at 2026-11-21T09:00:00Z");
  }
  SUBCASE("idle after session.idle_minutes without use") {
    w.clock.advance_minutes(15);
    check_error([&] { (void)w.auth.authenticate(r.token); }, ErrorKind::authentication,
                "15 minutes without activity");
  }
  SUBCASE("use within the idle window extends it") {
    w.clock.advance_seconds(15 * 60 - 1);
    CHECK_NOTHROW(w.auth.authenticate(r.token));
    w.clock.advance_seconds(15 * 60 - 1);  // 30 minutes after login, < 15 since last use
    CHECK_NOTHROW(w.auth.authenticate(r.token));
    w.clock.advance_minutes(15);
    check_error([&] { (void)w.auth.authenticate(r.token); }, ErrorKind::authentication,
                "without activity");
  }
  SUBCASE("a failed check does not count as use") {
    w.clock.advance_minutes(15);
    CHECK_THROWS_AS(w.auth.authenticate(r.token), csss::Error);
    w.clock.advance_seconds(1);
    CHECK_THROWS_AS(w.auth.authenticate(r.token), csss::Error);
  }
}

TEST_CASE("auth::Authenticator audit trail") {
  World w;
  (void)csss::test::error_of([&] { (void)w.auth.login(kPatientEmail, "wrong-password-x"); });
  (void)w.auth.login(kPatientEmail, kPatientPassword);
  const LoginResult pending = w.auth.login(kAdminEmail, kAdminPassword);
  (void)w.auth.complete_otp(pending.token, kAdminEmail, code_in(w.mail.sent.at(0)));

  std::vector<std::string> seen;
  for (const Record& r : w.audit.list({})) {
    seen.push_back(r.actor + " " + r.action + " " + std::string(to_string(r.outcome)));
  }
  const std::vector<std::string> expected = {
      "system user.add success",
      "admin@example.org user.add success",
      "patient@example.org login failure",
      "patient@example.org login success",
      "admin@example.org otp.sent success",
      "admin@example.org otp.used success",
      "admin@example.org login success",
  };
  CHECK(seen == expected);
  CHECK(w.audit.verify().intact);
  for (const Record& r : w.audit.list({})) {
    CAPTURE(r.seq);
    CHECK_FALSE(contains(r.detail, kPatientPassword));
    CHECK_FALSE(contains(r.detail, kAdminPassword));
  }
}
