#include "train_eval/dataset.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "crypto/hash.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace csss::pipelines {

namespace fs = std::filesystem;

namespace {

const std::set<std::string> kSplitNames = {"train", "val", "test"};

bool hidden(const fs::path& p) {
  const std::string name = p.filename().string();
  return name.empty() || name.front() == '.';
}

// Sorted subdirectories (non-hidden) of `dir`.
std::vector<std::string> subdirectories(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!hidden(it->path()) && it->is_directory(ec))
      out.push_back(it->path().filename().string());
  }
  if (ec)
    throw Error(ErrorKind::io, fmt::format("cannot list {}: {}", dir.string(), ec.message()));
  std::sort(out.begin(), out.end());
  return out;
}

// Sorted non-hidden regular files under `dir` (recursively), relative to `root`.
std::vector<fs::path> files_under(const fs::path& dir, const fs::path& root) {
  std::vector<fs::path> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  for (fs::recursive_directory_iterator end; !ec && it != end; it.increment(ec)) {
    if (hidden(it->path())) {
      if (it->is_directory(ec))
        it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec))
      out.push_back(fs::relative(it->path(), root));
  }
  if (ec)
    throw Error(ErrorKind::io, fmt::format("cannot list {}: {}", dir.string(), ec.message()));
  std::sort(out.begin(), out.end());
  return out;
}

bool is_split_layout(const std::vector<std::string>& dirs) {
  return !dirs.empty() && std::all_of(dirs.begin(), dirs.end(),
                                      [](const std::string& d) { return kSplitNames.count(d); });
}

void require_dir(const fs::path& dir, std::string_view what) {
  std::error_code ec;
  if (!fs::exists(dir, ec))
    throw Error(ErrorKind::not_found, fmt::format("{} {} does not exist", what, dir.string()));
  if (!fs::is_directory(dir, ec))
    throw Error(ErrorKind::invalid_input,
                fmt::format("{} {} is not a directory", what, dir.string()));
}

// The classes to use from the folders found: `wanted` in its order, or every folder sorted.
std::vector<std::string> choose_classes(const std::vector<std::string>& found,
                                        const std::vector<std::string>& wanted,
                                        const fs::path& where, std::vector<Skipped>& skipped) {
  if (found.empty()) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("{} has no class folders (expected <class>/<image> or "
                            "train|val|test/<class>/<image>)",
                            where.string()));
  }
  std::vector<std::string> classes = wanted.empty() ? found : wanted;
  for (const std::string& c : classes) {
    if (std::find(found.begin(), found.end(), c) == found.end()) {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("class '{}' has no folder in {} (its folders: {})", c, where.string(),
                              util::join(found, ", ")));
    }
  }
  for (const std::string& f : found) {
    if (std::find(classes.begin(), classes.end(), f) == classes.end())
      skipped.push_back({(where / f).string(), "class not in the model's classes"});
  }
  if (classes.size() < 2) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("{}: a model needs at least 2 classes, found {}", where.string(),
                            classes.size()));
  }
  return classes;
}

void add_folder(Dataset& data, const fs::path& part_dir, Split split) {
  for (std::size_t label = 0; label < data.classes.size(); ++label) {
    const fs::path dir = part_dir / data.classes[label];
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
      continue;
    for (const fs::path& file : files_under(dir, data.root))
      data.samples.push_back({file, static_cast<int>(label), split});
  }
}

// Files with the same bytes (data sets gathered from several sources hold copies) must not
// straddle the parts, or validation and test would score images the model was trained on: every
// copy goes to the part of the copy whose path sorts first. Returns how many samples moved.
std::size_t keep_copies_together(Dataset& data) {
  constexpr std::size_t max_bytes = std::size_t{1} << 30;
  std::unordered_map<std::string, Split> part_of;
  std::size_t moved = 0;
  for (Sample& s : data.samples) {  // sorted by path
    std::string bytes;
    try {
      bytes = util::read_file(data.root / s.path, max_bytes);
    } catch (const Error&) {
      continue;  // unreadable: decoding rejects it later, with its reason
    }
    const auto [it, first] = part_of.try_emplace(crypto::sha256_hex(bytes), s.split);
    if (!first && it->second != s.split) {
      s.split = it->second;
      ++moved;
    }
  }
  return moved;
}

