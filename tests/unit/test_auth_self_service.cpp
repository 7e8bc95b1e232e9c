// auth::SelfService (registration, email verification, password reset), profiles, phone numbers
// and auth::Maintenance, against a real store, a manual clock and an in-memory mailbox.
#include <doctest/doctest.h>

#include <regex>
#include <string>

#include "audit/audit_log.hpp"
#include "auth/accounts.hpp"
#include "auth/login.hpp"
#include "auth/maintenance.hpp"
#include "auth/self_service.hpp"
#include "store/database.hpp"
#include "support/check_error.hpp"
#include "support/fakes.hpp"
#include "support/temp_dir.hpp"

using namespace csss::auth;
using csss::ErrorKind;
using csss::audit::AuditLog;
using csss::audit::Filter;
using csss::audit::Outcome;
using csss::store::Database;
using csss::store::OpenMode;
using csss::test::check_error;
using csss::test::contains;
using csss::test::ManualClock;

namespace {

const std::string kAdminPassword = "admin-password-1";
const std::string kPassword = "patient-password-1";
const std::string kNewPassword = "a-brand-new-password-2";

Principal principal_of(const User& u, std::int64_t session_id = 0) {
  Principal p;
  p.user_id = u.id;
  p.email = u.email;
  p.full_name = u.full_name;
  p.role = u.role;
  p.session_id = session_id;
  return p;
}

struct World {
  csss::test::TempDir dir;
  ManualClock clock;
  Database db = Database::open(dir / "csss.db", OpenMode::create);
  AuditLog audit{db, clock};
  csss::test::MemoryMailTransport mail;
  AuthSettings settings;
  Accounts accounts{db, clock, audit, settings};
  Authenticator auth{db, clock, audit, mail, settings};
  SelfService self{db, clock, audit, mail, settings};
  Maintenance maintenance{db, clock, audit, settings};
  User admin =
      accounts.create_first_admin({"admin@example.org", "Ada Admin", Role::admin, kAdminPassword});

  CodeRequest register_pat(const std::string& email = "pat@example.org",
                           const std::string& birth = "") {
    return self.register_patient({email, "Pat Doe", Role::patient, kPassword, birth});
  }
  // The 6-digit code in the newest message.
  std::string last_code() {
    REQUIRE_FALSE(mail.sent.empty());
    static const std::regex code_re("code is ([0-9]{6})\\b");
    std::smatch m;
    REQUIRE(std::regex_search(mail.sent.back().body, m, code_re));
    return m[1].str();
  }
  std::int64_t count(const std::string& sql) {
    auto st = db.prepare(sql);
    REQUIRE(st.step());
    return st.get_int(0);
  }
  std::size_t audit_count(const std::string& action, Outcome outcome) {
    Filter f;
    f.action = action;
    std::size_t n = 0;
    for (const auto& r : audit.list(f))
      n += r.outcome == outcome ? 1 : 0;
    return n;
  }
};

std::string other_code(const std::string& code) {
  return code == "000000" ? "111111" : "000000";
}

}  // namespace

TEST_CASE("auth::normalize_phone") {
  CHECK(normalize_phone("+442079460958") == "+442079460958");
  CHECK(normalize_phone(" +44 20-7946 0958 ") == "+442079460958");
  CHECK(normalize_phone("+1234567") == "+1234567");                  // 7 digits
  CHECK(normalize_phone("+123456789012345") == "+123456789012345");  // 15 digits
  check_error([] { (void)normalize_phone(""); }, ErrorKind::invalid_input, "empty");
  check_error([] { (void)normalize_phone("02079460958"); }, ErrorKind::invalid_input,
              "must start with +");
  check_error([] { (void)normalize_phone("+44 (20) 7946"); }, ErrorKind::invalid_input,
              "only digits, spaces and dashes");
  check_error([] { (void)normalize_phone("+44 20 79x6"); }, ErrorKind::invalid_input,
              "only digits");
  check_error([] { (void)normalize_phone("+123456"); }, ErrorKind::invalid_input, "6 digits");
  check_error([] { (void)normalize_phone("+1234567890123456"); }, ErrorKind::invalid_input,
              "16 digits");
  check_error([] { (void)normalize_phone("+"); }, ErrorKind::invalid_input, "0 digits");
}

