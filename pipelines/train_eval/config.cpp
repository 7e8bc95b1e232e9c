#include "train_eval/config.hpp"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace csss::pipelines {

namespace fs = std::filesystem;

namespace {

const std::map<std::string, std::set<std::string>> kKeys = {
    {"",
     {"name", "version", "description", "modality", "body_part", "data", "classes", "risk",
      "threshold", "input", "architecture", "split", "training", "augment"}},
    {"input", {"size", "channels", "mean", "std"}},
    {"architecture", {"width"}},
    {"split", {"train", "val", "seed"}},
    {"training",
     {"epochs", "batch_size", "learning_rate", "weight_decay", "class_weights",
      "early_stopping_patience", "lr_patience", "lr_factor", "seed", "time_limit_minutes",
      "workers"}},
    {"augment", {"rotate_degrees", "scale", "translate", "hflip", "brightness", "contrast"}},
};

class Reader {
 public:
  explicit Reader(std::string origin) : origin_(std::move(origin)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& why) const {
    throw Error(ErrorKind::invalid_input,
                fmt::format("training configuration {}: '{}' {}", origin_, key, why));
  }

  void check_keys(const YAML::Node& node, const std::string& section) const {
    if (!node.IsMap())
      fail(section.empty() ? "(top level)" : section, "must be a mapping");
    const std::set<std::string>& known = kKeys.at(section);
    for (const auto& item : node) {
      const std::string key = item.first.as<std::string>();
      if (!known.count(key)) {
        const auto close =
            util::suggestions(key, std::vector<std::string>(known.begin(), known.end()));
        fail(section.empty() ? key : section + "." + key,
             "is not a known key" +
                 (close.empty() ? std::string() : fmt::format("; did you mean '{}'?", close[0])));
      }
    }
  }

  template <class T>
  void get(const YAML::Node& node, const std::string& key, const std::string& full, T& out) const {
    if (!node[key])
      return;
    try {
      out = node[key].as<T>();
    } catch (const YAML::Exception&) {
      fail(full, "has the wrong type");
    }
  }

  void strings(const YAML::Node& node, const std::string& key,
               std::vector<std::string>& out) const {
    const YAML::Node n = node[key];
    if (!n)
      return;
    out.clear();
    try {
      if (n.IsScalar()) {
        out.push_back(n.as<std::string>());
      } else if (n.IsSequence()) {
        for (const auto& item : n)
          out.push_back(item.as<std::string>());
      } else {
        fail(key, "must be a list");
      }
    } catch (const YAML::Exception&) {
      fail(key, "must be a list of names");
    }
  }

  void floats(const YAML::Node& node, const std::string& key, const std::string& full,
              std::vector<float>& out) const {
    const YAML::Node n = node[key];
    if (!n)
      return;
    out.clear();
    try {
      if (n.IsScalar()) {
        out.push_back(n.as<float>());
      } else if (n.IsSequence()) {
        for (const auto& item : n)
          out.push_back(item.as<float>());
      } else {
        fail(full, "must be a list of numbers");
      }
    } catch (const YAML::Exception&) {
      fail(full, "must be a list of numbers");
    }
  }

 private:
  std::string origin_;
};

}  // namespace

