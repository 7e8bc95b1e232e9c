// The LibTorch backend without PyTorch: loading the plugin, the native MobileNetV2 (random
// weights from write_initial_model), temperature, and the errors of bad files, specs and inputs.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <numeric>
#include <thread>

#include "support/check_error.hpp"
#include "support/temp_dir.hpp"
#include "torch_support.hpp"

using namespace csss::test;
using csss::ErrorKind;
using csss::inference::HeatMap;

namespace {

void write_text_file(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

void check_probabilities(const std::vector<std::vector<float>>& probs, std::size_t count,
                         std::size_t classes) {
  REQUIRE(probs.size() == count);
  for (const auto& row : probs) {
    REQUIRE(row.size() == classes);
    for (float p : row) {
      CHECK(p >= 0.0f);
      CHECK(p <= 1.0f);
    }
    CHECK(std::accumulate(row.begin(), row.end(), 0.0) == doctest::Approx(1.0).epsilon(1e-5));
  }
}

void check_heat_map(const HeatMap& map, int width, int height) {
  CHECK(map.width == width);
  CHECK(map.height == height);
  REQUIRE(map.values.size() == static_cast<std::size_t>(width) * height);
  float peak = 0.0f;
  for (float v : map.values) {
    CHECK(v >= 0.0f);
    CHECK(v <= 1.0f);
    peak = std::max(peak, v);
  }
  // Scaled to [0,1]: the maximum is 1 unless the whole map is zero.
  CHECK((peak == doctest::Approx(1.0f) || peak == 0.0f));
}

}  // namespace

TEST_CASE("the backend is this build's plugin, uses every core and says so") {
  auto& b = backend();
  CHECK(csss::inference::torch_backend_path() == fs::path(CSSS_TORCH_PLUGIN));
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const std::string expected =
      "LibTorch 1.13.1, " + std::to_string(cores) + (cores == 1 ? " thread" : " threads");
  CHECK(b.describe() == expected);
  CHECK(&backend() == &b);  // one instance for the process
}

TEST_CASE("without CSSS_TORCH_BACKEND the plugin is looked up in lib/ beside bin/") {
  ::unsetenv("CSSS_TORCH_BACKEND");
  const fs::path exe = fs::read_symlink("/proc/self/exe");
  CHECK(csss::inference::torch_backend_path() ==
        exe.parent_path().parent_path() / "lib" / "libcsss_torch.so");
  ::setenv("CSSS_TORCH_BACKEND", CSSS_TORCH_PLUGIN, 1);
}

TEST_CASE("a library that is not the backend cannot be loaded, with the reason") {
  const auto missing = check_error(
      [] { (void)csss::inference::load_torch_backend("/nonexistent/libcsss_torch.so"); },
      ErrorKind::io, "cannot load the LibTorch backend /nonexistent/libcsss_torch.so: ");
  CHECK(contains(missing, "No such file"));
  check_error([] { (void)csss::inference::load_torch_backend("libm.so.6"); }, ErrorKind::io,
              "csss_create_torch_backend");
  // The real plugin can be loaded a second time, as a backend of its own.
  const auto second = csss::inference::load_torch_backend(CSSS_TORCH_PLUGIN);
  CHECK(second.get() != &backend());
  CHECK(second->describe() == backend().describe());
}

TEST_CASE("a native MobileNetV2: batch probabilities sum to 1, Grad-CAM at feature resolution") {
  TempDir tmp;
  const ModelSpec spec = native_spec(tmp / "model.pt", 4, 1);
  CHECK(backend().write_initial_model(spec, 7, {}) == 0);
  const auto model = backend().load(spec);
  const auto images = random_images(spec, 3, 1);
  const auto probs = model->predict(images, 3);
  check_probabilities(probs, 3, 4);

  // One image alone gives what it gave in the batch.
  const std::vector<float> second(
      images.begin() + static_cast<std::ptrdiff_t>(images.size() / 3),
      images.begin() + static_cast<std::ptrdiff_t>(2 * images.size() / 3));
  const auto alone = model->predict(second, 1);
  REQUIRE(alone.size() == 1);
  CHECK(max_abs_difference(alone[0], probs[1]) < 1e-5f);

  // 224 / 32 = 7.
  for (int target = 0; target < 4; ++target)
    check_heat_map(model->gradcam(second, target), 7, 7);
}

TEST_CASE("native MobileNetV2 shapes follow width_mult and input size") {
  TempDir tmp;
  const ModelSpec spec = native_spec(tmp / "narrow.pt", 2, 3, 128, 0.5);
  backend().write_initial_model(spec, 1, {});
  const auto model = backend().load(spec);
  check_probabilities(model->predict(random_images(spec, 2, 3), 2), 2, 2);
  check_heat_map(model->gradcam(random_images(spec, 1, 4), 1), 4, 4);  // 128 / 32
  // The same weights do not fit the full-width model.
  check_error([&] { (void)backend().load(native_spec(spec.weights, 2, 3, 128, 1.0)); },
              ErrorKind::invalid_input, "width_mult 1");
}

// With torchvision's initialisation and batch norms in eval mode the activations vanish through
// the blocks, so the probabilities are uniform; the Grad-CAM maps, scaled to [0,1], still tell
// the weights apart.
TEST_CASE("write_initial_model is deterministic for a seed") {
  TempDir tmp;
  const ModelSpec a = native_spec(tmp / "a.pt", 3, 1, 64);
  const ModelSpec b = native_spec(tmp / "b.pt", 3, 1, 64);
  const ModelSpec c = native_spec(tmp / "c.pt", 3, 1, 64);
  backend().write_initial_model(a, 42, {});
  backend().write_initial_model(b, 42, {});
  backend().write_initial_model(c, 43, {});
  const auto image = random_images(a, 1, 5);
  const auto ma = backend().load(a)->gradcam(image, 1);
  const auto mb = backend().load(b)->gradcam(image, 1);
  const auto mc = backend().load(c)->gradcam(image, 1);
  CHECK(ma.values == mb.values);
  CHECK(ma.values != mc.values);
}

TEST_CASE("a weights file that is not a model is refused as invalid input") {
  TempDir tmp;
  const fs::path text = tmp / "weights.pt";
  write_text_file(text, "these are not the weights you are looking for\n");
  check_error([&] { (void)backend().load(native_spec(text, 2, 1)); }, ErrorKind::invalid_input,
              "is not a native MobileNetV2 weights file");
  check_error([&] { (void)backend().load(torchscript_spec(text, 2)); }, ErrorKind::invalid_input,
              "is not a TorchScript model");
  // A native weights file declared as TorchScript.
  const ModelSpec native = native_spec(tmp / "native.pt", 2, 3, 64);
  backend().write_initial_model(native, 1, {});
  check_error([&] { (void)backend().load(torchscript_spec(native.weights, 2, 3, 64)); },
              ErrorKind::invalid_input, "no forward method");
}

TEST_CASE("a missing weights file is an io error") {
  TempDir tmp;
  check_error([&] { (void)backend().load(native_spec(tmp / "absent.pt", 2, 1)); }, ErrorKind::io,
              "no such file");
  check_error([&] { (void)backend().load(native_spec(tmp.path(), 2, 1)); }, ErrorKind::io,
              "not a regular file");
}

TEST_CASE("weights of another class count or channel count are refused, naming the tensor") {
  TempDir tmp;
  const ModelSpec three = native_spec(tmp / "three.pt", 3, 3, 64);
  backend().write_initial_model(three, 1, {});
  const auto classes =
      check_error([&] { (void)backend().load(native_spec(three.weights, 5, 3, 64)); },
                  ErrorKind::invalid_input, "classifier.1.weight is [3, 1280], expected [5, 1280]");
  CHECK(contains(classes, "num_classes 5"));
  check_error([&] { (void)backend().load(native_spec(three.weights, 3, 1, 64)); },
              ErrorKind::invalid_input,
              "features.0.0.weight is [32, 3, 3, 3], expected [32, 1, 3, 3]");
}

TEST_CASE("inputs of the wrong size and bad targets are invalid input") {
  TempDir tmp;
  const ModelSpec spec = native_spec(tmp / "model.pt", 2, 1, 64);
  backend().write_initial_model(spec, 1, {});
  const auto model = backend().load(spec);
  const auto two = random_images(spec, 2, 1);
  check_error([&] { (void)model->predict(two, 3); }, ErrorKind::invalid_input,
              "expected 3 x 1 x 64 x 64 = 12288 floats, got 8192");
  check_error([&] { (void)model->predict(std::span<const float>(two).first(100), 1); },
              ErrorKind::invalid_input, "got 100");
  check_error([&] { (void)model->predict({}, 0); }, ErrorKind::invalid_input, "no images");
  check_error([&] { (void)model->gradcam(two, 0); }, ErrorKind::invalid_input,
              "expected 1 x 1 x 64 x 64");
  const std::vector<float> one(two.begin(), two.begin() + 64 * 64);
  check_error([&] { (void)model->gradcam(one, 2); }, ErrorKind::invalid_input,
              "target class 2 is not between 0 and 1");
  check_error([&] { (void)model->gradcam(one, -1); }, ErrorKind::invalid_input, "target class -1");
}

TEST_CASE("specs outside the supported shapes are refused before reading the file") {
  TempDir tmp;
  const fs::path w = tmp / "absent.pt";
  ModelSpec spec = native_spec(w, 1, 3);
  check_error([&] { (void)backend().load(spec); }, ErrorKind::invalid_input, "num_classes");
  spec = native_spec(w, 2, 2);
  check_error([&] { (void)backend().load(spec); }, ErrorKind::invalid_input, "input_channels");
  spec = native_spec(w, 2, 3, 16);
  check_error([&] { (void)backend().load(spec); }, ErrorKind::invalid_input, "input_size");
  spec = native_spec(w, 2, 3, 224, 0.0);
  check_error([&] { (void)backend().load(spec); }, ErrorKind::invalid_input, "width_mult");
  spec = native_spec(w, 2, 3);
  spec.temperature = 0.0;
  check_error([&] { (void)backend().load(spec); }, ErrorKind::invalid_input, "temperature");
  check_error([&] { (void)backend().write_initial_model(torchscript_spec(w, 2), 1, {}); },
              ErrorKind::invalid_input, "mobilenet_v2");
  check_error(
      [&] { (void)backend().write_initial_model(native_spec(tmp / "no" / "dir.pt", 2, 3), 1, {}); },
      ErrorKind::io, "cannot write the model");
}
