// lib/imaging: DICOM. Every fixture in datasets/dicom decodes with the header values dcmdump
// (DCMTK) reports; the 8-bit values are checked against the PS3.3 formulas applied here to the raw
// stored values; compressed variants of MR_small give the same image; crafted files (written here
// by a small explicit-VR-little-endian writer) cover multi-frame, VOI LUT, colour, and each way a
// file is refused.

#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <utility>
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

const Limits kLimits{};

std::filesystem::path dicom_dir() {
  return std::filesystem::path(csss::test::source_dir()) / "datasets" / "dicom";
}

Bytes read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << p);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Bytes fixture(const std::string& name) {
  return read_file(dicom_dir() / name);
}

Decoded decode_fixture(const std::string& name) {
  return decode(fixture(name), kLimits, name);
}

// ---- a minimal DICOM writer (explicit VR little endian) ---------------------------------------

void put16(Bytes& out, unsigned v) {
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
  out.push_back(static_cast<std::uint8_t>((v >> 8) & 0xFF));
}

void put32(Bytes& out, std::uint32_t v) {
  put16(out, v & 0xFFFF);
  put16(out, v >> 16);
}

bool long_vr(const std::string& vr) {
  return vr == "OB" || vr == "OW" || vr == "SQ" || vr == "UN" || vr == "UT";
}

Bytes element(unsigned group, unsigned elem, const std::string& vr, Bytes value) {
  if (value.size() % 2 == 1) {
    value.push_back(vr == "UI" || vr == "OB" ? 0 : ' ');
  }
  Bytes out;
  put16(out, group);
  put16(out, elem);
  out.push_back(static_cast<std::uint8_t>(vr[0]));
  out.push_back(static_cast<std::uint8_t>(vr[1]));
  if (long_vr(vr)) {
    put16(out, 0);
    put32(out, static_cast<std::uint32_t>(value.size()));
  } else {
    put16(out, static_cast<unsigned>(value.size()));
  }
  out.insert(out.end(), value.begin(), value.end());
  return out;
}

// Elements kept in tag order, as DICOM requires.
struct DataSet {
  std::map<std::uint32_t, Bytes> elements;

  DataSet& raw(unsigned group, unsigned elem, const std::string& vr, const Bytes& value) {
    elements[(group << 16) | elem] = element(group, elem, vr, value);
    return *this;
  }
  DataSet& text(unsigned group, unsigned elem, const std::string& vr, const std::string& s) {
    return raw(group, elem, vr, Bytes(s.begin(), s.end()));
  }
  DataSet& us(unsigned group, unsigned elem, unsigned v) {
    Bytes b;
    put16(b, v);
    return raw(group, elem, "US", b);
  }
  DataSet& sequence(unsigned group, unsigned elem, const std::vector<DataSet>& items) {
    Bytes value;
    for (const DataSet& item : items) {
      const Bytes body = item.bytes();
      put16(value, 0xFFFE);
      put16(value, 0xE000);
      put32(value, static_cast<std::uint32_t>(body.size()));
      value.insert(value.end(), body.begin(), body.end());
    }
    return raw(group, elem, "SQ", value);
  }
  DataSet& erase(unsigned group, unsigned elem) {
    elements.erase((group << 16) | elem);
    return *this;
  }
  Bytes bytes() const {
    Bytes out;
    for (const auto& [tag, e] : elements) {
      out.insert(out.end(), e.begin(), e.end());
    }
    return out;
  }
};

constexpr const char* kExplicitLE = "1.2.840.10008.1.2.1";
constexpr const char* kSecondaryCapture = "1.2.840.10008.5.1.4.1.1.7";

