#pragma once

#include <span>
#include <string_view>

#include "auth/role.hpp"

namespace csss::audit {
class AuditLog;
}

namespace csss::auth {

// Everything the role policy decides. Each command asks for exactly the actions it performs.
enum class Action {
  manage_users,         // add accounts, disable/enable/unlock them, set their passwords
  manage_tokens,        // create, list and revoke importer accounts' API tokens
  view_users,           // list accounts and see any account's details
  read_audit,           // list and verify the audit log
  upload_scan,          // upload a scan of one's own
  upload_for_patient,   // upload a scan on a patient's behalf
  import_scans,         // import scans in bulk (csss batch import)
  view_own_scans,       // see one's own scans and their results
  view_any_scan,        // see any patient's scans and results
  view_own_record,      // a patient's own patient record and history
  view_any_patient,     // list patient records; see any record and its history
  manage_patients,      // add patient records and change them (contact, history, account link)
  note_ai_results,      // add a note on an AI result (a prediction)
  manage_models,        // import models
  run_analysis,         // run the AI model on a scan
  add_clinical_notes,   // verify an AI result with clinical notes
  add_prescription,     // add the prescription
  approve_report,       // approve and send the report
  download_own_report,  // a patient's own approved report
  download_any_report,  // any patient's report
  edit_own_profile,     // see and change one's own name, phone and (patients) date of birth
  run_maintenance,      // purge expired codes, ended sessions and old rate-limit records
};

struct PolicyRule {
  Action action;
  std::string_view name;  // stable identifier: "manage_users"
  std::string_view description;
  bool patient, doctor, pharmacist, admin, importer;  // one column per role (kAllRoles)
};

// The rule's column for `role`.
bool allows(const PolicyRule& rule, Role role) noexcept;

// The one role policy: every row of the README's permission matrix, in its order.
std::span<const PolicyRule> policy_rules();

bool is_allowed(Role role, Action action) noexcept;
std::string_view to_string(Action action) noexcept;

// Throws Error(permission) naming the role and the action unless the policy allows it, after
// recording the refusal (actor, "access.denied", object) in the audit log.
void require(const Principal& who, Action action, std::string_view object, audit::AuditLog& audit);

}  // namespace csss::auth
