#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/role.hpp"
#include "imaging/image.hpp"
#include "util/clock.hpp"
#include "util/error.hpp"

namespace csss::audit {
class AuditLog;
}
namespace csss::store {
class Database;
}
namespace csss::inference {
class Registry;
struct Manifest;
}  // namespace csss::inference

namespace csss::scans {

struct Scan {
  std::string id;  // random UUID
  std::int64_t patient_id = 0;
  std::string patient_name;
  std::string patient_email;  // of the patient's account; "" when the record has none
  std::int64_t uploaded_by = 0;
  std::string sha256;
  std::int64_t size_bytes = 0;
  imaging::Format format = imaging::Format::png;
  int width = 0;
  int height = 0;
  int channels = 0;
  std::string modality;
  std::string body_part;
  std::string dicom_patient_id;
  std::string study_uid;
  int frames = 1;
  std::string source_name;
  std::string status;  // "pending_ai", "ai_analysed", ...
  util::UnixSeconds created_at = 0;
};

struct Analysis {
  std::string id;
  std::string scan_id;
  std::string model_name;
  std::string model_version;
  std::string weights_sha256;
  std::string predicted_class;  // the top class, also when uncertain
  double confidence = 0;
  double threshold = 0;
  bool uncertain = false;  // confidence below the model's threshold: the result reads "Uncertain"
  std::vector<std::pair<std::string, double>> probabilities;  // in the model's class order
  std::string risk;                                           // of the predicted class
  std::string heatmap;  // path of the Grad-CAM overlay PNG, relative to the data directory
  std::int64_t analysed_by = 0;
  util::UnixSeconds created_at = 0;
};

// For PNG and JPEG uploads, which carry no DICOM attributes: what the uploader says they are.
struct UploadHints {
  std::string modality;
  std::string body_part;
};

struct UploadOutcome {
  Scan scan;               // the new scan, or the one these bytes duplicate
  bool duplicate = false;  // nothing was stored
};

// Scans and their AI analyses. Every access is decided by the role policy and recorded in the
// audit log. Files live under the data directory: scans/<scan id> (the uploaded bytes) and
// heatmaps/<analysis id>.png; directories 0700, files 0600.
class Scans {
 public:
  Scans(store::Database& db, const util::Clock& clock, audit::AuditLog& audit,
        std::filesystem::path data_dir, imaging::Limits limits)
      : db_(db), clock_(clock), audit_(audit), data_dir_(std::move(data_dir)), limits_(limits) {}

  // Validates and stores one file for a patient: the uploader (a patient) or, for staff, the
  // patient account named by `patient_email`. The file is recognised by content, size-checked
  // before reading and fully decoded before anything is stored; the same bytes uploaded again
  // store nothing and name the scan they duplicate (unless it is another patient's scan and the
  // uploader a patient: Error(conflict), naming nothing). Throws Error naming the file:
  // not_found (no such file), invalid_input (a directory, empty, not PNG/JPEG/DICOM, truncated,
  // too large, a file name that is not UTF-8, ...), io (unreadable); permission/not_found for
  // the patient.
  UploadOutcome upload(const auth::Principal& who, const std::filesystem::path& file,
                       const std::optional<std::string>& patient_email, const UploadHints& hints);

  // A file read and decoded by the batch importer, ready to store.
  struct ImportedFile {
    std::string bytes;
    std::string sha256;
    imaging::Decoded decoded;
    std::string source_name;  // the path under the imported directory
  };
  // The patient record a batch-imported scan belongs to: found by its medical record number or
  // DICOM PatientID, or created without a login account.
  struct ImportPatient {
    std::string external_id;  // required
    std::string name;         // for a new record; "" gives "Patient <external_id>"
    std::string birth_date;   // YYYY-MM-DD or ""
  };
  // Stores one batch-imported file (Action::import_scans) for its patient record, in one
  // transaction with the audit row; the same bytes again store nothing and return the scan they
  // duplicate (duplicate = true). Throws Error(invalid_input) for a bad modality or body part.
  UploadOutcome import(const auth::Principal& who, const ImportedFile& file,
                       const ImportPatient& patient);

  struct ImportRequest {
    ImportedFile file;
    ImportPatient patient;
  };
  struct ImportResult {
    std::optional<UploadOutcome> outcome;  // nullopt: not stored, for `error`
    std::string error;
    ErrorKind error_kind = ErrorKind::invalid_input;
  };
  // Stores a group of batch-imported files as import() does each, at the cost of about one:
  // every new file is written, then all are made durable with one filesystem sync, then every
  // row goes in one transaction, each file in its own savepoint so that a bad one is reported in
  // its result and the others are kept. Throws Error only when nothing of the group could be
  // stored (the store or the disk failed; its files are removed again).
  std::vector<ImportResult> import(const auth::Principal& who,
                                   std::span<const ImportRequest> group);
  std::optional<Scan> find_by_sha256(const std::string& sha256) const;

