// Area-averaging shrink with OpenCV's arithmetic, without its slow inner loop (see internal.hpp).
//
// cv::resize(INTER_AREA) at a ratio that is not a whole number (256 -> 224, the common case)
// adds every source pixel into a row buffer through a table, each addition waiting for the store
// of the one before (0.37-0.58 ms per 256x256 gray image on the benchmark machine, more than
// decoding its JPEG). Here the same table is grouped per output pixel and summed in a register:
// the same float operations in the same order, so the same bytes (checked against OpenCV in
// tests/unit/test_imaging_preprocess.cpp over many sizes and ratios). With AVX2 (x86-64 CPUs
// since 2013, chosen at run time) eight outputs are summed at once, and the taps are worked out
// once for the last pair of sizes: bench/bench_preprocess.cpp, 4677 brain MRIs on the
// 2-core AMD EPYC benchmark machine, 0.057 ms per image against OpenCV's 0.170 (0.079 without
// AVX2 and with the taps worked out for every image).

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <vector>

#include "imaging/internal.hpp"
#include "imaging/opencv_bridge.hpp"
#include "util/error.hpp"

namespace csss::imaging::detail {

namespace {

// One source pixel's share of an output pixel along one axis.
struct Tap {
  int source = 0;
  float weight = 0;
};

// The taps of each output coordinate, in order: taps[first[d]] .. taps[first[d + 1] - 1].
struct Axis {
  std::vector<int> first;
  std::vector<Tap> taps;
  int most = 0;  // the largest number of taps of one output coordinate
};

// OpenCV's computeResizeAreaTab (modules/imgproc/src/resize.cpp), grouped by output coordinate:
// the output cell [d * scale, (d + 1) * scale) covers a fraction of the source pixel it starts
// in, whole pixels, and a fraction of the one it ends in, each weighted by its share of the cell.
Axis area_taps(int source_size, int size, double scale) {
  Axis axis;
  axis.first.reserve(static_cast<std::size_t>(size) + 1);
  for (int d = 0; d < size; ++d) {
    const auto start = axis.taps.size();
    axis.first.push_back(static_cast<int>(start));
    const double from = d * scale;
    const double to = from + scale;
    const double cell = std::min(scale, source_size - from);
    int s1 = static_cast<int>(std::ceil(from));
    int s2 = static_cast<int>(std::floor(to));
    s2 = std::min(s2, source_size - 1);
    s1 = std::min(s1, s2);
    if (s1 - from > 1e-3)
      axis.taps.push_back({s1 - 1, static_cast<float>((s1 - from) / cell)});
    for (int s = s1; s < s2; ++s)
      axis.taps.push_back({s, static_cast<float>(1.0 / cell)});
    if (to - s2 > 1e-3)
      axis.taps.push_back({s2, static_cast<float>(std::min(std::min(to - s2, 1.), cell) / cell)});
    axis.most = std::max(axis.most, static_cast<int>(axis.taps.size() - start));
  }
  axis.first.push_back(static_cast<int>(axis.taps.size()));
  return axis;
}

// The taps of a row, one pass per tap: pass k holds, for every output value of the row (pixel
// and channel), the source value index and weight of its k-th tap. An output with fewer taps
// than the most gets weight 0 in the passes beyond its own (adding 0 * p to a sum of
// non-negative terms leaves it exactly as it was).
struct Passes {
  std::vector<std::vector<int>> source;
  std::vector<std::vector<float>> weight;
};

Passes passes(const Axis& axis, int channels) {
  const std::size_t n = axis.first.size() - 1;
  const auto cn = static_cast<std::size_t>(channels);
  Passes p;
  p.source.assign(static_cast<std::size_t>(axis.most), std::vector<int>(n * cn));
  p.weight.assign(static_cast<std::size_t>(axis.most), std::vector<float>(n * cn));
  for (std::size_t d = 0; d < n; ++d) {
    const auto begin = static_cast<std::size_t>(axis.first[d]);
    const auto end = static_cast<std::size_t>(axis.first[d + 1]);
    for (std::size_t k = 0; k < static_cast<std::size_t>(axis.most); ++k) {
      const Tap t = begin + k < end ? axis.taps[begin + k] : Tap{axis.taps[end - 1].source, 0.0f};
      for (std::size_t c = 0; c < cn; ++c) {
        p.source[k][d * cn + c] = t.source * channels + static_cast<int>(c);
        p.weight[k][d * cn + c] = t.weight;
      }
    }
  }
  return p;
}

// One source row summed across into `out` (OpenCV's `buf`): each output value is its first
// tap's product, then each other tap's product added in order (OpenCV adds the first to 0, which
// gives it exactly). With a fixed number of taps the additions of one output stay in registers
// and different outputs do not wait for each other.
template <std::size_t Taps>
void across_fixed(const std::uint8_t* src, const Passes& p, float* out, std::size_t length) {
  const int* s[Taps];
  const float* w[Taps];
  for (std::size_t k = 0; k < Taps; ++k) {
    s[k] = p.source[k].data();
    w[k] = p.weight[k].data();
  }
  for (std::size_t i = 0; i < length; ++i) {
    float sum = static_cast<float>(src[s[0][i]]) * w[0][i];
    for (std::size_t k = 1; k < Taps; ++k)
      sum += static_cast<float>(src[s[k][i]]) * w[k][i];
    out[i] = sum;
  }
}

void across(const std::uint8_t* src, const Passes& p, float* out, std::size_t length) {
  switch (p.source.size()) {
    case 1:
      return across_fixed<1>(src, p, out, length);
    case 2:
      return across_fixed<2>(src, p, out, length);
    case 3:
      return across_fixed<3>(src, p, out, length);
    case 4:
      return across_fixed<4>(src, p, out, length);
    default:
      break;
  }
  // Larger ratios: one pass over the row per tap.
  const int* s0 = p.source[0].data();
  const float* w0 = p.weight[0].data();
  for (std::size_t i = 0; i < length; ++i)
    out[i] = static_cast<float>(src[s0[i]]) * w0[i];
  for (std::size_t k = 1; k < p.source.size(); ++k) {
    const int* sk = p.source[k].data();
    const float* wk = p.weight[k].data();
    for (std::size_t i = 0; i < length; ++i)
      out[i] += static_cast<float>(src[sk[i]]) * wk[i];
  }
}

// The same sums eight output values at a time (x86-64 with AVX2): where every tap of eight
// consecutive outputs lies within 16 source values of the first one's, the source row (as floats)
// is loaded as two vectors of 8 and each tap's values are picked out of them by permutes instead of
// one load per value. The products and sums are the same float operations in the same order
// (AVX2 without FMA; this file is compiled with -ffp-contract=off), so the bytes do not change.
// Outputs of other groups, and the last ones of a row, take the scalar loop.
struct Groups {
  static constexpr std::size_t kWidth = 8;
  static constexpr int kSpan = 16;   // source values loaded per group
  std::vector<int> base;             // per group: its first source value, or -1: scalar
  std::vector<std::int32_t> offset;  // per group and pass: 8 offsets from base, 0..15
};

Groups groups_of(const Passes& p, std::size_t length) {
  Groups g;
  const std::size_t count = length / Groups::kWidth;
  const std::size_t taps = p.source.size();
  g.base.assign(count, -1);
  g.offset.assign(count * taps * Groups::kWidth, 0);
  for (std::size_t n = 0; n < count; ++n) {
    const std::size_t first = n * Groups::kWidth;
    int low = std::numeric_limits<int>::max();
    int high = std::numeric_limits<int>::min();
    for (std::size_t k = 0; k < taps; ++k) {
      for (std::size_t j = 0; j < Groups::kWidth; ++j) {
        low = std::min(low, p.source[k][first + j]);
        high = std::max(high, p.source[k][first + j]);
      }
    }
    if (high - low >= Groups::kSpan)
      continue;
    g.base[n] = low;
    for (std::size_t k = 0; k < taps; ++k) {
      for (std::size_t j = 0; j < Groups::kWidth; ++j)
        g.offset[(n * taps + k) * Groups::kWidth + j] = p.source[k][first + j] - low;
    }
  }
  return g;
}

// One output value of across_avx2's row, as across() sums it.
inline float one_sum(const float* row, const Passes& p, std::size_t i) {
  float sum = row[p.source[0][i]] * p.weight[0][i];
  for (std::size_t k = 1; k < p.source.size(); ++k)
    sum += row[p.source[k][i]] * p.weight[k][i];
  return sum;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) void across_avx2(const float* row, const Passes& p, const Groups& g,
                                                 float* out, std::size_t length) {
  const std::size_t taps = p.source.size();
  const __m256i seven = _mm256_set1_epi32(7);
  const std::size_t count = g.base.size();
  for (std::size_t n = 0; n < count; ++n) {
    const std::size_t first = n * Groups::kWidth;
    if (g.base[n] < 0) {
      for (std::size_t i = first; i < first + Groups::kWidth; ++i)
        out[i] = one_sum(row, p, i);
      continue;
    }
    const float* from = row + g.base[n];
    const __m256 low = _mm256_loadu_ps(from);
    const __m256 high = _mm256_loadu_ps(from + Groups::kWidth);
    __m256 sum = _mm256_setzero_ps();
    for (std::size_t k = 0; k < taps; ++k) {
      const __m256i at = _mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(g.offset.data() + (n * taps + k) * Groups::kWidth));
      const __m256 in_low = _mm256_permutevar8x32_ps(low, at);
      const __m256 in_high = _mm256_permutevar8x32_ps(high, at);
      const __m256 value =
          _mm256_blendv_ps(in_low, in_high, _mm256_castsi256_ps(_mm256_cmpgt_epi32(at, seven)));
      const __m256 product = _mm256_mul_ps(value, _mm256_loadu_ps(p.weight[k].data() + first));
      sum = k == 0 ? product : _mm256_add_ps(sum, product);
    }
    _mm256_storeu_ps(out + first, sum);
  }
  for (std::size_t i = count * Groups::kWidth; i < length; ++i)
    out[i] = one_sum(row, p, i);
}

bool has_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2") != 0;
  return yes;
}
#else
bool has_avx2() {
  return false;
}
#endif

