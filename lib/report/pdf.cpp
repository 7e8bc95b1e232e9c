#include "report/pdf.hpp"

#include <hpdf.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/time.hpp"

namespace csss::report {

namespace {

// A4 in points, and the frame text is set in.
constexpr float kPageWidth = 595.276F;
constexpr float kPageHeight = 841.89F;
constexpr float kMargin = 50.0F;
constexpr float kTop = kPageHeight - kMargin;
constexpr float kBottom = 62.0F;  // above the footer
constexpr float kTextWidth = kPageWidth - 2 * kMargin;

struct Rgb {
  float r, g, b;
};
constexpr Rgb kInk{0.10F, 0.10F, 0.12F};
constexpr Rgb kMuted{0.38F, 0.38F, 0.42F};
constexpr Rgb kAccent{0.07F, 0.30F, 0.55F};
constexpr Rgb kBar{0.55F, 0.68F, 0.82F};
constexpr Rgb kHighRisk{0.72F, 0.13F, 0.13F};
constexpr Rgb kWarn{0.80F, 0.45F, 0.00F};

// libharu reports errors through a callback; the first one is kept and turned into an Error
// once control is back in C++ (an exception must not unwind through C code).
struct ErrorState {
  HPDF_STATUS code = HPDF_OK;
  HPDF_STATUS detail = 0;
};

void on_error(HPDF_STATUS code, HPDF_STATUS detail, void* user) {
  auto* state = static_cast<ErrorState*>(user);
  if (state->code == HPDF_OK) {
    state->code = code;
    state->detail = detail;
  }
}

// The UTF-8 text libharu's UTF-8 encoder handles: code points of the Basic Multilingual Plane,
// control characters (tabs) as spaces; anything else, and malformed bytes, as U+FFFD.
std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = c < 0x80           ? 1
                      : (c >> 5) == 0x6  ? 2
                      : (c >> 4) == 0xE  ? 3
                      : (c >> 3) == 0x1E ? 4
                                         : 0;
    bool valid = len != 0 && i + len <= text.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      valid = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    }
    if (!valid || len == 4) {
      out += "\xEF\xBF\xBD";
      i += valid ? len : 1;
      continue;
    }
    if (len == 1 && (c < 0x20 || c == 0x7F)) {
      out.push_back(' ');
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

// The byte length of the UTF-8 sequence starting with `c`.
std::size_t sequence_length(unsigned char c) {
  return c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : 3;  // printable() left nothing longer
}

// The code points of the build's font subsets (lib/CMakeLists.txt), "U+0020-007E,U+0259,...".
const std::vector<std::pair<char32_t, char32_t>>& subset_ranges() {
  static const std::vector<std::pair<char32_t, char32_t>> ranges = [] {
    std::vector<std::pair<char32_t, char32_t>> out;
    const std::string text = CSSS_REPORT_SUBSET_RANGES;
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t end = text.find(',', pos);
      if (end == std::string::npos)
        end = text.size();
      const std::string item = text.substr(pos + 2, end - pos - 2);  // after "U+"
      const std::size_t dash = item.find('-');
      const auto first = static_cast<char32_t>(std::stoul(item.substr(0, dash), nullptr, 16));
      const auto last = dash == std::string::npos
                            ? first
                            : static_cast<char32_t>(std::stoul(item.substr(dash + 1), nullptr, 16));
      out.emplace_back(first, last);
      pos = end + 1;
    }
    return out;
  }();
  return ranges;
}

// True when every character of `text` (as printable() leaves it) is in the subsets.
bool in_subset(std::string_view text) {
  const std::string p = printable(text);
  std::size_t i = 0;
  while (i < p.size()) {
    const auto c = static_cast<unsigned char>(p[i]);
    const std::size_t len = sequence_length(c);
    char32_t cp = c;
    if (len == 2)
      cp = ((c & 0x1FU) << 6) | (static_cast<unsigned char>(p[i + 1]) & 0x3FU);
    else if (len == 3)
      cp = ((c & 0x0FU) << 12) | ((static_cast<unsigned char>(p[i + 1]) & 0x3FU) << 6) |
           (static_cast<unsigned char>(p[i + 2]) & 0x3FU);
    i += len;
    const auto& ranges = subset_ranges();
    if (!std::any_of(ranges.begin(), ranges.end(),
                     [cp](const auto& r) { return cp >= r.first && cp <= r.second; }))
      return false;
  }
  return true;
}

std::string utc(util::UnixSeconds t) {
  if (t == 0)
    return "-";
  std::string text = util::format_utc(t);  // 2026-11-21T07:30:00Z
  text[10] = ' ';
  text.back() = ' ';
  return text + "UTC";
}

const std::filesystem::path kSubsetRegular =
    std::filesystem::path(CSSS_REPORT_FONTS_DIR) / "DejaVuSans-subset.ttf";
const std::filesystem::path kSubsetBold =
    std::filesystem::path(CSSS_REPORT_FONTS_DIR) / "DejaVuSans-Bold-subset.ttf";

class Document {
 public:
  Document(const ReportContent& content, const Fonts& fonts) : c_(content) {
    pdf_ = HPDF_New(on_error, &errors_);
    if (pdf_ == nullptr)
      throw std::bad_alloc();
    HPDF_SetCompressionMode(pdf_, HPDF_COMP_ALL);
    HPDF_UseUTFEncodings(pdf_);
    const bool subset = uses_subset_fonts(content, fonts);
    regular_ = load_font(subset ? kSubsetRegular : fonts.regular);
    bold_ = load_font(subset ? kSubsetBold : fonts.bold);
    watermark_state_ = HPDF_CreateExtGState(pdf_);
    HPDF_ExtGState_SetAlphaFill(watermark_state_, 0.13F);
    const std::string title = fmt::format("Diagnostic imaging report {}", c_.report_id);
    HPDF_SetInfoAttr(pdf_, HPDF_INFO_TITLE, title.c_str());
    HPDF_SetInfoAttr(pdf_, HPDF_INFO_CREATOR, "CSSS");
    HPDF_SetInfoAttr(pdf_, HPDF_INFO_PRODUCER, "CSSS (libharu, qpdf)");
    check("starting the document");
  }
  ~Document() { HPDF_Free(pdf_); }
  Document(const Document&) = delete;
  Document& operator=(const Document&) = delete;

