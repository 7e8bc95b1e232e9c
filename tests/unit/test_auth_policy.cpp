#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "audit/audit_log.hpp"
#include "auth/policy.hpp"
#include "auth/role.hpp"
#include "store/database.hpp"
#include "support/check_error.hpp"
#include "support/fakes.hpp"
#include "support/temp_dir.hpp"

using namespace csss::auth;
using csss::ErrorKind;
using csss::test::check_error;
using csss::test::contains;

namespace {

constexpr Role kRoles[] = {Role::patient, Role::doctor, Role::pharmacist, Role::admin,
                           Role::importer};

// Every enumerator of auth::Action. A new action must be added here and to the matrix below.
constexpr Action kAllActions[] = {
    Action::manage_users,        Action::manage_tokens,       Action::view_users,
    Action::read_audit,          Action::upload_scan,         Action::run_analysis,
    Action::add_clinical_notes,  Action::add_prescription,    Action::approve_report,
    Action::download_own_report, Action::download_any_report, Action::upload_for_patient,
    Action::import_scans,        Action::view_own_scans,      Action::view_any_scan,
    Action::manage_models,       Action::edit_own_profile,    Action::run_maintenance,
    Action::view_own_record,     Action::view_any_patient,    Action::manage_patients,
    Action::note_ai_results,
};

struct ExpectedRule {
  Action action;
  const char* name;
  bool patient, doctor, pharmacist, admin, importer;
};

// The permission matrix, row by row, in the policy table's order.
constexpr ExpectedRule kMatrix[] = {
    //                                                  patient doctor pharm  admin  importer
    {Action::upload_scan, "upload_scan", /*         */ true, false, false, false, false},
    {Action::upload_for_patient, "upload_for_patient", false, true, true, true, false},
    {Action::import_scans, "import_scans", /*       */ false, true, true, true, true},
    {Action::view_own_scans, "view_own_scans", /*   */ true, false, false, false, false},
    {Action::view_any_scan, "view_any_scan", /*     */ false, true, true, true, false},
    {Action::view_own_record, "view_own_record", /* */ true, false, false, false, false},
    {Action::view_any_patient, "view_any_patient", /**/ false, true, true, true, false},
    {Action::manage_patients, "manage_patients", /* */ false, true, false, true, false},
    {Action::run_analysis, "run_analysis", /*       */ false, true, false, false, true},
    {Action::add_clinical_notes, "add_clinical_notes", false, true, false, false, false},
    {Action::note_ai_results, "note_ai_results", /* */ false, true, true, false, false},
    {Action::add_prescription, "add_prescription", /**/ false, false, true, false, false},
    {Action::approve_report, "approve_report", /*   */ false, false, false, true, false},
    {Action::download_own_report, "download_own_report", true, false, false, false, false},
    {Action::download_any_report, "download_any_report", false, true, true, true, false},
    {Action::manage_users, "manage_users", /*       */ false, false, false, true, false},
    {Action::manage_tokens, "manage_tokens", /*     */ false, false, false, true, false},
    {Action::view_users, "view_users", /*           */ false, false, false, true, false},
    {Action::manage_models, "manage_models", /*     */ false, false, false, true, false},
    {Action::read_audit, "read_audit", /*           */ false, false, false, true, false},
    {Action::edit_own_profile, "edit_own_profile", /**/ true, true, true, true, false},
    {Action::run_maintenance, "run_maintenance", /* */ false, false, false, true, false},
};

bool expected(const ExpectedRule& rule, Role role) {
  switch (role) {
    case Role::patient:
      return rule.patient;
    case Role::doctor:
      return rule.doctor;
    case Role::pharmacist:
      return rule.pharmacist;
    case Role::admin:
      return rule.admin;
    case Role::importer:
      return rule.importer;
  }
  return false;
}

Principal principal(Role role) {
  Principal p;
  p.user_id = 42;
  p.email = std::string(to_string(role)) + "@example.org";
  p.full_name = "Test";
  p.role = role;
  p.session_id = 7;
  return p;
}

}  // namespace

