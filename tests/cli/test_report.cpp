// csss report and the delivery on approval: the encrypted PDF emailed to the patient with the open
// code in a second message, downloads by role (DRAFT previews for staff), FHIR, the stored file's
// hash, failed deliveries and resend. The PDFs are opened with the real pdftotext and qpdf.
#include <doctest/doctest.h>

#include <fstream>

#include "cli_fixture.hpp"
#include "clinic.hpp"
#include "crypto/base64.hpp"
#include "crypto/hash.hpp"
#include "notify/mail.hpp"
#include "util/fs.hpp"

using namespace csss::test;

namespace {

// The outbox messages to `to` whose subject starts with `subject`, oldest first.
std::vector<csss::notify::MailMessage> mail_to(const Cli& cli, const std::string& to,
                                               const std::string& subject) {
  std::vector<csss::notify::MailMessage> out;
  for (const fs::path& file : cli.outbox_messages()) {
    csss::notify::MailMessage m = csss::notify::parse_rfc5322(read_bytes(file));
    if (csss::notify::address_of(m.to) == to && m.subject.rfind(subject, 0) == 0)
      out.push_back(std::move(m));
  }
  return out;
}

std::string open_code_in(const csss::notify::MailMessage& m) {
  // "    XXXX-XXXX-XXXX" on a line of its own.
  for (std::size_t at = m.body.find("    "); at != std::string::npos;
       at = m.body.find("    ", at + 1)) {
    const std::string candidate = m.body.substr(at + 4, 14);
    if (candidate.size() == 14 && candidate[4] == '-' && candidate[9] == '-')
      return candidate;
  }
  return "";
}

ProcessResult pdf_text(const fs::path& file, const std::string& code) {
  return run_process({"/usr/bin/pdftotext", "-enc", "UTF-8", "-upw", code, file.string(), "-"});
}

struct Approved {
  std::string scan;
  std::string code;
  std::string pdf;  // the attachment
};

// A scan taken through all four roles; REQUIREs that the report went out.
Approved approve_one(Clinic& c, int seed = 0) {
  const std::string id = c.analysed_scan(seed);
  REQUIRE_OK(c.verify(id));
  REQUIRE_OK(c.prescribe(id));
  const auto a = c.approve(id);
  REQUIRE_OK(a);
  CHECK(contains(a.out, "emailed to zoe@clinic.example"));
  CHECK(a.err.empty());
  const auto reports = mail_to(c.cli, c.patient.email, "Your CSSS report is ready");
  const auto codes = mail_to(c.cli, c.patient.email, "Your CSSS report: the code");
  REQUIRE(!reports.empty());
  REQUIRE(!codes.empty());
  REQUIRE(reports.back().attachments.size() == 1);
  return {id, open_code_in(codes.back()), reports.back().attachments[0].data};
}

}  // namespace

