// csss user: accounts (add, list, show, disable, enable, unlock, passwd), and what people do for
// themselves: register, verify-email, forgot-password, reset-password, profile.
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
  std::string code;
  bool resend = false;
  std::string phone;
  // The profile options given (CLI11 counts them), so that --phone '' can remove the number.
  const CLI::Option* name_option = nullptr;
  const CLI::Option* phone_option = nullptr;
  const CLI::Option* birth_date_option = nullptr;
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

// The answer to a request that may have emailed a code: the same whether or not an account uses
// the address.
// The result of a command that emailed a code: the masked address and the expiry, then `next`
// (what to do with the code) on a terminal.
void code_sent(Context& ctx, const auth::CodeRequest& r, std::string_view lead,
               std::string_view next) {
  const nlohmann::json doc = {{"email", r.email},
                              {"code_sent_to", r.masked_email},
                              {"expires_at", json_time(r.expires_at)},
                              {"status", "code_sent"}};
  ctx.result(doc, ctx.options().quiet
                      ? ""
                      : fmt::format("{} 6-digit code was sent to {} (valid until {}).\n{}", lead,
                                    r.masked_email, util::format_utc(r.expires_at), next));
}

void run_register(const UserOptions& opt, Context& ctx) {
  // Everything that can be checked is, before the password prompt.
  const std::string email = auth::normalize_email(opt.email);
  const std::string name = auth::normalize_full_name(opt.name);
  if (!opt.birth_date.empty())
    auth::check_birth_date(opt.birth_date, ctx.clock().now());
  ctx.db();  // no store: say so before asking for a password
  const std::string password =
      obtain_password(opt.password_stdin, fmt::format("New password for {}: ", email), true);
  const auth::CodeRequest r = ctx.self_service().register_patient(
      {email, name, auth::Role::patient, password, opt.birth_date});
  code_sent(ctx, r, "Registration received. A",
            fmt::format("The account can be used once the code is entered: csss user "
                        "verify-email --email {} --code CODE\n",
                        r.email));
}

void run_verify_email(const UserOptions& opt, Context& ctx) {
  if (opt.resend == !opt.code.empty()) {
    throw Error(ErrorKind::usage,
                "give either --code CODE or --resend (see 'csss user "
                "verify-email --help')");
  }
  if (opt.resend) {
    const auth::CodeRequest r = ctx.self_service().resend_verification(opt.email);
    code_sent(ctx, r, "If a registration with this address is waiting for its code, a new", "");
    return;
  }
  const auth::User u = ctx.self_service().verify_email(opt.email, opt.code);
  ctx.result({{"email", u.email}, {"status", "verified"}},
             ctx.options().quiet
                 ? ""
                 : fmt::format("Email {} verified. Log in with: csss login --email {}\n", u.email,
                               u.email));
}

void run_forgot_password(const UserOptions& opt, Context& ctx) {
  const auth::CodeRequest r = ctx.self_service().request_password_reset(opt.email);
  code_sent(ctx, r, "If an account uses this address, a",
            fmt::format("Set a new password with: csss user reset-password --email {} --code "
                        "CODE\n",
                        r.email));
}

void run_reset_password(const UserOptions& opt, Context& ctx) {
  const std::string email = auth::normalize_email(opt.email);
  auth::check_code_format(opt.code);
  ctx.db();
  const std::string password =
      obtain_password(opt.password_stdin, fmt::format("New password for {}: ", email), true);
  const auth::User u = ctx.self_service().reset_password(email, opt.code, password);
  ctx.result({{"email", u.email}, {"password_changed", true}},
             ctx.options().quiet ? ""
                                 : fmt::format("Password of {} set; every session of the account "
                                               "has ended. Log in with: csss login --email {}\n",
                                               u.email, u.email));
}

nlohmann::json profile_json(const auth::Profile& p) {
  nlohmann::json doc = {{"email", p.user.email},
                        {"full_name", p.user.full_name},
                        {"role", std::string(auth::to_string(p.user.role))},
                        {"phone", p.user.phone ? nlohmann::json(*p.user.phone) : nullptr},
                        {"email_verified_at", json_time(p.user.email_verified_at)}};
  if (p.user.role == auth::Role::patient) {
    doc["patient_id"] = p.patient_id ? nlohmann::json(*p.patient_id) : nullptr;
    doc["birth_date"] = p.birth_date ? nlohmann::json(*p.birth_date) : nullptr;
  }
  return doc;
}

std::string profile_text(const auth::Profile& p) {
  std::string text =
      fmt::format("email:      {}\nname:       {}\nrole:       {}\nphone:      {}\n", p.user.email,
                  p.user.full_name, auth::to_string(p.user.role), p.user.phone.value_or("-"));
  if (p.user.role == auth::Role::patient) {
    text +=
        fmt::format("record:     {}\nbirth date: {}\n",
                    p.patient_id ? std::to_string(*p.patient_id) : "-", p.birth_date.value_or("-"));
  }
  return text;
}

