#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_log.hpp"
#include "auth/accounts.hpp"
#include "auth/login.hpp"
#include "config/config.hpp"
#include "store/database.hpp"
#include "support/check_error.hpp"
#include "support/fakes.hpp"
#include "support/principal.hpp"
#include "support/temp_dir.hpp"

using csss::test::principal_of;
using namespace csss::auth;
using csss::ErrorKind;
using csss::audit::AuditLog;
using csss::audit::Filter;
using csss::audit::Outcome;
using csss::store::Database;
using csss::store::OpenMode;
using csss::test::check_error;
using csss::test::contains;

namespace {

const std::string kAdminPassword = "admin-password-1";
const std::string kPatientPassword = "patient-password-1";
const std::string kDoctorPassword = "doctor-password-1";

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += s;
  return out;
}

// A store with its first admin, the account rules at their defaults, and a clock and mailbox
// the test controls.
struct World {
  csss::test::TempDir dir;
  csss::test::ManualClock clock;
  Database db = Database::open(dir / "csss.db", OpenMode::create);
  AuditLog audit{db, clock};
  csss::test::MemoryMailTransport mail;
  AuthSettings settings;
  Accounts accounts{db, clock, audit, settings};
  Authenticator auth{db, clock, audit, mail, settings};
  User admin =
      accounts.create_first_admin({"admin@example.org", "Ada Admin", Role::admin, kAdminPassword});
  Principal admin_p = principal_of(admin);

  User add_patient() {
    return accounts.add(admin_p,
                        {"patient@example.org", "Pat Patient", Role::patient, kPatientPassword});
  }
  User add_doctor() {
    return accounts.add(admin_p,
                        {"doctor@example.org", "Doc Doctor", Role::doctor, kDoctorPassword});
  }
  std::int64_t user_count() {
    auto st = db.prepare("SELECT count(*) FROM users");
    REQUIRE(st.step());
    return st.get_int(0);
  }
  std::size_t audit_count(const std::string& action) {
    Filter f;
    f.action = action;
    return audit.list(f).size();
  }
};

}  // namespace

TEST_CASE("auth::normalize_email") {
  SUBCASE("accepts and lower-cases") {
    CHECK(normalize_email("alice@example.org") == "alice@example.org");
    CHECK(normalize_email("  Alice.Smith+Tag@Example.ORG \n") == "alice.smith+tag@example.org");
    CHECK(normalize_email("o'brien@mail.example.ie") == "o'brien@mail.example.ie");
    CHECK(normalize_email("a@b.co") == "a@b.co");
    CHECK(normalize_email("x-1_y@sub-1.example.org") == "x-1_y@sub-1.example.org");
  }
  SUBCASE("254 characters are allowed, 255 are not") {
    const std::string local(64, 'a');
    const std::string domain = std::string(63, 'b') + "." + std::string(63, 'c') + ".";
    const std::string e254 = local + "@" + domain + std::string(61, 'd');
    const std::string e255 = local + "@" + domain + std::string(62, 'd');
    REQUIRE(e254.size() == 254);
    CHECK(normalize_email(e254) == e254);
    check_error([&] { (void)normalize_email(e255); }, ErrorKind::invalid_input, "254");
  }
  SUBCASE("rejects malformed addresses") {
    for (const std::string& bad : std::vector<std::string>{"",
                                                           "   ",
                                                           "alice",
                                                           "alice@",
                                                           "@example.org",
                                                           "a@@example.org",
                                                           "a@b@example.org",
                                                           "a@localhost",
                                                           "a@example.",
                                                           "a@.example.org",
                                                           "a@example..org",
                                                           "a b@example.org",
                                                           "a@exa mple.org",
                                                           "a@-example.org",
                                                           "a@example-.org",
                                                           ".a@example.org",
                                                           "a.@example.org",
                                                           "a..b@example.org",
                                                           "a\x01@example.org",
                                                           "a@example.org\x7f",
                                                           "a\r\nBcc: x@example.org",
                                                           "\xC3\xA9@example.org",
                                                           "\xff@example.org",
                                                           "a@ex_ample.org",
                                                           "<a@example.org>",
                                                           "Alice <a@example.org>",
                                                           std::string(65, 'a') + "@example.org"}) {
      CAPTURE(bad);
      check_error([&] { (void)normalize_email(bad); }, ErrorKind::invalid_input, "invalid email");
    }
  }
  SUBCASE("the message says what is wrong") {
    check_error([] { (void)normalize_email("a@b@c.org"); }, ErrorKind::invalid_input,
                "exactly one '@'");
    check_error([] { (void)normalize_email("a@localhost"); }, ErrorKind::invalid_input,
                "domain name");
    check_error([] { (void)normalize_email(""); }, ErrorKind::invalid_input, "empty");
  }
}

