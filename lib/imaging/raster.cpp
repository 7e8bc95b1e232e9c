// PNG and JPEG through OpenCV: decoding (after format.cpp checked the header), PNG encoding and
// the heat-map overlay.

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "imaging/image.hpp"
#include "imaging/internal.hpp"
#include "imaging/opencv_bridge.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace csss::imaging {

using detail::to_image;
using detail::view;

namespace {

// Throws unless `image` is a consistent gray or RGB image.
void check_image(const Image& image, const char* what) {
  const bool ok = image.width > 0 && image.height > 0 &&
                  (image.channels == 1 || image.channels == 3) &&
                  image.pixels.size() == static_cast<std::size_t>(image.width) *
                                             static_cast<std::size_t>(image.height) *
                                             static_cast<std::size_t>(image.channels);
  if (!ok) {
    throw Error(ErrorKind::invalid_input,
                std::string(what) + ": the image is empty or its size does not match its pixels");
  }
}

}  // namespace

namespace detail {

Decoded decode_raster(Bytes bytes, Format format, bool gray, std::string_view name) {
  silence_libraries();
  const char* const label = format == Format::png ? "PNG" : "JPEG";
  const cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8UC1,
                    const_cast<std::uint8_t*>(bytes.data()));
  cv::Mat m;
  try {
    const QuietStderr quiet;
    m = cv::imdecode(raw, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception&) {
    m.release();
  }
  if (m.empty()) {
    fail(name, std::string("cannot decode the ") + label + " data (corrupt file)");
  }
  if (m.depth() == CV_16U) {
    cv::Mat eight;
    m.convertTo(eight, CV_8U, 1.0 / 257.0);  // 65535 -> 255, rounded
    m = eight;
  } else if (m.depth() != CV_8U) {
    fail(name, std::string("unsupported ") + label + " sample type");
  }
  cv::Mat out;
  switch (m.channels()) {
    case 1:
      out = m;
      break;
    case 3:
      // A gray image that OpenCV expanded (gray PNG with a transparent colour): R = G = B.
      if (gray) {
        cv::extractChannel(m, out, 0);
      } else {
        cv::cvtColor(m, out, cv::COLOR_BGR2RGB);
      }
      break;
    case 4:
      // OpenCV expands gray+alpha to BGRA with B = G = R; alpha is dropped, not blended.
      if (gray) {
        cv::extractChannel(m, out, 0);
      } else {
        cv::cvtColor(m, out, cv::COLOR_BGRA2RGB);
      }
      break;
    default:
      fail(name, std::string("unsupported ") + label + " with " + std::to_string(m.channels()) +
                     " channels");
  }
  Decoded d;
  d.format = format;
  d.image = to_image(out);
  return d;
}

}  // namespace detail

namespace {

// `image` (gray or RGB) through OpenCV's encoder for `extension` (".png", ".jpg").
std::vector<std::uint8_t> encode(const Image& image, const char* what, const char* extension,
                                 const std::vector<int>& params) {
  check_image(image, what);
  detail::silence_libraries();
  cv::Mat m = view(image);
  if (image.channels == 3) {
    cv::Mat bgr;
    cv::cvtColor(m, bgr, cv::COLOR_RGB2BGR);
    m = bgr;
  }
  std::vector<std::uint8_t> out;
  if (!cv::imencode(extension, m, out, params)) {
    throw Error(ErrorKind::internal, std::string(what) + ": OpenCV could not encode the image");
  }
  return out;
}

}  // namespace

std::vector<std::uint8_t> encode_png(const Image& image) {
  return encode(image, "encode_png", ".png", {});
}

std::vector<std::uint8_t> encode_jpeg(const Image& image, int quality) {
  if (quality < 1 || quality > 100)
    throw Error(ErrorKind::invalid_input, "encode_jpeg: the quality must be 1..100");
  return encode(image, "encode_jpeg", ".jpg", {cv::IMWRITE_JPEG_QUALITY, quality});
}

Image downscale(const Image& image, int max_side) {
  check_image(image, "downscale");
  if (max_side <= 0)
    throw Error(ErrorKind::invalid_input, "downscale: the largest side must be positive");
  const int longest = std::max(image.width, image.height);
  if (longest <= max_side)
    return image;
  detail::silence_libraries();
  const double scale = static_cast<double>(max_side) / longest;
  const int w = std::max(1, static_cast<int>(std::lround(image.width * scale)));
  const int h = std::max(1, static_cast<int>(std::lround(image.height * scale)));
  cv::Mat out;
  cv::resize(view(image), out, cv::Size(w, h), 0, 0, cv::INTER_AREA);
  return detail::to_image(out);
}

void save_png(const std::filesystem::path& path, const Image& image) {
  const std::vector<std::uint8_t> png = encode_png(image);
  util::write_private_file(path,
                           std::string_view(reinterpret_cast<const char*>(png.data()), png.size()));
}

Image overlay_heatmap(const Image& base, std::span<const float> heat, int heat_width,
                      int heat_height, float alpha) {
  check_image(base, "overlay_heatmap");
  if (heat_width <= 0 || heat_height <= 0 ||
      heat.size() != static_cast<std::size_t>(heat_width) * static_cast<std::size_t>(heat_height)) {
    throw Error(ErrorKind::invalid_input, "overlay_heatmap: the heat map has " +
                                              std::to_string(heat.size()) + " values, not " +
                                              std::to_string(heat_width) + " x " +
                                              std::to_string(heat_height));
  }
  if (!(alpha >= 0.0f && alpha <= 1.0f)) {
    throw Error(ErrorKind::invalid_input, "overlay_heatmap: alpha must be in [0, 1]");
  }
  detail::silence_libraries();

  // Heat values to 0..255 (clamped to [0, 1]; NaN counts as 0), then to the base's size.
  cv::Mat heat8(heat_height, heat_width, CV_8UC1);
  for (int y = 0; y < heat_height; ++y) {
    auto* row = heat8.ptr<std::uint8_t>(y);
    for (int x = 0; x < heat_width; ++x) {
      const float v = heat[static_cast<std::size_t>(y) * static_cast<std::size_t>(heat_width) +
                           static_cast<std::size_t>(x)];
      const float c = std::isnan(v) ? 0.0f : std::clamp(v, 0.0f, 1.0f);
      row[x] = static_cast<std::uint8_t>(std::lround(c * 255.0f));
    }
  }
  cv::Mat resized;
  cv::resize(heat8, resized, cv::Size(base.width, base.height), 0, 0, cv::INTER_LINEAR);
  cv::Mat colour_bgr;
  cv::applyColorMap(resized, colour_bgr, cv::COLORMAP_JET);
  cv::Mat colour;
  cv::cvtColor(colour_bgr, colour, cv::COLOR_BGR2RGB);

  cv::Mat rgb;
  if (base.channels == 1) {
    cv::cvtColor(view(base), rgb, cv::COLOR_GRAY2RGB);
  } else {
    rgb = view(base);
  }
  cv::Mat blended;
  cv::addWeighted(rgb, 1.0 - static_cast<double>(alpha), colour, static_cast<double>(alpha), 0.0,
                  blended);
  return to_image(blended);
}

SequentialCodecs::SequentialCodecs() : previous_(cv::getNumThreads()) {
  cv::setNumThreads(0);
}

SequentialCodecs::~SequentialCodecs() {
  cv::setNumThreads(previous_);
}

}  // namespace csss::imaging
