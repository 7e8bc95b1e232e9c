// The backend's Trainer: Adam steps lower the loss on a fixed batch, weights and optimiser state
// round-trip through files, and bad batches are refused.
#include <doctest/doctest.h>

#include "support/check_error.hpp"
#include "support/temp_dir.hpp"
#include "torch_support.hpp"

using namespace csss::test;
using csss::ErrorKind;
using csss::inference::TrainSpec;

namespace {

TrainSpec small_spec(const fs::path& weights) {
  TrainSpec spec;
  spec.model = native_spec(weights, 3, 1, 32, 0.25);
  spec.learning_rate = 3e-3;
  spec.seed = 11;
  return spec;
}

}  // namespace

TEST_CASE(
    "trainer: Adam steps lower the loss on a fixed batch, and logits match a reloaded model") {
  TempDir tmp;
  TrainSpec spec = small_spec(tmp / "initial.pt");
  backend().write_initial_model(spec.model, 5, {});
  spec.class_weights = {1.0f, 2.0f, 0.5f};
  auto trainer = backend().trainer(spec);
  const std::vector<float> images = random_images(spec.model, 12, 3);
  const std::vector<int> labels = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2};
  const double first = trainer->train_step(images, labels, 12).loss;
  csss::inference::StepResult last;
  for (int i = 0; i < 30; ++i)
    last = trainer->train_step(images, labels, 12);
  CHECK(last.loss < first * 0.5);
  CHECK(last.correct >= 9);

  CHECK(trainer->learning_rate() == doctest::Approx(3e-3));
  trainer->set_learning_rate(1e-4);
  CHECK(trainer->learning_rate() == doctest::Approx(1e-4));
  check_error([&] { trainer->set_learning_rate(0.0); }, ErrorKind::invalid_input, "learning rate");

  const auto logits = trainer->logits(images, 12);
  REQUIRE(logits.size() == 12);
  CHECK(logits[0].size() == 3);

  // The saved weights load as an inference model with the same outputs (eval mode).
  trainer->save_weights(tmp / "trained.pt");
  trainer->save_optimizer(tmp / "trained.optim.pt");
  auto model = backend().load(native_spec(tmp / "trained.pt", 3, 1, 32, 0.25));
  const auto probabilities = model->predict(images, 12);
  for (std::size_t i = 0; i < 12; ++i) {
    float peak = logits[i][0];
    for (const float v : logits[i])
      peak = std::max(peak, v);
    double sum = 0.0;
    for (const float v : logits[i])
      sum += std::exp(static_cast<double>(v - peak));
    for (std::size_t c = 0; c < 3; ++c)
      CHECK(probabilities[i][c] ==
            doctest::Approx(std::exp(logits[i][c] - peak) / sum).epsilon(1e-4));
  }

  // A second trainer that loads both files continues where the first one was.
  auto resumed = backend().trainer(spec);
  resumed->load_weights(tmp / "trained.pt");
  resumed->load_optimizer(tmp / "trained.optim.pt");
  const auto again = resumed->logits(images, 12);
  for (std::size_t i = 0; i < 12; ++i)
    for (std::size_t c = 0; c < 3; ++c)
      CHECK(again[i][c] == doctest::Approx(logits[i][c]).epsilon(1e-5));
}

TEST_CASE("trainer: bad specs, batches and files are refused") {
  TempDir tmp;
  TrainSpec spec = small_spec(tmp / "initial.pt");
  backend().write_initial_model(spec.model, 5, {});
  TrainSpec bad = spec;
  bad.learning_rate = -1;
  check_error([&] { backend().trainer(bad); }, ErrorKind::invalid_input, "learning rate");
  bad = spec;
  bad.class_weights = {1.0f, 2.0f};
  check_error([&] { backend().trainer(bad); }, ErrorKind::invalid_input, "class weights");
  bad = spec;
  bad.model.architecture = csss::inference::Architecture::torchscript;
  check_error([&] { backend().trainer(bad); }, ErrorKind::invalid_input, "mobilenet_v2");

  auto trainer = backend().trainer(spec);
  const std::vector<float> images = random_images(spec.model, 4, 3);
  check_error(
      [&] {
        trainer->train_step(images, std::vector<int>{0, 1, 2, 3}, 4);
      },
      ErrorKind::invalid_input, "label 3");
  check_error(
      [&] {
        trainer->train_step(images, std::vector<int>{0, 1}, 4);
      },
      ErrorKind::invalid_input, "labels");
  check_error(
      [&] {
        trainer->train_step(images, std::vector<int>{0, 1, 2}, 3);
      },
      ErrorKind::invalid_input, "floats");
  check_error([&] { trainer->load_weights(tmp / "missing.pt"); }, ErrorKind::io);
  check_error([&] { trainer->load_optimizer(tmp / "initial.pt"); }, ErrorKind::invalid_input,
              "optimiser");
}
