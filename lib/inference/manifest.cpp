#include "inference/manifest.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>

#include <fmt/format.h>

#include "crypto/hash.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace csss::inference {

namespace fs = std::filesystem;

namespace {

constexpr const char* kManifestFile = "model.yaml";
constexpr std::size_t kMaxManifestBytes = 1 << 20;
constexpr std::size_t kMaxWeightsBytes = std::size_t{2} << 30;

class Reader {
 public:
  Reader(const YAML::Node& root, std::string file) : root_(root), file_(std::move(file)) {}

  [[noreturn]] void fail(std::string_view field, std::string_view why) const {
    throw Error(ErrorKind::invalid_input,
                fmt::format("model manifest {}: '{}' {}", file_, field, why));
  }

  YAML::Node node(std::string_view path, bool required) const {
    YAML::Node n = YAML::Clone(root_);
    for (const std::string& part : util::split(path, '.')) {
      if (!n.IsMap() || !n[part]) {
        if (required)
          fail(path, "is missing");
        return YAML::Node(YAML::NodeType::Undefined);  // absent: `!node` holds
      }
      n = n[part];
    }
    return n;
  }

  template <class T>
  T get(std::string_view path, bool required, T fallback) const {
    const YAML::Node n = node(path, required);
    if (!n)
      return fallback;
    try {
      return n.as<T>();
    } catch (const YAML::Exception&) {
      fail(path, "has the wrong type");
    }
  }

  std::vector<std::string> strings(std::string_view path, bool required) const {
    const YAML::Node n = node(path, required);
    if (!n)
      return {};
    if (n.IsScalar())
      return {n.as<std::string>()};
    if (!n.IsSequence())
      fail(path, "must be a list");
    std::vector<std::string> out;
    try {
      for (const auto& item : n)
        out.push_back(item.as<std::string>());
    } catch (const YAML::Exception&) {
      fail(path, "must be a list of names");
    }
    return out;
  }

  std::vector<float> floats(std::string_view path, bool required) const {
    const YAML::Node n = node(path, required);
    if (!n)
      return {};
    if (!n.IsSequence())
      fail(path, "must be a list of numbers");
    std::vector<float> out;
    try {
      for (const auto& item : n)
        out.push_back(item.as<float>());
    } catch (const YAML::Exception&) {
      fail(path, "must be a list of numbers");
    }
    return out;
  }

 private:
  YAML::Node root_;
  std::string file_;
};

bool is_hex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

std::string_view to_string(RiskLevel level) noexcept {
  switch (level) {
    case RiskLevel::low:
      return "low";
    case RiskLevel::medium:
      return "medium";
    case RiskLevel::high:
      return "high";
  }
  return "low";
}

std::optional<RiskLevel> parse_risk(std::string_view text) {
  for (RiskLevel r : {RiskLevel::low, RiskLevel::medium, RiskLevel::high}) {
    if (text == to_string(r))
      return r;
  }
  return std::nullopt;
}

ModelSpec Manifest::spec() const {
  ModelSpec s;
  s.weights = weights_path();
  s.architecture = architecture;
  s.num_classes = static_cast<int>(classes.size());
  s.input_channels = input.channels;
  s.input_size = input.size;
  s.width_mult = width_mult;
  s.gradcam_layer = gradcam_layer;
  s.head_layer = head_layer;
  s.temperature = temperature;
  return s;
}

void check_model_name(std::string_view name) {
  const bool ok =
      !name.empty() && name.size() <= 64 &&
      std::isalnum(static_cast<unsigned char>(name.front())) &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
      });
  if (!ok) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("invalid model name '{}': use 1-64 characters of a-z, 0-9, '.', '_' "
                            "and '-', starting with a letter or digit",
                            name));
  }
}

