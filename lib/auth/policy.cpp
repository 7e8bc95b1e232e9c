#include "auth/policy.hpp"

#include <array>

#include <fmt/format.h>

#include "audit/audit_log.hpp"
#include "util/error.hpp"

namespace csss::auth {

namespace {

// The columns after the description, one per role in kAllRoles' order:
//   patient, doctor, pharmacist, admin, importer.
// The importer (unattended imports with an API token) may import and analyse, nothing else.
constexpr std::array kRules{
    PolicyRule{Action::upload_scan, "upload_scan", "upload a scan", true, false, false, false,
               false},
    PolicyRule{Action::upload_for_patient, "upload_for_patient", "upload a scan for a patient",
               false, true, true, true, false},
    PolicyRule{Action::import_scans, "import_scans", "import scans in bulk (csss batch import)",
               false, true, true, true, true},
    PolicyRule{Action::view_own_scans, "view_own_scans", "see one's own scans and results", true,
               false, false, false, false},
    PolicyRule{Action::view_any_scan, "view_any_scan", "see any patient's scans and results", false,
               true, true, true, false},
    PolicyRule{Action::view_own_record, "view_own_record",
               "see one's own patient record and history", true, false, false, false, false},
    PolicyRule{Action::view_any_patient, "view_any_patient",
               "list patient records, see any record and its history", false, true, true, true,
               false},
    PolicyRule{Action::manage_patients, "manage_patients", "add and change patient records", false,
               true, false, true, false},
    PolicyRule{Action::run_analysis, "run_analysis", "run the AI analysis", false, true, false,
               false, true},
    PolicyRule{Action::add_clinical_notes, "add_clinical_notes", "add clinical notes", false, true,
               false, false, false},
    PolicyRule{Action::note_ai_results, "note_ai_results", "add notes on an AI result", false, true,
               true, false, false},
    PolicyRule{Action::add_prescription, "add_prescription", "add a prescription", false, false,
               true, false, false},
    PolicyRule{Action::approve_report, "approve_report", "approve and send a report", false, false,
               false, true, false},
    PolicyRule{Action::download_own_report, "download_own_report", "download one's own report",
               true, false, false, false, false},
    PolicyRule{Action::download_any_report, "download_any_report", "download any report", false,
               true, true, true, false},
    PolicyRule{Action::manage_users, "manage_users", "add and change accounts", false, false, false,
               true, false},
    PolicyRule{Action::manage_tokens, "manage_tokens", "create, list and revoke API tokens", false,
               false, false, true, false},
    PolicyRule{Action::view_users, "view_users", "list accounts", false, false, false, true, false},
    PolicyRule{Action::manage_models, "manage_models", "import models", false, false, false, true,
               false},
    PolicyRule{Action::read_audit, "read_audit", "read and verify the audit log", false, false,
               false, true, false},
    PolicyRule{Action::edit_own_profile, "edit_own_profile",
               "see and change one's own profile (csss user profile)", true, true, true, true,
               false},
    PolicyRule{Action::run_maintenance, "run_maintenance",
               "purge expired codes and sessions (csss maintenance)", false, false, false, true,
               false},
};

const PolicyRule& rule_for(Action action) noexcept {
  for (const PolicyRule& r : kRules) {
    if (r.action == action)
      return r;
  }
  return kRules.front();  // unreachable: every Action has a rule (a unit test checks it)
}

}  // namespace

std::span<const PolicyRule> policy_rules() {
  return kRules;
}

bool allows(const PolicyRule& rule, Role role) noexcept {
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

bool is_allowed(Role role, Action action) noexcept {
  return allows(rule_for(action), role);
}

std::string_view to_string(Action action) noexcept {
  return rule_for(action).name;
}

void require(const Principal& who, Action action, std::string_view object, audit::AuditLog& audit) {
  if (is_allowed(who.role, action))
    return;
  const PolicyRule& r = rule_for(action);
  audit.append({who.email, "access.denied", std::string(object), audit::Outcome::denied,
                std::string(r.name)});
  std::vector<std::string> allowed;
  for (Role role : kAllRoles) {
    if (allows(r, role))
      allowed.emplace_back(to_string(role));
  }
  const std::string_view role = to_string(who.role);
  const bool vowel = std::string_view("aeiou").find(role.front()) != std::string_view::npos;
  throw Error(ErrorKind::permission,
              fmt::format("permission denied: {} {} may not {} (allowed: {})", vowel ? "an" : "a",
                          role, r.description, fmt::join(allowed, ", ")));
}

std::string_view to_string(Role role) noexcept {
  switch (role) {
    case Role::patient:
      return "patient";
    case Role::doctor:
      return "doctor";
    case Role::pharmacist:
      return "pharmacist";
    case Role::admin:
      return "admin";
    case Role::importer:
      return "importer";
  }
  return "patient";
}

std::optional<Role> parse_role(std::string_view text) {
  for (Role role : kAllRoles) {
    if (text == to_string(role))
      return role;
  }
  return std::nullopt;
}

}  // namespace csss::auth
