#include "auth/self_service.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "audit/audit_log.hpp"
#include "auth/login.hpp"
#include "crypto/hash.hpp"
#include "crypto/password.hpp"
#include "crypto/random.hpp"
#include "notify/mail.hpp"
#include "store/database.hpp"
#include "util/error.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

namespace csss::auth {

namespace {

constexpr std::size_t kCodeDigits = 6;
constexpr util::UnixSeconds kRateWindow = 3600;  // the hour of account.codes_per_hour

std::string minutes_text(util::UnixSeconds seconds) {
  const auto minutes = std::max<util::UnixSeconds>(1, (seconds + 59) / 60);
  return fmt::format("{} minute{}", minutes, minutes == 1 ? "" : "s");
}

// The command that asks for a new code of `purpose`.
std::string ask_again(CodePurpose purpose, const std::string& email) {
  return purpose == CodePurpose::verify_email
             ? fmt::format("csss user verify-email --email {} --resend", email)
             : fmt::format("csss user forgot-password --email {}", email);
}

// The audit action of checking a code of `purpose`.
std::string check_action(CodePurpose purpose) {
  return purpose == CodePurpose::verify_email ? "email.verify" : "password.reset";
}

std::string what_code(CodePurpose purpose) {
  return purpose == CodePurpose::verify_email ? "email verification code" : "password reset code";
}

}  // namespace

std::string_view to_string(CodePurpose purpose) noexcept {
  return purpose == CodePurpose::verify_email ? "verify_email" : "reset_password";
}

void check_code_format(std::string_view code_in) {
  const std::string code = util::trim(code_in);
  if (code.size() != kCodeDigits ||
      !std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    throw Error(ErrorKind::invalid_input, "the code must be the 6 digits of the emailed message");
  }
}

struct SelfService::Code {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
};

void SelfService::purge_expired() {
  const util::UnixSeconds now = clock_.now();
  db_.prepare("DELETE FROM otp_challenges WHERE purpose <> 'login' AND expires_at <= ?")
      .bind(1, now)
      .run();
  db_.prepare("DELETE FROM email_code_requests WHERE created_at <= ?")
      .bind(1, now - kRateWindow)
      .run();
}

void SelfService::check_rate(store::Transaction& tx, const std::string& email,
                             CodePurpose purpose) {
  const util::UnixSeconds now = clock_.now();
  purge_expired();
  // The limit-th newest request of the last hour: while there is one, the limit is reached, until
  // it is an hour old.
  auto st = db_.prepare(
      "SELECT created_at FROM email_code_requests WHERE email = ? AND purpose = ? AND "
      "created_at > ? ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ?");
  st.bind_all(email, std::string(to_string(purpose)), now - kRateWindow,
              settings_.codes_per_hour - 1);
  if (!st.step())
    return;
  const util::UnixSeconds wait = st.get_int(0) + kRateWindow - now;
  audit_.append({email, "otp.sent", "user:" + email, audit::Outcome::failure,
                 fmt::format("{}: refused, {} in the last hour", what_code(purpose),
                             settings_.codes_per_hour)});
  tx.commit();
  throw Error(ErrorKind::rate_limited,
              fmt::format("too many codes sent to this address (at most {} an hour); try again in "
                          "{}",
                          settings_.codes_per_hour, minutes_text(wait)));
}

std::string SelfService::record_code(const std::string& email, CodePurpose purpose,
                                     std::optional<std::int64_t> user_id, CodeRequest& answer) {
  const util::UnixSeconds now = clock_.now();
  const std::string code = crypto::random_digits(kCodeDigits);
  const std::string salt = crypto::random_hex(16);
  answer.email = email;
  answer.masked_email = mask_email(email);
  answer.expires_at = now + settings_.otp_ttl_minutes * 60;
  db_.prepare(
         "INSERT INTO otp_challenges (purpose, email, user_id, salt, code_hash, created_at, "
         "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind_all(std::string(to_string(purpose)), email, user_id, salt, otp_code_hash(salt, code),
                now, answer.expires_at)
      .run();
  db_.prepare("INSERT INTO email_code_requests (email, purpose, created_at) VALUES (?, ?, ?)")
      .bind_all(email, std::string(to_string(purpose)), now)
      .run();
  audit_.append({email, "otp.sent", "user:" + email, audit::Outcome::success,
                 user_id ? fmt::format("{} to {}", what_code(purpose), answer.masked_email)
                         : fmt::format("{}: decoy, not sent (no account it applies to)",
                                       what_code(purpose))});
  return code;
}

SelfService::Code SelfService::check_code(store::Transaction& tx, const std::string& email,
                                          CodePurpose purpose, std::string_view code_in) {
  const std::string code = util::trim(code_in);
  const util::UnixSeconds now = clock_.now();
  const std::string again = ask_again(purpose, email);
  struct Row {
    std::int64_t id;
    std::optional<std::int64_t> user_id;
    std::string salt, hash;
    util::UnixSeconds expires_at;
    int failed;
    std::optional<util::UnixSeconds> used_at;
  };
  std::optional<Row> row;
  {
    auto st = db_.prepare(
        "SELECT id, user_id, salt, code_hash, expires_at, failed_attempts, used_at "
        "FROM otp_challenges WHERE email = ? AND purpose = ? ORDER BY id DESC LIMIT 1");
    st.bind_all(email, std::string(to_string(purpose)));
    if (st.step()) {
      row = Row{st.get_int(0),    st.get_opt_int(1), st.get_text(2),
                st.get_text(3),   st.get_int(4),     static_cast<int>(st.get_int(5)),
                st.get_opt_int(6)};
    }
  }
  const auto fail = [&](std::string detail, std::string message) {
    purge_expired();  // an expired code, once reported, is gone
    audit_.append({email, check_action(purpose), "user:" + email, audit::Outcome::failure,
                   std::move(detail)});
    tx.commit();
    return Error(ErrorKind::authentication, std::move(message));
  };
  const std::string none = fmt::format(
      "no code is waiting for this address (none was asked for, or it was used or has expired); "
      "ask for a new one with: {}",
      again);
  if (!row)
    throw fail("no code waiting", none);
  const bool matches = crypto::constant_time_equal(otp_code_hash(row->salt, code), row->hash);
  if (row->used_at) {
    if (matches)
      throw fail("code reused", fmt::format("this code has already been used; {}",
                                            purpose == CodePurpose::verify_email
                                                ? "the address is verified: log in with csss login"
                                                : "ask for a new one with: " + again));
    throw fail("no code waiting", none);
  }
  if (now >= row->expires_at) {
    throw fail("code expired",
               fmt::format("the code has expired (codes are valid for {} minutes); ask for a new "
                           "one with: {}",
                           settings_.otp_ttl_minutes, again));
  }
  if (row->failed >= settings_.otp_max_attempts) {
    throw fail("too many wrong codes",
               fmt::format("too many wrong codes: this code no longer works; ask for a new one "
                           "with: {}",
                           again));
  }
  // A decoy (a code of no account, never sent) never matches, even if guessed.
  if (!matches || !row->user_id) {
    const int failed = row->failed + 1;
    db_.prepare("UPDATE otp_challenges SET failed_attempts = ? WHERE id = ?")
        .bind_all(failed, row->id)
        .run();
    const int left = settings_.otp_max_attempts - failed;
    throw fail(left > 0 ? "wrong code" : "wrong code; code burnt",
               left > 0 ? fmt::format("wrong code; {} attempt{} left", left, left == 1 ? "" : "s")
                        : fmt::format("wrong code, and no attempts are left: this code no longer "
                                      "works; ask for a new one with: {}",
                                      again));
  }
  db_.prepare("UPDATE otp_challenges SET used_at = ? WHERE id = ?").bind_all(now, row->id).run();
  purge_expired();
  return Code{row->id, *row->user_id};
}

void SelfService::send(const std::string& to, const std::string& subject, const std::string& body,
                       const std::string& audit_action, const std::string& retry_hint) {
  notify::MailMessage msg;
  msg.from = settings_.mail_from;
  msg.to = to;
  msg.subject = subject;
  msg.body = body;
  try {
    mail_.send(msg);
  } catch (const Error& e) {
    audit_.append({to, audit_action, "user:" + to, audit::Outcome::failure,
                   fmt::format("mail not sent: {}", e.what())});
    throw Error(ErrorKind::io,
                fmt::format("could not send the email to {}: {}; {}", to, e.what(), retry_hint));
  }
}

std::string SelfService::verification_text(const std::string& email, const std::string& code) {
  return fmt::format(
      "Your CSSS verification code is {}\n\n"
      "It is valid for {} minutes and can be used once. Enter it to finish your registration:\n\n"
      "    csss user verify-email --email {} --code {}\n\n"
      "If you did not register with CSSS, ignore this message: without the code the account "
      "cannot be used.\n",
      code, settings_.otp_ttl_minutes, email, code);
}

CodeRequest SelfService::register_patient(const NewUser& in) {
  // Every value is checked first, the same way whether or not the address has an account.
  NewUser u = in;
  u.role = Role::patient;
  u.email = normalize_email(in.email);
  u.full_name = normalize_full_name(in.full_name);
  if (!u.birth_date.empty())
    check_birth_date(u.birth_date, clock_.now());
  check_password(u.password, settings_, u.email);
  // Argon2id on both paths, before the write lock, so that the time taken tells nothing either.
  const std::string hash = crypto::hash_password(u.password);

  Accounts accounts(db_, clock_, audit_, settings_);
  CodeRequest answer;
  store::Transaction tx(db_);
  check_rate(tx, u.email, CodePurpose::verify_email);
  const bool exists = accounts.find(u.email).has_value();
  std::optional<std::int64_t> id;
  if (!exists)
    id = accounts.insert_locked(u, hash, /*email_verified=*/false);
  // For an address that has an account: a decoy code, so that what follows looks the same.
  const std::string code = record_code(u.email, CodePurpose::verify_email, id, answer);
  audit_.append({u.email, "user.register", "user:" + u.email,
                 exists ? audit::Outcome::failure : audit::Outcome::success,
                 exists ? "the address has an account: its owner was sent a notice"
                        : "patient account, email not verified yet"});
  tx.commit();

  const std::string hint = fmt::format("ask for a new code later with: {}",
                                       ask_again(CodePurpose::verify_email, u.email));
  if (exists) {
    send(u.email, "CSSS: a registration with your address",
         fmt::format(
             "Someone, perhaps you, tried to register a CSSS account with this address. It has "
             "an account already, so no new account was made and nothing was changed.\n\n"
             "If you forgot your password, set a new one with:\n\n"
             "    csss user forgot-password --email {0}\n\n"
             "If your own registration is waiting for its code, ask for a new code with:\n\n"
             "    csss user verify-email --email {0} --resend\n\n"
             "If it was not you, you can ignore this message.\n",
             u.email),
         "user.register", hint);
  } else {
    send(u.email, "Your CSSS verification code", verification_text(u.email, code), "user.register",
         hint);
  }
  return answer;
}

CodeRequest SelfService::resend_verification(std::string_view email_in) {
  const std::string email = normalize_email(email_in);
  Accounts accounts(db_, clock_, audit_, settings_);
  CodeRequest answer;
  store::Transaction tx(db_);
  check_rate(tx, email, CodePurpose::verify_email);
  const auto user = accounts.find(email);
  const bool waiting = user && !user->email_verified_at;
  const std::string code = record_code(email, CodePurpose::verify_email,
                                       waiting ? std::optional(user->id) : std::nullopt, answer);
  tx.commit();
  if (waiting) {
    send(email, "Your CSSS verification code", verification_text(email, code), "otp.sent",
         fmt::format("ask for a new code later with: {}",
                     ask_again(CodePurpose::verify_email, email)));
  }
  return answer;
}

User SelfService::verify_email(std::string_view email_in, std::string_view code) {
  check_code_format(code);
  const std::string email = normalize_email(email_in);
  Accounts accounts(db_, clock_, audit_, settings_);
  store::Transaction tx(db_);
  const Code c = check_code(tx, email, CodePurpose::verify_email, code);
  db_.prepare("UPDATE users SET email_verified_at = coalesce(email_verified_at, ?) WHERE id = ?")
      .bind_all(clock_.now(), c.user_id)
      .run();
  audit_.append({email, "email.verify", "user:" + email, audit::Outcome::success, ""});
  tx.commit();
  return *accounts.find(c.user_id);
}

CodeRequest SelfService::request_password_reset(std::string_view email_in) {
  const std::string email = normalize_email(email_in);
  Accounts accounts(db_, clock_, audit_, settings_);
  CodeRequest answer;
  store::Transaction tx(db_);
  check_rate(tx, email, CodePurpose::reset_password);
  const auto user = accounts.find(email);
  // Importer accounts have no password to reset (they sign in with an API token).
  const bool real = user && user->role != Role::importer;
  const std::string code = record_code(email, CodePurpose::reset_password,
                                       real ? std::optional(user->id) : std::nullopt, answer);
  tx.commit();
  if (real) {
    send(email, "Your CSSS password reset code",
         fmt::format(
             "Your CSSS password reset code is {0}\n\n"
             "It is valid for {1} minutes and can be used once. Set a new password with:\n\n"
             "    csss user reset-password --email {2} --code {0}\n\n"
             "Every session of the account ends when the password is set. If you did not ask "
             "for this, ignore this message: your password stays as it is.\n",
             code, settings_.otp_ttl_minutes, email),
         "otp.sent",
         fmt::format("ask for a new code later with: {}",
                     ask_again(CodePurpose::reset_password, email)));
  }
  return answer;
}

User SelfService::reset_password(std::string_view email_in, std::string_view code,
                                 std::string_view password) {
  check_code_format(code);
  const std::string email = normalize_email(email_in);
  check_password(password, settings_, email);
  const std::string hash = crypto::hash_password(password);  // before the write lock
  Accounts accounts(db_, clock_, audit_, settings_);
  store::Transaction tx(db_);
  const Code c = check_code(tx, email, CodePurpose::reset_password, code);
  const util::UnixSeconds now = clock_.now();
  db_.prepare(
         "UPDATE users SET password_hash = ?, password_changed_at = ?, failed_logins = 0, "
         "locked_until = NULL, email_verified_at = coalesce(email_verified_at, ?) WHERE id = ?")
      .bind_all(hash, now, now, c.user_id)
      .run();
  db_.prepare("UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL")
      .bind_all(now, c.user_id)
      .run();
  audit_.append({email, "password.reset", "user:" + email, audit::Outcome::success,
                 "with the emailed code; every session ended, lockout cleared"});
  tx.commit();
  return *accounts.find(c.user_id);
}

}  // namespace csss::auth
