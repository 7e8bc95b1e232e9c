// csss audit: listing with filters, and verification of the hash chain against tampering.
#include <doctest/doctest.h>

#include <regex>
#include <set>

#include "audit/audit_log.hpp"
#include "cli_fixture.hpp"

using namespace csss::test;

namespace {

// A store with some history: the admin logged in (default session), a doctor added, a failed and
// a successful doctor login.
struct AuditFixture {
  Cli cli;
  Account doctor;
  AuditFixture() {
    cli.init_with_admin();
    doctor = cli.add_user("doctor", "doc@clinic.example");
    CHECK_ERROR(cli.as("doctor").run({"login", "--email", doctor.email, "--password-stdin"},
                                     "wrong-password-123\n"),
                3);
    cli.as("doctor").login(doctor.email, doctor.password);
    cli.login_admin();
  }
  std::int64_t rows() const {
    Store s(cli.db_path());
    return s.query_int("SELECT count(*) FROM audit_log");
  }
  nlohmann::json list(std::vector<std::string> args) {
    args.insert(args.begin(), {"--json", "audit", "list"});
    const auto r = cli.run(args);
    REQUIRE_OK(r);
    auto doc = json_of(r);
    REQUIRE(doc.is_array());
    return doc;
  }
};

}  // namespace

TEST_CASE("audit verify reports an intact log") {
  AuditFixture f;
  const auto r = f.cli.run({"audit", "verify"});
  REQUIRE_OK(r);
  CHECK(contains(r.out, "intact"));
  CHECK(contains(r.out, std::to_string(f.rows()) + " rows"));
  const auto json = f.cli.run({"--json", "audit", "verify"});
  REQUIRE_OK(json);
  const auto doc = json_of(json);
  CHECK(doc["intact"] == true);
  CHECK(doc["rows"] == f.rows());
  CHECK(std::regex_match(doc["head_hash"].get<std::string>(), std::regex("[0-9a-f]{64}")));
  // Verifying writes nothing to the log.
  CHECK(doc["rows"] == f.rows());
}

TEST_CASE("audit list --json gives every field, oldest first") {
  AuditFixture f;
  const auto doc = f.list({});
  REQUIRE(doc.size() == static_cast<std::size_t>(f.rows()));
  std::int64_t prev_seq = 0;
  for (const auto& rec : doc) {
    for (const char* key :
         {"seq", "at", "actor", "action", "object", "outcome", "detail", "hash"}) {
      INFO("key ", key);
      CHECK(rec.contains(key));
    }
    CHECK(rec["seq"].get<std::int64_t>() == prev_seq + 1);
    prev_seq = rec["seq"].get<std::int64_t>();
    CHECK(std::regex_match(rec["at"].get<std::string>(),
                           std::regex("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z")));
    CHECK(std::regex_match(rec["hash"].get<std::string>(), std::regex("[0-9a-f]{64}")));
    const std::set<std::string> outcomes{"success", "failure", "denied"};
    CHECK(outcomes.count(rec["outcome"].get<std::string>()) == 1);
  }
  CHECK(doc[0]["action"] == "store.init");
  CHECK(doc[0]["actor"] == "system");

  const auto text = f.cli.run({"audit", "list"});
  REQUIRE_OK(text);
  CHECK(text.out.starts_with("SEQ"));
  CHECK(contains(text.out, "TIME (UTC)"));
  CHECK(contains(text.out, "store.init"));
  CHECK(count_lines(text.out) == static_cast<std::size_t>(f.rows()) + 1);
}

