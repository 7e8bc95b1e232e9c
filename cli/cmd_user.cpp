// csss user: accounts (add, list, show, disable, enable, unlock, passwd).
#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include "auth/accounts.hpp"
#include "auth/policy.hpp"
#include "commands.hpp"
#include "context.hpp"
#include "format.hpp"
#include "terminal.hpp"
#include "util/error.hpp"
#include "util/time.hpp"

namespace csss::cli {

namespace {

struct UserOptions {
  std::string email;
  std::string name;
  std::string role;
  std::string birth_date;
  bool password_stdin = false;
};

auth::Role parse_role_or_throw(const std::string& text) {
  const auto role = auth::parse_role(text);
  if (!role) {
    std::vector<std::string_view> names;
    for (const auth::Role r : auth::kAllRoles)
      names.push_back(auth::to_string(r));
    throw Error(ErrorKind::invalid_input,
                fmt::format("unknown role '{}'; roles are {}", text, fmt::join(names, ", ")));
  }
  return *role;
}

std::string user_text(const auth::User& u, util::UnixSeconds now) {
  return fmt::format(
      "email:      {}\nname:       {}\nrole:       {}\nstatus:     {}\ncreated:    {}\n"
      "password:   changed {}\n",
      u.email, u.full_name, auth::to_string(u.role), user_status(u, now),
      util::format_utc(u.created_at), util::format_utc(u.password_changed_at));
}

void run_add(const UserOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  auth::NewUser nu{auth::normalize_email(opt.email), auth::normalize_full_name(opt.name),
                   parse_role_or_throw(opt.role), "", opt.birth_date};
  if (!nu.birth_date.empty()) {
    if (nu.role != auth::Role::patient)
      throw Error(ErrorKind::invalid_input, "--birth-date is for patient accounts only");
    auth::check_birth_date(nu.birth_date, ctx.clock().now());
  }
  // Ask the policy first (so that nobody else learns which emails have accounts), then check
  // for a duplicate, and only then prompt for the password.
  auth::require(who, auth::Action::manage_users, "user:" + nu.email, ctx.audit());
  auto accounts = ctx.accounts();
  if (accounts.find(nu.email)) {
    throw Error(ErrorKind::conflict,
                fmt::format("an account with email '{}' exists already", nu.email));
  }
  // An importer has no password: it signs in with an API token.
  if (nu.role == auth::Role::importer && opt.password_stdin) {
    throw Error(ErrorKind::usage,
                "--password-stdin: importer accounts have no password; they sign in with an API "
                "token (csss token create)");
  }
  if (nu.role != auth::Role::importer) {
    nu.password =
        obtain_password(opt.password_stdin, fmt::format("New password for {}: ", nu.email), true);
  }
  const auth::User u = accounts.add(who, nu);
  const auto now = ctx.clock().now();
  std::string text = fmt::format("Added {} account {}\n", auth::to_string(u.role), u.email);
  if (u.role == auth::Role::importer) {
    text += fmt::format(
        "It has no password. Give it an API token with: csss token create --user {}\n", u.email);
  }
  ctx.result(user_json(u, now), ctx.options().quiet ? "" : text);
}

void run_list(const UserOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  std::optional<auth::Role> role;
  if (!opt.role.empty())
    role = parse_role_or_throw(opt.role);
  const auto users = ctx.accounts().list(who, role);
  const auto now = ctx.clock().now();
  nlohmann::json doc = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& u : users) {
    doc.push_back(user_json(u, now));
    rows.push_back(
        {u.email, std::string(auth::to_string(u.role)), u.full_name, user_status(u, now)});
  }
  ctx.result(doc, users.empty() ? "No accounts.\n"
                                : format_table({"EMAIL", "ROLE", "NAME", "STATUS"}, rows));
}

void run_show(const UserOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  const auth::User u = ctx.accounts().show(who, opt.email);
  const auto now = ctx.clock().now();
  ctx.result(user_json(u, now), user_text(u, now));
}

void run_disable(const UserOptions& opt, Context& ctx, bool disabled) {
  const auth::Principal who = ctx.require_login();
  const auth::User u = ctx.accounts().set_disabled(who, opt.email, disabled);
  ctx.result(user_json(u, ctx.clock().now()),
             ctx.options().quiet
                 ? ""
                 : fmt::format("{} {}{}\n", disabled ? "Disabled" : "Enabled", u.email,
                               disabled ? "; its sessions are ended" : ""));
}

void run_unlock(const UserOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  const auth::User u = ctx.accounts().unlock(who, opt.email);
  ctx.result(user_json(u, ctx.clock().now()),
             ctx.options().quiet ? "" : fmt::format("Unlocked {}\n", u.email));
}

void run_passwd(const UserOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  auto accounts = ctx.accounts();
  std::string target = who.email;
  if (!opt.email.empty() && auth::normalize_email(opt.email) != who.email) {
    target = auth::normalize_email(opt.email);
    auth::require(who, auth::Action::manage_users, "user:" + target, ctx.audit());
    if (!accounts.find(target)) {
      throw Error(ErrorKind::not_found, fmt::format("no account with email '{}'", target));
    }
    const std::string replacement =
        obtain_password(opt.password_stdin, fmt::format("New password for {}: ", target), true);
    accounts.set_password(who, target, replacement);
  } else {
    const std::string current = opt.password_stdin
                                    ? read_stdin_line("the current password (first line)")
                                    : prompt_secret("Current password: ");
    const std::string replacement = opt.password_stdin
                                        ? read_stdin_line("the new password (second line)")
                                        : obtain_password(false, "New password: ", true);
    accounts.change_own_password(who, current, replacement);
  }
  ctx.result({{"email", target}, {"password_changed", true}},
             ctx.options().quiet
                 ? ""
                 : fmt::format("Password of {} changed; {} other sessions are ended.\n", target,
                               target == who.email ? "your" : "its"));
}

}  // namespace

