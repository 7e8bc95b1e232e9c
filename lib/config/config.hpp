#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace csss::config {

// Where a setting's value came from. Layers, lowest priority first:
//   1. built-in defaults (the table in config.cpp, which documents each key);
//   2. the YAML file: --config, else CSSS_CONFIG, else $XDG_CONFIG_HOME/csss/config.yaml if
//   present;
//   3. environment variables: CSSS_ + the key in upper case with '.' as '_' (CSSS_SMTP_URL);
//   4. command-line flags (--data-dir).
enum class Source { builtin, file, environment, flag };

std::string_view to_string(Source source) noexcept;

struct Setting {
  std::string key;
  std::string value;
  Source source = Source::builtin;
  std::string origin;  // "default", the file path, "CSSS_SMTP_URL", "--data-dir"
  std::string description;
  bool secret = false;  // shown masked by `csss config show`
};

struct Flags {
  std::optional<std::string> data_dir;
  std::optional<std::string> config_file;
};

// Looks up an environment variable; nullptr when unset. Tests pass their own.
using EnvLookup = std::function<const char*(const char*)>;

class Config {
 public:
  // Builds the effective configuration. Throws Error(invalid_input) naming the file, key or
  // variable for an unknown key, a malformed file or a value out of range, and Error(io) when an
  // explicitly named config file cannot be read.
  static Config load(const Flags& flags, const EnvLookup& env);

  // The built-in defaults only (for tests and examples).
  static Config defaults(const EnvLookup& env);

  const std::string& get(std::string_view key) const;
  int get_int(std::string_view key) const;
  std::filesystem::path data_dir() const { return get("data_dir"); }
  // The YAML file that was read, if any.
  const std::optional<std::filesystem::path>& file() const { return file_; }
  // Every setting in table order, with its value and origin.
  const std::vector<Setting>& settings() const { return settings_; }

  // Every key the table knows, for suggestions and documentation.
  static std::vector<std::string> known_keys();

 private:
  Setting& find(std::string_view key);
  void set(std::string_view key, std::string value, Source source, std::string origin,
           std::string_view where);
  std::vector<Setting> settings_;
  std::optional<std::filesystem::path> file_;
};

// The environment variable that overrides `key` ("smtp.url" -> "CSSS_SMTP_URL").
std::string env_name(std::string_view key);

}  // namespace csss::config
