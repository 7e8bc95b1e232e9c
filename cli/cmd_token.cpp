// csss token: API tokens of importer accounts (create, list, revoke), for unattended imports.
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "auth/tokens.hpp"
#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"
#include "util/error.hpp"
#include "util/time.hpp"

namespace csss::cli {

namespace {

struct TokenOptions {
  std::string user;
  std::string name;
  int days = auth::kDefaultTokenDays;
  std::int64_t id = 0;
};

nlohmann::json token_json(const auth::ApiToken& t, util::UnixSeconds now) {
  return {{"id", t.id},
          {"user", t.user_email},
          {"name", t.name},
          {"created_by", t.created_by},
          {"created_at", json_time(t.created_at)},
          {"expires_at", json_time(t.expires_at)},
          {"last_used_at", json_time(t.last_used_at)},
          {"revoked_at", json_time(t.revoked_at)},
          {"state", std::string(auth::to_string(t.state(now)))}};
}

void run_create(const TokenOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  const auth::CreatedToken created = ctx.tokens().create(who, opt.user, opt.days, opt.name);
  const auth::ApiToken& t = created.token;
  nlohmann::json doc = token_json(t, ctx.clock().now());
  doc["token"] = created.secret;
  // The token is printed once, here, and nowhere else; with --quiet it is the only output.
  std::string text;
  if (ctx.options().quiet) {
    text = created.secret + "\n";
  } else {
    text = fmt::format(
        "Created API token {} for {}{}, valid until {}:\n\n"
        "  {}\n\n"
        "This is the only time it is shown (the store keeps only its SHA-256). Save it in a file\n"
        "that only the importing user can read (mode 0600) and name that file in CSSS_TOKEN_FILE.\n"
        "Revoke it with: csss token revoke {}\n",
        t.id, t.user_email, t.name.empty() ? "" : fmt::format(" ('{}')", t.name),
        util::format_utc(t.expires_at), created.secret, t.id);
  }
  ctx.result(doc, text);
}

void run_list(const TokenOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  const auto tokens =
      ctx.tokens().list(who, opt.user.empty() ? std::nullopt : std::optional(opt.user));
  const auto now = ctx.clock().now();
  nlohmann::json doc = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auth::ApiToken& t : tokens) {
    doc.push_back(token_json(t, now));
    rows.push_back({std::to_string(t.id), t.user_email, t.name.empty() ? "-" : t.name,
                    util::format_utc(t.created_at), util::format_utc(t.expires_at),
                    t.last_used_at ? util::format_utc(*t.last_used_at) : "never",
                    std::string(auth::to_string(t.state(now)))});
  }
  ctx.result(
      doc,
      tokens.empty()
          ? "No API tokens.\n"
          : format_table({"ID", "USER", "NAME", "CREATED", "EXPIRES", "LAST USED", "STATE"}, rows));
}

void run_revoke(const TokenOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  const auth::ApiToken t = ctx.tokens().revoke(who, opt.id);
  ctx.result(token_json(t, ctx.clock().now()),
             ctx.options().quiet
                 ? ""
                 : fmt::format("Revoked API token {} of {}; it no longer signs in.\n", t.id,
                               t.user_email));
}

}  // namespace

void setup_token(CLI::App& app, Context& ctx) {
  auto opt = std::make_shared<TokenOptions>();
  CLI::App* token =
      app.add_subcommand("token", "Manage the API tokens of importer accounts (admins)");
  token->require_subcommand(1);
  token->footer(
      "Unattended runs (cron) cannot type a password or a one-time code: an admin adds an\n"
      "importer account (csss user add --role importer), which may import and analyse scans and\n"
      "nothing else, and creates a token for it. The importing job names a 0600 file holding\n"
      "the token in CSSS_TOKEN_FILE; the session file is then not used.\n\n"
      "Examples:\n"
      "  csss token create --user pacs-import@clinic.example --days 90 --name 'nightly PACS'\n"
      "  csss token list\n"
      "  csss token revoke 3");

  CLI::App* create = token->add_subcommand(
      "create", "Create a token for an importer account; it is shown once (admins only)");
  create->add_option("--user", opt->user, "The importer account's email")->required();
  create
      ->add_option("--days", opt->days,
                   fmt::format("Days until it expires (1 to {})", auth::kMaxTokenDays))
      ->default_val(auth::kDefaultTokenDays);
  create->add_option("--name", opt->name, "A label, such as what uses it");
  create->footer(
      "The token (csss_ and 48 hex digits) is printed once; the store keeps only its SHA-256.\n"
      "With --quiet, only the token is printed.\n\n"
      "Example:\n"
      "  umask 077\n"
      "  csss -q token create --user pacs-import@clinic.example --name nightly > importer.token");
  create->callback([opt, &ctx] { run_create(*opt, ctx); });

  CLI::App* list = token->add_subcommand(
      "list", "List tokens: ID, account, name, dates, state; never the token (admins only)");
  list->add_option("--user", opt->user, "Only the tokens of this account");
  list->footer("Example:\n  csss token list --user pacs-import@clinic.example --json");
  list->callback([opt, &ctx] { run_list(*opt, ctx); });

  CLI::App* revoke =
      token->add_subcommand("revoke", "Revoke a token at once; it never works again (admins only)");
  revoke->add_option("id", opt->id, "The token's ID (csss token list)")->required();
  revoke->footer("Example:\n  csss token revoke 3");
  revoke->callback([opt, &ctx] { run_revoke(*opt, ctx); });
}

}  // namespace csss::cli
