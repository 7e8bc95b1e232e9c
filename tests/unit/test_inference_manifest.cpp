// lib/inference/manifest: reading and validating model.yaml, writing it back, and the weights'
// SHA-256 check that keeps a changed model from running.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "crypto/hash.hpp"
#include "inference/manifest.hpp"
#include "support/check_error.hpp"
#include "support/temp_dir.hpp"

using namespace csss::inference;
using csss::ErrorKind;
using csss::test::check_error;
using csss::test::contains;
namespace fs = std::filesystem;

namespace {

const std::string kWeights = "not really a model, but bytes with a known hash";

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return static_cast<unsigned>(st.st_mode & 07777);
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The top-level fields of a manifest, in order, as YAML text; a test removes or replaces one.
using Fields = std::vector<std::pair<std::string, std::string>>;

Fields full_fields() {
  return {
      {"name", "chest-xray"},
      {"version", "2.1.0"},
      {"description", "Pediatric chest X-ray, pneumonia screening"},
      {"modality", "[CR, DX]"},
      {"body_part", "CHEST"},
      {"classes", "[normal, bacterial_pneumonia, viral_pneumonia]"},
      {"input",
       "{size: 192, channels: 3, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]}"},
      {"threshold", "0.6"},
      {"temperature", "1.5"},
      {"risk", "{normal: low, bacterial_pneumonia: high, viral_pneumonia: medium}"},
      {"architecture", "{type: torchscript, gradcam_layer: features.18, head_layer: head}"},
      {"weights", "{file: weights.pt, sha256: " + csss::crypto::sha256_hex(kWeights) + "}"},
      {"metrics", "metrics.json"},
  };
}

// Only what is required.
Fields minimal_fields() {
  return {
      {"name", "tiny"},
      {"version", "0.1"},
      {"classes", "[a, b]"},
      {"input", "{size: 64, channels: 1, mean: [0.5], std: [0.25]}"},
      {"risk", "{a: low, b: high}"},
      {"architecture", "{type: mobilenet_v2}"},
      {"weights", "{file: model.pt, sha256: " + std::string(64, 'a') + "}"},
  };
}

Fields without(Fields fields, const std::string& key) {
  std::erase_if(fields, [&](const auto& f) { return f.first == key; });
  return fields;
}

Fields with(Fields fields, const std::string& key, const std::string& value) {
  for (auto& f : fields) {
    if (f.first == key) {
      f.second = value;
      return fields;
    }
  }
  fields.emplace_back(key, value);
  return fields;
}

std::string yaml_of(const Fields& fields) {
  std::string text;
  for (const auto& [k, v] : fields)
    text += k + ": " + v + "\n";
  return text;
}

// A model folder under `root` holding `text` as its model.yaml.
fs::path model_dir(const csss::test::TempDir& root, const std::string& text,
                   const std::string& folder = "model") {
  const fs::path dir = root / folder;
  fs::create_directories(dir);
  write(dir / "model.yaml", text);
  return dir;
}

}  // namespace

