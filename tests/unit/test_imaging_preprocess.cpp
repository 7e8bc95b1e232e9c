// lib/imaging/preprocess: channel conversion, resizing, normalisation, CHW layout, errors.

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "imaging/internal.hpp"
#include "imaging/preprocess.hpp"
#include "support/check_error.hpp"

using namespace csss::imaging;
using csss::ErrorKind;
using csss::test::check_error;

namespace {

Image constant(int width, int height, int channels, std::uint8_t value) {
  return Image{
      width, height, channels,
      std::vector<std::uint8_t>(static_cast<std::size_t>(width * height * channels), value)};
}

PreprocessSpec spec(int size, int channels, std::vector<float> mean, std::vector<float> stddev) {
  PreprocessSpec s;
  s.size = size;
  s.channels = channels;
  s.mean = std::move(mean);
  s.stddev = std::move(stddev);
  return s;
}

}  // namespace

TEST_CASE("imaging: preprocess output size and normalisation of a constant image") {
  // Gray 51 = 0.2 on the [0,1] scale; default spec mean 0.5, stddev 0.25: (0.2 - 0.5) / 0.25.
  const std::vector<float> out = preprocess(constant(300, 200, 1, 51), PreprocessSpec{});
  REQUIRE(out.size() == 224u * 224u);
  for (float v : out) {
    REQUIRE(v == doctest::Approx(-1.2f).epsilon(1e-5));
  }

  // RGB spec with per-channel statistics: each plane gets its own.
  const std::vector<float> rgb = preprocess(
      constant(10, 10, 3, 255), spec(4, 3, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}));
  REQUIRE(rgb.size() == 3u * 16u);
  CHECK(rgb[0] == doctest::Approx((1.0f - 0.485f) / 0.229f));
  CHECK(rgb[16] == doctest::Approx((1.0f - 0.456f) / 0.224f));
  CHECK(rgb[47] == doctest::Approx((1.0f - 0.406f) / 0.225f));
}

TEST_CASE("imaging: preprocess converts channels") {
  // Gray to RGB: the value repeated in all three planes.
  const std::vector<float> g2rgb =
      preprocess(constant(3, 3, 1, 102), spec(3, 3, {0, 0, 0}, {1, 1, 1}));
  REQUIRE(g2rgb.size() == 27u);
  for (float v : g2rgb) {
    CHECK(v == doctest::Approx(0.4f));
  }

  // RGB to gray with BT.601 weights: pure red 255 -> 0.299, green -> 0.587, blue -> 0.114.
  const auto gray_of = [](std::uint8_t r, std::uint8_t g, std::uint8_t b) {
    Image img{1, 1, 3, {r, g, b}};
    return preprocess(img, spec(1, 1, {0}, {1})).at(0);
  };
  CHECK(gray_of(255, 0, 0) == doctest::Approx(0.299f).epsilon(0.01));
  CHECK(gray_of(0, 255, 0) == doctest::Approx(0.587f).epsilon(0.01));
  CHECK(gray_of(0, 0, 255) == doctest::Approx(0.114f).epsilon(0.02));
  CHECK(gray_of(200, 200, 200) == doctest::Approx(200.0f / 255.0f).epsilon(0.005));

  // RGB stays RGB, planar: R plane, then G, then B.
  // Pixels red, blue / green, white.
  Image rgb{2, 2, 3, {255, 0, 0, 0, 0, 255, 0, 255, 0, 255, 255, 255}};
  const std::vector<float> planes = preprocess(rgb, spec(2, 3, {0, 0, 0}, {1, 1, 1}));
  CHECK(planes == std::vector<float>{1, 0, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1});
}

