// Inference throughput of the LibTorch backend, loaded as csss loads it (torch_backend()), on a
// TorchScript model: images per second at one batch size, after warm-up batches.
//
//   bench_inference MODEL.pt [--classes N] [--size S] [--batch B] [--warmup W] [--iters I]
//                            [--streams K] [--images DIR] [--cache DIR]
//
// With --images DIR, the batches are the first I x B x K images of DIR, decoded and preprocessed
// before the clock starts (the job of `csss batch import` without its decoding and storing);
// otherwise one batch of random values. With K streams (default 1), K threads each run I batches of
// the same loaded model at once, each with cores / K of LibTorch's threads (at least one), as `csss
// batch import` runs its model. Prints three lines: "csss: <images/s> images/s (best batch
// <images/s>; batch B, I batches, K streams, <backend>)", "cpu: <s> s for the timed batches,
// <images> images per CPU-second" (the process's CPU time, all threads, while the timed batches
// ran) and "start: <s> s to load LibTorch, <s> s to load and prepare the model". With --cache DIR,
// the model is loaded through the prepared-model cache in DIR, as csss loads it from its data
// directory (inference/prepared.hpp): the first run keeps the frozen model there, later runs read
// it.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <filesystem>
#include <mutex>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "crypto/hash.hpp"
#include "imaging/image.hpp"
#include "imaging/preprocess.hpp"
#include "inference/backend.hpp"
#include "inference/prepared.hpp"
#include "raster_files.hpp"
#include "util/fs.hpp"

namespace {

constexpr std::size_t kMaxModelBytes = std::size_t{2} << 30;

int usage() {
  std::fprintf(stderr,
               "usage: bench_inference MODEL.pt [--classes N] [--size S] [--batch B] "
               "[--warmup W] [--iters I] [--streams K] [--images DIR] [--cache DIR]\n");
  return 2;
}

// The first `count` PNG and JPEG files under `dir` (in path order; fewer if there are fewer),
// decoded and preprocessed as `csss batch import` does for a 3-channel model with ImageNet's
// mean and standard deviation: CHW floats, one image after another.
std::vector<float> decoded(const std::filesystem::path& dir, std::size_t count, int size) {
  std::vector<std::filesystem::path> files = csss::bench::raster_files(dir);
  files.resize(std::min(files.size(), count));
  if (files.empty())
    throw std::runtime_error(dir.string() + ": no PNG or JPEG file");
  csss::imaging::PreprocessSpec spec;
  spec.size = size;
  spec.channels = 3;
  spec.mean = {0.485f, 0.456f, 0.406f};
  spec.stddev = {0.229f, 0.224f, 0.225f};
  const std::size_t per = static_cast<std::size_t>(3) * size * size;
  std::vector<float> out(files.size() * per);
  for (std::size_t i = 0; i < files.size(); ++i) {
    const csss::imaging::Limits limits;
    const std::string bytes = csss::util::read_file(files[i], limits.max_file_bytes);
    const auto image = csss::imaging::decode(
        std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), limits,
        files[i].string());
    csss::imaging::normalise_into(csss::imaging::fit(image.image, spec), spec,
                                  std::span(out).subspan(i * per, per));
  }
  return out;
}