TEST_CASE("audit list filters by actor, action, time and count") {
  AuditFixture f;
  const auto all = f.list({});

  const auto by_actor = f.list({"--actor", "DOC@clinic.example"});
  REQUIRE_FALSE(by_actor.empty());
  for (const auto& r : by_actor)
    CHECK(r["actor"] == "doc@clinic.example");
  std::size_t expected_actor = 0;
  for (const auto& r : all)
    expected_actor += r["actor"] == "doc@clinic.example" ? 1 : 0;
  CHECK(by_actor.size() == expected_actor);

  const auto logins = f.list({"--action", "login*"});
  std::size_t expected_logins = 0;
  for (const auto& r : all) {
    expected_logins += r["action"].get<std::string>().starts_with("login") ? 1 : 0;
  }
  CHECK(logins.size() == expected_logins);
  CHECK(logins.size() >= 4);  // admin (twice), doctor failure and success
  for (const auto& r : logins)
    CHECK(r["action"].get<std::string>().starts_with("login"));

  const auto exact = f.list({"--action", "otp.sent"});
  REQUIRE(exact.size() == 2);
  for (const auto& r : exact)
    CHECK(r["action"] == "otp.sent");
  CHECK(f.list({"--action", "otp"}).empty());
  CHECK(f.list({"--action", "otp.*"}).size() == 4);  // otp.sent and otp.used, twice

  const auto both = f.list({"--actor", "doc@clinic.example", "--action", "login"});
  REQUIRE(both.size() == 2);
  CHECK(both[0]["outcome"] == "failure");
  CHECK(both[1]["outcome"] == "success");

  const auto limited = f.list({"--limit", "2"});
  REQUIRE(limited.size() == 2);
  CHECK(limited[0]["seq"] == all[all.size() - 2]["seq"]);
  CHECK(limited[1]["seq"] == all.back()["seq"]);

  CHECK(f.list({"--since", "2000-01-01"}).size() == all.size());
  CHECK(f.list({"--since", "2999-01-01T00:00"}).empty());
  CHECK(f.list({"--until", "2000-01-01"}).empty());
  CHECK(f.list({"--until", "2999-12-31T23:59:59Z"}).size() == all.size());

  const auto none = f.cli.run({"audit", "list", "--actor", "nobody@clinic.example"});
  REQUIRE_OK(none);
  CHECK(none.out == "No audit records match.\n");
}

TEST_CASE("audit list --since and --until select a time window") {
  AuditFixture f;
  const auto total = static_cast<std::size_t>(f.rows());
  {
    // Move the first two records into 2020 (behind the tool's back; the chain breaks, but listing
    // does not verify it).
    Store s(f.cli.db_path());
    REQUIRE(s.exec("DROP TRIGGER audit_log_no_update") == "");
    REQUIRE(s.exec("UPDATE audit_log SET at_ms = 1577880000000 + seq WHERE seq <= 2") == "");
  }
  const auto old = f.list({"--until", "2021-01-01"});
  REQUIRE(old.size() == 2);
  CHECK(old[0]["seq"] == 1);
  CHECK(old[0]["at"] == "2020-01-01T12:00:00.001Z");
  CHECK(f.list({"--since", "2021-01-01"}).size() == total - 2);
  CHECK(f.list({"--since", "2020-01-01T12:00", "--until", "2020-01-01T12:01"}).size() == 2);
  CHECK(f.list({"--since", "2020-01-01T12:00:01", "--until", "2021-01-01"}).empty());
  CHECK(f.list({"--since", "2020-01-01 11:00", "--until", "2021-01-01", "--limit",
                "1"})[0]["seq"] == 2);
}

TEST_CASE("audit list and verify are for admins only") {
  AuditFixture f;
  const auto before = f.rows();
  Session doctor = f.cli.as("doctor");
  CHECK_ERROR(doctor.run({"audit", "verify"}), 4, "permission denied", "doctor");
  CHECK_ERROR(doctor.run({"audit", "list"}), 4, "permission denied");
  Store s(f.cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM audit_log") == before + 2);
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'access.denied' AND "
                    "object = 'audit' AND detail = 'read_audit'") == 2);
  CHECK_ERROR(f.cli.as("nobody").run({"audit", "verify"}), 3, "not logged in");
}

TEST_CASE("audit list rejects malformed times") {
  AuditFixture f;
  CHECK_ERROR(f.cli.run({"audit", "list", "--since", "yesterday"}), 5, "--since", "yesterday");
  CHECK_ERROR(f.cli.run({"audit", "list", "--since", "2026-13-01"}), 5, "--since");
  CHECK_ERROR(f.cli.run({"audit", "list", "--until", "2026-11-21 25:00"}), 5, "--until");
  CHECK_ERROR(f.cli.run({"audit", "list", "--limit", "many"}), 2, "--limit");
}