TEST_CASE("imaging: fit of a gray image to RGB equals the fit of its RGB copy, and fit_compact") {
  // fit() resizes a gray image before repeating it into three planes; the result must be what
  // resizing the three equal planes gives, when shrinking (area) and when growing (bilinear).
  std::uint32_t state = 12345;
  const auto next = [&] {
    state = state * 1664525u + 1013904223u;
    return static_cast<std::uint8_t>(state >> 24);
  };
  for (const auto& [width, height] : {std::pair{256, 256}, {300, 200}, {100, 150}, {224, 224}}) {
    Image gray{width, height, 1, {}};
    Image rgb{width, height, 3, {}};
    for (int i = 0; i < width * height; ++i) {
      const std::uint8_t v = next();
      gray.pixels.push_back(v);
      rgb.pixels.insert(rgb.pixels.end(), {v, v, v});
    }
    const PreprocessSpec s = spec(224, 3, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f});
    const Image a = fit(gray, s);
    const Image b = fit(rgb, s);
    CAPTURE(width);
    CAPTURE(height);
    CHECK(a.channels == 3);
    CHECK(a.width == 224);
    CHECK(a.pixels == b.pixels);
    // fit_compact() keeps the gray plane; normalised, it gives fit()'s floats exactly.
    const Image compact = fit_compact(gray, s);
    CHECK(compact.channels == 1);
    CHECK(compact.pixels.size() == 224u * 224u);
    std::vector<float> from_compact(3u * 224u * 224u);
    std::vector<float> from_fit(3u * 224u * 224u);
    normalise_into(compact, s, from_compact);
    normalise_into(a, s, from_fit);
    CHECK(from_compact == from_fit);
    CHECK(from_fit == preprocess(gray, s));
    // RGB images, and gray for a gray model, are fitted as fit() does.
    CHECK(fit_compact(rgb, s).pixels == b.pixels);
    const PreprocessSpec g = spec(224, 1, {0.5f}, {0.25f});
    CHECK(fit_compact(gray, g).pixels == fit(gray, g).pixels);
  }
  // A one-channel image normalised for a gray spec of another size is still refused.
  std::vector<float> out(3u * 4u * 4u);
  check_error(
      [&] {
        normalise_into(constant(5, 5, 1, 0), spec(4, 3, {0, 0, 0}, {1, 1, 1}), out);
      },
      ErrorKind::invalid_input, "not 4x4");
}

TEST_CASE("imaging: preprocess resizes a known pattern") {
  // 4 x 4 with the left half 0 and the right half 255, shrunk to 2 x 2 by area: 0 | 1.
  Image halves{4, 4, 1, {}};
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 4; ++x) {
      halves.pixels.push_back(x < 2 ? 0 : 255);
    }
  }
  const PreprocessSpec unit = spec(2, 1, {0}, {1});
  CHECK(preprocess(halves, unit) == std::vector<float>{0, 1, 0, 1});

  // 2 x 2 checkerboard shrunk to 1 x 1: the average.
  const Image checker{2, 2, 1, {0, 255, 255, 0}};
  CHECK(preprocess(checker, spec(1, 1, {0}, {1})).at(0) == doctest::Approx(0.5f).epsilon(0.01));

  // Enlarging 2 x 1 (0 | 255) to 4 x 4, bilinear: columns rise left to right, rows are equal.
  const Image two{2, 1, 1, {0, 255}};
  const std::vector<float> big = preprocess(two, spec(4, 1, {0}, {1}));
  REQUIRE(big.size() == 16u);
  CHECK(big[0] == doctest::Approx(0.0f));
  CHECK(big[3] == doctest::Approx(1.0f));
  CHECK(big[0] < big[1]);
  CHECK(big[1] < big[2]);
  CHECK(big[2] < big[3]);
  for (int x = 0; x < 4; ++x) {
    CHECK(big[static_cast<std::size_t>(12 + x)] == big[static_cast<std::size_t>(x)]);
  }

  // Top half dark, bottom half bright, non-square: the aspect ratio is not kept.
  Image tall{2, 6, 1, {}};
  for (int y = 0; y < 6; ++y) {
    tall.pixels.push_back(y < 3 ? 0 : 255);
    tall.pixels.push_back(y < 3 ? 0 : 255);
  }
  const std::vector<float> square = preprocess(tall, spec(2, 1, {0}, {1}));
  CHECK(square == std::vector<float>{0, 0, 1, 1});
}

TEST_CASE("imaging: preprocess is deterministic") {
  Image img{37, 23, 3, {}};
  for (int i = 0; i < 37 * 23 * 3; ++i) {
    img.pixels.push_back(static_cast<std::uint8_t>((i * 7919) % 251));
  }
  const PreprocessSpec s = spec(64, 3, {0.5f, 0.4f, 0.3f}, {0.2f, 0.3f, 0.4f});
  CHECK(preprocess(img, s) == preprocess(img, s));
}

