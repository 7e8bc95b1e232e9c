// lib/imaging: recognising formats, probing headers, decoding PNG and JPEG, refusing bad input,
// encode_png and overlay_heatmap. The PNG inputs are written here byte by byte (a minimal encoder
// with stored deflate blocks), so every colour type, bit depth and defect is under the test's
// control; JPEG inputs are sample files from datasets/.

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "imaging/image.hpp"
#include "support/check_error.hpp"
#include "support/process.hpp"

using namespace csss::imaging;
using csss::ErrorKind;
using csss::test::check_error;
using csss::test::contains;
using Bytes = std::vector<std::uint8_t>;

namespace {

Bytes read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << p);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::filesystem::path datasets() {
  return std::filesystem::path(csss::test::source_dir()) / "datasets";
}

// ---- a minimal PNG writer --------------------------------------------------------------------

std::uint32_t crc32(const std::uint8_t* p, std::size_t n, std::uint32_t crc = 0) {
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) {
      crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
  }
  return ~crc;
}

void put32(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>(v >> shift));
  }
}

void chunk(Bytes& out, const char* type, const Bytes& data) {
  put32(out, static_cast<std::uint32_t>(data.size()));
  Bytes typed(type, type + 4);
  typed.insert(typed.end(), data.begin(), data.end());
  out.insert(out.end(), typed.begin(), typed.end());
  put32(out, crc32(typed.data(), typed.size()));
}

