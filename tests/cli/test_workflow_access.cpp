// Every role against every workflow command: allowed and refused as the README's role matrix
// says, and a patient never reaches another patient's scan, whatever ID is passed. Also: approval
// needs a session that passed the emailed code.
#include <doctest/doctest.h>

#include "cli_fixture.hpp"
#include "scan_support.hpp"

using namespace csss::test;

namespace {

struct Case {
  const char* name;
  std::vector<std::string> args;  // "{id}" is replaced by the scan's ID
  bool patient, doctor, pharmacist, admin;
};

}  // namespace

TEST_CASE("workflow access: every role against every workflow command follows the role matrix") {
  Cli cli;
  isolate_models(cli);
  cli.init_with_admin();
  std::map<std::string, Account> account = {{"doctor", cli.add_user("doctor")},
                                            {"pharmacist", cli.add_user("pharmacist")},
                                            {"patient", cli.add_user("patient")}};
  std::map<std::string, Session> session;
  for (const char* role : {"patient", "doctor", "pharmacist", "admin"})
    session.emplace(role, cli.as(role));
  session.at("admin").login_admin();
  for (const char* role : {"patient", "doctor", "pharmacist"})
    session.at(role).login(account.at(role).email, account.at(role).password);
  const std::string id = upload(session.at("patient"), write_png(cli.root() / "a.png"));
  const std::map<std::string, std::string> password = {
      {"patient", account.at("patient").password},
      {"doctor", account.at("doctor").password},
      {"pharmacist", account.at("pharmacist").password},
      {"admin", kAdminPassword}};

  // The matrix rows: add_clinical_notes (verify, reject), add_prescription, approve_report
  // (approve, return), view_own_scans/view_any_scan (show, check).
  const Case cases[] = {
      {"verify",
       {"verify", "{id}", "--agree", "--notes", "n", "--password-stdin"},
       false,
       true,
       false,
       false},
      {"reject", {"reject", "{id}", "--reason", "r"}, false, true, false, false},
      {"prescribe",
       {"prescribe", "{id}", "--text", "t", "--password-stdin"},
       false,
       false,
       true,
       false},
      {"approve", {"approve", "{id}", "--password-stdin"}, false, false, false, true},
      {"return", {"return", "{id}", "--to", "doctor", "--reason", "r"}, false, false, false, true},
      {"scans show", {"scans", "show", "{id}"}, true, true, true, true},
      {"scans check", {"scans", "check", "{id}"}, true, true, true, true},
  };
  for (const Case& c : cases) {
    for (const auto& [role, allowed] :
         std::vector<std::pair<std::string, bool>>{{"patient", c.patient},
                                                   {"doctor", c.doctor},
                                                   {"pharmacist", c.pharmacist},
                                                   {"admin", c.admin}}) {
      CAPTURE(c.name);
      CAPTURE(role);
      std::vector<std::string> args;
      for (const std::string& a : c.args)
        args.push_back(a == "{id}" ? id : a);
      const auto r = session.at(role).run(args, password.at(role) + "\n");
      if (allowed) {
        // Allowed by the policy: whatever else happens (the scan is not in the step's state),
        // it is not a permission refusal.
        CHECK(r.exit_code != 4);
      } else {
        CHECK_ERROR(r, 4, "permission denied");
      }
    }
  }
  // Only the doctor's rejection applied to a scan without an AI result; every other allowed step
  // met the wrong state.
  Store s(cli.db_path());
  CHECK(s.query_text("SELECT status FROM scans WHERE id = '" + id + "'") == "rejected");
  CHECK(s.query_int("SELECT count(*) FROM signatures") == 0);
}

TEST_CASE("workflow access: a patient never reaches another patient's scan, whatever ID") {
  Cli cli;
  isolate_models(cli);
  cli.init_with_admin();
  const Account alice = cli.add_user("patient");
  const Account bob = cli.add_user("patient");
  Session a = cli.as("alice");
  Session b = cli.as("bob");
  a.login(alice.email, alice.password);
  b.login(bob.email, bob.password);
  const std::string id = upload(a, write_png(cli.root() / "a.png"));
  for (const std::string& probe :
       {id, id.substr(0, 8), std::string("%"), std::string("' OR '1'='1")}) {
    CAPTURE(probe);
    CHECK_ERROR(b.run({"scans", "show", probe}), 6, "no scan with ID");
    CHECK_ERROR(b.run({"scans", "check", probe}), 6, "no scan with ID");
  }
  CHECK(json_of(b.run({"scans", "--status", "all", "--search", id, "--json"})).empty());
  CHECK(json_of(b.run({"scans", "--patient", alice.email, "--json"})).empty());
  // The attempts are in the audit log.
  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM audit_log WHERE action = 'access.denied' AND object = "
                    "'scan:" +
                    id + "'") >= 2);
}

TEST_CASE("workflow access: approval needs a session that passed the emailed code") {
  Cli cli;
  cli.init_with_admin();
  Session half = cli.as("half");
  const auto step1 = half.run({"login", "--email", kAdminEmail, "--password-stdin"},
                              std::string(kAdminPassword) + "\n");
  REQUIRE(step1.exit_code == 0);
  CHECK_ERROR(half.run({"approve", "00000000-0000-0000-0000-000000000000", "--password-stdin"},
                       std::string(kAdminPassword) + "\n"),
              3, "--otp");
}