TEST_CASE("auth::check_code_format") {
  CHECK_NOTHROW(check_code_format("012345"));
  CHECK_NOTHROW(check_code_format(" 012345\n"));
  for (const std::string bad : {"", "12345", "1234567", "12345a", "12 345"}) {
    CAPTURE(bad);
    check_error([&] { check_code_format(bad); }, ErrorKind::invalid_input, "6 digits");
  }
}

TEST_CASE("auth::SelfService::register_patient and verify_email") {
  World w;
  SUBCASE("an unverified patient account with its record; login refused until verified") {
    const CodeRequest r = w.register_pat("Pat@Example.org", "1984-07-12");
    CHECK(r.email == "pat@example.org");
    CHECK(r.masked_email == mask_email("pat@example.org"));
    CHECK(r.expires_at == ManualClock::kStart + 600);
    REQUIRE(w.mail.sent.size() == 1);
    CHECK(w.mail.sent[0].to == "pat@example.org");
    CHECK(w.mail.sent[0].subject == "Your CSSS verification code");
    const std::string code = w.last_code();
    const auto user = w.accounts.find("pat@example.org");
    REQUIRE(user);
    CHECK(user->role == Role::patient);
    CHECK_FALSE(user->email_verified_at);
    CHECK(w.count("SELECT count(*) FROM patients WHERE user_id = " + std::to_string(user->id) +
                  " AND birth_date = '1984-07-12' AND full_name = 'Pat Doe'") == 1);
    // The code is stored only as a salted hash.
    CHECK(w.count("SELECT count(*) FROM otp_challenges WHERE code_hash = '" + code + "'") == 0);
    check_error([&] { (void)w.auth.login("pat@example.org", kPassword); },
                ErrorKind::authentication, "not verified yet");
    check_error([&] { (void)w.auth.login("pat@example.org", "wrong-password-000"); },
                ErrorKind::authentication, "wrong email or password");

    const User v = w.self.verify_email("pat@example.org", code);
    CHECK(v.email_verified_at == ManualClock::kStart);
    const LoginResult login = w.auth.login("pat@example.org", kPassword);
    CHECK_FALSE(login.awaiting_otp);
    CHECK(w.audit_count("user.register", Outcome::success) == 1);
    CHECK(w.audit_count("email.verify", Outcome::success) == 1);
    // Used once: again, it is "already used".
    check_error([&] { (void)w.self.verify_email("pat@example.org", code); },
                ErrorKind::authentication, "already been used");
  }
  SUBCASE("bad values are refused before anything is written") {
    const auto users = w.count("SELECT count(*) FROM users");
    check_error([&] { (void)w.register_pat("not-an-email"); }, ErrorKind::invalid_input,
                "invalid email");
    check_error([&] { (void)w.register_pat("pat@example.org", "2999-01-01"); },
                ErrorKind::invalid_input, "date of birth");
    check_error([&] { (void)w.register_pat("pat@example.org", "1984-02-30"); },
                ErrorKind::invalid_input, "not a date");
    check_error(
        [&] {
          (void)w.self.register_patient({"pat@example.org", "Pat", Role::patient, "short", ""});
        },
        ErrorKind::invalid_input, "too short");
    check_error(
        [&] {
          (void)w.self.register_patient({"pat@example.org", " ", Role::patient, kPassword, ""});
        },
        ErrorKind::invalid_input, "full name is empty");
    CHECK(w.count("SELECT count(*) FROM users") == users);
    CHECK(w.count("SELECT count(*) FROM otp_challenges") == 0);
    CHECK(w.mail.sent.empty());
  }
  SUBCASE("the role asked for is ignored: always a patient") {
    (void)w.self.register_patient({"eve@example.org", "Eve", Role::admin, kPassword, ""});
    CHECK(w.accounts.find("eve@example.org")->role == Role::patient);
  }
  SUBCASE("an address with an account: the same answer, a notice to its owner, nothing changed") {
    const CodeRequest fresh = w.register_pat("new@example.org");
    const std::string fresh_code = w.last_code();
    const CodeRequest taken = w.register_pat("admin@example.org");
    CHECK(taken.masked_email == mask_email("admin@example.org"));
    CHECK(taken.expires_at == fresh.expires_at);
    REQUIRE(w.mail.sent.size() == 2);
    CHECK(w.mail.sent[1].to == "admin@example.org");
    CHECK(contains(w.mail.sent[1].body, "has an account already"));
    CHECK_FALSE(std::regex_search(w.mail.sent[1].body, std::regex("[0-9]{6}")));
    CHECK(w.accounts.find("admin@example.org")->role == Role::admin);
    CHECK(w.count("SELECT count(*) FROM users") == 2);
    CHECK(w.audit_count("user.register", Outcome::failure) == 1);
    // The code check that follows behaves as for a fresh registration: a decoy waits.
    check_error([&] { (void)w.self.verify_email("admin@example.org", "123456"); },
                ErrorKind::authentication, "wrong code; 4 attempts left");
    check_error([&] { (void)w.self.verify_email("new@example.org", other_code(fresh_code)); },
                ErrorKind::authentication, "wrong code; 4 attempts left");
  }
  SUBCASE("an unknown email, or one never sent a code") {
    check_error([&] { (void)w.self.verify_email("ghost@example.org", "123456"); },
                ErrorKind::authentication, "no code is waiting for this address");
    check_error([&] { (void)w.self.verify_email("ghost@example.org", "12345"); },
                ErrorKind::invalid_input, "6 digits");
  }
  SUBCASE("wrong codes: five, then the code is burnt, even the right one") {
    w.register_pat();
    const std::string code = w.last_code();
    for (int left = 4; left >= 1; --left) {
      check_error([&] { (void)w.self.verify_email("pat@example.org", other_code(code)); },
                  ErrorKind::authentication,
                  "wrong code; " + std::to_string(left) + " attempt" + (left == 1 ? "" : "s"));
    }
    check_error([&] { (void)w.self.verify_email("pat@example.org", other_code(code)); },
                ErrorKind::authentication, "no attempts are left");
    check_error([&] { (void)w.self.verify_email("pat@example.org", code); },
                ErrorKind::authentication, "too many wrong codes");
    CHECK_FALSE(w.accounts.find("pat@example.org")->email_verified_at);
    // A new code works.
    (void)w.self.resend_verification("pat@example.org");
    (void)w.self.verify_email("pat@example.org", w.last_code());
    CHECK(w.accounts.find("pat@example.org")->email_verified_at);
  }
  SUBCASE("a code expires after 10 minutes, and is purged once reported") {
    w.register_pat();
    const std::string code = w.last_code();
    w.clock.advance_seconds(599);
    w.clock.advance_seconds(1);
    check_error([&] { (void)w.self.verify_email("pat@example.org", code); },
                ErrorKind::authentication, "expired");
    CHECK(w.count("SELECT count(*) FROM otp_challenges") == 0);
    check_error([&] { (void)w.self.verify_email("pat@example.org", code); },
                ErrorKind::authentication, "no code is waiting");
  }
  SUBCASE("a new code replaces the older one") {
    w.register_pat();
    const std::string first = w.last_code();
    (void)w.self.resend_verification("pat@example.org");
    const std::string second = w.last_code();
    if (first != second) {
      check_error([&] { (void)w.self.verify_email("pat@example.org", first); },
                  ErrorKind::authentication, "wrong code");
    }
    (void)w.self.verify_email("pat@example.org", second);
  }
  SUBCASE("resend for a verified or unknown address sends nothing, with the same answer") {
    const CodeRequest a = w.self.resend_verification("admin@example.org");
    const CodeRequest b = w.self.resend_verification("ghost@example.org");
    CHECK(a.expires_at == b.expires_at);
    CHECK(w.mail.sent.empty());
    CHECK(w.count("SELECT count(*) FROM otp_challenges WHERE user_id IS NULL") == 2);
  }
}