TEST_CASE("auth::check_password") {
  const AuthSettings s;  // password.min_length 12
  const std::string email = "alice@example.org";
  SUBCASE("empty") {
    check_error([&] { check_password("", s, email); }, ErrorKind::invalid_input, "empty");
  }
  SUBCASE("too short") {
    check_error([&] { check_password("short", s, email); }, ErrorKind::invalid_input,
                "at least 12 characters");
    check_error([&] { check_password(std::string(11, 'x'), s, email); }, ErrorKind::invalid_input,
                "too short");
    CHECK_NOTHROW(check_password(std::string(12, 'x'), s, email));
  }
  SUBCASE("length counts characters, not bytes") {
    const std::string e_acute = "\xC3\xA9";        // é: 2 bytes
    const std::string emoji = "\xF0\x9F\x98\x80";  // 😀: 4 bytes
    CHECK_NOTHROW(check_password(repeat(e_acute, 12), s, email));
    check_error([&] { check_password(repeat(e_acute, 11), s, email); }, ErrorKind::invalid_input,
                "too short");  // 22 bytes, 11 characters
    CHECK_NOTHROW(check_password(repeat(emoji, 12), s, email));
    check_error([&] { check_password(repeat(emoji, 11), s, email); }, ErrorKind::invalid_input,
                "too short");  // 44 bytes
  }
  SUBCASE("at most 1024 bytes") {
    CHECK_NOTHROW(check_password(std::string(1024, 'x'), s, email));
    check_error([&] { check_password(std::string(1025, 'x'), s, email); }, ErrorKind::invalid_input,
                "1024 bytes");
    check_error([&] { check_password(repeat("\xC3\xA9", 513), s, email); },
                ErrorKind::invalid_input, "1024 bytes");
  }
  SUBCASE("not the account's email, in any case") {
    check_error([&] { check_password(email, s, email); }, ErrorKind::invalid_input, "email");
    check_error([&] { check_password("Alice@Example.ORG", s, email); }, ErrorKind::invalid_input,
                "email");
    CHECK_NOTHROW(check_password(email + "!", s, email));
  }
  SUBCASE("the minimum follows the settings") {
    AuthSettings eight;
    eight.password_min_length = 8;
    CHECK_NOTHROW(check_password("12345678", eight, email));
    check_error([&] { check_password("1234567", eight, email); }, ErrorKind::invalid_input,
                "at least 8 characters");
  }
}

TEST_CASE("auth::normalize_full_name") {
  CHECK(normalize_full_name("  Dr. Jos\xC3\xA9 Garc\xC3\xAD"
                            "a ") ==
        "Dr. Jos\xC3\xA9 Garc\xC3\xAD"
        "a");
  check_error([] { (void)normalize_full_name("  "); }, ErrorKind::invalid_input, "empty");
  CHECK_NOTHROW(normalize_full_name(std::string(200, 'n')));
  check_error([] { (void)normalize_full_name(std::string(201, 'n')); }, ErrorKind::invalid_input,
              "200 bytes");
  check_error([] { (void)normalize_full_name("Eve\x1b[2J"); }, ErrorKind::invalid_input,
              "control characters");
  check_error([] { (void)normalize_full_name("Eve\nMallory"); }, ErrorKind::invalid_input,
              "control characters");
  check_error([] { (void)normalize_full_name("caf\xE9"); }, ErrorKind::invalid_input, "UTF-8");
}

TEST_CASE("auth::AuthSettings::from") {
  const auto env = [](const char* name) -> const char* {
    return std::string_view(name) == "HOME" ? "/home/test" : nullptr;
  };
  const AuthSettings s = AuthSettings::from(csss::config::Config::defaults(env));
  CHECK(s.session_ttl_minutes == 60);
  CHECK(s.session_idle_minutes == 15);
  CHECK(s.max_failures == 5);
  CHECK(s.lockout_minutes == 15);
  CHECK(s.password_min_length == 12);
  CHECK(s.otp_ttl_minutes == 10);
  CHECK(s.otp_max_attempts == 5);
  CHECK(s.codes_per_hour == 3);
  CHECK(s.mail_from == "CSSS <no-reply@csss.local>");
}