TEST_CASE("report: approval emails the encrypted PDF, and the open code in a second message") {
  Clinic c;
  const Approved a = approve_one(c);
  CHECK(c.status(a.scan) == "report_delivered");
  REQUIRE(a.code.size() == 14);

  const auto reports = mail_to(c.cli, c.patient.email, "Your CSSS report is ready");
  const auto codes = mail_to(c.cli, c.patient.email, "Your CSSS report: the code");
  REQUIRE(reports.size() == 1);
  REQUIRE(codes.size() == 1);
  // No patient data in subjects; the code never travels with the PDF.
  for (const auto& m : {reports[0], codes[0]}) {
    CHECK(!contains(m.subject, "Zo"));
    CHECK(!contains(m.subject, a.scan));
  }
  CHECK(!contains(reports[0].body, a.code));
  CHECK(codes[0].attachments.empty());
  const auto& attachment = reports[0].attachments[0];
  CHECK(attachment.content_type == "application/pdf");
  CHECK(attachment.filename.ends_with(".pdf"));
  CHECK(a.pdf.rfind("%PDF-", 0) == 0);

  // It opens with the code, holds the record, and is stored once, with its hash.
  const fs::path file = c.cli.root() / "mailed.pdf";
  csss::util::write_private_file(file, a.pdf);
  const auto text = pdf_text(file, a.code);
  REQUIRE(text.exit_code == 0);
  for (const char* field : {"Zoë Ñúñez", "pneumonia", "90.0 %", "Consolidation right lower lobe.",
                            "Rest and fluids.", "Dr Ana Lee", "Jo Kim", "Ada Admin", "Page 1 of"}) {
    const std::string name = field;
    CAPTURE(name);
    CHECK(contains(text.out, field));
  }
  CHECK(pdf_text(file, "WRONG-CODE-0000").exit_code != 0);
  CHECK(
      run_process({"/usr/bin/qpdf", "--check", "--password=" + a.code, file.string()}).exit_code ==
      0);

  const auto status = c.admin.run({"report", "status", a.scan, "--json"});
  REQUIRE_OK(status);
  const auto doc = json_of(status);
  CHECK(doc["report"]["sha256"] == csss::crypto::sha256_hex(a.pdf));
  REQUIRE(doc["deliveries"].size() == 1);
  CHECK(doc["deliveries"][0]["state"] == "sent");
  CHECK(doc["deliveries"][0]["recipient"] == c.patient.email);
  const fs::path stored = c.cli.data_dir() / doc["report"]["file"].get<std::string>();
  CHECK(read_bytes(stored) == a.pdf);
  CHECK((fs::status(stored).permissions() & fs::perms::group_all) == fs::perms::none);
  CHECK((fs::status(stored).permissions() & fs::perms::others_all) == fs::perms::none);

  Store s(c.cli.db_path());
  CHECK(contains(s.exec("UPDATE reports SET sha256 = 'x'"), "cannot be changed"));
  CHECK(contains(s.exec("DELETE FROM reports"), "cannot be deleted"));
  CHECK(s.query_text("SELECT count(*) FROM audit_log WHERE action = 'report.issue'") == "1");
  CHECK(s.query_text("SELECT count(*) FROM audit_log WHERE action = 'report.sent'") == "1");
  // The open code is kept only sealed.
  CHECK(!contains(s.query_text("SELECT sealed_code FROM reports"), a.code));
}

TEST_CASE("report: the patient downloads the same file, and every download is audited") {
  Clinic c;
  const Approved a = approve_one(c);
  const auto got = c.pat.run({"report", a.scan, "-o", (c.cli.root() / "mine.pdf").string()});
  REQUIRE_OK(got);
  CHECK(contains(got.out, "opens with the code emailed to you"));
  CHECK(read_bytes(c.cli.root() / "mine.pdf") == a.pdf);
  // Not over an existing file, unless --force.
  CHECK_ERROR(c.pat.run({"report", a.scan, "-o", (c.cli.root() / "mine.pdf").string()}), 7,
              "exists already");
  CHECK_OK(c.pat.run({"report", a.scan, "-o", (c.cli.root() / "mine.pdf").string(), "--force"}));
  // The default file name, in the current directory.
  const auto dflt = run_process({csss_binary(), "report", a.scan},
                                {"", c.cli.base_env("patient"), c.cli.root().string()});
  CHECK(dflt.exit_code == 0);
  CHECK(read_bytes(c.cli.root() / ("report-" + a.scan + ".pdf")) == a.pdf);
  // To standard output (a pipe here).
  const auto piped = c.pat.run({"report", a.scan, "-o", "-"});
  REQUIRE_OK(piped);
  CHECK(piped.out == a.pdf);

  // Another patient learns nothing; a patient may not see the code from csss.
  CHECK_ERROR(c.other.run({"report", a.scan, "-o", (c.cli.root() / "x.pdf").string()}), 6,
              "no scan with ID");
  CHECK(!fs::exists(c.cli.root() / "x.pdf"));
  CHECK_ERROR(c.pat.run({"report", a.scan, "--show-code", "-o", "-"}), 4, "--show-code");
  // Staff may download any report, and read its code (audited).
  const auto staff = c.doc.run(
      {"report", a.scan, "--show-code", "--json", "-o", (c.cli.root() / "staff.pdf").string()});
  REQUIRE_OK(staff);
  CHECK(json_of(staff)["open_code"] == a.code);

  Store s(c.cli.db_path());
  CHECK(s.query_text("SELECT count(*) FROM audit_log WHERE action = 'report.download' AND "
                     "outcome = 'success'") == "5");
  CHECK(s.query_text("SELECT count(*) FROM audit_log WHERE action = 'report.download' AND "
                     "detail LIKE '%open code shown%'") == "1");

  // A stored report that was changed is refused, not handed out.
  const std::string file = s.query_text("SELECT file FROM reports");
  {
    std::ofstream out(c.cli.data_dir() / file, std::ios::app | std::ios::binary);
    out << "tampered";
  }
  CHECK_ERROR(c.pat.run({"report", a.scan, "-o", "-"}), 9, "no longer matches");
}

