#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace csss::config {

namespace {

enum class Type { text, path, integer, choice };

struct KeySpec {
  const char* key;
  Type type;
  const char* fallback;  // default value; data_dir's is computed from XDG_DATA_HOME
  const char* description;
  int min = 0;
  int max = 0;
  const char* choices = "";  // '|'-separated, for Type::choice
  bool secret = false;
};

// The one table of settings: key, type, default and what it does.
const KeySpec kKeys[] = {
    {"data_dir", Type::path, "",
     "where the store, scans and outbox live (default: "
     "$XDG_DATA_HOME/csss)"},
    {"session.ttl_minutes", Type::integer, "60", "a login session ends this long after login", 1,
     24 * 60},
    {"session.idle_minutes", Type::integer, "15",
     "a login session ends after this long without a command", 1, 24 * 60},
    {"login.max_failures", Type::integer, "5", "failed logins in a row that lock the account", 1,
     100},
    {"login.lockout_minutes", Type::integer, "15", "how long a locked account stays locked", 1,
     7 * 24 * 60},
    {"password.min_length", Type::integer, "12", "the shortest password accepted", 8, 128},
    {"otp.ttl_minutes", Type::integer, "10", "how long an emailed one-time code is valid", 1, 60},
    {"otp.max_attempts", Type::integer, "5", "wrong codes allowed before a new code is needed", 1,
     20},
    {"account.codes_per_hour", Type::integer, "3",
     "codes emailed to one address per hour, for each of registration and password reset", 1, 100},
    {"scan.max_file_mb", Type::integer, "64", "the largest scan file accepted, in MiB", 1, 4096},
    {"scan.max_megapixels", Type::integer, "100",
     "the most pixels a scan may declare, in millions (checked before decoding)", 1, 1000},
    {"batch.queue_mb", Type::integer, "32",
     "decoded images that may wait for the model in a batch import, in MiB (the decoding runs "
     "this far ahead, most of all while the model loads)",
     1, 4096},
    {"models.dir", Type::path, CSSS_DEFAULT_MODELS_DIR,
     "the shipped models (imported ones live in <data_dir>/models)"},
    {"prescription.templates", Type::path, CSSS_DEFAULT_TEMPLATES,
     "the prescription templates of csss prescribe --template (YAML)"},
    {"report.facility_name", Type::text, "CSSS", "the facility named at the top of every report"},
    {"report.facility_address", Type::text, "",
     "the facility's address under its name on reports (a YAML block for several lines)"},
    {"report.font", Type::path, "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
     "TrueType font of reports (Unicode coverage: Debian fonts-dejavu-core)"},
    {"report.font_bold", Type::path, "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
     "bold TrueType font of reports"},
    {"mail.from", Type::text, "CSSS <no-reply@csss.local>", "sender of every message"},
    {"smtp.url", Type::text, "",
     "SMTP server (smtp://host:587 or smtps://host:465); empty: messages go to <data_dir>/outbox"},
    {"smtp.user", Type::text, "", "SMTP login name"},
    {"smtp.password", Type::text, "", "SMTP password", 0, 0, "", true},
    {"smtp.tls", Type::choice, "starttls",
     "starttls: require STARTTLS on smtp:// URLs; none: plain text (a local relay only)", 0, 0,
     "starttls|none"},
    {"smtp.timeout_seconds", Type::integer, "30", "give up on the SMTP server after this long", 1,
     600},
};

const KeySpec* spec_for(std::string_view key) {
  for (const KeySpec& s : kKeys) {
    if (key == s.key)
      return &s;
  }
  return nullptr;
}

std::string unknown_key_message(std::string_view key, std::string_view where) {
  auto close = util::suggestions(key, Config::known_keys());
  return fmt::format("unknown setting '{}' in {}{}", key, where,
                     close.empty() ? "" : fmt::format("; did you mean '{}'?", close.front()));
}

// Flattens nested YAML maps into dotted keys: {smtp: {url: x}} -> smtp.url = x.
void flatten(const YAML::Node& node, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& out, const std::string& file) {
  if (!node.IsMap()) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("config file {}: expected a mapping of settings", file));
  }
  for (const auto& item : node) {
    const std::string key = prefix + item.first.as<std::string>();
    if (item.second.IsMap()) {
      flatten(item.second, key + ".", out, file);
    } else if (item.second.IsScalar()) {
      out.emplace_back(key, item.second.as<std::string>());
    } else if (item.second.IsNull()) {
      out.emplace_back(key, "");
    } else {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("config file {}: setting '{}' must be a single value", file, key));
    }
  }
}

}  // namespace

std::string_view to_string(Source source) noexcept {
  switch (source) {
    case Source::builtin:
      return "default";
    case Source::file:
      return "file";
    case Source::environment:
      return "environment";
    case Source::flag:
      return "flag";
  }
  return "default";
}