TEST_CASE("auth::Accounts::create_first_admin") {
  World w;
  SUBCASE("creates the admin") {
    CHECK(w.admin.id > 0);
    CHECK(w.admin.email == "admin@example.org");
    CHECK(w.admin.full_name == "Ada Admin");
    CHECK(w.admin.role == Role::admin);
    CHECK_FALSE(w.admin.disabled);
    CHECK(w.admin.failed_logins == 0);
    CHECK_FALSE(w.admin.locked_until.has_value());
    CHECK(w.admin.created_at == csss::test::ManualClock::kStart);
    CHECK(w.accounts.has_admin());
  }
  SUBCASE("stores an Argon2id hash, never the password") {
    auto st = w.db.prepare("SELECT password_hash FROM users WHERE id = ?");
    st.bind(1, w.admin.id);
    REQUIRE(st.step());
    const std::string hash = st.get_text(0);
    CHECK(hash.starts_with("$argon2id$"));
    CHECK_FALSE(contains(hash, kAdminPassword));
  }
  SUBCASE("audited as done by the system") {
    const auto rows = w.audit.list({});
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].actor == "system");
    CHECK(rows[0].action == "user.add");
    CHECK(rows[0].object == "user:admin@example.org");
    CHECK(rows[0].detail == "role admin");
  }
  SUBCASE("a second first admin is a conflict") {
    check_error(
        [&] {
          (void)w.accounts.create_first_admin(
              {"other@example.org", "Other Admin", Role::admin, "other-password-1"});
        },
        ErrorKind::conflict, "exists already");
    CHECK(w.user_count() == 1);
  }
  SUBCASE("only for the admin role") {
    csss::test::TempDir dir;
    auto db = Database::open(dir / "csss.db", OpenMode::create);
    AuditLog audit(db, w.clock);
    Accounts accounts(db, w.clock, audit, w.settings);
    CHECK_FALSE(accounts.has_admin());
    check_error(
        [&] {
          (void)accounts.create_first_admin(
              {"p@example.org", "P", Role::patient, "patient-password-1"});
        },
        ErrorKind::internal);
    CHECK_FALSE(accounts.has_admin());
  }
}

TEST_CASE("auth::Accounts::add") {
  World w;
  SUBCASE("by an admin") {
    w.clock.advance_minutes(5);
    const User doc = w.accounts.add(
        w.admin_p, {"  Doctor@Example.org ", " Doc Doctor ", Role::doctor, kDoctorPassword});
    CHECK(doc.email == "doctor@example.org");
    CHECK(doc.full_name == "Doc Doctor");
    CHECK(doc.role == Role::doctor);
    CHECK(doc.created_at == csss::test::ManualClock::kStart + 300);
    CHECK(doc.id != w.admin.id);
    const auto found = w.accounts.find("DOCTOR@example.org");
    REQUIRE(found.has_value());
    CHECK(found->id == doc.id);
    const auto rows = w.audit.list({});
    REQUIRE(rows.size() == 2);
    CHECK(rows[1].actor == "admin@example.org");
    CHECK(rows[1].action == "user.add");
    CHECK(rows[1].object == "user:doctor@example.org");
    CHECK(rows[1].detail == "role doctor");
  }
  SUBCASE("by a doctor: permission denied, nothing added") {
    const User doc = w.add_doctor();
    check_error(
        [&] {
          (void)w.accounts.add(principal_of(doc),
                               {"new@example.org", "New", Role::patient, "new-password-123"});
        },
        ErrorKind::permission, "permission denied");
    CHECK_FALSE(w.accounts.find("new@example.org").has_value());
    CHECK(w.user_count() == 2);
    CHECK(w.audit_count("access.denied") == 1);
  }
  SUBCASE("a duplicate email, in any case: conflict and no new row") {
    w.add_patient();
    const std::size_t audit_rows = w.audit.list({}).size();
    check_error(
        [&] {
          (void)w.accounts.add(w.admin_p, {"PATIENT@example.ORG", "Someone Else", Role::doctor,
                                           "another-password-1"});
        },
        ErrorKind::conflict, "exists already");
    CHECK(w.user_count() == 2);
    CHECK(w.accounts.find("patient@example.org")->role == Role::patient);
    CHECK(w.audit.list({}).size() == audit_rows);
  }
  SUBCASE("invalid input is refused before anything is written") {
    check_error(
        [&] {
          (void)w.accounts.add(w.admin_p, {"not-an-email", "X", Role::patient, kPatientPassword});
        },
        ErrorKind::invalid_input, "invalid email");
    check_error(
        [&] {
          (void)w.accounts.add(w.admin_p, {"x@example.org", "X", Role::patient, "short"});
        },
        ErrorKind::invalid_input, "too short");
    check_error(
        [&] {
          (void)w.accounts.add(w.admin_p, {"x@example.org", "", Role::patient, kPatientPassword});
        },
        ErrorKind::invalid_input, "full name");
    CHECK(w.user_count() == 1);
  }
}

