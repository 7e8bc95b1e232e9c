// Training augmentation (see augment.hpp), with OpenCV's warpAffine.

#include "imaging/augment.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <random>
#include <string>

#include "imaging/internal.hpp"
#include "imaging/opencv_bridge.hpp"
#include "util/error.hpp"

namespace csss::imaging {

namespace {

void require_range(double value, double high, const char* field) {
  if (!std::isfinite(value) || value < 0.0 || value > high) {
    throw Error(ErrorKind::invalid_input, std::string("augment: ") + field +
                                              " must be between 0 and " + std::to_string(high));
  }
}

}  // namespace

void check(const AugmentSpec& spec) {
  require_range(spec.rotate_degrees, 180.0, "rotate_degrees");
  require_range(spec.scale, 0.9, "scale");
  require_range(spec.translate, 0.5, "translate");
  require_range(spec.hflip, 1.0, "hflip");
  require_range(spec.brightness, 1.0, "brightness");
  require_range(spec.contrast, 1.0, "contrast");
}

Image augment(const Image& image, const AugmentSpec& spec, std::uint64_t seed) {
  check(spec);
  if (image.width <= 0 || image.height <= 0 || (image.channels != 1 && image.channels != 3) ||
      image.pixels.size() != static_cast<std::size_t>(image.width) *
                                 static_cast<std::size_t>(image.height) *
                                 static_cast<std::size_t>(image.channels)) {
    throw Error(ErrorKind::invalid_input, "augment: the image is empty or inconsistent");
  }
  if (spec.identity())
    return image;
  detail::silence_libraries();

  std::mt19937_64 rng(seed);
  const auto uniform = [&](double half_range) {
    return half_range == 0.0 ? 0.0
                             : std::uniform_real_distribution<double>(-half_range, half_range)(rng);
  };
  const double angle = uniform(spec.rotate_degrees);
  const double zoom = 1.0 + uniform(spec.scale);
  const double shift_x = uniform(spec.translate) * image.width;
  const double shift_y = uniform(spec.translate) * image.height;
  const bool flip =
      spec.hflip > 0.0 && std::uniform_real_distribution<double>(0.0, 1.0)(rng) < spec.hflip;
  const double brightness = uniform(spec.brightness) * 255.0;
  const double contrast = 1.0 + uniform(spec.contrast);

  const int type = image.channels == 1 ? CV_8UC1 : CV_8UC3;
  const cv::Mat in = detail::view(image);
  const cv::Point2f centre(static_cast<float>(image.width - 1) / 2.0f,
                           static_cast<float>(image.height - 1) / 2.0f);
  cv::Mat m = cv::getRotationMatrix2D(centre, angle, zoom);  // 2x3, CV_64F
  if (flip) {
    // Mirror first: x -> (w - 1) - x, then the rotation and zoom.
    m.at<double>(0, 2) += m.at<double>(0, 0) * (image.width - 1);
    m.at<double>(1, 2) += m.at<double>(1, 0) * (image.width - 1);
    m.at<double>(0, 0) = -m.at<double>(0, 0);
    m.at<double>(1, 0) = -m.at<double>(1, 0);
  }
  m.at<double>(0, 2) += shift_x;
  m.at<double>(1, 2) += shift_y;

  cv::Mat warped;
  cv::warpAffine(in, warped, m, in.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  if (brightness != 0.0 || contrast != 1.0) {
    const cv::Scalar mean = cv::mean(warped);
    double average = 0.0;
    for (int c = 0; c < image.channels; ++c)
      average += mean[c];
    average /= image.channels;
    // v' = contrast * (v - average) + average + brightness, saturated to 0..255.
    warped.convertTo(warped, type, contrast, (1.0 - contrast) * average + brightness);
  }
  return detail::to_image(warped);
}

}  // namespace csss::imaging
