#include "inference/registry.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "crypto/hash.hpp"
#include "inference/prepared.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace csss::inference {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxModelBytes = std::size_t{2} << 30;

std::string names_of(const std::vector<Registry::Entry>& entries) {
  std::vector<std::string> names;
  for (const auto& e : entries)
    names.push_back(e.manifest.name);
  return names.empty() ? "none" : util::join(names, ", ");
}

}  // namespace

bool model_matches(const Manifest& model, const std::string& modality,
                   const std::string& body_part) {
  const bool modality_ok =
      modality.empty() || model.modalities.empty() ||
      std::any_of(model.modalities.begin(), model.modalities.end(), [&](const std::string& m) {
        return util::to_lower(m) == util::to_lower(modality);
      });
  const bool body_ok = body_part.empty() || model.body_part.empty() ||
                       util::to_lower(model.body_part) == util::to_lower(body_part);
  return modality_ok && body_ok;
}

std::vector<Registry::Entry> Registry::list(std::vector<Problem>* problems) const {
  std::vector<Entry> out;
  std::set<std::string> seen;
  for (const fs::path& root : dirs_) {
    std::error_code ec;
    if (!fs::is_directory(root, ec))
      continue;
    std::vector<fs::path> folders;
    for (const auto& item : fs::directory_iterator(root, ec)) {
      if (item.is_directory(ec) && fs::exists(item.path() / "model.yaml", ec)) {
        folders.push_back(item.path());
      }
    }
    std::sort(folders.begin(), folders.end());
    for (const fs::path& dir : folders) {
      try {
        Manifest m = load_manifest(dir);
        if (seen.insert(m.name).second)
          out.push_back({std::move(m), root});
      } catch (const Error& e) {
        if (problems != nullptr)
          problems->push_back({dir, e.what()});
      }
    }
  }
  return out;
}

Manifest Registry::find(const std::string& name) const {
  const auto entries = list();
  for (const auto& e : entries) {
    if (e.manifest.name == name)
      return e.manifest;
  }
  throw Error(ErrorKind::not_found,
              fmt::format("no model named '{}' (models: {})", name, names_of(entries)));
}

Manifest Registry::choose(const std::optional<std::string>& name, const std::string& modality,
                          const std::string& body_part) const {
  if (name)
    return find(*name);
  const auto entries = list();
  std::vector<Entry> candidates;
  for (const auto& e : entries) {
    if (model_matches(e.manifest, modality, body_part))
      candidates.push_back(e);
  }
  const std::string scan_kind =
      fmt::format("modality {}, body part {}", modality.empty() ? "unknown" : modality,
                  body_part.empty() ? "unknown" : body_part);
  if (candidates.empty()) {
    throw Error(ErrorKind::not_found,
                fmt::format("no model fits this scan ({}); models: {}; choose one with --model",
                            scan_kind, names_of(entries)));
  }
  if (candidates.size() > 1) {
    throw Error(ErrorKind::conflict,
                fmt::format("several models fit this scan ({}): {}; choose one with --model",
                            scan_kind, names_of(candidates)));
  }
  return candidates.front().manifest;
}

Manifest import_torchscript(const ImportRequest& request, const fs::path& models_dir,
                            const fs::path& cache_dir) {
  Manifest m = request.manifest;
  check_model_name(m.name);
  m.architecture = Architecture::torchscript;
  m.weights_file = "model.pt";
  const std::string bytes = util::read_file(request.file, kMaxModelBytes);
  if (bytes.empty()) {
    throw Error(ErrorKind::invalid_input, fmt::format("{} is empty", request.file.string()));
  }
  m.weights_sha256 = crypto::sha256_hex(bytes);

  util::ensure_private_dir(models_dir);
  m.dir = models_dir / m.name;
  std::error_code ec;
  if (fs::exists(m.dir, ec)) {
    throw Error(ErrorKind::conflict, fmt::format("a model named '{}' exists already in {}", m.name,
                                                 models_dir.string()));
  }
  // Build the folder under a temporary name and rename it into place only once the model has
  // loaded, so that a failed import leaves nothing behind.
  const fs::path final_dir = m.dir;
  m.dir = models_dir / fmt::format(".import-{}", m.name);
  fs::remove_all(m.dir, ec);
  try {
    util::ensure_private_dir(m.dir);
    util::write_private_file(m.weights_path(), bytes);
    save_manifest(m);
    try {
      (void)load_model(torch_backend(), m.spec(), m.weights_sha256, cache_dir);
    } catch (const Error& e) {
      // The backend names the copy it loaded; the user knows the file they gave.
      std::string message = e.what();
      const std::string copy = m.weights_path().string();
      for (auto pos = message.find(copy); pos != std::string::npos; pos = message.find(copy)) {
        message.replace(pos, copy.size(), request.file.string());
      }
      throw Error(e.kind(), message);
    }
    fs::rename(m.dir, final_dir);
  } catch (...) {
    fs::remove_all(m.dir, ec);
    throw;
  }
  m.dir = final_dir;
  return m;
}

}  // namespace csss::inference
