#pragma once

// The options of `csss train-eval train`: defaults < YAML file (pipelines/*.yaml) < flags.
//
//   name: brain-mri                     # the model folder's manifest (see inference/manifest.hpp)
//   version: 1.0.0
//   description: Brain MRI, tumour type
//   modality: [MR]
//   body_part: BRAIN
//   data: ../../shared/datasets/brain-mri   # relative to this file; --data overrides
//   classes: [glioma, meningioma, notumor, pituitary]   # optional: order and subset of folders
//   risk: {glioma: high, meningioma: high, notumor: low, pituitary: high}
//   threshold: 0.6
//   input: {size: 128, channels: 1, mean: [0.5], std: [0.25]}
//   architecture: {width: 1.0}
//   split: {train: 0.70, val: 0.15, seed: 42}
//   training: {epochs: 60, batch_size: 32, learning_rate: 1e-4, weight_decay: 0,
//              class_weights: balanced,   # none | balanced | [w1, w2, ...]
//              early_stopping_patience: 5, lr_patience: 3, lr_factor: 0.5,
//              seed: 42, time_limit_minutes: 85, workers: 2}
//   augment: {rotate_degrees: 10, scale: 0.1, translate: 0.05, hflip: 0.5,
//             brightness: 0.1, contrast: 0.1}

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "imaging/augment.hpp"
#include "imaging/preprocess.hpp"
#include "inference/manifest.hpp"
#include "train_eval/dataset.hpp"

namespace csss::pipelines {

struct TrainConfig {
  std::string name;
  std::string version = "1.0.0";
  std::string description;
  std::vector<std::string> modalities;
  std::string body_part;
  std::filesystem::path data;
  std::vector<std::string> classes;
  std::map<std::string, inference::RiskLevel> risk;  // classes not listed: medium
  double threshold = 0.6;
  imaging::PreprocessSpec input{128, 1, {0.5f}, {0.25f}};
  double width_mult = 1.0;
  SplitOptions split;

  int epochs = 30;
  int batch_size = 32;
  double learning_rate = 1e-4;
  double weight_decay = 0.0;
  std::string class_weights = "none";      // none | balanced | list
  std::vector<float> class_weight_values;  // when class_weights is "list"
  int early_stopping_patience = 5;
  int lr_patience = 3;
  double lr_factor = 0.5;
  std::uint64_t seed = 42;
  double time_limit_minutes = 0.0;  // 0: none; else training stops (keeping the best epoch)
  int workers = 2;                  // decoding threads

  imaging::AugmentSpec augment{5.0, 0.05, 0.05, 0.0, 0.1, 0.1};
};

// Reads a training configuration. `data` is resolved against the file's folder. Throws
// Error(not_found) when the file does not exist, Error(invalid_input) naming the file and the key
// for malformed values and unknown keys (with "did you mean").
TrainConfig load_train_config(const std::filesystem::path& file);

// Throws Error(invalid_input) naming the field when a value is out of range.
void validate(const TrainConfig& config);

// The configuration as YAML that load_train_config reads back (data as an absolute path).
std::string to_yaml(const TrainConfig& config);

// Parses YAML text (as written by to_yaml); `origin` names it in errors, `base` resolves `data`.
TrainConfig parse_train_config(const std::string& text, const std::string& origin,
                               const std::filesystem::path& base);

}  // namespace csss::pipelines
