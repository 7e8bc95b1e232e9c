#pragma once

#include <span>
#include <vector>

#include "imaging/image.hpp"

namespace csss::imaging {

// How a model wants its input (from the model's manifest).
struct PreprocessSpec {
  int size = 224;                 // the image is resized to size x size
  int channels = 1;               // 1 (gray) or 3 (RGB)
  std::vector<float> mean{0.5f};  // per channel, on the [0,1] scale
  std::vector<float> stddev{0.25f};
};

// The one preprocessing step shared by training, analysis and batch import: convert to the
// spec's channel count (gray is repeated to RGB; RGB to gray with ITU-R BT.601 weights), resize to
// size x size (area interpolation when neither side grows, bilinear otherwise; the aspect ratio is
// not kept), scale to [0,1], subtract the mean and divide by the standard deviation per channel.
// Returns channels * size * size floats, planar (CHW), deterministic. Throws Error(invalid_input)
// for an empty or inconsistent image, or a malformed spec: size outside 1..4096, channels not 1
// or 3, mean/stddev without exactly one value per channel, stddev not positive, non-finite values.
std::vector<float> preprocess(const Image& image, const PreprocessSpec& spec);

// The two halves of preprocess(), for training, which augments in between:
// fit() converts to the spec's channel count and resizes to size x size (as above), and
// normalise_into() writes the fitted image's CHW floats to `out` (channels * size * size values).
// preprocess(image, spec) == normalise(fit(image, spec), spec). Throw as preprocess() does, and
// normalise_into() also when the image is not size x size with the spec's channels (or one
// channel, see fit_compact) or `out` has the wrong length.
Image fit(const Image& image, const PreprocessSpec& spec);
void normalise_into(const Image& fitted, const PreprocessSpec& spec, std::span<float> out);

// fit() that leaves a gray image gray for a 3-channel spec (a third of the bytes, for images
// that wait in a queue): normalise_into() repeats its plane into the three, the same floats as
// from fit()'s RGB copy. Otherwise the same as fit().
Image fit_compact(const Image& image, const PreprocessSpec& spec);

}  // namespace csss::imaging
