// pipelines/train_eval: the data set layouts and split, and the training configuration.
#include <doctest/doctest.h>

#include <fstream>
#include <set>

#include "support/check_error.hpp"
#include "support/temp_dir.hpp"
#include "train_eval/config.hpp"
#include "train_eval/dataset.hpp"
#include "util/error.hpp"

using csss::ErrorKind;
using csss::test::check_error;
using namespace csss::pipelines;
namespace fs = std::filesystem;

namespace {

// A file whose bytes are its own path, so that no two are copies of each other.
void touch(const fs::path& p, const std::string& bytes = {}) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << (bytes.empty() ? p.string() : bytes);
}

// <root>/<prefix><class>/<i>.png for each class and count.
void make(const fs::path& root, const std::string& prefix,
          const std::vector<std::pair<std::string, int>>& classes) {
  for (const auto& [name, count] : classes)
    for (int i = 0; i < count; ++i)
      touch(root / prefix / name / (std::to_string(i) + ".png"));
}

std::set<std::string> paths_of(const Dataset& d, Split s) {
  std::set<std::string> out;
  for (const Sample& x : d.samples)
    if (x.split == s)
      out.insert(x.path.generic_string());
  return out;
}

}  // namespace

TEST_CASE("pipelines: class folders are split 70/15/15 per class, seeded and repeatable") {
  csss::test::TempDir tmp;
  make(tmp.path(), "", {{"b", 20}, {"a", 40}});
  touch(tmp.path() / "a" / ".hidden.png");
  SplitOptions options;
  const Dataset d = scan_for_training(tmp.path(), options);
  CHECK(d.classes == std::vector<std::string>{"a", "b"});  // sorted by name
  CHECK(d.split_made);
  CHECK(d.samples.size() == 60);  // the hidden file is not an image of the set
  CHECK(d.class_counts(Split::train) == std::vector<int>{28, 14});
  CHECK(d.class_counts(Split::val) == std::vector<int>{6, 3});
  CHECK(d.class_counts(Split::test) == std::vector<int>{6, 3});

  // The same seed gives the same split; another seed another one; no image is in two parts.
  const Dataset again = scan_for_training(tmp.path(), options);
  CHECK(paths_of(again, Split::val) == paths_of(d, Split::val));
  options.seed = 7;
  const Dataset other = scan_for_training(tmp.path(), options);
  CHECK(paths_of(other, Split::val) != paths_of(d, Split::val));
  std::set<std::string> all;
  for (Split s : {Split::train, Split::val, Split::test})
    for (const auto& p : paths_of(d, s))
      CHECK(all.insert(p).second);

  // split.csv lists every image with its part and class.
  write_split_csv(d, tmp.path() / "split.csv");
  std::ifstream in(tmp.path() / "split.csv");
  std::string header;
  std::getline(in, header);
  CHECK(header == "split,label,path");
  int rows = 0;
  for (std::string line; std::getline(in, line);)
    ++rows;
  CHECK(rows == 60);

  // Evaluation of that part through the split file.
  const Dataset test =
      scan_for_evaluation(tmp.path(), {"a", "b"}, "test", tmp.path() / "split.csv", {});
  CHECK(paths_of(test, Split::test) == paths_of(d, Split::test));
}

TEST_CASE("pipelines: copies of one file never straddle the parts of our split") {
  csss::test::TempDir tmp;
  make(tmp.path(), "", {{"a", 40}, {"b", 40}});
  // Five copies of one image in a, and one copy of it filed under b as well.
  for (int i = 0; i < 5; ++i)
    touch(tmp.path() / "a" / ("copy" + std::to_string(i) + ".png"), "same bytes");
  touch(tmp.path() / "b" / "copy.png", "same bytes");
  const Dataset d = scan_for_training(tmp.path(), {});
  CHECK(d.samples.size() == 86);
  std::set<Split> parts;
  Split first = Split::test;
  for (const Sample& s : d.samples) {
    if (s.path.filename().string().rfind("copy", 0) == 0) {
      if (parts.empty())
        first = s.split;  // a/copy0.png sorts first
      parts.insert(s.split);
    }
  }
  CHECK(parts == std::set<Split>{first});
  CHECK(d.duplicates_moved <= 5);
  // Without copies nothing moves, and the split is the plain stratified one.
  csss::test::TempDir plain;
  make(plain.path(), "", {{"a", 40}, {"b", 40}});
  CHECK(scan_for_training(plain.path(), {}).duplicates_moved == 0);
}