TrainConfig parse_train_config(const std::string& text, const std::string& origin,
                               const fs::path& base) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(ErrorKind::invalid_input, fmt::format("training configuration {}: line {}: {}",
                                                      origin, e.mark.line + 1, e.msg));
  }
  const Reader r(origin);
  if (!root || root.IsNull())
    root = YAML::Node(YAML::NodeType::Map);
  r.check_keys(root, "");
  TrainConfig c;
  r.get(root, "name", "name", c.name);
  r.get(root, "version", "version", c.version);
  r.get(root, "description", "description", c.description);
  r.strings(root, "modality", c.modalities);
  r.get(root, "body_part", "body_part", c.body_part);
  if (root["data"]) {
    std::string data;
    r.get(root, "data", "data", data);
    c.data = fs::path(data).is_absolute() ? fs::path(data) : (base / data).lexically_normal();
  }
  r.strings(root, "classes", c.classes);
  if (const YAML::Node risk = root["risk"]) {
    if (!risk.IsMap())
      r.fail("risk", "must map each class to low, medium or high");
    for (const auto& item : risk) {
      const std::string label = item.first.as<std::string>();
      const auto level = inference::parse_risk(item.second.as<std::string>());
      if (!level)
        r.fail("risk." + label, "must be low, medium or high");
      c.risk[label] = *level;
    }
  }
  r.get(root, "threshold", "threshold", c.threshold);
  if (const YAML::Node in = root["input"]) {
    r.check_keys(in, "input");
    r.get(in, "size", "input.size", c.input.size);
    r.get(in, "channels", "input.channels", c.input.channels);
    if (in["channels"] && !in["mean"] && !in["std"]) {
      c.input.mean.assign(static_cast<std::size_t>(std::max(c.input.channels, 1)), 0.5f);
      c.input.stddev.assign(static_cast<std::size_t>(std::max(c.input.channels, 1)), 0.25f);
    }
    r.floats(in, "mean", "input.mean", c.input.mean);
    r.floats(in, "std", "input.std", c.input.stddev);
  }
  if (const YAML::Node a = root["architecture"]) {
    r.check_keys(a, "architecture");
    r.get(a, "width", "architecture.width", c.width_mult);
  }
  if (const YAML::Node s = root["split"]) {
    r.check_keys(s, "split");
    r.get(s, "train", "split.train", c.split.train);
    r.get(s, "val", "split.val", c.split.val);
    r.get(s, "seed", "split.seed", c.split.seed);
  }
  if (const YAML::Node t = root["training"]) {
    r.check_keys(t, "training");
    r.get(t, "epochs", "training.epochs", c.epochs);
    r.get(t, "batch_size", "training.batch_size", c.batch_size);
    r.get(t, "learning_rate", "training.learning_rate", c.learning_rate);
    r.get(t, "weight_decay", "training.weight_decay", c.weight_decay);
    if (const YAML::Node w = t["class_weights"]) {
      if (w.IsSequence()) {
        r.floats(t, "class_weights", "training.class_weights", c.class_weight_values);
        c.class_weights = "list";
      } else {
        r.get(t, "class_weights", "training.class_weights", c.class_weights);
        if (c.class_weights != "none" && c.class_weights != "balanced")
          r.fail("training.class_weights", "must be none, balanced or a list of numbers");
      }
    }
    r.get(t, "early_stopping_patience", "training.early_stopping_patience",
          c.early_stopping_patience);
    r.get(t, "lr_patience", "training.lr_patience", c.lr_patience);
    r.get(t, "lr_factor", "training.lr_factor", c.lr_factor);
    r.get(t, "seed", "training.seed", c.seed);
    r.get(t, "time_limit_minutes", "training.time_limit_minutes", c.time_limit_minutes);
    r.get(t, "workers", "training.workers", c.workers);
  }
  if (const YAML::Node a = root["augment"]) {
    r.check_keys(a, "augment");
    r.get(a, "rotate_degrees", "augment.rotate_degrees", c.augment.rotate_degrees);
    r.get(a, "scale", "augment.scale", c.augment.scale);
    r.get(a, "translate", "augment.translate", c.augment.translate);
    r.get(a, "hflip", "augment.hflip", c.augment.hflip);
    r.get(a, "brightness", "augment.brightness", c.augment.brightness);
    r.get(a, "contrast", "augment.contrast", c.augment.contrast);
  }
  return c;
}

TrainConfig load_train_config(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    throw Error(ErrorKind::not_found,
                fmt::format("training configuration {} does not exist", file.string()));
  }
  return parse_train_config(util::read_file(file, 1 << 20), file.string(),
                            fs::absolute(file).parent_path());
}

void validate(const TrainConfig& c) {
  const auto bad = [](const std::string& key, const std::string& why) {
    throw Error(ErrorKind::invalid_input, fmt::format("training option '{}' {}", key, why));
  };
  if (c.name.empty())
    bad("name", "is missing (set it in the configuration or with --name)");
  inference::check_model_name(c.name);
  if (c.data.empty())
    bad("data", "is missing (set it in the configuration or with --data)");
  if (c.input.size < 32 || c.input.size > 1024)
    bad("input.size", "must be between 32 and 1024");
  if (c.input.channels != 1 && c.input.channels != 3)
    bad("input.channels", "must be 1 or 3");
  if (c.input.mean.size() != static_cast<std::size_t>(c.input.channels) ||
      c.input.stddev.size() != static_cast<std::size_t>(c.input.channels))
    bad("input.mean/std", "need one value per channel");
  if (!(c.width_mult >= 0.1 && c.width_mult <= 4.0))
    bad("architecture.width", "must be between 0.1 and 4");
  if (!(c.threshold >= 0.0 && c.threshold <= 1.0))
    bad("threshold", "must be between 0 and 1");
  if (c.epochs < 1 || c.epochs > 10000)
    bad("training.epochs", "must be between 1 and 10000");
  if (c.batch_size < 2 || c.batch_size > 4096)
    bad("training.batch_size", "must be between 2 and 4096");
  if (!(c.learning_rate > 0.0 && c.learning_rate < 10.0))
    bad("training.learning_rate", "must be a positive number below 10");
  if (!(c.weight_decay >= 0.0 && c.weight_decay < 1.0))
    bad("training.weight_decay", "must be between 0 and 1");
  if (c.early_stopping_patience < 1)
    bad("training.early_stopping_patience", "must be at least 1");
  if (c.lr_patience < 1)
    bad("training.lr_patience", "must be at least 1");
  if (!(c.lr_factor > 0.0 && c.lr_factor < 1.0))
    bad("training.lr_factor", "must be between 0 and 1 (exclusive)");
  if (!(c.time_limit_minutes >= 0.0))
    bad("training.time_limit_minutes", "must be 0 (none) or positive");
  if (c.workers < 1 || c.workers > 256)
    bad("training.workers", "must be between 1 and 256");
  if (!(c.split.train > 0.0 && c.split.val > 0.0 && c.split.train + c.split.val <= 1.0))
    bad("split", "train and val must be positive fractions with train + val at most 1");
  imaging::check(c.augment);
  for (const auto& [label, level] : c.risk) {
    if (!c.classes.empty() &&
        std::find(c.classes.begin(), c.classes.end(), label) == c.classes.end())
      bad("risk." + label, "names a class that is not in 'classes'");
  }
}