void run_profile(const UserOptions& opt, Context& ctx) {
  const auth::Principal who = ctx.require_login();
  auto accounts = ctx.accounts();
  auth::ProfileChange change;
  if (opt.name_option->count() > 0)
    change.full_name = opt.name;
  if (opt.phone_option->count() > 0)
    change.phone = opt.phone;
  if (opt.birth_date_option->count() > 0)
    change.birth_date = opt.birth_date;
  if (!change.full_name && !change.phone && !change.birth_date) {
    const auth::Profile p = accounts.profile(who);
    ctx.result(profile_json(p), profile_text(p));
    return;
  }
  const auth::Profile p = accounts.update_profile(who, change);
  ctx.result(profile_json(p), ctx.options().quiet ? "" : "Profile updated.\n" + profile_text(p));
}

}  // namespace

void setup_user(CLI::App& app, Context& ctx) {
  auto opt = std::make_shared<UserOptions>();
  CLI::App* user = app.add_subcommand(
      "user", "Manage accounts (admins); register, your password and your profile");
  user->require_subcommand(1);
  user->footer(
      "Examples:\n"
      "  csss user add --email dr.lee@clinic.example --name 'Dr Ana Lee' --role doctor\n"
      "  csss user list --role doctor\n"
      "  csss user passwd\n"
      "  csss user register --email pat@example.org --name 'Pat Doe'");

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

  CLI::App* reg = user->add_subcommand(
      "register", "Register as a patient (no login needed); the emailed code then activates it");
  reg->add_option("--email", opt->email, "Your email: the login name, where the code goes")
      ->required();
  reg->add_option("--name", opt->name, "Your full name, as it will appear on reports")->required();
  reg->add_option("--birth-date", opt->birth_date, "Your date of birth (YYYY-MM-DD), on reports");
  reg->add_flag("--password-stdin", opt->password_stdin,
                "Read the new password from the first line of standard input");
  reg->footer(
      "The account, with your patient record, cannot log in until you enter the 6-digit code\n"
      "emailed to you (valid 10 minutes, once) with csss user verify-email. The answer is the\n"
      "same whether or not the address has an account (its owner is sent a notice instead).\n"
      "At most 3 codes an hour go to one address (account.codes_per_hour; more: exit 11).\n\n"
      "Examples:\n"
      "  csss user register --email pat@example.org --name 'Pat Doe' --birth-date 1984-07-12\n"
      "  csss user verify-email --email pat@example.org --code 123456");
  reg->callback([opt, &ctx] { run_register(*opt, ctx); });

  CLI::App* verify = user->add_subcommand(
      "verify-email", "Enter the code emailed at registration, or ask for a new one");
  verify->add_option("--email", opt->email, "The registered email")->required();
  verify->add_option("--code", opt->code, "The 6-digit code from the email");
  verify->add_flag("--resend", opt->resend,
                   "Email a new code (the older one stops working; at most 3 an hour)");
  verify->footer(
      "A code is valid for 10 minutes, works once, and stops working after 5 wrong tries.\n\n"
      "Examples:\n"
      "  csss user verify-email --email pat@example.org --code 123456\n"
      "  csss user verify-email --email pat@example.org --resend");
  verify->callback([opt, &ctx] { run_verify_email(*opt, ctx); });

  CLI::App* forgot = user->add_subcommand("forgot-password",
                                          "Email a code to set a new password (no login needed)");
  forgot->add_option("--email", opt->email, "The account's email")->required();
  forgot->footer(
      "The answer is the same whether or not an account uses the address. At most 3 codes an\n"
      "hour go to one address (more: exit 11, with the wait).\n\n"
      "Examples:\n"
      "  csss user forgot-password --email pat@example.org\n"
      "  csss user reset-password --email pat@example.org --code 123456");
  forgot->callback([opt, &ctx] { run_forgot_password(*opt, ctx); });

  CLI::App* reset = user->add_subcommand(
      "reset-password", "Set a new password with the code from csss user forgot-password");
  reset->add_option("--email", opt->email, "The account's email")->required();
  reset->add_option("--code", opt->code, "The 6-digit code from the email")->required();
  reset->add_flag("--password-stdin", opt->password_stdin,
                  "Read the new password from the first line of standard input");
  reset->footer(
      "The code is valid for 10 minutes, works once, and stops working after 5 wrong tries.\n"
      "Setting the password ends every session of the account, clears a lockout after failed\n"
      "logins, and verifies the email of a registration that was waiting for its code.\n\n"
      "Example:\n"
      "  csss user reset-password --email pat@example.org --code 123456");
  reset->callback([opt, &ctx] { run_reset_password(*opt, ctx); });

  CLI::App* profile =
      user->add_subcommand("profile", "Show or change your own name, phone and date of birth");
  opt->name_option = profile->add_option("--name", opt->name, "Your full name");
  opt->phone_option = profile->add_option(
      "--phone", opt->phone,
      "Your phone number: + and 7 to 15 digits, spaces and dashes allowed; '' removes it");
  opt->birth_date_option = profile->add_option(
      "--birth-date", opt->birth_date, "Patients: your date of birth (YYYY-MM-DD), on reports");
  profile->footer(
      "Without options it shows the profile (--json for scripts). A patient's name and date of\n"
      "birth are those of their patient record, printed on their reports.\n\n"
      "Examples:\n"
      "  csss user profile --json\n"
      "  csss user profile --phone '+44 20 7946 0958' --birth-date 1984-07-12");
  profile->callback([opt, &ctx] { run_profile(*opt, ctx); });
}

}  // namespace csss::cli
