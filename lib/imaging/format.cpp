// Recognising formats by content, reading PNG and JPEG headers, and the probe/decode entry points.
// No third-party code here: the headers are parsed by hand so that limits are checked before any
// decoder allocates.

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "imaging/image.hpp"
#include "imaging/internal.hpp"
#include "util/error.hpp"

namespace csss::imaging {

namespace detail {

void fail(std::string_view name, const std::string& what) {
  throw Error(ErrorKind::invalid_input, std::string(name) + ": " + what);
}

void check_pixel_count(std::uint64_t width, std::uint64_t height, std::uint64_t frames,
                       const Limits& limits, std::string_view name) {
  if (width == 0 || height == 0 || frames == 0) {
    fail(name, "the image declares an empty size (" + std::to_string(width) + " x " +
                   std::to_string(height) + ")");
  }
  // Each factor is below 2^32, so the product of two cannot overflow; check before multiplying by
  // the third.
  const std::uint64_t plane = width * height;
  const bool over = plane > limits.max_pixels || frames > limits.max_pixels / plane;
  if (over) {
    std::string declared = std::to_string(width) + " x " + std::to_string(height) + " pixels";
    if (frames > 1) {
      declared += " x " + std::to_string(frames) + " frames";
    }
    fail(name, "the image declares " + declared + ", more than the limit of " +
                   std::to_string(limits.max_pixels) + " pixels (scan.max_megapixels)");
  }
}

namespace {

constexpr std::array<std::uint8_t, 8> kPngSignature{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

std::uint32_t be32(Bytes b, std::size_t pos) {
  return (std::uint32_t{b[pos]} << 24) | (std::uint32_t{b[pos + 1]} << 16) |
         (std::uint32_t{b[pos + 2]} << 8) | std::uint32_t{b[pos + 3]};
}

int be16(Bytes b, std::size_t pos) {
  return (int{b[pos]} << 8) | int{b[pos + 1]};
}

bool is_frame_header(int marker, bool jpeg_ls) {
  // SOF0..SOF15 are C0..CF, except DHT (C4), JPG (C8, reserved) and DAC (CC).
  if (marker >= 0xC0 && marker <= 0xCF) {
    return marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
  }
  return jpeg_ls && marker == 0xF7;
}

bool has_png_signature(Bytes b) {
  return b.size() >= kPngSignature.size() &&
         std::equal(kPngSignature.begin(), kPngSignature.end(), b.begin());
}

bool has_jpeg_soi(Bytes b) {
  return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

bool has_dicom_prefix(Bytes b) {
  return b.size() >= 132 && std::memcmp(b.data() + 128, "DICM", 4) == 0;
}

bool is_upper(std::uint8_t c) {
  return c >= 'A' && c <= 'Z';
}

// A data set without preamble: it starts with a little-endian tag of group 0002 (file meta
// information) or 0008 (identifying information), followed by either an explicit VR or an
// implicit 32-bit length that fits in the file.
bool looks_like_raw_dicom(Bytes b) {
  if (b.size() < 8) {
    return false;
  }
  const int group = b[0] | (b[1] << 8);
  const int element = b[2] | (b[3] << 8);
  if ((group != 0x0002 && group != 0x0008) || element >= 0x1000) {
    return false;
  }
  if (is_upper(b[4]) && is_upper(b[5])) {
    return true;
  }
  const std::uint32_t length = std::uint32_t{b[4]} | (std::uint32_t{b[5]} << 8) |
                               (std::uint32_t{b[6]} << 16) | (std::uint32_t{b[7]} << 24);
  return length == 0xFFFFFFFFu || length <= b.size() - 8;
}

}  // namespace

PngHeader png_header(Bytes b, std::string_view name) {
  // Signature (8), IHDR length (4) and type (4), 13 data bytes, CRC (4).
  if (b.size() < 33) {
    fail(name, "truncated PNG (the header is cut off)");
  }
  if (be32(b, 8) != 13 || std::memcmp(b.data() + 12, "IHDR", 4) != 0) {
    fail(name, "malformed PNG (the first chunk is not a valid IHDR)");
  }
  PngHeader h;
  h.width = be32(b, 16);
  h.height = be32(b, 20);
  h.bit_depth = b[24];
  h.color_type = b[25];
  if (h.width > 0x7FFFFFFFu || h.height > 0x7FFFFFFFu) {
    fail(name, "malformed PNG (width or height above 2^31 - 1)");
  }
  const int d = h.bit_depth;
  bool valid = false;
  switch (h.color_type) {
    case 0:
      valid = d == 1 || d == 2 || d == 4 || d == 8 || d == 16;
      break;
    case 3:
      valid = d == 1 || d == 2 || d == 4 || d == 8;
      break;
    case 2:
    case 4:
    case 6:
      valid = d == 8 || d == 16;
      break;
    default:
      break;
  }
  if (!valid) {
    fail(name, "malformed PNG (colour type " + std::to_string(h.color_type) + " with bit depth " +
                   std::to_string(d) + ")");
  }
  return h;
}

void check_png_complete(Bytes b, std::string_view name) {
  std::size_t pos = kPngSignature.size();
  while (true) {
    if (b.size() - pos < 12) {
      fail(name, "truncated PNG (no IEND chunk)");
    }
    const std::uint32_t length = be32(b, pos);
    if (length > 0x7FFFFFFFu) {
      fail(name, "malformed PNG (chunk length above 2^31 - 1)");
    }
    if (length > b.size() - pos - 12) {
      fail(name, "truncated PNG (a chunk runs past the end of the file)");
    }
    if (std::memcmp(b.data() + pos + 4, "IEND", 4) == 0) {
      return;
    }
    pos += 12 + std::size_t{length};
  }
}

JpegHeader jpeg_header(Bytes b, std::string_view name, bool jpeg_ls, bool find_scan) {
  if (b.size() < 2 || b[0] != 0xFF || b[1] != 0xD8) {
    fail(name, "malformed JPEG (no start-of-image marker)");
  }
  JpegHeader h;
  bool have_frame = false;
  std::size_t pos = 2;
  while (true) {
    if (pos >= b.size()) {
      fail(name, "truncated JPEG (the header is cut off)");
    }
    if (b[pos] != 0xFF) {
      fail(name, "malformed JPEG (marker expected at offset " + std::to_string(pos) + ")");
    }
    while (pos < b.size() && b[pos] == 0xFF) {  // fill bytes
      ++pos;
    }
    if (pos >= b.size()) {
      fail(name, "truncated JPEG (the header is cut off)");
    }
    const int marker = b[pos++];
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {  // segments without length
      continue;
    }
    if (marker == 0x00) {
      fail(name, "malformed JPEG (invalid marker at offset " + std::to_string(pos - 1) + ")");
    }
    if (marker == 0xD9) {
      fail(name, "malformed JPEG (no frame header before the end of the image)");
    }
    if (marker == 0xDA) {
      if (!have_frame) {
        fail(name, "malformed JPEG (a scan starts before the frame header)");
      }
      h.scan_offset = pos - 2;
      return h;
    }
    if (b.size() - pos < 2) {
      fail(name, "truncated JPEG (the header is cut off)");
    }
    const std::size_t length = static_cast<std::size_t>(be16(b, pos));
    if (length < 2) {
      fail(name, "malformed JPEG (segment length below 2)");
    }
    if (length > b.size() - pos) {
      fail(name, "truncated JPEG (the header is cut off)");
    }
    if (!have_frame && is_frame_header(marker, jpeg_ls)) {
      if (length < 8) {
        fail(name, "malformed JPEG (frame header too short)");
      }
      h.precision = b[pos + 2];
      h.height = be16(b, pos + 3);
      h.width = be16(b, pos + 5);
      h.components = b[pos + 7];
      h.sof_marker = marker;
      have_frame = true;
      if (h.height == 0) {
        fail(name, "unsupported JPEG (the height is defined later by a DNL marker)");
      }
      if (!find_scan) {
        return h;
      }
    }
    pos += length;
  }
}

void check_jpeg_complete(Bytes b, const JpegHeader& h, std::string_view name) {
  // Entropy-coded data never contains FF D9 (a data FF is followed by 00 or a restart marker), so
  // an FF D9 after the first scan is the end-of-image marker; trailing bytes after it are allowed.
  for (std::size_t i = b.size() - 1; i > h.scan_offset; --i) {
    if (b[i] == 0xD9 && b[i - 1] == 0xFF) {
      return;
    }
  }
  fail(name, "truncated JPEG (no end-of-image marker)");
}

}  // namespace detail

using detail::Bytes;
using detail::fail;

std::string_view to_string(Format format) noexcept {
  switch (format) {
    case Format::png:
      return "png";
    case Format::jpeg:
      return "jpeg";
    case Format::dicom:
      return "dicom";
  }
  return "unknown";
}

std::optional<Format> sniff(std::span<const std::uint8_t> bytes) {
  if (detail::has_png_signature(bytes)) {
    return Format::png;
  }
  if (detail::has_jpeg_soi(bytes)) {
    return Format::jpeg;
  }
  if (detail::has_dicom_prefix(bytes) || detail::looks_like_raw_dicom(bytes)) {
    return Format::dicom;
  }
  return std::nullopt;
}

namespace {

// The checks every input gets first: not empty, not over the file limit, a known format.
Format recognise(Bytes bytes, const Limits& limits, std::string_view name) {
  if (bytes.empty()) {
    fail(name, "the file is empty");
  }
  if (bytes.size() > limits.max_file_bytes) {
    fail(name, "the file has " + std::to_string(bytes.size()) + " bytes, more than the limit of " +
                   std::to_string(limits.max_file_bytes) + " bytes (scan.max_file_mb)");
  }
  const std::optional<Format> format = sniff(bytes);
  if (!format) {
    fail(name, "not a PNG, JPEG or DICOM file");
  }
  return *format;
}

}  // namespace

Probe probe(std::span<const std::uint8_t> bytes, const Limits& limits, std::string_view name) {
  switch (recognise(bytes, limits, name)) {
    case Format::png: {
      const detail::PngHeader h = detail::png_header(bytes, name);
      detail::check_pixel_count(h.width, h.height, 1, limits, name);
      return Probe{Format::png, static_cast<int>(h.width), static_cast<int>(h.height)};
    }
    case Format::jpeg: {
      const detail::JpegHeader h = detail::jpeg_header(bytes, name, false, false);
      detail::check_pixel_count(static_cast<std::uint64_t>(h.width),
                                static_cast<std::uint64_t>(h.height), 1, limits, name);
      return Probe{Format::jpeg, h.width, h.height};
    }
    case Format::dicom:
      return detail::probe_dicom(bytes, limits, name);
  }
  fail(name, "not a PNG, JPEG or DICOM file");
}

Decoded decode(std::span<const std::uint8_t> bytes, const Limits& limits, std::string_view name) {
  switch (recognise(bytes, limits, name)) {
    case Format::png: {
      const detail::PngHeader h = detail::png_header(bytes, name);
      detail::check_pixel_count(h.width, h.height, 1, limits, name);
      detail::check_png_complete(bytes, name);
      const bool gray = h.color_type == 0 || h.color_type == 4;
      return detail::decode_raster(bytes, Format::png, gray, name);
    }
    case Format::jpeg: {
      const detail::JpegHeader h = detail::jpeg_header(bytes, name, false, true);
      detail::check_pixel_count(static_cast<std::uint64_t>(h.width),
                                static_cast<std::uint64_t>(h.height), 1, limits, name);
      detail::check_jpeg_complete(bytes, h, name);
      return detail::decode_raster(bytes, Format::jpeg, h.components == 1, name);
    }
    case Format::dicom:
      return detail::decode_dicom(bytes, limits, name);
  }
  fail(name, "not a PNG, JPEG or DICOM file");
}

}  // namespace csss::imaging
