// Inference throughput of the LibTorch backend, loaded as csss loads it (torch_backend()), on a
// TorchScript model: images per second at one batch size, after warm-up batches.
//
//   bench_inference MODEL.pt [--classes N] [--size S] [--batch B] [--warmup W] [--iters I]
//
// Prints two lines: "csss: <images/s> images/s (best batch <images/s>; batch B, I batches,
// <backend>)" and "start: <s> s to load LibTorch, <s> s to load and prepare the model".
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <random>
#include <string>
#include <vector>

#include "inference/backend.hpp"

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: bench_inference MODEL.pt [--classes N] [--size S] [--batch B] "
               "[--warmup W] [--iters I]\n");
  return 2;
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
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc)
      return usage();
    const int value = std::atoi(argv[++i]);
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
    else
      return usage();
  }
  if (batch < 1 || warmup < 0 || iters < 1)
    return usage();

  try {
    using Clock = std::chrono::steady_clock;
    const auto begin = Clock::now();
    auto& backend = csss::inference::torch_backend();
    const auto loaded_library = Clock::now();
    const auto model = backend.load(spec);
    const auto prepared = Clock::now();
    std::vector<float> images(static_cast<std::size_t>(batch) * 3 * spec.input_size *
                              spec.input_size);
    std::mt19937 random(0);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (float& v : images)
      v = normal(random);

    for (int i = 0; i < warmup; ++i)
      model->predict(images, batch);
    // The rate over all timed batches is the figure; the best single batch shows what the machine
    // does when nothing else runs on it.
    double total = 0.0;
    double best = 0.0;
    for (int i = 0; i < iters; ++i) {
      const auto start = Clock::now();
      model->predict(images, batch);
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      total += seconds;
      best = i == 0 ? seconds : std::min(best, seconds);
    }
    std::printf("csss: %.2f images/s (best batch %.2f; batch %d, %d batches, %s)\n",
                batch * iters / total, batch / best, batch, iters, backend.describe().c_str());
    std::printf("start: %.2f s to load LibTorch, %.2f s to load and prepare the model\n",
                std::chrono::duration<double>(loaded_library - begin).count(),
                std::chrono::duration<double>(prepared - loaded_library).count());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_inference: %s\n", e.what());
    return 1;
  }
}
