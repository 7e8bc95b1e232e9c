// csss login, logout and whoami: passwords, lockout, the admins' emailed code, sessions.
#include <doctest/doctest.h>

#include <regex>

#include "cli_fixture.hpp"

using namespace csss::test;

namespace {

std::vector<std::string> login_args(const std::string& email) {
  return {"login", "--email", email, "--password-stdin"};
}

// Starts an admin login (the password step) in `s`; returns the emailed code.
std::string start_admin_login(Cli& cli, const Session& s) {
  const auto before = cli.outbox_messages().size();
  const auto r = s.run(login_args(kAdminEmail), std::string(kAdminPassword) + "\n");
  REQUIRE_OK(r);
  REQUIRE(cli.outbox_messages().size() == before + 1);
  const std::string code = cli.newest_otp_code();
  REQUIRE(code.size() == 6);
  return code;
}

// A six-digit code that is not `code`.
std::string other_code(const std::string& code) {
  return code == "000000" ? "111111" : "000000";
}

std::int64_t failed_logins(const Cli& cli, const std::string& email) {
  Store s(cli.db_path());
  return s.query_int("SELECT failed_logins FROM users WHERE email = '" + email + "'");
}

}  // namespace

TEST_CASE("patient logs in with --password-stdin and whoami shows the account") {
  Cli cli;
  cli.init_with_admin();
  const Account p = cli.add_user("patient", "pat@clinic.example", "Pat Patient");
  const auto r = cli.run(login_args("Pat@Clinic.Example"), p.password + "\n");
  REQUIRE_OK(r);
  CHECK(contains(r.out, "Logged in as pat@clinic.example (patient)"));
  REQUIRE(fs::exists(cli.session_file()));
  CHECK(mode_of(cli.session_file()) == 0600);
  CHECK(std::regex_match(cli.session().token(), std::regex("[0-9a-f]{64}")));

  const auto who = cli.run({"whoami"});
  REQUIRE_OK(who);
  CHECK(contains(who.out, "Pat Patient <pat@clinic.example>"));
  CHECK(contains(who.out, "role: patient"));
  CHECK(contains(who.out, "session ends: "));

  const auto json = cli.run({"whoami", "--json"});
  REQUIRE_OK(json);
  const auto doc = json_of(json);
  CHECK(doc["email"] == "pat@clinic.example");
  CHECK(doc["role"] == "patient");
  CHECK(doc["full_name"] == "Pat Patient");
  CHECK(std::regex_match(doc["session_expires_at"].get<std::string>(),
                         std::regex("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ")));

  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'login' AND "
                    "actor = 'pat@clinic.example' AND outcome = 'success'") == 1);
}

TEST_CASE("login --json reports the logged-in account") {
  Cli cli;
  cli.init_with_admin();
  const Account d = cli.add_user("doctor");
  const auto r =
      cli.run({"--json", "login", "--email", d.email, "--password-stdin"}, d.password + "\n");
  REQUIRE_OK(r);
  const auto doc = json_of(r);
  CHECK(doc["status"] == "logged_in");
  CHECK(doc["email"] == d.email);
  CHECK(doc["role"] == "doctor");
  CHECK(doc["expires_at"].is_string());
}

TEST_CASE("wrong password and unknown email get the same message") {
  Cli cli;
  cli.init_with_admin();
  const Account p = cli.add_user("patient");
  const auto wrong = cli.run(login_args(p.email), "not-the-password-1\n");
  CHECK_ERROR(wrong, 3, "wrong email or password");
  const auto unknown = cli.run(login_args("nobody@clinic.example"), "not-the-password-1\n");
  CHECK_ERROR(unknown, 3, "wrong email or password");
  CHECK(wrong.err == unknown.err);
  CHECK_FALSE(fs::exists(cli.session_file()));
  CHECK(failed_logins(cli, p.email) == 1);
  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'login' AND "
                    "outcome = 'failure' AND actor = 'nobody@clinic.example'") == 1);
  CHECK(s.query_int("SELECT count(*) FROM sessions") ==
        s.query_int("SELECT count(*) FROM sessions WHERE user_id = 1"));  // only the admin's
}