  std::string render() {
    content_hash_ = content_sha256(c_);
    new_page();
    header();
    patient_and_scan();
    ai_result();
    images();
    text_section("Doctor's findings", findings_text());
    text_section("Prescription", c_.prescription.empty() ? "(none yet)" : c_.prescription);
    signatures();
    footers();
    return save();
  }

 private:
  // ---- primitives -------------------------------------------------------------------------

  HPDF_Font load_font(const std::filesystem::path& path) {
    const char* name = HPDF_LoadTTFontFromFile(pdf_, path.c_str(), HPDF_TRUE);
    if (name == nullptr) {
      throw Error(ErrorKind::io,
                  fmt::format("cannot load the report font {} (libharu error {:#06x}; Debian "
                              "package fonts-dejavu-core, or set report.font)",
                              path.string(), errors_.code));
    }
    return HPDF_GetFont(pdf_, name, "UTF-8");
  }

  void check(std::string_view what) const {
    if (errors_.code != HPDF_OK) {
      throw Error(ErrorKind::internal,
                  fmt::format("libharu failed while {} (error {:#06x}, detail {})", what,
                              errors_.code, errors_.detail));
    }
  }

  void fill(Rgb c) { HPDF_Page_SetRGBFill(page_, c.r, c.g, c.b); }
  void stroke(Rgb c) { HPDF_Page_SetRGBStroke(page_, c.r, c.g, c.b); }

