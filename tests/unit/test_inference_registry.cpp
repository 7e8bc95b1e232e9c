// lib/inference/registry: the models under the registry's directories, finding one by name, and
// choosing the one that fits a scan.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "inference/registry.hpp"
#include "support/check_error.hpp"
#include "support/temp_dir.hpp"
#include "util/fs.hpp"

using namespace csss::inference;
using csss::ErrorKind;
using csss::test::check_error;
using csss::test::contains;
namespace fs = std::filesystem;

namespace {

struct ModelInfo {
  std::string name;
  std::string version = "1.0.0";
  std::string modality;  // YAML: "[CR, DX]", "MR" or "" for none
  std::string body_part;
};

// Writes `root`/`folder`/model.yaml for `info`; the folder name need not be the model's name.
void add_model(const fs::path& root, const ModelInfo& info, std::string folder = "") {
  if (folder.empty())
    folder = info.name;
  const fs::path dir = root / folder;
  fs::create_directories(dir);
  std::ofstream out(dir / "model.yaml");
  out << "name: " << info.name << "\nversion: " << info.version << "\n";
  if (!info.modality.empty())
    out << "modality: " << info.modality << "\n";
  if (!info.body_part.empty())
    out << "body_part: " << info.body_part << "\n";
  out << "classes: [normal, abnormal]\n"
         "input: {size: 224, channels: 1, mean: [0.5], std: [0.25]}\n"
         "risk: {normal: low, abnormal: high}\n"
         "architecture: {type: mobilenet_v2}\n"
         "weights: {file: model.pt, sha256: "
      << std::string(64, '0') << "}\n";
  REQUIRE(out.good());
}

std::vector<std::string> names(const std::vector<Registry::Entry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries)
    out.push_back(e.manifest.name);
  std::sort(out.begin(), out.end());
  return out;
}

const Registry::Entry* entry(const std::vector<Registry::Entry>& entries, const std::string& name) {
  for (const auto& e : entries) {
    if (e.manifest.name == name)
      return &e;
  }
  return nullptr;
}

Manifest model(std::vector<std::string> modalities, std::string body_part) {
  Manifest m;
  m.name = "m";
  m.modalities = std::move(modalities);
  m.body_part = std::move(body_part);
  return m;
}

}  // namespace

TEST_CASE("Registry::list reads every model folder, the first directory wins for a name") {
  csss::test::TempDir tmp;
  const fs::path imported = tmp / "imported";
  const fs::path shipped = tmp / "shipped";
  add_model(imported, {"alpha", "2.0.0", "[CR]", "CHEST"});
  add_model(imported, {"beta", "1.0.0", "MR", "BRAIN"});
  add_model(shipped, {"alpha", "1.0.0", "[DX]", ""}, "alpha-old");
  add_model(shipped, {"gamma", "1.0.0", "", ""});
  fs::create_directories(shipped / "not-a-model");  // no model.yaml: ignored
  { std::ofstream(shipped / "README.md") << "a file, not a folder\n"; }

  const Registry registry({imported, tmp / "does-not-exist", shipped});
  std::vector<Registry::Problem> problems;
  const auto entries = registry.list(&problems);
  CHECK(problems.empty());
  CHECK(names(entries) == std::vector<std::string>{"alpha", "beta", "gamma"});
  const auto* alpha = entry(entries, "alpha");
  REQUIRE(alpha != nullptr);
  CHECK(alpha->manifest.version == "2.0.0");
  CHECK(alpha->root == imported);
  CHECK(alpha->manifest.dir == imported / "alpha");
  CHECK(entry(entries, "gamma")->root == shipped);
  CHECK(registry.find("alpha").version == "2.0.0");
  CHECK(registry.find("gamma").dir == shipped / "gamma");
  CHECK(registry.dirs().size() == 3);

  // Listed the other way round, the shipped one wins.
  const Registry reversed({shipped, imported});
  CHECK(reversed.find("alpha").version == "1.0.0");
  CHECK(reversed.find("alpha").dir == shipped / "alpha-old");

  CHECK(Registry({}).list().empty());
  CHECK(Registry({tmp / "nothing-here"}).list().empty());
}