TEST_CASE("five failed logins lock the account until an admin unlocks it") {
  Cli cli;
  cli.init_with_admin();
  const Account d = cli.add_user("doctor");
  for (int i = 1; i <= 4; ++i) {
    INFO("failure ", i);
    CHECK_ERROR(cli.run(login_args(d.email), "wrong-password-000\n"), 3, "wrong email or password");
  }
  const auto fifth = cli.run(login_args(d.email), "wrong-password-000\n");
  CHECK_ERROR(fifth, 3, "wrong email or password", "locked until");

  // Even the right password is refused while the account is locked.
  const auto right = cli.run(login_args(d.email), d.password + "\n");
  CHECK_ERROR(right, 3, "locked", "until", "admin can unlock");
  CHECK_FALSE(fs::exists(cli.session_file()));

  Session admin = cli.as("admin");
  admin.login_admin();
  const auto show = admin.run({"user", "show", d.email});
  REQUIRE_OK(show);
  CHECK(contains(show.out, "locked until"));
  const auto unlock = admin.run({"user", "unlock", d.email});
  REQUIRE_OK(unlock);
  CHECK(contains(unlock.out, "Unlocked " + d.email));
  const auto after = admin.run({"user", "show", d.email});
  CHECK(contains(after.out, "status:     active"));

  cli.login(d.email, d.password);
  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'account.lock' AND "
                    "object = 'user:" +
                    d.email + "'") == 1);
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'user.unlock'") == 1);
}

TEST_CASE("admin login takes the password and then the emailed code") {
  Cli cli;
  cli.init_with_admin();
  const auto first = cli.run({"--json", "login", "--email", kAdminEmail, "--password-stdin"},
                             std::string(kAdminPassword) + "\n");
  REQUIRE_OK(first);
  const auto doc = json_of(first);
  CHECK(doc["status"] == "awaiting_otp");
  CHECK(doc["role"] == "admin");
  const std::string masked = doc["code_sent_to"];
  CHECK(contains(masked, "***"));
  CHECK(contains(masked, "@clinic.example"));
  CHECK_FALSE(contains(masked, "admin@"));

  // Half logged in is not logged in.
  CHECK_ERROR(cli.run({"whoami"}), 3, "not complete", "--otp");

  const auto messages = cli.outbox_messages();
  REQUIRE(messages.size() == 1);
  CHECK(mode_of(cli.outbox()) == 0700);
  CHECK(mode_of(messages.back()) == 0600);
  const std::string mail = read_bytes(messages.back());
  CHECK(contains(mail, "To: admin@clinic.example\r\n"));
  CHECK(contains(mail, "Subject: Your CSSS sign-in code\r\n"));
  const std::string code = cli.newest_otp_code();
  REQUIRE(code.size() == 6);
  CHECK_FALSE(contains(mail, kAdminPassword));

  const auto second = cli.run({"login", "--email", kAdminEmail, "--otp", code});
  REQUIRE_OK(second);
  CHECK(contains(second.out, "Logged in as admin@clinic.example (admin)"));
  const auto who = cli.run({"whoami"});
  REQUIRE_OK(who);
  CHECK(contains(who.out, "role: admin"));
  // The code is kept only as a salted hash.
  CHECK_FALSE(contains(read_bytes(cli.db_path()), "sign-in code is " + code));
  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM otp_challenges WHERE code_hash = '" + code + "'") == 0);
}

TEST_CASE("a wrong one-time code is refused with the attempts left") {
  Cli cli;
  cli.init_with_admin();
  const std::string code = start_admin_login(cli, cli.session());
  const auto wrong = cli.run({"login", "--email", kAdminEmail, "--otp", other_code(code)});
  CHECK_ERROR(wrong, 3, "wrong code", "4 attempts left");
  CHECK_ERROR(cli.run({"whoami"}), 3, "not complete");
  const auto malformed = cli.run({"login", "--email", kAdminEmail, "--otp", "12ab56"});
  CHECK_ERROR(malformed, 5, "6 digits");
  // The right code still works after one mistake.
  const auto right = cli.run({"login", "--email", kAdminEmail, "--otp", code});
  REQUIRE_OK(right);
  CHECK_OK(cli.run({"whoami"}));
}

