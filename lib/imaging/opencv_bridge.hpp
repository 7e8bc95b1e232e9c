#pragma once

// Between OpenCV matrices and Images, for the lib/imaging/*.cpp files that use OpenCV only
// (internal.hpp stays free of third-party types).

#include <opencv2/core.hpp>

#include "imaging/image.hpp"

namespace csss::imaging::detail {

// An 8-bit Mat with 1 or 3 channels as an Image (copied).
inline Image to_image(const cv::Mat& m) {
  const cv::Mat c = m.isContinuous() ? m : m.clone();
  Image out;
  out.width = c.cols;
  out.height = c.rows;
  out.channels = c.channels();
  out.pixels.assign(c.data, c.data + c.total() * c.elemSize());
  return out;
}

// A Mat header over the pixels of `image` (no copy; valid while `image` is; not to be written).
inline cv::Mat view(const Image& image) {
  return cv::Mat(image.height, image.width, image.channels == 1 ? CV_8UC1 : CV_8UC3,
                 const_cast<std::uint8_t*>(image.pixels.data()));
}

}  // namespace csss::imaging::detail