TEST_CASE("auth::Accounts::list and show") {
  World w;
  const User patient = w.add_patient();
  const User doctor = w.add_doctor();

  SUBCASE("an admin lists every account, by role then email") {
    const auto all = w.accounts.list(w.admin_p, std::nullopt);
    REQUIRE(all.size() == 3);
    CHECK(all[0].email == "admin@example.org");
    CHECK(all[1].email == "doctor@example.org");
    CHECK(all[2].email == "patient@example.org");
    const auto doctors = w.accounts.list(w.admin_p, Role::doctor);
    REQUIRE(doctors.size() == 1);
    CHECK(doctors[0].id == doctor.id);
    CHECK(w.accounts.list(w.admin_p, Role::pharmacist).empty());
  }
  SUBCASE("others may not list") {
    check_error([&] { (void)w.accounts.list(principal_of(patient), std::nullopt); },
                ErrorKind::permission);
    check_error([&] { (void)w.accounts.list(principal_of(doctor), Role::patient); },
                ErrorKind::permission);
  }
  SUBCASE("an admin shows any account") {
    CHECK(w.accounts.show(w.admin_p, "patient@example.org").id == patient.id);
    check_error([&] { (void)w.accounts.show(w.admin_p, "nobody@example.org"); },
                ErrorKind::not_found, "nobody@example.org");
  }
  SUBCASE("a non-admin shows only their own account") {
    CHECK(w.accounts.show(principal_of(patient), "patient@example.org").id == patient.id);
    CHECK(w.accounts.show(principal_of(patient), " Patient@Example.org ").id == patient.id);
    check_error([&] { (void)w.accounts.show(principal_of(patient), "doctor@example.org"); },
                ErrorKind::permission);
    check_error([&] { (void)w.accounts.show(principal_of(doctor), "admin@example.org"); },
                ErrorKind::permission);
    CHECK(w.audit_count("access.denied") == 2);
  }
}

TEST_CASE("auth::Accounts::set_disabled") {
  World w;
  w.add_patient();
  const LoginResult login = w.auth.login("patient@example.org", kPatientPassword);
  REQUIRE_NOTHROW(w.auth.authenticate(login.token));

  SUBCASE("disabling ends the account's sessions and refuses logins") {
    const User u = w.accounts.set_disabled(w.admin_p, "patient@example.org", true);
    CHECK(u.disabled);
    check_error([&] { (void)w.auth.authenticate(login.token); }, ErrorKind::authentication,
                "session has ended");
    check_error([&] { (void)w.auth.login("patient@example.org", kPatientPassword); },
                ErrorKind::authentication, "disabled");
    CHECK(w.audit_count("user.disable") == 1);

    const User again = w.accounts.set_disabled(w.admin_p, "patient@example.org", false);
    CHECK_FALSE(again.disabled);
    CHECK(w.audit_count("user.enable") == 1);
    check_error([&] { (void)w.auth.authenticate(login.token); }, ErrorKind::authentication);
    const LoginResult fresh = w.auth.login("patient@example.org", kPatientPassword);
    CHECK(w.auth.authenticate(fresh.token).email == "patient@example.org");
  }
  SUBCASE("an admin cannot disable their own account") {
    check_error([&] { (void)w.accounts.set_disabled(w.admin_p, "admin@example.org", true); },
                ErrorKind::conflict, "your own account");
    CHECK_FALSE(w.accounts.find("admin@example.org")->disabled);
  }
  SUBCASE("non-admins may not disable; unknown accounts are not found") {
    const Principal patient = w.auth.authenticate(login.token);
    check_error([&] { (void)w.accounts.set_disabled(patient, "admin@example.org", true); },
                ErrorKind::permission);
    check_error([&] { (void)w.accounts.set_disabled(w.admin_p, "ghost@example.org", true); },
                ErrorKind::not_found);
    CHECK_FALSE(w.accounts.find("admin@example.org")->disabled);
  }
}