TEST_CASE("after five wrong codes the right code is refused") {
  Cli cli;
  cli.init_with_admin();
  const std::string code = start_admin_login(cli, cli.session());
  for (int i = 1; i <= 4; ++i) {
    INFO("wrong code ", i);
    CHECK_ERROR(cli.run({"login", "--email", kAdminEmail, "--otp", other_code(code)}), 3,
                std::to_string(5 - i) + " attempt");
  }
  CHECK_ERROR(cli.run({"login", "--email", kAdminEmail, "--otp", other_code(code)}), 3,
              "no attempts are left");
  const auto right = cli.run({"login", "--email", kAdminEmail, "--otp", code});
  CHECK_ERROR(right, 3, "too many wrong codes", "log in again");
  CHECK_ERROR(cli.run({"whoami"}), 3);
  // A new password step gives a new code that works.
  const std::string fresh = start_admin_login(cli, cli.session());
  REQUIRE_OK(cli.run({"login", "--email", kAdminEmail, "--otp", fresh}));
}

TEST_CASE("a one-time code cannot be used twice") {
  Cli cli;
  cli.init_with_admin();
  const std::string code = start_admin_login(cli, cli.session());
  REQUIRE_OK(cli.run({"login", "--email", kAdminEmail, "--otp", code}));
  const std::string token = cli.session().token();
  const auto reused = cli.run({"login", "--email", kAdminEmail, "--otp", code});
  CHECK_ERROR(reused, 3, "already been used");
  // The failed reuse does not disturb the session that the code opened.
  CHECK(cli.session().token() == token);
  CHECK_OK(cli.run({"whoami"}));
  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'otp.verify' AND "
                    "detail = 'code reused'") == 1);
}

TEST_CASE("a code entered on another terminal is refused") {
  Cli cli;
  cli.init_with_admin();
  const std::string code = start_admin_login(cli, cli.as("terminal-1"));
  const auto elsewhere = cli.as("terminal-2").run({"login", "--email", kAdminEmail, "--otp", code});
  CHECK_ERROR(elsewhere, 3, "no login on this terminal is waiting");
  CHECK_FALSE(fs::exists(cli.session_file("terminal-2")));
  REQUIRE_OK(cli.as("terminal-1").run({"login", "--email", kAdminEmail, "--otp", code}));
}

TEST_CASE("an expired one-time code is refused") {
  Cli cli;
  cli.init_with_admin();
  const std::string code = start_admin_login(cli, cli.session());
  {
    Store s(cli.db_path());
    REQUIRE(s.exec("UPDATE otp_challenges SET expires_at = strftime('%s','now') - 5") == "");
  }
  const auto r = cli.run({"login", "--email", kAdminEmail, "--otp", code});
  CHECK_ERROR(r, 3, "expired", "log in again");
  CHECK_ERROR(cli.run({"whoami"}), 3);
}

TEST_CASE("an expired session is refused") {
  Cli cli;
  cli.init_with_admin();
  const Account p = cli.add_user("patient");
  cli.login(p.email, p.password);
  {
    Store s(cli.db_path());
    REQUIRE(s.exec("UPDATE sessions SET expires_at = strftime('%s','now') - 1 WHERE user_id = "
                   "(SELECT id FROM users WHERE email = '" +
                   p.email + "')") == "");
  }
  CHECK_ERROR(cli.run({"whoami"}), 3, "expired at", "log in again");
}

TEST_CASE("an idle session is refused") {
  Cli cli;
  cli.init_with_admin();
  const Account p = cli.add_user("patient");
  cli.login(p.email, p.password);
  CHECK_OK(cli.run({"whoami"}));
  {
    Store s(cli.db_path());
    REQUIRE(s.exec("UPDATE sessions SET last_seen_at = strftime('%s','now') - 16 * 60 WHERE "
                   "user_id = (SELECT id FROM users WHERE email = '" +
                   p.email + "')") == "");
  }
  CHECK_ERROR(cli.run({"whoami"}), 3, "15 minutes without activity");
}