// Preamble, "DICM", file meta information, data set.
Bytes part10(const DataSet& ds, const std::string& transfer_syntax = kExplicitLE) {
  DataSet meta;
  meta.raw(0x0002, 0x0001, "OB", {0, 1});
  meta.text(0x0002, 0x0002, "UI", kSecondaryCapture);
  meta.text(0x0002, 0x0003, "UI", "1.2.826.0.1.3680043.8.498.1");
  meta.text(0x0002, 0x0010, "UI", transfer_syntax);
  const Bytes meta_body = meta.bytes();
  Bytes length;
  put32(length, static_cast<std::uint32_t>(meta_body.size()));
  Bytes out(128, 0);
  out.insert(out.end(), {'D', 'I', 'C', 'M'});
  const Bytes group_length = element(0x0002, 0x0000, "UL", length);
  out.insert(out.end(), group_length.begin(), group_length.end());
  out.insert(out.end(), meta_body.begin(), meta_body.end());
  const Bytes body = ds.bytes();
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

// An image data set with `pixels` (native, little endian) as pixel data.
DataSet image(int rows, int columns, const std::string& photometric, int samples, int bits,
              const Bytes& pixels, int frames = 1) {
  DataSet ds;
  ds.text(0x0008, 0x0016, "UI", kSecondaryCapture);
  ds.text(0x0008, 0x0018, "UI", "1.2.826.0.1.3680043.8.498.1");
  ds.text(0x0008, 0x0060, "CS", "OT");
  ds.text(0x0010, 0x0020, "LO", "TEST-1");
  ds.text(0x0020, 0x000D, "UI", "1.2.826.0.1.3680043.8.498.2");
  ds.us(0x0028, 0x0002, static_cast<unsigned>(samples));
  ds.text(0x0028, 0x0004, "CS", photometric);
  if (samples == 3) {
    ds.us(0x0028, 0x0006, 0);
  }
  if (frames > 1) {
    ds.text(0x0028, 0x0008, "IS", std::to_string(frames));
  }
  ds.us(0x0028, 0x0010, static_cast<unsigned>(rows));
  ds.us(0x0028, 0x0011, static_cast<unsigned>(columns));
  ds.us(0x0028, 0x0100, static_cast<unsigned>(bits));
  ds.us(0x0028, 0x0101, static_cast<unsigned>(bits));
  ds.us(0x0028, 0x0102, static_cast<unsigned>(bits - 1));
  ds.us(0x0028, 0x0103, 0);
  ds.raw(0x7FE0, 0x0010, bits == 8 ? "OB" : "OW", pixels);
  return ds;
}

// ---- reading a fixture's raw pixel data independently of the library ---------------------------

// The offset and length of native OW pixel data in an explicit VR little endian file.
std::pair<std::size_t, std::size_t> pixel_data(const Bytes& file) {
  static const std::uint8_t tag[] = {0xE0, 0x7F, 0x10, 0x00, 'O', 'W', 0, 0};
  const auto it = std::search(file.begin(), file.end(), std::begin(tag), std::end(tag));
  REQUIRE(it != file.end());
  const auto at = static_cast<std::size_t>(it - file.begin());
  const std::size_t length = file[at + 8] | (file[at + 9] << 8) | (file[at + 10] << 16) |
                             (std::size_t{file[at + 11]} << 24);
  return {at + 12, length};
}

std::vector<double> stored_values(const Bytes& file, bool is_signed, int bits_stored) {
  const auto [offset, length] = pixel_data(file);
  std::vector<double> v;
  for (std::size_t i = 0; i + 1 < length; i += 2) {
    const unsigned raw =
        (file[offset + i] | (file[offset + i + 1] << 8)) & ((1u << bits_stored) - 1);
    v.push_back(is_signed ? static_cast<double>(static_cast<std::int16_t>(raw)) : raw);
  }
  return v;
}

// PS3.3 C.11.2.1.2.1, to 0..255.
int linear_window(double x, double c, double w) {
  if (x <= c - 0.5 - (w - 1) / 2) {
    return 0;
  }
  if (x > c - 0.5 + (w - 1) / 2) {
    return 255;
  }
  return static_cast<int>(std::lround(((x - (c - 0.5)) / (w - 1) + 0.5) * 255));
}

int max_difference(const Bytes& a, const Bytes& b) {
  REQUIRE(a.size() == b.size());
  int most = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    most = std::max(most, std::abs(int{a[i]} - int{b[i]}));
  }
  return most;
}

// The file with its (0002,0010) transfer syntax UID replaced, group length adjusted.
Bytes with_transfer_syntax(Bytes file, const std::string& uid) {
  std::size_t pos = 132;
  std::size_t group_length_at = 0;
  while (file[pos] == 0x02 && file[pos + 1] == 0x00) {
    const unsigned elem = file[pos + 2] | (file[pos + 3] << 8);
    const std::string vr{static_cast<char>(file[pos + 4]), static_cast<char>(file[pos + 5])};
    std::size_t header = 8;
    std::size_t length = file[pos + 6] | (file[pos + 7] << 8);
    if (long_vr(vr)) {
      header = 12;
      length = file[pos + 8] | (file[pos + 9] << 8) | (file[pos + 10] << 16);
    }
    if (elem == 0x0000) {
      group_length_at = pos + 8;
    }
    if (elem == 0x0010) {
      const Bytes replacement = element(0x0002, 0x0010, "UI", Bytes(uid.begin(), uid.end()));
      const auto growth =
          static_cast<long>(replacement.size()) - static_cast<long>(header + length);
      file.erase(file.begin() + static_cast<std::ptrdiff_t>(pos),
                 file.begin() + static_cast<std::ptrdiff_t>(pos + header + length));
      file.insert(file.begin() + static_cast<std::ptrdiff_t>(pos), replacement.begin(),
                  replacement.end());
      REQUIRE(group_length_at != 0);
      std::uint32_t group_length = 0;
      std::memcpy(&group_length, file.data() + group_length_at, 4);
      group_length = static_cast<std::uint32_t>(static_cast<long>(group_length) + growth);
      std::memcpy(file.data() + group_length_at, &group_length, 4);
      return file;
    }
    pos += header + length;
  }
  FAIL("no transfer syntax element");
  return file;
}

