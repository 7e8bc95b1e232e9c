#pragma once

// The batch import of a whole directory (csss batch import): walked recursively without holding
// the file list, each file recognised by content, hashed, skipped when the store holds the same
// bytes, validated and decoded, stored for its patient (from the manifest, else the DICOM
// PatientID; records are created without login accounts), and analysed in batches with the
// prepared model. Bad files are reported with a reason and the batch goes on. Never prints:
// progress goes through a callback.
//
// Threads: one walks the directory; `jobs` workers read, hash, look the bytes up (each on its own
// read-only connection), decode and preprocess; `model_streams` threads run the model, a batch
// each; the calling thread stores and records. Every queue between them is bounded, so memory does
// not grow with the number of files. Files are stored in groups (as many as are ready, up to 16):
// written, made durable with one filesystem sync, then one transaction for their rows, a
// savepoint each; each batch of results is one transaction, committed as soon as the model has
// run. A run killed at any moment is finished by running it again: each file is stored once and
// each result recorded once (per scan and model version).

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/role.hpp"
#include "imaging/image.hpp"

namespace csss::audit {
class AuditLog;
}
namespace csss::scans {
class Scans;
}
namespace csss::inference {
class Registry;
}

namespace csss::pipelines::batch {

// --shard K/N: this process takes the files whose content hash falls in share K of N.
struct Shard {
  int index = 0;
  int count = 1;
};
// "K/N" with 0 <= K < N <= 1024; Error(usage) otherwise.
Shard parse_shard(std::string_view text);
// Whether the file with this SHA-256 (hex) belongs to `shard`.
bool in_shard(std::string_view sha256, const Shard& shard);

// The number of CPUs, at least 1.
int default_jobs();
// How many threads run the model at once, each on its own batch with default_jobs() / streams of
// LibTorch's threads: 2 on a machine with 2 or more CPUs. On 2 cores, two threads that each run
// batches of 4 with one LibTorch thread analyse about half as many images again per second as one
// thread running batches of 16 with two (bench/bench_inference, --streams): the second keeps both
// cores waiting for each other at every layer, and a batch of 4 keeps its activations in cache.
int default_model_streams();

struct ImportOptions {
  std::filesystem::path dir;
  std::optional<std::filesystem::path> manifest;
  std::string model = "auto";  // "auto" (by modality and body part), "none", or a model's name
  bool dry_run = false;        // check everything, store nothing
  Shard shard;
  int batch_size = 4;         // images per model run, on each of the model's threads
  int jobs = default_jobs();  // worker threads that read, hash, decode and preprocess
  int model_streams = default_model_streams();  // threads that run the model, a batch each
  // The bytes of decoded images (at the model's input size) that may wait for the model
  // (setting batch.queue_mb).
  std::size_t queued_bytes = std::size_t{32} << 20;
};

struct Problem {
  std::string file;  // relative to the directory, non-UTF-8 bytes shown as \xNN
  std::string reason;
};

struct ImportSummary {
  std::int64_t found = 0;       // files seen (in this shard)
  std::int64_t imported = 0;    // stored by this run (with --dry-run: would be stored)
  std::int64_t duplicates = 0;  // already in the store
  std::int64_t analysed = 0;    // results recorded by this run
  std::int64_t other_shards = 0;
  std::vector<Problem> rejected;  // files not stored, and unusable manifest lines
  std::vector<Problem> failed;    // stored, but not analysed
  double seconds = 0;
  bool interrupted = false;
  bool dry_run = false;
  double images_per_second() const;
};

// After each file and each batch of results.
struct ImportProgress {
  std::int64_t done = 0;      // files looked at
  std::int64_t analysed = 0;  // results recorded (the model runs behind the files)
  std::int64_t waiting = 0;   // images queued for the model or being run, not yet recorded
  std::int64_t total = -1;    // -1 while unknown
  double seconds = 0;
};
using ProgressFn = std::function<void(const ImportProgress&)>;

// Regular files under `dir` (for the progress bar's total); reads no file.
std::int64_t count_files(const std::filesystem::path& dir);

class Importer {
 public:
  Importer(scans::Scans& scans, audit::AuditLog& audit, const inference::Registry& registry,
           imaging::Limits limits, auth::Principal who)
      : scans_(scans), audit_(audit), registry_(registry), limits_(limits), who_(std::move(who)) {}

  // Runs the import. Throws Error for what stops it from running at all (no such directory, an
  // unreadable manifest, an unknown --model, the role policy); everything about single files
  // goes into the summary. `stop` (set by SIGINT/SIGTERM) ends the run after the current batch,
  // with `interrupted` set. `total` is passed on to the progress callback.
  ImportSummary run(const ImportOptions& options, const ProgressFn& progress,
                    const std::function<bool()>& stop, std::int64_t total = -1);

 private:
  scans::Scans& scans_;
  audit::AuditLog& audit_;
  const inference::Registry& registry_;
  imaging::Limits limits_;
  auth::Principal who_;
};

}  // namespace csss::pipelines::batch