TEST_CASE(
    "pipelines: given train/val parts are used as they are, and a test/ folder is never read") {
  csss::test::TempDir tmp;
  make(tmp.path(), "train", {{"x", 10}, {"y", 10}});
  make(tmp.path(), "val", {{"x", 2}, {"y", 3}});
  const Dataset d = scan_for_training(tmp.path(), {});
  CHECK_FALSE(d.split_made);
  CHECK(d.count(Split::train) == 20);
  CHECK(d.count(Split::val) == 5);
  CHECK(d.count(Split::test) == 0);

  csss::test::TempDir held;
  make(held.path(), "train", {{"x", 20}, {"y", 20}});
  make(held.path(), "test", {{"x", 5}, {"y", 5}});
  const Dataset h = scan_for_training(held.path(), {});
  CHECK(h.split_made);
  CHECK(h.samples.size() == 40);
  for (const Sample& s : h.samples)
    CHECK(s.path.generic_string().rfind("train/", 0) == 0);
  REQUIRE(h.skipped.size() == 1);
  CHECK(csss::test::contains(h.skipped[0].reason, "held-out"));
  // evaluate --split test reads the folder.
  const Dataset e = scan_for_evaluation(held.path(), {"x", "y"}, "test", {}, {});
  CHECK(e.samples.size() == 10);
}

TEST_CASE("pipelines: classes chosen by the configuration, and unknown folders at evaluation") {
  csss::test::TempDir tmp;
  make(tmp.path(), "", {{"normal", 10}, {"covid19", 10}, {"viral", 10}});
  SplitOptions options;
  options.classes = {"viral", "normal"};
  const Dataset d = scan_for_training(tmp.path(), options);
  CHECK(d.classes == std::vector<std::string>{"viral", "normal"});
  CHECK(d.samples.size() == 20);
  REQUIRE(d.skipped.size() == 1);
  CHECK(csss::test::contains(d.skipped[0].path, "covid19"));

  options.classes = {"viral", "bacterial"};
  check_error([&] { scan_for_training(tmp.path(), options); }, ErrorKind::invalid_input,
              "'bacterial' has no folder");
  check_error(
      [&] {
        scan_for_evaluation(tmp.path(), {"viral", "normal"}, "", {}, {});
      },
      ErrorKind::invalid_input, "covid19");
  CHECK(scan_for_evaluation(tmp.path(), {"viral", "normal"}, "", {}, {"covid19"}).samples.size() ==
        20);
  check_error(
      [&] {
        scan_for_evaluation(tmp.path(), {"viral", "normal"}, "val", {}, {"covid19"});
      },
      ErrorKind::not_found, "split.csv");
  check_error(
      [&] {
        scan_for_evaluation(tmp.path(), {"viral", "normal"}, "dev", {}, {});
      },
      ErrorKind::usage, "--split");
  check_error([&] { scan_for_training(tmp.path() / "nope", {}); }, ErrorKind::not_found);

  // Too few images to give each part an image of each class.
  csss::test::TempDir few;
  make(few.path(), "", {{"a", 2}, {"b", 10}});
  check_error([&] { scan_for_training(few.path(), {}); }, ErrorKind::invalid_input,
              "no images of class 'a'");
}

TEST_CASE("pipelines: training configuration from YAML, checked, written back") {
  const TrainConfig c = parse_train_config(
      "name: brain\nclasses: [a, b]\nrisk: {a: low, b: high}\ndata: sets/brain\n"
      "input: {size: 96, channels: 3}\narchitecture: {width: 0.5}\n"
      "training: {epochs: 7, class_weights: balanced, learning_rate: 0.001}\n"
      "augment: {hflip: 0.5}\n",
      "test.yaml", "/base");
  CHECK(c.name == "brain");
  CHECK(c.data == fs::path("/base/sets/brain"));
  CHECK(c.input.size == 96);
  CHECK(c.input.mean.size() == 3);
  CHECK(c.width_mult == 0.5);
  CHECK(c.epochs == 7);
  CHECK(c.class_weights == "balanced");
  CHECK(c.learning_rate == doctest::Approx(0.001));
  CHECK(c.augment.hflip == 0.5);
  CHECK(c.early_stopping_patience == 5);  // the defaults the issue asks for
  CHECK(c.lr_patience == 3);
  CHECK(c.lr_factor == 0.5);
  validate(c);

  const TrainConfig back = parse_train_config(to_yaml(c), "back", "/");
  CHECK(back.name == c.name);
  CHECK(back.data == c.data);
  CHECK(back.classes == c.classes);
  CHECK(back.input.size == 96);
  CHECK(back.epochs == 7);
  CHECK(back.augment.hflip == 0.5);
  CHECK(back.risk == c.risk);

  check_error([] { parse_train_config("trainig: {}\n", "t.yaml", "/"); }, ErrorKind::invalid_input,
              "did you mean 'training'");
  check_error([] { parse_train_config("risk: {a: severe}\n", "t.yaml", "/"); },
              ErrorKind::invalid_input, "low, medium or high");
  check_error([] { parse_train_config("training: {epochs: many}\n", "t.yaml", "/"); },
              ErrorKind::invalid_input, "training.epochs");
  TrainConfig bad = c;
  bad.lr_factor = 1.5;
  check_error([&] { validate(bad); }, ErrorKind::invalid_input, "lr_factor");
  bad = c;
  bad.name = "Bad Name";
  check_error([&] { validate(bad); }, ErrorKind::invalid_input, "Bad Name");
}