struct Expected {
  const char* file;
  int width;
  int height;
  const char* modality;
  const char* body_part;
  const char* patient_id;
  const char* study_uid;
  const char* photometric;
  const char* transfer_syntax;
  int bits_stored;
  const char* windowing;
};

// Header values as reported by dcmdump (DCMTK 3.6.7) for each fixture.
constexpr const char* kMrStudy = "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457";
constexpr const char* kChestStudy = "1.2.276.0.7230010.3.1.2.8323329.6904.1517875201.850818";
constexpr const char* kChestPatient = "16d7f894-55d7-4d95-8957-d18987f0e981";
constexpr const char* kCrStudy = "1.3.6.1.4.1.5962.1.1.0.0.0.1196527414.5534.0.1";
const Expected kFixtures[] = {
    {"CT_small.dcm", 128, 128, "CT", "", "1CT1", "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322",
     "MONOCHROME2", "1.2.840.10008.1.2.1", 16, "min-max"},
    {"JPEG-lossy.dcm", 256, 1024, "NM", "WHOLE BODY", "8NM1",
     "1.3.6.1.4.1.5962.1.2.8.20040826185059.5457", "MONOCHROME2", "1.2.840.10008.1.2.4.51", 12,
     "min-max"},
    {"MR_small.dcm", 64, 64, "MR", "", "4MR1", kMrStudy, "MONOCHROME2", "1.2.840.10008.1.2.1", 16,
     "window C/W"},
    {"MR_small_RLE.dcm", 64, 64, "MR", "", "4MR1", kMrStudy, "MONOCHROME2", "1.2.840.10008.1.2.5",
     16, "window C/W"},
    {"MR_small_bigendian.dcm", 64, 64, "MR", "", "4MR1", kMrStudy, "MONOCHROME2",
     "1.2.840.10008.1.2.2", 16, "window C/W"},
    {"MR_small_implicit.dcm", 64, 64, "MR", "", "4MR1", kMrStudy, "MONOCHROME2",
     "1.2.840.10008.1.2", 16, "window C/W"},
    {"MR_small_jp2klossless.dcm", 64, 64, "MR", "", "4MR1", kMrStudy, "MONOCHROME2",
     "1.2.840.10008.1.2.4.90", 16, "window C/W"},
    {"MR_small_jpeg_ls_lossless.dcm", 64, 64, "MR", "", "4MR1", kMrStudy, "MONOCHROME2",
     "1.2.840.10008.1.2.4.80", 16, "window C/W"},
    {"chest_cr_rsna_monochrome1.dcm", 1024, 1024, "CR", "CHEST", kChestPatient, kChestStudy,
     "MONOCHROME1", "1.2.840.10008.1.2.4.50", 8, "min-max"},
    {"chest_cr_rsna_monochrome2.dcm", 1024, 1024, "CR", "CHEST", kChestPatient, kChestStudy,
     "MONOCHROME2", "1.2.840.10008.1.2.4.50", 8, "min-max"},
    {"dicomdir_77654033_CR1_6154.dcm", 16, 16, "CR", "CSPINE", "77654033", kCrStudy, "MONOCHROME1",
     "1.2.840.10008.1.2.1", 12, "window C/W"},
    {"dicomdir_77654033_CR2_6247.dcm", 16, 16, "CR", "CSPINE", "77654033", kCrStudy, "MONOCHROME1",
     "1.2.840.10008.1.2.1", 12, "window C/W"},
    {"dicomdir_77654033_CR3_6278.dcm", 16, 16, "CR", "CSPINE", "77654033", kCrStudy, "MONOCHROME1",
     "1.2.840.10008.1.2.1", 12, "window C/W"},
};

}  // namespace

TEST_CASE("imaging: every DICOM fixture decodes with its header values") {
  std::size_t seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dicom_dir())) {
    if (entry.path().extension() == ".dcm") {
      ++seen;
    }
  }
  CHECK(seen == std::size(kFixtures));  // a new fixture needs a row here

  for (const Expected& e : kFixtures) {
    CAPTURE(e.file);
    const Bytes bytes = fixture(e.file);
    CHECK(sniff(bytes) == Format::dicom);
    const Probe p = probe(bytes, kLimits, e.file);
    CHECK(p.format == Format::dicom);
    CHECK(p.width == e.width);
    CHECK(p.height == e.height);

    const Decoded d = decode(bytes, kLimits, e.file);
    CHECK(d.format == Format::dicom);
    CHECK(d.image.width == e.width);
    CHECK(d.image.height == e.height);
    CHECK(d.image.channels == 1);
    CHECK(d.image.pixels.size() == static_cast<std::size_t>(e.width * e.height));
    REQUIRE(d.dicom.has_value());
    const DicomInfo& info = *d.dicom;
    CHECK(info.modality == e.modality);
    CHECK(info.body_part == e.body_part);
    CHECK(info.patient_id == e.patient_id);
    CHECK(info.study_uid == e.study_uid);
    CHECK(info.photometric == e.photometric);
    CHECK(info.transfer_syntax == e.transfer_syntax);
    CHECK(info.bits_stored == e.bits_stored);
    CHECK(info.windowing == e.windowing);
    CHECK(info.frames == 1);
    CHECK(info.frame_used == 0);
    // Not a blank image.
    const auto [lo, hi] = std::minmax_element(d.image.pixels.begin(), d.image.pixels.end());
    CHECK(*hi - *lo > 30);
    if (std::string(e.windowing) == "min-max") {
      CHECK(*lo == 0);
      CHECK(*hi == 255);
    }
  }
}

