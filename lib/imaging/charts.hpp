#pragma once

// Plots for training and evaluation, drawn with OpenCV into an RGB Image (encode with
// encode_png): white background, axes with ticks and labels, a legend, Hershey fonts (ASCII).

#include <string>
#include <vector>

#include "imaging/image.hpp"

namespace csss::imaging {

struct Series {
  std::string name;       // shown in the legend
  std::vector<double> x;  // same length as y
  std::vector<double> y;  // non-finite values are skipped
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<Series> series;  // up to 8, each in its own colour
  bool unit_square = false;    // both axes 0..1 with the diagonal dashed (ROC curves, reliability)
  int width = 800;
  int height = 600;
};

// Axes fit the data (with a margin) unless unit_square. Throws Error(invalid_input) when a series
// has x and y of different lengths, or width/height are outside 200..4000.
Image draw_line_chart(const LineChart& chart);

// A k x k matrix of counts (rows: true class, columns: predicted), cells shaded by their share of
// the row, each cell showing its count, class names on both axes. Throws Error(invalid_input)
// when the matrix is not square or does not match the labels.
Image draw_confusion_matrix(const std::string& title, const std::vector<std::string>& labels,
                            const std::vector<std::vector<int>>& counts);

struct Bar {
  double lower = 0.0;  // x range of the bar, within 0..1
  double upper = 0.0;
  double value = 0.0;  // bar height, 0..1
  int count = 0;       // printed above the bar when > 0
};

// Reliability diagram: bars of accuracy per confidence bin over the dashed diagonal of perfect
// calibration, axes 0..1, with `title` (e.g. including the ECE).
Image draw_reliability_diagram(const std::string& title, const std::vector<Bar>& bars);

}  // namespace csss::imaging
