#pragma once

// Random image augmentation for training: a random affine transform (rotation, zoom, shift,
// horizontal mirror) and random brightness and contrast, on an image already fitted to the model's
// input size (imaging::fit), so that without augmentation training sees exactly what analysis
// sees.

#include <cstdint>

#include "imaging/image.hpp"

namespace csss::imaging {

// Each range is drawn uniformly per image; 0 turns that part off.
struct AugmentSpec {
  double rotate_degrees = 0.0;  // rotation in [-r, +r] degrees
  double scale = 0.0;           // zoom factor in [1 - s, 1 + s]
  double translate = 0.0;       // shift in [-t, +t] of the width and of the height
  double hflip = 0.0;           // probability of a left-right mirror (not for chest X-rays)
  double brightness = 0.0;      // added value in [-b, +b] x 255
  double contrast = 0.0;        // factor in [1 - c, 1 + c] around the image's mean

  bool identity() const {
    return rotate_degrees == 0.0 && scale == 0.0 && translate == 0.0 && hflip == 0.0 &&
           brightness == 0.0 && contrast == 0.0;
  }
};

// Throws Error(invalid_input, "augment: ...") naming the field unless every value is finite,
// rotate_degrees in 0..180, scale in 0..0.9, translate in 0..0.5, hflip in 0..1, brightness and
// contrast in 0..1.
void check(const AugmentSpec& spec);

// A randomly transformed copy of `image` (same size and channels), determined by `seed`; areas
// moved in from outside the image repeat its border pixels. Bilinear interpolation.
Image augment(const Image& image, const AugmentSpec& spec, std::uint64_t seed);

}  // namespace csss::imaging
