#pragma once

// The diagnostic report as a PDF, laid out with libharu (the only file that includes it is
// pdf.cpp). The result is not encrypted yet: encrypt.hpp does that in memory, before anything
// touches the disk.

#include <filesystem>
#include <string>

#include "report/content.hpp"

namespace csss::report {

inline constexpr const char* kDejaVuSans = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
inline constexpr const char* kDejaVuSansBold =
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

// TrueType fonts with Unicode coverage (Debian fonts-dejavu-core), embedded in each report.
struct Fonts {
  std::filesystem::path regular = kDejaVuSans;
  std::filesystem::path bold = kDejaVuSansBold;
  // With the DejaVu fonts above, a report whose every character is in Latin, Greek or Cyrillic
  // (with common punctuation and symbols) is set in subsets of them made at build time, which
  // is several times faster; any other character selects the full fonts. Same glyphs either way.
  bool allow_subset = true;
};

// True when the report of `content` is set in the build's font subsets (see Fonts).
bool uses_subset_fonts(const ReportContent& content, const Fonts& fonts);

inline constexpr const char* kWatermark =
    "AI-assisted screening: to be read by a licensed physician";

// A4 pages: the facility's header; patient, scan and AI result (every class's probability as a
// bar chart, "Uncertain" below the threshold, risk, the model's name, version and weights hash);
// the scan and its Grad-CAM overlay; the doctor's findings and the prescription (wrapped, flowing
// onto further pages); the three signature blocks (printed name, role, UTC time, meaning). Every
// page carries the watermark kWatermark (and DRAFT for previews), "Page n of N", the report ID and
// the content's SHA-256. Text outside the fonts' coverage prints as the font's missing-glyph box,
// never as other letters. Throws Error(io) when a font cannot be read and Error(invalid_input)
// when an image is not a JPEG libharu can embed.
std::string render_pdf(const ReportContent& content, const Fonts& fonts);

}  // namespace csss::report