TEST_CASE("auth::is_allowed matrix") {
  for (const ExpectedRule& row : kMatrix) {
    CAPTURE(std::string(row.name));
    CHECK(to_string(row.action) == row.name);
    CHECK(is_allowed(Role::patient, row.action) == row.patient);
    CHECK(is_allowed(Role::doctor, row.action) == row.doctor);
    CHECK(is_allowed(Role::pharmacist, row.action) == row.pharmacist);
    CHECK(is_allowed(Role::admin, row.action) == row.admin);
    CHECK(is_allowed(Role::importer, row.action) == row.importer);
  }
  SUBCASE("pinned rows, spelled out") {
    CHECK(is_allowed(Role::patient, Action::upload_scan));
    CHECK_FALSE(is_allowed(Role::doctor, Action::upload_scan));
    CHECK_FALSE(is_allowed(Role::admin, Action::upload_scan));
    CHECK(is_allowed(Role::doctor, Action::run_analysis));
    CHECK_FALSE(is_allowed(Role::admin, Action::run_analysis));
    CHECK(is_allowed(Role::pharmacist, Action::add_prescription));
    CHECK_FALSE(is_allowed(Role::doctor, Action::add_prescription));
    CHECK(is_allowed(Role::admin, Action::approve_report));
    CHECK_FALSE(is_allowed(Role::doctor, Action::approve_report));
    CHECK(is_allowed(Role::patient, Action::download_own_report));
    CHECK_FALSE(is_allowed(Role::patient, Action::download_any_report));
    CHECK_FALSE(is_allowed(Role::doctor, Action::manage_users));
    CHECK_FALSE(is_allowed(Role::pharmacist, Action::read_audit));
  }
  SUBCASE("the importer may import and analyse, and nothing else") {
    std::vector<std::string_view> allowed;
    for (Action action : kAllActions) {
      if (is_allowed(Role::importer, action))
        allowed.push_back(to_string(action));
    }
    std::sort(allowed.begin(), allowed.end());
    CHECK(allowed == std::vector<std::string_view>{"import_scans", "run_analysis"});
  }
  SUBCASE("staff may import in their own session; patients may not") {
    CHECK(is_allowed(Role::doctor, Action::import_scans));
    CHECK(is_allowed(Role::pharmacist, Action::import_scans));
    CHECK(is_allowed(Role::admin, Action::import_scans));
    CHECK_FALSE(is_allowed(Role::patient, Action::import_scans));
  }
  SUBCASE("only admins manage tokens") {
    for (Role role : kRoles)
      CHECK(is_allowed(role, Action::manage_tokens) == (role == Role::admin));
  }
}

TEST_CASE("auth::policy_rules") {
  const auto rules = policy_rules();
  SUBCASE("one rule per action, with the matrix's values and order") {
    REQUIRE(rules.size() == std::size(kMatrix));
    for (std::size_t i = 0; i < rules.size(); ++i) {
      CAPTURE(i);
      CHECK(rules[i].action == kMatrix[i].action);
      CHECK(rules[i].name == kMatrix[i].name);
      CHECK(rules[i].patient == kMatrix[i].patient);
      CHECK(rules[i].doctor == kMatrix[i].doctor);
      CHECK(rules[i].pharmacist == kMatrix[i].pharmacist);
      CHECK(rules[i].admin == kMatrix[i].admin);
      CHECK(rules[i].importer == kMatrix[i].importer);
      for (Role role : kRoles)
        CHECK(allows(rules[i], role) == expected(kMatrix[i], role));
      CHECK_FALSE(rules[i].description.empty());
    }
  }
  SUBCASE("every Action value has exactly one rule, and names are distinct") {
    CHECK(rules.size() == std::size(kAllActions));
    std::set<std::string_view> names;
    for (Action action : kAllActions) {
      CAPTURE(static_cast<int>(action));
      const auto n = std::count_if(rules.begin(), rules.end(),
                                   [&](const PolicyRule& r) { return r.action == action; });
      CHECK(n == 1);
      names.insert(to_string(action));
    }
    CHECK(names.size() == std::size(kAllActions));
    for (const PolicyRule& r : rules)
      CHECK_FALSE(r.name.empty());
  }
  SUBCASE("every action is allowed to someone") {
    for (const PolicyRule& r : rules) {
      CAPTURE(r.name);
      CHECK((r.patient || r.doctor || r.pharmacist || r.admin || r.importer));
    }
  }
}

