#pragma once

// `csss train-eval train`: trains a native MobileNetV2 from scratch on an ImageFolder data set and
// writes a model folder (model.yaml with the weights' hash and the fitted temperature, model.pt,
// metrics.json, curves.png, confusion_matrix.png, split.csv, history.csv, training.yaml).
//
// Adam, (optionally class-weighted) cross-entropy, the configured augmentation, early stopping on
// the validation loss (restoring the best weights), learning-rate reduction on plateau, seeded.
// A checkpoint is written after every epoch under <out>/checkpoint/; resuming continues from it.

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "evaluation/metrics.hpp"
#include "inference/backend.hpp"
#include "train_eval/config.hpp"
#include "train_eval/dataset.hpp"

namespace csss::pipelines {

struct BatchProgress {
  int epoch = 0;  // 1-based
  int epochs = 0;
  std::size_t done = 0;  // images of this epoch so far
  std::size_t total = 0;
  double loss = 0.0;      // running mean over the epoch
  double accuracy = 0.0;  // running, on the augmented training images
  double images_per_second = 0.0;
  double eta_seconds = 0.0;  // for this epoch
};

struct EpochReport {
  int epoch = 0;
  int epochs = 0;
  double train_loss = 0.0;
  double train_accuracy = 0.0;
  double val_loss = 0.0;
  double val_accuracy = 0.0;
  double learning_rate = 0.0;  // used in this epoch
  double seconds = 0.0;
  double images_per_second = 0.0;  // training images, forward and backward
  bool improved = false;           // a new best validation loss
};

struct TrainEvents {
  std::function<void(const std::string&)> stage;  // "loading 5521 images", ...
  std::function<void(std::size_t, std::size_t)> loading;
  std::function<void(const BatchProgress&)> batch;
  std::function<void(const EpochReport&)> epoch;
  // Asked between batches: true stops after the current epoch's checkpoint (SIGINT/SIGTERM).
  std::function<bool()> interrupted;
};

struct TrainResult {
  std::filesystem::path model_dir;
  bool finished = false;    // false: interrupted, the checkpoint allows --resume
  std::string stop_reason;  // "early stopping", "epoch limit", "time limit", "interrupted"
  int epochs_run = 0;
  int best_epoch = 0;
  double best_val_loss = 0.0;
  double seconds = 0.0;            // training time, over all runs of a resumed training
  double images_per_second = 0.0;  // mean training throughput
  double temperature = 1.0;
  nlohmann::json metrics;  // what metrics.json holds
  std::vector<Skipped> rejected;
  std::vector<Skipped> skipped;
};

struct TrainRequest {
  TrainConfig config;
  std::filesystem::path out;
  bool resume = false;  // continue from <out>/checkpoint with its saved configuration
  bool force = false;   // replace a finished model in <out>
  bool keep_checkpoint = false;
  imaging::Limits limits;
};

// Throws Error(conflict) when `out` holds a finished model (model.yaml) and neither resume nor
// force is given, or when resuming without a checkpoint; Error(invalid_input) for a bad
// configuration or data set; Error(io) when files cannot be written.
TrainResult train(const TrainRequest& request, inference::Backend& backend,
                  const TrainEvents& events);

// The Report as JSON: n, accuracy, balanced_accuracy, macro_f1, auc_macro, log_loss, ece,
// per_class {label: {precision, recall, f1, support, auc}}, confusion_matrix, screening,
// accuracy_ci, auc_macro_ci, reliability.
nlohmann::json report_json(const evaluation::Report& report);

}  // namespace csss::pipelines
