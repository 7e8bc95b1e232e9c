// csss roles: the role policy matrix.
#include <doctest/doctest.h>

#include "cli_fixture.hpp"

using namespace csss::test;

namespace {

struct Expected {
  const char* action;
  const char* description;
  bool patient, doctor, pharmacist, admin, importer;
};

// The policy of the specification: which role may do what.
const Expected kMatrix[] = {
    {"upload_scan", "upload a scan", true, false, false, false, false},
    {"upload_for_patient", "upload a scan for a patient", false, true, true, true, false},
    {"import_scans", "import scans in bulk (csss batch import)", false, true, true, true, true},
    {"view_own_scans", "see one's own scans and results", true, false, false, false, false},
    {"view_any_scan", "see any patient's scans and results", false, true, true, true, false},
    {"view_own_record", "see one's own patient record and history", true, false, false, false,
     false},
    {"view_any_patient", "list patient records, see any record and its history", false, true, true,
     true, false},
    {"manage_patients", "add and change patient records", false, true, false, true, false},
    {"run_analysis", "run the AI analysis", false, true, false, false, true},
    {"add_clinical_notes", "add clinical notes", false, true, false, false, false},
    {"note_ai_results", "add notes on an AI result", false, true, true, false, false},
    {"add_prescription", "add a prescription", false, false, true, false, false},
    {"approve_report", "approve and send a report", false, false, false, true, false},
    {"download_own_report", "download one's own report", true, false, false, false, false},
    {"download_any_report", "download any report", false, true, true, true, false},
    {"manage_users", "add and change accounts", false, false, false, true, false},
    {"manage_tokens", "create, list and revoke API tokens", false, false, false, true, false},
    {"view_users", "list accounts", false, false, false, true, false},
    {"manage_models", "import models", false, false, false, true, false},
    {"read_audit", "read and verify the audit log", false, false, false, true, false},
    {"edit_own_profile", "see and change one's own profile (csss user profile)", true, true, true,
     true, false},
    {"run_maintenance", "purge expired codes and sessions (csss maintenance)", false, false, false,
     true, false},
};

std::string mark(bool b) {
  return b ? "yes" : "-";
}

}  // namespace

TEST_CASE("roles --json gives the whole policy matrix") {
  Cli cli;
  const auto r = cli.run({"--json", "roles"});
  REQUIRE_OK(r);
  const auto doc = json_of(r);
  REQUIRE(doc.is_array());
  REQUIRE(doc.size() == std::size(kMatrix));
  for (std::size_t i = 0; i < std::size(kMatrix); ++i) {
    const Expected& e = kMatrix[i];
    INFO("action ", e.action);
    const auto& row = doc[i];
    CHECK(row["action"] == e.action);
    CHECK(row["description"] == e.description);
    CHECK(row["patient"] == e.patient);
    CHECK(row["doctor"] == e.doctor);
    CHECK(row["pharmacist"] == e.pharmacist);
    CHECK(row["admin"] == e.admin);
    CHECK(row["importer"] == e.importer);
  }
}

TEST_CASE("roles prints one row per action with a column per role") {
  Cli cli;
  const auto r = cli.run({"roles"});
  REQUIRE_OK(r);
  const auto lines = [&] {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < r.out.size()) {
      const auto end = r.out.find('\n', start);
      out.push_back(r.out.substr(start, end - start));
      start = end + 1;
    }
    return out;
  }();
  REQUIRE(lines.size() == std::size(kMatrix) + 1);
  CHECK(lines[0].starts_with("ACTION"));
  for (const char* role : {"PATIENT", "DOCTOR", "PHARMACIST", "ADMIN", "IMPORTER"}) {
    CHECK(contains(lines[0], role));
  }
  for (std::size_t i = 0; i < std::size(kMatrix); ++i) {
    const Expected& e = kMatrix[i];
    INFO("row ", lines[i + 1]);
    CHECK(lines[i + 1].starts_with(e.description));
    // The marks, in role order, after the description.
    std::string rest = lines[i + 1].substr(std::string(e.description).size());
    std::vector<std::string> marks;
    std::size_t pos = 0;
    while ((pos = rest.find_first_not_of(' ', pos)) != std::string::npos) {
      const auto end = rest.find(' ', pos);
      marks.push_back(rest.substr(pos, end - pos));
      pos = end;
    }
    CHECK(marks == std::vector<std::string>{mark(e.patient), mark(e.doctor), mark(e.pharmacist),
                                            mark(e.admin), mark(e.importer)});
  }
}

TEST_CASE("roles needs neither a store nor a login") {
  Cli cli;
  CHECK_OK(cli.run({"roles"}));
  CHECK_FALSE(fs::exists(cli.data_dir()));
  CHECK_ERROR(cli.run({"roles", "extra"}), 2, "extra");
}

TEST_CASE("the policy the roles command shows is the one applied") {
  Cli cli;
  cli.init_with_admin();
  // view_users: admin only.
  for (const std::string role : {"patient", "doctor", "pharmacist"}) {
    INFO("role ", role);
    const Account a = cli.add_user(role);
    Session s = cli.as(role);
    s.login(a.email, a.password);
    CHECK_ERROR(s.run({"user", "list"}), 4, "permission denied", "a " + role + " may not",
                "list accounts", "allowed: admin");
    CHECK_ERROR(s.run({"audit", "verify"}), 4, "read and verify the audit log");
  }
  cli.login_admin();
  CHECK_OK(cli.run({"user", "list"}));
  CHECK_OK(cli.run({"audit", "verify"}));
}
