#pragma once

// Patient records and a patient's history. A record is not a login account: batch imports create
// records without one, staff add them with csss patient add, and a patient account is linked to at
// most one record. The record's medical record number (MRN, patients.external_id) is unique: it is
// the DICOM PatientID or manifest patient_id by which a batch import finds the record again. Every
// change and every read is decided by the role policy and written to the audit log in the same
// transaction; a patient sees only their own record, and another one reads as not found.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/role.hpp"
#include "scans/scans.hpp"
#include "util/clock.hpp"
#include "workflow/workflow.hpp"

namespace csss::audit {
class AuditLog;
}
namespace csss::store {
class Database;
}

namespace csss::patients {

inline constexpr std::size_t kMaxMrnBytes = 64;
inline constexpr std::size_t kMaxPhoneBytes = 32;
inline constexpr std::size_t kMaxAddressBytes = 500;
inline constexpr std::size_t kMaxHistoryBytes = 20000;

enum class Sex { female, male, other, unknown };

std::string_view to_string(Sex sex) noexcept;
// "female", "male", "other", "unknown" (also "f", "m", "o", "u", any case); Error(invalid_input)
// naming the choices otherwise.
Sex parse_sex(std::string_view text);

// "P-000042": how reports and the CLI print a record number.
std::string format_id(std::int64_t id);
// "P-000042", "p-42" or "42"; Error(invalid_input) for anything else.
std::int64_t parse_id(std::string_view text);

struct Patient {
  std::int64_t id = 0;
  std::string full_name;
  std::string mrn;         // "" when the record has none
  std::string birth_date;  // YYYY-MM-DD or ""
  Sex sex = Sex::unknown;
  std::string phone;
  std::string email;  // for contact; "" when none
  std::string address;
  std::string history;  // free text
  std::optional<std::int64_t> user_id;
  std::string account_email;  // the linked login account's email, "" when none
  util::UnixSeconds created_at = 0;
  util::UnixSeconds updated_at = 0;
};

// What csss patient add sets, or update changes: nullopt leaves a field as it is; "" clears an
// optional one (birth date, MRN, phone, email, address, history). The name cannot be cleared;
// sex returns to "unknown" when cleared.
struct PatientFields {
  std::optional<std::string> full_name;
  std::optional<std::string> birth_date;
  std::optional<std::string> sex;
  std::optional<std::string> mrn;
  std::optional<std::string> phone;
  std::optional<std::string> email;
  std::optional<std::string> address;
  std::optional<std::string> history;
  // The email of an existing patient account to link to the record. The account's record until
  // now (the one made with the account) is removed when it holds nothing (no scans, no MRN);
  // otherwise Error(conflict): one record per account.
  std::optional<std::string> account;

  bool empty() const {
    return !full_name && !birth_date && !sex && !mrn && !phone && !email && !address && !history &&
           !account;
  }
};

struct ListQuery {
  std::string name;  // substring of the name (ASCII case-insensitive); "" for all
  std::string mrn;   // exactly this MRN; "" for all
};

struct HistoryQuery {
  std::optional<util::UnixSeconds> from;  // entries at or after
  std::optional<util::UnixSeconds> to;    // entries at or before
  std::vector<std::string> statuses;      // scans in these statuses only; empty for any
  std::string model;            // scans with an AI result of this model ("name" or "name@version")
  std::string predicted_class;  // scans with an AI result of this predicted class
};

// One thing that happened to one of the patient's scans.
struct HistoryEntry {
  enum class Kind { scan, ai_result, note, diagnosis, prescription, rejection, returned, report };
  Kind kind = Kind::scan;
  util::UnixSeconds at = 0;
  scans::Scan scan;  // the scan it belongs to, as it is now
  std::string by_name;
  std::string by_role;
  std::string text;  // the note, the findings, the prescription, or the reason given
  std::optional<scans::Analysis> analysis;  // ai_result, note (the result noted on)
  std::string diagnosis;                    // diagnosis
  bool agrees_with_ai = false;              // diagnosis
  bool addendum = false;                    // diagnosis, prescription: a signed correction
  std::string signature_id;                 // diagnosis, prescription, report (the approval)
  std::string report_id;                    // report: "" when approved but not issued yet
  std::string report_sha256;                // report: of the stored, encrypted file
  bool delivered = false;                   // report: it reached the patient
  std::int64_t seq = 0;                     // the order of recording, for equal times
};

std::string_view to_string(HistoryEntry::Kind kind) noexcept;

struct History {
  Patient patient;
  std::vector<HistoryEntry> entries;  // newest first
  std::size_t scans = 0;              // how many scans matched the filters
};

class Patients {
 public:
  Patients(store::Database& db, const util::Clock& clock, audit::AuditLog& audit,
           scans::Scans& scans, workflow::Workflow& workflow)
      : db_(db), clock_(clock), audit_(audit), scans_(scans), workflow_(workflow) {}

  // A new record (Action manage_patients; name required). Error(invalid_input) for a bad value,
  // Error(conflict) for an MRN another record holds or an account linked elsewhere,
  // Error(not_found) for an unknown account. Audited as patient.create.
  Patient add(const auth::Principal& who, const PatientFields& fields);

  // Changes the given fields of record `id` (Action manage_patients). Errors as add(), and
  // Error(not_found) for an unknown record. Audited as patient.update with the fields changed.
  Patient update(const auth::Principal& who, std::int64_t id, const PatientFields& fields);

  // Records matching `query` (Action view_any_patient: staff), by name. Audited.
  std::vector<Patient> list(const auth::Principal& who, const ListQuery& query);

  // Record `id` as `who` may see it: staff any, a patient their own (any other reads as not
  // found, like scans). Audited as patient.read.
  Patient show(const auth::Principal& who, std::int64_t id);

  // The record linked to `who`'s own account, for csss patient show/history without an ID.
  // Error(usage) for staff (who must name a record), Error(not_found) when there is none.
  std::int64_t own_record(const auth::Principal& who);

  // Every scan of record `id` with its AI results (model name and version), notes, diagnoses,
  // prescriptions, rejections, returns and report, newest first, as far as `query` selects.
  // Access as show(). Audited as patient.history.
  History history(const auth::Principal& who, std::int64_t id, const HistoryQuery& query);

 private:
  std::optional<Patient> find(std::int64_t id) const;
  // Inside a transaction: links the patient account `email` to `record` (see PatientFields::
  // account); returns what was done, for the audit row.
  std::string link_account(const Patient& record, const std::string& email);
  // Inside a transaction: Error(conflict) when another record than `except_id` holds `mrn`.
  void check_mrn_free(const std::string& mrn, std::int64_t except_id);
  // The record after the access check of show() and history(); audits refusals.
  Patient readable(const auth::Principal& who, std::int64_t id);

  store::Database& db_;
  const util::Clock& clock_;
  audit::AuditLog& audit_;
  scans::Scans& scans_;
  workflow::Workflow& workflow_;
};

}  // namespace csss::patients
