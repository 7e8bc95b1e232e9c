// Line charts, confusion matrices and reliability diagrams drawn with OpenCV (see charts.hpp). All
// drawing happens in an 8-bit three-channel Mat whose channels are R, G, B: OpenCV's drawing
// functions do not care about channel order, so colours are written as Scalar(R, G, B) and the
// Mat is returned as it is.

#include "imaging/charts.hpp"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "imaging/opencv_bridge.hpp"
#include "util/error.hpp"

namespace csss::imaging {

using detail::to_image;

namespace {

constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr int kMinSide = 200;
constexpr int kMaxSide = 4000;
// Values beyond this are treated like non-finite ones: their differences would overflow.
constexpr double kMaxValue = 1e300;

const cv::Scalar kWhite(255, 255, 255);
const cv::Scalar kText(33, 33, 33);
const cv::Scalar kAxis(90, 90, 90);
const cv::Scalar kGrid(228, 228, 228);
const cv::Scalar kDiagonal(150, 150, 150);

// Matplotlib's "tab10" colours, in its order.
const std::array<cv::Scalar, 8> kPalette = {cv::Scalar(31, 119, 180),  cv::Scalar(255, 127, 14),
                                            cv::Scalar(44, 160, 44),   cv::Scalar(214, 39, 40),
                                            cv::Scalar(148, 103, 189), cv::Scalar(140, 86, 75),
                                            cv::Scalar(227, 119, 194), cv::Scalar(127, 127, 127)};

[[noreturn]] void bad(const char* where, const std::string& what) {
  throw Error(ErrorKind::invalid_input, std::string(where) + ": " + what);
}

// Text the Hershey fonts can draw: printable ASCII, each other character (a whole UTF-8 sequence)
// as '?', cut to `max_chars` with a trailing "..".
std::string printable(std::string_view s, std::size_t max_chars) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b >= 0x20 && b < 0x7f) {
      out += static_cast<char>(b);
    } else if (b < 0x80 || b >= 0xc0) {  // not a UTF-8 continuation byte
      out += '?';
    }
  }
  if (out.size() > max_chars && max_chars >= 3) {
    out.resize(max_chars - 2);
    out += "..";
  }
  return out;
}

// A class name of at most `max_chars`: a long one keeps its start and its end, which tell apart
// names like "class number 10" and "class number 11" (`max_chars` at least 8).
std::string abbreviated(std::string_view name, std::size_t max_chars) {
  std::string s = printable(name, std::string::npos);
  if (s.size() <= max_chars) {
    return s;
  }
  const std::size_t tail = max_chars / 3;
  return s.substr(0, max_chars - 2 - tail) + ".." + s.substr(s.size() - tail);
}

int round_int(double v) {
  return static_cast<int>(std::lround(v));
}

// Font sizes and line widths for a drawing whose smaller side is `side` pixels.
struct Style {
  double s = 1.0;
  double tick_font = 0.45;
  double label_font = 0.55;
  double title_font = 0.7;
  int text_thickness = 1;
  int title_thickness = 2;
  int line = 2;
  int pad = 8;
  int tick = 5;

  explicit Style(int side) : s(std::clamp(side / 600.0, 0.5, 4.0)) {
    tick_font = 0.45 * s;
    label_font = 0.55 * s;
    title_font = 0.7 * s;
    text_thickness = std::max(1, round_int(s));
    title_thickness = std::max(1, round_int(1.6 * s));
    line = std::max(1, round_int(2.0 * s));
    pad = std::max(4, round_int(8.0 * s));
    tick = std::max(3, round_int(5.0 * s));
  }
};

struct TextSize {
  int width = 0;
  int ascent = 0;   // above the baseline
  int descent = 0;  // below it
  int height() const { return ascent + descent; }
};

TextSize measure(const std::string& text, double font, int thickness) {
  if (text.empty()) {
    return {};
  }
  int baseline = 0;
  const cv::Size size = cv::getTextSize(text, kFont, font, thickness, &baseline);
  return {size.width, size.height, baseline};
}

enum class HAlign { left, centre, right };
enum class VAlign { top, middle, baseline };

