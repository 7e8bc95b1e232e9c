// lib/imaging/charts: line charts, confusion matrices and reliability diagrams have the requested
// size, show something, encode as PNG, and refuse malformed input.

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "imaging/charts.hpp"
#include "imaging/image.hpp"
#include "support/check_error.hpp"

using namespace csss::imaging;
using csss::ErrorKind;
using csss::test::check_error;

namespace {

void check_rgb(const Image& image, int width, int height) {
  CHECK(image.width == width);
  CHECK(image.height == height);
  CHECK(image.channels == 3);
  CHECK(image.pixels.size() ==
        static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3u);
}

std::size_t distinct_colours(const Image& image) {
  std::set<std::uint32_t> colours;
  for (std::size_t i = 0; i + 2 < image.pixels.size(); i += 3) {
    colours.insert(static_cast<std::uint32_t>(image.pixels[i]) << 16 |
                   static_cast<std::uint32_t>(image.pixels[i + 1]) << 8 | image.pixels[i + 2]);
  }
  return colours.size();
}

// Pixels of exactly this colour.
std::size_t count_colour(const Image& image, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
  std::size_t n = 0;
  for (std::size_t i = 0; i + 2 < image.pixels.size(); i += 3) {
    n += image.pixels[i] == r && image.pixels[i + 1] == g && image.pixels[i + 2] == b ? 1u : 0u;
  }
  return n;
}

// The share of pixels that are white (the background).
double white_share(const Image& image) {
  return static_cast<double>(count_colour(image, 255, 255, 255)) /
         static_cast<double>(image.width * image.height);
}

// PNG bytes decode back to the same pixels.
void check_png(const Image& image) {
  const std::vector<std::uint8_t> png = encode_png(image);
  REQUIRE(png.size() > 8u);
  CHECK(png[0] == 0x89);
  CHECK(png[1] == 'P');
  const Decoded back = decode(png, Limits{}, "chart.png");
  CHECK(back.format == Format::png);
  CHECK(back.image.width == image.width);
  CHECK(back.image.height == image.height);
  CHECK(back.image.pixels == image.pixels);
}

LineChart training_curves() {
  LineChart chart;
  chart.title = "Training loss";
  chart.x_label = "epoch";
  chart.y_label = "loss";
  Series train{"train", {}, {}};
  Series validation{"validation", {}, {}};
  for (int epoch = 1; epoch <= 20; ++epoch) {
    train.x.push_back(epoch);
    train.y.push_back(1.2 * std::exp(-0.15 * epoch) + 0.1);
    validation.x.push_back(epoch);
    validation.y.push_back(1.1 * std::exp(-0.12 * epoch) + 0.25);
  }
  chart.series = {train, validation};
  return chart;
}

}  // namespace

TEST_CASE("imaging: charts: a line chart has the requested size and shows its series") {
  const Image image = draw_line_chart(training_curves());
  check_rgb(image, 800, 600);
  CHECK(distinct_colours(image) > 50u);
  CHECK(white_share(image) > 0.5);  // mostly background
  CHECK(white_share(image) < 0.99);
  // The first two series colours (tab10 blue and orange) are drawn.
  CHECK(count_colour(image, 31, 119, 180) > 100u);
  CHECK(count_colour(image, 255, 127, 14) > 100u);
  check_png(image);

  LineChart small = training_curves();
  small.width = 200;
  small.height = 300;
  check_rgb(draw_line_chart(small), 200, 300);
  LineChart big = training_curves();
  big.width = 1600;
  big.height = 1200;
  check_rgb(draw_line_chart(big), 1600, 1200);
}

TEST_CASE("imaging: charts: a ROC chart on the unit square") {
  LineChart roc;
  roc.title = "ROC (one vs rest)";
  roc.x_label = "false positive rate";
  roc.y_label = "true positive rate";
  roc.unit_square = true;
  roc.width = 600;
  roc.height = 600;
  roc.series = {{"normal (AUC 0.91)", {0, 0.05, 0.1, 0.3, 1}, {0, 0.6, 0.8, 0.95, 1}},
                {"pneumonia (AUC 0.85)", {0, 0.1, 0.2, 0.5, 1}, {0, 0.5, 0.75, 0.9, 1}},
                {"covid (AUC 0.78)", {0, 0.2, 0.4, 1}, {0, 0.5, 0.8, 1}}};
  const Image image = draw_line_chart(roc);
  check_rgb(image, 600, 600);
  CHECK(count_colour(image, 44, 160, 44) > 50u);  // the third colour, green
  check_png(image);
}

TEST_CASE("imaging: charts: line charts take odd data") {
  LineChart chart;
  // No series at all: empty axes.
  CHECK(distinct_colours(draw_line_chart(chart)) > 2u);
  // Non-finite values are skipped; a single point; a flat series; more series than colours;
  // long and non-ASCII names.
  chart.title = std::string(300, 'T');
  chart.y_label =
      "gr\xc3\xb6\xc3\x9f"
      "e";
  chart.series.push_back({"with gaps", {1, 2, 3, 4}, {0.5, NAN, INFINITY, 0.7}});
  chart.series.push_back({"one point", {2.5}, {0.6}});
  chart.series.push_back({"", {1, 4}, {0.65, 0.65}});
  for (int i = 0; i < 8; ++i) {
    chart.series.push_back({"series " + std::to_string(i), {1, 4}, {0.5 + 0.02 * i, 0.6}});
  }
  check_rgb(draw_line_chart(chart), 800, 600);
  // Only non-finite values, and values far out of the unit square.
  LineChart wild;
  wild.series.push_back({"nan", {NAN, 1}, {1, NAN}});
  check_rgb(draw_line_chart(wild), 800, 600);
  wild.unit_square = true;
  wild.series.push_back({"far", {-1e200, 0.5, 1e200}, {1e200, 0.5, -1e200}});
  check_rgb(draw_line_chart(wild), 800, 600);
  // A constant series, huge values.
  LineChart flat;
  flat.series.push_back({"constant", {0, 0}, {3, 3}});
  flat.series.push_back({"huge", {1e9, 2e9}, {1e12, 3e12}});
  check_rgb(draw_line_chart(flat), 800, 600);
}

