#include "auth/login.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "audit/audit_log.hpp"
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

constexpr std::size_t kTokenBytes = 32;  // 256 bits
constexpr std::size_t kOtpDigits = 6;
constexpr const char* kBadCredentials = "wrong email or password";

std::string token_hash(std::string_view token) {
  return crypto::sha256_hex(token);
}

std::string minutes_text(util::UnixSeconds seconds) {
  const auto minutes = (seconds + 59) / 60;
  return fmt::format("{} minute{}", minutes, minutes == 1 ? "" : "s");
}

}  // namespace

std::string otp_code_hash(std::string_view salt, std::string_view code) {
  return crypto::sha256_hex(fmt::format("{}:{}", salt, code));
}

struct Authenticator::SessionRow {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string stage;
  util::UnixSeconds expires_at = 0;
  util::UnixSeconds last_seen_at = 0;
  std::optional<util::UnixSeconds> revoked_at;
};

std::string mask_email(std::string_view email) {
  const auto at = email.find('@');
  if (at == std::string_view::npos || at == 0)
    return "***";
  const std::string_view local = email.substr(0, at);
  const std::size_t shown = local.size() >= 6 ? 2 : 1;
  std::string out(local.substr(0, shown));
  out += "***";
  if (local.size() > 2)
    out += local.back();
  out += email.substr(at);
  return out;
}

std::optional<Authenticator::SessionRow> Authenticator::find_session(std::string_view token) const {
  auto st = db_.prepare(
      "SELECT id, user_id, stage, expires_at, last_seen_at, revoked_at FROM sessions "
      "WHERE token_hash = ?");
  st.bind(1, token_hash(token));
  if (!st.step())
    return std::nullopt;
  return SessionRow{st.get_int(0), st.get_int(1), st.get_text(2),
                    st.get_int(3), st.get_int(4), st.get_opt_int(5)};
}

std::string Authenticator::create_session(std::int64_t user_id, bool awaiting_otp,
                                          util::UnixSeconds expires_at, std::int64_t* session_id) {
  const std::string token = crypto::random_hex(kTokenBytes);
  const util::UnixSeconds now = clock_.now();
  db_.prepare(
         "INSERT INTO sessions (user_id, token_hash, stage, created_at, expires_at, "
         "last_seen_at) VALUES (?, ?, ?, ?, ?, ?)")
      .bind_all(user_id, token_hash(token), awaiting_otp ? "awaiting_otp" : "active", now,
                expires_at, now)
      .run();
  if (session_id != nullptr)
    *session_id = db_.last_insert_rowid();
  return token;
}

std::string Authenticator::create_challenge(const User& user, std::int64_t session_id) {
  const std::string code = crypto::random_digits(kOtpDigits);
  const std::string salt = crypto::random_hex(16);
  const util::UnixSeconds now = clock_.now();
  db_.prepare(
         "INSERT INTO otp_challenges (purpose, email, session_id, user_id, salt, code_hash, "
         "created_at, expires_at) VALUES ('login', ?, ?, ?, ?, ?, ?, ?)")
      .bind_all(user.email, session_id, user.id, salt, otp_code_hash(salt, code), now,
                now + settings_.otp_ttl_minutes * 60)
      .run();
  return code;
}

void Authenticator::send_code(const User& user, const std::string& code) {
  notify::MailMessage msg;
  msg.from = settings_.mail_from;
  msg.to = user.email;
  msg.subject = "Your CSSS sign-in code";
  msg.body = fmt::format(
      "Your CSSS sign-in code is {}\n\n"
      "It is valid for {} minutes and can be used once, from the terminal where you entered your "
      "password:\n\n    csss login --email {} --otp {}\n\n"
      "If you did not try to sign in, tell your CSSS administrator: someone knows your "
      "password.\n",
      code, settings_.otp_ttl_minutes, user.email, code);
  mail_.send(msg);
}