  float width_of(const std::string& text, HPDF_Font font, float size) {
    HPDF_Page_SetFontAndSize(page_, font, size);
    return HPDF_Page_TextWidth(page_, text.c_str());
  }

  void text_at(float x, float y, const std::string& text, HPDF_Font font, float size, Rgb colour) {
    if (text.empty())
      return;
    fill(colour);
    HPDF_Page_BeginText(page_);
    HPDF_Page_SetFontAndSize(page_, font, size);
    HPDF_Page_TextOut(page_, x, y, text.c_str());
    HPDF_Page_EndText(page_);
  }

  void text_right(float right, float y, const std::string& text, HPDF_Font font, float size,
                  Rgb colour) {
    text_at(right - width_of(text, font, size), y, text, font, size, colour);
  }

  // Splits `text` into lines no wider than `width`: at spaces, or inside a word longer than a
  // line; line breaks in the text are kept, empty lines too.
  std::vector<std::string> wrap(const std::string& text, HPDF_Font font, float size, float width) {
    std::vector<std::string> lines;
    const float space = width_of(" ", font, size);
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string::npos)
        end = text.size();
      const std::string paragraph = printable(text.substr(start, end - start));
      std::string line;
      float line_width = 0;
      std::size_t pos = 0;
      while (pos < paragraph.size()) {
        std::size_t next = paragraph.find(' ', pos);
        if (next == std::string::npos)
          next = paragraph.size();
        std::string word = paragraph.substr(pos, next - pos);
        pos = next + 1;
        if (word.empty())
          continue;
        float w = width_of(word, font, size);
        if (!line.empty() && line_width + space + w <= width) {
          line += ' ' + word;
          line_width += space + w;
          continue;
        }
        if (!line.empty())
          lines.push_back(std::move(line));
        line.clear();
        line_width = 0;
        // A word wider than the line is cut between characters.
        while (w > width) {
          std::size_t cut = 0;
          std::size_t fits = 0;
          while (cut < word.size()) {
            const std::size_t len = sequence_length(static_cast<unsigned char>(word[cut]));
            if (width_of(word.substr(0, cut + len), font, size) > width)
              break;
            cut += len;
            fits = cut;
          }
          if (fits == 0)  // one glyph wider than the line: print it alone
            fits = sequence_length(static_cast<unsigned char>(word[0]));
          lines.push_back(word.substr(0, fits));
          word.erase(0, fits);
          w = width_of(word, font, size);
        }
        line = std::move(word);
        line_width = w;
      }
      lines.push_back(std::move(line));
      if (end == text.size())
        break;
      start = end + 1;
    }
    return lines;
  }

  // ---- pages ------------------------------------------------------------------------------

  void new_page() {
    page_ = HPDF_AddPage(pdf_);
    HPDF_Page_SetSize(page_, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    pages_.push_back(page_);
    watermark();
    y_ = kTop;
    if (pages_.size() > 1) {
      const std::string running =
          fmt::format("{} · report {} · {} (continued)", printable(c_.facility_name), c_.report_id,
                      printable(c_.patient_name));
      text_at(kMargin, y_ - 8, running, regular_, 8, kMuted);
      rule(y_ - 14);
      y_ -= 28;
    }
    check("adding a page");
  }

  // Ensures `height` points are left on the page, else continues on a new one.
  void need(float height) {
    if (y_ - height < kBottom)
      new_page();
  }

  void rule(float y) {
    stroke(Rgb{0.75F, 0.75F, 0.78F});
    HPDF_Page_SetLineWidth(page_, 0.6F);
    HPDF_Page_MoveTo(page_, kMargin, y);
    HPDF_Page_LineTo(page_, kPageWidth - kMargin, y);
    HPDF_Page_Stroke(page_);
  }

  // Drawn first, so that it lies under the page's content; translucent either way.
  void watermark() {
    HPDF_Page_GSave(page_);
    HPDF_Page_SetExtGState(page_, watermark_state_);
    const float angle = std::atan2(kPageHeight, kPageWidth);
    const float cs = std::cos(angle);
    const float sn = std::sin(angle);
    auto diagonal = [&](const std::string& text, HPDF_Font font, float size, Rgb colour,
                        float offset) {
      const float w = width_of(text, font, size);
      // Centre of the text on the page's diagonal, shifted across it by `offset`.
      const float cx = kPageWidth / 2 - sn * offset;
      const float cy = kPageHeight / 2 + cs * offset;
      fill(colour);
      HPDF_Page_BeginText(page_);
      HPDF_Page_SetFontAndSize(page_, font, size);
      HPDF_Page_SetTextMatrix(page_, cs, sn, -sn, cs, cx - cs * w / 2 + sn * size / 3,
                              cy - sn * w / 2 - cs * size / 3);
      HPDF_Page_ShowText(page_, text.c_str());
      HPDF_Page_EndText(page_);
    };
    diagonal(kWatermark, bold_, 24, Rgb{0.2F, 0.2F, 0.2F}, c_.draft ? -120.0F : 0.0F);
    if (c_.draft)
      diagonal("DRAFT", bold_, 150, Rgb{0.85F, 0.1F, 0.1F}, 40.0F);
    HPDF_Page_GRestore(page_);
  }

  void footers() {
    const std::size_t total = pages_.size();
    for (std::size_t i = 0; i < total; ++i) {
      page_ = pages_[i];
      stroke(Rgb{0.75F, 0.75F, 0.78F});
      rule(46);
      std::string left = fmt::format("Report {}", c_.report_id);
      if (c_.draft)
        left = "DRAFT (not approved) · " + left;
      text_at(kMargin, 36, left, regular_, 7, kMuted);
      text_at(kMargin, 27, fmt::format("Content SHA-256 {}", content_hash_), regular_, 7, kMuted);
      text_right(kPageWidth - kMargin, 36, fmt::format("Page {} of {}", i + 1, total), bold_, 8,
                 kInk);
    }
    check("writing the page footers");
  }

  std::string save() {
    if (HPDF_SaveToStream(pdf_) != HPDF_OK)
      check("saving");
    const HPDF_UINT32 size = HPDF_GetStreamSize(pdf_);
    std::string out(size, '\0');
    HPDF_UINT32 read = size;
    HPDF_ReadFromStream(pdf_, reinterpret_cast<HPDF_BYTE*>(out.data()), &read);
    check("saving");
    out.resize(read);
    return out;
  }

  // ---- sections ---------------------------------------------------------------------------

  // A heading is never the last thing on a page: it keeps two lines of its text with it.
  void heading(const std::string& title) {
    need(66);
    y_ -= 18;
    text_at(kMargin, y_, title, bold_, 12, kAccent);
    y_ -= 5;
    rule(y_);
    y_ -= 14;
  }

  void header() {
    const std::string name = printable(c_.facility_name.empty() ? "CSSS" : c_.facility_name);
    text_at(kMargin, y_ - 14, name, bold_, 16, kInk);
    float y = y_ - 28;
    for (const std::string& line : wrap(c_.facility_address, regular_, 9, kTextWidth / 2)) {
      if (line.empty())
        continue;
      text_at(kMargin, y, line, regular_, 9, kMuted);
      y -= 11;
    }
    const float right = kPageWidth - kMargin;
    text_right(right, y_ - 14, "Diagnostic imaging report", bold_, 13, kAccent);
    text_right(right, y_ - 28, fmt::format("Report ID {}", c_.report_id), regular_, 8, kMuted);
    text_right(right, y_ - 39, fmt::format("Issued {}", utc(c_.generated_at)), regular_, 8, kMuted);
    if (c_.draft) {
      text_right(right, y_ - 52, "DRAFT: not approved, not for clinical use", bold_, 9, kHighRisk);
    }
    y_ = std::min(y, y_ - 56) - 4;
    rule(y_);
    y_ -= 6;
  }

  // Rows of label/value pairs in two columns.
  void fields(const std::vector<std::pair<std::string, std::string>>& rows) {
    const float column = kTextWidth / 2;
    const float label_width = 82;
    for (std::size_t i = 0; i < rows.size(); i += 2) {
      float lowest = y_;
      for (std::size_t k = 0; k < 2 && i + k < rows.size(); ++k) {
        const float x = kMargin + static_cast<float>(k) * column;
        text_at(x, y_, rows[i + k].first, regular_, 8, kMuted);
        float y = y_;
        for (const std::string& line :
             wrap(rows[i + k].second, regular_, 9.5F, column - label_width - 8)) {
          text_at(x + label_width, y, line, regular_, 9.5F, kInk);
          y -= 12;
        }
        lowest = std::min(lowest, y);
      }
      y_ = lowest - 2;
      need(14);
    }
  }

  void patient_and_scan() {
    heading("Patient and scan");
    std::string patient_id = fmt::format("P-{:06}", c_.patient_id);
    if (!c_.patient_reference.empty())
      patient_id += fmt::format(" (record {})", c_.patient_reference);
    std::string scan_kind = c_.modality;
    if (!c_.body_part.empty())
      scan_kind += " · " + c_.body_part;
    scan_kind += fmt::format(" ({})", c_.scan_format);
    fields({
        {"Patient", c_.patient_name},
        {"Modality", scan_kind},
        {"Patient ID", patient_id},
        {"Uploaded", utc(c_.uploaded_at)},
        {"Date of birth", c_.patient_birth_date.empty() ? "not recorded" : c_.patient_birth_date},
        {"Analysed", utc(c_.analysed_at)},
    });
    text_at(kMargin, y_, "Scan ID", regular_, 8, kMuted);
    text_at(kMargin + 82, y_, c_.scan_id, regular_, 9.5F, kInk);
    y_ -= 14;
  }

  void ai_result() {
    heading("AI screening result");
    if (!c_.has_analysis) {
      paragraph("No AI result has been recorded for this scan.", regular_, 10, kInk);
      return;
    }
    need(70);
    const Rgb verdict_colour = c_.uncertain ? kWarn : (c_.risk == "high" ? kHighRisk : kInk);
    text_at(kMargin, y_, printable(ai_result_text(c_)), bold_, 13, verdict_colour);
    y_ -= 15;
    std::string detail = fmt::format("Risk level: {}.  Uncertain below {:.0f} % confidence.",
                                     c_.risk, c_.threshold * 100.0);
    if (c_.uncertain) {
      detail +=
          " The confidence is below the threshold: the AI does not make a call on this "
          "scan.";
    }
    paragraph(detail, regular_, 9.5F, kInk);
    paragraph(fmt::format("Model {} version {} · weights SHA-256 {}", c_.model_name,
                          c_.model_version, c_.weights_sha256),
              regular_, 8, kMuted);
    y_ -= 4;
    bar_chart();
  }

  void bar_chart() {
    const float label_width = 130;
    const float bar_max = 260;
    const float row = 15;
    need(row * static_cast<float>(c_.probabilities.size()) + 16);
    const float x0 = kMargin + label_width;
    const float top = y_ + 10;
    for (const auto& [label, p] : c_.probabilities) {
      const bool top_class = label == c_.predicted_class;
      text_at(kMargin, y_, printable(label), top_class ? bold_ : regular_, 9, kInk);
      fill(Rgb{0.93F, 0.93F, 0.95F});
      HPDF_Page_Rectangle(page_, x0, y_ - 2, bar_max, 10);
      HPDF_Page_Fill(page_);
      fill(top_class ? kAccent : kBar);
      HPDF_Page_Rectangle(page_, x0, y_ - 2, bar_max * static_cast<float>(std::clamp(p, 0.0, 1.0)),
                          10);
      HPDF_Page_Fill(page_);
      text_at(x0 + bar_max + 8, y_, fmt::format("{:.1f} %", p * 100.0),
              top_class ? bold_ : regular_, 9, kInk);
      y_ -= row;
    }
    // The threshold as a dashed line across the bars.
    const float tx = x0 + bar_max * static_cast<float>(std::clamp(c_.threshold, 0.0, 1.0));
    const HPDF_UINT16 dash[] = {2, 2};
    stroke(kWarn);
    HPDF_Page_SetLineWidth(page_, 0.8F);
    HPDF_Page_SetDash(page_, dash, 2, 0);
    HPDF_Page_MoveTo(page_, tx, top);
    HPDF_Page_LineTo(page_, tx, y_ + row - 4);
    HPDF_Page_Stroke(page_);
    HPDF_Page_SetDash(page_, nullptr, 0, 0);
    text_at(tx - 20, y_ + 2, fmt::format("threshold {:.0f} %", c_.threshold * 100.0), regular_, 7,
            kWarn);
    y_ -= 10;
  }

  HPDF_Image load_jpeg(const std::string& jpeg, std::string_view what) {
    if (jpeg.empty())
      return nullptr;
    HPDF_Image image = HPDF_LoadJpegImageFromMem(
        pdf_, reinterpret_cast<const HPDF_BYTE*>(jpeg.data()), static_cast<HPDF_UINT>(jpeg.size()));
    if (image == nullptr) {
      errors_ = {};
      throw Error(ErrorKind::invalid_input,
                  fmt::format("the {} is not a JPEG image the report can embed", what));
    }
    return image;
  }

  void images() {
    HPDF_Image scan = load_jpeg(c_.scan_jpeg, "scan image");
    HPDF_Image overlay = load_jpeg(c_.overlay_jpeg, "Grad-CAM overlay");
    if (scan == nullptr && overlay == nullptr)
      return;
    heading("Images");
    const float box = (kTextWidth - 20) / 2;
    need(box + 24);
    auto place = [&](HPDF_Image image, float x, const std::string& caption) {
      text_at(x, y_, caption, regular_, 8.5F, kMuted);
      if (image == nullptr) {
        text_at(x, y_ - 20, "(not available)", regular_, 9, kMuted);
        return;
      }
      const float w = static_cast<float>(HPDF_Image_GetWidth(image));
      const float h = static_cast<float>(HPDF_Image_GetHeight(image));
      const float scale = std::min(box / w, box / h);
      const float dw = w * scale;
      const float dh = h * scale;
      HPDF_Page_DrawImage(page_, image, x + (box - dw) / 2, y_ - 6 - box + (box - dh) / 2, dw, dh);
    };
    place(scan, kMargin, "Scan");
    place(overlay, kMargin + box + 20, "Grad-CAM: regions that drove the AI result");
    y_ -= box + 16;
    check("placing the images");
  }

  std::string findings_text() const {
    std::string out;
    if (!c_.diagnosis.empty()) {
      out = fmt::format(
          "Diagnosis: {}{}\n\n", c_.diagnosis,
          c_.agrees_with_ai ? " (agrees with the AI result)" : " (differs from the AI result)");
    }
    out += c_.findings.empty() ? "(not verified yet)" : c_.findings;
    return out;
  }

  void paragraph(const std::string& text, HPDF_Font font, float size, Rgb colour) {
    const float leading = size * 1.32F;
    for (const std::string& line : wrap(text, font, size, kTextWidth)) {
      need(leading);
      text_at(kMargin, y_, line, font, size, colour);
      y_ -= leading;
    }
  }

  void text_section(const std::string& title, const std::string& text) {
    heading(title);
    paragraph(text, regular_, 10, kInk);
  }

  void signatures() {
    heading("Electronic signatures");
    const float gap = 12;
    const float w = (kTextWidth - 2 * gap) / 3;
    const float h = 92;
    need(h + 8);
    const char* titles[] = {"Verified by (doctor)", "Prescribed by (pharmacist)",
                            "Approved by (administrator)"};
    const char* meanings[] = {"verified", "prescribed", "approved"};
    for (int i = 0; i < 3; ++i) {
      const float x = kMargin + static_cast<float>(i) * (w + gap);
      stroke(Rgb{0.7F, 0.7F, 0.74F});
      HPDF_Page_SetLineWidth(page_, 0.6F);
      HPDF_Page_Rectangle(page_, x, y_ - h + 10, w, h);
      HPDF_Page_Stroke(page_);
      text_at(x + 6, y_ - 2, titles[i], bold_, 8.5F, kAccent);
      const SignatureBlock* s = nullptr;
      for (const SignatureBlock& b : c_.signatures) {
        if (b.meaning == meanings[i])
          s = &b;
      }
      if (s == nullptr) {
        text_at(x + 6, y_ - 20, "not signed yet", regular_, 9, kMuted);
        continue;
      }
      float y = y_ - 20;
      for (const std::string& line : wrap(s->name, bold_, 10, w - 12)) {
        text_at(x + 6, y, line, bold_, 10, kInk);
        y -= 12;
      }
      text_at(x + 6, y, fmt::format("Role: {}", s->role), regular_, 8, kInk);
      text_at(x + 6, y - 11, fmt::format("Meaning: {}", s->meaning), regular_, 8, kInk);
      text_at(x + 6, y - 22, fmt::format("Signed {}", utc(s->signed_at)), regular_, 7.5F, kInk);
      text_at(x + 6, y - 33, fmt::format("ID {}", s->signature_id.substr(0, 18)), regular_, 6.5F,
              kMuted);
    }
    y_ -= h + 4;
    paragraph(
        "Each signature was made by re-entering the signer's password and is bound to the "
        "SHA-256 of the content signed (21 CFR Part 11, section 11.50 and 11.70).",
        regular_, 7.5F, kMuted);
  }

  const ReportContent& c_;
  ErrorState errors_;
  HPDF_Doc pdf_ = nullptr;
  HPDF_Font regular_ = nullptr;
  HPDF_Font bold_ = nullptr;
  HPDF_ExtGState watermark_state_ = nullptr;
  HPDF_Page page_ = nullptr;
  std::vector<HPDF_Page> pages_;
  float y_ = kTop;
  std::string content_hash_;
};

}  // namespace