  // Records a model's probabilities for a scan computed by the batch pipeline (Action
  // run_analysis), without a Grad-CAM overlay (`heatmap` is empty: `csss analyze` makes one):
  // once per scan and model version; nullopt, writing nothing, when that result exists already.
  std::optional<Analysis> record_analysis(const auth::Principal& who, const Scan& scan,
                                          const inference::Manifest& model,
                                          const std::vector<float>& probabilities);
  struct RecordResult {
    std::optional<Analysis> analysis;  // nullopt: recorded before, or `error`
    std::string error;
  };
  // record_analysis() for a batch of scans analysed by one model, in one transaction (one
  // savepoint per scan: a result that cannot be recorded is reported and the others kept).
  std::vector<RecordResult> record_analyses(const auth::Principal& who,
                                            const inference::Manifest& model,
                                            std::span<const Scan> scans,
                                            std::span<const std::vector<float>> probabilities);

  // The scan `id` as `who` may see it: patients only their own (any other ID reads as not
  // found, so that IDs reveal nothing); staff any. Each read is audited.
  Scan get(const auth::Principal& who, const std::string& id);

  // The scans `who` may see, newest first.
  std::vector<Scan> list(const auth::Principal& who);

  struct ListQuery {
    std::vector<std::string> statuses;  // empty: any
    std::string patient;                // a patient's account email or record number; "": any
    std::string search;  // substring of the patient's name, scan ID, file name, modality, body part
    bool worklist_order = false;  // high-risk or uncertain latest result first, then the oldest
  };
  // The scans `who` may see that match `query` (every value is bound, never spliced into SQL).
  // Throws Error(invalid_input) for a --patient that is neither an email nor a number.
  std::vector<Scan> list(const auth::Principal& who, const ListQuery& query);

  // The analyses of `scan`, oldest first (the caller has read the scan with get()).
  std::vector<Analysis> analyses(const Scan& scan) const;

  // Runs a model on the scan (doctors only): `model_name`, or the one model that fits the scan's
  // modality and body part. Verifies the weights' hash, decodes and preprocesses the scan the way
  // training does, predicts, computes the Grad-CAM overlay of the top class, and records the
  // result; the scan becomes "ai_analysed" if it was "pending_ai". Earlier results are kept.
  Analysis analyze(const auth::Principal& who, const std::string& scan_id,
                   const inference::Registry& registry,
                   const std::optional<std::string>& model_name);

  // The stored scan decoded to 8 bits, as analysis sees it (DICOM windowed). The caller has read
  // the scan with get().
  imaging::Image image_of(const Scan& scan) const;

  std::filesystem::path file_of(const Scan& scan) const { return data_dir_ / "scans" / scan.id; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  // The store's connection and its file (for the batch pipeline's read-only worker connections).
  store::Database& database() const { return db_; }
  const std::filesystem::path& store_path() const;

 private:
  // The patient record the upload is for, after the role checks; with `create` false, 0 when the
  // patient has no record yet (nothing is written but a refusal's audit row).
  std::int64_t patient_for(const auth::Principal& who,
                           const std::optional<std::string>& patient_email, bool create);
  std::optional<Scan> find(const std::string& id) const;
  // A new scan described from its decoded file (not stored yet).
  Scan describe(const auth::Principal& who, const std::string& bytes, const std::string& sha256,
                const imaging::Decoded& decoded, const UploadHints& hints,
                const std::string& source_name, std::string_view name) const;
  // Writes the file, then inserts the row (with `patient_id()` called inside the transaction)
  // and the audit row; removes the file again when the transaction fails.
  void store(const auth::Principal& who, Scan& scan, const std::string& bytes,
             const std::function<std::int64_t()>& patient_id);
  // Inside a transaction: the scan's row and its audit row.
  void insert_scan(const auth::Principal& who, const Scan& scan);
  // Inside a transaction: the record with the patient's medical record number, created (and
  // audited) when there is none.
  std::int64_t import_patient(const auth::Principal& who, const ImportPatient& patient);
  Analysis make_analysis(const auth::Principal& who, const Scan& scan,
                         const inference::Manifest& model, const std::vector<float>& probs) const;
  // Inside a transaction: the analysis row, the scan's move to ai_analysed with its history row,
  // and the audit row.
  void insert_analysis(const auth::Principal& who, const Analysis& a,
                       const inference::Manifest& model);

  store::Database& db_;
  const util::Clock& clock_;
  audit::AuditLog& audit_;
  std::filesystem::path data_dir_;
  imaging::Limits limits_;
};

// Read-only lookups on any connection to the store, for the batch pipeline's worker threads
// (each has its own connection): the scan holding these bytes, and whether a model version's
// result for a scan is recorded.
std::optional<Scan> find_by_sha256(store::Database& db, const std::string& sha256);
bool has_analysis(store::Database& db, const std::string& scan_id, const std::string& model_name,
                  const std::string& model_version);

}  // namespace csss::scans