Manifest load_manifest(const fs::path& dir) {
  const fs::path file = dir / kManifestFile;
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    throw Error(ErrorKind::not_found, fmt::format("no model manifest {}", file.string()));
  }
  YAML::Node root;
  try {
    root = YAML::Load(util::read_file(file, kMaxManifestBytes));
  } catch (const YAML::Exception& e) {
    throw Error(ErrorKind::invalid_input, fmt::format("model manifest {}: line {}: {}",
                                                      file.string(), e.mark.line + 1, e.msg));
  }
  if (!root.IsMap()) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("model manifest {}: expected a mapping of fields", file.string()));
  }
  const Reader r(root, file.string());
  Manifest m;
  m.dir = dir;
  m.name = r.get<std::string>("name", true, "");
  try {
    check_model_name(m.name);
  } catch (const Error& e) {
    r.fail("name", e.what());
  }
  m.version = r.get<std::string>("version", true, "");
  m.description = r.get<std::string>("description", false, "");
  m.modalities = r.strings("modality", false);
  m.body_part = r.get<std::string>("body_part", false, "");
  m.classes = r.strings("classes", true);
  if (m.classes.size() < 2)
    r.fail("classes", "must list at least two classes");
  for (std::size_t i = 0; i < m.classes.size(); ++i) {
    const std::string& c = m.classes[i];
    if (c.empty() || c.size() > 64 || !std::all_of(c.begin(), c.end(), [](char ch) {
          return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-';
        })) {
      r.fail("classes", fmt::format("'{}' is not a class name: use 1-64 letters, digits, '_' and "
                                    "'-'",
                                    c));
    }
    if (std::find(m.classes.begin(), m.classes.begin() + static_cast<long>(i), m.classes[i]) !=
        m.classes.begin() + static_cast<long>(i)) {
      r.fail("classes", fmt::format("names '{}' twice", m.classes[i]));
    }
  }
  m.input.size = r.get<int>("input.size", true, 224);
  m.input.channels = r.get<int>("input.channels", true, 1);
  if (m.input.size < 16 || m.input.size > 1024)
    r.fail("input.size", "must be from 16 to 1024");
  if (m.input.channels != 1 && m.input.channels != 3)
    r.fail("input.channels", "must be 1 or 3");
  m.input.mean = r.floats("input.mean", true);
  m.input.stddev = r.floats("input.std", true);
  // The range checks below are written so that NaN fails them too.
  const auto channels = static_cast<std::size_t>(m.input.channels);
  if (m.input.mean.size() != channels)
    r.fail("input.mean", "must have one value per channel");
  if (m.input.stddev.size() != channels)
    r.fail("input.std", "must have one value per channel");
  if (std::any_of(m.input.stddev.begin(), m.input.stddev.end(), [](float s) { return !(s > 0); })) {
    r.fail("input.std", "must be positive");
  }
  m.threshold = r.get<double>("threshold", false, 0.75);
  if (!(m.threshold >= 0 && m.threshold <= 1))
    r.fail("threshold", "must be from 0 to 1");
  m.temperature = r.get<double>("temperature", false, 1.0);
  if (!(m.temperature > 0))
    r.fail("temperature", "must be positive");
  for (const std::string& c : m.classes) {
    const std::string level = r.get<std::string>("risk." + c, true, "");
    const auto parsed = parse_risk(level);
    if (!parsed)
      r.fail("risk." + c, "must be low, medium or high");
    m.risk[c] = *parsed;
  }
  const std::string type = r.get<std::string>("architecture.type", true, "");
  if (type == "mobilenet_v2") {
    m.architecture = Architecture::mobilenet_v2;
    m.width_mult = r.get<double>("architecture.width", false, 1.0);
    if (m.width_mult <= 0 || m.width_mult > 4)
      r.fail("architecture.width", "must be in (0, 4]");
  } else if (type == "torchscript") {
    m.architecture = Architecture::torchscript;
    m.gradcam_layer = r.get<std::string>("architecture.gradcam_layer", false, "features");
    m.head_layer = r.get<std::string>("architecture.head_layer", false, "classifier");
  } else {
    r.fail("architecture.type", "must be mobilenet_v2 or torchscript");
  }
  m.weights_file = r.get<std::string>("weights.file", true, "");
  if (m.weights_file.empty() || m.weights_file.find('/') != std::string::npos ||
      m.weights_file.starts_with(".")) {
    r.fail("weights.file", "must be a file name inside the model folder");
  }
  m.weights_sha256 = util::to_lower(r.get<std::string>("weights.sha256", true, ""));
  if (!is_hex64(m.weights_sha256))
    r.fail("weights.sha256", "must be 64 hex digits");
  m.metrics_file = r.get<std::string>("metrics", false, "");
  return m;
}