std::string env_name(std::string_view key) {
  std::string name = "CSSS_";
  for (char c : key) {
    name += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return name;
}

std::vector<std::string> Config::known_keys() {
  std::vector<std::string> keys;
  for (const KeySpec& s : kKeys)
    keys.emplace_back(s.key);
  return keys;
}

Config Config::defaults(const EnvLookup& env) {
  Config c;
  for (const KeySpec& s : kKeys) {
    c.settings_.push_back(
        Setting{s.key, s.fallback, Source::builtin, "default", s.description, s.secret});
  }
  // XDG Base Directory spec: $XDG_DATA_HOME, else ~/.local/share.
  const char* xdg = env("XDG_DATA_HOME");
  const char* home = env("HOME");
  std::string data_dir;
  if (xdg != nullptr && xdg[0] == '/') {
    data_dir = std::string(xdg) + "/csss";
  } else if (home != nullptr && home[0] == '/') {
    data_dir = std::string(home) + "/.local/share/csss";
  }
  c.find("data_dir").value = data_dir;
  return c;
}

Config Config::load(const Flags& flags, const EnvLookup& env) {
  Config c = defaults(env);

  // Layer 2: the YAML file.
  std::optional<std::filesystem::path> file;
  bool explicit_file = true;
  if (flags.config_file) {
    file = *flags.config_file;
  } else if (const char* v = env("CSSS_CONFIG"); v != nullptr && v[0] != '\0') {
    file = v;
  } else {
    explicit_file = false;
    const char* xdg = env("XDG_CONFIG_HOME");
    const char* home = env("HOME");
    std::filesystem::path dir;
    if (xdg != nullptr && xdg[0] == '/') {
      dir = xdg;
    } else if (home != nullptr && home[0] == '/') {
      dir = std::filesystem::path(home) / ".config";
    }
    if (!dir.empty() && std::filesystem::exists(dir / "csss" / "config.yaml")) {
      file = dir / "csss" / "config.yaml";
    }
  }
  if (file) {
    constexpr std::size_t kMaxConfigBytes = 1 << 20;
    if (!explicit_file || std::filesystem::exists(*file)) {
      const std::string text = util::read_file(*file, kMaxConfigBytes);
      std::vector<std::pair<std::string, std::string>> values;
      try {
        const YAML::Node root = YAML::Load(text);
        if (!root.IsNull())
          flatten(root, "", values, file->string());
      } catch (const YAML::Exception& e) {
        throw Error(ErrorKind::invalid_input, fmt::format("config file {}: line {}: {}",
                                                          file->string(), e.mark.line + 1, e.msg));
      }
      for (auto& [key, value] : values) {
        c.set(key, std::move(value), Source::file, file->string(),
              fmt::format("config file {}", file->string()));
      }
      c.file_ = file;
    } else {
      throw Error(ErrorKind::io, fmt::format("config file {} does not exist", file->string()));
    }
  }

  // Layer 3: CSSS_* environment variables.
  for (const KeySpec& s : kKeys) {
    const std::string name = env_name(s.key);
    if (const char* v = env(name.c_str()); v != nullptr && v[0] != '\0') {
      c.set(s.key, v, Source::environment, name, fmt::format("environment variable {}", name));
    }
  }

  // Layer 4: flags.
  if (flags.data_dir) {
    c.set("data_dir", *flags.data_dir, Source::flag, "--data-dir", "option --data-dir");
  }

  if (c.get("data_dir").empty()) {
    throw Error(ErrorKind::io,
                "no data directory: HOME and XDG_DATA_HOME are unset; use --data-dir or "
                "CSSS_DATA_DIR");
  }
  return c;
}

Setting& Config::find(std::string_view key) {
  for (Setting& s : settings_) {
    if (s.key == key)
      return s;
  }
  throw Error(ErrorKind::internal, fmt::format("unknown setting '{}'", key));
}

const std::string& Config::get(std::string_view key) const {
  for (const Setting& s : settings_) {
    if (s.key == key)
      return s.value;
  }
  throw Error(ErrorKind::internal, fmt::format("unknown setting '{}'", key));
}

int Config::get_int(std::string_view key) const {
  const std::string& v = get(key);
  int out = 0;
  std::from_chars(v.data(), v.data() + v.size(), out);
  return out;
}

void Config::set(std::string_view key, std::string value, Source source, std::string origin,
                 std::string_view where) {
  const KeySpec* spec = spec_for(key);
  if (spec == nullptr)
    throw Error(ErrorKind::invalid_input, unknown_key_message(key, where));
  value = util::trim(value);
  switch (spec->type) {
    case Type::integer: {
      int n = 0;
      const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || ptr != value.data() + value.size() || n < spec->min ||
          n > spec->max) {
        throw Error(ErrorKind::invalid_input,
                    fmt::format("setting '{}' in {} must be a whole number from {} to {}, not '{}'",
                                key, where, spec->min, spec->max, value));
      }
      value = std::to_string(n);
      break;
    }
    case Type::choice: {
      const auto choices = util::split(spec->choices, '|');
      if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
        throw Error(ErrorKind::invalid_input,
                    fmt::format("setting '{}' in {} must be one of {}, not '{}'", key, where,
                                util::join(choices, ", "), value));
      }
      break;
    }
    case Type::path:
      if (value.empty()) {
        throw Error(ErrorKind::invalid_input,
                    fmt::format("setting '{}' in {} must not be empty", key, where));
      }
      break;
    case Type::text:
      break;
  }
  Setting& s = find(key);
  s.value = std::move(value);
  s.source = source;
  s.origin = std::move(origin);
}

}  // namespace csss::config