// Splits every train sample, class by class, into train/val/test by the fractions.
void stratified_split(Dataset& data, const SplitOptions& options) {
  std::vector<Sample> out;
  for (std::size_t label = 0; label < data.classes.size(); ++label) {
    std::vector<Sample> of_class;
    for (const Sample& s : data.samples) {
      if (s.label == static_cast<int>(label))
        of_class.push_back(s);
    }
    // Seeded by the seed and the class name, so that adding a class does not reshuffle the others.
    std::seed_seq seq{static_cast<std::uint32_t>(options.seed),
                      static_cast<std::uint32_t>(options.seed >> 32),
                      static_cast<std::uint32_t>(std::hash<std::string>{}(data.classes[label]))};
    std::mt19937_64 rng(seq);
    std::shuffle(of_class.begin(), of_class.end(), rng);
    const auto n = static_cast<double>(of_class.size());
    const auto n_train = static_cast<std::size_t>(std::llround(n * options.train));
    const auto n_val = static_cast<std::size_t>(std::llround(n * options.val));
    for (std::size_t i = 0; i < of_class.size(); ++i) {
      Sample s = of_class[i];
      s.split = i < n_train ? Split::train : i < n_train + n_val ? Split::val : Split::test;
      out.push_back(s);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Sample& a, const Sample& b) { return a.path < b.path; });
  data.samples = std::move(out);
  data.duplicates_moved = keep_copies_together(data);
  data.split_made = true;
}

std::string csv_field(const std::string& value) {
  if (value.find_first_of(",\"\n\r") == std::string::npos)
    return value;
  std::string out = "\"";
  for (const char c : value) {
    if (c == '"')
      out += '"';
    out += c;
  }
  return out + "\"";
}

// One CSV record (no embedded line breaks).
std::vector<std::string> parse_csv_line(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  return fields;
}

std::optional<Split> parse_split(std::string_view text) {
  if (text == "train")
    return Split::train;
  if (text == "val")
    return Split::val;
  if (text == "test")
    return Split::test;
  return std::nullopt;
}

Loaded load_samples(const Dataset& data, const std::vector<const Sample*>& samples,
                    const imaging::PreprocessSpec& input, const imaging::Limits& limits,
                    int threads, const std::function<void(std::size_t, std::size_t)>& progress) {
  const std::size_t n = samples.size();
  std::vector<std::optional<imaging::Image>> images(n);
  std::vector<std::string> errors(n);
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> done{0};
  // `report`: the calling thread, which tells the progress between its images.
  const auto work = [&](bool report) {
    for (std::size_t i = next++; i < n; i = next++) {
      const Sample& s = *samples[i];
      const fs::path file = data.root / s.path;
      try {
        const std::string bytes = util::read_file(file, limits.max_file_bytes);
        const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
        const imaging::Decoded decoded = imaging::decode(
            std::span<const std::uint8_t>(p, bytes.size()), limits, s.path.string());
        images[i] = imaging::fit(decoded.image, input);
      } catch (const Error& e) {
        errors[i] = e.what();
      } catch (const std::exception& e) {
        errors[i] = fmt::format("{}: {}", s.path.string(), e.what());
      }
      const std::size_t finished = ++done;
      if (report && progress)
        progress(finished, n);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, threads); ++t)
    pool.emplace_back(work, false);
  work(true);
  for (auto& t : pool)
    t.join();
  if (progress)
    progress(n, n);

  Loaded out;
  for (std::size_t i = 0; i < n; ++i) {
    if (images[i]) {
      out.images.push_back(std::move(*images[i]));
      out.labels.push_back(samples[i]->label);
      out.paths.push_back(samples[i]->path.string());
    } else {
      out.rejected.push_back({samples[i]->path.string(), errors[i]});
    }
  }
  return out;
}

}  // namespace