TEST_CASE("load_manifest reads every field of a valid manifest") {
  csss::test::TempDir tmp;
  const fs::path dir = model_dir(tmp, yaml_of(full_fields()));
  const Manifest m = load_manifest(dir);
  CHECK(m.name == "chest-xray");
  CHECK(m.version == "2.1.0");
  CHECK(m.description == "Pediatric chest X-ray, pneumonia screening");
  CHECK(m.modalities == std::vector<std::string>{"CR", "DX"});
  CHECK(m.body_part == "CHEST");
  CHECK(m.classes == std::vector<std::string>{"normal", "bacterial_pneumonia", "viral_pneumonia"});
  CHECK(m.input.size == 192);
  CHECK(m.input.channels == 3);
  CHECK(m.input.mean == std::vector<float>{0.485f, 0.456f, 0.406f});
  CHECK(m.input.stddev == std::vector<float>{0.229f, 0.224f, 0.225f});
  CHECK(m.threshold == doctest::Approx(0.6));
  CHECK(m.temperature == doctest::Approx(1.5));
  REQUIRE(m.risk.size() == 3);
  CHECK(m.risk.at("normal") == RiskLevel::low);
  CHECK(m.risk.at("bacterial_pneumonia") == RiskLevel::high);
  CHECK(m.risk.at("viral_pneumonia") == RiskLevel::medium);
  CHECK(m.architecture == Architecture::torchscript);
  CHECK(m.gradcam_layer == "features.18");
  CHECK(m.head_layer == "head");
  CHECK(m.weights_file == "weights.pt");
  CHECK(m.weights_sha256 == csss::crypto::sha256_hex(kWeights));
  CHECK(m.metrics_file == "metrics.json");
  CHECK(m.dir == dir);
  CHECK(m.weights_path() == dir / "weights.pt");

  const ModelSpec spec = m.spec();
  CHECK(spec.weights == dir / "weights.pt");
  CHECK(spec.architecture == Architecture::torchscript);
  CHECK(spec.num_classes == 3);
  CHECK(spec.input_channels == 3);
  CHECK(spec.input_size == 192);
  CHECK(spec.gradcam_layer == "features.18");
  CHECK(spec.head_layer == "head");
  CHECK(spec.temperature == doctest::Approx(1.5));
}

TEST_CASE("load_manifest fills in the defaults of optional fields") {
  csss::test::TempDir tmp;
  const Manifest m = load_manifest(model_dir(tmp, yaml_of(minimal_fields())));
  CHECK(m.name == "tiny");
  CHECK(m.version == "0.1");
  CHECK(m.description.empty());
  CHECK(m.modalities.empty());
  CHECK(m.body_part.empty());
  CHECK(m.threshold == 0.75);
  CHECK(m.temperature == 1.0);
  CHECK(m.architecture == Architecture::mobilenet_v2);
  CHECK(m.width_mult == 1.0);
  CHECK(m.gradcam_layer == "features");
  CHECK(m.head_layer == "classifier");
  CHECK(m.metrics_file.empty());
  CHECK(m.input.channels == 1);
  CHECK(m.input.size == 64);

  // A single modality may be given as a scalar; the hash is accepted in upper case.
  const Manifest one = load_manifest(
      model_dir(tmp,
                yaml_of(with(with(minimal_fields(), "modality", "MR"), "weights",
                             "{file: model.pt, sha256: " + std::string(64, 'A') + "}")),
                "one"));
  CHECK(one.modalities == std::vector<std::string>{"MR"});
  CHECK(one.weights_sha256 == std::string(64, 'a'));
}