TEST_CASE("auth::Role") {
  for (Role role : kRoles)
    CHECK(parse_role(to_string(role)) == role);
  CHECK(to_string(Role::patient) == "patient");
  CHECK(to_string(Role::doctor) == "doctor");
  CHECK(to_string(Role::pharmacist) == "pharmacist");
  CHECK(to_string(Role::admin) == "admin");
  CHECK(to_string(Role::importer) == "importer");
  CHECK(parse_role("importer") == Role::importer);
  CHECK(std::size(kAllRoles) == std::size(kRoles));
  for (std::size_t i = 0; i < std::size(kRoles); ++i)
    CHECK(kAllRoles[i] == kRoles[i]);
  CHECK(parse_role("Admin") == std::nullopt);
  CHECK(parse_role("") == std::nullopt);
  CHECK(parse_role("nurse") == std::nullopt);
  CHECK(parse_role("admin ") == std::nullopt);
}

TEST_CASE("auth::require") {
  csss::test::TempDir dir;
  csss::test::ManualClock clock;
  auto db = csss::store::Database::open(dir / "csss.db", csss::store::OpenMode::create);
  csss::audit::AuditLog audit(db, clock);

  SUBCASE("denied: permission error naming role, action and who may, plus an audit row") {
    const std::string msg = check_error(
        [&] {
          require(principal(Role::patient), Action::manage_users, "user:x@example.org", audit);
        },
        ErrorKind::permission, "permission denied");
    CHECK(contains(msg, "a patient may not add and change accounts"));
    CHECK(contains(msg, "(allowed: admin)"));
    const auto rows = audit.list({});
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].actor == "patient@example.org");
    CHECK(rows[0].action == "access.denied");
    CHECK(rows[0].object == "user:x@example.org");
    CHECK(rows[0].outcome == csss::audit::Outcome::denied);
    CHECK(rows[0].detail == "manage_users");
  }
  SUBCASE("the message lists every allowed role") {
    check_error(
        [&] { require(principal(Role::patient), Action::download_any_report, "report:1", audit); },
        ErrorKind::permission, "(allowed: doctor, pharmacist, admin)");
  }
  SUBCASE("an importer is refused everything but importing and analysing, with 'an'") {
    const std::string msg = check_error(
        [&] { require(principal(Role::importer), Action::view_any_scan, "scans", audit); },
        ErrorKind::permission, "an importer may not see any patient's scans and results");
    CHECK(contains(msg, "(allowed: doctor, pharmacist, admin)"));
    check_error([&] { require(principal(Role::admin), Action::run_analysis, "scan:1", audit); },
                ErrorKind::permission,
                "an admin may not run the AI analysis (allowed: doctor, importer)");
    CHECK_NOTHROW(require(principal(Role::importer), Action::import_scans, "batch", audit));
    CHECK_NOTHROW(require(principal(Role::importer), Action::run_analysis, "scan:1", audit));
    CHECK(audit.list({}).size() == 2);
  }
  SUBCASE("allowed: no error and no audit row") {
    CHECK_NOTHROW(require(principal(Role::admin), Action::manage_users, "users", audit));
    CHECK_NOTHROW(require(principal(Role::doctor), Action::run_analysis, "scan:1", audit));
    CHECK(audit.list({}).empty());
  }
  SUBCASE("the whole matrix: require agrees with is_allowed, one audit row per refusal") {
    std::size_t denied = 0;
    for (const ExpectedRule& row : kMatrix) {
      for (Role role : kRoles) {
        CAPTURE(std::string(row.name));
        CAPTURE(to_string(role));
        bool threw = false;
        try {
          require(principal(role), row.action, "object", audit);
        } catch (const csss::Error& e) {
          threw = true;
          CHECK(e.kind() == ErrorKind::permission);
        }
        CHECK(threw == !expected(row, role));
        if (threw)
          ++denied;
      }
    }
    CHECK(denied == 71);  // 22 actions x 5 roles = 110 cells, 39 of them allowed
    csss::audit::Filter filter;
    filter.action = "access.denied";
    CHECK(audit.list(filter).size() == denied);
    CHECK(audit.verify().intact);
  }
}
