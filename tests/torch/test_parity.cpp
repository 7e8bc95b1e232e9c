// Parity with PyTorch: export_mobilenet.py (run with /usr/bin/python3, which has Debian's
// python3-torch and python3-torchvision) builds torchvision's MobileNetV2, saves it as TorchScript
// and writes the probabilities and the Grad-CAM map PyTorch computes for a fixed input; csss must
// compute the same through the backend, from the TorchScript file and, with the weights copied in,
// from its native MobileNetV2.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <sstream>

#include "crypto/hash.hpp"
#include "inference/prepared.hpp"
#include "support/check_error.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "torch_support.hpp"

using namespace csss::test;
using csss::ErrorKind;

namespace {

constexpr const char* kPython = "/usr/bin/python3";

struct Export {
  TempDir dir;
  fs::path model() const { return dir / "mobilenet_v2.pt"; }
  std::vector<float> input() const { return read_floats(dir / "input.bin"); }
  std::vector<float> probs() const { return read_floats(dir / "probs.bin"); }
  std::vector<float> cam() const { return read_floats(dir / "cam.bin"); }
  int target = -1;
  int tensors = 0;
};

// The PyTorch export, made once per process. Fails the test when PyTorch is missing.
const Export& pytorch_export() {
  static std::unique_ptr<Export> done;
  if (done)
    return *done;
  auto e = std::make_unique<Export>();
  ProcessOptions options;
  options.env = {{"PYTHONPATH", ""}, {"PYTHONHOME", ""}};
  const auto check = run_process({kPython, "-c", "import torch, torchvision"}, options);
  if (check.exit_code != 0) {
    FAIL(
        "/usr/bin/python3 cannot import torch and torchvision, which the parity tests need: "
        "install the Debian packages python3-torch python3-torchvision (scripts/test.sh "
        "installs them). "
        << check.err);
  }
  const auto r = run_process(
      {kPython, source_dir() + "/tests/torch/export_mobilenet.py", e->dir.path().string()},
      options);
  if (r.exit_code != 0)
    FAIL("export_mobilenet.py failed (exit " << r.exit_code << "): " << r.err);
  std::istringstream info(read_text(e->dir / "info.txt"));
  std::string word;
  info >> word >> e->target >> word >> e->tensors;
  REQUIRE(e->target >= 0);
  REQUIRE(e->tensors > 0);
  REQUIRE(e->input().size() == 3u * 224 * 224);
  REQUIRE(e->probs().size() == 3u);
  REQUIRE(e->cam().size() == 49u);
  done = std::move(e);
  return *done;
}

}  // namespace

TEST_CASE("a TorchScript torchvision MobileNetV2 gives PyTorch's probabilities and Grad-CAM") {
  const Export& e = pytorch_export();
  const std::vector<float> expected = e.probs();
  // The comparison means something only if the probabilities are far from uniform.
  REQUIRE(*std::max_element(expected.begin(), expected.end()) -
              *std::min_element(expected.begin(), expected.end()) >
          0.1f);

  const auto model = backend().load(torchscript_spec(e.model(), 3));
  const auto input = e.input();
  const auto probs = model->predict(input, 1);
  REQUIRE(probs.size() == 1);
  INFO("csss ", text_of(probs[0]), " PyTorch ", text_of(expected));
  CHECK(max_abs_difference(probs[0], expected) < 1e-4f);

  // In a batch, with other images, the same.
  std::vector<float> batch = random_images(torchscript_spec(e.model(), 3), 3, 11);
  std::copy(input.begin(), input.end(), batch.begin() + static_cast<std::ptrdiff_t>(input.size()));
  const auto batch_probs = model->predict(batch, 3);
  REQUIRE(batch_probs.size() == 3);
  CHECK(max_abs_difference(batch_probs[1], expected) < 1e-4f);

  const auto map = model->gradcam(input, e.target);
  CHECK(map.width == 7);
  CHECK(map.height == 7);
  REQUIRE(map.values.size() == 49u);
  CHECK(*std::min_element(map.values.begin(), map.values.end()) >= 0.0f);
  CHECK(*std::max_element(map.values.begin(), map.values.end()) == doctest::Approx(1.0f));
  CHECK(max_abs_difference(map.values, e.cam()) < 1e-3f);
}

TEST_CASE("the native MobileNetV2 with torchvision's weights gives PyTorch's results") {
  const Export& e = pytorch_export();
  TempDir tmp;
  const ModelSpec spec = native_spec(tmp / "native.pt", 3, 3);
  // Every parameter and buffer has the same name and shape as in torchvision.
  CHECK(backend().write_initial_model(spec, 0, e.model()) == e.tensors);
  const auto model = backend().load(spec);
  const auto input = e.input();
  const auto probs = model->predict(input, 1);
  REQUIRE(probs.size() == 1);
  CHECK(max_abs_difference(probs[0], e.probs()) < 1e-4f);
  const auto map = model->gradcam(input, e.target);
  CHECK(map.width == 7);
  CHECK(map.height == 7);
  CHECK(max_abs_difference(map.values, e.cam()) < 1e-3f);
}

