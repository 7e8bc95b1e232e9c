// csss token (create, list, revoke), importer accounts, and signing in with CSSS_TOKEN_FILE.
#include <doctest/doctest.h>

#include <regex>

#include "cli_fixture.hpp"
#include "crypto/hash.hpp"

using namespace csss::test;

namespace {

constexpr const char* kImporter = "pacs-import@clinic.example";

std::int64_t count(Store& s, const std::string& sql) {
  return s.query_int(sql);
}

// Occurrences of `needle` in `text`.
std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1))
    ++n;
  return n;
}

// A store with the admin (logged in on the terminal "admin") and an importer account.
struct Clinic {
  Cli cli;
  Session admin = cli.as("admin");
  Clinic() {
    cli.init_with_admin();
    cli.add_user("importer", kImporter, "PACS import");
    admin.login_admin();
  }
};

}  // namespace

TEST_CASE("user add --role importer: no password, no prompt") {
  Clinic c;
  Store s(c.cli.db_path());
  CHECK(s.query_text(std::string("SELECT role FROM users WHERE email = '") + kImporter + "'") ==
        "importer");
  CHECK(
      s.query_text(std::string("SELECT password_hash FROM users WHERE email = '") + kImporter + "'")
          .starts_with("$argon2id$"));
  const auto r = c.admin.run(
      {"user", "add", "--email", "imp2@clinic.example", "--name", "Imp 2", "--role", "importer"});
  REQUIRE_OK(r);
  CHECK(contains(r.out, "Added importer account imp2@clinic.example"));
  CHECK(contains(r.out, "csss token create --user imp2@clinic.example"));
  CHECK_ERROR(c.admin.run({"user", "add", "--email", "imp3@clinic.example", "--name", "Imp 3",
                           "--role", "importer", "--password-stdin"},
                          "some-password-123\n"),
              2, "importer accounts have no password");
  CHECK_ERROR(c.admin.run({"user", "passwd", "--email", kImporter, "--password-stdin"},
                          "some-password-123\n"),
              5, "importer account");
  CHECK(count(s, "SELECT count(*) FROM users WHERE role = 'importer'") == 2);
}

TEST_CASE("login refuses importer accounts, audited") {
  Clinic c;
  const auto r =
      c.cli.run({"login", "--email", kImporter, "--password-stdin"}, "anything-at-all\n");
  CHECK_ERROR(r, 3, "importer accounts sign in with a token (CSSS_TOKEN_FILE)");
  CHECK_FALSE(fs::exists(c.cli.session_file()));
  Store s(c.cli.db_path());
  CHECK(
      count(s, std::string("SELECT count(*) FROM audit_log WHERE action = 'login' AND actor = '") +
                   kImporter + "' AND outcome = 'failure' AND detail = 'importer account'") == 1);
}

