#include "batch/import.hpp"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <variant>

#include <fmt/format.h>

#include "audit/audit_log.hpp"
#include "auth/policy.hpp"
#include "batch/channel.hpp"
#include "batch/manifest.hpp"
#include "crypto/hash.hpp"
#include "imaging/preprocess.hpp"
#include "inference/backend.hpp"
#include "inference/manifest.hpp"
#include "inference/prepared.hpp"
#include "inference/registry.hpp"
#include "scans/scans.hpp"
#include "store/database.hpp"
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

int default_jobs() {
  return static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
}

int default_model_streams() {
  return std::min(2, default_jobs());
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

namespace {

// One entry of the walk, for a worker.
struct Entry {
  fs::path path;
  fs::path rel;
  std::string problem;  // set for a directory that cannot be read: no file to look at
};

// What a worker made of one file, for the thread that stores and records.
struct Item {
  enum class Kind { problem, rejected, other_shard, duplicate, fresh } kind = Kind::rejected;
  std::string file;                                    // as the summary shows it
  std::string key;                                     // its manifest key
  std::string reason;                                  // problem, rejected
  std::optional<scans::Scan> existing;                 // duplicate
  std::optional<scans::Scans::ImportRequest> request;  // fresh, unless a dry run
  std::string model;                                   // the model to run, "" for none
  std::string model_problem;  // why no model can analyse it (a failure in the summary)
  // The image at the model's input size (fit_compact: gray stays gray), when `model` is set.
  imaging::Image fitted;
};

// A batch of scans for one model, and what the model made of it. One without scans asks the
// model's thread to load the model now, while the files that need it are being decoded.
struct Batch {
  std::string model;
  std::vector<scans::Scan> scans;
  std::vector<std::string> files;
  // fit_compact() to the model's input; normalised by the model's thread.
  std::vector<imaging::Image> images;
  std::vector<std::vector<float>> probabilities;
  std::string error;
};

// Sent by the last worker to finish, after its last item.
struct WorkersDone {};

using Message = std::variant<Item, Batch, WorkersDone>;

// The models of this run: which one analyses a scan (by --model, or by modality and body part
// for --model auto), and their manifests; shared by the threads.
class Models {
 public:
  Models(const inference::Registry& registry, std::string option)
      : registry_(registry), option_(std::move(option)) {}

  // The model's name, or "" and the reason none can analyse such a scan.
  std::pair<std::string, std::string> choose(const std::string& modality,
                                             const std::string& body_part) {
    const std::lock_guard lock(mutex_);
    std::string name = option_;
    if (name == "auto") {
      const auto key = std::make_pair(modality, body_part);
      auto it = chosen_.find(key);
      if (it == chosen_.end()) {
        try {
          it = chosen_.emplace(key, registry_.choose(std::nullopt, modality, body_part).name).first;
        } catch (const Error& e) {
          it = chosen_.emplace(key, std::string("!") + e.what()).first;
        }
      }
      name = it->second;
    }
    if (name.starts_with("!"))
      return {"", name.substr(1)};
    return {name, ""};
  }

  // True the first time it is asked for `name`: the caller has the model loaded ahead.
  bool first_use(const std::string& name) {
    const std::lock_guard lock(mutex_);
    return used_.insert(name).second;
  }

  // The manifest of a chosen model (a reference that stays valid for the run).
  const inference::Manifest& manifest(const std::string& name) {
    const std::lock_guard lock(mutex_);
    auto it = manifests_.find(name);
    if (it == manifests_.end())
      it = manifests_.emplace(name, registry_.find(name)).first;
    return it->second;
  }

 private:
  const inference::Registry& registry_;
  const std::string option_;
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::string> chosen_;  // -> name or "!reason"
  std::map<std::string, inference::Manifest> manifests_;
  std::set<std::string> used_;
};

// Lowers the calling thread's priority to nice 19 (Linux: per thread), once a model is asked for:
// the model's loading keeps a core to itself (at the same priority, the workers took up to half of
// it: perf, samples per 100 ms), the decoding runs while the model's threads wait for their next
// batch or for the store, and it still makes progress on a busy machine. (With more cores than
// model threads, each model thread's LibTorch threads also wait for one another at every layer, so
// a decoding thread that takes a core from one of them holds them all up.) Without it, on 2 cores
// with one LibTorch thread per model thread, the rates were the same (118.5 / 107.0 / 89.4 images/s
// against 113.4 / 107.8 / 97.0, 2000 brain MRIs, alternating). With one model thread of two
// LibTorch threads (1000 brain MRIs, 3 rounds each), the idle scheduling class (SCHED_IDLE) instead
// gave the same rates (112.7-122.7 images/s against 113.9-125.0) and starves the decoding on a busy
// machine (a rerun with nothing to do, its workers in that class, took 119 s for 0.9 s of CPU while
// a training ran).
void yield_to_the_model() {
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
}

std::string upper_trimmed(const std::string& text) {
  std::string out = util::trim(text);
  for (char& c : out)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// An error's reason for the summary, without the file name an imaging error starts with.
std::string reason_of(std::string reason, const std::string& file) {
  if (reason.starts_with(file + ": "))
    reason = reason.substr(file.size() + 2);
  return reason;
}

}  // namespace

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
  if (options.jobs < 1 || options.jobs > 64)
    throw Error(ErrorKind::usage, "the number of jobs must be 1..64");
  if (options.model_streams < 1 || options.model_streams > 64)
    throw Error(ErrorKind::usage, "the number of the model's threads must be 1..64");
  if (options.queued_bytes < (std::size_t{1} << 20))
    throw Error(ErrorKind::usage, "the images waiting for the model need at least 1 MiB");
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
  fs::recursive_directory_iterator walk(options.dir, fs::directory_options::skip_permission_denied,
                                        ec);
  if (ec)
    throw Error(ErrorKind::io, fmt::format("{}: {}", options.dir.string(), ec.message()));

  const imaging::SequentialCodecs sequential;  // the workers are the decoding's threads
  Models models(registry_, options.model);
  const auto jobs = static_cast<std::size_t>(options.jobs);
  const auto batch_size = static_cast<std::size_t>(options.batch_size);
  // Files are stored in groups of kGroup, whatever the batch size (one sync and one transaction
  // each), and the model's results recorded kRecord at a time; what waits is committed at the
  // latest kCommitDelay after it came, and at the end.
  constexpr std::size_t kGroup = 16;
  constexpr std::size_t kRecord = 16;
  constexpr auto kCommitDelay = std::chrono::milliseconds(100);
  // The bytes of fitted images that may wait for the model (options.queued_bytes, 32 MiB by
  // default: some 660 gray images at 224x224, 220 RGB): the decoding goes on for most of the time
  // the model is being loaded (0.7-0.8 s on 2 cores when frozen from its weights, with the other
  // core decoding and storing some 700-1000 brain MRIs meanwhile; less from the prepared-model
  // cache), and the pace of decoding and model evens out. (64 MiB,
  // covering all of it, was not measurably faster: two A/Bs of 5 and 6 rounds disagreed.) A batch
  // counts for at most a share of it, so that each model thread has one waiting however large
  // the model's input.
  const std::size_t queued_bytes = options.queued_bytes;
  Channel<Entry> entries(4 * jobs);
  // Decoded items waiting to be stored, bounded by their bytes (the file's and the model's input;
  // the worker frees the decoded image once fitted): enough for the workers to go on while the
  // storing thread waits for the disk's sync of a group.
  constexpr std::size_t kResultBytes = std::size_t{8} << 20;
  Channel<Message> results(kResultBytes, [](const Message& m) -> std::size_t {
    const Item* item = std::get_if<Item>(&m);
    if (item == nullptr)
      return 0;
    return item->fitted.pixels.size() + (item->request ? item->request->file.bytes.size() : 0);
  });
  const auto streams = static_cast<std::size_t>(options.model_streams);
  Channel<Batch> to_model(queued_bytes, [&](const Batch& b) {
    std::size_t bytes = 0;
    for (const imaging::Image& image : b.images)
      bytes += image.pixels.size();
    return std::min(bytes, queued_bytes / (streams + 1));
  });
  std::atomic<bool> abort{false};
  // Set once a model is asked for: the workers then yield the cores to its loading and its runs.
  // Until then (a rerun with nothing left to analyse loads none) they run at the priority csss
  // was started with.
  std::atomic<bool> model_wanted{false};
  std::atomic<bool> interrupted{false};
  std::vector<Problem> walk_problems;  // the walker's; read once it has been joined

  // The walk: streaming, on its own thread, stopped by `stop`.
  const auto walker = [&] {
    std::error_code wec;
    for (; walk != fs::recursive_directory_iterator(); walk.increment(wec)) {
      if (wec) {
        walk_problems.push_back({"", fmt::format("the walk stopped early: {}", wec.message())});
        break;
      }
      if (stop && stop()) {
        interrupted = true;
        break;
      }
      if (abort)
        break;
      const fs::directory_entry& entry = *walk;
      Entry e{entry.path(), entry.path().lexically_relative(options.dir), ""};
      std::error_code e2;
      if (entry.is_directory(e2)) {
        if (entry.is_symlink(e2) || ::access(entry.path().c_str(), R_OK | X_OK) == 0)
          continue;
        e.problem = "the directory cannot be read";
      }
      if (!entries.push(std::move(e)))
        break;
    }
    entries.close();
  };

  // A worker: reads, hashes, looks the bytes up (on its own connection to the store), decodes,
  // finds the patient and preprocesses for the model.
  const fs::path store_path = scans_.store_path();
  const auto examine = [&](const Entry& entry, store::Database& db) {
    Item item;
    item.file = shown(entry.rel.string());
    item.key = manifest_key(entry.rel);
    if (!entry.problem.empty()) {
      item.kind = Item::Kind::problem;
      item.reason = entry.problem;
      return item;
    }
    if (!util::is_valid_utf8(entry.rel.string())) {
      item.reason = "the file name is not valid UTF-8; rename the file";
      return item;
    }
    std::string bytes;
    try {
      bytes = read_stable(entry.path, limits_.max_file_bytes);
    } catch (const Error& e) {
      item.reason = e.what();
      return item;
    }
    const std::string sha = crypto::sha256_hex(bytes);
    if (!in_shard(sha, options.shard)) {
      item.kind = Item::Kind::other_shard;
      return item;
    }
    const auto as_span = [&] {
      return std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    };
    // The model to run on a scan of this modality and body part, and the input it takes.
    const auto prepare = [&](const std::string& modality, const std::string& body_part,
                             const imaging::Image& image) {
      auto [name, problem] = models.choose(modality, body_part);
      item.model = name;
      item.model_problem = problem;
      if (!name.empty()) {
        if (models.first_use(name)) {
          model_wanted = true;
          to_model.push_always(Batch{name, {}, {}, {}, {}, {}});
        }
        item.fitted = imaging::fit_compact(image, models.manifest(name).input);
      }
    };
    try {
      if (auto existing = scans::find_by_sha256(db, sha)) {
        item.kind = Item::Kind::duplicate;
        item.existing = std::move(existing);
        if (analyse && !options.dry_run) {
          // Decoded only when its result is still missing: a rerun reads, hashes and skips.
          const scans::Scan& s = *item.existing;
          const auto [name, problem] = models.choose(s.modality, s.body_part);
          if (name.empty()) {
            item.model_problem = problem;
          } else if (!scans::has_analysis(db, s.id, name, models.manifest(name).version)) {
            prepare(s.modality, s.body_part, imaging::decode(as_span(), limits_, item.file).image);
          }
        }
        return item;
      }
      imaging::Decoded decoded = imaging::decode(as_span(), limits_, item.file);
      scans::Scans::ImportPatient patient;
      if (const auto row = manifest.rows.find(item.key); row != manifest.rows.end()) {
        patient = {row->second.patient_id, row->second.name, row->second.birth_date};
      } else if (decoded.dicom && !decoded.dicom->patient_id.empty()) {
        patient.external_id = decoded.dicom->patient_id;
      } else {
        item.reason = "no patient: not in the manifest, and no DICOM PatientID in the file";
        return item;
      }
      item.kind = Item::Kind::fresh;
      if (options.dry_run)
        return item;
      if (analyse) {
        const std::string modality = decoded.dicom ? upper_trimmed(decoded.dicom->modality) : "";
        const std::string body = decoded.dicom ? upper_trimmed(decoded.dicom->body_part) : "";
        prepare(modality, body, decoded.image);
      }
      // Only its size is stored with the scan: the pixels go now, not after the group's sync.
      // (Swapped out: assigning {} would keep the buffer.)
      std::vector<std::uint8_t>().swap(decoded.image.pixels);
      item.request = scans::Scans::ImportRequest{
          scans::Scans::ImportedFile{std::move(bytes), sha, std::move(decoded), item.file},
          std::move(patient)};
    } catch (const Error& e) {
      item.kind = Item::Kind::rejected;
      item.reason = reason_of(e.what(), item.file);
      item.request.reset();
    }
    return item;
  };
  // A thread that fails (anything but a file's own problem, which is reported in the summary)
  // stops the run: the first failure is thrown once every thread has ended.
  std::exception_ptr failure;
  std::mutex failure_mutex;
  const auto guarded = [&](auto body) {
    return [&, body] {
      try {
        body();
      } catch (...) {
        {
          const std::lock_guard lock(failure_mutex);
          if (!failure)
            failure = std::current_exception();
        }
        abort = true;
        entries.close();
        results.close();
        to_model.close();
      }
    };
  };
  std::atomic<std::size_t> workers_left{jobs};
  const auto worker = [&] {
    store::Database db = store::Database::open(store_path, store::OpenMode::existing);
    bool yielded = false;
    while (auto entry = entries.pop()) {
      if (!yielded && model_wanted) {
        yield_to_the_model();
        yielded = true;
      }
      if (abort || !results.push(examine(*entry, db)))
        break;
    }
    if (--workers_left == 0)
      results.push_always(WorkersDone{});
  };

  // The model's threads (model_streams of them, see ImportOptions): each runs one batch at a
  // time, with its share of the cores as LibTorch's threads. A model is loaded once, by the first
  // thread that needs it, and shared. The fitted 8-bit images are normalised here, into one buffer
  // per thread used for every batch (a quarter of the memory in the queues, and no large
  // allocation per file).
  std::mutex nets_mutex;
  std::map<std::string, std::unique_ptr<inference::Model>> nets;
  const auto load = [&](const std::string& name) -> inference::Model& {
    const std::lock_guard lock(nets_mutex);  // a thread that needs it too waits for the load
    auto& net = nets[name];
    if (!net) {
      net = inference::load_model(inference::torch_backend(), models.manifest(name),
                                  inference::prepared_cache_dir(scans_.data_dir()));
    }
    return *net;
  };
  const int model_threads = std::max(1, default_jobs() / options.model_streams);
  const auto inference = [&] {
    bool threads_set = false;  // LibTorch is loaded only when a model is
    const auto load_here = [&](const std::string& name) -> inference::Model& {
      if (!threads_set) {
        inference::torch_backend().set_threads(model_threads);
        threads_set = true;
      }
      return load(name);
    };
    std::vector<float> buffer;
    while (auto batch = to_model.pop()) {
      if (batch->scans.empty()) {
        // Loading takes a second or two; the first file that needs the model asks for it, so a
        // run with nothing to analyse never loads LibTorch. A model that cannot be loaded fails
        // each batch sent to it, with the reason.
        try {
          (void)load_here(batch->model);
        } catch (const std::exception&) {
        }
        continue;
      }
      try {
        const inference::Manifest& m = models.manifest(batch->model);
        inference::Model& net = load_here(batch->model);
        const auto per = static_cast<std::size_t>(m.input.channels) *
                         static_cast<std::size_t>(m.input.size) *
                         static_cast<std::size_t>(m.input.size);
        buffer.resize(per * batch->images.size());
        for (std::size_t i = 0; i < batch->images.size(); ++i)
          imaging::normalise_into(batch->images[i], m.input,
                                  std::span(buffer).subspan(i * per, per));
        batch->probabilities = net.predict(std::span(buffer.data(), per * batch->images.size()),
                                           static_cast<int>(batch->scans.size()));
      } catch (const Error& e) {
        batch->error = fmt::format("model {}: {}", batch->model, e.what());
      } catch (const std::exception& e) {
        batch->error = fmt::format("model {}: {}", batch->model, e.what());
      }
      batch->images = {};
      if (!results.push_always(std::move(*batch)))
        break;
    }
  };

  std::vector<std::thread> threads;
  // Stops and joins every thread: at the end of the run (when all is done, nothing is cut short)
  // and, through `joiner`, when this thread leaves by an exception.
  const auto finish_threads = [&] {
    abort = true;
    entries.close();
    results.close();
    to_model.close();
    for (std::thread& t : threads) {
      if (t.joinable())
        t.join();
    }
  };
  struct Joiner {
    const decltype(finish_threads)& finish;
    ~Joiner() { finish(); }
  } joiner{finish_threads};
  threads.emplace_back(guarded(walker));
  for (std::size_t i = 0; i < jobs; ++i)
    threads.emplace_back(guarded(worker));
  if (analyse && !options.dry_run) {
    for (std::size_t i = 0; i < streams; ++i)
      threads.emplace_back(guarded(inference));
  }

  // This thread stores groups of files, hands full batches to the model and records results.
  std::set<std::string> seen;  // manifest keys met on the walk (at most the manifest's size)
  std::map<std::string, Batch> pending;  // per model, the batch being filled
  std::size_t in_flight = 0;             // batches with the model
  std::int64_t waiting = 0;              // images in a batch, not yet recorded
  std::vector<scans::Scans::ImportRequest> group;
  std::vector<Item> group_items;  // the rest of each request's item
  std::int64_t done = 0;

  const auto send = [&](Batch& b) {
    if (b.scans.empty())
      return;
    ++in_flight;
    Batch full = std::move(b);
    b = Batch{full.model, {}, {}, {}, {}, {}};
    b.images.reserve(batch_size);
    if (!to_model.push(std::move(full)))
      throw Error(ErrorKind::internal, "the model's thread stopped");
  };
  const auto queue = [&](const std::string& model, const scans::Scan& scan, imaging::Image& fitted,
                         const std::string& file) {
    Batch& b = pending[model];
    ++waiting;
    b.model = model;
    b.images.push_back(std::move(fitted));
    b.scans.push_back(scan);
    b.files.push_back(file);
    if (b.scans.size() >= batch_size)
      send(b);
  };
  const auto store_group = [&] {
    if (group.empty())
      return;
    std::vector<scans::Scans::ImportResult> stored;
    try {
      stored = scans_.import(who_, group);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::permission)
        throw;
      for (const Item& item : group_items)
        sum.rejected.push_back({item.file, e.what()});
      group.clear();
      group_items.clear();
      return;
    }
    for (std::size_t i = 0; i < stored.size(); ++i) {
      Item& item = group_items[i];
      if (!stored[i].outcome) {
        sum.rejected.push_back({item.file, reason_of(stored[i].error, item.file)});
        continue;
      }
      const scans::UploadOutcome& out = *stored[i].outcome;
      ++(out.duplicate ? sum.duplicates : sum.imported);
      if (!item.model_problem.empty()) {
        sum.failed.push_back({item.file, item.model_problem});
      } else if (!item.model.empty()) {
        // Stored meanwhile by another process, which may have analysed it too.
        const bool has =
            out.duplicate && scans::has_analysis(scans_.database(), out.scan.id, item.model,
                                                 models.manifest(item.model).version);
        if (!has)
          queue(item.model, out.scan, item.fitted, item.file);
      }
    }
    group.clear();
    group_items.clear();
  };
  const auto report = [&] {
    if (progress)
      progress({done, sum.analysed, waiting, total, elapsed()});
  };
  // The model's results are recorded together, up to kRecord images in one transaction (or the
  // ones that are there once kCommitDelay has passed since the oldest, or at the end).
  std::vector<Batch> finished;
  std::size_t finished_images = 0;
  const auto record_finished = [&] {
    // One call per model, in the order the batches came back.
    std::map<std::string, std::vector<Batch*>> by_model;
    for (Batch& b : finished) {
      --in_flight;
      waiting -= static_cast<std::int64_t>(b.scans.size());
      if (!b.error.empty()) {
        for (const std::string& f : b.files)
          sum.failed.push_back({f, b.error});
      } else {
        by_model[b.model].push_back(&b);
      }
    }
    for (auto& [name, batches] : by_model) {
      std::vector<scans::Scan> scans;
      std::vector<std::vector<float>> probabilities;
      std::vector<std::string> files;
      for (Batch* b : batches) {
        std::move(b->scans.begin(), b->scans.end(), std::back_inserter(scans));
        std::move(b->probabilities.begin(), b->probabilities.end(),
                  std::back_inserter(probabilities));
        std::move(b->files.begin(), b->files.end(), std::back_inserter(files));
      }
      try {
        const auto recorded =
            scans_.record_analyses(who_, models.manifest(name), scans, probabilities);
        for (std::size_t i = 0; i < recorded.size(); ++i) {
          if (recorded[i].analysis)
            ++sum.analysed;
          else if (!recorded[i].error.empty())
            sum.failed.push_back({files[i], recorded[i].error});
        }
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::permission)
          throw;
        for (const std::string& f : files)
          sum.failed.push_back({f, e.what()});
      }
    }
    finished.clear();
    finished_images = 0;
  };

  // Waiting work is committed when there is enough of it, or kCommitDelay after it came.
  using Clock = std::chrono::steady_clock;
  constexpr auto kNever = Clock::time_point::max();
  auto group_due = kNever;     // when the group waiting to be stored must be
  auto finished_due = kNever;  // when the results waiting to be recorded must be

  // A file's item: counted, reported, queued for the model or added to the group to store.
  const auto take = [&](Item& item) {
    if (item.kind != Item::Kind::problem) {
      ++done;
      if (manifest.rows.count(item.key) != 0)
        seen.insert(item.key);
    }
    switch (item.kind) {
      case Item::Kind::problem:
        sum.rejected.push_back({item.file, item.reason});
        break;
      case Item::Kind::rejected:
        ++sum.found;
        sum.rejected.push_back({item.file, item.reason});
        break;
      case Item::Kind::other_shard:
        ++sum.other_shards;
        break;
      case Item::Kind::duplicate:
        ++sum.found;
        ++sum.duplicates;
        if (!item.model_problem.empty())
          sum.failed.push_back({item.file, item.model_problem});
        else if (!item.model.empty())
          queue(item.model, *item.existing, item.fitted, item.file);
        break;
      case Item::Kind::fresh:
        ++sum.found;
        if (!item.request) {  // a dry run
          ++sum.imported;
          break;
        }
        if (group.empty())
          group_due = Clock::now() + kCommitDelay;
        group.push_back(std::move(*item.request));
        item.request.reset();
        group_items.push_back(std::move(item));
        break;
    }
  };

  bool workers_done = false;
  while (!workers_done || in_flight > 0) {
    auto message = results.pop_until(std::min(group_due, finished_due));
    if (!message && results.closed())
      break;
    if (message) {
      if (auto* b = std::get_if<Batch>(&*message)) {
        if (finished.empty())
          finished_due = Clock::now() + kCommitDelay;
        finished_images += b->scans.size();
        finished.push_back(std::move(*b));
      } else if (std::holds_alternative<WorkersDone>(*message)) {
        workers_done = true;
      } else {
        take(std::get<Item>(*message));
      }
    }
    const auto now = Clock::now();
    if (group.size() >= kGroup || workers_done || now >= group_due) {
      store_group();
      group_due = kNever;
    }
    if (workers_done) {
      for (auto& [name, b] : pending)
        send(b);
    }
    if (finished_images >= kRecord || (workers_done && in_flight == finished.size()) ||
        now >= finished_due) {
      record_finished();
      finished_due = kNever;
    }
    report();
  }
  finish_threads();
  if (failure)
    std::rethrow_exception(failure);
  sum.interrupted = interrupted;
  for (Problem& p : walk_problems)
    sum.rejected.push_back(std::move(p));
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
