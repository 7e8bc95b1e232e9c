#include "batch/import.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "audit/audit_log.hpp"
#include "auth/policy.hpp"
#include "batch/manifest.hpp"
#include "crypto/hash.hpp"
#include "imaging/preprocess.hpp"
#include "inference/backend.hpp"
#include "inference/manifest.hpp"
#include "inference/registry.hpp"
#include "scans/scans.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

namespace csss::pipelines::batch {

namespace fs = std::filesystem;

namespace {

// A name for the summary: valid UTF-8, other bytes as \xNN.
std::string shown(const std::string& raw) {
  if (util::is_valid_utf8(raw) && !util::has_control_chars(raw))
    return raw;
  std::string out;
  for (const char c : raw) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F)
      out.push_back(c);
    else
      out += fmt::format("\\x{:02x}", u);
  }
  return out;
}

struct FileStamp {
  off_t size = 0;
  timespec mtime{};
  ino_t inode = 0;
  bool operator==(const FileStamp& o) const {
    return size == o.size && mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec &&
           inode == o.inode;
  }
};

// Reads a regular file, refusing one that is larger than `max_bytes` or changes while it is read.
// Throws Error(invalid_input) with the reason.
std::string read_stable(const fs::path& path, std::uint64_t max_bytes) {
  struct stat before {};
  if (::stat(path.c_str(), &before) != 0) {
    const int e = errno;
    throw Error(ErrorKind::invalid_input,
                e == ELOOP ? std::string("a symbolic link loop")
                           : fmt::format("cannot be read: {}", std::strerror(e)));
  }
  if (!S_ISREG(before.st_mode))
    throw Error(ErrorKind::invalid_input, "not a regular file");
  if (before.st_size == 0)
    throw Error(ErrorKind::invalid_input, "the file is empty");
  if (static_cast<std::uint64_t>(before.st_size) > max_bytes) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("{} bytes, more than the limit of {} MiB (scan.max_file_mb)",
                            before.st_size, max_bytes >> 20));
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr)
    throw Error(ErrorKind::invalid_input, fmt::format("cannot be read: {}", std::strerror(errno)));
  std::string bytes(static_cast<std::size_t>(before.st_size), '\0');
  const std::size_t got = std::fread(bytes.data(), 1, bytes.size(), f);
  const bool more = std::fgetc(f) != EOF;
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  struct stat after {};
  const FileStamp a{before.st_size, before.st_mtim, before.st_ino};
  const bool same = ::stat(path.c_str(), &after) == 0 &&
                    a == FileStamp{after.st_size, after.st_mtim, after.st_ino};
  if (failed)
    throw Error(ErrorKind::invalid_input, "cannot be read: an I/O error");
  if (got != bytes.size() || more || !same)
    throw Error(ErrorKind::invalid_input, "the file changed while it was being read");
  return bytes;
}

// One model's batch of scans waiting for inference.
struct Pending {
  inference::Manifest manifest;
  std::unique_ptr<inference::Model> net;
  std::vector<float> inputs;
  std::vector<scans::Scan> scans;
  std::vector<std::string> files;
};

}  // namespace

Shard parse_shard(std::string_view text) {
  Shard s;
  const auto slash = text.find('/');
  try {
    if (slash == std::string_view::npos)
      throw std::invalid_argument("no slash");
    std::size_t used = 0;
    const std::string k(text.substr(0, slash));
    const std::string n(text.substr(slash + 1));
    s.index = std::stoi(k, &used);
    if (used != k.size())
      throw std::invalid_argument("k");
    s.count = std::stoi(n, &used);
    if (used != n.size())
      throw std::invalid_argument("n");
  } catch (const std::exception&) {
    throw Error(ErrorKind::usage,
                fmt::format("--shard '{}': expected K/N, such as 0/2 and 1/2", text));
  }
  if (s.count < 1 || s.count > 1024 || s.index < 0 || s.index >= s.count) {
    throw Error(ErrorKind::usage, fmt::format("--shard '{}': K/N needs 0 <= K < N <= 1024", text));
  }
  return s;
}

bool in_shard(std::string_view sha256, const Shard& shard) {
  if (shard.count == 1)
    return true;
  const auto prefix =
      static_cast<std::uint32_t>(std::stoul(std::string(sha256.substr(0, 8)), nullptr, 16));
  return static_cast<int>(prefix % static_cast<std::uint32_t>(shard.count)) == shard.index;
}

