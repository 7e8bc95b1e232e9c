// lib/report: the PDF (libharu), its AES-256 encryption (qpdf) and the FHIR document, checked with
// the real tools a reader would use: pdftotext (poppler-utils) and qpdf.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <string>

#include "crypto/base64.hpp"
#include "imaging/image.hpp"
#include "report/content.hpp"
#include "report/encrypt.hpp"
#include "report/fhir.hpp"
#include "report/pdf.hpp"
#include "support/check_error.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "util/fs.hpp"

using namespace csss;
using namespace csss::report;
using csss::test::run_process;
using csss::test::TempDir;

namespace {

std::string jpeg_of(int w, int h, int channels) {
  imaging::Image image{w, h, channels, {}};
  image.pixels.resize(static_cast<std::size_t>(w * h * channels));
  for (std::size_t i = 0; i < image.pixels.size(); ++i)
    image.pixels[i] = static_cast<std::uint8_t>(i * 7 % 251);
  const auto jpeg = imaging::encode_jpeg(image, 90);
  return {reinterpret_cast<const char*>(jpeg.data()), jpeg.size()};
}

ReportContent sample() {
  ReportContent c;
  c.report_id = "8a4f6a2e-1b2c-4d3e-9f00-112233445566";
  c.generated_at = 1795000000;
  c.facility_name = "Hôpital Saint-Éloi";
  c.facility_address = "12 rue de la Santé\n75014 Paris";
  c.patient_id = 42;
  c.patient_reference = "MRN-0042";
  c.patient_name = "Zoë Ñúñez";
  c.patient_birth_date = "1980-02-29";
  c.scan_id = "0f1e2d3c-4b5a-4697-8877-665544332211";
  c.modality = "CR";
  c.body_part = "CHEST";
  c.scan_format = "dicom";
  c.uploaded_at = 1794990000;
  c.has_analysis = true;
  c.model_name = "covid-cxr";
  c.model_version = "1.0.0";
  c.weights_sha256 = std::string(64, 'a');
  c.predicted_class = "covid19";
  c.confidence = 0.912;
  c.threshold = 0.6;
  c.risk = "high";
  c.probabilities = {{"covid19", 0.912}, {"normal", 0.088}};
  c.analysed_at = 1794991000;
  c.diagnosis = "covid19";
  c.agrees_with_ai = true;
  c.findings = "Bilateral peripheral ground-glass opacities; reviewed by Łukasz.";
  c.prescription = "Paracetamol 500 mg, up to four times a day.";
  c.signatures = {{"Dr Łukasz Wójcik", "doctor", "verified", "sig-1", 3, 1794992000},
                  {"Ana Pharm", "pharmacist", "prescribed", "sig-2", 4, 1794993000},
                  {"Admin Ädmin", "admin", "approved", "sig-3", 1, 1794994000}};
  c.scan_jpeg = jpeg_of(300, 200, 1);
  c.overlay_jpeg = jpeg_of(300, 200, 3);
  return c;
}

// The text of an encrypted PDF, through pdftotext with the open code.
test::ProcessResult pdf_text(const std::filesystem::path& file, const std::string& code) {
  return run_process(
      {"/usr/bin/pdftotext", "-layout", "-enc", "UTF-8", "-upw", code, file.string(), "-"});
}

// pdftotext puts nothing between words of one line but spaces; joins the lines for searching.
std::string flat(std::string text) {
  std::string out;
  bool space = false;
  for (char ch : text) {
    if (ch == '\n' || ch == ' ' || ch == '\f') {
      space = true;
      continue;
    }
    if (space && !out.empty())
      out.push_back(' ');
    space = false;
    out.push_back(ch);
  }
  return out;
}

}  // namespace