TEST_CASE("imaging: charts: line chart errors") {
  LineChart chart = training_curves();
  chart.series[1].y.pop_back();
  check_error([&] { draw_line_chart(chart); }, ErrorKind::invalid_input,
              "series \"validation\" has 20 x values and 19 y values");
  for (const auto& [w, h] :
       {std::pair{199, 600}, std::pair{800, 4001}, std::pair{0, 0}, std::pair{-5, 600}}) {
    LineChart sized = training_curves();
    sized.width = w;
    sized.height = h;
    check_error([&] { draw_line_chart(sized); }, ErrorKind::invalid_input, "between 200 and 4000");
  }
}

TEST_CASE("imaging: charts: a confusion matrix shades rows and prints counts") {
  const std::vector<std::string> labels{"normal", "pneumonia", "covid-19 with a long name"};
  const std::vector<std::vector<int>> counts{{50, 3, 2}, {4, 40, 6}, {0, 0, 0}};
  const Image image = draw_confusion_matrix("Confusion matrix (test)", labels, counts);
  CHECK(image.channels == 3);
  CHECK(image.width >= 300);
  CHECK(image.height >= 300);
  CHECK(image.width <= 4000);
  CHECK(image.height <= 4000);
  CHECK(distinct_colours(image) > 50u);
  // The darkest blue of the scale (a share near 1) appears only in the colour bar; cells of
  // 50/55 and 40/50 are dark, the empty row is the lightest blue.
  CHECK(count_colour(image, 247, 251, 255) > 100u);
  std::size_t dark = 0;
  for (std::size_t i = 0; i + 2 < image.pixels.size(); i += 3) {
    dark += image.pixels[i] < 60 && image.pixels[i + 2] > 120 ? 1u : 0u;
  }
  CHECK(dark > 2000u);
  check_png(image);

  // Many classes: cells shrink, the image stays within bounds.
  const int k = 40;
  std::vector<std::string> many;
  std::vector<std::vector<int>> diagonal(k, std::vector<int>(k, 1));
  for (int i = 0; i < k; ++i) {
    many.push_back("class " + std::to_string(i));
    diagonal[static_cast<std::size_t>(i)][static_cast<std::size_t>(i)] = 100 + i;
  }
  const Image big = draw_confusion_matrix("", many, diagonal);
  CHECK(big.width <= 4000);
  CHECK(big.height <= 4000);
  CHECK(big.pixels.size() == static_cast<std::size_t>(big.width * big.height * 3));

  // One class.
  CHECK(draw_confusion_matrix("one", {"only"}, {{7}}).width > 0);
}

TEST_CASE("imaging: charts: confusion matrix errors") {
  check_error(
      [] {
        draw_confusion_matrix("t", {"a", "b"}, {{1, 2}, {3}});
      },
      ErrorKind::invalid_input, "row 1 has 1 columns, not 2");
  check_error(
      [] {
        draw_confusion_matrix("t", {"a", "b"}, {{1, 2}});
      },
      ErrorKind::invalid_input, "1 rows for 2 labels");
  check_error(
      [] {
        draw_confusion_matrix("t", {"a", "b", "c"}, {{1, 2}, {3, 4}});
      },
      ErrorKind::invalid_input, "2 rows for 3 labels");
  check_error([] { draw_confusion_matrix("t", {}, {}); }, ErrorKind::invalid_input,
              "no class labels");
  check_error(
      [] {
        draw_confusion_matrix("t", {"a", "b"}, {{1, -2}, {3, 4}});
      },
      ErrorKind::invalid_input, "negative");
}

TEST_CASE("imaging: charts: a reliability diagram draws its bars") {
  std::vector<Bar> bars;
  const int bins = 10;
  for (int b = 0; b < bins; ++b) {
    const double lower = b / static_cast<double>(bins);
    bars.push_back({lower, lower + 0.1, b < 3 ? 0.0 : lower + 0.02, b < 3 ? 0 : 10 * b});
  }
  bars.back().value = 1.0;  // a bar reaching the top
  const Image image = draw_reliability_diagram("Reliability (ECE 0.031)", bars);
  check_rgb(image, 600, 600);
  // The bar fill colour covers a good part of the plot.
  CHECK(count_colour(image, 100, 149, 237) > 10000u);
  check_png(image);

  // No bars, and bars out of range or not finite: clamped or skipped, never a failure.
  check_rgb(draw_reliability_diagram("", {}), 600, 600);
  check_rgb(draw_reliability_diagram("odd", {{-1, 2, 5, 3}, {0.2, 0.1, 0.5, 1}, {NAN, 1, 1, 1}}),
            600, 600);
}