TEST_CASE("auth::SelfService rate limits: 3 codes an hour per address and purpose") {
  World w;
  w.register_pat();
  (void)w.self.resend_verification("pat@example.org");
  w.clock.advance_minutes(20);
  (void)w.self.resend_verification("pat@example.org");
  w.clock.advance_minutes(5);
  const std::string msg =
      check_error([&] { (void)w.self.resend_verification("pat@example.org"); },
                  ErrorKind::rate_limited, "too many codes sent to this address");
  CHECK(contains(msg, "at most 3 an hour"));
  CHECK(contains(msg, "try again in 35 minutes"));
  CHECK(w.mail.sent.size() == 3);
  CHECK(w.audit_count("otp.sent", Outcome::failure) == 1);
  // Registering the address again counts the same way (and answers the same: refused).
  check_error([&] { (void)w.register_pat(); }, ErrorKind::rate_limited, "35 minutes");
  // Password reset codes have their own limit.
  (void)w.self.request_password_reset("pat@example.org");
  // Unknown addresses are limited alike.
  for (int i = 0; i < 3; ++i)
    (void)w.self.request_password_reset("ghost@example.org");
  check_error([&] { (void)w.self.request_password_reset("ghost@example.org"); },
              ErrorKind::rate_limited, "try again in 60 minutes");
  w.clock.advance_minutes(35);
  (void)w.self.resend_verification("pat@example.org");
  CHECK(w.mail.sent.size() == 5);
}