TEST_CASE("each command keeps the session from idling out") {
  Cli cli;
  cli.init_with_admin();
  const Account p = cli.add_user("patient");
  cli.login(p.email, p.password);
  {
    Store s(cli.db_path());
    REQUIRE(s.exec("UPDATE sessions SET last_seen_at = strftime('%s','now') - 14 * 60") == "");
  }
  CHECK_OK(cli.run({"whoami"}));
  Store s(cli.db_path());
  CHECK(s.query_int("SELECT strftime('%s','now') - max(last_seen_at) FROM sessions WHERE "
                    "revoked_at IS NULL AND user_id = (SELECT id FROM users WHERE email = '" +
                    p.email + "')") < 60);
}

TEST_CASE("logout ends the session, and a copy of the old session file is useless") {
  Cli cli;
  cli.init_with_admin();
  const Account p = cli.add_user("pharmacist");
  cli.login(p.email, p.password);
  const std::string saved = read_bytes(cli.session_file());
  const auto out = cli.run({"logout"});
  REQUIRE_OK(out);
  CHECK(contains(out.out, "Logged out."));
  CHECK_FALSE(fs::exists(cli.session_file()));
  CHECK_ERROR(cli.run({"whoami"}), 3, "not logged in");

  write_text(cli.session_file(), saved);
  fs::permissions(cli.session_file(), fs::perms(0600));
  CHECK_ERROR(cli.run({"whoami"}), 3, "session has ended");
  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'logout' AND actor = '" +
                    p.email + "'") == 1);
}

TEST_CASE("a new login in the same session file ends the previous session") {
  Cli cli;
  cli.init_with_admin();
  const Account p = cli.add_user("patient");
  cli.login(p.email, p.password);
  const std::string first = read_bytes(cli.session_file());
  cli.login(p.email, p.password);
  CHECK(read_bytes(cli.session_file()) != first);
  CHECK_OK(cli.run({"whoami"}));
  write_text(cli.session_file(), first);
  CHECK_ERROR(cli.run({"whoami"}), 3, "session has ended");
}

TEST_CASE("a session file that others may read is refused") {
  Cli cli;
  cli.init_with_admin();
  const Account p = cli.add_user("patient");
  cli.login(p.email, p.password);
  fs::permissions(cli.session_file(), fs::perms(0644));
  CHECK_ERROR(cli.run({"whoami"}), 3, "mode", "0644", cli.session_file().string());
  // A new login replaces it with a private one.
  cli.login(p.email, p.password);
  CHECK(mode_of(cli.session_file()) == 0600);
  CHECK_OK(cli.run({"whoami"}));
}

TEST_CASE("logout ends the session even when its file was readable by others") {
  Cli cli;
  cli.init_with_admin();
  const Account p = cli.add_user("patient");
  cli.login(p.email, p.password);
  const std::string saved = read_bytes(cli.session_file());
  fs::permissions(cli.session_file(), fs::perms(0644));
  // Someone may have copied the token: logging out must end its session all the more.
  REQUIRE_OK(cli.run({"logout"}));
  CHECK_FALSE(fs::exists(cli.session_file()));
  write_text(cli.session_file(), saved);
  fs::permissions(cli.session_file(), fs::perms(0600));
  CHECK_ERROR(cli.run({"whoami"}), 3, "session has ended");
}

TEST_CASE("a new login over a session file readable by others ends the old session") {
  Cli cli;
  cli.init_with_admin();
  const Account p = cli.add_user("patient");
  cli.login(p.email, p.password);
  const std::string saved = read_bytes(cli.session_file());
  fs::permissions(cli.session_file(), fs::perms(0644));
  cli.login(p.email, p.password);
  write_text(cli.as("copy").session_file(), saved);
  fs::permissions(cli.as("copy").session_file(), fs::perms(0600));
  CHECK_ERROR(cli.as("copy").run({"whoami"}), 3, "session has ended");
}