LoginResult Authenticator::login(std::string_view email_in, std::string_view password) {
  const std::string email = util::to_lower(util::trim(email_in));
  const util::UnixSeconds now = clock_.now();
  // Read the account, or for an unknown email its throttle row, outside the write lock: Argon2id
  // verification must not hold it.
  std::optional<User> user;
  std::string hash;
  int failures = 0;
  std::optional<util::UnixSeconds> locked_until;
  {
    auto st = db_.prepare("SELECT id, password_hash FROM users WHERE email = ?");
    st.bind(1, email);
    if (st.step()) {
      hash = st.get_text(1);
      user = Accounts(db_, clock_, audit_, settings_).find(st.get_int(0));
    }
  }
  if (user) {
    failures = user->failed_logins;
    locked_until = user->locked_until;
  } else {
    auto st = db_.prepare("SELECT failures, locked_until FROM login_throttle WHERE email = ?");
    st.bind(1, email);
    if (st.step()) {
      failures = static_cast<int>(st.get_int(0));
      locked_until = st.get_opt_int(1);
    }
  }
  // The same Argon2id work on every path, before any answer, so that response time tells
  // nothing about the account.
  bool password_ok = false;
  if (user) {
    password_ok = crypto::verify_password(password, hash);
  } else {
    crypto::verify_password_decoy(password);
  }
  if (user && user->role == Role::importer) {
    // Unattended accounts have no password (accounts.cpp) and never get a session.
    audit_.append({email, "login", "session", audit::Outcome::failure, "importer account"});
    throw Error(ErrorKind::authentication,
                "importer accounts sign in with a token (CSSS_TOKEN_FILE)");
  }
  if (locked_until && *locked_until > now) {
    audit_.append({email, "login", "session", audit::Outcome::failure, "account locked"});
    throw Error(ErrorKind::authentication,
                fmt::format("account locked after repeated failed logins, until {} (in {}); an "
                            "admin can unlock it sooner",
                            util::format_utc(*locked_until), minutes_text(*locked_until - now)));
  }

  store::Transaction tx(db_);
  if (!password_ok) {
    ++failures;
    const bool lock = failures >= settings_.max_failures;
    const util::UnixSeconds lock_end = now + settings_.lockout_minutes * 60;
    // 0 for "not locked": NULLIF stores it as NULL.
    const util::UnixSeconds locked_until_value = lock ? lock_end : 0;
    const int stored_failures = lock ? 0 : failures;
    if (user) {
      db_.prepare("UPDATE users SET failed_logins = ?, locked_until = NULLIF(?, 0) WHERE id = ?")
          .bind_all(stored_failures, locked_until_value, user->id)
          .run();
    } else {
      db_.prepare("DELETE FROM login_throttle WHERE updated_at < ?").bind(1, now - 86400).run();
      db_.prepare(
             "INSERT INTO login_throttle (email, failures, locked_until, updated_at) "
             "VALUES (?1, ?2, NULLIF(?3, 0), ?4) ON CONFLICT (email) DO UPDATE SET failures = ?2, "
             "locked_until = NULLIF(?3, 0), updated_at = ?4")
          .bind_all(email, stored_failures, locked_until_value, now)
          .run();
    }
    audit_.append({email, "login", "session", audit::Outcome::failure,
                   user ? "wrong password" : "unknown account"});
    if (lock) {
      audit_.append(
          {email, "account.lock", "user:" + email, audit::Outcome::success,
           fmt::format("{} failed logins; locked until {}", failures, util::format_utc(lock_end))});
      tx.commit();
      throw Error(ErrorKind::authentication,
                  fmt::format("{}; after {} failed logins the account is locked until {} (in {})",
                              kBadCredentials, failures, util::format_utc(lock_end),
                              minutes_text(lock_end - now)));
    }
    tx.commit();
    throw Error(ErrorKind::authentication, kBadCredentials);
  }
  if (user->disabled) {
    audit_.append({email, "login", "session", audit::Outcome::failure, "account disabled"});
    tx.commit();
    throw Error(ErrorKind::authentication, "this account is disabled; ask an administrator");
  }
  if (!user->email_verified_at) {
    // A registration (auth/self_service.hpp) whose emailed code was not entered yet. Said only
    // after the right password, so that it tells nothing to someone who does not know it.
    audit_.append({email, "login", "session", audit::Outcome::failure, "email not verified"});
    tx.commit();
    throw Error(ErrorKind::authentication,
                fmt::format("the email address of this account is not verified yet: enter the "
                            "code sent to it with csss user verify-email --email {} --code CODE "
                            "(a new code: --resend)",
                            email));
  }
  db_.prepare("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?")
      .bind(1, user->id)
      .run();
  if (crypto::password_needs_rehash(hash)) {
    db_.prepare("UPDATE users SET password_hash = ? WHERE id = ?")
        .bind_all(crypto::hash_password(password), user->id)
        .run();
  }

  LoginResult result;
  result.user = *user;
  result.masked_email = mask_email(email);
  if (user->role == Role::admin) {
    std::int64_t session_id = 0;
    result.expires_at = now + settings_.otp_ttl_minutes * 60;
    result.token = create_session(user->id, true, result.expires_at, &session_id);
    result.awaiting_otp = true;
    const std::string code = create_challenge(*user, session_id);
    tx.commit();
    // Mail goes out after the commit, so that a slow SMTP server never holds the store's write
    // lock; if it cannot be sent, the half-open session is closed again.
    try {
      send_code(*user, code);
    } catch (const Error& e) {
      store::Transaction undo(db_);
      db_.prepare("UPDATE sessions SET revoked_at = ? WHERE id = ?")
          .bind_all(now, session_id)
          .run();
      audit_.append({email, "otp.sent", "session", audit::Outcome::failure, e.what()});
      undo.commit();
      throw;
    }
    audit_.append({email, "otp.sent", "session", audit::Outcome::success,
                   fmt::format("to {}", result.masked_email)});
    return result;
  } else {
    result.expires_at = now + settings_.session_ttl_minutes * 60;
    result.token = create_session(user->id, false, result.expires_at, nullptr);
    audit_.append({email, "login", "session", audit::Outcome::success, ""});
  }
  tx.commit();
  return result;
}