TEST_CASE("auth::SelfService password reset") {
  World w;
  w.register_pat();
  (void)w.self.verify_email("pat@example.org", w.last_code());
  SUBCASE("the same answer for every address; a code only to an account with a password") {
    const CodeRequest known = w.self.request_password_reset("PAT@example.org");
    const CodeRequest unknown = w.self.request_password_reset("ghost@example.org");
    CHECK(known.expires_at == unknown.expires_at);
    CHECK(known.email == "pat@example.org");
    REQUIRE(w.mail.sent.size() == 2);  // the verification and the reset code
    CHECK(w.mail.sent.back().subject == "Your CSSS password reset code");
    check_error([&] { (void)w.self.reset_password("ghost@example.org", "123456", kNewPassword); },
                ErrorKind::authentication, "wrong code; 4 attempts left");
    // An importer has no password: no code.
    (void)w.accounts.add(principal_of(w.admin),
                         {"imp@example.org", "Importer", Role::importer, "", ""});
    (void)w.self.request_password_reset("imp@example.org");
    CHECK(w.mail.sent.size() == 2);
  }
  SUBCASE("sets the password, ends every session, clears a lockout") {
    const LoginResult s1 = w.auth.login("pat@example.org", kPassword);
    for (int i = 0; i < w.settings.max_failures; ++i) {
      CHECK_THROWS_AS((void)w.auth.login("pat@example.org", "wrong-password-000"), csss::Error);
    }
    CHECK(w.accounts.find("pat@example.org")->locked_until);
    (void)w.self.request_password_reset("pat@example.org");
    const std::string code = w.last_code();
    // A weak password is refused before the code is looked at: no attempt is spent.
    check_error([&] { (void)w.self.reset_password("pat@example.org", code, "short"); },
                ErrorKind::invalid_input, "too short");
    CHECK(w.count("SELECT failed_attempts FROM otp_challenges WHERE purpose = 'reset_password'") ==
          0);
    (void)w.self.reset_password("pat@example.org", code, kNewPassword);
    check_error([&] { (void)w.auth.authenticate(s1.token); }, ErrorKind::authentication,
                "session has ended");
    const User u = *w.accounts.find("pat@example.org");
    CHECK_FALSE(u.locked_until);
    CHECK(u.failed_logins == 0);
    CHECK(u.password_changed_at == ManualClock::kStart);
    CHECK_NOTHROW((void)w.auth.login("pat@example.org", kNewPassword));
    check_error([&] { (void)w.auth.login("pat@example.org", kPassword); },
                ErrorKind::authentication, "wrong email or password");
    check_error([&] { (void)w.self.reset_password("pat@example.org", code, kNewPassword); },
                ErrorKind::authentication, "already been used");
    CHECK(w.audit_count("password.reset", Outcome::success) == 1);
  }
  SUBCASE("an expired, wrong or burnt code changes nothing") {
    (void)w.self.request_password_reset("pat@example.org");
    const std::string code = w.last_code();
    for (int i = 0; i < 5; ++i) {
      CHECK_THROWS_AS(
          (void)w.self.reset_password("pat@example.org", other_code(code), kNewPassword),
          csss::Error);
    }
    check_error([&] { (void)w.self.reset_password("pat@example.org", code, kNewPassword); },
                ErrorKind::authentication, "too many wrong codes");
    (void)w.self.request_password_reset("pat@example.org");
    const std::string second = w.last_code();
    w.clock.advance_minutes(11);
    check_error([&] { (void)w.self.reset_password("pat@example.org", second, kNewPassword); },
                ErrorKind::authentication, "expired");
    CHECK_NOTHROW((void)w.auth.login("pat@example.org", kPassword));
  }
  SUBCASE("a reset verifies a registration still waiting for its code") {
    w.register_pat("late@example.org");
    (void)w.self.request_password_reset("late@example.org");
    (void)w.self.reset_password("late@example.org", w.last_code(), kNewPassword);
    CHECK(w.accounts.find("late@example.org")->email_verified_at);
    CHECK_NOTHROW((void)w.auth.login("late@example.org", kNewPassword));
  }
}

