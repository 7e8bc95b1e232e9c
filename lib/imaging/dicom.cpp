// DICOM: parsing the data set, and the 8-bit image.
//
// The data set is parsed here, not by GDCM: fuzzing the fixtures showed that GDCM's reader, built
// with assertions as Debian ships it, aborts the program on malformed headers, and allocates each
// element at its declared length (4 GB for a few hostile bytes). The walker below checks the whole
// structure first (every length fits in the file, sequences and items end, nesting is bounded,
// undefined lengths only where DICOM allows them), finds the transfer syntax, and keeps where the
// top-level elements, the first VOI LUT and the pixel data are. Native pixel data is read directly;
// compressed pixel data goes to GDCM's codecs in a child process (dicom_codec.cpp).
//
// The 8-bit result follows DICOM PS3.3 C.11: stored values (bits above the high bit masked, sign
// extended), Rescale Slope/Intercept, then the first VOI LUT of the VOI LUT Sequence, else the
// first Window Center/Width (with VOI LUT Function LINEAR, LINEAR_EXACT or SIGMOID), else the
// frame's min-max; MONOCHROME1 inverted so that higher is brighter. Multi-frame: the middle frame.
// Colour (RGB, YBR_FULL, YBR_FULL_422, YBR_ICT, YBR_RCT) becomes gray: ITU-R BT.601 luma of RGB,
// or the Y of YBR; 8-bit colour keeps its values ("none"), deeper colour is min-max scaled.
// Not handled: the Modality LUT Sequence (only Rescale Slope/Intercept), per-frame functional
// groups of enhanced multi-frame objects, PALETTE COLOR, deflated transfer syntax.

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "imaging/image.hpp"
#include "imaging/internal.hpp"
#include "util/error.hpp"

namespace csss::imaging::detail {

static_assert(std::endian::native == std::endian::little,
              "decoded pixel buffers are read as little endian");

namespace {

// ---------------------------------------------------------------------------------------------
// Transfer syntaxes

struct SyntaxName {
  const char* uid;
  const char* name;
  bool supported;
};

constexpr SyntaxName kSyntaxes[] = {
    {"1.2.840.10008.1.2", "Implicit VR Little Endian", true},
    {"1.2.840.10008.1.2.1", "Explicit VR Little Endian", true},
    {"1.2.840.10008.1.2.2", "Explicit VR Big Endian", true},
    {"1.2.840.10008.1.2.5", "RLE Lossless", true},
    {"1.2.840.10008.1.2.4.50", "JPEG Baseline", true},
    {"1.2.840.10008.1.2.4.51", "JPEG Extended", true},
    {"1.2.840.10008.1.2.4.57", "JPEG Lossless", true},
    {"1.2.840.10008.1.2.4.70", "JPEG Lossless SV1", true},
    {"1.2.840.10008.1.2.4.80", "JPEG-LS Lossless", true},
    {"1.2.840.10008.1.2.4.81", "JPEG-LS Near-Lossless", true},
    {"1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless", true},
    {"1.2.840.10008.1.2.4.91", "JPEG 2000", true},
    // Known, but not decoded. Deflate is refused because inflating is unbounded by the file size.
    {"1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", false},
    {"1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Lossless", false},
    {"1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2", false},
    {"1.2.840.10008.1.2.4.94", "JPIP Referenced", false},
    {"1.2.840.10008.1.2.4.95", "JPIP Referenced Deflate", false},
    {"1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", false},
    {"1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level", false},
    {"1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile", false},
    {"1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile", false},
    {"1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 High Profile For 2D Video", false},
    {"1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 High Profile For 3D Video", false},
    {"1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo High Profile", false},
    {"1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile", false},
    {"1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile", false},
    {"1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Lossless", false},
    {"1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 RPCL Lossless", false},
    {"1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000", false},
};

const SyntaxName* find_syntax(std::string_view uid) {
  for (const SyntaxName& s : kSyntaxes) {
    if (uid == s.uid) {
      return &s;
    }
  }
  return nullptr;
}

std::string describe_syntax(std::string_view uid) {
  const SyntaxName* s = find_syntax(uid);
  return std::string(uid) + " (" + (s ? s->name : "unknown") + ")";
}

constexpr std::string_view kImplicitLE = "1.2.840.10008.1.2";
constexpr std::string_view kExplicitBE = "1.2.840.10008.1.2.2";

// ---------------------------------------------------------------------------------------------
// The structure walker

enum class Encoding { explicit_le, implicit_le, explicit_be };

struct Span {
  std::size_t offset = 0;
  std::size_t length = 0;
};

// Values by tag ((group << 16) | element).
using Elements = std::map<std::uint32_t, Span>;

struct Scan {
  std::string transfer_syntax;  // (0002,0010) as stored, trimmed; empty without file meta
  Encoding encoding = Encoding::explicit_le;
  Elements top;  // the top-level data set
  Elements voi;  // the first item of the VOI LUT Sequence (0028,3010)
  Encoding voi_encoding = Encoding::explicit_le;
  bool has_pixel_data = false;  // (7FE0,0010) in the top-level data set
  bool encapsulated = false;
  Span pixels;                                                 // native pixel data
  std::vector<std::pair<std::size_t, std::size_t>> fragments;  // encapsulated; [0] offset table
};

constexpr int kMaxDepth = 32;
constexpr std::uint32_t kUndefined = 0xFFFFFFFFu;

std::string hex4(unsigned v) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string s(4, '0');
  for (int i = 3; i >= 0; --i) {
    s[static_cast<std::size_t>(i)] = digits[v & 0xF];
    v >>= 4;
  }
  return s;
}

std::string tag_text(unsigned group, unsigned element) {
  return "(" + hex4(group) + "," + hex4(element) + ")";
}

bool is_upper(std::uint8_t c) {
  return c >= 'A' && c <= 'Z';
}

// VRs with a 2-byte reserved field and a 32-bit length in explicit VR encodings.
bool is_long_vr(char a, char b) {
  static constexpr const char* kLong[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                          "SV", "UC", "UN", "UR", "UT", "UV"};
  for (const char* v : kLong) {
    if (v[0] == a && v[1] == b) {
      return true;
    }
  }
  return false;
}

std::string trim(std::string s) {
  const auto not_pad = [](char c) { return c != ' ' && c != '\0'; };
  s.erase(std::find_if(s.rbegin(), s.rend(), not_pad).base(), s.end());
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_pad));
  return s;
}