std::string_view to_string(Split split) noexcept {
  switch (split) {
    case Split::train:
      return "train";
    case Split::val:
      return "val";
    case Split::test:
      return "test";
  }
  return "train";
}

std::size_t Dataset::count(Split split) const {
  return static_cast<std::size_t>(std::count_if(samples.begin(), samples.end(),
                                                [&](const Sample& s) { return s.split == split; }));
}

std::vector<int> Dataset::class_counts(Split split) const {
  std::vector<int> counts(classes.size(), 0);
  for (const Sample& s : samples) {
    if (s.split == split)
      ++counts[static_cast<std::size_t>(s.label)];
  }
  return counts;
}

Dataset scan_for_training(const fs::path& root, const SplitOptions& options) {
  require_dir(root, "the data directory");
  if (!(options.train > 0.0) || !(options.val > 0.0) || options.train + options.val > 1.0 + 1e-9) {
    throw Error(ErrorKind::invalid_input,
                "the split fractions must be positive, with train + val at most 1");
  }
  Dataset data;
  data.root = root;
  const std::vector<std::string> top = subdirectories(root);
  if (is_split_layout(top)) {
    const bool has_train = std::count(top.begin(), top.end(), "train") > 0;
    const bool has_val = std::count(top.begin(), top.end(), "val") > 0;
    const bool has_test = std::count(top.begin(), top.end(), "test") > 0;
    if (!has_train) {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("{} has no train/ folder to train on", root.string()));
    }
    data.classes = choose_classes(subdirectories(root / "train"), options.classes, root / "train",
                                  data.skipped);
    add_folder(data, root / "train", Split::train);
    if (has_val) {
      add_folder(data, root / "val", Split::val);
      if (has_test)
        add_folder(data, root / "test", Split::test);
    } else {
      if (has_test) {
        data.skipped.push_back(
            {(root / "test").string(), "held-out test part, never read in training"});
      }
      stratified_split(data, options);
    }
  } else {
    data.classes = choose_classes(top, options.classes, root, data.skipped);
    add_folder(data, root, Split::train);
    stratified_split(data, options);
  }
  for (const Split split : {Split::train, Split::val}) {
    const std::vector<int> counts = data.class_counts(split);
    for (std::size_t c = 0; c < counts.size(); ++c) {
      if (counts[c] == 0) {
        throw Error(ErrorKind::invalid_input,
                    fmt::format("{}: the {} part has no images of class '{}' (too few images?)",
                                root.string(), to_string(split), data.classes[c]));
      }
    }
  }
  return data;
}

