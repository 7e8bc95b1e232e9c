#pragma once

// The clinical workflow over scans: a doctor's verification, a pharmacist's prescription and an
// admin's approval, each an electronic signature (the signer re-enters the password; the record
// keeps the printed name, role, UTC time, meaning and the SHA-256 of the exact content signed);
// rejections and returns with a reason; each role's worklist; the whole record of a scan; and the
// check that recomputes every hash. Every step moves the scan through state_machine.hpp inside one
// store transaction that also writes the history and the audit row: of two people acting on the
// same scan at once, exactly one succeeds, the other gets Error(conflict) "moved on".

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/role.hpp"
#include "scans/scans.hpp"
#include "util/clock.hpp"
#include "workflow/state_machine.hpp"

namespace csss::audit {
class AuditLog;
}
namespace csss::store {
class Database;
}

namespace csss::workflow {

inline constexpr std::size_t kMaxNotesBytes = 20000;
inline constexpr std::size_t kMaxReasonBytes = 2000;

struct Signature {
  std::string id;
  std::string scan_id;
  std::string kind;     // verification, prescription, approval
  std::string meaning;  // verified, prescribed, approved
  std::string amends;   // "" unless an addendum: the signature it corrects
  std::int64_t signer_id = 0;
  std::string signer_name;
  std::string signer_role;
  util::UnixSeconds signed_at = 0;
  std::string content;  // canonical JSON of what was signed
  std::string content_sha256;
  std::string record_sha256;
};

struct HistoryEvent {
  std::string step;
  std::string from_status;
  std::string to_status;
  std::string actor_name;
  std::string actor_role;
  std::string reason;
  util::UnixSeconds at = 0;
};

struct VerifyRequest {
  std::string notes;
  bool agree = false;     // the doctor agrees with the AI's predicted class
  std::string diagnosis;  // or sets another class of the model
  bool addendum = false;  // a signed correction of the last verification (no status change)
};

struct PrescribeRequest {
  std::string text;           // the prescription as signed
  std::string template_name;  // "" when written by hand
  std::map<std::string, std::string> fields;
  bool addendum = false;
};

// A note of clinical staff on an AI result: kept with the author's printed name, role and the
// time, never changed or deleted.
struct Note {
  std::int64_t id = 0;
  std::string scan_id;
  std::string analysis_id;
  std::int64_t author_id = 0;
  std::string author_name;
  std::string author_role;
  std::string text;
  util::UnixSeconds at = 0;
};

struct Record {
  scans::Scan scan;
  std::vector<scans::Analysis> analyses;
  std::vector<Signature> signatures;  // oldest first
  std::vector<HistoryEvent> history;  // oldest first
  std::vector<Note> notes;            // on the AI results, oldest first
};

struct CheckResult {
  bool valid = true;
  int hashes_checked = 0;
  std::vector<std::string> problems;  // what no longer matches, one line each
};

struct WorklistFilter {
  std::optional<std::vector<Status>> statuses;  // nullopt: the role's worklist; empty: all
  std::string patient;  // a patient's email or record number (patients.id); "" for all
  std::string search;   // in the patient's name, the scan ID, file name, modality, body part
};

// The last signature of `kind` ("verification", "prescription", "approval") in `list` (oldest
// first): addenda included, so the version in force; nullptr when there is none.
const Signature* latest(const std::vector<Signature>& list, std::string_view kind);

// The statuses a role works on: doctor pending_ai and ai_analysed; pharmacist doctor_verified;
// admin pharmacist_completed; patient every status.
std::vector<Status> worklist_statuses(auth::Role role);

class Workflow {
 public:
  Workflow(store::Database& db, const util::Clock& clock, audit::AuditLog& audit,
           scans::Scans& scans)
      : db_(db), clock_(clock), audit_(audit), scans_(scans) {}

  // The doctor's signed findings on the latest AI result (needs one: Error(conflict) otherwise).
  // Exactly one of agree/diagnosis; notes 1..kMaxNotesBytes of UTF-8 text. Wrong password:
  // Error(authentication), nothing written but the audit row.
  Signature verify(const auth::Principal& who, const std::string& scan_id,
                   std::string_view password, const VerifyRequest& request);
  Signature prescribe(const auth::Principal& who, const std::string& scan_id,
                      std::string_view password, const PrescribeRequest& request);
  // Final approval (admins; their sessions exist only after the emailed code).
  Signature approve(const auth::Principal& who, const std::string& scan_id,
                    std::string_view password);
  // A doctor rejects a scan as unusable; the reason is shown to the patient.
  void reject(const auth::Principal& who, const std::string& scan_id, const std::string& reason);
  // An admin returns a scan awaiting approval: Step::return_to_doctor or return_to_pharmacist.
  void send_back(const auth::Principal& who, const std::string& scan_id, Step step,
                 const std::string& reason);

  // The whole record, as far as the role may see it (patients: their own scans only). Audited.
  Record record(const auth::Principal& who, const std::string& scan_id);
  // The whole record of a scan the caller has read already (Scans::get or Scans::list, which
  // decided access and wrote the audit row); reads only.
  Record record_of(const scans::Scan& scan) const;

  // Adds a note on an AI result of the scan (Action note_ai_results): `analysis_id`, or the latest
  // result when empty. Text as for verification notes (1..kMaxNotesBytes of UTF-8). Error
  // (not_found) for an unknown scan or result, Error(conflict) when the scan has no AI result.
  // One transaction with the audit row.
  Note add_note(const auth::Principal& who, const std::string& scan_id, const std::string& text,
                const std::string& analysis_id = "");
  // Recomputes the scan file's hash and every signature's content and record hashes, and checks
  // that each signed reference (the analysis verified, the verification prescribed for, ...)
  // still matches what it points to.
  CheckResult check(const auth::Principal& who, const std::string& scan_id);
  // Inside a transaction the caller holds: moves an approved scan to report_delivered (the
  // deliver step, with its history row). Returns false, changing nothing, when it is there
  // already; Error(conflict) from any other status.
  bool mark_delivered(const auth::Principal& who, const std::string& scan_id, util::UnixSeconds at);

  // Scans of the filter, high-risk and uncertain AI results first, then the oldest.
  std::vector<scans::Scan> worklist(const auth::Principal& who, const WorklistFilter& filter);

 private:
  Signature sign(const auth::Principal& who, const scans::Scan& scan, Step step,
                 const std::string& kind, const std::string& meaning, const std::string& amends,
                 const std::string& content, std::optional<Status> expected);
  void check_password(const auth::Principal& who, std::string_view password,
                      const std::string& scan_id, std::string_view meaning);
  void move(const auth::Principal& who, const scans::Scan& scan, Step step,
            const std::string& reason);
  // Inside an open transaction: moves the scan by `step` from its status re-read under the write
  // lock (which must be `expected` when given; else Error(conflict) "moved on") and writes the
  // history row. Returns the status it came from.
  Status advance(const auth::Principal& who, const std::string& scan_id, Step step,
                 std::optional<Status> expected, const std::string& reason, util::UnixSeconds at);
  std::vector<Signature> signatures_of(const std::string& scan_id) const;

  store::Database& db_;
  const util::Clock& clock_;
  audit::AuditLog& audit_;
  scans::Scans& scans_;
};

}  // namespace csss::workflow