TEST_CASE("token create shows the token once, and the store keeps only its SHA-256") {
  Clinic c;
  const auto r = c.admin.run(
      {"token", "create", "--user", kImporter, "--days", "30", "--name", "nightly PACS"});
  REQUIRE_OK(r);
  std::smatch m;
  REQUIRE(std::regex_search(r.out, m, std::regex("csss_[0-9a-f]{48}")));
  const std::string token = m.str();
  CHECK(occurrences(r.out, token) == 1);
  CHECK(contains(r.out, "Created API token 1 for " + std::string(kImporter) + " ('nightly PACS')"));
  CHECK(contains(r.out, "only time it is shown"));
  CHECK(contains(r.out, "CSSS_TOKEN_FILE"));

  // Nowhere else: not in the database file, the list, or the audit log. (Read before the test
  // opens the store itself: closing another descriptor of the file would drop SQLite's locks.)
  CHECK_FALSE(contains(read_bytes(c.cli.db_path()), token.substr(5)));
  CHECK_FALSE(contains(read_bytes(fs::path(c.cli.db_path().string() + "-wal")), token.substr(5)));
  CHECK_FALSE(contains(c.admin.run({"--json", "token", "list"}).out, token.substr(5)));
  CHECK_FALSE(contains(c.admin.run({"--json", "audit", "list"}).out, token.substr(5)));

  Store s(c.cli.db_path());
  CHECK(s.query_text("SELECT token_hash FROM api_tokens WHERE id = 1") ==
        csss::crypto::sha256_hex(token));
  CHECK(s.query_text("SELECT name FROM api_tokens WHERE id = 1") == "nightly PACS");
  CHECK(s.query_int("SELECT expires_at - created_at FROM api_tokens WHERE id = 1") == 30 * 86400);
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'token.create' AND object = "
                    "'token:1' AND actor = '" +
                    std::string(kAdminEmail) + "'") == 1);

  SUBCASE("--json: the token with its ID and expiry; 365 days by default") {
    const auto j = c.admin.run({"--json", "token", "create", "--user", kImporter});
    REQUIRE_OK(j);
    const auto doc = json_of(j);
    CHECK(doc["id"] == 2);
    CHECK(doc["user"] == kImporter);
    CHECK(doc["state"] == "active");
    CHECK(doc["last_used_at"].is_null());
    CHECK(doc["token"].get<std::string>().size() == 53);
    CHECK(doc["token"] != token);
    CHECK(s.query_int("SELECT expires_at - created_at FROM api_tokens WHERE id = 2") ==
          365 * 86400);
  }
  SUBCASE("--quiet: the token alone") {
    const auto q = c.admin.run({"-q", "token", "create", "--user", kImporter, "--days", "3650"});
    REQUIRE_OK(q);
    CHECK(std::regex_match(q.out, std::regex("csss_[0-9a-f]{48}\n")));
  }
}

TEST_CASE("token create: admins only, importer accounts only, 1 to 3650 days") {
  Clinic c;
  const Account doctor = c.cli.add_user("doctor");
  Session d = c.cli.as("doctor");
  d.login(doctor.email, doctor.password);
  CHECK_ERROR(d.run({"token", "create", "--user", kImporter}), 4, "permission denied",
              "a doctor may not create, list and revoke API tokens", "allowed: admin");
  CHECK_ERROR(d.run({"token", "list"}), 4, "permission denied");
  CHECK_ERROR(d.run({"token", "revoke", "1"}), 4, "permission denied");
  CHECK_ERROR(c.admin.run({"token", "create", "--user", doctor.email}), 5, "is a doctor account",
              "importer accounts only");
  CHECK_ERROR(c.admin.run({"token", "create", "--user", kAdminEmail}), 5, "is an admin account");
  CHECK_ERROR(c.admin.run({"token", "create", "--user", "nobody@clinic.example"}), 6, "no account");
  CHECK_ERROR(c.admin.run({"token", "create", "--user", kImporter, "--days", "0"}), 5,
              "1 to 3650 days");
  CHECK_ERROR(c.admin.run({"token", "create", "--user", kImporter, "--days", "3651"}), 5,
              "1 to 3650 days");
  CHECK_ERROR(c.admin.run({"token", "create", "--user", kImporter, "--days", "many"}), 2);
  CHECK_ERROR(c.cli.run({"token", "create", "--user", kImporter}), 3, "not logged in");
  Store s(c.cli.db_path());
  CHECK(count(s, "SELECT count(*) FROM api_tokens") == 0);
}