LoginResult Authenticator::complete_otp(const std::optional<std::string>& pending_token,
                                        std::string_view email_in, std::string_view code_in) {
  const std::string email = util::to_lower(util::trim(email_in));
  const std::string code = util::trim(code_in);
  const util::UnixSeconds now = clock_.now();
  const std::string start_again = fmt::format(
      "log in again with your password to get a new code: csss login --email {}", email);
  if (code.size() != kOtpDigits ||
      !std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    throw Error(ErrorKind::invalid_input, "the one-time code must be 6 digits");
  }
  store::Transaction tx(db_);
  Accounts accounts(db_, clock_, audit_, settings_);
  const auto user = accounts.find(email);
  const auto session = pending_token ? find_session(*pending_token) : std::nullopt;
  const auto fail = [&](std::string detail, std::string message) {
    audit_.append({email, "otp.verify", "session", audit::Outcome::failure, std::move(detail)});
    tx.commit();
    return Error(ErrorKind::authentication, std::move(message));
  };

  // The newest challenge of this session, or, when the session is already complete, of the user
  // (so that a reused code is recognised as such).
  struct Challenge {
    std::int64_t id;
    std::string salt, hash;
    util::UnixSeconds expires_at;
    int failed;
    std::optional<util::UnixSeconds> used_at;
  };
  std::optional<Challenge> ch;
  if (user && session && session->user_id == user->id) {
    auto st = db_.prepare(
        "SELECT id, salt, code_hash, expires_at, failed_attempts, used_at FROM otp_challenges "
        "WHERE purpose = 'login' AND user_id = ? AND (session_id = ? OR ? = 'active') "
        "ORDER BY id DESC LIMIT 1");
    st.bind_all(user->id, session->id, session->stage);
    if (st.step()) {
      ch = Challenge{st.get_int(0),
                     st.get_text(1),
                     st.get_text(2),
                     st.get_int(3),
                     static_cast<int>(st.get_int(4)),
                     st.get_opt_int(5)};
    }
  }
  if (!ch) {
    throw fail("no pending login",
               fmt::format("no login on this terminal is waiting for a code; {}", start_again));
  }
  const bool matches = crypto::constant_time_equal(otp_code_hash(ch->salt, code), ch->hash);
  if (ch->used_at && matches) {
    throw fail("code reused", fmt::format("this code has already been used; {}", start_again));
  }
  if (session->stage != "awaiting_otp" || session->revoked_at) {
    throw fail("no pending login",
               fmt::format("no login on this terminal is waiting for a code; {}", start_again));
  }
  if (now >= ch->expires_at) {
    throw fail("code expired", fmt::format("the code has expired; {}", start_again));
  }
  if (ch->failed >= settings_.otp_max_attempts) {
    throw fail("too many wrong codes",
               fmt::format("too many wrong codes for this login; {}", start_again));
  }
  if (!matches) {
    const int failed = ch->failed + 1;
    db_.prepare("UPDATE otp_challenges SET failed_attempts = ? WHERE id = ?")
        .bind_all(failed, ch->id)
        .run();
    const int left = settings_.otp_max_attempts - failed;
    throw fail("wrong code",
               left > 0 ? fmt::format("wrong code; {} attempt{} left", left, left == 1 ? "" : "s")
                        : fmt::format("wrong code, and no attempts are left; {}", start_again));
  }
  if (user->disabled) {
    throw fail("account disabled", "this account is disabled; ask an administrator");
  }

  db_.prepare("UPDATE otp_challenges SET used_at = ? WHERE id = ?").bind_all(now, ch->id).run();
  // The half-open session is replaced by a new one under a fresh token.
  db_.prepare("UPDATE sessions SET revoked_at = ? WHERE id = ?").bind_all(now, session->id).run();
  LoginResult result;
  result.user = *user;
  result.masked_email = mask_email(email);
  result.expires_at = now + settings_.session_ttl_minutes * 60;
  result.token = create_session(user->id, false, result.expires_at, nullptr);
  audit_.append({email, "otp.used", "session", audit::Outcome::success, ""});
  audit_.append({email, "login", "session", audit::Outcome::success, "with emailed code"});
  tx.commit();
  return result;
}

