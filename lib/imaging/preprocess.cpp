// The model input: channels, size, normalisation (see preprocess.hpp).

#include "imaging/preprocess.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <string>

#include "imaging/internal.hpp"
#include "imaging/opencv_bridge.hpp"
#include "util/error.hpp"

namespace csss::imaging {

namespace {

constexpr int kMaxSize = 4096;

[[noreturn]] void bad(const std::string& what) {
  throw Error(ErrorKind::invalid_input, "preprocess: " + what);
}

void check_spec(const PreprocessSpec& spec) {
  if (spec.size < 1 || spec.size > kMaxSize) {
    bad("the size must be between 1 and " + std::to_string(kMaxSize) + ", not " +
        std::to_string(spec.size));
  }
  if (spec.channels != 1 && spec.channels != 3) {
    bad("the channel count must be 1 or 3, not " + std::to_string(spec.channels));
  }
  const auto channels = static_cast<std::size_t>(spec.channels);
  if (spec.mean.size() != channels || spec.stddev.size() != channels) {
    bad("mean and stddev need one value per channel (" + std::to_string(spec.channels) + ")");
  }
  for (std::size_t c = 0; c < channels; ++c) {
    if (!std::isfinite(spec.mean[c]) || !std::isfinite(spec.stddev[c]) || !(spec.stddev[c] > 0)) {
      bad("mean must be finite and stddev finite and positive");
    }
  }
}

void check_image(const Image& image) {
  if (image.width <= 0 || image.height <= 0) {
    bad("the image is empty");
  }
  if (image.channels != 1 && image.channels != 3) {
    bad("the image must have 1 or 3 channels, not " + std::to_string(image.channels));
  }
  const std::size_t expected = static_cast<std::size_t>(image.width) *
                               static_cast<std::size_t>(image.height) *
                               static_cast<std::size_t>(image.channels);
  if (image.pixels.size() != expected) {
    bad("the image has " + std::to_string(image.pixels.size()) + " bytes, not " +
        std::to_string(expected));
  }
}

}  // namespace

namespace {

// fit(), and fit_compact() when `keep_gray`.
Image fit_to(const Image& image, const PreprocessSpec& spec, bool keep_gray) {
  check_spec(spec);
  check_image(image);
  detail::silence_libraries();

  // Area averaging when no side grows (it does not alias when shrinking), bilinear otherwise.
  const auto resize = [&](const Image& from) {
    if (from.width == spec.size && from.height == spec.size)
      return from;
    if (spec.size <= from.width && spec.size <= from.height)
      return detail::shrink_area(from, spec.size, spec.size);  // cv::INTER_AREA's bytes, faster
    cv::Mat resized;
    cv::resize(detail::view(from), resized, cv::Size(spec.size, spec.size), 0, 0, cv::INTER_LINEAR);
    return detail::to_image(resized);
  };
  if (image.channels == spec.channels)
    return resize(image);
  cv::Mat converted;
  if (spec.channels == 1) {
    cv::cvtColor(detail::view(image), converted,
                 cv::COLOR_RGB2GRAY);  // 0.299 R + 0.587 G + 0.114 B
    return resize(detail::to_image(converted));
  }
  // Gray to RGB repeats the plane, so it is resized first: the same values as resizing the three
  // equal planes (each is resized alone), for a third of the work.
  Image gray = resize(image);
  if (keep_gray)
    return gray;
  cv::cvtColor(detail::view(gray), converted, cv::COLOR_GRAY2RGB);
  return detail::to_image(converted);
}

}  // namespace

Image fit(const Image& image, const PreprocessSpec& spec) {
  return fit_to(image, spec, false);
}

Image fit_compact(const Image& image, const PreprocessSpec& spec) {
  return fit_to(image, spec, true);
}

void normalise_into(const Image& fitted, const PreprocessSpec& spec, std::span<float> out) {
  check_spec(spec);
  check_image(fitted);
  const bool gray_to_rgb = fitted.channels == 1 && spec.channels == 3;  // from fit_compact()
  if (fitted.width != spec.size || fitted.height != spec.size ||
      (fitted.channels != spec.channels && !gray_to_rgb)) {
    bad("the image is " + std::to_string(fitted.width) + "x" + std::to_string(fitted.height) +
        " with " + std::to_string(fitted.channels) + " channel(s), not " +
        std::to_string(spec.size) + "x" + std::to_string(spec.size) + " with " +
        std::to_string(spec.channels));
  }
  const auto plane = static_cast<std::size_t>(spec.size) * static_cast<std::size_t>(spec.size);
  const auto channels = static_cast<std::size_t>(spec.channels);
  if (out.size() != channels * plane) {
    bad("the output holds " + std::to_string(out.size()) + " values, not " +
        std::to_string(channels * plane));
  }
  const auto stride = static_cast<std::size_t>(fitted.channels);
  for (std::size_t c = 0; c < channels; ++c) {
    const float scale = 1.0f / (255.0f * spec.stddev[c]);
    const float offset = spec.mean[c] / spec.stddev[c];
    // Not aliased: lets the compiler vectorise the loops without a run-time overlap check.
    float* __restrict dst = out.data() + c * plane;
    const std::uint8_t* __restrict src = fitted.pixels.data() + (gray_to_rgb ? 0 : c);
    // (v / 255 - mean) / stddev
    if (stride == 1) {
      for (std::size_t i = 0; i < plane; ++i)
        dst[i] = static_cast<float>(src[i]) * scale - offset;
    } else {
      for (std::size_t i = 0; i < plane; ++i)
        dst[i] = static_cast<float>(src[i * stride]) * scale - offset;
    }
  }
}

std::vector<float> preprocess(const Image& image, const PreprocessSpec& spec) {
  const Image fitted = fit(image, spec);
  std::vector<float> out(static_cast<std::size_t>(spec.channels) *
                         static_cast<std::size_t>(spec.size) * static_cast<std::size_t>(spec.size));
  normalise_into(fitted, spec, out);
  return out;
}

}  // namespace csss::imaging