double ImportSummary::images_per_second() const {
  const std::int64_t done = imported + duplicates;
  return seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
}

std::int64_t count_files(const fs::path& dir) {
  std::int64_t n = 0;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code e2;
    if (it->is_regular_file(e2))
      ++n;
  }
  return n;
}

ImportSummary Importer::run(const ImportOptions& options, const ProgressFn& progress,
                            const std::function<bool()>& stop, std::int64_t total) {
  auth::require(who_, auth::Action::import_scans, "batch:" + options.dir.string(), audit_);
  std::error_code ec;
  if (!fs::is_directory(options.dir, ec)) {
    throw Error(fs::exists(options.dir, ec) ? ErrorKind::invalid_input : ErrorKind::not_found,
                fmt::format("{}: not a directory", options.dir.string()));
  }
  if (options.batch_size < 1 || options.batch_size > 256)
    throw Error(ErrorKind::usage, "the batch size must be 1..256");
  const bool analyse = options.model != "none";
  if (analyse && options.model != "auto")
    (void)registry_.find(options.model);  // an unknown name stops the run before any file

  Manifest manifest;
  if (options.manifest)
    manifest = read_manifest(*options.manifest);

  ImportSummary sum;
  sum.dry_run = options.dry_run;
  for (const std::string& p : manifest.problems)
    sum.rejected.push_back({options.manifest->filename().string(), p});
  const auto started = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  std::set<std::string> seen;  // manifest keys met on the walk (at most the manifest's size)

  // Model choice per modality and body part, and the batches waiting for each model.
  std::map<std::pair<std::string, std::string>, std::string> chosen;  // -> name or "!reason"
  std::map<std::string, Pending> pending;

  const auto flush = [&](Pending& p) {
    if (p.scans.empty())
      return;
    try {
      if (!p.net) {
        inference::verify_weights(p.manifest);
        p.net = inference::torch_backend().load(p.manifest.spec());
      }
      const auto probs = p.net->predict(p.inputs, static_cast<int>(p.scans.size()));
      for (std::size_t i = 0; i < p.scans.size(); ++i) {
        try {
          if (scans_.record_analysis(who_, p.scans[i], p.manifest, probs.at(i)))
            ++sum.analysed;
        } catch (const Error& e) {
          sum.failed.push_back({p.files[i], e.what()});
        }
      }
    } catch (const Error& e) {
      for (const std::string& f : p.files)
        sum.failed.push_back({f, fmt::format("model {}: {}", p.manifest.name, e.what())});
    }
    p.inputs.clear();
    p.scans.clear();
    p.files.clear();
  };

  // The batch of the model that analyses `scan`; nullptr, with the reason recorded, when none
  // can (--model auto found no single model for its modality and body part).
  const auto model_for = [&](const scans::Scan& scan, const std::string& file) -> Pending* {
    std::string name = options.model;
    if (name == "auto") {
      const auto key = std::make_pair(scan.modality, scan.body_part);
      auto it = chosen.find(key);
      if (it == chosen.end()) {
        try {
          it = chosen
                   .emplace(key, registry_.choose(std::nullopt, scan.modality, scan.body_part).name)
                   .first;
        } catch (const Error& e) {
          it = chosen.emplace(key, std::string("!") + e.what()).first;
        }
      }
      name = it->second;
    }
    if (name.starts_with("!")) {
      sum.failed.push_back({file, name.substr(1)});
      return nullptr;
    }
    auto it = pending.find(name);
    if (it == pending.end()) {
      Pending p;
      p.manifest = registry_.find(name);
      it = pending.emplace(name, std::move(p)).first;
    }
    return &it->second;
  };
  // Whether an earlier (interrupted) run recorded this model version's result for `scan`.
  const auto analysed_by = [&](const scans::Scan& scan, const Pending& p) {
    for (const scans::Analysis& a : scans_.analyses(scan)) {
      if (a.model_name == p.manifest.name && a.model_version == p.manifest.version)
        return true;
    }
    return false;
  };
  // Queues a stored scan for its model; `image` is the decoded scan.
  const auto queue = [&](Pending& p, const scans::Scan& scan, const imaging::Image& image,
                         const std::string& file) {
    const std::vector<float> input = imaging::preprocess(image, p.manifest.input);
    p.inputs.insert(p.inputs.end(), input.begin(), input.end());
    p.scans.push_back(scan);
    p.files.push_back(file);
    if (static_cast<int>(p.scans.size()) >= options.batch_size)
      flush(p);
  };

  fs::recursive_directory_iterator it(options.dir, fs::directory_options::skip_permission_denied,
                                      ec);
  if (ec)
    throw Error(ErrorKind::io, fmt::format("{}: {}", options.dir.string(), ec.message()));
  std::int64_t done = 0;
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) {
      sum.rejected.push_back({"", fmt::format("the walk stopped early: {}", ec.message())});
      break;
    }
    if (stop && stop()) {
      sum.interrupted = true;
      break;
    }
    const fs::directory_entry& entry = *it;
    const fs::path rel = entry.path().lexically_relative(options.dir);
    const std::string file = shown(rel.string());
    std::error_code e2;
    if (entry.is_directory(e2)) {
      if (!entry.is_symlink(e2) && ::access(entry.path().c_str(), R_OK | X_OK) != 0)
        sum.rejected.push_back({file, "the directory cannot be read"});
      continue;
    }
    ++done;
    if (progress)
      progress({done, total, elapsed()});
    const std::string key = manifest_key(rel);
    if (manifest.rows.count(key) != 0)
      seen.insert(key);
    if (!util::is_valid_utf8(rel.string())) {
      ++sum.found;
      sum.rejected.push_back({file, "the file name is not valid UTF-8; rename the file"});
      continue;
    }
    std::string bytes;
    try {
      bytes = read_stable(entry.path(), limits_.max_file_bytes);
    } catch (const Error& e) {
      ++sum.found;
      sum.rejected.push_back({file, e.what()});
      continue;
    }
    const std::string sha = crypto::sha256_hex(bytes);
    if (!in_shard(sha, options.shard)) {
      ++sum.other_shards;
      continue;
    }
    ++sum.found;
    try {
      if (auto existing = scans_.find_by_sha256(sha)) {
        ++sum.duplicates;
        if (analyse && !options.dry_run) {
          // Decoded only when its result is still missing: a rerun reads, hashes and skips.
          Pending* p = model_for(*existing, file);
          if (p != nullptr && !analysed_by(*existing, *p)) {
            const imaging::Decoded decoded = imaging::decode(
                std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()),
                limits_, file);
            queue(*p, *existing, decoded.image, file);
          }
        }
        continue;
      }
      imaging::Decoded decoded = imaging::decode(
          std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), limits_,
          file);
      scans::Scans::ImportedFile imported{std::move(bytes), sha, std::move(decoded), file};
      scans::Scans::ImportPatient patient;
      if (const auto row = manifest.rows.find(key); row != manifest.rows.end()) {
        patient = {row->second.patient_id, row->second.name, row->second.birth_date};
      } else if (imported.decoded.dicom && !imported.decoded.dicom->patient_id.empty()) {
        patient.external_id = imported.decoded.dicom->patient_id;
      } else {
        sum.rejected.push_back(
            {file, "no patient: not in the manifest, and no DICOM PatientID in the file"});
        continue;
      }
      if (options.dry_run) {
        ++sum.imported;
        continue;
      }
      const scans::UploadOutcome out = scans_.import(who_, imported, patient);
      if (out.duplicate) {
        ++sum.duplicates;
      } else {
        ++sum.imported;
      }
      if (analyse) {
        if (Pending* p = model_for(out.scan, file);
            p != nullptr && (!out.duplicate || !analysed_by(out.scan, *p)))
          queue(*p, out.scan, imported.decoded.image, file);
      }
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::permission)
        throw;
      std::string reason = e.what();
      // imaging names the file first ("a/b.png: truncated ..."): the summary names it already.
      if (reason.starts_with(file + ": "))
        reason = reason.substr(file.size() + 2);
      sum.rejected.push_back({file, reason});
    }
  }
  for (auto& [name, p] : pending)
    flush(p);
  for (const auto& [key, row] : manifest.rows) {
    if (seen.count(key) == 0 && !sum.interrupted) {
      sum.rejected.push_back({row.file, fmt::format("manifest line {}: no such file in {}",
                                                    row.line, options.dir.string())});
    }
  }
  sum.seconds = elapsed();
  return sum;
}

}  // namespace csss::pipelines::batch