TEST_CASE("a TorchScript model that does not fit its declared shape is refused at load") {
  const Export& e = pytorch_export();
  check_error([&] { (void)backend().load(torchscript_spec(e.model(), 4)); },
              ErrorKind::invalid_input, "is [1, 3], expected [1, 4]");
  check_error([&] { (void)backend().load(torchscript_spec(e.model(), 3, 1)); },
              ErrorKind::invalid_input, "cannot run on a 1x1x224x224 image");
  ModelSpec spec = torchscript_spec(e.model(), 3);
  spec.gradcam_layer = "backbone";
  check_error([&] { (void)backend().load(spec); }, ErrorKind::invalid_input,
              "has no submodule 'backbone' (its Grad-CAM layer); its submodules are: features, "
              "classifier");
  // Dotted paths name nested submodules. The Grad-CAM layer maps the image to the feature map, so
  // features.18 (the last block alone) does not fit.
  spec.gradcam_layer = "features.18";
  check_error([&] { (void)backend().load(spec); }, ErrorKind::invalid_input,
              "expected input[1, 3, 224, 224] to have 320 channels");
  // classifier.1 is the linear layer after the dropout, which is the identity in eval mode: the
  // same map.
  spec.gradcam_layer = "features";
  spec.head_layer = "classifier.1";
  const auto model = backend().load(spec);
  const auto map = model->gradcam(e.input(), e.target);
  CHECK(map.width == 7);
  CHECK(max_abs_difference(map.values, e.cam()) < 1e-3f);
}

TEST_CASE("temperature divides the logits: T=2 flattens the probabilities, T=0.5 sharpens") {
  const Export& e = pytorch_export();
  ModelSpec spec = torchscript_spec(e.model(), 3);
  const auto input = e.input();
  const auto p1 = backend().load(spec)->predict(input, 1)[0];
  spec.temperature = 2.0;
  const auto p2 = backend().load(spec)->predict(input, 1)[0];
  spec.temperature = 0.5;
  const auto p05 = backend().load(spec)->predict(input, 1)[0];
  // softmax(z / T) is proportional to p^(1/T).
  double sum2 = 0.0, sum05 = 0.0;
  for (float p : p1) {
    sum2 += std::sqrt(static_cast<double>(p));
    sum05 += static_cast<double>(p) * p;
  }
  for (std::size_t k = 0; k < p1.size(); ++k) {
    CHECK(p2[k] == doctest::Approx(std::sqrt(static_cast<double>(p1[k])) / sum2).epsilon(1e-4));
    CHECK(p05[k] == doctest::Approx(static_cast<double>(p1[k]) * p1[k] / sum05).epsilon(1e-4));
  }
  const auto max_of = [](const std::vector<float>& v) {
    return *std::max_element(v.begin(), v.end());
  };
  const auto min_of = [](const std::vector<float>& v) {
    return *std::min_element(v.begin(), v.end());
  };
  CHECK(max_of(p2) < max_of(p1) - 0.05f);
  CHECK(min_of(p2) > min_of(p1) + 0.05f);
  CHECK(max_of(p05) > max_of(p1) + 0.05f);
}

TEST_CASE("a TorchScript model that writes to its input does not change the caller's images") {
  const Export& e = pytorch_export();
  const auto model = backend().load(torchscript_spec(e.dir / "mutating.pt", 3));
  const std::vector<float> input = e.input();
  const std::vector<float> expected = read_floats(e.dir / "mutating_probs.bin");
  for (int run = 0; run < 2; ++run) {
    const auto probs = model->predict(input, 1);
    REQUIRE(probs.size() == 1);
    CHECK(max_abs_difference(probs[0], expected) < 1e-4f);
    CHECK(input == e.input());
  }
}

