#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace csss::imaging {

// The scan formats CSSS accepts, always recognised by content, never by file name.
enum class Format { png, jpeg, dicom };

// A stable identifier: "png", "jpeg" or "dicom" (stored with scans, shown in --json output).
std::string_view to_string(Format format) noexcept;

// An 8-bit image: rows top to bottom, channels interleaved (1 = gray, 3 = RGB).
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<std::uint8_t> pixels;  // width * height * channels bytes
};

// Checked before full decoding (configurable: scan.max_file_mb, scan.max_megapixels). For DICOM
// the pixel count includes every frame (rows x columns x frames), since all frames are decoded.
struct Limits {
  std::uint64_t max_file_bytes = 64ull << 20;
  std::uint64_t max_pixels = 100'000'000;
};

// What a DICOM file says about itself, recorded with the scan.
struct DicomInfo {
  std::string modality;         // (0008,0060), e.g. "CR", "MR"
  std::string body_part;        // (0018,0015), e.g. "CHEST"
  std::string patient_id;       // (0010,0020)
  std::string study_uid;        // (0020,000D)
  std::string photometric;      // (0028,0004) as stored, e.g. "MONOCHROME1"
  std::string transfer_syntax;  // UID of the file's transfer syntax
  int bits_stored = 8;
  int frames = 1;      // number of frames in the file
  int frame_used = 0;  // 0-based frame that was decoded: the middle one of a multi-frame file
  // How 8-bit values were obtained: "VOI LUT", "window C/W", "min-max", or "none" (8-bit colour,
  // values kept).
  std::string windowing;
};

// The format and declared size, read from the header alone.
struct Probe {
  Format format = Format::png;
  int width = 0;
  int height = 0;
};

struct Decoded {
  Format format = Format::png;
  // Always gray for DICOM (colour DICOM becomes ITU-R BT.601 luma). PNG/JPEG: gray when the file
  // is gray (PNG colour types gray and gray+alpha, single-component JPEG), else RGB. Alpha is
  // dropped, not blended; 16-bit PNG is scaled to 8 bits; palette PNG is expanded to RGB; EXIF
  // orientation is not applied.
  Image image;
  std::optional<DicomInfo> dicom;  // set for DICOM only
};

// The format by its magic numbers: PNG signature, JPEG SOI marker (FF D8 FF), DICOM "DICM" at
// offset 128, or a DICOM data set without preamble (starting with a little-endian tag of group 0002
// or 0008, with an explicit VR or a plausible implicit length); nullopt for anything else.
std::optional<Format> sniff(std::span<const std::uint8_t> bytes);

// Format and declared dimensions from the header only, without decoding pixels: the PNG IHDR, the
// JPEG frame header (SOF0..SOF15), DICOM Rows/Columns/Number of Frames. Throws
// Error(invalid_input, "<name>: ...") when the bytes are empty ("the file is empty"), larger than
// the file limit, not PNG/JPEG/DICOM ("not a PNG, JPEG or DICOM file"), have a cut-off or malformed
// header, or declare more pixels than the limit (so a tiny PNG that declares 100000x100000 is
// refused without allocating; the message names the size and the limit). For DICOM the whole data
// set structure is checked too, and a file without pixel data or with an unsupported transfer
// syntax is refused here already.
Probe probe(std::span<const std::uint8_t> bytes, const Limits& limits, std::string_view name);

// Decodes to 8 bits, after the checks of probe(). PNG/JPEG through OpenCV; a PNG without IEND or a
// JPEG without an end-of-image marker after its first scan is refused as truncated (OpenCV would
// decode a cut JPEG half grey). DICOM: uncompressed explicit/implicit little endian and explicit
// big endian, RLE, JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000 (compressed data is decoded
// by GDCM in a child process, so that a codec failing on hostile data cannot end the program;
// deflated transfer syntax is refused, its inflated size being unbounded);
// rescale slope/intercept, then the first VOI LUT of the VOI LUT Sequence, else the first window
// centre/width (PS3.3 C.11.2.1.2), else the frame's min-max, mapped to 0..255; MONOCHROME1
// inverted so that higher is brighter; multi-frame: the middle frame. Supported photometric
// interpretations: MONOCHROME1/2, RGB, YBR_FULL, YBR_FULL_422, YBR_ICT, YBR_RCT. Throws
// Error(invalid_input, "<name>: ...") naming the problem: truncated data, no pixel data,
// unsupported transfer syntax (with its UID) or photometric interpretation, undecodable data.
// Never prints: GDCM's and OpenCV's diagnostics are silenced.
Decoded decode(std::span<const std::uint8_t> bytes, const Limits& limits, std::string_view name);

// While one exists, OpenCV runs every operation on the calling thread (no thread pool of its
// own): for callers that decode on their own worker threads beside a model, where OpenCV's pool
// would compete with both for the cores. The previous setting comes back when it is destroyed.
class SequentialCodecs {
 public:
  SequentialCodecs();
  ~SequentialCodecs();
  SequentialCodecs(const SequentialCodecs&) = delete;
  SequentialCodecs& operator=(const SequentialCodecs&) = delete;

 private:
  int previous_;
};

// PNG bytes of `image` (lossless, gray or RGB). Throws Error(invalid_input) for an empty or
// inconsistent image.
std::vector<std::uint8_t> encode_png(const Image& image);

// Baseline JPEG bytes of `image` (gray or RGB) at `quality` 1..100: lossy, for pictures in
// documents, never for scans that are analysed.
std::vector<std::uint8_t> encode_jpeg(const Image& image, int quality);

// `image` scaled down (area averaging) so that neither side exceeds `max_side`, keeping the aspect
// ratio; returned as it is when already small enough.
Image downscale(const Image& image, int max_side);

// encode_png written to `path` with mode 0600, atomically (util::write_private_file). Throws as
// encode_png, and Error(io) when it cannot be written.
void save_png(const std::filesystem::path& path, const Image& image);

// `base` (gray or RGB) with `heat` (values in [0,1], heat_width x heat_height, row-major)
// resized to it (bilinear), coloured with the JET map (0 dark blue, 1 dark red) and blended:
// (1 - alpha) * base + alpha * colour; returns RGB of the base's size. Values outside [0,1] are
// clamped, NaN counts as 0. Throws Error(invalid_input) when `heat` does not hold
// heat_width x heat_height values, alpha is outside [0,1], or the base is empty.
Image overlay_heatmap(const Image& base, std::span<const float> heat, int heat_width,
                      int heat_height, float alpha = 0.4f);

}  // namespace csss::imaging
