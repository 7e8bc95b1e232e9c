#pragma once

// Reports of scans and their delivery. On approval the report is rendered once (pdf.hpp),
// encrypted with AES-256 under a per-report open code (encrypt.hpp), stored immutably with its
// hash, and emailed to the patient: the PDF in one message, the open code in a second one. Every
// attempt is kept (queued, sent, or failed with the reason); a failed send never undoes the
// approval, and deliver() again retries. Patients download their own approved reports; staff any
// report, and before approval a DRAFT preview. Every download is audited.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "auth/role.hpp"
#include "report/content.hpp"
#include "report/pdf.hpp"
#include "util/clock.hpp"

namespace csss::audit {
class AuditLog;
}
namespace csss::config {
class Config;
}
namespace csss::notify {
class MailTransport;
}
namespace csss::scans {
class Scans;
}
namespace csss::store {
class Database;
}
namespace csss::workflow {
class Workflow;
}

namespace csss::report {

struct ReportSettings {
  std::string facility_name = "CSSS";
  std::string facility_address;
  Fonts fonts;
  std::string mail_from = "CSSS <no-reply@csss.local>";

  static ReportSettings from(const config::Config& config);
};

struct StoredReport {
  std::string id;
  std::string scan_id;
  std::string approval_id;
  std::string file;  // relative to the data directory
  std::int64_t size_bytes = 0;
  std::string sha256;  // of the stored (encrypted) file
  std::string content_sha256;
  util::UnixSeconds created_at = 0;
};

struct Delivery {
  std::int64_t id = 0;
  int attempt = 0;
  std::string recipient;
  std::string state;   // queued, sent, failed
  std::string detail;  // where the messages went, or why they did not
  std::string actor;   // who asked for it
  util::UnixSeconds created_at = 0;
  util::UnixSeconds updated_at = 0;
};

struct DeliveryOutcome {
  StoredReport report;
  Delivery delivery;
  bool created = false;  // the report was rendered by this call
};

enum class Format { pdf, fhir };

struct Download {
  std::string bytes;
  Format format = Format::pdf;
  bool draft = false;     // a preview before approval
  std::string report_id;  // of the stored report; a fresh ID for a draft
  std::string sha256;     // of `bytes`
  // The code that opens the PDF: for a draft, its one-off code; for a stored report, only when
  // asked for by staff (show_code). Empty otherwise: the patient has it by email.
  std::string open_code;
};

struct DownloadRequest {
  Format format = Format::pdf;
  bool show_code = false;  // staff only: also return the stored report's open code (audited)
};

class Reports {
 public:
  Reports(store::Database& db, const util::Clock& clock, audit::AuditLog& audit,
          scans::Scans& scans, workflow::Workflow& workflow, notify::MailTransport& mail,
          ReportSettings settings);

  // Renders and stores the report of an approved scan if it has none yet, then emails it to the
  // patient (a new attempt each call: also the retry of a failed one). Admins only (the role
  // policy's approve_report). Error(conflict) when the scan is not approved; mail failures do
  // not throw: they are the returned delivery's state "failed" and its detail.
  DeliveryOutcome deliver(const auth::Principal& who, const std::string& scan_id);

  // The report of a scan as `who` may have it: the stored report once approved (its hash checked
  // first: Error(integrity) when the file no longer matches); before that, staff get a DRAFT
  // preview under a one-off open code, patients Error(conflict). Audited.
  Download download(const auth::Principal& who, const std::string& scan_id,
                    const DownloadRequest& request);

  // The stored report of a scan and its delivery attempts, oldest first (as far as `who` may see
  // the scan).
  std::optional<StoredReport> stored(const auth::Principal& who, const std::string& scan_id);
  std::vector<Delivery> deliveries(const auth::Principal& who, const std::string& scan_id);

 private:
  ReportContent gather(const auth::Principal& who, const std::string& scan_id, bool draft);
  std::optional<StoredReport> find(const std::string& scan_id) const;
  StoredReport issue(const auth::Principal& who, const std::string& scan_id, bool& created);
  std::string read_stored(const StoredReport& report) const;
  // The report's open code, unsealed with the installation's key.
  std::string open_code_of(const StoredReport& report) const;
  std::filesystem::path key_file() const;

  store::Database& db_;
  const util::Clock& clock_;
  audit::AuditLog& audit_;
  scans::Scans& scans_;
  workflow::Workflow& workflow_;
  notify::MailTransport& mail_;
  ReportSettings settings_;
};

// The stored report of a scan the caller has read already (Scans::get or Scans::list decided
// access), or nullopt before one is issued; reads only.
std::optional<StoredReport> find_stored(store::Database& db, const std::string& scan_id);

// "application/pdf" bytes are `report-<scan ID>.pdf`; FHIR `report-<scan ID>.fhir.json`.
std::string default_file_name(const std::string& scan_id, Format format);

}  // namespace csss::report