void put_text(cv::Mat& img, const std::string& text, cv::Point anchor, HAlign h, VAlign v,
              double font, int thickness, const cv::Scalar& colour) {
  if (text.empty()) {
    return;
  }
  const TextSize size = measure(text, font, thickness);
  int x = anchor.x;
  if (h == HAlign::centre) {
    x -= size.width / 2;
  } else if (h == HAlign::right) {
    x -= size.width;
  }
  int y = anchor.y;
  if (v == VAlign::top) {
    y += size.ascent;
  } else if (v == VAlign::middle) {
    y += size.ascent / 2;
  }
  cv::putText(img, text, cv::Point(x, y), kFont, font, colour, thickness, cv::LINE_AA);
}

// Text turned 90 degrees counter-clockwise (read from bottom to top), drawn dark on a light
// background: rendered apart, rotated, then combined with the minimum of both. `anchor` is the
// centre of the rotated text horizontally; vertically it is its centre, or its top when `top`.
void put_vertical_text(cv::Mat& img, const std::string& text, cv::Point anchor, bool top,
                       double font, int thickness, const cv::Scalar& colour) {
  if (text.empty()) {
    return;
  }
  const TextSize size = measure(text, font, thickness);
  cv::Mat flat(size.height() + 2, size.width + 2, CV_8UC3, kWhite);
  cv::putText(flat, text, cv::Point(1, 1 + size.ascent), kFont, font, colour, thickness,
              cv::LINE_AA);
  cv::Mat turned;
  cv::rotate(flat, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
  const int x = anchor.x - turned.cols / 2;
  const int y = top ? anchor.y : anchor.y - turned.rows / 2;
  const cv::Rect target =
      cv::Rect(x, y, turned.cols, turned.rows) & cv::Rect(0, 0, img.cols, img.rows);
  if (target.empty()) {
    return;
  }
  const cv::Mat source = turned(cv::Rect(target.x - x, target.y - y, target.width, target.height));
  cv::Mat dest = img(target);
  cv::min(dest, source, dest);
}

// Tick positions: about `target` round steps (1, 2, 2.5 or 5 times a power of ten) within
// [lo, hi], with the decimals their labels need.
struct Ticks {
  std::vector<double> values;
  std::vector<std::string> labels;
};

Ticks make_ticks(double lo, double hi, int target) {
  Ticks t;
  const double range = hi - lo;
  if (!(range > 0.0) || !std::isfinite(range)) {
    return t;
  }
  const double raw = range / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  const double mantissa = f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 2.5 ? 2.5 : f <= 5.0 ? 5.0 : 10.0;
  const double step = mantissa * magnitude;
  const int decimals = std::clamp(
      -static_cast<int>(std::floor(std::log10(step) + 1e-9)) + (mantissa == 2.5 ? 1 : 0), 0, 12);
  const bool huge = std::max(std::abs(lo), std::abs(hi)) >= 1e7;
  const double first = std::ceil(lo / step - 1e-9);
  for (int i = 0; i < 50; ++i) {
    double v = (first + i) * step;
    if (v > hi + step * 1e-9) {
      break;
    }
    if (std::abs(v) < step * 1e-6) {
      v = 0.0;  // no "-0.0"
    }
    std::array<char, 64> buffer{};
    if (huge) {
      std::snprintf(buffer.data(), buffer.size(), "%.3g", v);
    } else {
      std::snprintf(buffer.data(), buffer.size(), "%.*f", decimals, v);
    }
    t.values.push_back(v);
    t.labels.emplace_back(buffer.data());
  }
  return t;
}

// The plotting area and the data range it shows.
struct Axes {
  cv::Rect plot;
  double x0 = 0.0;
  double x1 = 1.0;
  double y0 = 0.0;
  double y1 = 1.0;

  cv::Point2d px(double x, double y) const {
    return {plot.x + (x - x0) / (x1 - x0) * plot.width,
            plot.y + plot.height - (y - y0) / (y1 - y0) * plot.height};
  }
};

// A line from `a` to `b` (pixel coordinates, sub-pixel precise), clipped to `clip`.
void segment(cv::Mat& img, cv::Point2d a, cv::Point2d b, const cv::Rect& clip,
             const cv::Scalar& colour, int thickness) {
  if (!std::isfinite(a.x) || !std::isfinite(a.y) || !std::isfinite(b.x) || !std::isfinite(b.y)) {
    return;
  }
  constexpr int kShift = 4;
  constexpr double kOne = 1 << kShift;
  constexpr double kFar = 1e15;
  const auto fixed = [&](cv::Point2d p) {
    return cv::Point2l(static_cast<std::int64_t>(std::clamp((p.x - clip.x) * kOne, -kFar, kFar)),
                       static_cast<std::int64_t>(std::clamp((p.y - clip.y) * kOne, -kFar, kFar)));
  };
  cv::Point2l p = fixed(a);
  cv::Point2l q = fixed(b);
  if (!cv::clipLine(cv::Size2l(static_cast<std::int64_t>(clip.width) << kShift,
                               static_cast<std::int64_t>(clip.height) << kShift),
                    p, q)) {
    return;
  }
  const auto back = [&](cv::Point2l v) {
    return cv::Point(static_cast<int>(v.x) + (clip.x << kShift),
                     static_cast<int>(v.y) + (clip.y << kShift));
  };
  cv::line(img, back(p), back(q), colour, thickness, cv::LINE_AA, kShift);
}

void dashed(cv::Mat& img, cv::Point2d a, cv::Point2d b, const cv::Rect& clip,
            const cv::Scalar& colour, int thickness, double dash, double gap) {
  const double length = std::hypot(b.x - a.x, b.y - a.y);
  if (!(length > 0.0) || !std::isfinite(length)) {
    return;
  }
  const cv::Point2d unit = (b - a) * (1.0 / length);
  for (double t = 0.0; t < length; t += dash + gap) {
    segment(img, a + unit * t, a + unit * std::min(t + dash, length), clip, colour, thickness);
  }
}

// Grid, frame, ticks and their labels, axis labels.
void draw_axes(cv::Mat& img, const Axes& axes, const Ticks& xt, const Ticks& yt,
               const std::string& x_label, const std::string& y_label, const Style& st) {
  const cv::Rect& p = axes.plot;
  for (double v : xt.values) {
    const int x = round_int(axes.px(v, axes.y0).x);
    cv::line(img, {x, p.y}, {x, p.y + p.height}, kGrid, 1);
  }
  for (double v : yt.values) {
    const int y = round_int(axes.px(axes.x0, v).y);
    cv::line(img, {p.x, y}, {p.x + p.width, y}, kGrid, 1);
  }
  cv::rectangle(img, p, kAxis, 1);

  int label_bottom = p.y + p.height + st.tick;
  for (std::size_t i = 0; i < xt.values.size(); ++i) {
    const int x = round_int(axes.px(xt.values[i], axes.y0).x);
    cv::line(img, {x, p.y + p.height}, {x, p.y + p.height + st.tick}, kAxis, 1);
    put_text(img, xt.labels[i], {x, p.y + p.height + st.tick + st.pad / 2}, HAlign::centre,
             VAlign::top, st.tick_font, st.text_thickness, kText);
    const TextSize size = measure(xt.labels[i], st.tick_font, st.text_thickness);
    label_bottom = std::max(label_bottom, p.y + p.height + st.tick + st.pad / 2 + size.height());
  }
  int label_left = p.x - st.tick;
  for (std::size_t i = 0; i < yt.values.size(); ++i) {
    const int y = round_int(axes.px(axes.x0, yt.values[i]).y);
    cv::line(img, {p.x - st.tick, y}, {p.x, y}, kAxis, 1);
    put_text(img, yt.labels[i], {p.x - st.tick - st.pad / 2, y}, HAlign::right, VAlign::middle,
             st.tick_font, st.text_thickness, kText);
    const TextSize size = measure(yt.labels[i], st.tick_font, st.text_thickness);
    label_left = std::min(label_left, p.x - st.tick - st.pad / 2 - size.width);
  }
  put_text(img, x_label, {p.x + p.width / 2, label_bottom + st.pad}, HAlign::centre, VAlign::top,
           st.label_font, st.text_thickness, kText);
  const TextSize y_size = measure(y_label, st.label_font, st.text_thickness);
  put_vertical_text(img, y_label, {label_left - st.pad - y_size.height() / 2, p.y + p.height / 2},
                    false, st.label_font, st.text_thickness, kText);
}

// Margins around the plotting area for these tick labels, axis labels and title.
cv::Rect plot_area(cv::Size canvas, const Ticks& xt, const Ticks& yt, const std::string& title,
                   const std::string& x_label, const std::string& y_label, const Style& st,
                   bool square) {
  int tick_width = 0;
  for (const std::string& l : yt.labels) {
    tick_width = std::max(tick_width, measure(l, st.tick_font, st.text_thickness).width);
  }
  int tick_height = 0;
  int last_half = 0;
  for (const std::string& l : xt.labels) {
    const TextSize size = measure(l, st.tick_font, st.text_thickness);
    tick_height = std::max(tick_height, size.height());
    last_half = size.width / 2;
  }
  const int title_height =
      title.empty() ? 0 : measure(title, st.title_font, st.title_thickness).height() + st.pad;
  const int label_height = measure("Xg", st.label_font, st.text_thickness).height();
  const int left = st.pad + (y_label.empty() ? 0 : label_height + st.pad) + tick_width +
                   st.pad / 2 + st.tick + 1;
  const int right = std::max(2 * st.pad, last_half + st.pad);
  const int top = st.pad + title_height + st.pad;
  const int bottom = st.tick + st.pad / 2 + tick_height +
                     (x_label.empty() ? 0 : st.pad + label_height) + st.pad + st.pad / 2;
  cv::Rect r(left, top, std::max(10, canvas.width - left - right),
             std::max(10, canvas.height - top - bottom));
  if (square) {
    const int side = std::min(r.width, r.height);
    r.x += (r.width - side) / 2;
    r.width = side;
    r.height = side;
  }
  return r;
}

void draw_title(cv::Mat& img, const std::string& title, const Style& st) {
  put_text(img, title, {img.cols / 2, st.pad}, HAlign::centre, VAlign::top, st.title_font,
           st.title_thickness, kText);
}

// One legend entry: a line sample (dashed or not) or a filled swatch, and its name.
struct LegendEntry {
  std::string name;
  cv::Scalar colour;
  enum class Kind { line, dashed, swatch } kind = Kind::line;
};

// The legend in the corner of the plot that covers the fewest dark pixels of what is drawn.
void draw_legend(cv::Mat& img, const cv::Rect& plot, const std::vector<LegendEntry>& entries,
                 const Style& st) {
  if (entries.empty()) {
    return;
  }
  const int sample = round_int(28.0 * st.s);
  int text_width = 0;
  const TextSize row = measure("Xg", st.tick_font, st.text_thickness);
  for (const LegendEntry& e : entries) {
    text_width = std::max(text_width, measure(e.name, st.tick_font, st.text_thickness).width);
  }
  const int row_height = row.height() + st.pad / 2 + 2;
  const cv::Size box(st.pad + sample + st.pad + text_width + st.pad,
                     st.pad / 2 + static_cast<int>(entries.size()) * row_height + st.pad / 2);
  const int inset = st.pad;
  const std::array<cv::Point, 4> corners = {
      cv::Point(plot.x + plot.width - inset - box.width, plot.y + inset),  // top right
      cv::Point(plot.x + plot.width - inset - box.width,
                plot.y + plot.height - inset - box.height),                   // bottom right
      cv::Point(plot.x + inset, plot.y + inset),                              // top left
      cv::Point(plot.x + inset, plot.y + plot.height - inset - box.height)};  // bottom left
  const cv::Rect bounds(0, 0, img.cols, img.rows);
  cv::Rect best;
  int best_cover = -1;
  for (const cv::Point& corner : corners) {
    const cv::Rect r = cv::Rect(corner, box) & bounds;
    if (r.empty()) {
      continue;
    }
    cv::Mat gray;
    cv::cvtColor(img(r), gray, cv::COLOR_RGB2GRAY);
    const int cover = cv::countNonZero(gray < 200);
    if (best_cover < 0 || cover < best_cover) {
      best_cover = cover;
      best = cv::Rect(corner, box);
    }
  }
  if (best_cover < 0) {
    return;
  }
  cv::Mat area = img(best & bounds);
  cv::Mat white(area.size(), area.type(), kWhite);
  cv::addWeighted(area, 0.15, white, 0.85, 0.0, area);
  cv::rectangle(img, best, cv::Scalar(190, 190, 190), 1);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const LegendEntry& e = entries[i];
    const int y = best.y + st.pad / 2 + static_cast<int>(i) * row_height + row_height / 2;
    const cv::Point2d a(best.x + st.pad, y);
    const cv::Point2d b(best.x + st.pad + sample, y);
    switch (e.kind) {
      case LegendEntry::Kind::line:
        segment(img, a, b, best, e.colour, st.line);
        break;
      case LegendEntry::Kind::dashed:
        dashed(img, a, b, best, e.colour, std::max(1, st.line / 2), 6.0 * st.s, 4.0 * st.s);
        break;
      case LegendEntry::Kind::swatch:
        cv::rectangle(img, cv::Rect(best.x + st.pad, y - row.height() / 2, sample, row.height()),
                      e.colour, cv::FILLED);
        break;
    }
    put_text(img, e.name, {best.x + st.pad + sample + st.pad, y}, HAlign::left, VAlign::middle,
             st.tick_font, st.text_thickness, kText);
  }
}

