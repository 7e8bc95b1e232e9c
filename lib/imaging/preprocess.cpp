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

Image fit(const Image& image, const PreprocessSpec& spec) {
  check_spec(spec);
  check_image(image);
  detail::silence_libraries();

  // Area averaging when no side grows (it does not alias when shrinking), bilinear otherwise.
  const auto resize = [&](const cv::Mat& from) {
    if (image.width == spec.size && image.height == spec.size)
      return from;
    const bool shrinking = spec.size <= image.width && spec.size <= image.height;
    cv::Mat resized;
    cv::resize(from, resized, cv::Size(spec.size, spec.size), 0, 0,
               shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
    return resized;
  };
  const cv::Mat in = detail::view(image);
  cv::Mat resized;
  if (image.channels == spec.channels) {
    resized = resize(in);
  } else if (spec.channels == 1) {
    cv::Mat gray;
    cv::cvtColor(in, gray, cv::COLOR_RGB2GRAY);  // 0.299 R + 0.587 G + 0.114 B
    resized = resize(gray);
  } else {
    // Gray to RGB repeats the plane, so it is resized first: the same values as resizing the
    // three equal planes (each is resized alone), for a third of the work.
    cv::cvtColor(resize(in), resized, cv::COLOR_GRAY2RGB);
  }
  return detail::to_image(resized);
}

void normalise_into(const Image& fitted, const PreprocessSpec& spec, std::span<float> out) {
  check_spec(spec);
  check_image(fitted);
  if (fitted.width != spec.size || fitted.height != spec.size || fitted.channels != spec.channels) {
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
  for (std::size_t c = 0; c < channels; ++c) {
    const float scale = 1.0f / (255.0f * spec.stddev[c]);
    const float offset = spec.mean[c] / spec.stddev[c];
    float* dst = out.data() + c * plane;
    const std::uint8_t* src = fitted.pixels.data() + c;
    // (v / 255 - mean) / stddev
    for (std::size_t i = 0; i < plane; ++i)
      dst[i] = static_cast<float>(src[i * channels]) * scale - offset;
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
