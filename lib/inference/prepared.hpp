#pragma once

#include <filesystem>
#include <memory>

#include "inference/backend.hpp"
#include "inference/manifest.hpp"

namespace csss::inference {

// The prepared-model cache. Loading a TorchScript model means reading its TorchScript and freezing
// it (0.61 s for a 224x224 MobileNetV2 on 2 cores), then optimising the frozen model for inference
// (0.05 s). The frozen model is kept in `cache_dir` after the first load, as
// <weights SHA-256>-<its own SHA-256>.pt (0600, in a 0700 folder), and read on later loads instead
// (0.02 s); a file whose bytes do not match its name is deleted. The backend runs a cached model
// only if it was made by the same LibTorch from the same weights for the same manifest fields
// (classes, input, layers); otherwise it freezes the weights again and the new file replaces the
// old one. Grad-CAM then loads the TorchScript weights on its first use. Native MobileNetV2
// models load as they are (0.05-0.1 s). The folder may be deleted at any time: the next load
// rebuilds what it needs.
//
// `<data-dir>/model-cache`, where the commands keep it.
std::filesystem::path prepared_cache_dir(const std::filesystem::path& data_dir);

// Loads `manifest`'s model through `backend`, once its weights match the manifest (else
// Error(integrity), see verify_weights), through the cache in `cache_dir` (none when empty). A
// cache that cannot be written is left as it is: the model is loaded all the same.
std::unique_ptr<Model> load_model(Backend& backend, const Manifest& manifest,
                                  const std::filesystem::path& cache_dir);

// The same for a model whose weights file, of SHA-256 `weights_sha256`, the caller has checked.
std::unique_ptr<Model> load_model(Backend& backend, ModelSpec spec,
                                  const std::string& weights_sha256,
                                  const std::filesystem::path& cache_dir);

}  // namespace csss::inference
