#pragma once

// `csss train-eval evaluate`: runs a model over an ImageFolder directory and measures it
// (evaluation/metrics.hpp); with an output folder, also draws the confusion matrix, ROC curves
// and reliability diagram, and writes each misclassified image with its Grad-CAM overlay.

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "evaluation/metrics.hpp"
#include "imaging/image.hpp"
#include "inference/backend.hpp"
#include "inference/manifest.hpp"
#include "train_eval/dataset.hpp"

namespace csss::pipelines {

struct EvaluateRequest {
  inference::Manifest model;  // its weights' hash is checked first
  std::filesystem::path data;
  std::string split;              // "", train, val or test (see scan_for_evaluation)
  std::vector<std::string> skip;  // class folders to leave out
  std::filesystem::path out;      // "": no files
  int bootstrap_rounds = 1000;
  int max_overlays = 100;  // misclassified images drawn with Grad-CAM (all are listed)
  int batch_size = 32;
  int workers = 2;
  std::uint64_t seed = 42;
  imaging::Limits limits;
};

struct Misclassified {
  std::string path;
  std::string truth;
  std::string predicted;
  double confidence = 0.0;
  std::string overlay;  // file under out/misclassified/, "" when not drawn
};

struct EvaluateResult {
  evaluation::Report report;
  std::vector<Misclassified> misclassified;
  std::vector<Skipped> rejected;
  std::vector<Skipped> skipped;
  double seconds = 0.0;
  nlohmann::json document;  // what --json prints and out/evaluation.json holds
};

struct EvaluateEvents {
  std::function<void(const std::string&)> stage;
  std::function<void(std::size_t, std::size_t)> progress;  // images done, total
};

// Throws Error(integrity) when the weights do not match the manifest, and what
// scan_for_evaluation and the backend throw.
EvaluateResult evaluate(const EvaluateRequest& request, inference::Backend& backend,
                        const EvaluateEvents& events = {});

}  // namespace csss::pipelines