// cv::saturate_cast<uchar>(float) for the non-negative sums of a shrink: cvRound (the SSE
// conversion, round half to even), then at most 255. Adding and taking away 1.5 * 2^23 rounds a
// float below 2^22 to an integer, half to even, the same way, in a form the compiler vectorises.
std::uint8_t to_byte(float v) {
  constexpr float kRound = 12582912.0f;
  const float rounded = (v + kRound) - kRound;
  return static_cast<std::uint8_t>(std::min(std::max(rounded, 0.0f), 255.0f));
}

// What shrinking one size to another takes, kept for the last sizes asked (an import shrinks
// thousands of images of one size), shared by the threads: read-only once made. (Not a
// thread_local: its first use on a thread registers a destructor under the dynamic loader's lock,
// which an import's workers then waited for while the model's thread loaded LibTorch, some 0.25 s
// of an idle core.)
struct Plan {
  std::array<int, 5> key{};  // width, height, channels, to width, to height
  Axis ys;
  Passes x_passes;
  Groups groups;
};

std::shared_ptr<const Plan> plan_for(const Image& image, int width, int height, double scale_x,
                                     double scale_y) {
  static std::mutex mutex;
  static std::shared_ptr<const Plan> last;
  const std::array<int, 5> key{image.width, image.height, image.channels, width, height};
  {
    const std::lock_guard lock(mutex);
    if (last && last->key == key)
      return last;
  }
  auto plan = std::make_shared<Plan>();
  plan->key = key;
  const Axis xs = area_taps(image.width, width, scale_x);
  plan->ys = area_taps(image.height, height, scale_y);
  plan->x_passes = passes(xs, image.channels);
  plan->groups = groups_of(
      plan->x_passes, static_cast<std::size_t>(width) * static_cast<std::size_t>(image.channels));
  const std::lock_guard lock(mutex);
  last = plan;
  return last;
}