TEST_CASE("load_manifest refuses a manifest with a missing or bad field, naming the field") {
  csss::test::TempDir tmp;
  struct Case {
    const char* what;
    Fields fields;
    const char* field;  // as the message quotes it
    const char* why;
  };
  const Fields base = full_fields();
  const Case cases[] = {
      {"no name", without(base, "name"), "'name'", "is missing"},
      {"no version", without(base, "version"), "'version'", "is missing"},
      {"no classes", without(base, "classes"), "'classes'", "is missing"},
      {"no input", without(base, "input"), "'input.size'", "is missing"},
      {"no input.mean", with(base, "input", "{size: 224, channels: 1, std: [0.25]}"),
       "'input.mean'", "is missing"},
      {"no risk", without(base, "risk"), "'risk.normal'", "is missing"},
      {"a class without a risk", with(base, "risk", "{normal: low, bacterial_pneumonia: high}"),
       "'risk.viral_pneumonia'", "is missing"},
      {"a bad risk level",
       with(base, "risk",
            "{normal: low, bacterial_pneumonia: high, "
            "viral_pneumonia: severe}"),
       "'risk.viral_pneumonia'", "must be low, medium or high"},
      {"no weights", without(base, "weights"), "'weights.file'", "is missing"},
      {"no weights.sha256", with(base, "weights", "{file: model.pt}"), "'weights.sha256'",
       "is missing"},
      {"no architecture", without(base, "architecture"), "'architecture.type'", "is missing"},
      {"an upper-case name", with(base, "name", "Chest-XRay"), "'name'", "invalid model name"},
      {"a name with a slash", with(base, "name", "../evil"), "'name'", "invalid model name"},
      {"a name starting with a dot", with(base, "name", ".hidden"), "'name'", "invalid model name"},
      {"a name of 65 characters", with(base, "name", std::string(65, 'a')), "'name'",
       "invalid model name"},
      {"one class", with(with(base, "classes", "[normal]"), "risk", "{normal: low}"), "'classes'",
       "at least two classes"},
      {"a duplicate class", with(base, "classes", "[normal, viral_pneumonia, normal]"), "'classes'",
       "names 'normal' twice"},
      {"an empty class", with(base, "classes", "[normal, '']"), "'classes'", "not a class name"},
      {"a class with a dot",
       with(with(base, "classes", "[normal, a.b]"), "risk", "{normal: low, a.b: high}"),
       "'classes'", "'a.b' is not a class name"},
      {"channels 2",
       with(base, "input", "{size: 224, channels: 2, mean: [0.5, 0.5], std: [0.2, 0.2]}"),
       "'input.channels'", "must be 1 or 3"},
      {"input size 8", with(base, "input", "{size: 8, channels: 1, mean: [0.5], std: [0.2]}"),
       "'input.size'", "from 16 to 1024"},
      {"a size that is not a number",
       with(base, "input", "{size: big, channels: 1, mean: [0.5], std: [0.2]}"), "'input.size'",
       "wrong type"},
      {"one mean for three channels",
       with(base, "input", "{size: 224, channels: 3, mean: [0.5], std: [0.2, 0.2, 0.2]}"),
       "'input.mean'", "one value per channel"},
      {"three std for one channel",
       with(base, "input", "{size: 224, channels: 1, mean: [0.5], std: [0.2, 0.2, 0.2]}"),
       "'input.std'", "one value per channel"},
      {"a zero std", with(base, "input", "{size: 224, channels: 1, mean: [0.5], std: [0]}"),
       "'input.std'", "must be positive"},
      {"a NaN std", with(base, "input", "{size: 224, channels: 1, mean: [0.5], std: [.nan]}"),
       "'input.std'", "must be positive"},
      {"a negative std", with(base, "input", "{size: 224, channels: 1, mean: [0.5], std: [-1]}"),
       "'input.std'", "must be positive"},
      {"a mean that is not a list",
       with(base, "input", "{size: 224, channels: 1, mean: 0.5, std: [0.2]}"), "'input.mean'",
       "list of numbers"},
      {"threshold 1.5", with(base, "threshold", "1.5"), "'threshold'", "from 0 to 1"},
      {"threshold -0.1", with(base, "threshold", "-0.1"), "'threshold'", "from 0 to 1"},
      {"threshold NaN", with(base, "threshold", ".nan"), "'threshold'", "from 0 to 1"},
      {"temperature 0", with(base, "temperature", "0"), "'temperature'", "must be positive"},
      {"temperature NaN", with(base, "temperature", ".nan"), "'temperature'", "must be positive"},
      {"an unknown architecture", with(base, "architecture", "{type: resnet50}"),
       "'architecture.type'", "must be mobilenet_v2 or torchscript"},
      {"a width of 0", with(base, "architecture", "{type: mobilenet_v2, width: 0}"),
       "'architecture.width'", "must be in (0, 4]"},
      {"weights.file with a slash",
       with(base, "weights", "{file: ../other/model.pt, sha256: " + std::string(64, 'a') + "}"),
       "'weights.file'", "inside the model folder"},
      {"weights.file starting with a dot",
       with(base, "weights", "{file: .model.pt, sha256: " + std::string(64, 'a') + "}"),
       "'weights.file'", "inside the model folder"},
      {"a short sha256", with(base, "weights", "{file: model.pt, sha256: abc123}"),
       "'weights.sha256'", "64 hex digits"},
      {"a sha256 that is not hex",
       with(base, "weights", "{file: model.pt, sha256: " + std::string(64, 'g') + "}"),
       "'weights.sha256'", "64 hex digits"},
      {"classes that are not names",
       with(base, "classes", "[normal, {bacterial: 1}, viral_pneumonia]"), "'classes'", ""},
      {"a modality list of maps", with(base, "modality", "[{CR: 1}]"), "'modality'", ""},
  };
  int n = 0;
  for (const Case& c : cases) {
    INFO("case: ", std::string(c.what));
    const fs::path dir = model_dir(tmp, yaml_of(c.fields), "case" + std::to_string(n++));
    const std::string message =
        check_error([&] { (void)load_manifest(dir); }, ErrorKind::invalid_input, c.field);
    CHECK(contains(message, c.why));
    CHECK(contains(message, (dir / "model.yaml").string()));
  }
}

