#pragma once

// ImageFolder data sets for training and evaluation: `<class>/<image>` or
// `train|val|test/<class>/<image>`, the stratified seeded split when none is given (written down
// as split.csv so that evaluation can be repeated on the same images), and decoding into memory.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "imaging/image.hpp"
#include "imaging/preprocess.hpp"

namespace csss::pipelines {

enum class Split { train, val, test };

std::string_view to_string(Split split) noexcept;

struct Sample {
  std::filesystem::path path;  // relative to the data set's root
  int label = 0;               // index into Dataset::classes
  Split split = Split::train;
};

// A file or folder that is not used, and why.
struct Skipped {
  std::string path;
  std::string reason;
};

struct Dataset {
  std::filesystem::path root;
  std::vector<std::string> classes;
  std::vector<Sample> samples;
  bool split_made = false;           // true when the split is ours (see scan_for_training)
  std::size_t duplicates_moved = 0;  // copies put into the part of their first copy (our split)
  std::vector<Skipped> skipped;      // class folders left out (not in `classes`), held-out test
  std::size_t count(Split split) const;
  std::vector<int> class_counts(Split split) const;
};

struct SplitOptions {
  // Class names in output order; empty: every class folder, sorted by name. Folders not listed
  // are left out (and reported in Dataset::skipped).
  std::vector<std::string> classes;
  double train = 0.70;  // fractions of each class, for a data set without a validation part
  double val = 0.15;    // (the rest is test)
  std::uint64_t seed = 42;
};

// The images of `root` for training:
// - `train/` and `val/` (and `test/`) given: used as they are;
// - `train/` without `val/`: train/ is split, per class, seeded, into train, val and test by the
//   fractions (a `test/` folder beside it is the held-out test part and never read);
// - class folders directly under root: split the same way.
// In a split of ours, copies of the same file (same bytes) always land in the same part.
// Files are every non-hidden regular file (their format is checked when decoding). Throws
// Error(not_found) when root does not exist, Error(invalid_input) when it has no class folders, a
// listed class has no folder, fewer than 2 classes remain, or a split part has no images of a
// class (too few images to split).
Dataset scan_for_training(const std::filesystem::path& root, const SplitOptions& options);

// The images of `dir` for evaluation, every class folder matched to `classes` by name (unknown
// folder names are an error, naming them and the model's classes, unless listed in `skip`):
// - `split` empty: `dir` holds class folders, or exactly one part folder (train/val/test), which is
//   used;
// - `split` given: `dir/<split>/` when it exists; otherwise `dir` is the data set a model was
//   trained on and `split_csv` (the model's split.csv) lists the part's images.
// Throws Error(not_found) for a missing dir or part, Error(invalid_input) for unknown class
// folders or an empty selection.
Dataset scan_for_evaluation(const std::filesystem::path& dir,
                            const std::vector<std::string>& classes, const std::string& split,
                            const std::filesystem::path& split_csv,
                            const std::vector<std::string>& skip);

// split.csv: "split,label,path" and one row per image (paths relative to the root, quoted as CSV
// when they hold a comma or quote). Written atomically with mode 0600.
std::string split_csv(const Dataset& data);
void write_split_csv(const Dataset& data, const std::filesystem::path& file);

// Images decoded and fitted to the model input (imaging::fit), in memory.
struct Loaded {
  std::vector<imaging::Image> images;
  std::vector<int> labels;
  std::vector<std::string> paths;  // relative, for reports
  std::vector<Skipped> rejected;   // files that could not be read or decoded, with the reason
};

// Decodes `samples` of `split` (PNG, JPEG or DICOM, by content) on `threads` threads and fits
// each to `input`. A file that cannot be read or decoded is rejected with the reason, not fatal.
// `progress(done, total)` is called from the calling thread now and then.
Loaded load(const Dataset& data, Split split, const imaging::PreprocessSpec& input,
            const imaging::Limits& limits, int threads,
            const std::function<void(std::size_t, std::size_t)>& progress = {});
// Every sample regardless of its split (evaluation).
Loaded load_all(const Dataset& data, const imaging::PreprocessSpec& input,
                const imaging::Limits& limits, int threads,
                const std::function<void(std::size_t, std::size_t)>& progress = {});

}  // namespace csss::pipelines