TEST_CASE("report: the PDF holds every field, opens only with the code, and checks clean") {
  TempDir dir;
  const ReportContent c = sample();
  const std::string plain = render_pdf(c, Fonts{});
  REQUIRE(plain.rfind("%PDF-", 0) == 0);
  const std::string pdf = encrypt_pdf(plain, "K7QM-4XZP-9TWA", "owner-secret");
  util::write_private_file(dir / "r.pdf", pdf);

  const auto text = pdf_text(dir / "r.pdf", "K7QM-4XZP-9TWA");
  REQUIRE(text.exit_code == 0);
  CHECK(text.err.empty());  // no complaint about the font's ToUnicode map
  const std::string t = flat(text.out);
  for (const char* field : {"Hôpital Saint-Éloi",
                            "75014 Paris",
                            "Zoë Ñúñez",
                            "P-000042",
                            "MRN-0042",
                            "1980-02-29",
                            "0f1e2d3c-4b5a-4697-8877-665544332211",
                            "CR · CHEST",
                            "covid19 (91.2 %)",
                            "8.8 %",
                            "Risk level: high",
                            "covid-cxr",
                            "1.0.0",
                            "Bilateral peripheral ground-glass opacities",
                            "Paracetamol 500 mg",
                            "Dr Łukasz Wójcik",
                            "Role: pharmacist",
                            "Meaning: approved",
                            "2026-11-18",
                            "UTC",
                            "8a4f6a2e-1b2c-4d3e-9f00-112233445566",
                            "Page 1 of"}) {
    const std::string name = field;
    CAPTURE(name);
    CHECK(t.find(field) != std::string::npos);
  }
  CHECK(t.find(content_sha256(c)) != std::string::npos);
  CHECK(t.find("DRAFT") == std::string::npos);
  // The diagonal watermark, once on every page (pdftotext -raw keeps text in drawing order).
  const auto raw = run_process({"/usr/bin/pdftotext", "-raw", "-enc", "UTF-8", "-upw",
                                "K7QM-4XZP-9TWA", (dir / "r.pdf").string(), "-"});
  const auto npages = run_process(
      {"/usr/bin/qpdf", "--password=K7QM-4XZP-9TWA", "--show-npages", (dir / "r.pdf").string()});
  // Rotated text comes out in pieces (a word or a letter per line): compared without spaces.
  const auto squeeze = [](std::string_view input) {
    std::string out;
    for (char ch : input) {
      if (ch != ' ' && ch != '\n' && ch != '\f')
        out.push_back(ch);
    }
    return out;
  };
  const std::string mark = squeeze(kWatermark);
  const std::string squeezed = squeeze(raw.out);
  std::size_t marks = 0;
  for (std::size_t at = squeezed.find(mark); at != std::string::npos;
       at = squeezed.find(mark, at + 1))
    ++marks;
  CHECK(marks == static_cast<std::size_t>(std::stoi(npages.out)));

  // Without the code, or with a wrong one, it does not open.
  CHECK(run_process({"/usr/bin/pdftotext", (dir / "r.pdf").string(), "-"}).exit_code != 0);
  CHECK(pdf_text(dir / "r.pdf", "K7QM-4XZP-9TWB").exit_code != 0);

  const auto check = run_process(
      {"/usr/bin/qpdf", "--check", "--password=K7QM-4XZP-9TWA", (dir / "r.pdf").string()});
  CHECK(check.exit_code == 0);
  const auto enc = run_process({"/usr/bin/qpdf", "--show-encryption", "--password=K7QM-4XZP-9TWA",
                                (dir / "r.pdf").string()});
  REQUIRE(enc.exit_code == 0);
  CHECK(enc.out.find("R = 6") != std::string::npos);
  CHECK(enc.out.find("AESv3") != std::string::npos);
  CHECK(enc.out.find("modify other: not allowed") != std::string::npos);
  CHECK(enc.out.find("modify annotations: not allowed") != std::string::npos);
  CHECK(enc.out.find("extract for any purpose: allowed") != std::string::npos);
  CHECK(enc.out.find("print high resolution: allowed") != std::string::npos);
}