TEST_CASE("CSSS_TOKEN_FILE signs the importer in, and whoami shows the token") {
  Clinic c;
  const std::string token = c.cli.create_token(kImporter, {"--name", "cron"});
  const Env env = c.cli.token_env(token);

  const auto r = c.cli.run({"whoami"}, "", env);
  REQUIRE_OK(r);
  CHECK(contains(r.out, "PACS import <" + std::string(kImporter) + ">"));
  CHECK(contains(r.out, "role: importer"));
  CHECK(contains(r.out, "API token: 1"));
  const auto j = c.cli.run({"--json", "whoami"}, "", env);
  REQUIRE_OK(j);
  const auto doc = json_of(j);
  CHECK(doc["role"] == "importer");
  CHECK(doc["authenticated_by"] == "token");
  CHECK(doc["token_id"] == 1);

  Store s(c.cli.db_path());
  CHECK_FALSE(
      s.query_text("SELECT coalesce(last_used_at, '') FROM api_tokens WHERE id = 1").empty());
  CHECK(count(s,
              "SELECT count(*) FROM audit_log WHERE action = 'token.use' AND outcome = "
              "'success' AND object = 'token:1'") == 2);
  CHECK(count(s,
              "SELECT count(*) FROM sessions WHERE user_id = (SELECT id FROM users WHERE "
              "role = 'importer')") == 0);

  SUBCASE("the token wins over a session file") {
    const Account doctor = c.cli.add_user("doctor");
    Session d = c.cli.as("doctor");
    d.login(doctor.email, doctor.password);
    const auto w = d.run({"whoami"}, "", env);
    REQUIRE_OK(w);
    CHECK(contains(w.out, "role: importer"));
    const auto plain = d.run({"whoami"});
    REQUIRE_OK(plain);
    CHECK(contains(plain.out, "role: doctor"));
  }
  SUBCASE("an empty CSSS_TOKEN_FILE means none: the session file is used") {
    CHECK_ERROR(c.cli.run({"whoami"}, "", {{"CSSS_TOKEN_FILE", ""}}), 3, "not logged in");
  }
  const auto list = c.admin.run({"--json", "token", "list"});
  REQUIRE_OK(list);
  CHECK_FALSE(json_of(list)[0]["last_used_at"].is_null());
}

TEST_CASE("CSSS_TOKEN_FILE refusals: one line, exit 3, audited") {
  Clinic c;
  const std::string token = c.cli.create_token(kImporter);
  Store s(c.cli.db_path());
  const auto failures = [&] {
    return count(s,
                 "SELECT count(*) FROM audit_log WHERE action = 'token.use' AND outcome = "
                 "'failure'");
  };

  SUBCASE("a file others may read (0644)") {
    const Env env = c.cli.token_env(token, 0644);
    CHECK_ERROR(c.cli.run({"whoami"}, "", env), 3, "token file", "may be read by other users",
                "0644");
    CHECK(failures() == 1);
    CHECK(s.query_text("SELECT coalesce(last_used_at, 'never') FROM api_tokens") == "never");
  }
  SUBCASE("a missing file") {
    const Env env{{"CSSS_TOKEN_FILE", (c.cli.root() / "no-such.token").string()}};
    CHECK_ERROR(c.cli.run({"whoami"}, "", env), 3, "no-such.token", "does not exist");
    CHECK(failures() == 1);
  }
  SUBCASE("a wrong token") {
    std::string wrong = token;
    wrong.back() = wrong.back() == 'a' ? 'b' : 'a';
    CHECK_ERROR(c.cli.run({"whoami"}, "", c.cli.token_env(wrong)), 3, "unknown API token");
    CHECK_ERROR(c.cli.run({"whoami"}, "", c.cli.token_env("not a token")), 3,
                "not a CSSS API token");
    CHECK(failures() == 2);
  }
  SUBCASE("a disabled account, and again after enabling it") {
    REQUIRE_OK(c.admin.run({"user", "disable", kImporter}));
    CHECK_ERROR(c.cli.run({"whoami"}, "", c.cli.token_env(token)), 3, "account is disabled");
    CHECK(count(s,
                "SELECT count(*) FROM audit_log WHERE action = 'token.use' AND detail = "
                "'account disabled'") == 1);
    REQUIRE_OK(c.admin.run({"user", "enable", kImporter}));
    CHECK_OK(c.cli.run({"whoami"}, "", c.cli.token_env(token)));
  }
  SUBCASE("an expired token") {
    REQUIRE(s.exec("UPDATE api_tokens SET expires_at = strftime('%s', 'now') - 60") == "");
    CHECK_ERROR(c.cli.run({"whoami"}, "", c.cli.token_env(token)), 3, "API token 1 expired at");
    CHECK(count(s,
                "SELECT count(*) FROM audit_log WHERE action = 'token.use' AND detail = "
                "'expired token'") == 1);
    const auto list = c.admin.run({"token", "list"});
    REQUIRE_OK(list);
    CHECK(contains(list.out, "expired"));
  }
  SUBCASE("a revoked token: at once") {
    CHECK_OK(c.cli.run({"whoami"}, "", c.cli.token_env(token)));
    const auto r = c.admin.run({"token", "revoke", "1"});
    REQUIRE_OK(r);
    CHECK(contains(r.out, "Revoked API token 1 of " + std::string(kImporter)));
    CHECK_ERROR(c.cli.run({"whoami"}, "", c.cli.token_env(token)), 3, "API token 1 was revoked");
    CHECK(count(s,
                "SELECT count(*) FROM audit_log WHERE action = 'token.revoke' AND object = "
                "'token:1'") == 1);
    CHECK_ERROR(c.admin.run({"token", "revoke", "1"}), 7, "revoked already");
    CHECK_ERROR(c.admin.run({"token", "revoke", "42"}), 6, "no API token with ID 42");
  }
  CHECK(c.admin.run({"audit", "verify"}).exit_code == 0);
}