bool whole(double scale) {
  return std::abs(scale - std::round(scale)) < std::numeric_limits<double>::epsilon();  // as OpenCV
}

}  // namespace

Image shrink_area_opencv(const Image& image, int width, int height) {
  cv::Mat out;
  cv::resize(view(image), out, cv::Size(width, height), 0, 0, cv::INTER_AREA);
  return to_image(out);
}

#if defined(__x86_64__)
// An AVX2 build of the loops below too (the rows to floats, the sums down), picked at run time.
__attribute__((target_clones("avx2", "default")))
#endif
Image shrink_area(const Image& image, int width, int height, bool vector_unit) {
  if (width < 1 || height < 1 || width > image.width || height > image.height)
    throw Error(ErrorKind::internal, "shrink_area: the output must be no larger than the input");
  // OpenCV's scale: the inverse of the inverse scale it derives from the sizes.
  const double scale_x = 1.0 / (static_cast<double>(width) / image.width);
  const double scale_y = 1.0 / (static_cast<double>(height) / image.height);
  // Whole ratios (and the same size) take OpenCV's other, already fast, paths.
  if (whole(scale_x) && whole(scale_y))
    return shrink_area_opencv(image, width, height);

  const std::shared_ptr<const Plan> kept = plan_for(image, width, height, scale_x, scale_y);
  const Plan& plan = *kept;
  const Axis& ys = plan.ys;
  const int cn = image.channels;
  const auto row_length = static_cast<std::size_t>(width) * static_cast<std::size_t>(cn);
  const auto in_stride = static_cast<std::size_t>(image.width) * static_cast<std::size_t>(cn);
  const bool avx2 = vector_unit && has_avx2();

  // Output rows take source rows in increasing order, the next one starting at most at the last
  // row of the one before: a ring of `most` + 1 rows summed across holds every row still needed,
  // each summed once (a few kB, where a whole image of them would not stay in the cache).
  const auto ring = static_cast<std::size_t>(ys.most) + 1;
  std::vector<float> rows(ring * row_length);
  std::vector<int> held(ring, -1);  // the source row in each slot
  // A source row as floats for across_avx2, with room for its last group's loads.
  std::vector<float> source(avx2 ? in_stride + Groups::kSpan : 0, 0.0f);
  const auto summed = [&](int y) -> const float* {
    const std::size_t slot = static_cast<std::size_t>(y) % ring;
    float* row = rows.data() + slot * row_length;
    if (held[slot] != y) {
      const std::uint8_t* in = image.pixels.data() + static_cast<std::size_t>(y) * in_stride;
#if defined(__x86_64__)
      if (avx2) {
        std::copy(in, in + in_stride, source.begin());
        across_avx2(source.data(), plan.x_passes, plan.groups, row, row_length);
      } else {
        across(in, plan.x_passes, row, row_length);
      }
#else
      across(in, plan.x_passes, row, row_length);
#endif
      held[slot] = y;
    }
    return row;
  };

  // Down: sum = beta * buf for an output row's first tap, sum += beta * buf for the others.
  Image out{width, height, cn,
            std::vector<std::uint8_t>(row_length * static_cast<std::size_t>(height))};
  std::vector<float> sum(row_length);
  for (int y = 0; y < height; ++y) {
    const auto begin = static_cast<std::size_t>(ys.first[static_cast<std::size_t>(y)]);
    const auto end = static_cast<std::size_t>(ys.first[static_cast<std::size_t>(y) + 1]);
    for (std::size_t k = begin; k < end; ++k) {
      const float beta = ys.taps[k].weight;
      const float* row = summed(ys.taps[k].source);
      if (k == begin) {
        for (std::size_t i = 0; i < row_length; ++i)
          sum[i] = beta * row[i];
      } else {
        for (std::size_t i = 0; i < row_length; ++i)
          sum[i] += beta * row[i];
      }
    }
    std::uint8_t* dst = out.pixels.data() + static_cast<std::size_t>(y) * row_length;
    for (std::size_t i = 0; i < row_length; ++i)
      dst[i] = to_byte(sum[i]);
  }
  return out;
}

}  // namespace csss::imaging::detail
