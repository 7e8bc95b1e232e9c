// The area shrink of preprocessing (imaging::fit for a model's input), against OpenCV's
// cv::resize(INTER_AREA) that it replaces, on real images: both on every image, alternating, with
// their bytes compared.
//
//   bench_preprocess DIR [--size S] [--rounds R]
//
// Decodes every PNG and JPEG under DIR first (not timed), then R rounds of shrinking each image
// (gray as decoded, RGB kept RGB) to S x S by each implementation. Prints per implementation the
// median over rounds of the milliseconds per image, and the number of images whose bytes differ
// (exit status 1 if any). Images smaller than S on a side are skipped (those grow, bilinearly).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "imaging/image.hpp"
#include "imaging/internal.hpp"
#include "raster_files.hpp"
#include "util/fs.hpp"

namespace {

int usage() {
  std::fprintf(stderr, "usage: bench_preprocess DIR [--size S] [--rounds R]\n");
  return 2;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc < 2)
    return usage();
  const std::filesystem::path dir = argv[1];
  int size = 224;
  int rounds = 5;
  for (int i = 2; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc)
      return usage();
    const int value = std::atoi(argv[i + 1]);
    if (flag == "--size" && value > 0)
      size = value;
    else if (flag == "--rounds" && value > 0)
      rounds = value;
    else
      return usage();
  }
  namespace img = csss::imaging;
  std::vector<std::filesystem::path> files = csss::bench::raster_files(dir);
  std::vector<img::Image> images;
  std::size_t skipped = 0;
  const img::SequentialCodecs sequential;  // one thread, as each batch import worker runs
  const img::Limits limits;
  for (const auto& f : files) {
    const std::string bytes = csss::util::read_file(f, limits.max_file_bytes);
    img::Image image =
        img::decode(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
                    limits, f.string())
            .image;
    if (image.width < size || image.height < size)
      ++skipped;
    else
      images.push_back(std::move(image));
  }
  if (images.empty()) {
    std::fprintf(stderr, "bench_preprocess: %s: no PNG or JPEG of at least %dx%d\n", dir.c_str(),
                 size, size);
    return 2;
  }
  using clock = std::chrono::steady_clock;
  std::vector<double> theirs_ms;
  std::vector<double> ours_ms;
  std::size_t differ = 0;
  for (int r = 0; r < rounds; ++r) {
    std::vector<img::Image> a(images.size());
    std::vector<img::Image> b(images.size());
    auto t0 = clock::now();
    for (std::size_t i = 0; i < images.size(); ++i)
      a[i] = img::detail::shrink_area_opencv(images[i], size, size);
    auto t1 = clock::now();
    for (std::size_t i = 0; i < images.size(); ++i)
      b[i] = img::detail::shrink_area(images[i], size, size);
    auto t2 = clock::now();
    theirs_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count() /
                        static_cast<double>(images.size()));
    ours_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count() /
                      static_cast<double>(images.size()));
    if (r == 0) {
      for (std::size_t i = 0; i < images.size(); ++i)
        differ += a[i].pixels != b[i].pixels ? 1 : 0;
    }
  }
  std::printf("images: %zu shrunk to %dx%d (%zu smaller, skipped), %d rounds\n", images.size(),
              size, size, skipped, rounds);
  std::printf("opencv INTER_AREA: %.3f ms per image (median)\n", median(theirs_ms));
  std::printf("csss shrink_area:  %.3f ms per image (median)\n", median(ours_ms));
  std::printf("bytes differ:      %zu images\n", differ);
  return differ == 0 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_preprocess: %s\n", e.what());
  return 2;
}