TEST_CASE("an importer may import and analyse, and nothing else") {
  Clinic c;
  const Account patient = c.cli.add_user("patient");
  const Env env = c.cli.token_env(c.cli.create_token(kImporter));
  const auto run = [&](const std::vector<std::string>& args) { return c.cli.run(args, "", env); };
  CHECK_ERROR(run({"scans"}), 4, "permission denied", "an importer may not");
  CHECK_ERROR(run({"user", "list"}), 4, "an importer may not list accounts");
  CHECK_ERROR(run({"token", "list"}), 4, "permission denied");
  CHECK_ERROR(run({"token", "create", "--user", kImporter}), 4, "permission denied");
  CHECK_ERROR(run({"audit", "verify"}), 4, "permission denied");
  CHECK_ERROR(
      c.cli.run({"user", "passwd", "--password-stdin"}, "old-password-1\nnew-password-1\n", env), 4,
      "importer accounts have no password");
  CHECK_ERROR(run({"upload", "--patient", patient.email, (c.cli.root() / "x.png").string()}), 4,
              "permission denied");
  Store s(c.cli.db_path());
  CHECK(count(s, std::string("SELECT count(*) FROM audit_log WHERE action = 'access.denied' AND "
                             "actor = '") +
                     kImporter + "'") >= 6);
}

TEST_CASE("token list: ID, user, name, dates and state, never the token") {
  Clinic c;
  c.cli.add_user("importer", "imp2@clinic.example");
  const std::string a = c.cli.create_token(kImporter, {"--name", "nightly"});
  const std::string b = c.cli.create_token("imp2@clinic.example", {"--days", "7"});
  REQUIRE_OK(c.admin.run({"token", "revoke", "2"}));

  const auto r = c.admin.run({"token", "list"});
  REQUIRE_OK(r);
  CHECK(contains(r.out, "ID"));
  CHECK(contains(r.out, "LAST USED"));
  CHECK(contains(r.out, "nightly"));
  CHECK(contains(r.out, "never"));
  CHECK(contains(r.out, "active"));
  CHECK(contains(r.out, "revoked"));
  CHECK_FALSE(contains(r.out, a.substr(5)));
  CHECK_FALSE(contains(r.out, b.substr(5)));

  const auto j = c.admin.run({"--json", "token", "list", "--user", "imp2@clinic.example"});
  REQUIRE_OK(j);
  const auto doc = json_of(j);
  REQUIRE(doc.size() == 1);
  CHECK(doc[0]["id"] == 2);
  CHECK(doc[0]["user"] == "imp2@clinic.example");
  CHECK(doc[0]["state"] == "revoked");
  CHECK(doc[0]["created_by"] == kAdminEmail);
  CHECK_FALSE(doc[0]["revoked_at"].is_null());
  CHECK_FALSE(doc[0].contains("token"));
  CHECK_ERROR(c.admin.run({"token", "list", "--user", "nobody@clinic.example"}), 6, "no account");
}

TEST_CASE("token --help has examples") {
  Cli cli;
  for (const std::vector<std::string>& args : {std::vector<std::string>{"token", "--help"},
                                               {"token", "create", "--help"},
                                               {"token", "list", "--help"},
                                               {"token", "revoke", "--help"}}) {
    const auto r = cli.run(args);
    INFO(args[1]);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "Example"));
  }
}