class Walker {
 public:
  Walker(Bytes b, std::string_view name) : b_(b), name_(name) {}

  Scan run() {
    std::size_t pos = 0;
    if (b_.size() >= 132 && std::memcmp(b_.data() + 128, "DICM", 4) == 0) {
      pos = 132;
    }
    pos = meta(pos);
    Encoding enc = Encoding::explicit_le;
    const std::string& ts = scan_.transfer_syntax;
    if (!ts.empty()) {
      const SyntaxName* s = find_syntax(ts);
      if (s == nullptr || !s->supported) {
        fail(name_, "unsupported transfer syntax " + describe_syntax(ts));
      }
      if (ts == kImplicitLE) {
        enc = Encoding::implicit_le;
      } else if (ts == kExplicitBE) {
        enc = Encoding::explicit_be;
      }
    }
    // Without file meta information, or when the meta says explicit but the data set is implicit
    // (a common fault readers tolerate), the VR field decides.
    if (enc == Encoding::explicit_le && b_.size() - pos >= 8 &&
        !(is_upper(b_[pos + 4]) && is_upper(b_[pos + 5]))) {
      enc = Encoding::implicit_le;
    }
    scan_.encoding = enc;
    dataset(pos, b_.size(), enc, 0, false, &scan_.top);
    return scan_;
  }

 private:
  Bytes b_;
  std::string_view name_;
  Scan scan_;

  [[noreturn]] void malformed(const std::string& what) const {
    fail(name_, "malformed DICOM data (" + what + ")");
  }
  [[noreturn]] void truncated(const std::string& what) const {
    fail(name_, "truncated DICOM data (" + what + ")");
  }

  std::uint16_t u16(std::size_t p, bool be) const {
    return be ? static_cast<std::uint16_t>((b_[p] << 8) | b_[p + 1])
              : static_cast<std::uint16_t>(b_[p] | (b_[p + 1] << 8));
  }
  std::uint32_t u32(std::size_t p, bool be) const {
    if (be) {
      return (std::uint32_t{b_[p]} << 24) | (std::uint32_t{b_[p + 1]} << 16) |
             (std::uint32_t{b_[p + 2]} << 8) | std::uint32_t{b_[p + 3]};
    }
    return std::uint32_t{b_[p]} | (std::uint32_t{b_[p + 1]} << 8) |
           (std::uint32_t{b_[p + 2]} << 16) | (std::uint32_t{b_[p + 3]} << 24);
  }

  // The file meta information (group 0002, always explicit VR little endian); returns where the
  // data set starts.
  std::size_t meta(std::size_t pos) {
    while (b_.size() - pos >= 8 && u16(pos, false) == 0x0002) {
      const unsigned element = u16(pos + 2, false);
      if (!is_upper(b_[pos + 4]) || !is_upper(b_[pos + 5])) {
        malformed("invalid VR in the file meta information");
      }
      std::size_t header = 8;
      std::uint32_t length = u16(pos + 6, false);
      if (is_long_vr(static_cast<char>(b_[pos + 4]), static_cast<char>(b_[pos + 5]))) {
        if (b_.size() - pos < 12) {
          truncated("the file meta information is cut off");
        }
        header = 12;
        length = u32(pos + 8, false);
      }
      if (length == kUndefined || length > b_.size() - pos - header) {
        truncated("the file meta information is cut off");
      }
      if (element == 0x0010) {
        scan_.transfer_syntax =
            trim(std::string(reinterpret_cast<const char*>(b_.data() + pos + header), length));
      }
      pos += header + length;
    }
    return pos;
  }