TEST_CASE("load_manifest reports malformed YAML with its line, and a missing file as not found") {
  csss::test::TempDir tmp;
  const fs::path bad = model_dir(tmp, "name: x\nclasses: [a, b\ninput: {size: 1\n", "bad");
  const std::string message =
      check_error([&] { (void)load_manifest(bad); }, ErrorKind::invalid_input, "line ");
  CHECK(contains(message, (bad / "model.yaml").string()));

  const fs::path list = model_dir(tmp, "- name: x\n- version: 1\n", "list");
  check_error([&] { (void)load_manifest(list); }, ErrorKind::invalid_input,
              "expected a mapping of fields");
  const fs::path empty = model_dir(tmp, "", "empty");
  check_error([&] { (void)load_manifest(empty); }, ErrorKind::invalid_input,
              "expected a mapping of fields");

  fs::create_directories(tmp / "nothing");
  check_error([&] { (void)load_manifest(tmp / "nothing"); }, ErrorKind::not_found,
              (tmp / "nothing" / "model.yaml").string());
  check_error([&] { (void)load_manifest(tmp / "no-such-dir"); }, ErrorKind::not_found,
              "no model manifest");
}

TEST_CASE("save_manifest writes a 0600 model.yaml that load_manifest reads back equal") {
  csss::test::TempDir tmp;
  for (const bool torchscript : {true, false}) {
    INFO("torchscript: ", torchscript);
    Manifest m;
    m.name = torchscript ? "brain-mri.v2" : "cxr_small";
    m.version = "3.0.1";
    m.description = torchscript ? "Brain MRI: tumour screening" : "";
    m.modalities = torchscript ? std::vector<std::string>{"MR"} : std::vector<std::string>{};
    m.body_part = torchscript ? "BRAIN" : "";
    m.classes = {"glioma", "meningioma", "notumor", "pituitary"};
    m.input.size = 128;
    m.input.channels = torchscript ? 3 : 1;
    m.input.mean = torchscript ? std::vector<float>{0.1f, 0.2f, 0.3f} : std::vector<float>{0.5f};
    m.input.stddev = torchscript ? std::vector<float>{0.4f, 0.5f, 0.6f} : std::vector<float>{0.25f};
    m.threshold = 0.9;
    m.temperature = 1.25;
    m.risk = {{"glioma", RiskLevel::high},
              {"meningioma", RiskLevel::medium},
              {"notumor", RiskLevel::low},
              {"pituitary", RiskLevel::medium}};
    m.architecture = torchscript ? Architecture::torchscript : Architecture::mobilenet_v2;
    m.width_mult = torchscript ? 1.0 : 0.5;
    m.gradcam_layer = torchscript ? "backbone" : "features";
    m.head_layer = torchscript ? "fc" : "classifier";
    m.weights_file = "w.pt";
    m.weights_sha256 = csss::crypto::sha256_hex("weights");
    m.metrics_file = torchscript ? "metrics.json" : "";
    m.dir = tmp / m.name;
    fs::create_directories(m.dir);
    save_manifest(m);

    CHECK(mode_of(m.dir / "model.yaml") == 0600);
    const Manifest r = load_manifest(m.dir);
    CHECK(r.name == m.name);
    CHECK(r.version == m.version);
    CHECK(r.description == m.description);
    CHECK(r.modalities == m.modalities);
    CHECK(r.body_part == m.body_part);
    CHECK(r.classes == m.classes);
    CHECK(r.input.size == m.input.size);
    CHECK(r.input.channels == m.input.channels);
    CHECK(r.input.mean == m.input.mean);
    CHECK(r.input.stddev == m.input.stddev);
    CHECK(r.threshold == m.threshold);
    CHECK(r.temperature == m.temperature);
    CHECK(r.risk == m.risk);
    CHECK(r.architecture == m.architecture);
    CHECK(r.width_mult == m.width_mult);
    CHECK(r.gradcam_layer == m.gradcam_layer);
    CHECK(r.head_layer == m.head_layer);
    CHECK(r.weights_file == m.weights_file);
    CHECK(r.weights_sha256 == m.weights_sha256);
    CHECK(r.metrics_file == m.metrics_file);
    CHECK(r.dir == m.dir);
  }
}