TEST_CASE("Registry::list reports unreadable manifests as problems and lists the rest") {
  csss::test::TempDir tmp;
  const fs::path root = tmp / "models";
  add_model(root, {"good", "1.0.0", "", ""});
  fs::create_directories(root / "broken");
  std::ofstream(root / "broken" / "model.yaml") << "name: broken\nclasses: [a\n";
  fs::create_directories(root / "incomplete");
  std::ofstream(root / "incomplete" / "model.yaml") << "name: incomplete\nversion: 1\n";

  const Registry registry({root});
  std::vector<Registry::Problem> problems;
  const auto entries = registry.list(&problems);
  CHECK(names(entries) == std::vector<std::string>{"good"});
  REQUIRE(problems.size() == 2);
  std::sort(problems.begin(), problems.end(),
            [](const auto& a, const auto& b) { return a.dir < b.dir; });
  CHECK(problems[0].dir == root / "broken");
  CHECK(contains(problems[0].message, (root / "broken" / "model.yaml").string()));
  CHECK(contains(problems[0].message, "line "));
  CHECK(problems[1].dir == root / "incomplete");
  CHECK(contains(problems[1].message, "'classes' is missing"));

  // Without a problem list the bad ones are skipped quietly.
  CHECK(names(registry.list()) == std::vector<std::string>{"good"});
  CHECK(registry.find("good").name == "good");
  check_error([&] { (void)registry.find("broken"); }, ErrorKind::not_found, "no model named");
}

TEST_CASE("Registry::find of an unknown name is not found and lists the known names") {
  csss::test::TempDir tmp;
  add_model(tmp / "a", {"chest-xray", "1.0.0", "[CR, DX]", "CHEST"});
  add_model(tmp / "b", {"brain-mri", "1.0.0", "MR", "BRAIN"});
  const Registry registry({tmp / "a", tmp / "b"});
  const std::string message =
      check_error([&] { (void)registry.find("knee"); }, ErrorKind::not_found, "'knee'");
  CHECK(contains(message, "chest-xray"));
  CHECK(contains(message, "brain-mri"));
  // Names are exact.
  check_error([&] { (void)registry.find("Chest-XRay"); }, ErrorKind::not_found);

  const Registry empty({tmp / "none"});
  check_error([&] { (void)empty.find("chest-xray"); }, ErrorKind::not_found, "models: none");
}

TEST_CASE("Registry::choose picks a model by name or by the scan's modality and body part") {
  csss::test::TempDir tmp;
  const fs::path root = tmp / "models";
  add_model(root, {"chest-xray", "1.0.0", "[CR, DX]", "CHEST"});
  add_model(root, {"brain-mri", "1.0.0", "[MR]", "BRAIN"});
  const Registry registry({root});

  SUBCASE("by name, whatever the scan is") {
    CHECK(registry.choose("brain-mri", "CR", "CHEST").name == "brain-mri");
    CHECK(registry.choose("chest-xray", "", "").name == "chest-xray");
    check_error([&] { (void)registry.choose("knee", "CR", "CHEST"); }, ErrorKind::not_found,
                "no model named 'knee'");
  }
  SUBCASE("by modality and body part, ignoring case") {
    CHECK(registry.choose(std::nullopt, "CR", "CHEST").name == "chest-xray");
    CHECK(registry.choose(std::nullopt, "dx", "chest").name == "chest-xray");
    CHECK(registry.choose(std::nullopt, "Mr", "Brain").name == "brain-mri");
  }
  SUBCASE("an attribute the scan does not know matches every model") {
    CHECK(registry.choose(std::nullopt, "MR", "").name == "brain-mri");
    CHECK(registry.choose(std::nullopt, "", "CHEST").name == "chest-xray");
    const std::string message = check_error([&] { (void)registry.choose(std::nullopt, "", ""); },
                                            ErrorKind::conflict, "several");
    CHECK(contains(message, "chest-xray"));
    CHECK(contains(message, "brain-mri"));
    CHECK(contains(message, "modality unknown, body part unknown"));
  }
  SUBCASE("no model fits: not found, listing the models") {
    const std::string message =
        check_error([&] { (void)registry.choose(std::nullopt, "CT", "ABDOMEN"); },
                    ErrorKind::not_found, "no model fits this scan");
    CHECK(contains(message, "modality CT, body part ABDOMEN"));
    CHECK(contains(message, "chest-xray"));
    CHECK(contains(message, "brain-mri"));
    CHECK(contains(message, "--model"));
    // A modality that fits with a body part that does not.
    check_error([&] { (void)registry.choose(std::nullopt, "CR", "BRAIN"); }, ErrorKind::not_found);
  }
  SUBCASE("several models fit: a conflict naming both") {
    add_model(root, {"cxr-research", "0.1.0", "DX", ""});
    CHECK(registry.choose(std::nullopt, "CR", "CHEST").name == "chest-xray");
    const std::string message =
        check_error([&] { (void)registry.choose(std::nullopt, "DX", "CHEST"); },
                    ErrorKind::conflict, "several models fit this scan");
    CHECK(contains(message, "chest-xray"));
    CHECK(contains(message, "cxr-research"));
    CHECK_FALSE(contains(message, "brain-mri"));
    CHECK(contains(message, "choose one with --model"));
    CHECK(registry.choose("cxr-research", "DX", "CHEST").name == "cxr-research");
  }
  SUBCASE("an empty registry fits nothing") {
    const Registry empty({tmp / "none"});
    check_error([&] { (void)empty.choose(std::nullopt, "CR", "CHEST"); }, ErrorKind::not_found,
                "models: none");
  }
}