Dataset scan_for_evaluation(const fs::path& dir, const std::vector<std::string>& classes,
                            const std::string& split, const fs::path& split_csv,
                            const std::vector<std::string>& skip) {
  require_dir(dir, "the data directory");
  Dataset data;
  data.classes = classes;
  const auto match_folders = [&](const fs::path& part_dir) {
    std::vector<std::string> unknown;
    for (const std::string& f : subdirectories(part_dir)) {
      if (std::find(skip.begin(), skip.end(), f) != skip.end()) {
        data.skipped.push_back({(part_dir / f).string(), "skipped with --skip-class"});
      } else if (std::find(classes.begin(), classes.end(), f) == classes.end()) {
        unknown.push_back(f);
      }
    }
    if (!unknown.empty()) {
      throw Error(
          ErrorKind::invalid_input,
          fmt::format("{}: folder(s) {} match no class of the model ({}); leave them out "
                      "with --skip-class",
                      part_dir.string(), util::join(unknown, ", "), util::join(classes, ", ")));
    }
  };

  const std::vector<std::string> top = subdirectories(dir);
  if (split.empty()) {
    fs::path part = dir;
    if (is_split_layout(top)) {
      if (top.size() != 1) {
        throw Error(ErrorKind::invalid_input,
                    fmt::format("{} holds the parts {}: choose one with --split", dir.string(),
                                util::join(top, ", ")));
      }
      part = dir / top.front();
    }
    data.root = part;
    match_folders(part);
    add_folder(data, part, Split::test);
  } else {
    const auto wanted = parse_split(split);
    if (!wanted) {
      throw Error(ErrorKind::usage,
                  fmt::format("--split must be train, val or test, not '{}'", split));
    }
    std::error_code ec;
    if (fs::is_directory(dir / split, ec)) {
      data.root = dir / split;
      match_folders(data.root);
      add_folder(data, data.root, Split::test);
    } else {
      if (split_csv.empty() || !fs::exists(split_csv, ec)) {
        throw Error(ErrorKind::not_found,
                    fmt::format("{} has no {}/ folder, and the model has no split.csv that "
                                "lists its {} images",
                                dir.string(), split, split));
      }
      data.root = dir;
      const std::string text = util::read_file(split_csv, 256u << 20);
      std::istringstream in(text);
      std::string line;
      std::getline(in, line);  // header
      std::size_t line_no = 1;
      while (std::getline(in, line)) {
        ++line_no;
        if (line.empty())
          continue;
        const std::vector<std::string> f = parse_csv_line(line);
        if (f.size() != 3 || !parse_split(f[0])) {
          throw Error(ErrorKind::invalid_input, fmt::format("{} line {}: expected split,label,path",
                                                            split_csv.string(), line_no));
        }
        if (*parse_split(f[0]) != *wanted)
          continue;
        if (std::find(skip.begin(), skip.end(), f[1]) != skip.end())
          continue;
        const auto it = std::find(classes.begin(), classes.end(), f[1]);
        if (it == classes.end()) {
          throw Error(ErrorKind::invalid_input,
                      fmt::format("{} line {}: class '{}' is not one of the model's ({})",
                                  split_csv.string(), line_no, f[1], util::join(classes, ", ")));
        }
        data.samples.push_back(
            {fs::path(f[2]), static_cast<int>(it - classes.begin()), Split::test});
      }
    }
  }
  if (data.samples.empty()) {
    throw Error(ErrorKind::invalid_input, fmt::format("{}: no images of the model's classes ({})",
                                                      dir.string(), util::join(classes, ", ")));
  }
  return data;
}

std::string split_csv(const Dataset& data) {
  std::string out = "split,label,path\n";
  for (const Sample& s : data.samples) {
    out += fmt::format("{},{},{}\n", to_string(s.split),
                       csv_field(data.classes[static_cast<std::size_t>(s.label)]),
                       csv_field(s.path.generic_string()));
  }
  return out;
}

void write_split_csv(const Dataset& data, const fs::path& file) {
  util::write_private_file(file, split_csv(data));
}

Loaded load(const Dataset& data, Split split, const imaging::PreprocessSpec& input,
            const imaging::Limits& limits, int threads,
            const std::function<void(std::size_t, std::size_t)>& progress) {
  std::vector<const Sample*> chosen;
  for (const Sample& s : data.samples) {
    if (s.split == split)
      chosen.push_back(&s);
  }
  return load_samples(data, chosen, input, limits, threads, progress);
}

Loaded load_all(const Dataset& data, const imaging::PreprocessSpec& input,
                const imaging::Limits& limits, int threads,
                const std::function<void(std::size_t, std::size_t)>& progress) {
  std::vector<const Sample*> chosen;
  for (const Sample& s : data.samples)
    chosen.push_back(&s);
  return load_samples(data, chosen, input, limits, threads, progress);
}

}  // namespace csss::pipelines