TEST_CASE("imaging: MR_small follows Window Center/Width exactly") {
  const Bytes file = fixture("MR_small.dcm");
  const std::vector<double> stored = stored_values(file, true, 16);
  const Decoded d = decode(file, kLimits, "MR_small.dcm");
  REQUIRE(stored.size() == d.image.pixels.size());
  for (std::size_t i = 0; i < stored.size(); ++i) {
    CAPTURE(i);
    REQUIRE(std::abs(int{d.image.pixels[i]} - linear_window(stored[i], 600, 1600)) <= 1);
  }
  CHECK(d.image.pixels[0] == 176);  // stored 0x0389 = 905
  CHECK(d.image.pixels[1] == 194);  // stored 0x03FB = 1019
}

TEST_CASE("imaging: CR stubs: 12 bits stored, rescale, window, MONOCHROME1 inverted") {
  // The three 16 x 16 CR files are the images of pydicom's DICOMDIR test set with shrunk pixel
  // data: 12 of 16 bits, Rescale Slope 0.684 / Intercept 200, Window 1600 / 2800, MONOCHROME1.
  for (const char* name : {"dicomdir_77654033_CR1_6154.dcm", "dicomdir_77654033_CR2_6247.dcm",
                           "dicomdir_77654033_CR3_6278.dcm"}) {
    CAPTURE(name);
    const Bytes file = fixture(name);
    const std::vector<double> stored = stored_values(file, false, 12);
    const Decoded d = decode(file, kLimits, name);
    REQUIRE(stored.size() == 256);
    for (std::size_t i = 0; i < stored.size(); ++i) {
      const int expected = 255 - linear_window(stored[i] * 0.684 + 200, 1600, 2800);
      CAPTURE(i);
      REQUIRE(std::abs(int{d.image.pixels[i]} - expected) <= 1);
    }
  }
  CHECK(decode_fixture("dicomdir_77654033_CR1_6154.dcm").image.pixels[0] == 131);
}

TEST_CASE("imaging: CT_small: rescale to HU, then min-max") {
  const Bytes file = fixture("CT_small.dcm");
  std::vector<double> hu = stored_values(file, true, 16);
  for (double& v : hu) {
    v -= 1024;  // Rescale Intercept -1024, slope 1
  }
  const auto [lo, hi] = std::minmax_element(hu.begin(), hu.end());
  const double low = *lo;
  const double range = *hi - *lo;
  const Decoded d = decode(file, kLimits, "CT_small.dcm");
  REQUIRE(hu.size() == d.image.pixels.size());
  for (std::size_t i = 0; i < hu.size(); ++i) {
    const auto expected = static_cast<int>(std::lround((hu[i] - low) / range * 255));
    CAPTURE(i);
    REQUIRE(std::abs(int{d.image.pixels[i]} - expected) <= 1);
  }
}

TEST_CASE("imaging: MONOCHROME1 and MONOCHROME2 chest files are inverses") {
  // The two files differ only in (0028,0004): the same stored pixels.
  const Decoded m1 = decode_fixture("chest_cr_rsna_monochrome1.dcm");
  const Decoded m2 = decode_fixture("chest_cr_rsna_monochrome2.dcm");
  REQUIRE(m1.image.pixels.size() == m2.image.pixels.size());
  double total = 0;
  for (std::size_t i = 0; i < m1.image.pixels.size(); ++i) {
    total += std::abs(int{m1.image.pixels[i]} - (255 - int{m2.image.pixels[i]}));
  }
  CHECK(total / static_cast<double>(m1.image.pixels.size()) < 0.5);
  // ... and not trivially so: the images themselves differ a lot.
  CHECK(max_difference(m1.image.pixels, m2.image.pixels) > 200);
  // Lungs are dark on a MONOCHROME2 display: the mean is above the middle, inverted below it.
  double mean2 = 0;
  for (std::uint8_t v : m2.image.pixels) {
    mean2 += v;
  }
  mean2 /= static_cast<double>(m2.image.pixels.size());
  CHECK(mean2 > 128);
}

