#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "auth/accounts.hpp"
#include "auth/role.hpp"

namespace csss::notify {
class MailTransport;
}

namespace csss::auth {

struct LoginResult {
  // The session token to keep in the session file. While `awaiting_otp`, it only lets the same
  // terminal complete the login with the emailed code.
  std::string token;
  bool awaiting_otp = false;
  std::string masked_email;  // "a***n@csss.local", where the code was sent
  util::UnixSeconds expires_at = 0;
  User user;
};

// The salted SHA-256 under which an emailed one-time code is stored (otp_challenges.code_hash).
std::string otp_code_hash(std::string_view salt, std::string_view code);

// "ad***n@example.org": enough for people to recognise their address, not enough to harvest it.
std::string mask_email(std::string_view email);

// Logins, the emailed second factor for admins, and session checks.
//
// Sessions: a random 256-bit token; the store keeps its SHA-256, an absolute expiry and the time
// of last use (for the idle timeout). Admins' sessions start "awaiting_otp": the password was
// right and a 6-digit code went out by mail; `complete_otp` with that code, from the same session
// file, turns the session into a full one under a new token.
class Authenticator {
 public:
  Authenticator(store::Database& db, const util::Clock& clock, audit::AuditLog& audit,
                notify::MailTransport& mail, AuthSettings settings)
      : db_(db), clock_(clock), audit_(audit), mail_(mail), settings_(std::move(settings)) {}

  // Checks the password. Unknown emails and wrong passwords get the same message and the same
  // Argon2id work. Repeated failures lock the account (the message says until when). Importer
  // accounts are refused with "importer accounts sign in with a token (CSSS_TOKEN_FILE)".
  // Throws Error(authentication).
  LoginResult login(std::string_view email, std::string_view password);

  // Completes an admin login with the emailed code. `pending_token` is the token from the
  // session file (nullopt when there is none). Throws Error(authentication) for a wrong, expired,
  // used or exhausted code, or when no login is waiting for one.
  LoginResult complete_otp(const std::optional<std::string>& pending_token, std::string_view email,
                           std::string_view code);

  // The principal behind `token`, after checking that the session exists, is complete, was not
  // revoked, has not expired or idled out, and that its account is usable. Records the use.
  // Throws Error(authentication) saying which check failed.
  Principal authenticate(std::string_view token);

  // Ends the session behind `token`; false when there was none to end.
  bool logout(std::string_view token);

 private:
  struct SessionRow;
  std::optional<SessionRow> find_session(std::string_view token) const;
  std::string create_session(std::int64_t user_id, bool awaiting_otp, util::UnixSeconds expires_at,
                             std::int64_t* session_id);
  // Records a new code for `session_id` and returns it (the store keeps only a salted hash).
  std::string create_challenge(const User& user, std::int64_t session_id);
  void send_code(const User& user, const std::string& code);

  store::Database& db_;
  const util::Clock& clock_;
  audit::AuditLog& audit_;
  notify::MailTransport& mail_;
  AuthSettings settings_;
};

}  // namespace csss::auth
