#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "auth/accounts.hpp"
#include "util/clock.hpp"

namespace csss::store {
class Transaction;
}

namespace csss::notify {
class MailTransport;
}

namespace csss::auth {

// What an emailed code is for (otp_challenges.purpose; admins' login codes are 'login').
enum class CodePurpose { verify_email, reset_password };

std::string_view to_string(CodePurpose purpose) noexcept;

// The answer to a request that may email a code. It is the same whether or not the address has an
// account, so that nobody learns which addresses do.
struct CodeRequest {
  std::string email;         // normalised
  std::string masked_email;  // "pa***t@example.org"
  util::UnixSeconds expires_at = 0;
};

// Throws Error(invalid_input) unless `code` is 6 digits (surrounding blanks allowed).
void check_code_format(std::string_view code);

// What people do for themselves, without a login: register as a patient, verify their email with
// the code sent to it, and set a new password after forgetting theirs.
//
// Codes are 6 random digits, stored only as a salted hash in otp_challenges (purpose
// 'verify_email' or 'reset_password', keyed by the email), valid for otp.ttl_minutes (10), usable
// once, burnt after otp.max_attempts (5) wrong tries, compared in constant time; only the newest
// code of an address and purpose counts. At most account.codes_per_hour (3) codes per address and
// purpose are asked for in any hour; more is Error(rate_limited) with the wait.
//
// No answer tells whether an address has an account: registering an address that has one, or
// asking for a code for an address without one, gets the same answer and records a decoy code
// that is never sent (the owner of an existing account gets a notice instead), so that the code
// checks that follow behave alike too. Every request and check is audited, with the email as the
// actor. Expired codes and hour-old request records are purged whenever a code is asked for or
// checked.
class SelfService {
 public:
  SelfService(store::Database& db, const util::Clock& clock, audit::AuditLog& audit,
              notify::MailTransport& mail, AuthSettings settings)
      : db_(db), clock_(clock), audit_(audit), mail_(mail), settings_(std::move(settings)) {}

  // Registers a patient account that cannot log in until its email is verified, with its patient
  // record (as Accounts::add does), and emails the code. `user.role` is ignored (always patient).
  // Throws Error(invalid_input) for a bad email, name, date of birth or password, checked before
  // anything is written; Error(rate_limited); Error(io) when the mail cannot be sent.
  CodeRequest register_patient(const NewUser& user);

  // Sends a new verification code when a registration at `email` awaits one (a decoy otherwise).
  CodeRequest resend_verification(std::string_view email);

  // Verifies the address with its code; the account can log in from then on. Returns it. Throws
  // Error(authentication) for a wrong, expired, used or burnt code or when none is waiting.
  User verify_email(std::string_view email, std::string_view code);

  // Emails a password reset code when an account with a password uses `email` (a decoy
  // otherwise).
  CodeRequest request_password_reset(std::string_view email);

  // Sets a new password with the emailed code: ends every session of the account, clears a
  // lockout, and marks the email verified (the code proves it). Throws Error(invalid_input) for a
  // weak password (before the code is looked at), Error(authentication) as verify_email does.
  User reset_password(std::string_view email, std::string_view code, std::string_view password);

 private:
  struct Code;
  // Inside a transaction: purges what expired; refuses (audited and committed, then
  // Error(rate_limited) with the wait) when `email` has had its hourly codes for `purpose`.
  void check_rate(store::Transaction& tx, const std::string& email, CodePurpose purpose);
  // Inside a transaction: records a new code for `email` (to be sent when `user_id` is set, a
  // decoy otherwise) and its request, fills `answer` and returns the code.
  std::string record_code(const std::string& email, CodePurpose purpose,
                          std::optional<std::int64_t> user_id, CodeRequest& answer);
  // Inside a transaction: the newest code of `email` for `purpose`, marked used, if `code` matches
  // it and it may be used; otherwise records the failure (audit, attempts), commits and throws.
  Code check_code(store::Transaction& tx, const std::string& email, CodePurpose purpose,
                  std::string_view code);
  std::string verification_text(const std::string& email, const std::string& code);
  void purge_expired();
  void send(const std::string& to, const std::string& subject, const std::string& body,
            const std::string& audit_action, const std::string& retry_hint);

  store::Database& db_;
  const util::Clock& clock_;
  audit::AuditLog& audit_;
  notify::MailTransport& mail_;
  AuthSettings settings_;
};

}  // namespace csss::auth