TEST_CASE("report: before approval staff get a DRAFT preview, patients nothing") {
  Clinic c;
  const std::string id = c.analysed_scan();
  REQUIRE_OK(c.verify(id));
  CHECK_ERROR(c.pat.run({"report", id, "-o", "-"}), 7, "no report yet");
  const fs::path file = c.cli.root() / "draft.pdf";
  const auto r = c.pharm.run({"report", id, "-o", file.string(), "--json"});
  REQUIRE_OK(r);
  const auto doc = json_of(r);
  CHECK(doc["draft"] == true);
  const std::string code = doc["open_code"];
  const auto text = pdf_text(file, code);
  REQUIRE(text.exit_code == 0);
  CHECK(contains(text.out, "DRAFT"));
  CHECK(contains(text.out, "not signed yet"));
  CHECK(contains(text.out, "Consolidation right lower lobe."));
  CHECK(c.status(id) == "doctor_verified");  // a preview changes nothing
  Store s(c.cli.db_path());
  CHECK(s.query_text("SELECT count(*) FROM reports") == "0");
  CHECK(s.query_text("SELECT count(*) FROM audit_log WHERE action = 'report.preview'") == "1");
}

TEST_CASE("report: FHIR R4 DiagnosticReport with the PDF as presentedForm") {
  Clinic c;
  const Approved a = approve_one(c);
  const auto r = c.pat.run({"report", a.scan, "--format", "fhir", "-o", "-"});
  REQUIRE_OK(r);
  const auto doc = nlohmann::json::parse(r.out);
  CHECK(doc["resourceType"] == "DiagnosticReport");
  CHECK(doc["status"] == "final");
  CHECK(doc["subject"]["display"] == "Zoë Ñúñez");
  CHECK(doc["subject"]["reference"].get<std::string>().rfind("Patient/", 0) == 0);
  CHECK(doc["performer"].size() == 3);
  CHECK(doc["contained"][0]["resourceType"] == "Observation");
  CHECK(doc["contained"][0]["valueCodeableConcept"]["text"] == "pneumonia");
  CHECK(doc["conclusion"].get<std::string>().find("Consolidation") != std::string::npos);
  CHECK(csss::crypto::base64_decode(doc["presentedForm"][0]["data"].get<std::string>()) == a.pdf);
  CHECK(doc["presentedForm"][0]["size"] == a.pdf.size());
}