TEST_CASE("without CSSS_SESSION the session file is under XDG_STATE_HOME, else HOME") {
  Cli cli;
  cli.init_with_admin();
  const Account p = cli.add_user("patient");
  const Env xdg{{"CSSS_SESSION", ""}};
  REQUIRE_OK(cli.run({"login", "--email", p.email, "--password-stdin"}, p.password + "\n", xdg));
  const fs::path state_file = cli.xdg_state_home() / "csss" / "session";
  CHECK(fs::exists(state_file));
  CHECK(mode_of(state_file) == 0600);
  CHECK(mode_of(state_file.parent_path()) == 0700);
  CHECK_OK(cli.run({"whoami"}, "", xdg));
  CHECK_FALSE(fs::exists(cli.session_file()));

  const Env home{{"CSSS_SESSION", ""}, {"XDG_STATE_HOME", ""}};
  REQUIRE_OK(cli.run({"login", "--email", p.email, "--password-stdin"}, p.password + "\n", home));
  const fs::path home_file = cli.home() / ".local" / "state" / "csss" / "session";
  CHECK(fs::exists(home_file));
  CHECK(mode_of(home_file) == 0600);
  CHECK_OK(cli.run({"whoami"}, "", home));
  REQUIRE_OK(cli.run({"logout"}, "", home));
  CHECK_FALSE(fs::exists(home_file));
  CHECK(fs::exists(state_file));
}

TEST_CASE("a malformed session file is refused") {
  Cli cli;
  cli.init_with_admin();
  fs::create_directories(cli.session_file().parent_path());
  write_text(cli.session_file(), "not-a-token\n");
  fs::permissions(cli.session_file(), fs::perms(0600));
  CHECK_ERROR(cli.run({"whoami"}), 3, "malformed");
  write_text(cli.session_file(), std::string(64, 'b') + "\n");
  CHECK_ERROR(cli.run({"whoami"}), 3, "unknown to this store");
}

TEST_CASE("logout without a session succeeds") {
  Cli cli;
  cli.init_with_admin();
  const auto r = cli.run({"logout"});
  REQUIRE_OK(r);
  CHECK(contains(r.out, "There was no session to end."));
  const auto json = cli.run({"--json", "logout"});
  REQUIRE_OK(json);
  CHECK(json_of(json)["logged_out"] == false);
  CHECK_FALSE(fs::exists(cli.session_file()));
}

TEST_CASE("login without a terminal and without --password-stdin is a usage error") {
  Cli cli;
  cli.init_with_admin();
  const Account p = cli.add_user("patient");
  const auto r = cli.run({"login", "--email", p.email}, p.password + "\n");
  CHECK_ERROR(r, 2, "--password-stdin");
  CHECK_FALSE(fs::exists(cli.session_file()));
  CHECK(failed_logins(cli, p.email) == 0);
}

TEST_CASE("neither the session token nor the password is stored in clear") {
  Cli cli;
  cli.init_with_admin();
  const Account p = cli.add_user("patient", "", "", "clear-text-secret-4711");
  cli.login(p.email, p.password);
  CHECK(mode_of(cli.session_file()) == 0600);
  CHECK(mode_of(cli.session_file().parent_path()) == 0700);
  const std::string token = cli.session().token();
  REQUIRE(token.size() == 64);
  cli.login_admin();  // an admin session too, and its emailed code
  const std::string admin_token = cli.session().token();
  REQUIRE(admin_token.size() == 64);

  for (const fs::path& file : {cli.db_path(), fs::path(cli.db_path().string() + "-wal")}) {
    INFO("file: ", file.string());
    const std::string bytes = read_bytes(file);
    CHECK_FALSE(contains(bytes, token));
    CHECK_FALSE(contains(bytes, admin_token));
    CHECK_FALSE(contains(bytes, p.password));
    CHECK_FALSE(contains(bytes, kAdminPassword));
  }
  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM sessions WHERE token_hash = '" + token + "'") == 0);
  CHECK(s.query_int("SELECT count(*) FROM users WHERE password_hash NOT LIKE '$argon2id$%'") == 0);
}