TEST_CASE("model_matches: modality and body part, case-insensitive, empty matches anything") {
  struct Row {
    std::vector<std::string> modalities;
    const char* model_body;
    const char* scan_modality;
    const char* scan_body;
    bool match;
  };
  const Row rows[] = {
      {{"CR", "DX"}, "CHEST", "CR", "CHEST", true},
      {{"CR", "DX"}, "CHEST", "DX", "CHEST", true},
      {{"CR", "DX"}, "CHEST", "cr", "chest", true},
      {{"cr"}, "chest", "CR", "CHEST", true},
      {{"CR", "DX"}, "CHEST", "MR", "CHEST", false},
      {{"CR", "DX"}, "CHEST", "CR", "BRAIN", false},
      {{"CR", "DX"}, "CHEST", "MR", "BRAIN", false},
      {{"CR", "DX"}, "CHEST", "", "CHEST", true},
      {{"CR", "DX"}, "CHEST", "CR", "", true},
      {{"CR", "DX"}, "CHEST", "", "", true},
      {{}, "CHEST", "MR", "CHEST", true},
      {{}, "CHEST", "MR", "BRAIN", false},
      {{"MR"}, "", "MR", "ANYTHING", true},
      {{"MR"}, "", "CT", "ANYTHING", false},
      {{}, "", "XA", "KNEE", true},
      {{"CR"}, "CHEST", "CRX", "CHEST", false},  // whole values, not prefixes
      {{"CR"}, "CHEST", "C", "CHEST", false},
      {{"CR"}, "CHEST", "CR", "CHES", false},
  };
  for (const Row& r : rows) {
    INFO("model ", r.modalities.size(), " modalities / ", r.model_body, "; scan ", r.scan_modality,
         " / ", r.scan_body);
    CHECK(model_matches(model(r.modalities, r.model_body), r.scan_modality, r.scan_body) ==
          r.match);
  }
}

TEST_CASE("import_torchscript refuses an empty file, a bad name and an existing name early") {
  // These refusals come before the LibTorch backend is loaded.
  csss::test::TempDir tmp;
  const fs::path models = tmp / "models";
  ImportRequest req;
  req.file = tmp / "model.pt";
  req.manifest.name = "cxr";
  req.manifest.classes = {"normal", "pneumonia"};
  req.manifest.risk = {{"normal", RiskLevel::low}, {"pneumonia", RiskLevel::high}};
  req.manifest.input.channels = 3;
  req.manifest.input.mean = {0.5f, 0.5f, 0.5f};
  req.manifest.input.stddev = {0.25f, 0.25f, 0.25f};

  std::ofstream(req.file).flush();  // empty
  check_error([&] { (void)import_torchscript(req, models); }, ErrorKind::invalid_input, "is empty");
  check_error([&] { (void)import_torchscript(req, models); }, ErrorKind::invalid_input,
              req.file.string());

  std::ofstream(req.file) << "some bytes";
  req.manifest.name = "Bad Name";
  check_error([&] { (void)import_torchscript(req, models); }, ErrorKind::invalid_input,
              "invalid model name 'Bad Name'");

  req.manifest.name = "cxr";
  csss::util::ensure_private_dir(models);
  csss::util::ensure_private_dir(models / "cxr");
  const std::string message =
      check_error([&] { (void)import_torchscript(req, models); }, ErrorKind::conflict, "'cxr'");
  CHECK(contains(message, "exists already"));
  // The existing folder is left as it was, and nothing else was created.
  CHECK(fs::is_empty(models / "cxr"));
  CHECK(std::distance(fs::directory_iterator(models), fs::directory_iterator()) == 1);

  req.file = tmp / "missing.pt";
  check_error([&] { (void)import_torchscript(req, models); }, ErrorKind::io);
}
