#include "auth/accounts.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "audit/audit_log.hpp"
#include "auth/policy.hpp"
#include "config/config.hpp"
#include "crypto/password.hpp"
#include "crypto/random.hpp"
#include "store/database.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

namespace csss::auth {

namespace {

constexpr std::size_t kMaxEmailLength = 254;
constexpr std::size_t kMaxLocalPartLength = 64;
constexpr std::size_t kMaxPasswordBytes = 1024;
constexpr std::size_t kMaxNameBytes = 200;
constexpr std::size_t kMinPhoneDigits = 7;
constexpr std::size_t kMaxPhoneDigits = 15;  // ITU-T E.164

constexpr const char* kUserColumns =
    "id, email, full_name, role, disabled, failed_logins, locked_until, created_at, "
    "password_changed_at, email_verified_at, phone";

User read_user(const store::Statement& st) {
  User u;
  u.id = st.get_int(0);
  u.email = st.get_text(1);
  u.full_name = st.get_text(2);
  u.role = parse_role(st.get_text(3)).value_or(Role::patient);
  u.disabled = st.get_int(4) != 0;
  u.failed_logins = static_cast<int>(st.get_int(5));
  u.locked_until = st.get_opt_int(6);
  u.created_at = st.get_int(7);
  u.password_changed_at = st.get_int(8);
  u.email_verified_at = st.get_opt_int(9);
  u.phone = st.get_opt_text(10);
  return u;
}

bool valid_local_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+/=?^_`{|}~.-").find(c) != std::string_view::npos;
}

bool valid_domain(std::string_view domain) {
  const auto labels = util::split(domain, '.');
  if (labels.size() < 2)
    return false;
  return std::all_of(labels.begin(), labels.end(), [](const std::string& l) {
    return !l.empty() && l.size() <= 63 && l.front() != '-' && l.back() != '-' &&
           std::all_of(l.begin(), l.end(), [](char c) {
             return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
           });
  });
}

}  // namespace

AuthSettings AuthSettings::from(const config::Config& config) {
  AuthSettings s;
  s.session_ttl_minutes = config.get_int("session.ttl_minutes");
  s.session_idle_minutes = config.get_int("session.idle_minutes");
  s.max_failures = config.get_int("login.max_failures");
  s.lockout_minutes = config.get_int("login.lockout_minutes");
  s.password_min_length = config.get_int("password.min_length");
  s.otp_ttl_minutes = config.get_int("otp.ttl_minutes");
  s.otp_max_attempts = config.get_int("otp.max_attempts");
  s.codes_per_hour = config.get_int("account.codes_per_hour");
  s.mail_from = config.get("mail.from");
  return s;
}

std::string normalize_email(std::string_view email) {
  const std::string e = util::to_lower(util::trim(email));
  const auto fail = [&](std::string_view why) {
    return Error(ErrorKind::invalid_input, fmt::format("invalid email '{}': {}", e, why));
  };
  if (e.empty())
    throw Error(ErrorKind::invalid_input, "invalid email: it is empty");
  if (!util::is_valid_utf8(e) || util::has_control_chars(e)) {
    throw Error(ErrorKind::invalid_input,
                "invalid email: it holds control characters or bad UTF-8");
  }
  if (e.size() > kMaxEmailLength)
    throw fail("longer than 254 characters");
  const auto at = e.find('@');
  if (at == std::string::npos || e.find('@', at + 1) != std::string::npos) {
    throw fail("it must hold exactly one '@'");
  }
  const std::string_view local = std::string_view(e).substr(0, at);
  const std::string_view domain = std::string_view(e).substr(at + 1);
  if (local.empty() || local.size() > kMaxLocalPartLength ||
      !std::all_of(local.begin(), local.end(), valid_local_char) || local.front() == '.' ||
      local.back() == '.' || local.find("..") != std::string_view::npos) {
    throw fail("the part before '@' is not a valid mailbox name");
  }
  if (!valid_domain(domain))
    throw fail("the part after '@' is not a domain name like example.org");
  return e;
}

void check_password(std::string_view password, const AuthSettings& settings,
                    std::string_view email) {
  if (password.empty())
    throw Error(ErrorKind::invalid_input, "the password is empty");
  // Count characters, not bytes, so that non-ASCII passwords are judged by what people type.
  std::size_t chars = 0;
  for (char c : password)
    chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  if (chars < static_cast<std::size_t>(settings.password_min_length)) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("the password is too short: at least {} characters are required",
                            settings.password_min_length));
  }
  if (password.size() > kMaxPasswordBytes) {
    throw Error(ErrorKind::invalid_input, "the password is longer than 1024 bytes");
  }
  if (util::to_lower(password) == util::to_lower(email)) {
    throw Error(ErrorKind::invalid_input, "the password must not be the account's email");
  }
}

std::string normalize_phone(std::string_view phone) {
  const std::string p = util::trim(phone);
  const auto fail = [&](std::string_view why) {
    return Error(ErrorKind::invalid_input,
                 fmt::format("invalid phone number '{}': {}; write it in the international form, "
                             "+ and 7 to 15 digits (spaces and dashes allowed), e.g. +44 20 7946 "
                             "0958",
                             p, why));
  };
  if (p.empty())
    throw fail("it is empty");
  if (p.front() != '+')
    throw fail("it must start with + and the country code");
  std::string out = "+";
  for (const char c : std::string_view(p).substr(1)) {
    if (c >= '0' && c <= '9') {
      out += c;
    } else if (c != ' ' && c != '-') {
      throw fail("only digits, spaces and dashes may follow the +");
    }
  }
  const std::size_t digits = out.size() - 1;
  if (digits < kMinPhoneDigits || digits > kMaxPhoneDigits)
    throw fail(fmt::format("it has {} digits", digits));
  return out;
}

std::string normalize_full_name(std::string_view name) {
  std::string n = util::trim(name);
  if (n.empty())
    throw Error(ErrorKind::invalid_input, "the full name is empty");
  if (n.size() > kMaxNameBytes) {
    throw Error(ErrorKind::invalid_input, "the full name is longer than 200 bytes");
  }
  if (!util::is_valid_utf8(n) || util::has_control_chars(n)) {
    throw Error(ErrorKind::invalid_input,
                "the full name holds control characters or is not valid UTF-8");
  }
  return n;
}

bool Accounts::has_admin() const {
  auto st = db_.prepare("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1");
  return st.step();
}

std::optional<User> Accounts::find(std::string_view email) const {
  auto st = db_.prepare(fmt::format("SELECT {} FROM users WHERE email = ?", kUserColumns));
  st.bind(1, util::to_lower(util::trim(email)));
  if (!st.step())
    return std::nullopt;
  return read_user(st);
}

std::optional<User> Accounts::find(std::int64_t id) const {
  auto st = db_.prepare(fmt::format("SELECT {} FROM users WHERE id = ?", kUserColumns));
  st.bind(1, id);
  if (!st.step())
    return std::nullopt;
  return read_user(st);
}

User Accounts::require_user(std::string_view email) const {
  auto user = find(email);
  if (!user) {
    throw Error(ErrorKind::not_found, fmt::format("no account with email '{}'", util::trim(email)));
  }
  return *user;
}

void check_birth_date(std::string_view date, util::UnixSeconds today) {
  const auto t = date.size() == 10 ? util::parse_utc(date) : std::nullopt;
  if (!t) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("date of birth '{}' is not a date (YYYY-MM-DD)", date));
  }
  if (*t > today || *t < *util::parse_utc("1900-01-01")) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("date of birth '{}' is not between 1900-01-01 and today", date));
  }
}

User Accounts::insert(const NewUser& user, const std::string& actor_email) {
  NewUser u = user;
  u.email = normalize_email(user.email);
  u.full_name = normalize_full_name(user.full_name);
  if (!u.birth_date.empty()) {
    if (u.role != Role::patient)
      throw Error(ErrorKind::invalid_input, "a date of birth is recorded for patients only");
    check_birth_date(u.birth_date, clock_.now());
  }
  if (u.role == Role::importer) {
    if (!u.password.empty()) {
      throw Error(ErrorKind::invalid_input,
                  "importer accounts have no password: they sign in with an API token "
                  "(csss token create)");
    }
  } else {
    check_password(u.password, settings_, u.email);
  }
  // Hash before taking the write lock: Argon2id takes a tenth of a second on purpose. An
  // importer's hash is of 256 random bits that nobody ever sees: a password that cannot be
  // guessed, costing a login attempt the same work as any other account's.
  const std::string hash = crypto::hash_password(
      u.role == Role::importer ? crypto::random_hex(32) : std::string(u.password));
  store::Transaction tx(db_);
  const std::int64_t id = insert_locked(u, hash, true);
  audit_.append({actor_email, "user.add", "user:" + u.email, audit::Outcome::success,
                 fmt::format("role {}", to_string(u.role))});
  tx.commit();
  return *find(id);
}

std::int64_t Accounts::insert_locked(const NewUser& u, const std::string& password_hash,
                                     bool email_verified) {
  if (find(u.email)) {
    throw Error(ErrorKind::conflict,
                fmt::format("an account with email '{}' exists already", u.email));
  }
  const util::UnixSeconds now = clock_.now();
  db_.prepare(
         "INSERT INTO users (email, full_name, role, password_hash, created_at, "
         "password_changed_at, email_verified_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind_all(u.email, u.full_name, std::string(to_string(u.role)), password_hash, now, now,
                email_verified ? std::optional(now) : std::nullopt)
      .run();
  const std::int64_t id = db_.last_insert_rowid();
  if (u.role == Role::patient) {
    // The patient's record, linked to the account (uploads would create it otherwise).
    db_.prepare(
           "INSERT INTO patients (user_id, full_name, birth_date, created_at) VALUES (?, ?, ?, ?)")
        .bind_all(id, u.full_name,
                  u.birth_date.empty() ? std::optional<std::string>() : std::optional(u.birth_date),
                  now)
        .run();
  }
  return id;
}

User Accounts::create_first_admin(const NewUser& admin) {
  if (admin.role != Role::admin) {
    throw Error(ErrorKind::internal, "create_first_admin called for a non-admin account");
  }
  if (has_admin()) {
    throw Error(ErrorKind::conflict,
                "an admin account exists already; admins add further accounts with: csss user add");
  }
  return insert(admin, "system");
}

User Accounts::add(const Principal& actor, const NewUser& user) {
  require(actor, Action::manage_users, "user:" + util::trim(user.email), audit_);
  return insert(user, actor.email);
}

std::vector<User> Accounts::list(const Principal& actor, std::optional<Role> role) const {
  require(actor, Action::view_users, "users", audit_);
  std::string sql = fmt::format("SELECT {} FROM users", kUserColumns);
  if (role)
    sql += " WHERE role = ?";
  sql += " ORDER BY role, email";
  auto st = db_.prepare(sql);
  if (role)
    st.bind(1, std::string(to_string(*role)));
  std::vector<User> out;
  while (st.step())
    out.push_back(read_user(st));
  return out;
}

User Accounts::show(const Principal& actor, std::string_view email) const {
  if (util::to_lower(util::trim(email)) != actor.email) {
    require(actor, Action::view_users, "user:" + util::trim(email), audit_);
  }
  return require_user(email);
}

User Accounts::set_disabled(const Principal& actor, std::string_view email, bool disabled) {
  require(actor, Action::manage_users, "user:" + util::trim(email), audit_);
  User u = require_user(email);
  if (u.id == actor.user_id) {
    throw Error(ErrorKind::conflict, "you cannot disable or enable your own account");
  }
  store::Transaction tx(db_);
  db_.prepare("UPDATE users SET disabled = ? WHERE id = ?").bind_all(disabled ? 1 : 0, u.id).run();
  if (disabled)
    revoke_sessions(u.id, std::nullopt);
  audit_.append({actor.email, disabled ? "user.disable" : "user.enable", "user:" + u.email,
                 audit::Outcome::success, ""});
  tx.commit();
  return *find(u.id);
}

User Accounts::unlock(const Principal& actor, std::string_view email) {
  require(actor, Action::manage_users, "user:" + util::trim(email), audit_);
  User u = require_user(email);
  store::Transaction tx(db_);
  db_.prepare("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?")
      .bind(1, u.id)
      .run();
  audit_.append({actor.email, "user.unlock", "user:" + u.email, audit::Outcome::success, ""});
  tx.commit();
  return *find(u.id);
}

void Accounts::change_own_password(const Principal& actor, std::string_view current,
                                   std::string_view replacement) {
  if (actor.role == Role::importer) {
    audit_.append({actor.email, "access.denied", "user:" + actor.email, audit::Outcome::denied,
                   "importer accounts have no password"});
    throw Error(ErrorKind::permission,
                "importer accounts have no password: they sign in with an API token");
  }
  std::string hash;
  {
    auto st = db_.prepare("SELECT password_hash FROM users WHERE id = ?");
    st.bind(1, actor.user_id);
    if (!st.step())
      throw Error(ErrorKind::not_found, "your account no longer exists");
    hash = st.get_text(0);
  }
  if (!crypto::verify_password(current, hash)) {
    audit_.append({actor.email, "user.passwd", "user:" + actor.email, audit::Outcome::failure,
                   "wrong current password"});
    throw Error(ErrorKind::authentication, "the current password is wrong");
  }
  check_password(replacement, settings_, actor.email);
  if (crypto::verify_password(replacement, hash)) {
    throw Error(ErrorKind::invalid_input, "the new password is the same as the current one");
  }
  const std::string new_hash = crypto::hash_password(replacement);
  store::Transaction tx(db_);
  db_.prepare("UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?")
      .bind_all(new_hash, clock_.now(), actor.user_id)
      .run();
  revoke_sessions(actor.user_id, actor.session_id);
  audit_.append({actor.email, "user.passwd", "user:" + actor.email, audit::Outcome::success, ""});
  tx.commit();
}

void Accounts::set_password(const Principal& actor, std::string_view email,
                            std::string_view replacement) {
  require(actor, Action::manage_users, "user:" + util::trim(email), audit_);
  const User u = require_user(email);
  if (u.role == Role::importer) {
    throw Error(ErrorKind::invalid_input,
                fmt::format("'{}' is an importer account: it has no password and signs in with an "
                            "API token (csss token create)",
                            u.email));
  }
  check_password(replacement, settings_, u.email);
  const std::string new_hash = crypto::hash_password(replacement);
  store::Transaction tx(db_);
  db_.prepare(
         "UPDATE users SET password_hash = ?, password_changed_at = ?, failed_logins = 0, "
         "locked_until = NULL WHERE id = ?")
      .bind_all(new_hash, clock_.now(), u.id)
      .run();
  revoke_sessions(u.id, u.id == actor.user_id ? std::optional(actor.session_id) : std::nullopt);
  audit_.append(
      {actor.email, "user.passwd", "user:" + u.email, audit::Outcome::success, "set by admin"});
  tx.commit();
}

Profile Accounts::profile(const Principal& actor) const {
  require(actor, Action::edit_own_profile, "user:" + actor.email, audit_);
  const auto user = find(actor.user_id);
  if (!user)
    throw Error(ErrorKind::not_found, "your account no longer exists");
  Profile p;
  p.user = *user;
  if (user->role == Role::patient) {
    auto st = db_.prepare("SELECT id, birth_date FROM patients WHERE user_id = ?");
    st.bind(1, user->id);
    if (st.step()) {
      p.patient_id = st.get_int(0);
      p.birth_date = st.get_opt_text(1);
    }
  }
  return p;
}

Profile Accounts::update_profile(const Principal& actor, const ProfileChange& change) {
  require(actor, Action::edit_own_profile, "user:" + actor.email, audit_);
  // Every value is checked before anything is written.
  std::optional<std::string> name;
  if (change.full_name)
    name = normalize_full_name(*change.full_name);
  std::optional<std::optional<std::string>> phone;  // set: change it; nullopt inside: remove it
  if (change.phone) {
    phone = util::trim(*change.phone).empty() ? std::optional<std::string>()
                                              : std::optional(normalize_phone(*change.phone));
  }
  if (change.birth_date) {
    if (actor.role != Role::patient) {
      throw Error(ErrorKind::invalid_input,
                  "a date of birth is recorded for patients only (on their patient record)");
    }
    check_birth_date(*change.birth_date, clock_.now());
  }
  if (!name && !phone && !change.birth_date)
    return profile(actor);

  store::Transaction tx(db_);
  const Profile before = profile(actor);
  std::vector<std::string> changed;
  if (name && *name != before.user.full_name) {
    db_.prepare("UPDATE users SET full_name = ? WHERE id = ?").bind_all(*name, actor.user_id).run();
    if (before.patient_id) {
      db_.prepare("UPDATE patients SET full_name = ? WHERE id = ?")
          .bind_all(*name, *before.patient_id)
          .run();
    }
    changed.emplace_back("name");
  }
  if (phone && *phone != before.user.phone) {
    db_.prepare("UPDATE users SET phone = ? WHERE id = ?").bind_all(*phone, actor.user_id).run();
    changed.emplace_back(*phone ? "phone" : "phone removed");
  }
  if (change.birth_date && std::optional(*change.birth_date) != before.birth_date) {
    if (before.patient_id) {
      db_.prepare("UPDATE patients SET birth_date = ? WHERE id = ?")
          .bind_all(*change.birth_date, *before.patient_id)
          .run();
    } else {
      // A patient account without a record (older stores): the record is made now.
      db_.prepare(
             "INSERT INTO patients (user_id, full_name, birth_date, created_at) "
             "VALUES (?, ?, ?, ?)")
          .bind_all(actor.user_id, name.value_or(before.user.full_name), *change.birth_date,
                    clock_.now())
          .run();
    }
    changed.emplace_back("date of birth");
  }
  if (!changed.empty()) {
    audit_.append({actor.email, "user.profile", "user:" + actor.email, audit::Outcome::success,
                   fmt::format("changed: {}", fmt::join(changed, ", "))});
  }
  tx.commit();
  return profile(actor);
}

void Accounts::revoke_sessions(std::int64_t user_id, std::optional<std::int64_t> except_session) {
  db_.prepare(
         "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL "
         "AND id IS NOT ?")
      .bind_all(clock_.now(), user_id, except_session)
      .run();
}

}  // namespace csss::auth
