#pragma once

// Shared by the lib/imaging/*.cpp files only; not part of the library's interface. Free of OpenCV
// and GDCM like every header: the third-party types stay inside the .cpp files.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "imaging/image.hpp"

namespace csss::imaging::detail {

using Bytes = std::span<const std::uint8_t>;

// Throws Error(invalid_input, "<name>: <what>").
[[noreturn]] void fail(std::string_view name, const std::string& what);

// Refuses `width` x `height` x `frames` pixels over limits.max_pixels, naming the file and the
// limit. Also refuses a zero width or height.
void check_pixel_count(std::uint64_t width, std::uint64_t height, std::uint64_t frames,
                       const Limits& limits, std::string_view name);

// What the IHDR chunk of a PNG declares.
struct PngHeader {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  int bit_depth = 0;
  int color_type = 0;  // 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
};

// The IHDR of `bytes` (which start with the PNG signature); throws when it is cut off or malformed.
PngHeader png_header(Bytes bytes, std::string_view name);

// Walks the chunks of a PNG up to IEND; throws "truncated" when a chunk runs past the end or IEND
// is missing.
void check_png_complete(Bytes bytes, std::string_view name);

// What the frame header (SOFn) of a JPEG declares, and where its first scan starts.
struct JpegHeader {
  int width = 0;
  int height = 0;
  int components = 0;
  int precision = 0;
  int sof_marker = 0;           // 0xC0..0xCF, or 0xF7 for JPEG-LS when allowed
  std::size_t scan_offset = 0;  // offset of the first SOS marker (0 when not searched)
};

// Scans the marker segments of a JPEG (starting with FF D8) to the first SOFn. `jpeg_ls` also
// accepts the JPEG-LS frame header (SOF55, FF F7), which lives in DICOM pixel data only.
// `find_scan` continues to the first SOS. Throws "truncated" when the header is cut off.
JpegHeader jpeg_header(Bytes bytes, std::string_view name, bool jpeg_ls, bool find_scan);

// Throws "truncated" unless an end-of-image marker (FF D9) follows the first scan.
void check_jpeg_complete(Bytes bytes, const JpegHeader& header, std::string_view name);

// PNG and JPEG through OpenCV, after their headers were checked. `gray`: the header declares a
// gray image (PNG colour type 0 or 4, single-component JPEG), which stays one channel.
Decoded decode_raster(Bytes bytes, Format format, bool gray, std::string_view name);

// DICOM (after the checks every input gets: not empty, within the file limit). The header is
// parsed by dicom.cpp itself; GDCM only decodes compressed pixel data, in a child process.
Probe probe_dicom(Bytes bytes, const Limits& limits, std::string_view name);
Decoded decode_dicom(Bytes bytes, const Limits& limits, std::string_view name);

// The pixel format of DICOM pixel data, as the header declares it or as a codec produced it.
struct PixelLayout {
  int samples = 1;
  int bits_allocated = 0;
  int bits_stored = 0;
  int high_bit = 0;
  int pixel_representation = 0;
  int planar_configuration = 0;
  std::string photometric;
};

// Encapsulated (compressed) pixel data: where its fragments are in the file, and what the header
// says about them.
struct CodecInput {
  Bytes file;
  std::vector<std::pair<std::size_t, std::size_t>> fragments;  // offset, length; [0] offset table
  std::string transfer_syntax;
  int rows = 0;
  int columns = 0;
  int frames = 1;
  PixelLayout layout;
};

struct CodecOutput {
  std::vector<char> pixels;  // all frames, native little-endian layout
  PixelLayout layout;        // codecs may change it (YBR to RGB, 12-bit JPEG in 16-bit samples)
};

enum class CodecStatus { ok, failed, crashed };

// Decodes `in` with GDCM's codec for its transfer syntax in a forked child process, so that an
// assertion or crash inside a codec on hostile data ends the child (reported as `crashed`), not
// the program. The child is killed after 60 seconds.
CodecStatus decode_fragments(const CodecInput& in, CodecOutput& out);

// Shrinks `image` (8-bit, 1 or 3 channels) to width x height, neither larger than the image's,
// by area averaging: the same bytes as OpenCV's cv::resize with INTER_AREA, which
// shrink_area_opencv() calls (for the whole ratios it handles fast itself, and for tests), in
// about half its time at other ratios (shrink.cpp; bench/bench_preprocess.cpp measures both).
// Throws Error(internal) for a size that grows.
// `vector_unit` false keeps to the portable loop even where AVX2 is there (for the tests, which
// compare both with OpenCV).
Image shrink_area(const Image& image, int width, int height, bool vector_unit = true);
Image shrink_area_opencv(const Image& image, int width, int height);

// Turns off the diagnostics GDCM and OpenCV print on their own (once per process).
void silence_libraries();

// While at least one instance is alive, file descriptor 2 points to /dev/null: libpng and libjpeg
// inside OpenCV can print warnings with fprintf(stderr) that no OpenCV API turns off, and library
// code must not print. Instances may overlap across threads (the first one redirects, the last one
// restores); whatever other threads write to stderr meanwhile is lost (the CLI's progress line
// writes to a copy of descriptor 2 made beforehand, so it is not). (GDCM's codecs run in a
// child process whose stderr is /dev/null, see decode_fragments.)
class QuietStderr {
 public:
  QuietStderr();
  ~QuietStderr();
  QuietStderr(const QuietStderr&) = delete;
  QuietStderr& operator=(const QuietStderr&) = delete;
};

}  // namespace csss::imaging::detail