TEST_CASE("imaging: preprocess refuses empty images and malformed specs") {
  const Image ok = constant(4, 4, 1, 9);
  check_error([&] { preprocess(Image{}, PreprocessSpec{}); }, ErrorKind::invalid_input,
              "preprocess: the image is empty");
  check_error(
      [&] {
        preprocess(Image{2, 2, 1, {1, 2, 3}}, PreprocessSpec{});
      },
      ErrorKind::invalid_input, "preprocess: the image has 3 bytes, not 4");
  check_error([&] { preprocess(constant(2, 2, 2, 1), PreprocessSpec{}); }, ErrorKind::invalid_input,
              "1 or 3 channels");
  check_error([&] { preprocess(ok, spec(0, 1, {0.5f}, {0.25f})); }, ErrorKind::invalid_input,
              "size");
  check_error([&] { preprocess(ok, spec(100000, 1, {0.5f}, {0.25f})); }, ErrorKind::invalid_input,
              "size");
  check_error(
      [&] {
        preprocess(ok, spec(8, 2, {0.5f, 0.5f}, {0.25f, 0.25f}));
      },
      ErrorKind::invalid_input, "channel count");
  check_error([&] { preprocess(ok, spec(8, 3, {0.5f}, {0.25f})); }, ErrorKind::invalid_input,
              "one value per channel");
  check_error([&] { preprocess(ok, spec(8, 1, {0.5f}, {0.0f})); }, ErrorKind::invalid_input,
              "stddev");
  check_error([&] { preprocess(ok, spec(8, 1, {NAN}, {0.25f})); }, ErrorKind::invalid_input,
              "mean");
}

TEST_CASE("imaging: the area shrink gives OpenCV's INTER_AREA bytes at every ratio") {
  // detail::shrink_area() repeats cv::resize(INTER_AREA)'s arithmetic in another order of loops
  // (with AVX2 where the CPU has it, and without); any difference in a byte would change what the
  // models see. Random and smooth images, gray
  // and RGB, whole and fractional ratios, each side alone and both.
  std::uint32_t state = 2024;
  const auto next = [&] {
    state = state * 1664525u + 1013904223u;
    return state >> 8;
  };
  const auto make = [&](int width, int height, int channels, bool smooth) {
    Image image{width, height, channels, {}};
    image.pixels.resize(static_cast<std::size_t>(width * height * channels));
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width * channels; ++x) {
        const auto i = static_cast<std::size_t>(y * width * channels + x);
        image.pixels[i] = smooth ? static_cast<std::uint8_t>((x * 7 + y * 3) % 256)
                                 : static_cast<std::uint8_t>(next() & 0xFF);
      }
    }
    return image;
  };
  struct Case {
    int width, height, to_width, to_height;
  };
  std::vector<Case> cases{{256, 256, 224, 224}, {512, 512, 224, 224}, {300, 200, 224, 199},
                          {225, 225, 224, 224}, {233, 256, 224, 224}, {1024, 768, 299, 299},
                          {256, 256, 128, 128}, {256, 256, 256, 224}, {7, 5, 3, 2},
                          {10, 10, 1, 1},       {1, 9, 1, 4},         {640, 480, 640, 479}};
  for (int i = 0; i < 60; ++i) {
    const int w = 1 + static_cast<int>(next() % 300);
    const int h = 1 + static_cast<int>(next() % 300);
    cases.push_back({w, h, 1 + static_cast<int>(next() % static_cast<std::uint32_t>(w)),
                     1 + static_cast<int>(next() % static_cast<std::uint32_t>(h))});
  }
  for (const Case& c : cases) {
    for (const int channels : {1, 3}) {
      for (const bool smooth : {false, true}) {
        const Image in = make(c.width, c.height, channels, smooth);
        const Image ours = csss::imaging::detail::shrink_area(in, c.to_width, c.to_height);
        const Image portable =
            csss::imaging::detail::shrink_area(in, c.to_width, c.to_height, false);
        const Image theirs = csss::imaging::detail::shrink_area_opencv(in, c.to_width, c.to_height);
        CAPTURE(c.width);
        CAPTURE(c.height);
        CAPTURE(c.to_width);
        CAPTURE(c.to_height);
        CAPTURE(channels);
        CAPTURE(smooth);
        REQUIRE(ours.width == c.to_width);
        REQUIRE(ours.height == c.to_height);
        REQUIRE(ours.channels == channels);
        REQUIRE(ours.pixels == theirs.pixels);
        REQUIRE(portable.pixels == theirs.pixels);
      }
    }
  }
  check_error(
      [] {
        (void)csss::imaging::detail::shrink_area(Image{4, 4, 1, std::vector<std::uint8_t>(16)}, 5,
                                                 2);
      },
      ErrorKind::internal, "no larger");
}