// CPU time of the whole process, all threads.
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    return usage();
  csss::inference::ModelSpec spec;
  spec.weights = argv[1];
  spec.architecture = csss::inference::Architecture::torchscript;
  spec.num_classes = 1000;
  spec.input_channels = 3;
  spec.input_size = 224;
  int batch = 16;
  int warmup = 3;
  int iters = 10;
  int streams = 1;
  std::string image_dir;
  std::string cache_dir;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc)
      return usage();
    const int value = std::atoi(argv[++i]);  // 0 for --images
    if (flag == "--classes")
      spec.num_classes = value;
    else if (flag == "--size")
      spec.input_size = value;
    else if (flag == "--batch")
      batch = value;
    else if (flag == "--warmup")
      warmup = value;
    else if (flag == "--iters")
      iters = value;
    else if (flag == "--streams")
      streams = value;
    else if (flag == "--images")
      image_dir = argv[i];
    else if (flag == "--cache")
      cache_dir = argv[i];
    else
      return usage();
  }
  if (batch < 1 || warmup < 0 || iters < 1 || streams < 1 || streams > 64)
    return usage();

  try {
    using Clock = std::chrono::steady_clock;
    const auto begin = Clock::now();
    auto& backend = csss::inference::torch_backend();
    const auto loaded_library = Clock::now();
    const auto model =
        cache_dir.empty()
            ? backend.load(spec)
            : csss::inference::load_model(
                  backend, spec,
                  csss::crypto::sha256_hex(csss::util::read_file(spec.weights, kMaxModelBytes)),
                  cache_dir);
    const auto prepared = Clock::now();
    const std::string describe = backend.describe();  // LibTorch's threads before any stream
    const std::size_t per = static_cast<std::size_t>(3) * spec.input_size * spec.input_size;
    std::vector<float> images;
    if (image_dir.empty()) {
      images.resize(batch * per);
      std::mt19937 random(0);
      std::normal_distribution<float> normal(0.0f, 1.0f);
      for (float& v : images)
        v = normal(random);
    } else {
      images =
          decoded(image_dir, static_cast<std::size_t>(batch) * iters * streams, spec.input_size);
    }
    const std::size_t count = images.size() / per;  // images, used in turn
    const auto input = [&](int stream, int i) {
      const std::size_t first = ((static_cast<std::size_t>(stream) * iters + i) * batch) % count;
      return std::span<const float>(images).subspan(first * per, batch * per);
    };

    // Each stream warms up, then all start their timed batches together. The rate over the
    // timed batches of all streams is the figure; the best single batch (times the streams) shows
    // what the machine does when nothing else runs on it.
    const int cores = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
    std::mutex mutex;
    std::condition_variable cv;
    int warm = 0;
    double best = 0.0;
    Clock::time_point started;
    double cpu_started = 0.0;
    const auto stream = [&](int k) {
      backend.set_threads(std::max(1, cores / streams));
      for (int i = 0; i < warmup; ++i)
        model->predict(input(0, i), batch);
      {
        std::unique_lock lock(mutex);
        if (++warm == streams) {
          started = Clock::now();
          cpu_started = process_cpu_seconds();
          cv.notify_all();
        } else {
          cv.wait(lock, [&] { return warm == streams; });
        }
      }
      double mine = 0.0;
      for (int i = 0; i < iters; ++i) {
        const auto start = Clock::now();
        model->predict(input(k, i), batch);
        const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
        mine = i == 0 ? seconds : std::min(mine, seconds);
      }
      const std::lock_guard lock(mutex);
      best = best == 0.0 ? mine : std::min(best, mine);
    };
    std::vector<std::thread> threads;
    for (int k = 0; k < streams; ++k)
      threads.emplace_back(stream, k);
    for (std::thread& t : threads)
      t.join();
    const double total = std::chrono::duration<double>(Clock::now() - started).count();
    const double cpu = process_cpu_seconds() - cpu_started;
    std::printf("csss: %.2f images/s (best batch %.2f; batch %d, %d batches, %d %s, %s)\n",
                static_cast<double>(streams) * batch * iters / total, streams * batch / best, batch,
                iters, streams, streams == 1 ? "stream" : "streams", describe.c_str());
    std::printf("cpu: %.2f s for the timed batches, %.2f images per CPU-second\n", cpu,
                static_cast<double>(streams) * batch * iters / cpu);
    std::printf("start: %.2f s to load LibTorch, %.2f s to load and prepare the model\n",
                std::chrono::duration<double>(loaded_library - begin).count(),
                std::chrono::duration<double>(prepared - loaded_library).count());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_inference: %s\n", e.what());
    return 1;
  }
}
