#include "report/reports.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "audit/audit_log.hpp"
#include "auth/policy.hpp"
#include "config/config.hpp"
#include "crypto/hash.hpp"
#include "crypto/random.hpp"
#include "crypto/secretbox.hpp"
#include "imaging/image.hpp"
#include "notify/mail.hpp"
#include "report/encrypt.hpp"
#include "report/fhir.hpp"
#include "scans/scans.hpp"
#include "store/database.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/time.hpp"
#include "workflow/workflow.hpp"

namespace csss::report {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Images on the report are at most this many pixels on their longer side (about 300 dpi at the
// printed size of 6 cm) and JPEG-compressed: the report shows what was analysed, it is not the
// image to read (that is the stored scan). This keeps a report near 300 kB whatever the scan.
constexpr int kImageSide = 720;
constexpr int kJpegQuality = 90;
// Reports are small; anything this large in the reports folder is not one of ours.
constexpr std::size_t kMaxReportBytes = std::size_t{256} << 20;

std::string jpeg_bytes(const imaging::Image& image) {
  const std::vector<std::uint8_t> jpeg =
      imaging::encode_jpeg(imaging::downscale(image, kImageSide), kJpegQuality);
  return {reinterpret_cast<const char*>(jpeg.data()), jpeg.size()};
}

SignatureBlock block_of(const workflow::Signature& s) {
  return {s.signer_name, s.signer_role, s.meaning, s.id, s.signer_id, s.signed_at};
}

std::string day_of(util::UnixSeconds t) {
  return util::format_utc(t).substr(0, 10);
}

StoredReport read_report(store::Statement& st) {
  StoredReport r;
  r.id = st.get_text(0);
  r.scan_id = st.get_text(1);
  r.approval_id = st.get_text(2);
  r.file = st.get_text(3);
  r.size_bytes = st.get_int(4);
  r.sha256 = st.get_text(5);
  r.content_sha256 = st.get_text(6);
  r.created_at = st.get_int(7);
  return r;
}

constexpr const char* kReportColumns =
    "id, scan_id, approval_id, file, size_bytes, sha256, content_sha256, created_at";

}  // namespace

ReportSettings ReportSettings::from(const config::Config& config) {
  ReportSettings s;
  s.facility_name = config.get("report.facility_name");
  s.facility_address = config.get("report.facility_address");
  s.fonts.regular = config.get("report.font");
  s.fonts.bold = config.get("report.font_bold");
  s.mail_from = config.get("mail.from");
  return s;
}

std::string default_file_name(const std::string& scan_id, Format format) {
  return fmt::format("report-{}.{}", scan_id, format == Format::pdf ? "pdf" : "fhir.json");
}

Reports::Reports(store::Database& db, const util::Clock& clock, audit::AuditLog& audit,
                 scans::Scans& scans, workflow::Workflow& workflow, notify::MailTransport& mail,
                 ReportSettings settings)
    : db_(db),
      clock_(clock),
      audit_(audit),
      scans_(scans),
      workflow_(workflow),
      mail_(mail),
      settings_(std::move(settings)) {}

fs::path Reports::key_file() const {
  return scans_.data_dir() / "keys" / "reports.key";
}

std::optional<StoredReport> find_stored(store::Database& db, const std::string& scan_id) {
  auto st = db.prepare(fmt::format("SELECT {} FROM reports WHERE scan_id = ?", kReportColumns));
  st.bind(1, scan_id);
  if (!st.step())
    return std::nullopt;
  return read_report(st);
}

std::optional<StoredReport> Reports::find(const std::string& scan_id) const {
  return find_stored(db_, scan_id);
}

ReportContent Reports::gather(const auth::Principal& who, const std::string& scan_id, bool draft) {
  const workflow::Record record = workflow_.record(who, scan_id);
  const scans::Scan& scan = record.scan;
  ReportContent c;
  c.report_id = crypto::random_uuid();
  c.draft = draft;
  c.generated_at = clock_.now();
  c.facility_name = settings_.facility_name;
  c.facility_address = settings_.facility_address;

  c.patient_id = scan.patient_id;
  c.patient_name = scan.patient_name;
  {
    auto st = db_.prepare(
        "SELECT coalesce(external_id, ''), coalesce(birth_date, '') FROM patients WHERE id = ?");
    st.bind(1, scan.patient_id);
    if (st.step()) {
      c.patient_reference = st.get_text(0);
      c.patient_birth_date = st.get_text(1);
    }
  }
  if (c.patient_reference.empty())
    c.patient_reference = scan.dicom_patient_id;
  c.scan_id = scan.id;
  c.modality = scan.modality;
  c.body_part = scan.body_part;
  c.scan_format = std::string(imaging::to_string(scan.format));
  c.uploaded_at = scan.created_at;

  // The AI result the doctor verified (else the latest one), the doctor's findings and the
  // pharmacist's prescription: the latest signed version of each (addenda included).
  const workflow::Signature* verification = workflow::latest(record.signatures, "verification");
  const workflow::Signature* prescription = workflow::latest(record.signatures, "prescription");
  const workflow::Signature* approval = workflow::latest(record.signatures, "approval");
  std::string verified_analysis;
  if (verification != nullptr) {
    const json v = json::parse(verification->content);
    c.diagnosis = v.value("diagnosis", "");
    c.agrees_with_ai = v.value("agrees_with_ai", false);
    c.findings = v.value("notes", "");
    if (v.contains("analysis") && v["analysis"].is_object())
      verified_analysis = v["analysis"].value("id", "");
  }
  if (prescription != nullptr)
    c.prescription = json::parse(prescription->content).value("text", "");
  for (const workflow::Signature* s : {verification, prescription, approval}) {
    if (s != nullptr)
      c.signatures.push_back(block_of(*s));
  }

  const scans::Analysis* analysis = record.analyses.empty() ? nullptr : &record.analyses.back();
  for (const scans::Analysis& a : record.analyses) {
    if (a.id == verified_analysis)
      analysis = &a;
  }
  if (analysis != nullptr) {
    c.has_analysis = true;
    c.model_name = analysis->model_name;
    c.model_version = analysis->model_version;
    c.weights_sha256 = analysis->weights_sha256;
    c.predicted_class = analysis->predicted_class;
    c.confidence = analysis->confidence;
    c.threshold = analysis->threshold;
    c.uncertain = analysis->uncertain;
    c.risk = analysis->risk;
    c.probabilities = analysis->probabilities;
    c.analysed_at = analysis->created_at;
  }

  c.scan_jpeg = jpeg_bytes(scans_.image_of(scan));
  if (analysis != nullptr && !analysis->heatmap.empty()) {
    const std::string overlay =
        util::read_file(scans_.data_dir() / analysis->heatmap, std::size_t{256} << 20);
    const imaging::Decoded decoded = imaging::decode(
        std::span(reinterpret_cast<const std::uint8_t*>(overlay.data()), overlay.size()),
        imaging::Limits{}, "the Grad-CAM overlay");
    c.overlay_jpeg = jpeg_bytes(decoded.image);
  }
  return c;
}

StoredReport Reports::issue(const auth::Principal& who, const std::string& scan_id, bool& created) {
  created = false;
  if (auto existing = find(scan_id))
    return *existing;
  const scans::Scan scan = scans_.get(who, scan_id);
  if (scan.status != "approved" && scan.status != "report_delivered") {
    throw Error(
        ErrorKind::conflict,
        fmt::format("scan {} is {}: a report is issued once it is approved", scan_id, scan.status));
  }
  ReportContent content = gather(who, scan_id, /*draft=*/false);
  if (content.signatures.size() < 3 || content.signatures.back().meaning != "approved")
    throw Error(ErrorKind::integrity, fmt::format("scan {} lacks its approval", scan_id));

  // Rendered and encrypted in memory; only the encrypted file is written.
  const std::string open_code = crypto::random_code(3, 4);
  const std::string pdf =
      encrypt_pdf(render_pdf(content, settings_.fonts), open_code, crypto::random_hex(32));
  const crypto::SecretKey key = crypto::SecretKey::load_or_create(key_file());

  StoredReport r;
  r.id = content.report_id;
  r.scan_id = scan_id;
  r.approval_id = content.signatures.back().signature_id;
  r.file = fmt::format("reports/{}.pdf", r.id);
  r.size_bytes = static_cast<std::int64_t>(pdf.size());
  r.sha256 = crypto::sha256_hex(pdf);
  r.content_sha256 = content_sha256(content);
  r.created_at = content.generated_at;

  store::Transaction tx(db_);
  // Another process may have issued it meanwhile (the write lock is held from here on).
  if (auto existing = find(scan_id))
    return *existing;
  util::ensure_private_dir(scans_.data_dir() / "reports");
  util::write_private_file(scans_.data_dir() / r.file, pdf);
  try {
    db_.prepare(
           "INSERT INTO reports (id, scan_id, approval_id, file, size_bytes, sha256, content, "
           "content_sha256, sealed_code, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
        .bind_all(r.id, r.scan_id, r.approval_id, r.file, r.size_bytes, r.sha256,
                  canonical_json(content), r.content_sha256, key.seal(open_code), r.created_at)
        .run();
    audit_.append(
        {who.email, "report.issue", "scan:" + scan_id, audit::Outcome::success,
         fmt::format("report {}, sha256 {}, content sha256 {}", r.id, r.sha256, r.content_sha256)});
    tx.commit();
  } catch (...) {
    std::error_code ec;
    fs::remove(scans_.data_dir() / r.file, ec);
    throw;
  }
  created = true;
  return r;
}

std::string Reports::read_stored(const StoredReport& report) const {
  const std::string bytes = util::read_file(scans_.data_dir() / report.file, kMaxReportBytes);
  if (!crypto::constant_time_equal(crypto::sha256_hex(bytes), report.sha256)) {
    throw Error(ErrorKind::integrity,
                fmt::format("report {}: the stored file no longer matches the SHA-256 recorded "
                            "when it was issued",
                            report.id));
  }
  return bytes;
}

std::string Reports::open_code_of(const StoredReport& report) const {
  auto st = db_.prepare("SELECT sealed_code FROM reports WHERE id = ?");
  st.bind(1, report.id);
  if (!st.step())
    throw Error(ErrorKind::not_found, fmt::format("no report with ID '{}'", report.id));
  return crypto::SecretKey::load_or_create(key_file()).open(st.get_text(0));
}

DeliveryOutcome Reports::deliver(const auth::Principal& who, const std::string& scan_id) {
  auth::require(who, auth::Action::approve_report, "scan:" + scan_id, audit_);
  DeliveryOutcome out;
  out.report = issue(who, scan_id, out.created);
  const scans::Scan scan = scans_.get(who, scan_id);
  const std::string pdf = read_stored(out.report);
  const std::string open_code = open_code_of(out.report);

  Delivery& d = out.delivery;
  d.recipient = scan.patient_email;
  d.state = "queued";
  d.actor = who.email;
  d.created_at = d.updated_at = clock_.now();
  {
    store::Transaction tx(db_);
    auto st = db_.prepare(
        "SELECT coalesce(max(attempt), 0) + 1 FROM report_deliveries WHERE report_id = ?");
    st.bind(1, out.report.id);
    st.step();
    d.attempt = static_cast<int>(st.get_int(0));
    db_.prepare(
           "INSERT INTO report_deliveries (report_id, attempt, recipient, state, detail, "
           "actor_id, created_at, updated_at) VALUES (?, ?, ?, 'queued', '', ?, ?, ?)")
        .bind_all(out.report.id, d.attempt, d.recipient, who.user_id, d.created_at, d.updated_at)
        .run();
    d.id = db_.last_insert_rowid();
    tx.commit();
  }

  // The PDF in one message, the code that opens it in another: whoever intercepts one of them
  // cannot read the report. Subjects carry no patient data.
  std::string failure;
  std::vector<std::string> places;
  if (d.recipient.empty()) {
    failure = "the patient has no account with an email address";
  } else {
    const std::string uploaded = day_of(scan.created_at);
    notify::MailMessage report_message{
        settings_.mail_from,
        d.recipient,
        "Your CSSS report is ready",
        fmt::format("Dear {},\n\n"
                    "the report on your scan of {} has been approved and is attached to this "
                    "message (report {}).\n\n"
                    "The report is encrypted. The code that opens it comes in a separate "
                    "message; keep the two apart, and do not forward them.\n\n"
                    "The scan was screened with the help of an AI model and read by a licensed "
                    "physician. Please talk to your doctor about what the report means for "
                    "you.\n\n{}\n",
                    scan.patient_name, uploaded, out.report.id, settings_.facility_name),
        {notify::Attachment{fmt::format("csss-report-{}.pdf", out.report.id.substr(0, 8)),
                            "application/pdf", pdf}}};
    notify::MailMessage code_message{
        settings_.mail_from,
        d.recipient,
        "Your CSSS report: the code to open it",
        fmt::format("Dear {},\n\n"
                    "the code that opens your report {} (sent in a separate message) is:\n\n"
                    "    {}\n\n"
                    "Type it when your PDF reader asks for a password. Keep it private.\n\n{}\n",
                    scan.patient_name, out.report.id, open_code, settings_.facility_name),
        {}};
    try {
      places.push_back(mail_.send(report_message));
      places.push_back(mail_.send(code_message));
    } catch (const Error& e) {
      failure = places.empty()
                    ? std::string(e.what())
                    : fmt::format("the report went out but the code did not: {}", e.what());
    }
  }

  d.state = failure.empty() ? "sent" : "failed";
  d.detail =
      failure.empty() ? fmt::format("report: {}; code: {}", places.at(0), places.at(1)) : failure;
  d.updated_at = clock_.now();
  store::Transaction tx(db_);
  db_.prepare("UPDATE report_deliveries SET state = ?, detail = ?, updated_at = ? WHERE id = ?")
      .bind_all(d.state, d.detail, d.updated_at, d.id)
      .run();
  if (failure.empty())
    workflow_.mark_delivered(who, scan_id, d.updated_at);
  audit_.append({who.email, failure.empty() ? "report.sent" : "report.delivery_failed",
                 "scan:" + scan_id,
                 failure.empty() ? audit::Outcome::success : audit::Outcome::failure,
                 fmt::format("report {}, attempt {}, to {}: {}", out.report.id, d.attempt,
                             d.recipient.empty() ? "-" : d.recipient, d.detail)});
  tx.commit();
  return out;
}

Download Reports::download(const auth::Principal& who, const std::string& scan_id,
                           const DownloadRequest& request) {
  const bool staff = auth::is_allowed(who.role, auth::Action::download_any_report);
  auth::require(who, staff ? auth::Action::download_any_report : auth::Action::download_own_report,
                "scan:" + scan_id, audit_);
  const scans::Scan scan = scans_.get(who, scan_id);  // patients: their own scans only
  if (request.show_code && !staff) {
    throw Error(ErrorKind::permission,
                "permission denied: the open code is sent to the patient by email; --show-code "
                "is for staff");
  }
  Download out;
  out.format = request.format;
  const std::optional<StoredReport> stored = find(scan.id);
  if (stored) {
    const std::string pdf = read_stored(*stored);
    out.report_id = stored->id;
    if (request.format == Format::pdf) {
      out.bytes = pdf;
    } else {
      std::string content_text;
      auto st = db_.prepare("SELECT content FROM reports WHERE id = ?");
      st.bind(1, stored->id);
      st.step();
      content_text = st.get_text(0);
      ReportContent content = content_from_json(content_text);
      content.generated_at = stored->created_at;
      out.bytes = to_fhir(content, pdf);
    }
    if (request.show_code)
      out.open_code = open_code_of(*stored);
  } else {
    if (!staff) {
      audit_.append({who.email, "report.download", "scan:" + scan.id, audit::Outcome::failure,
                     "no approved report yet"});
      throw Error(ErrorKind::conflict,
                  fmt::format("scan {} has no report yet: it is {}, and a report is issued once "
                              "it is approved",
                              scan.id, scan.status));
    }
    if (scan.status == "rejected") {
      throw Error(ErrorKind::conflict,
                  fmt::format("scan {} was rejected: it gets no report", scan.id));
    }
    const ReportContent content = gather(who, scan.id, /*draft=*/true);
    out.draft = true;
    out.report_id = content.report_id;
    out.open_code = crypto::random_code(3, 4);
    const std::string pdf =
        encrypt_pdf(render_pdf(content, settings_.fonts), out.open_code, crypto::random_hex(32));
    out.bytes = request.format == Format::pdf ? pdf : to_fhir(content, pdf);
  }
  out.sha256 = crypto::sha256_hex(out.bytes);
  audit_.append({who.email, out.draft ? "report.preview" : "report.download", "scan:" + scan.id,
                 audit::Outcome::success,
                 fmt::format("report {}, {}, sha256 {}{}", out.report_id,
                             request.format == Format::pdf ? "pdf" : "fhir", out.sha256,
                             request.show_code ? ", open code shown" : "")});
  return out;
}

std::optional<StoredReport> Reports::stored(const auth::Principal& who,
                                            const std::string& scan_id) {
  const scans::Scan scan = scans_.get(who, scan_id);
  return find(scan.id);
}

std::vector<Delivery> Reports::deliveries(const auth::Principal& who, const std::string& scan_id) {
  const scans::Scan scan = scans_.get(who, scan_id);
  std::vector<Delivery> out;
  auto st = db_.prepare(
      "SELECT d.id, d.attempt, d.recipient, d.state, d.detail, u.email, d.created_at, "
      "d.updated_at FROM report_deliveries d JOIN reports r ON r.id = d.report_id "
      "JOIN users u ON u.id = d.actor_id WHERE r.scan_id = ? ORDER BY d.attempt");
  st.bind(1, scan.id);
  while (st.step()) {
    out.push_back({st.get_int(0), static_cast<int>(st.get_int(1)), st.get_text(2), st.get_text(3),
                   st.get_text(4), st.get_text(5), st.get_int(6), st.get_int(7)});
  }
  return out;
}

}  // namespace csss::report
