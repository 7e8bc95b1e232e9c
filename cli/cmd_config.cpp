// csss config show: the effective settings and where each came from.
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "commands.hpp"
#include "config/config.hpp"
#include "context.hpp"
#include "format.hpp"

namespace csss::cli {

namespace {

void run_show(Context& ctx) {
  const config::Config& cfg = ctx.config();
  nlohmann::json settings = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  for (const config::Setting& s : cfg.settings()) {
    const std::string value = s.secret && !s.value.empty() ? "********" : s.value;
    settings.push_back({{"key", s.key},
                        {"value", value},
                        {"source", std::string(config::to_string(s.source))},
                        {"origin", s.origin},
                        {"env", config::env_name(s.key)},
                        {"description", s.description}});
    rows.push_back({s.key, value.empty() ? "(empty)" : value, s.origin});
  }
  const nlohmann::json doc = {
      {"file", cfg.file() ? nlohmann::json(cfg.file()->string()) : nlohmann::json(nullptr)},
      {"settings", settings}};
  std::string text =
      fmt::format("config file: {}\n\n", cfg.file() ? cfg.file()->string() : "(none)");
  text += format_table({"KEY", "VALUE", "FROM"}, rows);
  ctx.result(doc, text);
}

}  // namespace

void setup_config(CLI::App& app, Context& ctx) {
  CLI::App* config = app.add_subcommand("config", "Show the configuration");
  config->require_subcommand(1);
  config->footer("Example:\n  csss config show --json");
  CLI::App* show = config->add_subcommand("show", "Print every setting, its value and its origin");
  show->footer(
      "Layers, lowest first: built-in defaults; the YAML file (--config, CSSS_CONFIG, or\n"
      "$XDG_CONFIG_HOME/csss/config.yaml); CSSS_* environment variables (smtp.url is\n"
      "CSSS_SMTP_URL); flags (--data-dir).\n\n"
      "Example:\n  CSSS_SESSION_TTL_MINUTES=30 csss config show");
  show->callback([&ctx] { run_show(ctx); });
}

}  // namespace csss::cli
