#include "inference/prepared.hpp"

#include <algorithm>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "crypto/hash.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace csss::inference {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kHexLength = 64;
constexpr std::string_view kSuffix = ".pt";
constexpr std::size_t kMaxPreparedBytes = std::size_t{2} << 30;  // as for weights

bool is_sha256_hex(std::string_view text) {
  return text.size() == kHexLength && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// The cached files of the weights `weights_sha256`, "<weights_sha256>-<file's SHA-256>.pt", in
// name order.
std::vector<fs::path> cached_files(const fs::path& dir, const std::string& weights_sha256) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() == 2 * kHexLength + 1 + kSuffix.size() &&
        name.starts_with(weights_sha256 + "-") && name.ends_with(kSuffix) &&
        is_sha256_hex(std::string_view(name).substr(kHexLength + 1, kHexLength))) {
      out.push_back(it->path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string content_hash_in_name(const fs::path& file) {
  return file.filename().string().substr(kHexLength + 1, kHexLength);
}

}  // namespace

fs::path prepared_cache_dir(const fs::path& data_dir) {
  return data_dir / "model-cache";
}

std::unique_ptr<Model> load_model(Backend& backend, const Manifest& manifest,
                                  const fs::path& cache_dir) {
  verify_weights(manifest);
  return load_model(backend, manifest.spec(), manifest.weights_sha256, cache_dir);
}

std::unique_ptr<Model> load_model(Backend& backend, ModelSpec spec,
                                  const std::string& weights_sha256, const fs::path& cache_dir) {
  if (spec.architecture != Architecture::torchscript || cache_dir.empty() ||
      !is_sha256_hex(weights_sha256)) {
    return backend.load(spec);
  }
  spec.weights_sha256 = weights_sha256;
  spec.keep_prepared = true;
  for (const fs::path& file : cached_files(cache_dir, weights_sha256)) {
    std::string bytes;
    try {
      bytes = util::read_file(file, kMaxPreparedBytes);
    } catch (const Error&) {
      continue;
    }
    if (crypto::sha256_hex(bytes) == content_hash_in_name(file)) {
      spec.prepared = std::move(bytes);
      break;
    }
    std::error_code ec;
    fs::remove(file, ec);  // damaged
  }
  std::unique_ptr<Model> model = backend.load(spec);
  // Made only when the backend froze the weights: no usable file, or one it did not accept.
  const std::string made = model->take_prepared();
  if (!made.empty()) {
    try {
      util::ensure_private_dir(cache_dir);
      const fs::path file =
          cache_dir / (weights_sha256 + "-" + crypto::sha256_hex(made) + std::string(kSuffix));
      util::write_private_file(file, made);
      for (const fs::path& old : cached_files(cache_dir, weights_sha256)) {
        std::error_code ec;
        if (old != file)
          fs::remove(old, ec);
      }
    } catch (const Error&) {  // NOLINT(bugprone-empty-catch): the model runs without the cache
    }
  }
  return model;
}

}  // namespace csss::inference