TEST_CASE("verify_weights accepts the recorded weights and refuses changed or missing ones") {
  csss::test::TempDir tmp;
  const fs::path dir = model_dir(tmp, yaml_of(full_fields()));
  write(dir / "weights.pt", kWeights);
  const Manifest m = load_manifest(dir);
  CHECK(weights_hash(m) == csss::crypto::sha256_hex(kWeights));
  CHECK_NOTHROW(verify_weights(m));

  // One byte more.
  write(dir / "weights.pt", kWeights + "x");
  std::string message =
      check_error([&] { verify_weights(m); }, ErrorKind::integrity, "does not match");
  CHECK(contains(message, "chest-xray"));
  CHECK(contains(message, (dir / "weights.pt").string()));
  CHECK(contains(message, csss::crypto::sha256_hex(kWeights)));
  CHECK(contains(message, csss::crypto::sha256_hex(kWeights + "x")));

  // The same length, one byte changed.
  std::string flipped = kWeights;
  flipped[3] = static_cast<char>(flipped[3] ^ 1);
  write(dir / "weights.pt", flipped);
  check_error([&] { verify_weights(m); }, ErrorKind::integrity, "does not match");

  // Replaced by an empty file.
  write(dir / "weights.pt", "");
  check_error([&] { verify_weights(m); }, ErrorKind::integrity, "does not match");

  fs::remove(dir / "weights.pt");
  message = check_error([&] { verify_weights(m); }, ErrorKind::integrity, "is missing");
  CHECK(contains(message, "chest-xray"));

  // Restored, it runs again.
  write(dir / "weights.pt", kWeights);
  CHECK_NOTHROW(verify_weights(m));
  CHECK(slurp(dir / "weights.pt") == kWeights);
}

TEST_CASE("check_model_name and parse_risk") {
  for (const char* ok : {"a", "chest-xray", "cxr_1.0", "9lives", "a-b.c_d"}) {
    INFO(ok);
    CHECK_NOTHROW(check_model_name(ok));
  }
  for (const char* bad : {"", "-x", ".x", "_x", "Upper", "has space", "a/b", "café"}) {
    INFO(bad);
    check_error([&] { check_model_name(bad); }, ErrorKind::invalid_input, "invalid model name");
  }
  CHECK_NOTHROW(check_model_name(std::string(64, 'z')));
  check_error([&] { check_model_name(std::string(65, 'z')); }, ErrorKind::invalid_input);

  CHECK(parse_risk("low") == RiskLevel::low);
  CHECK(parse_risk("medium") == RiskLevel::medium);
  CHECK(parse_risk("high") == RiskLevel::high);
  CHECK_FALSE(parse_risk("High").has_value());
  CHECK_FALSE(parse_risk("").has_value());
  CHECK(to_string(RiskLevel::medium) == "medium");
}