  bool item_starts_at(std::size_t pos, std::size_t end) const {
    return end - pos >= 8 && u16(pos, false) == 0xFFFE && u16(pos + 2, false) == 0xE000;
  }

  // Elements from `pos` to `end`; with `item_end`, up to an item delimitation item instead (which
  // must come before `end`). Keeps each element's value in `capture` when given. Returns the
  // position after the last byte consumed.
  std::size_t dataset(std::size_t pos, std::size_t end, Encoding enc, int depth, bool item_end,
                      Elements* capture) {
    if (depth > kMaxDepth) {
      malformed("sequences nested more than " + std::to_string(kMaxDepth) + " deep");
    }
    const bool be = enc == Encoding::explicit_be;
    const bool top = capture == &scan_.top;
    while (true) {
      if (pos >= end) {
        if (item_end) {
          truncated("an item has no end");
        }
        return pos;
      }
      if (end - pos < 8) {
        truncated("an element header is cut off");
      }
      const unsigned group = u16(pos, be);
      const unsigned element = u16(pos + 2, be);
      if (group == 0xFFFE) {
        if (element == 0xE00D && item_end) {
          return pos + 8;
        }
        malformed("an item or delimiter outside a sequence at offset " + std::to_string(pos));
      }
      std::size_t header = 8;
      std::uint32_t length = 0;
      char vr[2] = {0, 0};
      if (enc == Encoding::implicit_le) {
        length = u32(pos + 4, false);
      } else {
        if (!is_upper(b_[pos + 4]) || !is_upper(b_[pos + 5])) {
          malformed("invalid VR for " + tag_text(group, element));
        }
        vr[0] = static_cast<char>(b_[pos + 4]);
        vr[1] = static_cast<char>(b_[pos + 5]);
        if (is_long_vr(vr[0], vr[1])) {
          if (end - pos < 12) {
            truncated("an element header is cut off");
          }
          header = 12;
          length = u32(pos + 8, be);
        } else {
          length = u16(pos + 6, be);
        }
      }
      pos += header;
      const std::uint32_t tag = (group << 16) | element;
      const bool pixel_data = tag == 0x7FE00010u;
      const bool top_pixel_data = pixel_data && top;
      const bool un = vr[0] == 'U' && vr[1] == 'N';
      const bool sq = vr[0] == 'S' && vr[1] == 'Q';
      const bool ob_ow = vr[0] == 'O' && (vr[1] == 'B' || vr[1] == 'W');
      if (pixel_data && sq) {
        malformed("pixel data encoded as a sequence");
      }
      // The first item of the VOI LUT Sequence is kept too.
      Elements* first_item = top && tag == 0x00283010u ? &scan_.voi : nullptr;
      if (length == kUndefined) {
        // DICOM allows an undefined length for sequences, UN and encapsulated pixel data only.
        if (enc != Encoding::implicit_le && !(pixel_data ? ob_ow : (sq || un))) {
          malformed("undefined length for " + tag_text(group, element));
        }
        if (pixel_data) {
          if (top_pixel_data) {
            scan_.has_pixel_data = true;
            scan_.encapsulated = true;
          }
          pos = fragments(pos, top_pixel_data);
        } else {
          // UN content of undefined length is implicit VR little endian (PS3.5 6.2.2).
          const Encoding inner = un ? Encoding::implicit_le : enc;
          if (first_item != nullptr) {
            scan_.voi_encoding = inner;
          }
          pos = sequence(pos, b_.size(), true, inner, depth + 1, first_item);
        }
        continue;
      }
      if (length > end - pos) {
        if (top_pixel_data) {
          fail(name_, "truncated pixel data (the element declares " + std::to_string(length) +
                          " bytes, " + std::to_string(end - pos) + " are left)");
        }
        truncated("element " + tag_text(group, element) + " declares " + std::to_string(length) +
                  " bytes, " + std::to_string(end - pos) + " are left");
      }
      if (capture != nullptr) {
        (*capture)[tag] = Span{pos, length};
      }
      if (top_pixel_data) {
        scan_.has_pixel_data = true;
        scan_.pixels = Span{pos, length};
      }
      // Implicit VR and UN values that hold items are sequences (as other readers parse them).
      const bool maybe_sq = !pixel_data && !sq && (enc == Encoding::implicit_le || un) &&
                            item_starts_at(pos, pos + length);
      if (sq || maybe_sq) {
        const Encoding inner = maybe_sq ? Encoding::implicit_le : enc;
        if (first_item != nullptr) {
          scan_.voi_encoding = inner;
        }
        sequence(pos, pos + length, false, inner, depth + 1, first_item);
      }
      pos += length;
    }
  }