// A zlib stream of `raw` in stored (uncompressed) deflate blocks.
Bytes zlib_stored(const Bytes& raw) {
  Bytes z{0x78, 0x01};
  std::size_t pos = 0;
  do {
    const std::size_t n = std::min<std::size_t>(65535, raw.size() - pos);
    const bool last = pos + n == raw.size();
    z.push_back(last ? 1 : 0);
    z.push_back(static_cast<std::uint8_t>(n & 0xFF));
    z.push_back(static_cast<std::uint8_t>(n >> 8));
    z.push_back(static_cast<std::uint8_t>(~n & 0xFF));
    z.push_back(static_cast<std::uint8_t>((~n >> 8) & 0xFF));
    z.insert(z.end(), raw.begin() + static_cast<std::ptrdiff_t>(pos),
             raw.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
  } while (pos < raw.size());
  std::uint32_t a = 1;
  std::uint32_t b = 0;
  for (std::uint8_t v : raw) {
    a = (a + v) % 65521;
    b = (b + a) % 65521;
  }
  put32(z, (b << 16) | a);
  return z;
}

struct PngSpec {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  int bit_depth = 8;
  int color_type = 0;
  Bytes rows;  // packed scanlines without filter bytes
  Bytes palette;
  Bytes transparency;
};

Bytes ihdr(std::uint32_t width, std::uint32_t height, int bit_depth, int color_type) {
  Bytes h;
  put32(h, width);
  put32(h, height);
  h.push_back(static_cast<std::uint8_t>(bit_depth));
  h.push_back(static_cast<std::uint8_t>(color_type));
  h.push_back(0);  // compression
  h.push_back(0);  // filter
  h.push_back(0);  // interlace
  return h;
}

Bytes make_png(const PngSpec& s) {
  Bytes out{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  chunk(out, "IHDR", ihdr(s.width, s.height, s.bit_depth, s.color_type));
  if (!s.palette.empty()) {
    chunk(out, "PLTE", s.palette);
  }
  if (!s.transparency.empty()) {
    chunk(out, "tRNS", s.transparency);
  }
  const std::size_t stride = s.rows.size() / s.height;
  Bytes filtered;
  for (std::uint32_t y = 0; y < s.height; ++y) {
    filtered.push_back(0);  // filter type None
    filtered.insert(filtered.end(), s.rows.begin() + static_cast<std::ptrdiff_t>(y * stride),
                    s.rows.begin() + static_cast<std::ptrdiff_t>((y + 1) * stride));
  }
  chunk(out, "IDAT", zlib_stored(filtered));
  chunk(out, "IEND", {});
  return out;
}

Bytes as_bytes(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

const Limits kLimits{};

}  // namespace

TEST_CASE("imaging: format names") {
  CHECK(to_string(Format::png) == "png");
  CHECK(to_string(Format::jpeg) == "jpeg");
  CHECK(to_string(Format::dicom) == "dicom");
}

TEST_CASE("imaging: sniff recognises content, never names") {
  const Bytes png = make_png({2, 1, 8, 0, {1, 2}, {}, {}});
  const Bytes jpeg = read_file(datasets() / "samples/chest-xray/normal/0.jpg");
  const Bytes dicom = read_file(datasets() / "dicom/MR_small.dcm");
  CHECK(sniff(png) == Format::png);
  CHECK(sniff(jpeg) == Format::jpeg);
  CHECK(sniff(dicom) == Format::dicom);
  CHECK_FALSE(sniff(as_bytes("hello, this is plain text and not an image at all")).has_value());
  CHECK_FALSE(sniff(Bytes{}).has_value());
  CHECK_FALSE(sniff(Bytes{0x89, 'P', 'N'}).has_value());  // a signature cut short
  CHECK_FALSE(sniff(Bytes{0xFF, 0xD8}).has_value());
  Bytes zeros(200, 0);
  CHECK_FALSE(sniff(zeros).has_value());

  // The name plays no part: a JPEG called .png and a PNG called .dcm decode as what they are.
  const Decoded j = decode(jpeg, kLimits, "scan.png");
  CHECK(j.format == Format::jpeg);
  const Decoded p = decode(png, kLimits, "scan.dcm");
  CHECK(p.format == Format::png);
  CHECK_FALSE(p.dicom.has_value());
}

TEST_CASE("imaging: probe reads the declared size from the header") {
  const Bytes jpeg = read_file(datasets() / "samples/chest-xray/normal/0.jpg");
  const Probe pj = probe(jpeg, kLimits, "0.jpg");
  CHECK(pj.format == Format::jpeg);
  CHECK(pj.width == 256);
  CHECK(pj.height == 192);
  const Decoded dj = decode(jpeg, kLimits, "0.jpg");
  CHECK(dj.image.width == pj.width);
  CHECK(dj.image.height == pj.height);

  const Bytes png = read_file(datasets() / "samples/pneumoniamnist/normal/train_00005.png");
  const Probe pp = probe(png, kLimits, "train_00005.png");
  CHECK(pp.format == Format::png);
  CHECK(pp.width == 28);
  CHECK(pp.height == 28);

  const Probe pw = probe(make_png({5, 3, 8, 2, Bytes(45, 7), {}, {}}), kLimits, "wide.png");
  CHECK(pw.width == 5);
  CHECK(pw.height == 3);

  const Probe pd = probe(read_file(datasets() / "dicom/JPEG-lossy.dcm"), kLimits, "lossy.dcm");
  CHECK(pd.format == Format::dicom);
  CHECK(pd.width == 256);
  CHECK(pd.height == 1024);
}

TEST_CASE("imaging: JPEG probe takes the size from SOFn, not from DHT or DAC") {
  // SOI; DHT (C4) and DAC (CC) whose bytes would read as a huge frame; progressive SOF2 10 x 20;
  // SOS. Only the header is needed by probe.
  const Bytes header{0xFF, 0xD8,                                                           // SOI
                     0xFF, 0xC4, 0x00, 0x0A, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 1,    0,    0,  // DHT
                     0xFF, 0xCC, 0x00, 0x08, 0x08, 0xFF, 0xFF, 0xFF, 0xFF,                 // DAC
                     0xFF, 0xFF,  // fill bytes
                     0xFF, 0xC2, 0x00, 0x0B, 0x08, 0x00, 0x14, 0x00, 0x0A, 0x01, 0x01, 0x11,
                     0x00, 0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00};
  const Probe p = probe(header, kLimits, "progressive.jpg");
  CHECK(p.format == Format::jpeg);
  CHECK(p.width == 10);
  CHECK(p.height == 20);

  // Cut inside the frame header, or before it: truncated.
  const Bytes in_sof(header.begin(), header.begin() + 30);
  check_error([&] { probe(in_sof, kLimits, "cut.jpg"); }, ErrorKind::invalid_input,
              "cut.jpg: truncated JPEG");
  const Bytes before_sof(header.begin(), header.begin() + 14);
  check_error([&] { probe(before_sof, kLimits, "cut.jpg"); }, ErrorKind::invalid_input,
              "cut.jpg: truncated JPEG");
  // A scan before any frame header, or no frame header at all: malformed.
  const Bytes no_frame{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02, 0xFF, 0xD9};
  check_error([&] { probe(no_frame, kLimits, "noframe.jpg"); }, ErrorKind::invalid_input,
              "noframe.jpg: malformed JPEG");
}

TEST_CASE("imaging: gray PNG stays one channel with its exact values") {
  const Decoded d =
      decode(make_png({3, 2, 8, 0, {0, 10, 20, 100, 200, 255}, {}, {}}), kLimits, "gray.png");
  CHECK(d.format == Format::png);
  CHECK(d.image.width == 3);
  CHECK(d.image.height == 2);
  CHECK(d.image.channels == 1);
  CHECK(d.image.pixels == Bytes{0, 10, 20, 100, 200, 255});
}

TEST_CASE("imaging: RGB and RGBA PNG give RGB in R, G, B order, alpha dropped") {
  const Bytes rgb_pixels{255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30};
  const Decoded rgb = decode(make_png({2, 2, 8, 2, rgb_pixels, {}, {}}), kLimits, "rgb.png");
  CHECK(rgb.image.channels == 3);
  CHECK(rgb.image.pixels == rgb_pixels);

  const Bytes rgba_pixels{255, 0, 0, 0, 0, 255, 0, 128, 0, 0, 255, 255, 10, 20, 30, 7};
  const Decoded rgba = decode(make_png({2, 2, 8, 6, rgba_pixels, {}, {}}), kLimits, "rgba.png");
  CHECK(rgba.image.channels == 3);
  CHECK(rgba.image.pixels == rgb_pixels);
}

TEST_CASE("imaging: palette PNG becomes RGB through its palette") {
  const Bytes palette{255, 0, 0, 0, 128, 0, 1, 2, 3};
  const Decoded d = decode(make_png({4, 1, 8, 3, {0, 1, 2, 1}, palette, {}}), kLimits, "pal.png");
  CHECK(d.image.channels == 3);
  CHECK(d.image.pixels == Bytes{255, 0, 0, 0, 128, 0, 1, 2, 3, 0, 128, 0});

  // With a transparency table (OpenCV then decodes to BGRA): still RGB, alpha dropped.
  const Decoded t =
      decode(make_png({2, 1, 8, 3, {2, 0}, palette, {0, 255, 17}}), kLimits, "pal-trns.png");
  CHECK(t.image.channels == 3);
  CHECK(t.image.pixels == Bytes{1, 2, 3, 255, 0, 0});

  // 2-bit indices, packed four to a byte: 0,1,2,1 = 00 01 10 01.
  const Decoded p2 = decode(make_png({4, 1, 2, 3, {0x19}, palette, {}}), kLimits, "pal2.png");
  CHECK(p2.image.pixels == Bytes{255, 0, 0, 0, 128, 0, 1, 2, 3, 0, 128, 0});
}

TEST_CASE("imaging: gray+alpha PNG becomes gray") {
  const Decoded d =
      decode(make_png({2, 1, 8, 4, {90, 0, 180, 255}, {}, {}}), kLimits, "gray-alpha.png");
  CHECK(d.image.channels == 1);
  CHECK(d.image.pixels == Bytes{90, 180});
}

TEST_CASE("imaging: 16-bit PNG is scaled to 8 bits") {
  // Big-endian samples 0, 65535, 257 * 100, 257 * 37 + 100.
  const Bytes gray16{0x00, 0x00, 0xFF, 0xFF, 0x64, 0x64, 0x25, 0x89};
  const Decoded g = decode(make_png({4, 1, 16, 0, gray16, {}, {}}), kLimits, "gray16.png");
  CHECK(g.image.channels == 1);
  CHECK(g.image.pixels == Bytes{0, 255, 100, 37});

  const Bytes rgb16{0xFF, 0xFF, 0x00, 0x00, 0x80, 0x80};  // 65535, 0, 32896 = 257 * 128
  const Decoded c = decode(make_png({1, 1, 16, 2, rgb16, {}, {}}), kLimits, "rgb16.png");
  CHECK(c.image.channels == 3);
  CHECK(c.image.pixels == Bytes{255, 0, 128});
}

TEST_CASE("imaging: gray and RGB JPEG") {
  const Decoded gray = decode(read_file(datasets() / "samples/brain-mri/glioma/Tr-glTr_0000.jpg"),
                              kLimits, "glioma.jpg");
  CHECK(gray.format == Format::jpeg);
  CHECK(gray.image.channels == 1);
  CHECK(gray.image.width == 256);
  CHECK(gray.image.height == 256);
  CHECK(gray.image.pixels.size() == 256u * 256u);

  // 32 x 24, quadrants red | green over blue | white (datasets/fixtures/README).
  const Decoded rgb =
      decode(read_file(datasets() / "fixtures/rgb_quadrants.jpg"), kLimits, "q.jpg");
  REQUIRE(rgb.image.channels == 3);
  REQUIRE(rgb.image.width == 32);
  REQUIRE(rgb.image.height == 24);
  const auto pixel = [&](int x, int y) {
    const std::size_t i = (static_cast<std::size_t>(y) * 32 + static_cast<std::size_t>(x)) * 3;
    return std::array<int, 3>{rgb.image.pixels[i], rgb.image.pixels[i + 1],
                              rgb.image.pixels[i + 2]};
  };
  const auto near = [](std::array<int, 3> got, std::array<int, 3> want) {
    for (int c = 0; c < 3; ++c) {
      if (std::abs(got[static_cast<std::size_t>(c)] - want[static_cast<std::size_t>(c)]) > 24) {
        return false;
      }
    }
    return true;
  };
  CHECK(near(pixel(4, 4), {255, 0, 0}));
  CHECK(near(pixel(27, 4), {0, 255, 0}));
  CHECK(near(pixel(4, 19), {0, 0, 255}));
  CHECK(near(pixel(27, 19), {255, 255, 255}));
}

TEST_CASE("imaging: empty, text and unknown input are refused by name") {
  check_error([&] { probe(Bytes{}, kLimits, "empty.png"); }, ErrorKind::invalid_input,
              "empty.png: the file is empty");
  check_error([&] { decode(Bytes{}, kLimits, "empty.png"); }, ErrorKind::invalid_input,
              "empty.png: the file is empty");
  const Bytes text = as_bytes("<html><body>not an image</body></html>\n");
  check_error([&] { decode(text, kLimits, "scan.png"); }, ErrorKind::invalid_input,
              "scan.png: not a PNG, JPEG or DICOM file");
  check_error([&] { probe(text, kLimits, "scan.png"); }, ErrorKind::invalid_input,
              "scan.png: not a PNG, JPEG or DICOM file");
}

TEST_CASE("imaging: a PNG declaring 100000 x 100000 pixels is refused at once") {
  // Signature, IHDR and IEND: 57 bytes that would need 10 GB.
  Bytes huge{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  chunk(huge, "IHDR", ihdr(100000, 100000, 8, 0));
  chunk(huge, "IEND", {});
  CHECK(huge.size() < 100);
  CHECK(sniff(huge) == Format::png);
  const auto start = std::chrono::steady_clock::now();
  const std::string m1 = check_error([&] { probe(huge, kLimits, "bomb.png"); },
                                     ErrorKind::invalid_input, "bomb.png: ");
  const std::string m2 = check_error([&] { decode(huge, kLimits, "bomb.png"); },
                                     ErrorKind::invalid_input, "bomb.png: ");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(elapsed < std::chrono::milliseconds(200));
  for (const std::string& m : {m1, m2}) {
    CHECK(contains(m, "100000 x 100000"));
    CHECK(contains(m, "100000000"));  // the limit
  }
  // A lower limit applies to ordinary images too.
  Limits small;
  small.max_pixels = 5;
  check_error(
      [&] {
        decode(make_png({3, 2, 8, 0, Bytes(6, 1), {}, {}}), small, "six.png");
      },
      ErrorKind::invalid_input, "limit of 5 pixels");
  CHECK(decode(make_png({5, 1, 8, 0, Bytes(5, 1), {}, {}}), small, "five.png").image.width == 5);
}

TEST_CASE("imaging: files over the size limit are refused before anything else") {
  const Bytes png = make_png({8, 8, 8, 0, Bytes(64, 3), {}, {}});
  Limits limits;
  limits.max_file_bytes = png.size() - 1;
  const std::string m =
      check_error([&] { decode(png, limits, "big.png"); }, ErrorKind::invalid_input, "big.png: ");
  CHECK(contains(m, std::to_string(png.size())));
  CHECK(contains(m, std::to_string(png.size() - 1)));
  check_error([&] { probe(png, limits, "big.png"); }, ErrorKind::invalid_input, "limit");
  limits.max_file_bytes = png.size();
  CHECK(decode(png, limits, "big.png").image.width == 8);
}

TEST_CASE("imaging: truncated PNG is refused") {
  const Bytes png = make_png({16, 16, 8, 0, Bytes(256, 77), {}, {}});
  REQUIRE(decode(png, kLimits, "whole.png").image.pixels == Bytes(256, 77));

  const Bytes no_iend(png.begin(), png.end() - 12);
  check_error([&] { decode(no_iend, kLimits, "cut.png"); }, ErrorKind::invalid_input,
              "cut.png: truncated PNG");
  const Bytes half(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(png.size() / 2));
  check_error([&] { decode(half, kLimits, "half.png"); }, ErrorKind::invalid_input,
              "half.png: truncated PNG");
  const Bytes header_only(png.begin(), png.begin() + 20);
  check_error([&] { probe(header_only, kLimits, "head.png"); }, ErrorKind::invalid_input,
              "head.png: truncated PNG");

  // Complete structure, corrupt content (a flipped byte in the image data): the decoder refuses.
  Bytes corrupt = png;
  corrupt[60] ^= 0xFF;
  check_error([&] { decode(corrupt, kLimits, "corrupt.png"); }, ErrorKind::invalid_input,
              "corrupt.png: ");
}

TEST_CASE("imaging: truncated JPEG is refused, not decoded half grey") {
  const Bytes jpeg = read_file(datasets() / "samples/chest-xray/normal/0.jpg");
  REQUIRE(jpeg.size() > 2000);
  const Bytes half(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(jpeg.size() / 2));
  // The header is intact, so probe still answers; decode refuses.
  CHECK(probe(half, kLimits, "half.jpg").width == 256);
  check_error([&] { decode(half, kLimits, "half.jpg"); }, ErrorKind::invalid_input,
              "half.jpg: truncated JPEG");
  const Bytes cut_eoi(jpeg.begin(), jpeg.end() - 2);
  check_error([&] { decode(cut_eoi, kLimits, "noeoi.jpg"); }, ErrorKind::invalid_input,
              "noeoi.jpg: truncated JPEG");
  const Bytes header(jpeg.begin(), jpeg.begin() + 30);
  check_error([&] { probe(header, kLimits, "head.jpg"); }, ErrorKind::invalid_input,
              "head.jpg: truncated JPEG");

  // Bytes after the end-of-image marker do no harm.
  Bytes trailing = jpeg;
  trailing.insert(trailing.end(), 16, 0);
  CHECK(decode(trailing, kLimits, "trailing.jpg").image.width == 256);
}

TEST_CASE("imaging: encode_png round-trips through decode") {
  Image gray{5, 3, 1, {}};
  for (int i = 0; i < 15; ++i) {
    gray.pixels.push_back(static_cast<std::uint8_t>(i * 17));
  }
  const Bytes g = encode_png(gray);
  CHECK(sniff(g) == Format::png);
  const Decoded dg = decode(g, kLimits, "gray.png");
  CHECK(dg.image.width == 5);
  CHECK(dg.image.height == 3);
  CHECK(dg.image.channels == 1);
  CHECK(dg.image.pixels == gray.pixels);

  Image rgb{2, 2, 3, {255, 0, 0, 0, 255, 0, 0, 0, 255, 1, 2, 3}};
  const Decoded dr = decode(encode_png(rgb), kLimits, "rgb.png");
  CHECK(dr.image.channels == 3);
  CHECK(dr.image.pixels == rgb.pixels);

  check_error([&] { encode_png(Image{}); }, ErrorKind::invalid_input, "empty");
  check_error([&] { encode_png(Image{2, 2, 1, {1, 2, 3}}); }, ErrorKind::invalid_input);
  check_error([&] { encode_png(Image{1, 1, 2, {1, 2}}); }, ErrorKind::invalid_input);
}

TEST_CASE("imaging: overlay_heatmap blends the JET colours onto the base") {
  const Image base{8, 6, 1, Bytes(48, 100)};
  const std::vector<float> hot(4, 1.0f);
  const std::vector<float> cold(4, 0.0f);

  // alpha 0: the base as RGB; alpha 1: the colour map alone (JET: 1 is dark red, 0 dark blue).
  const Image plain = overlay_heatmap(base, hot, 2, 2, 0.0f);
  CHECK(plain.width == 8);
  CHECK(plain.height == 6);
  CHECK(plain.channels == 3);
  CHECK(plain.pixels == Bytes(144, 100));
  const Image red = overlay_heatmap(base, hot, 2, 2, 1.0f);
  const Image blue = overlay_heatmap(base, cold, 2, 2, 1.0f);
  for (std::size_t i = 0; i < 48; ++i) {
    CHECK(red.pixels[3 * i] == 128);
    CHECK(red.pixels[3 * i + 1] == 0);
    CHECK(red.pixels[3 * i + 2] == 0);
    CHECK(blue.pixels[3 * i] == 0);
    CHECK(blue.pixels[3 * i + 2] == 128);
  }
  // Default alpha 0.4 on a gray 100 base: red channel 0.6 * 100 + 0.4 * 128 = 111.2.
  const Image mixed = overlay_heatmap(base, hot, 2, 2);
  CHECK(std::abs(int{mixed.pixels[0]} - 111) <= 1);
  CHECK(std::abs(int{mixed.pixels[1]} - 60) <= 1);

  // The heat map is resized to the base: left half hot, right half cold.
  const std::vector<float> split{1.0f, 0.0f};
  const Image halves = overlay_heatmap(Image{4, 1, 3, Bytes(12, 0)}, split, 2, 1, 1.0f);
  CHECK(halves.pixels[0] > halves.pixels[2]);   // leftmost: red over blue
  CHECK(halves.pixels[11] > halves.pixels[9]);  // rightmost: blue over red

  check_error([&] { overlay_heatmap(base, hot, 3, 2); }, ErrorKind::invalid_input, "heat map");
  check_error([&] { overlay_heatmap(base, hot, 2, 2, 1.5f); }, ErrorKind::invalid_input, "alpha");
  check_error([&] { overlay_heatmap(Image{}, hot, 2, 2); }, ErrorKind::invalid_input);
}

TEST_CASE("imaging: encode_jpeg and downscale, for pictures in reports") {
  Image rgb{300, 120, 3, {}};
  rgb.pixels.resize(300 * 120 * 3);
  for (std::size_t i = 0; i < rgb.pixels.size(); ++i)
    rgb.pixels[i] = static_cast<std::uint8_t>((i / 3) % 256);
  const Bytes jpeg = encode_jpeg(rgb, 90);
  REQUIRE(jpeg.size() > 3);
  CHECK(jpeg[0] == 0xFF);
  CHECK(jpeg[1] == 0xD8);
  const Decoded back = decode(jpeg, Limits{}, "x.jpg");
  CHECK(back.format == Format::jpeg);
  CHECK(back.image.width == 300);
  CHECK(back.image.height == 120);
  check_error([&] { (void)encode_jpeg(rgb, 0); }, ErrorKind::invalid_input, "quality");
  check_error([&] { (void)encode_jpeg(rgb, 101); }, ErrorKind::invalid_input, "quality");

  const Image small = downscale(rgb, 150);
  CHECK(small.width == 150);
  CHECK(small.height == 60);
  CHECK(small.channels == 3);
  const Image same = downscale(rgb, 300);
  CHECK(same.width == 300);
  CHECK(same.pixels == rgb.pixels);
  check_error([&] { (void)downscale(rgb, 0); }, ErrorKind::invalid_input, "positive");
}