std::string to_yaml(const TrainConfig& c) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << c.name;
  out << YAML::Key << "version" << YAML::Value << c.version;
  out << YAML::Key << "description" << YAML::Value << c.description;
  out << YAML::Key << "modality" << YAML::Value << YAML::Flow << c.modalities;
  out << YAML::Key << "body_part" << YAML::Value << c.body_part;
  out << YAML::Key << "data" << YAML::Value << fs::absolute(c.data).lexically_normal().string();
  out << YAML::Key << "classes" << YAML::Value << YAML::Flow << c.classes;
  out << YAML::Key << "risk" << YAML::Value << YAML::Flow << YAML::BeginMap;
  for (const auto& [label, level] : c.risk)
    out << YAML::Key << label << YAML::Value << std::string(inference::to_string(level));
  out << YAML::EndMap;
  out << YAML::Key << "threshold" << YAML::Value << c.threshold;
  out << YAML::Key << "input" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "size"
      << YAML::Value << c.input.size << YAML::Key << "channels" << YAML::Value << c.input.channels
      << YAML::Key << "mean" << YAML::Value << YAML::Flow << c.input.mean << YAML::Key << "std"
      << YAML::Value << YAML::Flow << c.input.stddev << YAML::EndMap;
  out << YAML::Key << "architecture" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key
      << "width" << YAML::Value << c.width_mult << YAML::EndMap;
  out << YAML::Key << "split" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "train"
      << YAML::Value << c.split.train << YAML::Key << "val" << YAML::Value << c.split.val
      << YAML::Key << "seed" << YAML::Value << c.split.seed << YAML::EndMap;
  out << YAML::Key << "training" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "epochs" << YAML::Value << c.epochs;
  out << YAML::Key << "batch_size" << YAML::Value << c.batch_size;
  out << YAML::Key << "learning_rate" << YAML::Value << c.learning_rate;
  out << YAML::Key << "weight_decay" << YAML::Value << c.weight_decay;
  if (c.class_weights == "list")
    out << YAML::Key << "class_weights" << YAML::Value << YAML::Flow << c.class_weight_values;
  else
    out << YAML::Key << "class_weights" << YAML::Value << c.class_weights;
  out << YAML::Key << "early_stopping_patience" << YAML::Value << c.early_stopping_patience;
  out << YAML::Key << "lr_patience" << YAML::Value << c.lr_patience;
  out << YAML::Key << "lr_factor" << YAML::Value << c.lr_factor;
  out << YAML::Key << "seed" << YAML::Value << c.seed;
  out << YAML::Key << "time_limit_minutes" << YAML::Value << c.time_limit_minutes;
  out << YAML::Key << "workers" << YAML::Value << c.workers;
  out << YAML::EndMap;
  out << YAML::Key << "augment" << YAML::Value << YAML::Flow << YAML::BeginMap;
  out << YAML::Key << "rotate_degrees" << YAML::Value << c.augment.rotate_degrees;
  out << YAML::Key << "scale" << YAML::Value << c.augment.scale;
  out << YAML::Key << "translate" << YAML::Value << c.augment.translate;
  out << YAML::Key << "hflip" << YAML::Value << c.augment.hflip;
  out << YAML::Key << "brightness" << YAML::Value << c.augment.brightness;
  out << YAML::Key << "contrast" << YAML::Value << c.augment.contrast;
  out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace csss::pipelines