TEST_CASE("report: a 5,000-character finding flows onto further pages without loss") {
  TempDir dir;
  ReportContent c = sample();
  std::string finding;
  int word = 0;
  while (finding.size() < 5000) {
    finding += "finding" + std::to_string(word) + (word % 37 == 36 ? "\n" : " ");
    ++word;
  }
  // A word longer than a line is cut, not lost.
  finding += std::string(150, 'X');
  c.findings = finding;
  const std::string pdf = encrypt_pdf(render_pdf(c, Fonts{}), "CODE", "owner");
  util::write_private_file(dir / "long.pdf", pdf);
  const auto text = pdf_text(dir / "long.pdf", "CODE");
  REQUIRE(text.exit_code == 0);
  const std::string t = flat(text.out);
  for (int i = 0; i < word; ++i) {
    const std::string w = " finding" + std::to_string(i) + " ";
    if (t.find(w) == std::string::npos) {
      FAIL("lost " << w);
    }
  }
  std::string xs;
  for (char ch : t) {
    if (ch == 'X')
      xs.push_back(ch);
  }
  CHECK(xs.size() >= 150);
  CHECK(t.find("Page 2 of") != std::string::npos);
  const auto pages = run_process(
      {"/usr/bin/qpdf", "--password=CODE", "--show-npages", (dir / "long.pdf").string()});
  CHECK(std::stoi(pages.out) >= 2);
}

TEST_CASE("report: a draft says DRAFT on every page") {
  TempDir dir;
  ReportContent c = sample();
  c.draft = true;
  c.signatures.resize(1);
  c.prescription.clear();
  c.findings = std::string(3000, 'a') + " " + std::string(3000, 'b');
  util::write_private_file(dir / "d.pdf", encrypt_pdf(render_pdf(c, Fonts{}), "X", "Y"));
  const auto text = pdf_text(dir / "d.pdf", "X");
  REQUIRE(text.exit_code == 0);
  const std::string t = text.out;
  std::size_t pages = 1;
  for (char ch : t)
    pages += ch == '\f' ? 1 : 0;
  std::size_t drafts = 0;
  for (std::size_t at = t.find("DRAFT (not approved)"); at != std::string::npos;
       at = t.find("DRAFT (not approved)", at + 1))
    ++drafts;
  CHECK(pages >= 3);
  CHECK(drafts + 1 >= pages);  // one per page (the text after the last form feed is empty)
  CHECK(flat(t).find("not signed yet") != std::string::npos);
}

TEST_CASE("report: text outside the font and malformed UTF-8 do not break the PDF") {
  ReportContent c = sample();
  c.findings = "emoji \xF0\x9F\x98\x80 bad \xC3 tab\there";
  c.patient_name = "\xE4\xB8\xAD\xE6\x96\x87 Name";  // CJK: not in DejaVu Sans
  CHECK_NOTHROW(encrypt_pdf(render_pdf(c, Fonts{}), "c", "o"));
}

TEST_CASE("report: a missing font and a bad image are named") {
  ReportContent c = sample();
  Fonts fonts;
  fonts.regular = "/nonexistent/font.ttf";
  test::check_error([&] { (void)render_pdf(c, fonts); }, ErrorKind::io, "/nonexistent/font.ttf");
  c.scan_jpeg = "not a jpeg";
  test::check_error([&] { (void)render_pdf(c, Fonts{}); }, ErrorKind::invalid_input, "scan image");
  test::check_error([&] { (void)encrypt_pdf("not a pdf", "a", "b"); }, ErrorKind::invalid_input,
                    "not a PDF");
}

TEST_CASE("report: the content hash covers what the report says") {
  const ReportContent a = sample();
  ReportContent b = a;
  CHECK(content_sha256(a) == content_sha256(b));
  b.generated_at += 100;  // when it was rendered is not what it says
  CHECK(content_sha256(a) == content_sha256(b));
  b.findings += ".";
  CHECK(content_sha256(a) != content_sha256(b));
  b = a;
  b.overlay_jpeg = jpeg_of(10, 10, 3);
  CHECK(content_sha256(a) != content_sha256(b));
  // Read back from its canonical JSON, the content is the same (the images aside).
  ReportContent back = content_from_json(canonical_json(a));
  back.scan_jpeg = a.scan_jpeg;
  back.overlay_jpeg = a.overlay_jpeg;
  CHECK(canonical_json(back) == canonical_json(a));
  test::check_error([&] { (void)content_from_json("{}"); }, ErrorKind::integrity, "not readable");
}