bool usable(double v) {
  return std::isfinite(v) && std::abs(v) <= kMaxValue;
}

// [lo, hi] widened by 4% on each side (or around a single value).
void pad_range(double& lo, double& hi) {
  if (hi > lo) {
    const double margin = 0.04 * (hi - lo);
    lo -= margin;
    hi += margin;
  } else {
    const double d = lo == 0.0 ? 1.0 : 0.1 * std::abs(lo);
    lo -= d;
    hi += d;
  }
}

// Blues, as in matplotlib: white at 0 to dark blue at 1.
cv::Scalar blues(double share) {
  static const std::array<std::array<double, 3>, 5> stops = {
      {{247, 251, 255}, {198, 219, 239}, {107, 174, 214}, {33, 113, 181}, {8, 48, 107}}};
  const double t = std::clamp(share, 0.0, 1.0) * 4.0;
  const auto i = std::min(static_cast<std::size_t>(t), std::size_t{3});
  const double f = t - static_cast<double>(i);
  const auto mix = [&](std::size_t c) { return stops[i][c] + f * (stops[i + 1][c] - stops[i][c]); };
  return cv::Scalar(mix(0), mix(1), mix(2));
}

}  // namespace

Image draw_line_chart(const LineChart& chart) {
  const char* const where = "draw_line_chart";
  if (chart.width < kMinSide || chart.width > kMaxSide || chart.height < kMinSide ||
      chart.height > kMaxSide) {
    bad(where, "the size must be between " + std::to_string(kMinSide) + " and " +
                   std::to_string(kMaxSide) + " pixels on each side, not " +
                   std::to_string(chart.width) + " x " + std::to_string(chart.height));
  }
  for (const Series& s : chart.series) {
    if (s.x.size() != s.y.size()) {
      bad(where, "series \"" + s.name + "\" has " + std::to_string(s.x.size()) + " x values and " +
                     std::to_string(s.y.size()) + " y values");
    }
  }

  // Data range.
  double x0 = 0.0;
  double x1 = 1.0;
  double y0 = 0.0;
  double y1 = 1.0;
  if (!chart.unit_square) {
    bool any = false;
    for (const Series& s : chart.series) {
      for (std::size_t i = 0; i < s.x.size(); ++i) {
        if (!usable(s.x[i]) || !usable(s.y[i])) {
          continue;
        }
        if (!any) {
          x0 = x1 = s.x[i];
          y0 = y1 = s.y[i];
          any = true;
        }
        x0 = std::min(x0, s.x[i]);
        x1 = std::max(x1, s.x[i]);
        y0 = std::min(y0, s.y[i]);
        y1 = std::max(y1, s.y[i]);
      }
    }
    if (any) {
      pad_range(x0, x1);
      pad_range(y0, y1);
    }
  }

  const Style st(std::min(chart.width, chart.height));
  const std::string title = printable(chart.title, 120);
  const std::string x_label = printable(chart.x_label, 80);
  const std::string y_label = printable(chart.y_label, 80);
  const Ticks xt = make_ticks(x0, x1, 6);
  const Ticks yt = make_ticks(y0, y1, 6);
  cv::Mat img(chart.height, chart.width, CV_8UC3, kWhite);
  Axes axes;
  axes.plot = plot_area(img.size(), xt, yt, title, x_label, y_label, st, chart.unit_square);
  axes.x0 = x0;
  axes.x1 = x1;
  axes.y0 = y0;
  axes.y1 = y1;

  draw_title(img, title, st);
  draw_axes(img, axes, xt, yt, x_label, y_label, st);
  // Lines may reach a little beyond the frame (a curve along y = 1 stays whole), not further.
  const cv::Rect clip(axes.plot.x - st.line, axes.plot.y - st.line, axes.plot.width + 2 * st.line,
                      axes.plot.height + 2 * st.line);
  if (chart.unit_square) {
    dashed(img, axes.px(0, 0), axes.px(1, 1), clip, kDiagonal, std::max(1, st.line / 2), 8.0 * st.s,
           6.0 * st.s);
  }

  std::vector<LegendEntry> legend;
  for (std::size_t k = 0; k < chart.series.size(); ++k) {
    const Series& s = chart.series[k];
    const cv::Scalar colour = kPalette[k % kPalette.size()];
    std::vector<cv::Point2d> points;
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (usable(s.x[i]) && usable(s.y[i])) {
        points.push_back(axes.px(s.x[i], s.y[i]));
      }
    }
    for (std::size_t i = 1; i < points.size(); ++i) {
      segment(img, points[i - 1], points[i], clip, colour, st.line);
    }
    // Markers on short series (and on a lone point, which has no line).
    if (points.size() <= 30) {
      for (const cv::Point2d& p : points) {
        if (clip.contains(cv::Point(round_int(p.x), round_int(p.y)))) {
          cv::circle(img, cv::Point(round_int(p.x * 16), round_int(p.y * 16)), (st.line + 2) * 16,
                     colour, cv::FILLED, cv::LINE_AA, 4);
        }
      }
    }
    if (!s.name.empty()) {
      legend.push_back({printable(s.name, 40), colour, LegendEntry::Kind::line});
    }
  }
  draw_legend(img, axes.plot, legend, st);
  return to_image(img);
}

