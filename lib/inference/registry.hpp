#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "inference/manifest.hpp"

namespace csss::inference {

// The models CSSS can run: every folder with a model.yaml under the registry's directories,
// searched in order (imported models in the data directory first, then the shipped ones), so
// that a name found earlier hides a later one.
class Registry {
 public:
  explicit Registry(std::vector<std::filesystem::path> dirs) : dirs_(std::move(dirs)) {}

  struct Entry {
    Manifest manifest;
    std::filesystem::path root;  // which of the registry's directories holds it
  };
  // A model folder whose manifest could not be read.
  struct Problem {
    std::filesystem::path dir;
    std::string message;
  };

  // Every readable model, by name; unreadable ones go to `problems` when given.
  std::vector<Entry> list(std::vector<Problem>* problems = nullptr) const;

  // The model called `name`. Throws Error(not_found) listing the known names.
  Manifest find(const std::string& name) const;

  // The model for a scan: `name` when given; otherwise the one model whose modality and body
  // part match the scan's (an attribute the scan or the model leaves empty matches anything).
  // Throws Error(not_found) when none matches and Error(conflict) listing the candidates when
  // several do.
  Manifest choose(const std::optional<std::string>& name, const std::string& modality,
                  const std::string& body_part) const;

  const std::vector<std::filesystem::path>& dirs() const { return dirs_; }

 private:
  std::vector<std::filesystem::path> dirs_;
};

// True when a model for `modalities`/`body_part` fits a scan of `modality`/`body_part`.
bool model_matches(const Manifest& model, const std::string& modality,
                   const std::string& body_part);

// What `csss model import` is told about a TorchScript file.
struct ImportRequest {
  std::filesystem::path file;
  Manifest manifest;  // every field but dir, weights_file and weights_sha256
};

// Copies the TorchScript file into `models_dir`/<name>/ (0700 folder, 0600 files), records its
// SHA-256 in a new model.yaml, and loads it once through the LibTorch backend to check that it is
// TorchScript with one output per class; that load keeps the prepared model in `cache_dir` (see
// inference/prepared.hpp; none when empty), so that the model's first run is fast too. Nothing is
// left behind in `models_dir` when any step fails. Throws Error(conflict) when `models_dir` has a
// model of that name already.
Manifest import_torchscript(const ImportRequest& request, const std::filesystem::path& models_dir,
                            const std::filesystem::path& cache_dir = {});

}  // namespace csss::inference
