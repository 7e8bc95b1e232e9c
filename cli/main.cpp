// csss: the command-line entry point. It registers the commands, parses, and holds the one place
// where errors become a message on stderr and a documented exit status (README, "Exit codes").
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "context.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"

namespace {

using csss::cli::Context;

struct CommandEntry {
  void (*setup)(CLI::App&, Context&);
};

// Every top-level command, in the order --help lists them.
constexpr CommandEntry kCommands[] = {
    {csss::cli::setup_init},        {csss::cli::setup_login},  {csss::cli::setup_logout},
    {csss::cli::setup_whoami},      {csss::cli::setup_upload}, {csss::cli::setup_scans},
    {csss::cli::setup_analyze},     {csss::cli::setup_verify}, {csss::cli::setup_prescribe},
    {csss::cli::setup_approve},     {csss::cli::setup_reject}, {csss::cli::setup_return},
    {csss::cli::setup_report},      {csss::cli::setup_batch},  {csss::cli::setup_model},
    {csss::cli::setup_user},        {csss::cli::setup_token},  {csss::cli::setup_audit},
    {csss::cli::setup_roles},       {csss::cli::setup_config}, {csss::cli::setup_train_eval},
    {csss::cli::setup_maintenance}, {csss::cli::setup_ask},    {csss::cli::setup_patient},
};

// Global options whose value is the next argument.
constexpr std::string_view kValueOptions[] = {"--data-dir", "--config"};

// Walks the arguments down the command tree; returns a message for the first word that is not a
// command where one is expected ("unknown command 'lgin'; did you mean 'login'?").
std::optional<std::string> unknown_command(CLI::App& app, int argc, char** argv) {
  CLI::App* current = &app;
  std::string path = "csss";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--")
      return std::nullopt;
    if (arg.starts_with("-")) {
      bool takes_value = false;
      for (std::string_view opt : kValueOptions)
        takes_value = takes_value || arg == opt;
      // An option of the command reached so far whose value is the next argument
      // ("csss scans --status all"): that value is not a command.
      if (!takes_value && arg.find('=') == std::string_view::npos) {
        const CLI::Option* option = current->get_option_no_throw(std::string(arg));
        takes_value = option != nullptr && option->get_items_expected_min() > 0;
      }
      if (takes_value)
        ++i;
      continue;
    }
    const auto subs = current->get_subcommands([](CLI::App*) { return true; });
    if (subs.empty())
      return std::nullopt;
    CLI::App* next = nullptr;
    std::vector<std::string> names;
    for (CLI::App* s : subs) {
      names.push_back(s->get_name());
      if (s->get_name() == arg)
        next = s;
    }
    if (next == nullptr) {
      // A command with both subcommands and arguments ("csss report SCAN", "csss report resend
      // SCAN"): a word that is no subcommand is its argument.
      const auto positionals =
          current->get_options([](const CLI::Option* o) { return !o->nonpositional(); });
      if (!positionals.empty())
        return std::nullopt;
      const auto close = csss::util::suggestions(arg, names);
      return fmt::format("unknown command '{}' for '{}'{}; see '{} --help'", arg, path,
                         close.empty() ? "" : fmt::format(" (did you mean '{}'?)", close.front()),
                         path);
    }
    current = next;
    path += " " + std::string(arg);
  }
  return std::nullopt;
}

// The message on one line: a line break or other control character from the user's input (an
// email, a command) is shown escaped, so that it cannot end the error line or forge another one.
std::string one_line(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

int report_error(const csss::cli::GlobalOptions& options, csss::ErrorKind kind,
                 const std::string& raw_message, nlohmann::json result = nlohmann::json::object()) {
  const std::string message = one_line(raw_message);
  std::fflush(stdout);
  std::fprintf(stderr, "csss: error: %s\n", message.c_str());
  const int code = csss::exit_code(kind);
  if (options.json) {
    nlohmann::json doc = std::move(result);
    doc["error"] = {{"kind", csss::to_string(kind)}, {"message", message}, {"exit_code", code}};
    std::puts(doc.dump(2).c_str());
  }
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  csss::cli::GlobalOptions options;
  CLI::App app{
      "CSSS, the Clinical Scan Support System: AI-assisted screening of medical scans "
      "with a four-role clinical workflow.",
      "csss"};
  app.require_subcommand(1);
  app.fallthrough();
  app.add_flag_callback(
      "--version",
      [] {
        std::printf("csss %s\n", CSSS_VERSION);
        throw CLI::Success();
      },
      "Print the version and exit");
  app.add_option("--data-dir", options.data_dir,
                 "Data directory (also CSSS_DATA_DIR; default $XDG_DATA_HOME/csss)");
  app.add_option("--config", options.config_file,
                 "YAML configuration file (also CSSS_CONFIG; default "
                 "$XDG_CONFIG_HOME/csss/config.yaml if present)");
  app.add_flag("--json", options.json, "Print the result as one JSON document on stdout");
  app.add_flag("-q,--quiet", options.quiet, "Print only results and errors");
  app.footer(
      "Exit status: 0 success, 1 internal error, 2 usage, 3 not logged in or bad credentials,\n"
      "4 permission denied, 5 invalid input, 6 not found, 7 conflict or wrong state,\n"
      "8 store, file or mail error, 9 integrity check failed, 10 batch incomplete,\n"
      "11 too many emailed codes (try again later).\n\n"
      "Example:\n"
      "  csss init --admin-email admin@clinic.example\n"
      "  csss login --email admin@clinic.example\n"
      "Run 'csss COMMAND --help' for a command's options.");

  Context ctx(options);
  for (const CommandEntry& command : kCommands)
    command.setup(app, ctx);

  try {
    if (const auto message = unknown_command(app, argc, argv)) {
      // Nothing was parsed yet, so look for --json among the arguments for the error document.
      for (int i = 1; i < argc && std::string_view(argv[i]) != "--"; ++i) {
        if (std::string_view(argv[i]) == "--json")
          options.json = true;
      }
      return report_error(options, csss::ErrorKind::usage, *message);
    }
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    // --help and --version (CLI11 derives CallForHelp from Success).
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return report_error(options, csss::ErrorKind::usage,
                        fmt::format("{} (see 'csss --help')", e.what()));
  } catch (const csss::cli::ErrorWithResult& e) {
    return report_error(options, e.kind(), e.what(), e.result());
  } catch (const csss::Error& e) {
    return report_error(options, e.kind(), e.what());
  } catch (const std::exception& e) {
    return report_error(options, csss::ErrorKind::internal,
                        fmt::format("internal error: {}", e.what()));
  }
  return 0;
}
