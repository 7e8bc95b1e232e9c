#include <doctest/doctest.h>

#include <numeric>

#include "imaging/augment.hpp"
#include "imaging/preprocess.hpp"
#include "support/check_error.hpp"
#include "util/error.hpp"

using csss::ErrorKind;
using csss::test::check_error;
using namespace csss::imaging;

namespace {

Image gradient(int width, int height, int channels) {
  Image img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c)
        img.pixels.push_back(static_cast<std::uint8_t>((x * 7 + y * 3 + c * 50) % 256));
  return img;
}

}  // namespace

TEST_CASE("imaging: fit then normalise_into is exactly preprocess") {
  for (const int channels : {1, 3}) {
    const PreprocessSpec spec{32, channels,
                              std::vector<float>(static_cast<std::size_t>(channels), 0.4f),
                              std::vector<float>(static_cast<std::size_t>(channels), 0.2f)};
    for (const Image& img : {gradient(50, 40, 1), gradient(20, 30, 3), gradient(32, 32, 1)}) {
      const Image fitted = fit(img, spec);
      CHECK(fitted.width == 32);
      CHECK(fitted.height == 32);
      CHECK(fitted.channels == channels);
      std::vector<float> out(static_cast<std::size_t>(channels) * 32 * 32);
      normalise_into(fitted, spec, out);
      CHECK(out == preprocess(img, spec));
    }
  }
  const PreprocessSpec spec{32, 1, {0.5f}, {0.25f}};
  std::vector<float> small(10);
  check_error([&] { normalise_into(fit(gradient(8, 8, 1), spec), spec, small); },
              ErrorKind::invalid_input);
  std::vector<float> right(32 * 32);
  check_error([&] { normalise_into(gradient(8, 8, 1), spec, right); }, ErrorKind::invalid_input);
}

TEST_CASE(
    "imaging: augment keeps size and channels, is determined by its seed, and off is identity") {
  const Image img = gradient(48, 48, 1);
  const AugmentSpec off;
  CHECK(off.identity());
  CHECK(augment(img, off, 7).pixels == img.pixels);

  const AugmentSpec on{15.0, 0.1, 0.1, 0.5, 0.1, 0.2};
  const Image a = augment(img, on, 1);
  const Image b = augment(img, on, 1);
  const Image c = augment(img, on, 2);
  CHECK(a.width == 48);
  CHECK(a.height == 48);
  CHECK(a.channels == 1);
  CHECK(a.pixels.size() == img.pixels.size());
  CHECK(a.pixels == b.pixels);
  CHECK(a.pixels != c.pixels);
  CHECK(a.pixels != img.pixels);
  CHECK(augment(gradient(30, 20, 3), on, 3).channels == 3);

  // A mirror alone (probability 1) flips each row.
  AugmentSpec mirror;
  mirror.hflip = 1.0;
  const Image m = augment(img, mirror, 5);
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 48; ++x)
      REQUIRE(m.pixels[static_cast<std::size_t>(y * 48 + x)] ==
              img.pixels[static_cast<std::size_t>(y * 48 + (47 - x))]);
}

TEST_CASE("imaging: augment refuses out-of-range settings and bad images") {
  const Image img = gradient(16, 16, 1);
  AugmentSpec bad;
  bad.rotate_degrees = 200;
  check_error([&] { augment(img, bad, 1); }, ErrorKind::invalid_input);
  bad = {};
  bad.hflip = 1.5;
  check_error([&] { check(bad); }, ErrorKind::invalid_input);
  bad = {};
  bad.scale = -0.1;
  check_error([&] { check(bad); }, ErrorKind::invalid_input);
  Image broken = img;
  broken.pixels.pop_back();
  check_error([&] { augment(broken, AugmentSpec{5, 0, 0, 0, 0, 0}, 1); }, ErrorKind::invalid_input);
}
