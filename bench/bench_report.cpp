// Report rendering speed of csss: the full PDF of one scan (report/pdf.hpp: libharu, embedded
// DejaVu fonts, the scan and its Grad-CAM overlay, the probability chart, findings flowing over
// pages, signature blocks, watermark and page numbers) and its AES-256 encryption (qpdf), N
// times, after one warm-up report.
//
//   bench_report IMAGE [--count N] [--out DIR]
//
// IMAGE is a real scan (PNG, JPEG or DICOM). With --out, DIR receives what the Python comparison
// (bench_report.py: Jinja2 + WeasyPrint) renders from: content.json, scan.jpg, overlay.jpg, and
// csss's own report (report.pdf, open code "BENCH-CODE").
//
// Prints: "csss: <ms> ms/report (render <ms>, encrypt <ms>; N reports, <KB> KB each)".
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "imaging/image.hpp"
#include "report/content.hpp"
#include "report/encrypt.hpp"
#include "report/pdf.hpp"
#include "util/fs.hpp"

namespace fs = std::filesystem;
using namespace csss;

namespace {

int usage() {
  std::fprintf(stderr, "usage: bench_report IMAGE [--count N] [--out DIR]\n");
  return 2;
}

std::string as_text(const std::vector<std::uint8_t>& bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// A report as the product issues it: the images as the report service prepares them (at most
// 720 pixels, JPEG quality 90), a 2,000-character finding and a prescription.
report::ReportContent content_for(const fs::path& image_path) {
  const std::string bytes = util::read_file(image_path, std::size_t{256} << 20);
  const imaging::Image scan = imaging::downscale(
      imaging::decode(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
                      imaging::Limits{}, image_path.string())
          .image,
      720);
  // A smooth heat map, as Grad-CAM gives (7x7 upsampled).
  std::vector<float> heat(49);
  for (int y = 0; y < 7; ++y) {
    for (int x = 0; x < 7; ++x)
      heat[static_cast<std::size_t>(y * 7 + x)] =
          static_cast<float>(std::exp(-((x - 4) * (x - 4) + (y - 3) * (y - 3)) / 6.0));
  }
  const imaging::Image overlay = imaging::overlay_heatmap(scan, heat, 7, 7, 0.45F);

  report::ReportContent c;
  c.report_id = "5b0d6a0e-2f43-4c7e-9a51-0c3f1d2b7e11";
  c.generated_at = 1795200000;
  c.facility_name = "Hôpital Saint-Éloi, Radiology";
  c.facility_address = "12 rue de la Santé\n75014 Paris";
  c.patient_id = 1042;
  c.patient_reference = "MRN-2026-001042";
  c.patient_name = "Zoë Ñúñez-Łukasiewicz";
  c.patient_birth_date = "1984-07-12";
  c.scan_id = "3f0c1e9a-7b6d-4c21-9a53-0d6f2b8e4a17";
  c.modality = "MR";
  c.body_part = "BRAIN";
  c.scan_format = "jpeg";
  c.uploaded_at = 1795190000;
  c.has_analysis = true;
  c.model_name = "brain-mri";
  c.model_version = "1.0.0";
  c.weights_sha256 = "4f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a";
  c.predicted_class = "glioma";
  c.confidence = 0.873;
  c.threshold = 0.6;
  c.risk = "high";
  c.probabilities = {
      {"glioma", 0.873}, {"meningioma", 0.081}, {"notumor", 0.019}, {"pituitary", 0.027}};
  c.analysed_at = 1795191000;
  c.diagnosis = "glioma";
  c.agrees_with_ai = true;
  std::string findings =
      "Axial T1 post-contrast slice. Irregular ring-enhancing lesion in the left temporal lobe, "
      "about 3.1 x 2.4 cm, with surrounding vasogenic oedema and mild mass effect on the left "
      "lateral ventricle; no midline shift. The Grad-CAM overlay concentrates on the lesion. ";
  while (findings.size() < 2000)
    findings += findings.substr(0, 200);
  c.findings = findings.substr(0, 2000);
  c.prescription =
      "Dexamethasone 4 mg orally twice a day for 5 days, then review. Levetiracetam 500 mg twice "
      "a day. Urgent referral to neurosurgery; MRI with spectroscopy within 7 days.";
  c.signatures = {
      {"Dr Łukasz Wójcik", "doctor", "verified", "6d1e0c2a-4b1f-4e3a-8c2d-9f0e1a2b3c4d", 3,
       1795192000},
      {"Ana Pharm", "pharmacist", "prescribed", "7e2f1d3b-5c2a-4f4b-9d3e-0a1f2b3c4d5e", 4,
       1795193000},
      {"Ada Admin", "admin", "approved", "8f3a2e4c-6d3b-4a5c-8e4f-1b2a3c4d5e6f", 1, 1795194000}};
  c.scan_jpeg = as_text(imaging::encode_jpeg(scan, 90));
  c.overlay_jpeg = as_text(imaging::encode_jpeg(overlay, 90));
  return c;
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    return usage();
  const fs::path image = argv[1];
  int count = 50;
  fs::path out;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc)
      return usage();
    if (a == "--count")
      count = std::atoi(argv[++i]);
    else if (a == "--out")
      out = argv[++i];
    else
      return usage();
  }
  if (count < 1)
    return usage();
  try {
    const report::ReportContent c = content_for(image);
    const report::Fonts fonts;
    // Warm-up: the first report also reads the fonts into the page cache.
    std::string pdf = report::encrypt_pdf(report::render_pdf(c, fonts), "BENCH-CODE", "owner");
    if (!out.empty()) {
      fs::create_directories(out);
      util::write_private_file(out / "report.pdf", pdf);
      util::write_private_file(out / "scan.jpg", c.scan_jpeg);
      util::write_private_file(out / "overlay.jpg", c.overlay_jpeg);
      nlohmann::json doc = nlohmann::json::parse(report::canonical_json(c));
      doc["content_sha256"] = report::content_sha256(c);
      doc["generated_at"] = c.generated_at;
      util::write_private_file(out / "content.json", doc.dump(2));
    }
    double render_ms = 0;
    double encrypt_ms = 0;
    std::size_t bytes = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < count; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      const std::string plain = report::render_pdf(c, fonts);
      render_ms += ms_since(t0);
      const auto t1 = std::chrono::steady_clock::now();
      pdf = report::encrypt_pdf(plain, "BENCH-CODE", "owner");
      encrypt_ms += ms_since(t1);
      bytes += pdf.size();
    }
    const double total = ms_since(start);
    std::printf("csss: %.2f ms/report (render %.2f, encrypt %.2f; %d reports, %.0f KB each)\n",
                total / count, render_ms / count, encrypt_ms / count, count,
                static_cast<double>(bytes) / count / 1024.0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_report: %s\n", e.what());
    return 1;
  }
  return 0;
}
