#pragma once

// Helpers of the LibTorch backend's tests: the backend under test (this build's plugin, loaded
// through torch_backend() as csss loads it), model specs, images and float files.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "inference/backend.hpp"

namespace csss::test {

namespace fs = std::filesystem;
using inference::Architecture;
using inference::ModelSpec;

// The process's backend, loaded from this build's libcsss_torch.so via $CSSS_TORCH_BACKEND.
inline inference::Backend& backend() {
  ::setenv("CSSS_TORCH_BACKEND", CSSS_TORCH_PLUGIN, 1);
  return inference::torch_backend();
}

inline ModelSpec native_spec(const fs::path& weights, int classes, int channels, int size = 224,
                             double width = 1.0) {
  ModelSpec spec;
  spec.weights = weights;
  spec.architecture = Architecture::mobilenet_v2;
  spec.num_classes = classes;
  spec.input_channels = channels;
  spec.input_size = size;
  spec.width_mult = width;
  return spec;
}

inline ModelSpec torchscript_spec(const fs::path& weights, int classes, int channels = 3,
                                  int size = 224) {
  ModelSpec spec = native_spec(weights, classes, channels, size);
  spec.architecture = Architecture::torchscript;
  return spec;
}

// `count` images of `spec`'s shape, standard normal values from `seed`.
inline std::vector<float> random_images(const ModelSpec& spec, int count, unsigned seed) {
  std::vector<float> out(static_cast<std::size_t>(count) * spec.input_channels * spec.input_size *
                         spec.input_size);
  std::mt19937 random(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (float& v : out)
    v = normal(random);
  return out;
}

// A file of little-endian float32 values (as numpy's tofile writes them on x86-64).
inline std::vector<float> read_floats(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> out(bytes.size() / sizeof(float));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// "[0.25, 0.75]", for messages.
inline std::string text_of(const std::vector<float>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i)
    out += (i > 0 ? ", " : "") + std::to_string(values[i]);
  return out + "]";
}

inline float max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
  float worst = 0.0f;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
    worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

}  // namespace csss::test
