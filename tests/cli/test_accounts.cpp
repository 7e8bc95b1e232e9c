// csss user register, verify-email, forgot-password, reset-password, profile, and csss
// maintenance purge: self-service accounts, their emailed codes, rate limits and bad input.
#include <doctest/doctest.h>

#include <regex>

#include "cli_fixture.hpp"

using namespace csss::test;

namespace {

const std::string kEmail = "pat@example.org";
const std::string kPassword = "Patient#Secret2026";
const std::string kNewPassword = "Another#Secret2027";

std::vector<std::string> register_args(const std::string& email = kEmail,
                                       const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{"user",   "register", "--email",         email,
                                "--name", "Pat Doe",  "--password-stdin"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// The 6-digit code in the newest outbox message ("" when it holds none).
std::string newest_code(const Cli& cli) {
  const auto messages = cli.outbox_messages();
  if (messages.empty())
    return "";
  static const std::regex code_re("code is ([0-9]{6})");
  std::smatch m;
  const std::string text = read_bytes(messages.back());
  return std::regex_search(text, m, code_re) ? m[1].str() : "";
}

std::string other_code(const std::string& code) {
  return code == "000000" ? "111111" : "000000";
}

// Registers kEmail and returns the emailed code.
std::string register_patient(Cli& cli, const std::vector<std::string>& extra = {}) {
  const auto r = cli.run(register_args(kEmail, extra), kPassword + "\n");
  REQUIRE_OK(r);
  const std::string code = newest_code(cli);
  REQUIRE(code.size() == 6);
  return code;
}

ProcessResult verify(const Cli& cli, const std::string& code, const std::string& email = kEmail) {
  return cli.run({"user", "verify-email", "--email", email, "--code", code});
}

ProcessResult reset(const Cli& cli, const std::string& code, const std::string& password,
                    const std::string& email = kEmail) {
  return cli.run({"user", "reset-password", "--email", email, "--code", code, "--password-stdin"},
                 password + "\n");
}

// Makes every code of `purpose` expire, behind the tool's back.
void expire_codes(const Cli& cli, const std::string& purpose) {
  Store s(cli.db_path());
  REQUIRE(s.exec("UPDATE otp_challenges SET expires_at = strftime('%s','now') - 5 WHERE "
                 "purpose = '" +
                 purpose + "'") == "");
}

std::int64_t count(const Cli& cli, const std::string& sql) {
  Store s(cli.db_path());
  return s.query_int(sql);
}

}  // namespace

TEST_CASE("user register, then verify-email with the emailed code, then login") {
  Cli cli;
  cli.init_with_admin();
  const auto r = cli.run({"--json", "user", "register", "--email", "Pat@Example.org", "--name",
                          "Pat Doe", "--birth-date", "1984-07-12", "--password-stdin"},
                         kPassword + "\n");
  REQUIRE_OK(r);
  const auto doc = json_of(r);
  CHECK(doc["status"] == "code_sent");
  CHECK(doc["email"] == kEmail);
  CHECK(contains(doc["code_sent_to"].get<std::string>(), "***"));
  CHECK(doc["expires_at"].is_string());
  CHECK_FALSE(doc.contains("id"));
  const std::string code = newest_code(cli);
  REQUIRE(code.size() == 6);
  CHECK(contains(read_bytes(cli.outbox_messages().back()), "To: " + kEmail));
  CHECK(mode_of(cli.outbox_messages().back()) == 0600);
  CHECK(count(cli,
              "SELECT count(*) FROM users u JOIN patients p ON p.user_id = u.id WHERE "
              "u.email = 'pat@example.org' AND u.role = 'patient' AND p.birth_date = "
              "'1984-07-12' AND u.email_verified_at IS NULL") == 1);
  CHECK(count(cli,
              "SELECT count(*) FROM audit_log WHERE action = 'user.register' AND actor = "
              "'pat@example.org' AND outcome = 'success'") == 1);

  // Not usable before the code is entered.
  CHECK_ERROR(cli.run({"login", "--email", kEmail, "--password-stdin"}, kPassword + "\n"), 3,
              "not verified yet", "csss user verify-email");
  CHECK_FALSE(fs::exists(cli.session_file()));

  const auto v = verify(cli, code);
  REQUIRE_OK(v);
  CHECK(contains(v.out, "Email pat@example.org verified"));
  cli.login(kEmail, kPassword);
  const auto who = cli.run({"whoami"});
  CHECK(contains(who.out, "Pat Doe <pat@example.org>"));
  CHECK(contains(who.out, "role: patient"));

  // The admin sees the account like any other; the patient record is the account's.
  Session admin = cli.as("admin");
  admin.login_admin();
  const auto show = admin.run({"--json", "user", "show", kEmail});
  REQUIRE_OK(show);
  CHECK(json_of(show)["email_verified_at"].is_string());
  CHECK(count(cli,
              "SELECT count(*) FROM audit_log WHERE action = 'email.verify' AND "
              "outcome = 'success'") == 1);
}

TEST_CASE("user register of an address that has an account: the same answer, a notice") {
  Cli cli;
  cli.init_with_admin();
  const Account d = cli.add_user("doctor", "dr.lee@clinic.example");
  const auto fresh = cli.run(register_args("new@example.org"), kPassword + "\n");
  REQUIRE_OK(fresh);
  const auto taken = cli.run(register_args("Dr.Lee@clinic.example"), kPassword + "\n");
  REQUIRE_OK(taken);
  // The same text but for the address itself.
  const auto normalise = [](std::string text, const std::string& email) {
    text = std::regex_replace(text, std::regex("valid until [0-9T:Z-]+"), "valid until T");
    text = std::regex_replace(text, std::regex("[a-z.]+\\*\\*\\*[a-z]?@[a-z.]+"), "MASKED");
    return std::regex_replace(text, std::regex(email), "EMAIL");
  };
  CHECK(normalise(fresh.out, "new@example.org") == normalise(taken.out, "dr.lee@clinic.example"));
  CHECK(fresh.exit_code == taken.exit_code);
  // The owner gets a notice, without a code; nothing about the account changed.
  const std::string notice = read_bytes(cli.outbox_messages().back());
  CHECK(contains(notice, "To: dr.lee@clinic.example"));
  CHECK(contains(notice, "has an account already"));
  CHECK(newest_code(cli).empty());
  CHECK(count(cli, "SELECT count(*) FROM users") == 3);
  CHECK(count(cli,
              "SELECT count(*) FROM users WHERE email = 'dr.lee@clinic.example' AND role = "
              "'doctor' AND full_name LIKE 'Test doctor%'") == 1);
  cli.login(d.email, d.password);  // its password is unchanged
  CHECK(count(cli,
              "SELECT count(*) FROM audit_log WHERE action = 'user.register' AND outcome = "
              "'failure' AND actor = 'dr.lee@clinic.example'") == 1);
  // A code check for it looks like one for a fresh registration.
  const auto wrong_taken = verify(cli, "123456", "dr.lee@clinic.example");
  const auto wrong_fresh = verify(cli, "123456", "new@example.org");
  CHECK_ERROR(wrong_taken, 3, "wrong code; 4 attempts left");
  CHECK_ERROR(wrong_fresh, 3, "wrong code; 4 attempts left");
}

TEST_CASE("user register refuses a weak password, a bad date, email or name, writing nothing") {
  Cli cli;
  cli.init_with_admin();
  CHECK_ERROR(cli.run(register_args(), "short\n"), 5, "too short", "at least 12");
  CHECK_ERROR(cli.run(register_args(), kEmail + "\n"), 5, "must not be the account's email");
  CHECK_ERROR(cli.run(register_args(), "\n"), 5, "password is empty");
  CHECK_ERROR(cli.run(register_args(kEmail, {"--birth-date", "1984-02-30"}), kPassword + "\n"), 5,
              "date of birth '1984-02-30' is not a date");
  CHECK_ERROR(cli.run(register_args(kEmail, {"--birth-date", "2999-01-01"}), kPassword + "\n"), 5,
              "between 1900-01-01 and today");
  CHECK_ERROR(cli.run(register_args(kEmail, {"--birth-date", "12/07/1984"}), kPassword + "\n"), 5,
              "not a date");
  CHECK_ERROR(cli.run(register_args("not-an-email"), kPassword + "\n"), 5, "invalid email");
  CHECK_ERROR(cli.run({"user", "register", "--email", kEmail, "--name", " ", "--password-stdin"},
                      kPassword + "\n"),
              5, "full name is empty");
  CHECK_ERROR(cli.run({"user", "register", "--email", kEmail, "--name", "Pat"}), 2,
              "--password-stdin");
  CHECK(count(cli, "SELECT count(*) FROM users") == 1);
  CHECK(count(cli, "SELECT count(*) FROM otp_challenges") == 0);
  CHECK(cli.outbox_messages().empty());
}

TEST_CASE("verify-email: unknown email, wrong code, too many attempts, expired, reused") {
  Cli cli;
  cli.init_with_admin();
  SUBCASE("unknown email, or no code asked for") {
    CHECK_ERROR(verify(cli, "123456", "ghost@example.org"), 3,
                "no code is waiting for this address", "--resend");
  }
  SUBCASE("a code that is not 6 digits") {
    const std::string code = register_patient(cli);
    CHECK_ERROR(verify(cli, "12345"), 5, "6 digits");
    CHECK_ERROR(cli.run({"user", "verify-email", "--email", kEmail}), 2, "--code", "--resend");
    CHECK_ERROR(cli.run({"user", "verify-email", "--email", kEmail, "--code", code, "--resend"}), 2,
                "either");
    CHECK_OK(verify(cli, code));
  }
  SUBCASE("wrong codes: 4 left ... then the code is burnt, even the right one") {
    const std::string code = register_patient(cli);
    for (int left = 4; left >= 1; --left) {
      INFO("attempts left: ", left);
      CHECK_ERROR(verify(cli, other_code(code)), 3, "wrong code; " + std::to_string(left));
    }
    CHECK_ERROR(verify(cli, other_code(code)), 3, "no attempts are left", "--resend");
    CHECK_ERROR(verify(cli, code), 3, "too many wrong codes");
    CHECK(count(cli, "SELECT count(*) FROM users WHERE email_verified_at IS NULL") == 1);
    CHECK(count(cli,
                "SELECT count(*) FROM audit_log WHERE action = 'email.verify' AND "
                "outcome = 'failure'") == 6);
  }
  SUBCASE("an expired code, then none waiting (it was purged)") {
    const std::string code = register_patient(cli);
    expire_codes(cli, "verify_email");
    CHECK_ERROR(verify(cli, code), 3, "expired", "valid for 10 minutes", "--resend");
    CHECK(count(cli, "SELECT count(*) FROM otp_challenges WHERE purpose = 'verify_email'") == 0);
    CHECK_ERROR(verify(cli, code), 3, "no code is waiting");
  }
  SUBCASE("a used code") {
    const std::string code = register_patient(cli);
    REQUIRE_OK(verify(cli, code));
    CHECK_ERROR(verify(cli, code), 3, "already been used");
  }
}

TEST_CASE("verify-email --resend, and at most 3 codes an hour (exit 11 with the wait)") {
  Cli cli;
  cli.init_with_admin();
  const std::string first = register_patient(cli);
  const auto again = cli.run({"user", "verify-email", "--email", kEmail, "--resend"});
  REQUIRE_OK(again);
  CHECK(contains(again.out, "a new 6-digit code was sent"));
  const std::string second = newest_code(cli);
  REQUIRE(second.size() == 6);
  // Unknown and verified addresses get the same answer, and nothing is sent.
  const auto messages = cli.outbox_messages().size();
  const auto ghost = cli.run({"user", "verify-email", "--email", "ghost@example.org", "--resend"});
  REQUIRE_OK(ghost);
  CHECK(cli.outbox_messages().size() == messages);
  CHECK(std::regex_replace(ghost.out, std::regex("[^ ]+@[^ ]+ \\(valid until [^)]+\\)"), "X") ==
        std::regex_replace(again.out, std::regex("[^ ]+@[^ ]+ \\(valid until [^)]+\\)"), "X"));

  REQUIRE_OK(cli.run({"user", "verify-email", "--email", kEmail, "--resend"}));  // the third
  const auto limited = cli.run({"user", "verify-email", "--email", kEmail, "--resend"});
  CHECK_ERROR(limited, 11, "too many codes sent to this address", "at most 3 an hour",
              "try again in 60 minutes");
  CHECK_ERROR(cli.run(register_args(), kPassword + "\n"), 11, "try again in");
  const auto json = cli.run({"--json", "user", "verify-email", "--email", kEmail, "--resend"});
  CHECK(::csss::test::error_problem(json, 11, {"too many codes"}, true) == "");
  CHECK(json_of(json)["error"]["kind"] == "rate_limited");
  CHECK(count(cli,
              "SELECT count(*) FROM audit_log WHERE action = 'otp.sent' AND outcome = "
              "'failure' AND actor = 'pat@example.org'") == 3);
  // An hour later (moved back behind the tool's back) a code may be sent again.
  {
    Store s(cli.db_path());
    REQUIRE(s.exec("UPDATE email_code_requests SET created_at = created_at - 3600") == "");
  }
  REQUIRE_OK(cli.run({"user", "verify-email", "--email", kEmail, "--resend"}));
  const std::string newest = newest_code(cli);
  if (newest != first)
    CHECK_ERROR(verify(cli, first), 3, "wrong code");  // only the newest code counts
  CHECK_OK(verify(cli, newest));
}

TEST_CASE("forgot-password answers the same for every address, and reset-password sets it") {
  Cli cli;
  cli.init_with_admin();
  REQUIRE_OK(verify(cli, register_patient(cli)));
  Session other = cli.as("other");
  other.login(kEmail, kPassword);

  const auto unknown = cli.run({"user", "forgot-password", "--email", "ghost@example.org"});
  const auto before = cli.outbox_messages().size();
  const auto known = cli.run({"user", "forgot-password", "--email", kEmail});
  REQUIRE_OK(unknown);
  REQUIRE_OK(known);
  CHECK(unknown.exit_code == known.exit_code);
  const auto strip = [](std::string text) {
    text = std::regex_replace(text, std::regex("valid until [0-9T:Z-]+"), "valid until T");
    return std::regex_replace(text, std::regex("[^ ]+@[^ ]+"), "E");
  };
  CHECK(strip(unknown.out) == strip(known.out));
  CHECK(contains(known.out, "If an account uses this address"));
  REQUIRE(cli.outbox_messages().size() == before + 1);  // only the account's address got mail
  const std::string code = newest_code(cli);
  REQUIRE(code.size() == 6);

  SUBCASE("a weak password is refused before the code is spent") {
    CHECK_ERROR(reset(cli, code, "short"), 5, "too short");
    CHECK(count(cli,
                "SELECT failed_attempts FROM otp_challenges WHERE email = "
                "'pat@example.org' AND purpose = 'reset_password'") == 0);
    CHECK_ERROR(reset(cli, "12x456", kNewPassword), 5, "6 digits");
    CHECK_OK(reset(cli, code, kNewPassword));
  }
  SUBCASE("the code sets the password and ends every session; used once") {
    const auto r = reset(cli, code, kNewPassword);
    REQUIRE_OK(r);
    CHECK(contains(r.out, "every session of the account has ended"));
    CHECK_ERROR(other.run({"whoami"}), 3, "session has ended");
    CHECK_ERROR(cli.run({"login", "--email", kEmail, "--password-stdin"}, kPassword + "\n"), 3,
                "wrong email or password");
    cli.login(kEmail, kNewPassword);
    CHECK_ERROR(reset(cli, code, kNewPassword), 3, "already been used");
    CHECK(count(cli,
                "SELECT count(*) FROM audit_log WHERE action = 'password.reset' AND "
                "outcome = 'success'") == 1);
  }
  SUBCASE("unknown email, wrong code, too many attempts, expired code") {
    CHECK_ERROR(reset(cli, "123456", kNewPassword, "ghost@example.org"), 3,
                "wrong code; 4 attempts left");
    CHECK_ERROR(reset(cli, "123456", kNewPassword, "never@example.org"), 3, "no code is waiting",
                "forgot-password");
    for (int i = 0; i < 4; ++i)
      CHECK_ERROR(reset(cli, other_code(code), kNewPassword), 3, "wrong code");
    CHECK_ERROR(reset(cli, other_code(code), kNewPassword), 3, "no attempts are left");
    CHECK_ERROR(reset(cli, code, kNewPassword), 3, "too many wrong codes");
    REQUIRE_OK(cli.run({"user", "forgot-password", "--email", kEmail}));
    const std::string second = newest_code(cli);
    expire_codes(cli, "reset_password");
    CHECK_ERROR(reset(cli, second, kNewPassword), 3, "expired");
    cli.login(kEmail, kPassword);  // unchanged
  }
  SUBCASE("at most 3 reset codes an hour, for unknown addresses too") {
    for (const std::string& email : {kEmail, std::string("ghost@example.org")}) {
      INFO(email);
      REQUIRE_OK(cli.run({"user", "forgot-password", "--email", email}));
      REQUIRE_OK(cli.run({"user", "forgot-password", "--email", email}));
      CHECK_ERROR(cli.run({"user", "forgot-password", "--email", email}), 11,
                  "too many codes sent to this address", "try again in");
    }
  }
  SUBCASE("a reset clears a lockout") {
    for (int i = 0; i < 5; ++i) {
      (void)cli.run({"login", "--email", kEmail, "--password-stdin"}, "wrong-password-000\n");
    }
    CHECK_ERROR(cli.run({"login", "--email", kEmail, "--password-stdin"}, kPassword + "\n"), 3,
                "locked");
    REQUIRE_OK(reset(cli, code, kNewPassword));
    cli.login(kEmail, kNewPassword);
  }
}

TEST_CASE("user profile shows and changes one's own name, phone and date of birth") {
  Cli cli;
  cli.init_with_admin();
  REQUIRE_OK(verify(cli, register_patient(cli, {"--birth-date", "1984-07-12"})));
  cli.login(kEmail, kPassword);

  const auto view = cli.run({"user", "profile"});
  REQUIRE_OK(view);
  CHECK(contains(view.out, "email:      pat@example.org\n"));
  CHECK(contains(view.out, "phone:      -\n"));
  CHECK(contains(view.out, "birth date: 1984-07-12\n"));

  const auto upd = cli.run({"--json", "user", "profile", "--name", "Pat Q. Doe", "--phone",
                            "+44 20-7946 0958", "--birth-date", "1985-01-31"});
  REQUIRE_OK(upd);
  const auto doc = json_of(upd);
  CHECK(doc["full_name"] == "Pat Q. Doe");
  CHECK(doc["phone"] == "+442079460958");
  CHECK(doc["birth_date"] == "1985-01-31");
  CHECK(doc["patient_id"].is_number());
  CHECK(count(cli,
              "SELECT count(*) FROM patients WHERE full_name = 'Pat Q. Doe' AND birth_date = "
              "'1985-01-31'") == 1);
  CHECK(count(cli,
              "SELECT count(*) FROM audit_log WHERE action = 'user.profile' AND actor = "
              "'pat@example.org' AND detail = 'changed: name, phone, date of birth'") == 1);
  const auto json = cli.run({"--json", "user", "profile"});
  REQUIRE_OK(json);
  CHECK(json_of(json) == doc);

  SUBCASE("bad phone numbers and dates change nothing") {
    for (const std::string phone :
         {"020 7946 0958", "+44 (20) 7946", "+123", "+1234567890123456"}) {
      INFO(phone);
      CHECK_ERROR(cli.run({"user", "profile", "--name", "Other", "--phone", phone}), 5,
                  "invalid phone number");
    }
    CHECK_ERROR(cli.run({"user", "profile", "--birth-date", "1985-13-01"}), 5, "not a date");
    CHECK_ERROR(cli.run({"user", "profile", "--birth-date", "2999-01-01"}), 5,
                "between 1900-01-01 and today");
    CHECK(json_of(cli.run({"--json", "user", "profile"})) == doc);
  }
  SUBCASE("--phone '' removes the number") {
    REQUIRE_OK(cli.run({"user", "profile", "--phone", ""}));
    CHECK(json_of(cli.run({"--json", "user", "profile"}))["phone"].is_null());
  }
  SUBCASE("staff have no date of birth; importers no profile; a login is needed") {
    const Account d = cli.add_user("doctor");
    Session doctor = cli.as("doctor");
    doctor.login(d.email, d.password);
    REQUIRE_OK(doctor.run({"user", "profile", "--phone", "+33 1 23 45 67 89"}));
    CHECK_ERROR(doctor.run({"user", "profile", "--birth-date", "1970-01-01"}), 5, "patients only");
    const Account imp = cli.add_user("importer");
    const auto token = cli.create_token(imp.email);
    CHECK_ERROR(cli.run({"user", "profile"}, "", cli.token_env(token)), 4, "permission denied");
    CHECK_ERROR(cli.as("nobody").run({"user", "profile"}), 3, "not logged in");
  }
}

TEST_CASE("maintenance purge: admins remove expired codes and ended sessions") {
  Cli cli;
  cli.init_with_admin();
  const Account p = cli.add_user("patient");
  cli.as("p1").login(p.email, p.password);
  REQUIRE_OK(cli.as("p1").run({"logout"}));
  REQUIRE_OK(cli.run({"user", "forgot-password", "--email", p.email}));
  REQUIRE_OK(cli.run({"user", "forgot-password", "--email", "ghost@example.org"}));
  expire_codes(cli, "reset_password");
  {
    Store s(cli.db_path());
    REQUIRE(s.exec("UPDATE email_code_requests SET created_at = created_at - 3600") == "");
  }
  Session admin = cli.as("admin");
  admin.login_admin();
  CHECK_ERROR(cli.as("p2").run({"maintenance", "purge"}), 3, "not logged in");
  Session patient = cli.as("p2");
  patient.login(p.email, p.password);
  CHECK_ERROR(patient.run({"maintenance", "purge"}), 4, "permission denied",
              "purge expired codes and sessions");

  const auto sessions_before = count(cli, "SELECT count(*) FROM sessions");
  const auto r = admin.run({"--json", "maintenance", "purge"});
  REQUIRE_OK(r);
  const auto doc = json_of(r);
  // Two reset codes expired; the admin's login code went with its half-open session; the
  // logged-out session and the admin-setup and admin half-open sessions ended.
  CHECK(doc["codes"].get<int>() >= 3);
  CHECK(doc["sessions"].get<int>() >= 2);
  CHECK(doc["code_requests"] == 2);
  CHECK(doc["login_throttle"] == 0);
  CHECK(count(cli,
              "SELECT count(*) FROM otp_challenges WHERE expires_at <= strftime('%s','now')") == 0);
  CHECK(count(cli, "SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL") == 0);
  CHECK(count(cli, "SELECT count(*) FROM sessions") ==
        sessions_before - doc["sessions"].get<int>());
  CHECK_OK(admin.run({"whoami"}));
  CHECK_OK(patient.run({"whoami"}));
  const auto text = admin.run({"maintenance", "purge"});
  REQUIRE_OK(text);
  CHECK(contains(text.out, "Purged 0 expired codes, 0 ended sessions"));
  CHECK(count(cli, "SELECT count(*) FROM audit_log WHERE action = 'maintenance.purge'") == 2);
}