Principal Authenticator::authenticate(std::string_view token) {
  const util::UnixSeconds now = clock_.now();
  const auto session = find_session(token);
  if (!session) {
    throw Error(ErrorKind::authentication,
                "not logged in (the session is unknown to this store); "
                "log in with: csss login --email EMAIL");
  }
  if (session->revoked_at) {
    throw Error(ErrorKind::authentication,
                "the session has ended (logged out, password changed or account disabled); "
                "log in again");
  }
  if (session->stage == "awaiting_otp") {
    throw Error(ErrorKind::authentication,
                "the login is not complete: enter the emailed code with "
                "csss login --email EMAIL --otp CODE");
  }
  if (now >= session->expires_at) {
    throw Error(ErrorKind::authentication, fmt::format("the session expired at {}; log in again",
                                                       util::format_utc(session->expires_at)));
  }
  if (now - session->last_seen_at >= settings_.session_idle_minutes * 60) {
    throw Error(ErrorKind::authentication,
                fmt::format("the session expired after {} minutes without activity; log in again",
                            settings_.session_idle_minutes));
  }
  Accounts accounts(db_, clock_, audit_, settings_);
  const auto user = accounts.find(session->user_id);
  if (!user || user->disabled) {
    throw Error(ErrorKind::authentication, "this account is disabled; ask an administrator");
  }
  db_.prepare("UPDATE sessions SET last_seen_at = ? WHERE id = ?").bind_all(now, session->id).run();
  Principal p;
  p.user_id = user->id;
  p.email = user->email;
  p.full_name = user->full_name;
  p.role = user->role;
  p.session_id = session->id;
  p.session_expires_at = session->expires_at;
  return p;
}

bool Authenticator::logout(std::string_view token) {
  const auto session = find_session(token);
  if (!session || session->revoked_at)
    return false;
  Accounts accounts(db_, clock_, audit_, settings_);
  const auto user = accounts.find(session->user_id);
  store::Transaction tx(db_);
  db_.prepare("UPDATE sessions SET revoked_at = ? WHERE id = ?")
      .bind_all(clock_.now(), session->id)
      .run();
  audit_.append({user ? user->email : "unknown", "logout", "session", audit::Outcome::success, ""});
  tx.commit();
  return true;
}

}  // namespace csss::auth