TEST_CASE("auth::Accounts::profile and update_profile") {
  World w;
  w.register_pat("pat@example.org", "1984-07-12");
  (void)w.self.verify_email("pat@example.org", w.last_code());
  const Principal pat = principal_of(*w.accounts.find("pat@example.org"));
  const Principal admin = principal_of(w.admin);
  SUBCASE("view") {
    const Profile p = w.accounts.profile(pat);
    CHECK(p.user.email == "pat@example.org");
    CHECK(p.patient_id);
    CHECK(p.birth_date == "1984-07-12");
    CHECK_FALSE(p.user.phone);
    const Profile a = w.accounts.profile(admin);
    CHECK_FALSE(a.patient_id);
  }
  SUBCASE("update: name and birth date reach the patient record; phone normalised") {
    ProfileChange c;
    c.full_name = "  Pat Q. Doe ";
    c.phone = "+44 20-7946 0958";
    c.birth_date = "1985-01-31";
    const Profile p = w.accounts.update_profile(pat, c);
    CHECK(p.user.full_name == "Pat Q. Doe");
    CHECK(p.user.phone == "+442079460958");
    CHECK(p.birth_date == "1985-01-31");
    CHECK(w.count("SELECT count(*) FROM patients WHERE full_name = 'Pat Q. Doe' AND "
                  "birth_date = '1985-01-31'") == 1);
    Filter f;
    f.action = "user.profile";
    const auto rows = w.audit.list(f);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].detail == "changed: name, phone, date of birth");
    ProfileChange clear;
    clear.phone = "";
    CHECK_FALSE(w.accounts.update_profile(pat, clear).user.phone);
  }
  SUBCASE("bad values: nothing changed") {
    ProfileChange c;
    c.full_name = "New Name";
    c.phone = "12345";
    check_error([&] { (void)w.accounts.update_profile(pat, c); }, ErrorKind::invalid_input,
                "invalid phone number");
    c.phone.reset();
    c.birth_date = "2999-12-31";
    check_error([&] { (void)w.accounts.update_profile(pat, c); }, ErrorKind::invalid_input,
                "between 1900-01-01 and today");
    c.birth_date = "31/12/1980";
    check_error([&] { (void)w.accounts.update_profile(pat, c); }, ErrorKind::invalid_input,
                "not a date");
    CHECK(w.accounts.find(pat.user_id)->full_name == "Pat Doe");
    ProfileChange staff;
    staff.birth_date = "1970-01-01";
    check_error([&] { (void)w.accounts.update_profile(admin, staff); }, ErrorKind::invalid_input,
                "patients only");
  }
  SUBCASE("an importer has no profile") {
    const User imp = w.accounts.add(admin, {"imp@example.org", "Importer", Role::importer, "", ""});
    check_error([&] { (void)w.accounts.profile(principal_of(imp)); }, ErrorKind::permission,
                "an importer may not see and change one's own profile");
  }
}

TEST_CASE("auth::Maintenance::purge") {
  World w;
  // An admin login: its code and half-open session, then the full session.
  const LoginResult half = w.auth.login("admin@example.org", kAdminPassword);
  const std::string admin_code = w.last_code();
  const LoginResult full = w.auth.complete_otp(half.token, "admin@example.org", admin_code);
  const Principal admin = w.auth.authenticate(full.token);
  w.register_pat();
  (void)w.self.request_password_reset("ghost@example.org");
  // Before anything expired: nothing but the half-open session (revoked by the login) goes.
  PurgeResult r = w.maintenance.purge(admin);
  CHECK(r.sessions == 1);
  CHECK(r.codes == 1);  // the admin's login code, bound to that session
  CHECK(r.code_requests == 0);
  CHECK(w.count("SELECT count(*) FROM otp_challenges") == 2);
  // An hour later the codes have expired, the request records are an hour old, and the admin's
  // session idled out.
  w.clock.advance_minutes(61);
  r = w.maintenance.purge(admin);
  CHECK(r.codes == 2);
  CHECK(r.code_requests == 2);
  CHECK(r.sessions == 1);
  CHECK(w.count("SELECT count(*) FROM otp_challenges") == 0);
  CHECK(w.count("SELECT count(*) FROM sessions") == 0);
  CHECK(w.audit_count("maintenance.purge", Outcome::success) == 2);
  const User p = *w.accounts.find("pat@example.org");
  check_error([&] { (void)w.maintenance.purge(principal_of(p)); }, ErrorKind::permission,
              "a patient may not purge expired codes and sessions");
}
