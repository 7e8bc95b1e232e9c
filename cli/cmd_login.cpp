// csss login, logout and whoami: sessions of the person at this terminal.
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "auth/login.hpp"
#include "auth/session_file.hpp"
#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"
#include "terminal.hpp"
#include "util/error.hpp"
#include "util/time.hpp"

namespace csss::cli {

namespace {

struct LoginOptions {
  std::string email;
  std::string otp;
  bool password_stdin = false;
};

// The token in the session file, to end its session, or nullopt when there is none (a login
// replaces the file either way). A file that is refused for logins because others may read it
// still names a session to end: all the more, since its token may have been copied.
std::optional<std::string> previous_token(Context& ctx) {
  try {
    return auth::read_session_token(ctx.session_path(), auth::FileCheck::skip_permissions);
  } catch (const Error&) {
    return std::nullopt;
  }
}

void run_login(const LoginOptions& opt, Context& ctx) {
  auto authn = ctx.authenticator();
  const auto path = ctx.session_path();
  auth::LoginResult res;
  if (!opt.otp.empty()) {
    res = authn.complete_otp(auth::read_session_token(path), opt.email, opt.otp);
  } else {
    const std::string password =
        obtain_password(opt.password_stdin, fmt::format("Password for {}: ", opt.email), false);
    res = authn.login(opt.email, password);
    // A new login ends the session this file held before.
    if (const auto old = previous_token(ctx))
      authn.logout(*old);
  }
  auth::write_session_token(path, res.token);

  nlohmann::json doc = {{"status", res.awaiting_otp ? "awaiting_otp" : "logged_in"},
                        {"email", res.user.email},
                        {"role", std::string(auth::to_string(res.user.role))},
                        {"expires_at", json_time(res.expires_at)}};
  std::string text;
  if (res.awaiting_otp) {
    doc["code_sent_to"] = res.masked_email;
    text = fmt::format(
        "Password accepted. A one-time code was sent to {} (valid until {}).\n"
        "Complete the login with: csss login --email {} --otp CODE\n",
        res.masked_email, util::format_utc(res.expires_at), res.user.email);
  } else {
    text = fmt::format("Logged in as {} ({}). The session ends at {} or after {} idle minutes.\n",
                       res.user.email, auth::to_string(res.user.role),
                       util::format_utc(res.expires_at), ctx.auth_settings().session_idle_minutes);
  }
  if (ctx.options().quiet)
    text.clear();
  ctx.result(doc, text);
}

void run_logout(Context& ctx) {
  const auto path = ctx.session_path();
  const auto token = previous_token(ctx);
  const bool ended = token && ctx.authenticator().logout(*token);
  auth::remove_session_file(path);
  ctx.result(
      {{"logged_out", ended}},
      ctx.options().quiet ? "" : (ended ? "Logged out.\n" : "There was no session to end.\n"));
}

void run_whoami(Context& ctx) {
  const auth::Principal who = ctx.require_login();
  const bool token = who.token_id != 0;
  nlohmann::json doc = {{"email", who.email},
                        {"full_name", who.full_name},
                        {"role", std::string(auth::to_string(who.role))},
                        {"authenticated_by", token ? "token" : "session"},
                        {"session_expires_at", json_time(who.session_expires_at)}};
  std::string text =
      fmt::format("{} <{}>\nrole: {}\n", who.full_name, who.email, auth::to_string(who.role));
  if (token) {
    doc["token_id"] = who.token_id;
    text += fmt::format("API token: {} (CSSS_TOKEN_FILE), expires {}\n", who.token_id,
                        util::format_utc(who.session_expires_at));
  } else {
    text += fmt::format("session ends: {}\n", util::format_utc(who.session_expires_at));
  }
  ctx.result(doc, text);
}

}  // namespace

void setup_login(CLI::App& app, Context& ctx) {
  auto opt = std::make_shared<LoginOptions>();
  CLI::App* cmd = app.add_subcommand("login", "Log in; admins then enter the code sent by email");
  cmd->add_option("--email", opt->email, "Account email")->required();
  cmd->add_flag("--password-stdin", opt->password_stdin,
                "Read the password from the first line of standard input instead of a prompt");
  cmd->add_option("--otp", opt->otp, "Complete an admin login with the 6-digit emailed code");
  cmd->footer(
      "The session is kept in $CSSS_SESSION, else $XDG_STATE_HOME/csss/session (mode 0600).\n"
      "Admins log in in two steps: the password, then the code sent to their email.\n"
      "Importer accounts do not log in: they use an API token in $CSSS_TOKEN_FILE.\n\n"
      "Examples:\n"
      "  csss login --email doctor@clinic.example\n"
      "  csss login --email admin@clinic.example && csss login --email admin@clinic.example --otp "
      "123456");
  cmd->callback([opt, &ctx] { run_login(*opt, ctx); });
}

void setup_logout(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("logout", "End this terminal's session");
  cmd->footer("Example:\n  csss logout");
  cmd->callback([&ctx] { run_logout(ctx); });
}

void setup_whoami(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("whoami", "Show the logged-in account and its role");
  cmd->footer(
      "With CSSS_TOKEN_FILE set, the account of the API token in that file.\n\n"
      "Examples:\n"
      "  csss whoami --json\n"
      "  CSSS_TOKEN_FILE=/etc/csss/importer.token csss whoami");
  cmd->callback([&ctx] { run_whoami(ctx); });
}

}  // namespace csss::cli