Image draw_confusion_matrix(const std::string& title, const std::vector<std::string>& labels,
                            const std::vector<std::vector<int>>& counts) {
  const char* const where = "draw_confusion_matrix";
  const std::size_t k = labels.size();
  if (k == 0) {
    bad(where, "there are no class labels");
  }
  if (counts.size() != k) {
    bad(where, "the matrix has " + std::to_string(counts.size()) + " rows for " +
                   std::to_string(k) + " labels");
  }
  for (std::size_t r = 0; r < k; ++r) {
    if (counts[r].size() != k) {
      bad(where, "row " + std::to_string(r) + " has " + std::to_string(counts[r].size()) +
                     " columns, not " + std::to_string(k) + " (the matrix must be square)");
    }
    for (int c : counts[r]) {
      if (c < 0) {
        bad(where, "counts must not be negative");
      }
    }
  }
  constexpr int kMaxMatrix = 3600;
  if (k > static_cast<std::size_t>(kMaxMatrix)) {
    bad(where, "too many classes to draw (" + std::to_string(k) + ")");
  }
  const int n = static_cast<int>(k);
  int cell = std::clamp(560 / n, 14, 110);
  if (n * cell > kMaxMatrix) {
    cell = kMaxMatrix / n;
  }
  const int matrix = n * cell;

  const Style st(600);
  // Class names shrink with small cells so that neighbours do not overlap.
  const double name_font =
      std::clamp(0.5 * cell / (measure("Xg", 0.5, 1).height() + 4.0), 0.3, 0.5);
  std::vector<std::string> names;
  int name_width = 0;
  int name_height = 0;
  for (const std::string& l : labels) {
    names.push_back(abbreviated(l, 16));
    const TextSize size = measure(names.back(), name_font, 1);
    name_width = std::max(name_width, size.width);
    name_height = std::max(name_height, size.height());
  }
  const bool vertical_columns = name_width > cell - 6;
  const int column_names = vertical_columns ? name_width : name_height;

  const std::string heading = printable(title, 120);
  const std::string x_title = "Predicted class";
  const std::string y_title = "True class";
  const TextSize heading_size = measure(heading, st.title_font, st.title_thickness);
  const TextSize axis_size = measure(x_title, st.label_font, st.text_thickness);
  const int bar_width = 16;
  const std::array<const char*, 5> bar_labels = {"0%", "25%", "50%", "75%", "100%"};
  const int bar_label_width = measure("100%", st.tick_font, st.text_thickness).width;
  const std::string bar_caption = "share of true class";

  int left = st.pad + axis_size.height() + st.pad + name_width + st.pad;
  const int top = st.pad + (heading.empty() ? 0 : heading_size.height() + st.pad) + st.pad;
  const int bottom = st.pad + column_names + st.pad + axis_size.height() + 2 * st.pad;
  int right = 2 * st.pad + bar_width + st.tick + st.pad / 2 + bar_label_width + st.pad +
              axis_size.height() + st.pad;
  const int needed = std::max(
      {heading_size.width + 2 * st.pad, 360, measure(bar_caption, st.label_font, 1).width / 2});
  if (left + matrix + right < needed) {
    const int extra = needed - (left + matrix + right);
    left += extra / 2;
    right += extra - extra / 2;
  }
  const int height = std::max(top + matrix + bottom,
                              top + measure(bar_caption, st.label_font, 1).width + 2 * st.pad);
  cv::Mat img(height, left + matrix + right, CV_8UC3, kWhite);
  draw_title(img, heading, st);

  // Cells: shaded by the share of their row, with the count (and the share when there is room).
  for (int r = 0; r < n; ++r) {
    const std::vector<int>& row = counts[static_cast<std::size_t>(r)];
    double total = 0.0;
    for (int c : row) {
      total += c;
    }
    for (int c = 0; c < n; ++c) {
      const int count = row[static_cast<std::size_t>(c)];
      const double share = total > 0.0 ? count / total : 0.0;
      const cv::Rect box(left + c * cell, top + r * cell, cell, cell);
      cv::rectangle(img, box, blues(share), cv::FILLED);
      const cv::Scalar ink = share > 0.5 ? kWhite : kText;
      const std::string number = std::to_string(count);
      const TextSize unit = measure(number, 1.0, 1);
      const double font =
          std::min({0.6, 0.75 * cell / std::max(1, unit.width), 0.35 * cell / unit.height()});
      if (font < 0.25) {
        continue;  // too small to read
      }
      const int thickness = font >= 0.45 ? 2 : 1;
      const bool with_share = cell >= 70 && total > 0.0;
      const cv::Point centre(box.x + cell / 2, box.y + cell / 2);
      put_text(img, number, {centre.x, with_share ? centre.y - cell / 10 : centre.y},
               HAlign::centre, VAlign::middle, font, thickness, ink);
      if (with_share) {
        const std::string percent = std::to_string(round_int(100.0 * share)) + "%";
        put_text(img, percent, {centre.x, centre.y + cell / 5}, HAlign::centre, VAlign::middle,
                 0.7 * font, 1, ink);
      }
    }
  }
  for (int i = 0; i <= n; ++i) {
    cv::line(img, {left + i * cell, top}, {left + i * cell, top + matrix}, kWhite, 1);
    cv::line(img, {left, top + i * cell}, {left + matrix, top + i * cell}, kWhite, 1);
  }
  cv::rectangle(img, cv::Rect(left, top, matrix + 1, matrix + 1), kAxis, 1);

  // Class names: rows on the left, columns below (turned when they do not fit a cell).
  for (int i = 0; i < n; ++i) {
    const std::string& name = names[static_cast<std::size_t>(i)];
    put_text(img, name, {left - st.pad, top + i * cell + cell / 2}, HAlign::right, VAlign::middle,
             name_font, 1, kText);
    const int x = left + i * cell + cell / 2;
    if (vertical_columns) {
      // The end of the turned text (its top) just below the matrix.
      put_vertical_text(img, name, {x, top + matrix + st.pad}, true, name_font, 1, kText);
    } else {
      put_text(img, name, {x, top + matrix + st.pad}, HAlign::centre, VAlign::top, name_font, 1,
               kText);
    }
  }
  put_text(img, x_title, {left + matrix / 2, top + matrix + st.pad + column_names + st.pad},
           HAlign::centre, VAlign::top, st.label_font, st.text_thickness, kText);
  put_vertical_text(
      img, y_title,
      {left - st.pad - name_width - st.pad - axis_size.height() / 2, top + matrix / 2}, false,
      st.label_font, st.text_thickness, kText);

  // Colour bar of the row share.
  const int bar_x = left + matrix + 2 * st.pad;
  for (int y = 0; y < matrix; ++y) {
    const double share = 1.0 - static_cast<double>(y) / std::max(1, matrix - 1);
    cv::line(img, {bar_x, top + y}, {bar_x + bar_width - 1, top + y}, blues(share), 1);
  }
  cv::rectangle(img, cv::Rect(bar_x, top, bar_width, matrix), kAxis, 1);
  for (std::size_t i = 0; i < bar_labels.size(); ++i) {
    const int y = top + matrix - 1 - round_int(static_cast<double>(i) / 4.0 * (matrix - 1));
    cv::line(img, {bar_x + bar_width, y}, {bar_x + bar_width + st.tick, y}, kAxis, 1);
    put_text(img, bar_labels[i], {bar_x + bar_width + st.tick + st.pad / 2, y}, HAlign::left,
             VAlign::middle, st.tick_font, st.text_thickness, kText);
  }
  put_vertical_text(
      img, bar_caption,
      {bar_x + bar_width + st.tick + st.pad / 2 + bar_label_width + st.pad + axis_size.height() / 2,
       top + matrix / 2},
      false, st.label_font, 1, kText);
  return to_image(img);
}