TEST_CASE("report: a failed delivery keeps the approval, and resend delivers it later") {
  Clinic c;
  const std::string id = c.analysed_scan();
  REQUIRE_OK(c.verify(id));
  REQUIRE_OK(c.prescribe(id));
  // An SMTP server that is not there (nothing listens on port 1).
  const Env down{{"CSSS_SMTP_URL", "smtp://127.0.0.1:1"},
                 {"CSSS_SMTP_TLS", "none"},
                 {"CSSS_SMTP_TIMEOUT_SECONDS", "5"}};
  const auto a = c.admin.run({"approve", id, "--password-stdin", "--json"},
                             std::string(kAdminPassword) + "\n", down);
  REQUIRE(a.exit_code == 0);
  CHECK(contains(a.err, "warning: the scan is approved, but its report did not reach"));
  CHECK(contains(a.err, "csss report resend " + id));
  const auto doc = json_of(a);
  CHECK(doc["delivery"]["state"] == "failed");
  CHECK(c.status(id) == "approved");

  CHECK_ERROR(c.admin.run({"report", "resend", id}, "", down), 8, "could not be emailed");
  CHECK_ERROR(c.doc.run({"report", "resend", id}), 4, "permission denied");
  const auto again = c.admin.run({"report", "resend", id});
  REQUIRE_OK(again);
  CHECK(contains(again.out, "attempt 3"));
  CHECK(c.status(id) == "report_delivered");

  const auto status = c.admin.run({"report", "status", id, "--json"});
  const auto st = json_of(status);
  REQUIRE(st["deliveries"].size() == 3);
  CHECK(st["deliveries"][0]["state"] == "failed");
  CHECK(st["deliveries"][1]["state"] == "failed");
  CHECK(st["deliveries"][2]["state"] == "sent");
  CHECK(contains(st["deliveries"][0]["detail"].get<std::string>(), "127.0.0.1"));
  // One report, however many attempts.
  Store s(c.cli.db_path());
  CHECK(s.query_text("SELECT count(*) FROM reports") == "1");
  CHECK(contains(s.exec("UPDATE report_deliveries SET state = 'queued'"), "settled once"));
  CHECK(mail_to(c.cli, c.patient.email, "Your CSSS report is ready").size() == 1);
}

TEST_CASE("report: bad input") {
  Clinic c;
  CHECK_ERROR(c.doc.run({"report"}), 2, "needs a scan ID");
  CHECK_ERROR(c.doc.run({"report", "no-such-scan", "-o", "-"}), 6, "no scan with ID");
  CHECK_ERROR(c.doc.run({"report", "x", "--format", "docx"}), 2, "docx");
  CHECK_ERROR(c.admin.run({"report", "resend", "no-such-scan"}), 6, "no scan with ID");
  const std::string id = c.analysed_scan();
  CHECK_ERROR(c.admin.run({"report", "resend", id}), 7, "is ai_analysed");
  CHECK_ERROR(c.cli.run({"report", id}), 3, "");
}

TEST_CASE("report: the patient's date of birth, recorded with the account, is on the report") {
  Clinic c;
  CHECK_ERROR(c.admin.run({"user", "add", "--email", "p2@clinic.example", "--name", "P Two",
                           "--role", "patient", "--birth-date", "2023-02-30", "--password-stdin"},
                          "patient-password-02\n"),
              5, "not a date");
  CHECK_ERROR(c.admin.run({"user", "add", "--email", "p2@clinic.example", "--name", "P Two",
                           "--role", "patient", "--birth-date", "2999-01-01", "--password-stdin"},
                          "patient-password-02\n"),
              5, "between 1900-01-01 and today");
  CHECK_ERROR(c.admin.run({"user", "add", "--email", "d2@clinic.example", "--name", "D Two",
                           "--role", "doctor", "--birth-date", "1970-01-01", "--password-stdin"},
                          "doctor-password-02\n"),
              5, "patient accounts only");
  REQUIRE_OK(c.admin.run({"user", "add", "--email", "p2@clinic.example", "--name", "P Two",
                          "--role", "patient", "--birth-date", "1984-07-12", "--password-stdin"},
                         "patient-password-02\n"));
  Session p2 = c.cli.as("p2");
  p2.login("p2@clinic.example", "patient-password-02");
  const std::string id =
      upload(p2, write_png(c.cli.root() / "p2.png", 24, 16, 7), {"--modality", "CR"});
  const fs::path file = c.cli.root() / "p2.pdf";
  const auto r = c.doc.run({"report", id, "-o", file.string(), "--json"});
  REQUIRE_OK(r);
  const auto text = pdf_text(file, json_of(r)["open_code"]);
  CHECK(contains(text.out, "1984-07-12"));
  CHECK(contains(text.out, "No AI result has been recorded"));
}