bool uses_subset_fonts(const ReportContent& c, const Fonts& fonts) {
  std::error_code ec;
  if (!fonts.allow_subset || fonts.regular != kDejaVuSans || fonts.bold != kDejaVuSansBold ||
      !std::filesystem::is_regular_file(kSubsetRegular, ec) ||
      !std::filesystem::is_regular_file(kSubsetBold, ec)) {
    return false;
  }
  for (const std::string* text :
       {&c.report_id, &c.facility_name, &c.facility_address, &c.patient_reference, &c.patient_name,
        &c.patient_birth_date, &c.scan_id, &c.modality, &c.body_part, &c.scan_format, &c.model_name,
        &c.model_version, &c.weights_sha256, &c.predicted_class, &c.risk, &c.diagnosis, &c.findings,
        &c.prescription}) {
    if (!in_subset(*text))
      return false;
  }
  for (const auto& [label, p] : c.probabilities) {
    if (!in_subset(label))
      return false;
  }
  for (const SignatureBlock& s : c.signatures) {
    if (!in_subset(s.name) || !in_subset(s.role) || !in_subset(s.meaning) ||
        !in_subset(s.signature_id))
      return false;
  }
  return true;
}

std::string render_pdf(const ReportContent& content, const Fonts& fonts) {
  Document doc(content, fonts);
  return doc.render();
}

}  // namespace csss::report
