#pragma once

// What a diagnostic report says, gathered from a scan's record, before it becomes a PDF or a FHIR
// document. Plain data: the renderers (pdf.hpp, fhir.hpp) never read the store.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/clock.hpp"

namespace csss::report {

struct SignatureBlock {
  std::string name;     // printed name of the signer
  std::string role;     // doctor, pharmacist, admin
  std::string meaning;  // verified, prescribed, approved
  std::string signature_id;
  std::int64_t signer_id = 0;  // the signer's account
  util::UnixSeconds signed_at = 0;
};

struct ReportContent {
  std::string report_id;
  bool draft = false;  // a preview before approval: DRAFT on every page, status "preliminary"
  util::UnixSeconds generated_at = 0;

  std::string facility_name;
  std::string facility_address;  // may hold line breaks

  std::int64_t patient_id = 0;    // the patient record's number
  std::string patient_reference;  // the medical record number or DICOM PatientID, "" if none
  std::string patient_name;
  std::string patient_birth_date;  // YYYY-MM-DD, "" when not recorded

  std::string scan_id;
  std::string modality;
  std::string body_part;
  std::string scan_format;  // png, jpeg, dicom
  util::UnixSeconds uploaded_at = 0;

  bool has_analysis = false;
  std::string model_name;
  std::string model_version;
  std::string weights_sha256;
  std::string predicted_class;
  double confidence = 0;  // 0..1
  double threshold = 0;
  bool uncertain = false;
  std::string risk;
  std::vector<std::pair<std::string, double>> probabilities;
  util::UnixSeconds analysed_at = 0;

  std::string diagnosis;  // the doctor's: the AI's class agreed with, or another class
  bool agrees_with_ai = false;
  std::string findings;  // the doctor's clinical notes
  std::string prescription;

  std::vector<SignatureBlock> signatures;  // verification, prescription, approval (in that order)

  std::string scan_jpeg;     // the scan as JPEG bytes (may be empty)
  std::string overlay_jpeg;  // the Grad-CAM overlay as JPEG bytes (may be empty)
};

// Canonical JSON of every field but the images, which enter as their SHA-256: what the report
// says, independent of how it is laid out.
std::string canonical_json(const ReportContent& content);

// The content canonical_json() wrote (without the images, which it holds only as hashes). Throws
// Error(integrity) when `text` is not such a document.
ReportContent content_from_json(std::string_view text);

// SHA-256 (hex) of canonical_json(): printed on every report, so that a printed or emailed copy
// can be matched with the record.
std::string content_sha256(const ReportContent& content);

// "Uncertain (pneumonia, 54.1 %)" or "pneumonia (91.2 %)": the AI result as the report states it.
std::string ai_result_text(const ReportContent& content);

}  // namespace csss::report