  // Items from `pos` to `end`, or (`undefined`) to a sequence delimitation item. The first item's
  // elements go to `first_item` when given.
  std::size_t sequence(std::size_t pos, std::size_t end, bool undefined, Encoding enc, int depth,
                       Elements* first_item) {
    if (depth > kMaxDepth) {
      malformed("sequences nested more than " + std::to_string(kMaxDepth) + " deep");
    }
    const bool be = enc == Encoding::explicit_be;
    for (std::size_t index = 0;; ++index) {
      if (!undefined && pos == end) {
        return pos;
      }
      if (end - pos < 8) {
        if (undefined) {
          truncated("a sequence has no end");
        }
        malformed("an item runs past the end of its sequence");
      }
      const unsigned group = u16(pos, be);
      const unsigned element = u16(pos + 2, be);
      const std::uint32_t length = u32(pos + 4, be);
      if (group == 0xFFFE && element == 0xE0DD && undefined) {
        return pos + 8;
      }
      if (group != 0xFFFE || element != 0xE000) {
        malformed("an item expected in a sequence at offset " + std::to_string(pos));
      }
      pos += 8;
      Elements* capture = index == 0 ? first_item : nullptr;
      if (length == kUndefined) {
        pos = dataset(pos, end, enc, depth + 1, true, capture);
      } else {
        if (length > end - pos) {
          truncated("an item declares " + std::to_string(length) + " bytes, " +
                    std::to_string(end - pos) + " are left");
        }
        dataset(pos, pos + length, enc, depth + 1, false, capture);
        pos += length;
      }
    }
  }

