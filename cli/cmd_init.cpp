// csss init: create the data directory and store, and the first admin account.
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "audit/audit_log.hpp"
#include "auth/accounts.hpp"
#include "commands.hpp"
#include "context.hpp"
#include "store/database.hpp"
#include "terminal.hpp"
#include "util/error.hpp"

namespace csss::cli {

namespace {

struct InitOptions {
  std::string admin_email;
  std::string admin_name = "CSSS Administrator";
  bool password_stdin = false;
};

void run_init(const InitOptions& opt, Context& ctx) {
  const auto settings = ctx.auth_settings();
  // Check everything the user typed before anything is written.
  std::optional<auth::NewUser> admin;
  if (!opt.admin_email.empty()) {
    admin = auth::NewUser{auth::normalize_email(opt.admin_email),
                          auth::normalize_full_name(opt.admin_name), auth::Role::admin, ""};
  }
  const auto data_dir = ctx.config().data_dir();
  const bool existed = std::filesystem::exists(data_dir / "csss.db");
  if (std::filesystem::exists(data_dir) && !std::filesystem::is_directory(data_dir)) {
    throw Error(ErrorKind::io, fmt::format("{} exists but is not a directory", data_dir.string()));
  }
  // A new store gets its admin's password asked and checked before anything is written.
  const auto ask_password = [&] {
    admin->password = obtain_password(opt.password_stdin,
                                      fmt::format("New password for {}: ", admin->email), true);
    auth::check_password(admin->password, settings, admin->email);
  };
  if (admin && !existed)
    ask_password();

  store::Database& db = ctx.db(store::OpenMode::create);
  if (!existed) {
    ctx.audit().append({"system", "store.init", "store", audit::Outcome::success,
                        fmt::format("schema version {}", db.schema_version())});
  }
  auto accounts = ctx.accounts();
  std::string admin_state = "none";
  if (admin) {
    const auto existing = accounts.find(admin->email);
    if (existing && existing->role == auth::Role::admin) {
      admin_state = "exists";
    } else if (accounts.has_admin()) {
      throw Error(
          ErrorKind::conflict,
          "an admin account exists already; admins add further accounts with: csss user add");
    } else if (existing) {
      throw Error(ErrorKind::conflict, fmt::format("'{}' is a {} account, not an admin",
                                                   admin->email, auth::to_string(existing->role)));
    } else {
      if (admin->password.empty())
        ask_password();
      accounts.create_first_admin(*admin);
      admin_state = "created";
    }
  }

  nlohmann::json doc = {{"data_dir", data_dir.string()},
                        {"store", db.path().string()},
                        {"schema_version", db.schema_version()},
                        {"store_created", !existed},
                        {"admin", admin ? nlohmann::json(admin->email) : nlohmann::json(nullptr)},
                        {"admin_state", admin_state}};
  std::string text = fmt::format("{} store in {} (schema version {})\n",
                                 existed ? "Using the existing" : "Created a new",
                                 data_dir.string(), db.schema_version());
  if (admin_state == "created")
    text += fmt::format("Created admin account {}\n", admin->email);
  if (admin_state == "exists")
    text += fmt::format("Admin account {} exists already\n", admin->email);
  if (!admin && !accounts.has_admin()) {
    text += "No admin account yet: run csss init --admin-email EMAIL\n";
  }
  if (ctx.options().quiet)
    text.clear();
  ctx.result(doc, text);
}

}  // namespace

void setup_init(CLI::App& app, Context& ctx) {
  auto opt = std::make_shared<InitOptions>();
  CLI::App* cmd =
      app.add_subcommand("init", "Create the data directory, the store and the first admin");
  cmd->add_option("--admin-email", opt->admin_email, "Email of the first admin account");
  cmd->add_option("--admin-name", opt->admin_name, "Full name of the first admin account")
      ->capture_default_str();
  cmd->add_flag("--password-stdin", opt->password_stdin,
                "Read the admin's password from the first line of standard input");
  cmd->footer(
      "Running it again is safe: an existing store is migrated, never replaced.\n\n"
      "Example:\n"
      "  csss init --admin-email admin@clinic.example --admin-name 'Ada Admin'");
  cmd->callback([opt, &ctx] { run_init(*opt, ctx); });
}

}  // namespace csss::cli