TEST_CASE("report: FHIR R4 DiagnosticReport") {
  const ReportContent c = sample();
  const std::string pdf = "%PDF-1.7 fake bytes";
  const nlohmann::json doc = nlohmann::json::parse(to_fhir(c, pdf));
  CHECK(doc["resourceType"] == "DiagnosticReport");
  CHECK(doc["id"] == c.report_id);
  CHECK(doc["status"] == "final");
  CHECK(doc["code"]["coding"][0]["system"] == "http://loinc.org");
  CHECK(doc["subject"]["reference"] == "Patient/42");
  CHECK(doc["subject"]["display"] == "Zoë Ñúñez");
  CHECK(doc["issued"] == "2026-11-18T09:26:40Z");
  REQUIRE(doc["performer"].is_array());
  CHECK(doc["performer"].size() == 3);
  CHECK(doc["performer"][0]["reference"] == "Practitioner/3");
  CHECK(doc["resultsInterpreter"][0]["display"] == "Dr Łukasz Wójcik (doctor)");
  CHECK(doc["conclusion"].get<std::string>().find("ground-glass") != std::string::npos);
  REQUIRE(doc["result"][0]["reference"] == "#ai-result");
  const auto& obs = doc["contained"][0];
  CHECK(obs["resourceType"] == "Observation");
  CHECK(obs["id"] == "ai-result");
  CHECK(obs["valueCodeableConcept"]["text"] == "covid19");
  CHECK(obs["subject"]["reference"] == "Patient/42");
  REQUIRE(obs["component"].size() == 3);
  CHECK(obs["component"][0]["valueQuantity"]["value"].is_number());
  CHECK(obs["component"][1]["code"]["text"] == "probability of covid19");
  const auto& form = doc["presentedForm"][0];
  CHECK(form["contentType"] == "application/pdf");
  CHECK(form["size"] == pdf.size());
  CHECK(crypto::base64_decode(form["data"].get<std::string>()) == pdf);

  ReportContent draft = c;
  draft.draft = true;
  draft.uncertain = true;
  const nlohmann::json d = nlohmann::json::parse(to_fhir(draft, pdf));
  CHECK(d["status"] == "preliminary");
  CHECK(d["contained"][0]["status"] == "preliminary");
  CHECK(d["contained"][0]["valueCodeableConcept"]["text"] == "Uncertain");
}

TEST_CASE(
    "report: Latin, Greek and Cyrillic text uses the font subsets, other scripts the full fonts") {
  TempDir dir;
  ReportContent c = sample();
  CHECK(uses_subset_fonts(c, Fonts{}));
  const std::string small = encrypt_pdf(render_pdf(c, Fonts{}), "C", "O");
  Fonts no_subset;
  no_subset.allow_subset = false;
  CHECK_FALSE(uses_subset_fonts(c, no_subset));
  const std::string large = encrypt_pdf(render_pdf(c, no_subset), "C", "O");
  CHECK(small.size() < large.size());

  c.findings = "Ελληνικά, русский текст, Tiếng Việt.";
  CHECK(uses_subset_fonts(c, Fonts{}));
  // Hebrew is in DejaVu Sans but not in the subsets: the whole report uses the full fonts.
  c.patient_name = "שרה כהן";
  CHECK_FALSE(uses_subset_fonts(c, Fonts{}));
  util::write_private_file(dir / "he.pdf", encrypt_pdf(render_pdf(c, Fonts{}), "C", "O"));
  const auto text = pdf_text(dir / "he.pdf", "C");
  REQUIRE(text.exit_code == 0);
  CHECK(text.out.find("русский текст") != std::string::npos);
  // Another font configured: never the DejaVu subsets.
  Fonts other;
  other.regular = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf";
  CHECK_FALSE(uses_subset_fonts(sample(), other));
}