  // The fragments of encapsulated pixel data (always little endian), up to the sequence
  // delimitation item.
  std::size_t fragments(std::size_t pos, bool record) {
    while (true) {
      if (b_.size() - pos < 8) {
        fail(name_, "truncated pixel data (the fragment sequence has no end)");
      }
      const unsigned group = u16(pos, false);
      const unsigned element = u16(pos + 2, false);
      const std::uint32_t length = u32(pos + 4, false);
      if (group == 0xFFFE && element == 0xE0DD) {
        return pos + 8;
      }
      if (group != 0xFFFE || element != 0xE000) {
        malformed("a pixel data fragment expected at offset " + std::to_string(pos));
      }
      pos += 8;
      if (length == kUndefined || length > b_.size() - pos) {
        fail(name_, "truncated pixel data (a fragment declares " + std::to_string(length) +
                        " bytes, " + std::to_string(b_.size() - pos) + " are left)");
      }
      if (record) {
        scan_.fragments.emplace_back(pos, length);
      }
      pos += length;
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Values of the elements the walker kept

class Values {
 public:
  Values(Bytes b, const Elements& elements, Encoding enc)
      : b_(b), elements_(elements), big_endian_(enc == Encoding::explicit_be) {}

  bool has(std::uint32_t tag) const { return elements_.count(tag) != 0; }

  // Text (trailing spaces and NULs removed); empty when absent.
  std::string text(std::uint32_t tag) const {
    const auto it = elements_.find(tag);
    if (it == elements_.end()) {
      return {};
    }
    return trim(std::string(reinterpret_cast<const char*>(b_.data() + it->second.offset),
                            it->second.length));
  }

  // The 16-bit words of a US/SS/OW value.
  std::vector<std::uint16_t> words(std::uint32_t tag) const {
    std::vector<std::uint16_t> out;
    const auto it = elements_.find(tag);
    if (it == elements_.end()) {
      return out;
    }
    const std::uint8_t* p = b_.data() + it->second.offset;
    for (std::size_t i = 0; i + 1 < it->second.length; i += 2) {
      out.push_back(big_endian_ ? static_cast<std::uint16_t>((p[i] << 8) | p[i + 1])
                                : static_cast<std::uint16_t>(p[i] | (p[i + 1] << 8)));
    }
    return out;
  }

  std::optional<unsigned> ushort(std::uint32_t tag) const {
    const std::vector<std::uint16_t> w = words(tag);
    if (w.empty()) {
      return std::nullopt;
    }
    return w[0];
  }

  // The first value of a DS or IS ("600\700" gives 600).
  std::optional<double> number(std::uint32_t tag) const {
    std::string v = text(tag);
    v = trim(v.substr(0, v.find('\\')));
    if (v.empty()) {
      return std::nullopt;
    }
    const char* begin = v.data() + (v[0] == '+' ? 1 : 0);
    double d = 0;
    const auto [end, ec] = std::from_chars(begin, v.data() + v.size(), d);
    if (ec != std::errc() || end != v.data() + v.size() || !std::isfinite(d)) {
      return std::nullopt;
    }
    return d;
  }

  const std::uint8_t* data(std::uint32_t tag) const { return b_.data() + elements_.at(tag).offset; }
  std::size_t length(std::uint32_t tag) const { return elements_.at(tag).length; }

 private:
  Bytes b_;
  const Elements& elements_;
  bool big_endian_;
};

// ---------------------------------------------------------------------------------------------
// The header

struct Header {
  Scan scan;
  std::string transfer_syntax;  // the meta's, or the encoding found for a data set without meta
  int rows = 0;
  int columns = 0;
  int frames = 1;
  PixelLayout layout;
};

Header read_header(Bytes bytes, const Limits& limits, std::string_view name) {
  Header h;
  h.scan = Walker(bytes, name).run();
  if (!h.scan.has_pixel_data) {
    fail(name, "the DICOM file has no pixel data");
  }
  const Values v(bytes, h.scan.top, h.scan.encoding);
  const std::optional<unsigned> rows = v.ushort(0x00280010);
  const std::optional<unsigned> columns = v.ushort(0x00280011);
  if (!rows || !columns) {
    fail(name, "the DICOM header has no Rows or Columns");
  }
  std::uint64_t frames = 1;
  if (const std::optional<double> f = v.number(0x00280008); f && *f >= 1) {
    frames = static_cast<std::uint64_t>(std::min(*f, 4.0e9));
  }
  check_pixel_count(*columns, *rows, frames, limits, name);
  h.rows = static_cast<int>(*rows);
  h.columns = static_cast<int>(*columns);
  h.frames = static_cast<int>(frames);
  h.transfer_syntax = h.scan.transfer_syntax;
  if (h.transfer_syntax.empty()) {
    h.transfer_syntax = std::string(h.scan.encoding == Encoding::implicit_le
                                        ? kImplicitLE
                                        : std::string_view("1.2.840.10008.1.2.1"));
  }
  PixelLayout& l = h.layout;
  l.samples = static_cast<int>(v.ushort(0x00280002).value_or(1));
  l.bits_allocated = static_cast<int>(v.ushort(0x00280100).value_or(0));
  l.bits_stored = static_cast<int>(v.ushort(0x00280101).value_or(0));
  l.high_bit = static_cast<int>(v.ushort(0x00280102).value_or(0));
  l.pixel_representation = v.ushort(0x00280103).value_or(0) == 1 ? 1 : 0;
  l.planar_configuration = v.ushort(0x00280006).value_or(0) == 1 ? 1 : 0;
  l.photometric = v.text(0x00280004);
  return h;
}

// Bits stored and high bit made consistent with bits allocated.
void normalise(PixelLayout& l) {
  if (l.bits_stored < 1 || l.bits_stored > l.bits_allocated) {
    l.bits_stored = l.bits_allocated;
  }
  if (l.high_bit < l.bits_stored - 1 || l.high_bit >= l.bits_allocated) {
    l.high_bit = l.bits_stored - 1;
  }
}

// ---------------------------------------------------------------------------------------------
// Checks before decoding

bool is_monochrome(const std::string& pi) {
  return pi == "MONOCHROME1" || pi == "MONOCHROME2";
}

bool is_colour(const std::string& pi) {
  return pi == "RGB" || pi == "YBR_FULL" || pi == "YBR_FULL_422" || pi == "YBR_ICT" ||
         pi == "YBR_RCT";
}

void check_decodable(const Header& h, Bytes bytes, std::string_view name) {
  const PixelLayout& l = h.layout;
  if (l.photometric.empty()) {
    fail(name, "the DICOM header has no photometric interpretation");
  }
  if (!is_monochrome(l.photometric) && !is_colour(l.photometric)) {
    fail(name, "unsupported photometric interpretation " + l.photometric);
  }
  if (l.samples != (is_monochrome(l.photometric) ? 1 : 3)) {
    fail(name,
         "unsupported: " + std::to_string(l.samples) + " samples per pixel with " + l.photometric);
  }
  if (l.bits_allocated != 8 && l.bits_allocated != 16 && l.bits_allocated != 32) {
    fail(name, "unsupported Bits Allocated " + std::to_string(l.bits_allocated));
  }
  const bool compressed = h.transfer_syntax.rfind("1.2.840.10008.1.2.4.", 0) == 0 ||
                          h.transfer_syntax == "1.2.840.10008.1.2.5";
  if (h.scan.encapsulated != compressed) {
    fail(name, std::string("malformed DICOM data (") +
                   (compressed ? "uncompressed" : "encapsulated") +
                   " pixel data with transfer syntax " + describe_syntax(h.transfer_syntax) + ")");
  }
  if (!h.scan.encapsulated && l.photometric == "YBR_FULL_422") {
    fail(name, "unsupported photometric interpretation YBR_FULL_422 in uncompressed pixel data");
  }
  if (!h.scan.encapsulated) {
    const std::uint64_t needed = std::uint64_t(h.rows) * std::uint64_t(h.columns) *
                                 std::uint64_t(h.frames) * std::uint64_t(l.samples) *
                                 std::uint64_t(l.bits_allocated / 8);
    if (h.scan.pixels.length < needed) {
      fail(name, "truncated pixel data (" + std::to_string(h.scan.pixels.length) + " bytes, " +
                     std::to_string(needed) + " needed for " + std::to_string(h.columns) + " x " +
                     std::to_string(h.rows) + " x " + std::to_string(h.frames) + " frames)");
    }
    return;
  }
  const auto first = std::find_if(h.scan.fragments.begin() + (h.scan.fragments.empty() ? 0 : 1),
                                  h.scan.fragments.end(),
                                  [](const auto& fragment) { return fragment.second > 0; });
  if (first == h.scan.fragments.end()) {
    fail(name, "the DICOM file has no pixel data (no compressed fragments)");
  }
  // The codecs size their buffers from the compressed stream's own header: refuse one that
  // declares a larger image than Rows x Columns.
  const Bytes frag = bytes.subspan(first->first, first->second);
  std::uint64_t width = 0;
  std::uint64_t height = 0;
  if (frag.size() >= 2 && frag[0] == 0xFF && frag[1] == 0xD8) {
    const JpegHeader j = jpeg_header(frag, name, true, false);
    width = static_cast<std::uint64_t>(j.width);
    height = static_cast<std::uint64_t>(j.height);
  } else {
    // JPEG 2000 codestream: the SIZ marker segment right after SOC (FF 4F FF 51), possibly inside
    // a JP2 box structure.
    static constexpr std::uint8_t kSiz[] = {0xFF, 0x4F, 0xFF, 0x51};
    const auto it = std::search(frag.begin(), frag.end(), std::begin(kSiz), std::end(kSiz));
    const auto at = static_cast<std::size_t>(it - frag.begin());
    if (it != frag.end() && frag.size() - at >= 4 + 2 + 2 + 16) {
      const auto be32 = [&](std::size_t p) {
        return (std::uint32_t{frag[p]} << 24) | (std::uint32_t{frag[p + 1]} << 16) |
               (std::uint32_t{frag[p + 2]} << 8) | std::uint32_t{frag[p + 3]};
      };
      const std::size_t siz = at + 4 + 2 + 2;  // after SOC, the SIZ marker, Lsiz and Rsiz
      const std::uint32_t x = be32(siz);
      const std::uint32_t y = be32(siz + 4);
      const std::uint32_t x0 = be32(siz + 8);
      const std::uint32_t y0 = be32(siz + 12);
      width = x > x0 ? x - x0 : 0;
      height = y > y0 ? y - y0 : 0;
    }
  }
  if (width * height > std::uint64_t(h.rows) * std::uint64_t(h.columns)) {
    fail(name, "the compressed pixel data declares " + std::to_string(width) + " x " +
                   std::to_string(height) + " pixels, the header " + std::to_string(h.columns) +
                   " x " + std::to_string(h.rows));
  }
  // JPEG, JPEG-LS and JPEG 2000 streams end with FF D9 (EOI, EOC); a codec given a cut stream may
  // fill the rest with grey instead of failing. Checked for each frame when there is one fragment
  // per frame, else for the last fragment; padding after the marker (00 or FF) is allowed.
  if (h.transfer_syntax.rfind("1.2.840.10008.1.2.4.", 0) == 0) {
    const auto ends_with_marker = [&](const std::pair<std::size_t, std::size_t>& f) {
      std::size_t end = f.first + f.second;
      while (end > f.first && (bytes[end - 1] == 0x00 || bytes[end - 1] == 0xFF)) {
        --end;
      }
      return end - f.first >= 2 && bytes[end - 2] == 0xFF && bytes[end - 1] == 0xD9;
    };
    const std::size_t count = h.scan.fragments.size() - 1;
    const bool per_frame = count == static_cast<std::size_t>(h.frames);
    for (std::size_t i = per_frame ? 1 : count; i <= count; ++i) {
      if (!ends_with_marker(h.scan.fragments[i])) {
        fail(name, "truncated pixel data (the compressed stream has no end marker)");
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Values to 8 bits

struct Lut {
  std::vector<std::uint16_t> data;
  double first = 0;
  double max = 255;
};

// The first VOI LUT of the VOI LUT Sequence, if present and well-formed.
std::optional<Lut> voi_lut(const Scan& scan, Bytes bytes, bool signed_pixels) {
  const Values v(bytes, scan.voi, scan.voi_encoding);
  const std::vector<std::uint16_t> descriptor = v.words(0x00283002);
  if (descriptor.size() < 3 || !v.has(0x00283006)) {
    return std::nullopt;
  }
  const std::size_t entries = descriptor[0] == 0 ? 65536 : descriptor[0];
  const int bits = descriptor[2];
  if (bits < 1 || bits > 16) {
    return std::nullopt;
  }
  Lut lut;
  lut.first = signed_pixels ? static_cast<double>(static_cast<std::int16_t>(descriptor[1]))
                            : static_cast<double>(descriptor[1]);
  lut.max = std::ldexp(1.0, bits) - 1;
  std::vector<std::uint16_t> data = v.words(0x00283006);
  if (data.size() >= entries) {
    data.resize(entries);
    lut.data = std::move(data);
  } else if (bits <= 8 && v.length(0x00283006) >= entries) {  // 8-bit entries, one per byte
    const std::uint8_t* p = v.data(0x00283006);
    lut.data.assign(p, p + entries);
  } else {
    return std::nullopt;
  }
  return lut;
}

std::uint8_t to_byte(double v) {
  if (!(v > 0)) {
    return 0;
  }
  if (v >= 255) {
    return 255;
  }
  return static_cast<std::uint8_t>(std::lround(v));
}

// Window Center/Width per PS3.3 C.11.2.1.2 (LINEAR, the default), C.11.2.1.3 (LINEAR_EXACT,
// SIGMOID), to 0..255.
double window(double x, double c, double w, const std::string& function) {
  if (function == "SIGMOID") {
    return 255.0 / (1.0 + std::exp(-4.0 * (x - c) / w));
  }
  if (function == "LINEAR_EXACT") {
    if (x <= c - w / 2) {
      return 0;
    }
    if (x > c + w / 2) {
      return 255;
    }
    return ((x - c) / w + 0.5) * 255.0;
  }
  if (x <= c - 0.5 - (w - 1) / 2) {
    return 0;
  }
  if (x > c - 0.5 + (w - 1) / 2) {
    return 255;
  }
  return ((x - (c - 0.5)) / (w - 1) + 0.5) * 255.0;
}

// One sample of the decoded buffer as the stored value: bits above the high bit masked off, the
// sign extended for signed pixel data.
struct SampleReader {
  const char* data = nullptr;
  bool big_endian = false;
  int bytes = 2;
  int shift = 0;
  std::uint32_t mask = 0xFFFF;
  bool is_signed = false;
  std::uint32_t sign_bit = 0x8000;

  double operator()(std::size_t i) const {
    std::uint32_t v = 0;
    if (bytes == 1) {
      v = static_cast<std::uint8_t>(data[i]);
    } else if (bytes == 2) {
      std::uint16_t s = 0;
      std::memcpy(&s, data + 2 * i, 2);
      v = big_endian ? static_cast<std::uint16_t>((s >> 8) | (s << 8)) : s;
    } else {
      std::memcpy(&v, data + 4 * i, 4);
      if (big_endian) {
        v = (v >> 24) | ((v >> 8) & 0xFF00u) | ((v << 8) & 0xFF0000u) | (v << 24);
      }
    }
    v = (v >> shift) & mask;
    if (is_signed && (v & sign_bit) != 0) {
      return static_cast<double>(v) - 2.0 * static_cast<double>(sign_bit);
    }
    return static_cast<double>(v);
  }
};

}  // namespace

Probe probe_dicom(Bytes bytes, const Limits& limits, std::string_view name) {
  const Header h = read_header(bytes, limits, name);
  return Probe{Format::dicom, h.columns, h.rows};
}

Decoded decode_dicom(Bytes bytes, const Limits& limits, std::string_view name) {
  Header h = read_header(bytes, limits, name);
  normalise(h.layout);
  check_decodable(h, bytes, name);
  const std::string& syntax = h.transfer_syntax;

  // The pixels and their layout: as stored, or as the codec produced them (it may turn YBR into
  // RGB, or put 12-bit JPEG samples into 16 bits).
  PixelLayout layout = h.layout;
  const char* data = nullptr;
  std::size_t available = 0;
  bool big_endian = false;
  CodecOutput decoded;
  if (!h.scan.encapsulated) {
    data = reinterpret_cast<const char*>(bytes.data() + h.scan.pixels.offset);
    available = h.scan.pixels.length;
    big_endian = h.scan.encoding == Encoding::explicit_be;
  } else {
    CodecInput in;
    in.file = bytes;
    in.fragments = h.scan.fragments;
    in.transfer_syntax = syntax;
    in.rows = h.rows;
    in.columns = h.columns;
    in.frames = h.frames;
    in.layout = h.layout;
    const CodecStatus status = decode_fragments(in, decoded);
    if (status != CodecStatus::ok) {
      fail(name,
           "cannot decode the pixel data (transfer syntax " + describe_syntax(syntax) +
               (status == CodecStatus::crashed ? "): the decoder failed on corrupt data" : ")"));
    }
    layout = decoded.layout;
    normalise(layout);
    if ((layout.bits_allocated != 8 && layout.bits_allocated != 16 &&
         layout.bits_allocated != 32) ||
        layout.samples != h.layout.samples) {
      fail(name, "cannot decode the pixel data (transfer syntax " + describe_syntax(syntax) + ")");
    }
    data = decoded.pixels.data();
    available = decoded.pixels.size();
  }
  const int samples = layout.samples;
  const int bits_stored = layout.bits_stored;
  const bool planar = samples == 3 && layout.planar_configuration == 1;

  const std::size_t n = std::size_t(h.rows) * std::size_t(h.columns);
  const std::size_t sample_bytes = static_cast<std::size_t>(layout.bits_allocated / 8);
  const std::size_t frame_bytes = n * std::size_t(samples) * sample_bytes;
  const int frame = h.frames / 2;
  if (available < frame_bytes * std::size_t(h.frames)) {
    fail(name, "truncated pixel data (" + std::to_string(available) + " bytes, " +
                   std::to_string(frame_bytes * std::size_t(h.frames)) + " needed)");
  }

  SampleReader read;
  read.data = data + frame_bytes * std::size_t(frame);
  read.big_endian = big_endian;
  read.bytes = layout.bits_allocated / 8;
  read.shift = layout.high_bit + 1 - bits_stored;
  read.mask = bits_stored >= 32 ? 0xFFFFFFFFu : ((std::uint32_t{1} << bits_stored) - 1);
  read.is_signed = layout.pixel_representation == 1;
  read.sign_bit = std::uint32_t{1} << (bits_stored - 1);

  std::vector<double> values(n);
  const bool monochrome = samples == 1;
  if (monochrome) {
    for (std::size_t i = 0; i < n; ++i) {
      values[i] = read(i);
    }
  } else {
    const auto at = [&](std::size_t p, std::size_t c) {
      return read(planar ? c * n + p : p * 3 + c);
    };
    const bool still_ybr = trim(layout.photometric).rfind("YBR", 0) == 0;
    for (std::size_t p = 0; p < n; ++p) {
      // Luma: Y itself for YBR data, BT.601 weights for RGB.
      values[p] = still_ybr ? at(p, 0) : 0.299 * at(p, 0) + 0.587 * at(p, 1) + 0.114 * at(p, 2);
    }
  }

  const Values attributes(bytes, h.scan.top, h.scan.encoding);
  std::string windowing;
  std::vector<std::uint8_t> out(n);
  const auto min_max = [&] {
    const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
    const double low = *lo;
    const double range = *hi - *lo;
    for (std::size_t i = 0; i < n; ++i) {
      out[i] = range > 0 ? to_byte((values[i] - low) / range * 255.0) : 0;
    }
    windowing = "min-max";
  };

  if (monochrome) {
    // Modality LUT: Rescale Slope and Intercept (a slope of 0 or one that cannot be read is
    // ignored).
    const double slope = attributes.number(0x00281053).value_or(1.0);
    const double intercept = attributes.number(0x00281052).value_or(0.0);
    if (slope != 0 && (slope != 1 || intercept != 0)) {
      for (double& v : values) {
        v = v * slope + intercept;
      }
    }
    const std::optional<Lut> lut = voi_lut(h.scan, bytes, read.is_signed);
    const std::optional<double> centre = attributes.number(0x00281050);
    const std::optional<double> width = attributes.number(0x00281051);
    const std::string function = attributes.text(0x00281056);
    if (lut) {
      const long last = static_cast<long>(lut->data.size()) - 1;
      for (std::size_t i = 0; i < n; ++i) {
        const double index =
            std::clamp(std::floor(values[i]) - lut->first, 0.0, static_cast<double>(last));
        out[i] = to_byte(lut->data[static_cast<std::size_t>(index)] / lut->max * 255.0);
      }
      windowing = "VOI LUT";
    } else if (centre && width &&
               (*width >= 1 || (*width > 0 && !function.empty() && function != "LINEAR"))) {
      for (std::size_t i = 0; i < n; ++i) {
        out[i] = to_byte(window(values[i], *centre, *width, function));
      }
      windowing = "window C/W";
    } else {
      min_max();
    }
    if (h.layout.photometric == "MONOCHROME1") {
      for (std::uint8_t& v : out) {
        v = static_cast<std::uint8_t>(255 - v);
      }
    }
  } else if (bits_stored <= 8) {
    for (std::size_t i = 0; i < n; ++i) {
      out[i] = to_byte(values[i]);
    }
    windowing = "none";
  } else {
    min_max();
  }

  Decoded d;
  d.format = Format::dicom;
  d.image.width = h.columns;
  d.image.height = h.rows;
  d.image.channels = 1;
  d.image.pixels = std::move(out);
  DicomInfo info;
  info.modality = attributes.text(0x00080060);
  info.body_part = attributes.text(0x00180015);
  info.patient_id = attributes.text(0x00100020);
  info.study_uid = attributes.text(0x0020000D);
  info.photometric = h.layout.photometric;
  info.transfer_syntax = syntax;
  info.bits_stored = h.layout.bits_stored;
  info.frames = h.frames;
  info.frame_used = frame;
  info.windowing = windowing;
  d.dicom = std::move(info);
  return d;
}

}  // namespace csss::imaging::detail