TEST_CASE("imaging: every encoding of MR_small gives the same image") {
  const Decoded reference = decode_fixture("MR_small.dcm");
  for (const char* name : {"MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_RLE.dcm",
                           "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm"}) {
    CAPTURE(name);
    const Decoded d = decode_fixture(name);
    CHECK(max_difference(d.image.pixels, reference.image.pixels) <= 1);
  }
}

TEST_CASE("imaging: a DICOM data set without preamble and meta information decodes") {
  // MR_small_implicit without its first 132 bytes and group 0002: a bare implicit VR data set
  // starting with a group 0008 tag, as old ACR-NEMA style files are.
  const Bytes file = fixture("MR_small_implicit.dcm");
  std::size_t pos = 132;
  while (file[pos] == 0x02 && file[pos + 1] == 0x00) {
    const bool long_form =
        long_vr(std::string{static_cast<char>(file[pos + 4]), static_cast<char>(file[pos + 5])});
    const std::size_t length =
        long_form ? (file[pos + 8] | (file[pos + 9] << 8)) : (file[pos + 6] | (file[pos + 7] << 8));
    pos += (long_form ? 12 : 8) + length;
  }
  const Bytes bare(file.begin() + static_cast<std::ptrdiff_t>(pos), file.end());
  REQUIRE(bare[0] == 0x08);
  REQUIRE(bare[1] == 0x00);
  CHECK(sniff(bare) == Format::dicom);
  const Decoded d = decode(bare, kLimits, "bare.dcm");
  REQUIRE(d.dicom.has_value());
  CHECK(d.dicom->transfer_syntax == "1.2.840.10008.1.2");
  CHECK(d.dicom->modality == "MR");
  CHECK(d.image.pixels == decode_fixture("MR_small.dcm").image.pixels);
}

TEST_CASE("imaging: crafted DICOM: the writer's output decodes") {
  const Decoded d = decode(part10(image(2, 3, "MONOCHROME2", 1, 8, {0, 50, 100, 150, 200, 250})),
                           kLimits, "crafted.dcm");
  CHECK(d.image.width == 3);
  CHECK(d.image.height == 2);
  REQUIRE(d.dicom.has_value());
  CHECK(d.dicom->modality == "OT");
  CHECK(d.dicom->patient_id == "TEST-1");
  CHECK(d.dicom->windowing == "min-max");
  CHECK(d.image.pixels == Bytes{0, 51, 102, 153, 204, 255});
}

TEST_CASE("imaging: multi-frame DICOM: the middle frame is used") {
  // Three 2 x 2 frames of 16-bit values: rising, falling, constant-ish.
  Bytes pixels;
  for (unsigned v : {0u, 1000u, 2000u, 3000u, 3000u, 2000u, 1000u, 0u, 5u, 5u, 5u, 6u}) {
    put16(pixels, v);
  }
  const Bytes file = part10(image(2, 2, "MONOCHROME2", 1, 16, pixels, 3));
  const Probe p = probe(file, kLimits, "multi.dcm");
  CHECK(p.width == 2);
  CHECK(p.height == 2);
  const Decoded d = decode(file, kLimits, "multi.dcm");
  REQUIRE(d.dicom.has_value());
  CHECK(d.dicom->frames == 3);
  CHECK(d.dicom->frame_used == 1);
  CHECK(d.image.pixels == Bytes{255, 170, 85, 0});

  // Frames count towards the pixel limit: GDCM decodes them all.
  Limits limits;
  limits.max_pixels = 11;
  check_error([&] { decode(file, limits, "multi.dcm"); }, ErrorKind::invalid_input,
              "2 x 2 pixels x 3 frames");
}

TEST_CASE("imaging: VOI LUT Sequence is applied before Window Center/Width") {
  // Stored 0..3 through the LUT {255, 0, 128, 64} (8-bit entries); the window would differ.
  DataSet lut_item;
  Bytes descriptor;
  put16(descriptor, 4);
  put16(descriptor, 0);
  put16(descriptor, 8);
  lut_item.raw(0x0028, 0x3002, "US", descriptor);
  Bytes data;
  for (unsigned v : {255u, 0u, 128u, 64u}) {
    put16(data, v);
  }
  lut_item.raw(0x0028, 0x3006, "OW", data);
  DataSet ds = image(2, 2, "MONOCHROME2", 1, 8, {0, 1, 2, 3});
  ds.text(0x0028, 0x1050, "DS", "2");
  ds.text(0x0028, 0x1051, "DS", "4");
  ds.sequence(0x0028, 0x3010, {lut_item});
  const Decoded d = decode(part10(ds), kLimits, "voi.dcm");
  REQUIRE(d.dicom.has_value());
  CHECK(d.dicom->windowing == "VOI LUT");
  CHECK(d.image.pixels == Bytes{255, 0, 128, 64});

  // Without the sequence the window applies: C 2, W 4 over 0..3.
  ds.erase(0x0028, 0x3010);
  const Decoded w = decode(part10(ds), kLimits, "window.dcm");
  CHECK(w.dicom->windowing == "window C/W");
  const Bytes expected{static_cast<std::uint8_t>(linear_window(0, 2, 4)),
                       static_cast<std::uint8_t>(linear_window(1, 2, 4)),
                       static_cast<std::uint8_t>(linear_window(2, 2, 4)),
                       static_cast<std::uint8_t>(linear_window(3, 2, 4))};
  CHECK(w.image.pixels == expected);
}