void setup_user(CLI::App& app, Context& ctx) {
  auto opt = std::make_shared<UserOptions>();
  CLI::App* user = app.add_subcommand("user", "Manage accounts (admins), or your own password");
  user->require_subcommand(1);
  user->footer(
      "Examples:\n"
      "  csss user add --email dr.lee@clinic.example --name 'Dr Ana Lee' --role doctor\n"
      "  csss user list --role doctor\n"
      "  csss user passwd");

  CLI::App* add = user->add_subcommand("add", "Add an account (admins only)");
  add->add_option("--email", opt->email, "Email, the login name")->required();
  add->add_option("--name", opt->name, "Full name, as it will appear on signatures")->required();
  add->add_option("--role", opt->role,
                  "patient, doctor, pharmacist, admin, or importer (unattended imports: no "
                  "password, signs in with an API token)")
      ->required();
  add->add_option("--birth-date", opt->birth_date,
                  "Patients: date of birth (YYYY-MM-DD), printed on their reports");
  add->add_flag("--password-stdin", opt->password_stdin,
                "Read the new password from the first line of standard input");
  add->footer(
      "An importer account gets no password and no prompt; an admin gives it an API token\n"
      "with csss token create.\n\n"
      "Examples:\n"
      "  csss user add --email pharma@clinic.example --name 'Pat Chen' --role pharmacist\n"
      "  csss user add --email pacs-import@clinic.example --name 'PACS import' --role importer");
  add->callback([opt, &ctx] { run_add(*opt, ctx); });

  CLI::App* list = user->add_subcommand("list", "List accounts (admins only)");
  list->add_option("--role", opt->role, "Only accounts with this role");
  list->footer("Example:\n  csss user list --role admin --json");
  list->callback([opt, &ctx] { run_list(*opt, ctx); });

  CLI::App* show = user->add_subcommand("show", "Show an account (admins: any; others: their own)");
  show->add_option("email", opt->email, "The account's email")->required();
  show->footer("Example:\n  csss user show doctor@clinic.example");
  show->callback([opt, &ctx] { run_show(*opt, ctx); });

  CLI::App* disable = user->add_subcommand("disable", "Disable an account and end its sessions");
  disable->add_option("email", opt->email, "The account's email")->required();
  disable->footer("Example:\n  csss user disable former.doctor@clinic.example");
  disable->callback([opt, &ctx] { run_disable(*opt, ctx, true); });

  CLI::App* enable = user->add_subcommand("enable", "Enable a disabled account");
  enable->add_option("email", opt->email, "The account's email")->required();
  enable->footer("Example:\n  csss user enable doctor@clinic.example");
  enable->callback([opt, &ctx] { run_disable(*opt, ctx, false); });

  CLI::App* unlock = user->add_subcommand("unlock", "End the lockout that failed logins caused");
  unlock->add_option("email", opt->email, "The account's email")->required();
  unlock->footer("Example:\n  csss user unlock doctor@clinic.example");
  unlock->callback([opt, &ctx] { run_unlock(*opt, ctx); });

  CLI::App* passwd =
      user->add_subcommand("passwd", "Change your password, or (admins) set another account's");
  passwd->add_option("--email", opt->email, "Another account (admins only); default: your own");
  passwd->add_flag("--password-stdin", opt->password_stdin,
                   "Read from standard input: for your own, the current password on the first "
                   "line and the new one on the second; for another account, the new one");
  passwd->footer(
      "Changing a password ends the account's other sessions.\n\n"
      "Examples:\n"
      "  csss user passwd\n"
      "  printf '%s\\n%s\\n' \"$OLD\" \"$NEW\" | csss user passwd --password-stdin");
  passwd->callback([opt, &ctx] { run_passwd(*opt, ctx); });
}

}  // namespace csss::cli