TEST_CASE("a TorchScript model frozen once runs the same from its prepared bytes") {
  const Export& e = pytorch_export();
  ModelSpec spec = torchscript_spec(e.model(), 3);
  spec.weights_sha256 = std::string(64, 'a');
  spec.keep_prepared = true;
  const auto first = backend().load(spec);
  const std::string prepared = first->take_prepared();
  REQUIRE(!prepared.empty());
  CHECK(first->take_prepared().empty());  // once
  const auto input = e.input();
  const auto expected = first->predict(input, 1)[0];
  CHECK(max_abs_difference(expected, e.probs()) < 1e-4f);

  // Run from the prepared bytes: nothing frozen (so nothing new to keep), the same results, and
  // Grad-CAM from the TorchScript weights, loaded when it is first asked for.
  ModelSpec again = spec;
  again.prepared = prepared;
  const auto second = backend().load(again);
  CHECK(second->take_prepared().empty());
  CHECK(second->predict(input, 1)[0] == expected);
  const auto map = second->gradcam(input, e.target);
  CHECK(map.width == 7);
  CHECK(max_abs_difference(map.values, e.cam()) < 1e-3f);

  // Bytes made for other weights, other layers or another input, or no model at all, are not
  // run: the weights are frozen again (and kept), with the same results.
  const auto refrozen = [&](ModelSpec s, const std::string& why) {
    INFO(why);
    const auto model = backend().load(s);
    CHECK(!model->take_prepared().empty());
    CHECK(max_abs_difference(model->predict(input, 1)[0], expected) < 1e-6f);
  };
  ModelSpec other = again;
  other.weights_sha256 = std::string(64, 'b');
  refrozen(other, "other weights");
  other = again;
  other.head_layer = "classifier.1";
  refrozen(other, "another head layer");
  other = again;
  other.prepared = "not a TorchScript archive";
  refrozen(other, "not a model");
  other = again;
  other.prepared.resize(other.prepared.size() / 2);
  refrozen(other, "cut short");
  // A 1-channel spec for the same bytes is refused by its record, not run (LibTorch 1.13 crashes
  // on a prepacked convolution given another channel count): the weights are loaded and refused.
  other = again;
  other.input_channels = 1;
  check_error([&] { (void)backend().load(other); }, ErrorKind::invalid_input,
              "cannot run on a 1x1x224x224 image");
}

TEST_CASE("load_model keeps the frozen model in the cache folder, named by its hashes") {
  const Export& e = pytorch_export();
  TempDir tmp;
  const fs::path cache = tmp / "data" / "model-cache";
  fs::create_directories(tmp / "data");
  const ModelSpec spec = torchscript_spec(e.model(), 3);
  const std::string sha = csss::crypto::sha256_hex(read_text(e.model()));
  const auto files = [&] {
    std::vector<fs::path> out;
    if (fs::exists(cache))
      for (const auto& entry : fs::directory_iterator(cache))
        out.push_back(entry.path());
    return out;
  };
  const auto input = e.input();

  const auto first = csss::inference::load_model(backend(), spec, sha, cache);
  const auto expected = first->predict(input, 1)[0];
  CHECK(max_abs_difference(expected, e.probs()) < 1e-4f);
  auto kept = files();
  REQUIRE(kept.size() == 1);
  const std::string bytes = read_text(kept[0]);
  CHECK(kept[0].filename() == sha + "-" + csss::crypto::sha256_hex(bytes) + ".pt");
  CHECK((fs::status(cache).permissions() & fs::perms::all) == fs::perms::owner_all);
  CHECK((fs::status(kept[0]).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write));

  // The next load reads it and writes nothing.
  const auto written = fs::last_write_time(kept[0]);
  const auto second = csss::inference::load_model(backend(), spec, sha, cache);
  CHECK(second->predict(input, 1)[0] == expected);
  CHECK(files() == kept);
  CHECK(fs::last_write_time(kept[0]) == written);
  CHECK(max_abs_difference(second->gradcam(input, e.target).values, e.cam()) < 1e-3f);

  // A damaged file (its bytes no longer match its name) is deleted and made again.
  std::string damaged = bytes;
  damaged[damaged.size() / 2] = static_cast<char>(damaged[damaged.size() / 2] ^ 0x01);
  std::ofstream(kept[0], std::ios::binary | std::ios::trunc) << damaged;
  const auto third = csss::inference::load_model(backend(), spec, sha, cache);
  CHECK(third->predict(input, 1)[0] == expected);
  kept = files();
  REQUIRE(kept.size() == 1);
  CHECK(read_text(kept[0]) == bytes);

  // Made for another spec (here another head layer): replaced by the one for this spec.
  ModelSpec other = spec;
  other.head_layer = "classifier.1";
  (void)csss::inference::load_model(backend(), other, sha, cache);
  kept = files();
  REQUIRE(kept.size() == 1);
  CHECK(read_text(kept[0]) != bytes);

  // A cache that cannot be written, or none: the model loads all the same.
  std::ofstream(tmp / "file") << "x";
  CHECK(csss::inference::load_model(backend(), spec, sha, tmp / "file" / "cache")
            ->predict(input, 1)[0] == expected);
  CHECK(csss::inference::load_model(backend(), spec, sha, {})->predict(input, 1)[0] == expected);
  // Native models are not frozen: nothing is kept.
  const fs::path native_cache = tmp / "native-cache";
  const ModelSpec native = native_spec(tmp / "native.pt", 3, 3);
  (void)backend().write_initial_model(native, 0, {});
  (void)csss::inference::load_model(
      backend(), native, csss::crypto::sha256_hex(read_text(native.weights)), native_cache);
  CHECK(!fs::exists(native_cache));
}
