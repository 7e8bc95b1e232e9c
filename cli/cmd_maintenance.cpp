// csss maintenance: housekeeping of the store (admins).
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "auth/maintenance.hpp"
#include "commands.hpp"
#include "context.hpp"

namespace csss::cli {

namespace {

void run_purge(Context& ctx) {
  const auth::Principal who = ctx.require_login();
  const auth::PurgeResult r = ctx.maintenance().purge(who);
  ctx.result({{"codes", r.codes},
              {"sessions", r.sessions},
              {"code_requests", r.code_requests},
              {"login_throttle", r.login_throttle}},
             fmt::format("Purged {} expired code{}, {} ended session{}, {} code request record{} "
                         "older than an hour and {} failed-login record{} of unknown emails.\n",
                         r.codes, r.codes == 1 ? "" : "s", r.sessions, r.sessions == 1 ? "" : "s",
                         r.code_requests, r.code_requests == 1 ? "" : "s", r.login_throttle,
                         r.login_throttle == 1 ? "" : "s"));
}

}  // namespace

void setup_maintenance(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("maintenance", "Housekeeping of the store (admins)");
  cmd->require_subcommand(1);
  cmd->footer(
      "Example:\n"
      "  csss maintenance purge --json");

  CLI::App* purge = cmd->add_subcommand(
      "purge", "Delete expired one-time codes and ended sessions; print how many (admins only)");
  purge->footer(
      "Removes the one-time codes that expired (admin logins, email verification, password\n"
      "reset), the sessions that ended (logged out, revoked, expired or idle) with their codes,\n"
      "the records of emailed codes older than an hour (the hourly limit) and the day-old\n"
      "failed-login counts of unknown emails. Nothing removed could still be used. Expired\n"
      "registration and reset codes are also purged whenever codes are asked for or entered.\n\n"
      "Example:\n"
      "  csss maintenance purge --json");
  purge->callback([&ctx] { run_purge(ctx); });
}

}  // namespace csss::cli
