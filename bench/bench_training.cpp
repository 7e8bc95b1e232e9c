// Training throughput of the LibTorch backend's Trainer (what `csss train-eval train` runs): a
// native MobileNetV2 from write_initial_model, Adam and cross-entropy steps on random images.
//
//   bench_training [--classes N] [--channels C] [--size S] [--batch B] [--width W]
//                  [--warmup K] [--iters I]
//
// Prints one line: "csss: <images/s> images/s (best step <images/s>; ...)".
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "inference/backend.hpp"

int main(int argc, char** argv) {
  int classes = 4, channels = 1, size = 128, batch = 32, warmup = 2, iters = 8;
  double width = 1.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--classes")
      classes = std::atoi(value);
    else if (flag == "--channels")
      channels = std::atoi(value);
    else if (flag == "--size")
      size = std::atoi(value);
    else if (flag == "--batch")
      batch = std::atoi(value);
    else if (flag == "--width")
      width = std::atof(value);
    else if (flag == "--warmup")
      warmup = std::atoi(value);
    else if (flag == "--iters")
      iters = std::atoi(value);
    else {
      std::fprintf(stderr, "bench_training: unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  try {
    csss::inference::Backend& backend = csss::inference::torch_backend();
    const std::filesystem::path weights =
        std::filesystem::temp_directory_path() /
        ("csss-bench-training-" + std::to_string(::getpid()) + ".pt");
    csss::inference::TrainSpec spec;
    spec.model.weights = weights;
    spec.model.num_classes = classes;
    spec.model.input_channels = channels;
    spec.model.input_size = size;
    spec.model.width_mult = width;
    spec.learning_rate = 1e-4;
    backend.write_initial_model(spec.model, 1, {});
    auto trainer = backend.trainer(spec);
    std::filesystem::remove(weights);

    std::mt19937 random(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> images(static_cast<std::size_t>(batch) * channels * size * size);
    for (float& v : images)
      v = normal(random);
    std::vector<int> labels(static_cast<std::size_t>(batch));
    for (int i = 0; i < batch; ++i)
      labels[static_cast<std::size_t>(i)] = i % classes;

    for (int i = 0; i < warmup; ++i)
      trainer->train_step(images, labels, batch);
    double best = 0.0;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      trainer->train_step(images, labels, batch);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, batch / s);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("csss: %.2f images/s (best step %.2f; batch %d, %d steps, %s)\n",
                batch * iters / seconds, best, batch, iters, backend.describe().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_training: %s\n", e.what());
    return 1;
  }
}
