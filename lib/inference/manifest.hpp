#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "imaging/preprocess.hpp"
#include "inference/backend.hpp"

namespace csss::inference {

enum class RiskLevel { low, medium, high };

std::string_view to_string(RiskLevel level) noexcept;
std::optional<RiskLevel> parse_risk(std::string_view text);

// A model folder's model.yaml: what the model is for, how to feed it, how to read its output,
// and which weights it runs (with their SHA-256).
//
//   name: chest-xray
//   version: 1.0.0
//   description: Pediatric chest X-ray, pneumonia screening
//   modality: [CR, DX]                 # DICOM Modality values it is for
//   body_part: CHEST                   # DICOM BodyPartExamined
//   classes: [normal, bacterial_pneumonia, viral_pneumonia]   # output order
//   input: {size: 224, channels: 1, mean: [0.5], std: [0.25]}
//   threshold: 0.75                    # below it the result reads "Uncertain"
//   temperature: 1.0                   # calibration: logits are divided by it
//   risk: {normal: low, bacterial_pneumonia: high, viral_pneumonia: high}
//   architecture: {type: mobilenet_v2, width: 1.0}
//     # or {type: torchscript, gradcam_layer: features, head_layer: classifier}
//   weights: {file: model.pt, sha256: 9f86d0...}
//   metrics: metrics.json              # evaluation results, once trained
struct Manifest {
  std::string name;
  std::string version = "1.0.0";
  std::string description;
  std::vector<std::string> modalities;
  std::string body_part;
  std::vector<std::string> classes;
  imaging::PreprocessSpec input;
  double threshold = 0.75;
  double temperature = 1.0;
  std::map<std::string, RiskLevel> risk;  // one entry per class
  Architecture architecture = Architecture::mobilenet_v2;
  double width_mult = 1.0;
  std::string gradcam_layer = "features";
  std::string head_layer = "classifier";
  std::string weights_file = "model.pt";
  std::string weights_sha256;
  std::string metrics_file;  // "" when not evaluated yet
  std::filesystem::path dir;  // the folder the manifest was read from

  std::filesystem::path weights_path() const { return dir / weights_file; }
  // What the backend needs to load these weights.
  ModelSpec spec() const;
};

// Throws Error(invalid_input) naming the file and the field unless `name` is 1-64 characters of
// a-z, 0-9, '.', '_' and '-', starting with a letter or digit.
void check_model_name(std::string_view name);

// Reads and validates `dir`/model.yaml. Throws Error(not_found) when it does not exist, and
// Error(invalid_input) naming the file and field for a missing or malformed field, a class
// without a risk level, a channel count other than 1 or 3, or mean/std of the wrong length.
Manifest load_manifest(const std::filesystem::path& dir);

// Writes `manifest` as `manifest.dir`/model.yaml (mode 0600, atomically).
void save_manifest(const Manifest& manifest);

// The SHA-256 of the weights file. Throws Error(io) when it cannot be read.
std::string weights_hash(const Manifest& manifest);

// Throws Error(integrity) unless the weights file's SHA-256 matches the manifest: a model whose
// weights were changed or replaced never runs.
void verify_weights(const Manifest& manifest);

}  // namespace csss::inference