Image draw_reliability_diagram(const std::string& title, const std::vector<Bar>& bars) {
  constexpr int kSide = 600;
  const Style st(kSide);
  const std::string heading = printable(title, 120);
  const Ticks ticks = make_ticks(0.0, 1.0, 6);
  const std::string x_label = "Confidence";
  const std::string y_label = "Accuracy";
  cv::Mat img(kSide, kSide, CV_8UC3, kWhite);
  Axes axes;
  axes.plot = plot_area(img.size(), ticks, ticks, heading, x_label, y_label, st, true);
  draw_title(img, heading, st);
  draw_axes(img, axes, ticks, ticks, x_label, y_label, st);

  const cv::Scalar fill(100, 149, 237);
  const cv::Scalar edge(31, 78, 140);
  for (const Bar& bar : bars) {
    if (!std::isfinite(bar.lower) || !std::isfinite(bar.upper) || !std::isfinite(bar.value)) {
      continue;
    }
    const double lower = std::clamp(std::min(bar.lower, bar.upper), 0.0, 1.0);
    const double upper = std::clamp(std::max(bar.lower, bar.upper), 0.0, 1.0);
    const double value = std::clamp(bar.value, 0.0, 1.0);
    const cv::Point2d a = axes.px(lower, value);
    const cv::Point2d b = axes.px(upper, 0.0);
    const cv::Rect box(cv::Point(round_int(a.x), round_int(a.y)),
                       cv::Point(round_int(b.x), round_int(b.y)));
    if (box.height > 0 && box.width > 0) {
      cv::rectangle(img, box, fill, cv::FILLED);
      cv::rectangle(img, box, edge, 1);
    }
    if (bar.count > 0) {
      const std::string number = std::to_string(bar.count);
      const double font =
          std::clamp(0.4 * (box.width - 2) / std::max(1, measure(number, 0.4, 1).width), 0.25, 0.4);
      const TextSize size = measure(number, font, 1);
      const int centre = box.x + box.width / 2;
      if (box.y - 3 - size.height() >= axes.plot.y) {
        put_text(img, number, {centre, box.y - 3 - size.descent}, HAlign::centre, VAlign::baseline,
                 font, 1, kText);
      } else {  // no room above a bar that reaches 1: inside its top
        put_text(img, number, {centre, box.y + 3}, HAlign::centre, VAlign::top, font, 1, kWhite);
      }
    }
  }
  dashed(img, axes.px(0, 0), axes.px(1, 1), axes.plot, kDiagonal, std::max(1, st.line / 2),
         8.0 * st.s, 6.0 * st.s);
  draw_legend(img, axes.plot,
              {{"Accuracy", fill, LegendEntry::Kind::swatch},
               {"Perfect calibration", kDiagonal, LegendEntry::Kind::dashed}},
              st);
  return to_image(img);
}

}  // namespace csss::imaging