void save_manifest(const Manifest& m) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << m.name;
  out << YAML::Key << "version" << YAML::Value << m.version;
  if (!m.description.empty())
    out << YAML::Key << "description" << YAML::Value << m.description;
  out << YAML::Key << "modality" << YAML::Value << YAML::Flow << m.modalities;
  if (!m.body_part.empty())
    out << YAML::Key << "body_part" << YAML::Value << m.body_part;
  out << YAML::Key << "classes" << YAML::Value << YAML::Flow << m.classes;
  out << YAML::Key << "input" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "size" << YAML::Value << m.input.size;
  out << YAML::Key << "channels" << YAML::Value << m.input.channels;
  out << YAML::Key << "mean" << YAML::Value << YAML::Flow << m.input.mean;
  out << YAML::Key << "std" << YAML::Value << YAML::Flow << m.input.stddev;
  out << YAML::EndMap;
  // Shortest text that reads back as the same double ("0.6", not "0.59999999999999998").
  out << YAML::Key << "threshold" << YAML::Value << fmt::format("{}", m.threshold);
  out << YAML::Key << "temperature" << YAML::Value << fmt::format("{}", m.temperature);
  out << YAML::Key << "risk" << YAML::Value << YAML::BeginMap;
  for (const std::string& c : m.classes) {
    out << YAML::Key << c << YAML::Value << std::string(to_string(m.risk.at(c)));
  }
  out << YAML::EndMap;
  out << YAML::Key << "architecture" << YAML::Value << YAML::BeginMap;
  if (m.architecture == Architecture::mobilenet_v2) {
    out << YAML::Key << "type" << YAML::Value << "mobilenet_v2";
    out << YAML::Key << "width" << YAML::Value << fmt::format("{}", m.width_mult);
  } else {
    out << YAML::Key << "type" << YAML::Value << "torchscript";
    out << YAML::Key << "gradcam_layer" << YAML::Value << m.gradcam_layer;
    out << YAML::Key << "head_layer" << YAML::Value << m.head_layer;
  }
  out << YAML::EndMap;
  out << YAML::Key << "weights" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "file" << YAML::Value << m.weights_file;
  out << YAML::Key << "sha256" << YAML::Value << m.weights_sha256;
  out << YAML::EndMap;
  if (!m.metrics_file.empty())
    out << YAML::Key << "metrics" << YAML::Value << m.metrics_file;
  out << YAML::EndMap;
  util::write_private_file(m.dir / kManifestFile, std::string(out.c_str()) + "\n");
}

std::string weights_hash(const Manifest& m) {
  return crypto::sha256_hex(util::read_file(m.weights_path(), kMaxWeightsBytes));
}

void verify_weights(const Manifest& m) {
  std::error_code ec;
  if (!fs::exists(m.weights_path(), ec)) {
    throw Error(ErrorKind::integrity, fmt::format("model {}: the weights file {} is missing; the "
                                                  "model cannot run",
                                                  m.name, m.weights_path().string()));
  }
  const std::string actual = weights_hash(m);
  if (!crypto::constant_time_equal(actual, m.weights_sha256)) {
    throw Error(ErrorKind::integrity,
                fmt::format("model {}: the weights file {} does not match the SHA-256 recorded in "
                            "its manifest (expected {}, found {}); the model refuses to run",
                            m.name, m.weights_path().string(), m.weights_sha256, actual));
  }
}

}  // namespace csss::inference