TEST_CASE("imaging: RGB DICOM becomes gray by BT.601 luma") {
  const Bytes rgb{255, 0, 0, 0, 255, 0, 0, 0, 255, 200, 200, 200};
  const Decoded d = decode(part10(image(1, 4, "RGB", 3, 8, rgb)), kLimits, "rgb.dcm");
  CHECK(d.image.channels == 1);
  CHECK(d.image.pixels == Bytes{76, 150, 29, 200});
  REQUIRE(d.dicom.has_value());
  CHECK(d.dicom->photometric == "RGB");
  CHECK(d.dicom->windowing == "none");
}

// `ds` with `fragment` as encapsulated pixel data (an empty offset table, one fragment).
Bytes encapsulated(DataSet ds, const Bytes& fragment, const std::string& transfer_syntax) {
  Bytes pixels;
  for (unsigned v : {0x7FE0u, 0x0010u}) {
    put16(pixels, v);
  }
  pixels.insert(pixels.end(), {'O', 'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF});
  for (const Bytes* item : {static_cast<const Bytes*>(nullptr), &fragment}) {
    put16(pixels, 0xFFFE);
    put16(pixels, 0xE000);
    put32(pixels, item == nullptr ? 0 : static_cast<std::uint32_t>(item->size()));
    if (item != nullptr) {
      pixels.insert(pixels.end(), item->begin(), item->end());
    }
  }
  put16(pixels, 0xFFFE);
  put16(pixels, 0xE0DD);
  put32(pixels, 0);
  ds.elements[0x7FE00010] = pixels;
  return part10(ds, transfer_syntax);
}

TEST_CASE("imaging: colour JPEG DICOM (YBR_FULL_422) becomes gray luma") {
  // The RGB fixture JPEG (YCbCr inside, as JPEG Baseline colour DICOM is) as pixel data.
  Bytes jpeg = read_file(std::filesystem::path(csss::test::source_dir()) / "datasets" / "fixtures" /
                         "rgb_quadrants.jpg");
  if (jpeg.size() % 2 == 1) {
    jpeg.push_back(0);  // fragments have even length
  }
  const Bytes file =
      encapsulated(image(24, 32, "YBR_FULL_422", 3, 8, {}), jpeg, "1.2.840.10008.1.2.4.50");
  const Decoded d = decode(file, kLimits, "colour.dcm");
  REQUIRE(d.image.channels == 1);
  REQUIRE(d.image.width == 32);
  REQUIRE(d.image.height == 24);
  REQUIRE(d.dicom.has_value());
  CHECK(d.dicom->photometric == "YBR_FULL_422");
  CHECK(d.dicom->windowing == "none");
  const auto at = [&](int x, int y) {
    return int{d.image.pixels[static_cast<std::size_t>(y) * 32 + static_cast<std::size_t>(x)]};
  };
  CHECK(std::abs(at(4, 4) - 76) <= 12);     // red
  CHECK(std::abs(at(27, 4) - 150) <= 12);   // green
  CHECK(std::abs(at(4, 19) - 29) <= 12);    // blue
  CHECK(std::abs(at(27, 19) - 255) <= 12);  // white

  // The same JPEG cut in half: refused, whatever the codec makes of it.
  const Bytes half(jpeg.begin(),
                   jpeg.begin() + static_cast<std::ptrdiff_t>(jpeg.size() / 2) / 2 * 2);
  const Bytes cut =
      encapsulated(image(24, 32, "YBR_FULL_422", 3, 8, {}), half, "1.2.840.10008.1.2.4.50");
  check_error([&] { decode(cut, kLimits, "cut.dcm"); }, ErrorKind::invalid_input, "cut.dcm: ");

  // A JPEG stream declaring a bigger image than Rows x Columns is refused before decoding.
  const Bytes small =
      encapsulated(image(12, 16, "YBR_FULL_422", 3, 8, {}), jpeg, "1.2.840.10008.1.2.4.50");
  check_error([&] { decode(small, kLimits, "small.dcm"); }, ErrorKind::invalid_input,
              "small.dcm: the compressed pixel data declares 32 x 24 pixels, the header 16 x 12");
}

TEST_CASE("imaging: a codec crashing on corrupt data does not end the program") {
  // MR_small_RLE with the RLE header's segment count 0x8F000002: GDCM's RLE codec crashes
  // (SIGSEGV) on it, found by fuzzing. The codec runs in a child process, so this is an error.
  Bytes file = fixture("MR_small_RLE.dcm");
  static const std::uint8_t tag[] = {0xE0, 0x7F, 0x10, 0x00, 'O',  'B',
                                     0,    0,    0xFF, 0xFF, 0xFF, 0xFF};
  const auto it = std::search(file.begin(), file.end(), std::begin(tag), std::end(tag));
  REQUIRE(it != file.end());
  std::size_t pos = static_cast<std::size_t>(it - file.begin()) + sizeof tag;
  const std::size_t table = file[pos + 4] | (file[pos + 5] << 8);  // offset table item length
  pos += 8 + table + 8;     // the first fragment's data: the 64-byte RLE header
  REQUIRE(file[pos] == 2);  // two segments (16-bit samples)
  file[pos + 3] = 0x8F;
  const std::string m =
      check_error([&] { decode(file, kLimits, "rle.dcm"); }, ErrorKind::invalid_input,
                  "rle.dcm: cannot decode the pixel data");
  CHECK(contains(m, "RLE Lossless"));
  // ... and the program goes on decoding.
  CHECK(decode_fixture("MR_small_RLE.dcm").image.width == 64);
}

TEST_CASE("imaging: DICOM without pixel data is refused") {
  DataSet ds = image(2, 2, "MONOCHROME2", 1, 8, {1, 2, 3, 4});
  ds.erase(0x7FE0, 0x0010);
  const Bytes file = part10(ds);
  CHECK(sniff(file) == Format::dicom);
  check_error([&] { decode(file, kLimits, "nopixels.dcm"); }, ErrorKind::invalid_input,
              "nopixels.dcm: the DICOM file has no pixel data");
  check_error([&] { probe(file, kLimits, "nopixels.dcm"); }, ErrorKind::invalid_input,
              "has no pixel data");
}

TEST_CASE("imaging: DICOM with an unsupported transfer syntax is refused, naming it") {
  const Bytes mpeg = with_transfer_syntax(fixture("MR_small.dcm"), "1.2.840.10008.1.2.4.100");
  const std::string m =
      check_error([&] { decode(mpeg, kLimits, "mpeg.dcm"); }, ErrorKind::invalid_input,
                  "mpeg.dcm: unsupported transfer syntax");
  CHECK(contains(m, "1.2.840.10008.1.2.4.100"));
  CHECK(contains(m, "MPEG2"));
  check_error(
      [&] {
        decode(with_transfer_syntax(fixture("MR_small.dcm"), "1.2.3.4.5"), kLimits, "odd.dcm");
      },
      ErrorKind::invalid_input, "unsupported transfer syntax 1.2.3.4.5 (unknown)");
  // A supported compressed syntax over uncompressed pixel data does not match.
  check_error(
      [&] {
        decode(with_transfer_syntax(fixture("MR_small.dcm"), "1.2.840.10008.1.2.4.50"), kLimits,
               "mismatch.dcm");
      },
      ErrorKind::invalid_input,
      "mismatch.dcm: malformed DICOM data (uncompressed pixel data with transfer syntax "
      "1.2.840.10008.1.2.4.50");
  // The rewriting itself is sound: back to explicit little endian, the file decodes.
  CHECK(
      decode(with_transfer_syntax(mpeg, "1.2.840.10008.1.2.1"), kLimits, "back.dcm").image.pixels ==
      decode_fixture("MR_small.dcm").image.pixels);
}

TEST_CASE("imaging: DICOM with truncated pixel data is refused") {
  const Bytes mr = fixture("MR_small.dcm");
  const auto [offset, length] = pixel_data(mr);
  const Bytes cut(mr.begin(), mr.begin() + static_cast<std::ptrdiff_t>(offset + length / 2));
  check_error([&] { decode(cut, kLimits, "cut.dcm"); }, ErrorKind::invalid_input,
              "cut.dcm: truncated pixel data");

  const Bytes chest = fixture("chest_cr_rsna_monochrome2.dcm");
  const Bytes cut_chest(chest.begin(), chest.begin() + 60000);
  check_error([&] { decode(cut_chest, kLimits, "chest.dcm"); }, ErrorKind::invalid_input,
              "chest.dcm: truncated pixel data");

  // Self-consistent lengths, but fewer bytes than Rows x Columns need.
  const Bytes short_pixels = part10(image(4, 4, "MONOCHROME2", 1, 8, Bytes(10, 1)));
  check_error([&] { decode(short_pixels, kLimits, "short.dcm"); }, ErrorKind::invalid_input,
              "short.dcm: truncated pixel data");
}

TEST_CASE("imaging: DICOM with an unsupported photometric interpretation is refused") {
  for (const char* pi : {"PALETTE COLOR", "HSV", "CMYK"}) {
    CAPTURE(pi);
    const int samples = std::string(pi) == "PALETTE COLOR" ? 1 : 3;
    const Bytes file =
        part10(image(2, 2, pi, samples, 8, Bytes(4 * static_cast<std::size_t>(samples), 9)));
    check_error([&] { decode(file, kLimits, "pi.dcm"); }, ErrorKind::invalid_input,
                std::string("pi.dcm: unsupported photometric interpretation ") + pi);
  }
}

TEST_CASE("imaging: hostile DICOM headers are refused without large allocations") {
  const auto start = std::chrono::steady_clock::now();

  // An element declaring 4 GB in a 300-byte file.
  DataSet ds = image(2, 2, "MONOCHROME2", 1, 8, {1, 2, 3, 4});
  Bytes huge = element(0x0010, 0x4000, "UT", {});
  huge[8] = 0xF0;
  huge[9] = 0xFF;
  huge[10] = 0xFF;
  huge[11] = 0xFF;
  ds.elements[0x00104000] = huge;
  check_error([&] { decode(part10(ds), kLimits, "huge.dcm"); }, ErrorKind::invalid_input,
              "huge.dcm: truncated DICOM data");

  // Sequences nested 200 deep (undefined lengths).
  Bytes nested;
  for (int i = 0; i < 200; ++i) {
    for (unsigned v : {0x0040u, 0xA730u}) {  // Content Sequence
      put16(nested, v);
    }
    nested.insert(nested.end(), {'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF});
    put16(nested, 0xFFFE);
    put16(nested, 0xE000);
    put32(nested, 0xFFFFFFFF);
  }
  DataSet deep = image(2, 2, "MONOCHROME2", 1, 8, {1, 2, 3, 4});
  deep.elements[0x0040A730] = nested;
  check_error([&] { decode(part10(deep), kLimits, "deep.dcm"); }, ErrorKind::invalid_input,
              "deep.dcm: malformed DICOM data (sequences nested");

  // 65535 x 65535 pixels declared over 4 bytes of pixel data.
  DataSet big = image(2, 2, "MONOCHROME2", 1, 8, {1, 2, 3, 4});
  big.us(0x0028, 0x0010, 65535);
  big.us(0x0028, 0x0011, 65535);
  const std::string m = check_error([&] { decode(part10(big), kLimits, "big.dcm"); },
                                    ErrorKind::invalid_input, "big.dcm: ");
  CHECK(contains(m, "65535 x 65535"));
  CHECK(contains(m, "100000000"));
  check_error([&] { probe(part10(big), kLimits, "big.dcm"); }, ErrorKind::invalid_input,
              "more than the limit");

  // Junk after the preamble.
  Bytes junk(128, 0);
  junk.insert(junk.end(), {'D', 'I', 'C', 'M'});
  junk.insert(junk.end(), 64, 0xAB);
  check_error([&] { decode(junk, kLimits, "junk.dcm"); }, ErrorKind::invalid_input, "junk.dcm: ");

  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
}

TEST_CASE("imaging: DICOM limits: pixel count and file size") {
  const Bytes chest = fixture("chest_cr_rsna_monochrome1.dcm");
  Limits limits;
  limits.max_pixels = 1024 * 1024 - 1;
  check_error([&] { probe(chest, limits, "chest.dcm"); }, ErrorKind::invalid_input,
              "chest.dcm: the image declares 1024 x 1024 pixels, more than the limit of 1048575");
  check_error([&] { decode(chest, limits, "chest.dcm"); }, ErrorKind::invalid_input,
              "more than the limit");
  limits.max_pixels = 1024 * 1024;
  CHECK(probe(chest, limits, "chest.dcm").width == 1024);
  limits.max_file_bytes = 1000;
  check_error([&] { decode(chest, limits, "chest.dcm"); }, ErrorKind::invalid_input,
              "chest.dcm: the file has 127290 bytes, more than the limit of 1000 bytes");
}

TEST_CASE("imaging: decoding prints nothing, and stderr works afterwards") {
  // GDCM's 12-bit JPEG path prints warnings with fprintf(stderr) for JPEG-lossy.dcm.
  std::fflush(stderr);
  const int saved = ::dup(2);
  REQUIRE(saved >= 0);
  std::FILE* capture = std::tmpfile();
  REQUIRE(capture != nullptr);
  REQUIRE(::dup2(::fileno(capture), 2) >= 0);
  bool decoded = false;
  try {
    decoded = decode_fixture("JPEG-lossy.dcm").image.width == 256;
    decode(Bytes{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 1, 2, 3}, kLimits, "x.png");
  } catch (const csss::Error&) {
  }
  std::fputs("after", stderr);
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::rewind(capture);
  std::string written;
  for (int c = std::fgetc(capture); c != EOF; c = std::fgetc(capture)) {
    written.push_back(static_cast<char>(c));
  }
  std::fclose(capture);
  CHECK(decoded);
  CHECK(written == "after");
}