TEST_CASE("auth::Accounts::unlock") {
  World w;
  const User patient = w.add_patient();
  const auto lock = [&] {
    w.db.prepare("UPDATE users SET failed_logins = 3, locked_until = ? WHERE id = ?")
        .bind_all(w.clock.now() + 900, patient.id)
        .run();
  };
  lock();
  check_error([&] { (void)w.auth.login("patient@example.org", kPatientPassword); },
              ErrorKind::authentication, "locked");

  SUBCASE("an admin clears the lockout and the failure count") {
    const User u = w.accounts.unlock(w.admin_p, "patient@example.org");
    CHECK(u.failed_logins == 0);
    CHECK_FALSE(u.locked_until.has_value());
    CHECK(w.audit_count("user.unlock") == 1);
    CHECK_NOTHROW(w.auth.login("patient@example.org", kPatientPassword));
  }
  SUBCASE("others may not") {
    check_error([&] { (void)w.accounts.unlock(principal_of(patient), "patient@example.org"); },
                ErrorKind::permission);
    CHECK(w.accounts.find(patient.id)->locked_until.has_value());
  }
}

TEST_CASE("auth::Accounts::change_own_password") {
  World w;
  w.add_patient();
  const std::string current_token = w.auth.login("patient@example.org", kPatientPassword).token;
  const std::string other_token = w.auth.login("patient@example.org", kPatientPassword).token;
  const Principal me = w.auth.authenticate(current_token);
  const std::string replacement = "a-brand-new-password";

  SUBCASE("needs the correct current password") {
    check_error([&] { w.accounts.change_own_password(me, "wrong-password-1", replacement); },
                ErrorKind::authentication, "current password is wrong");
    Filter f;
    f.action = "user.passwd";
    const auto rows = w.audit.list(f);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].outcome == Outcome::failure);
    CHECK_NOTHROW(w.auth.authenticate(other_token));  // nothing changed
    CHECK_NOTHROW(w.auth.login("patient@example.org", kPatientPassword));
  }
  SUBCASE("replaces the password, ends the other sessions, keeps the current one") {
    w.clock.advance_minutes(1);
    w.accounts.change_own_password(me, kPatientPassword, replacement);
    CHECK(w.accounts.find(me.user_id)->password_changed_at == w.clock.now());
    CHECK(w.auth.authenticate(current_token).user_id == me.user_id);
    check_error([&] { (void)w.auth.authenticate(other_token); }, ErrorKind::authentication,
                "session has ended");
    check_error([&] { (void)w.auth.login("patient@example.org", kPatientPassword); },
                ErrorKind::authentication);
    CHECK_NOTHROW(w.auth.login("patient@example.org", replacement));
    Filter f;
    f.action = "user.passwd";
    const auto rows = w.audit.list(f);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].outcome == Outcome::success);
  }
  SUBCASE("the new password must follow the rules and differ from the current one") {
    check_error([&] { w.accounts.change_own_password(me, kPatientPassword, "short"); },
                ErrorKind::invalid_input, "too short");
    check_error([&] { w.accounts.change_own_password(me, kPatientPassword, kPatientPassword); },
                ErrorKind::invalid_input, "same as the current");
    CHECK_NOTHROW(w.auth.authenticate(other_token));
  }
}

TEST_CASE("auth::Accounts::set_password") {
  World w;
  const User patient = w.add_patient();
  const std::string token = w.auth.login("patient@example.org", kPatientPassword).token;
  const std::string replacement = "set-by-the-admin-1";

  SUBCASE("an admin sets it: sessions end, a lockout is cleared, the new password works") {
    w.db.prepare("UPDATE users SET failed_logins = 2, locked_until = ? WHERE id = ?")
        .bind_all(w.clock.now() + 900, patient.id)
        .run();
    w.accounts.set_password(w.admin_p, "patient@example.org", replacement);
    check_error([&] { (void)w.auth.authenticate(token); }, ErrorKind::authentication,
                "session has ended");
    const User u = *w.accounts.find(patient.id);
    CHECK(u.failed_logins == 0);
    CHECK_FALSE(u.locked_until.has_value());
    check_error([&] { (void)w.auth.login("patient@example.org", kPatientPassword); },
                ErrorKind::authentication, "wrong email or password");
    CHECK_NOTHROW(w.auth.login("patient@example.org", replacement));
    Filter f;
    f.action = "user.passwd";
    const auto rows = w.audit.list(f);
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].actor == "admin@example.org");
    CHECK(rows[0].object == "user:patient@example.org");
  }
  SUBCASE("others may not; the rules still apply") {
    const Principal me = w.auth.authenticate(token);
    check_error([&] { w.accounts.set_password(me, "patient@example.org", replacement); },
                ErrorKind::permission);
    check_error([&] { w.accounts.set_password(w.admin_p, "patient@example.org", "short"); },
                ErrorKind::invalid_input);
    check_error([&] { w.accounts.set_password(w.admin_p, "ghost@example.org", replacement); },
                ErrorKind::not_found);
    CHECK_NOTHROW(w.auth.authenticate(token));
  }
}