TEST_CASE("audit verify finds a row changed behind the tool's back") {
  AuditFixture f;
  REQUIRE_OK(f.cli.run({"audit", "verify"}));
  const auto rows = f.rows();
  REQUIRE(rows >= 6);
  const std::int64_t target = 3;
  {
    Store s(f.cli.db_path());
    REQUIRE(s.exec("DROP TRIGGER audit_log_no_update") == "");
    REQUIRE(s.exec("UPDATE audit_log SET detail = 'nothing to see here' WHERE seq = " +
                   std::to_string(target)) == "");
  }
  const auto r = f.cli.run({"audit", "verify"});
  CHECK_ERROR(r, 9, "row " + std::to_string(target), "changed");
  const auto json = f.cli.run({"--json", "audit", "verify"});
  CHECK(json.exit_code == 9);
  CHECK(json_of(json)["error"]["kind"] == "integrity");
}

TEST_CASE("audit verify finds a changed row even when its own hash was recomputed") {
  AuditFixture f;
  const std::int64_t target = 2;
  {
    Store s(f.cli.db_path());
    REQUIRE(s.exec("DROP TRIGGER audit_log_no_update") == "");
    csss::audit::Record r;
    const std::string where = " FROM audit_log WHERE seq = " + std::to_string(target);
    r.seq = target;
    r.at_ms = s.query_int("SELECT at_ms" + where);
    r.actor = s.query_text("SELECT actor" + where);
    r.action = s.query_text("SELECT action" + where);
    r.object = s.query_text("SELECT object" + where);
    r.outcome = csss::audit::Outcome::success;
    r.detail = "forged";
    r.prev_hash = s.query_text("SELECT prev_hash" + where);
    REQUIRE(s.query_text("SELECT outcome" + where) == "success");
    const std::string forged = csss::audit::record_hash(r);
    REQUIRE(s.exec("UPDATE audit_log SET detail = 'forged', hash = '" + forged + "'" +
                   " WHERE seq = " + std::to_string(target)) == "");
  }
  CHECK_ERROR(f.cli.run({"audit", "verify"}), 9, "row " + std::to_string(target + 1));
}

TEST_CASE("audit verify finds a row removed from the end") {
  AuditFixture f;
  const auto rows = f.rows();
  {
    Store s(f.cli.db_path());
    REQUIRE(s.exec("DROP TRIGGER audit_log_no_delete") == "");
    REQUIRE(s.exec("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)") == "");
  }
  CHECK_ERROR(f.cli.run({"audit", "verify"}), 9, "row " + std::to_string(rows), "removed");
}

TEST_CASE("audit verify finds a row removed from the middle") {
  AuditFixture f;
  {
    Store s(f.cli.db_path());
    REQUIRE(s.exec("DROP TRIGGER audit_log_no_delete") == "");
    REQUIRE(s.exec("DELETE FROM audit_log WHERE seq = 4") == "");
  }
  CHECK_ERROR(f.cli.run({"audit", "verify"}), 9, "row 4", "missing");
}

TEST_CASE("audit verify finds two rows swapped") {
  AuditFixture f;
  {
    Store s(f.cli.db_path());
    REQUIRE(s.exec("DROP TRIGGER audit_log_no_update") == "");
    REQUIRE(s.exec("UPDATE audit_log SET seq = -1 WHERE seq = 5") == "");
    REQUIRE(s.exec("UPDATE audit_log SET seq = 5 WHERE seq = 6") == "");
    REQUIRE(s.exec("UPDATE audit_log SET seq = 6 WHERE seq = -1") == "");
  }
  CHECK_ERROR(f.cli.run({"audit", "verify"}), 9, "row 5");
}

TEST_CASE("the store's triggers refuse to change or delete audit rows") {
  AuditFixture f;
  const auto rows = f.rows();
  {
    Store s(f.cli.db_path());
    CHECK(contains(s.exec("UPDATE audit_log SET detail = 'x' WHERE seq = 1"), "append-only"));
    CHECK(contains(s.exec("DELETE FROM audit_log WHERE seq = 1"), "append-only"));
    CHECK(s.query_text("SELECT detail FROM audit_log WHERE seq = 1") != "x");
  }
  CHECK(f.rows() == rows);
  const auto r = f.cli.run({"audit", "verify"});
  REQUIRE_OK(r);
  CHECK(contains(r.out, "intact"));
}
