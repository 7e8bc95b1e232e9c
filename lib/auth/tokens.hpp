#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/role.hpp"
#include "util/clock.hpp"

namespace csss::audit {
class AuditLog;
}
namespace csss::store {
class Database;
}

namespace csss::auth {

// Long-lived API tokens of importer accounts, for unattended runs (cron) that cannot type a
// password or a one-time code. A token is "csss_" and 48 hex digits (192 random bits), shown once
// when it is created; the store keeps only its SHA-256, who it is for and who made it, its expiry,
// the time of its last use, and when it was revoked. Tokens are looked up by that hash and the
// hashes compared in constant time. Every creation, revocation, use and failed use is audited.

inline constexpr int kDefaultTokenDays = 365;
inline constexpr int kMaxTokenDays = 3650;
inline constexpr std::string_view kTokenPrefix = "csss_";
inline constexpr std::size_t kMaxTokenNameBytes = 100;

enum class TokenState { active, expired, revoked };

std::string_view to_string(TokenState state) noexcept;

// A token as the store describes it; never the token itself.
struct ApiToken {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string user_email;
  std::string name;        // the admin's label ("nightly PACS import"); may be ""
  std::string created_by;  // the admin's email
  util::UnixSeconds created_at = 0;
  util::UnixSeconds expires_at = 0;
  std::optional<util::UnixSeconds> last_used_at;
  std::optional<util::UnixSeconds> revoked_at;

  // Revoked wins over expired.
  TokenState state(util::UnixSeconds now) const;
};

struct CreatedToken {
  ApiToken token;
  std::string secret;  // the token: shown once, never stored
};

class Tokens {
 public:
  Tokens(store::Database& db, const util::Clock& clock, audit::AuditLog& audit)
      : db_(db), clock_(clock), audit_(audit) {}

  // Creates a token for the importer account `user_email`, valid for `days` (1 to kMaxTokenDays)
  // (Action::manage_tokens: admins). Throws Error(permission), Error(not_found) for an unknown
  // account, Error(invalid_input) for an account that is not an importer, a bad `days` or `name`,
  // Error(conflict) for a disabled account.
  CreatedToken create(const Principal& actor, std::string_view user_email, int days,
                      std::string_view name);

  // Every token, or those of one account, oldest first (Action::manage_tokens).
  std::vector<ApiToken> list(const Principal& actor,
                             const std::optional<std::string>& user_email) const;

  // Revokes a token at once (Action::manage_tokens). Throws Error(not_found) for an unknown ID,
  // Error(conflict) when it was revoked already.
  ApiToken revoke(const Principal& actor, std::int64_t id);

  // The importer behind `token` (Principal with role importer, session_id 0, token_id and the
  // token's expiry in session_expires_at), after checking that the token is well-formed, known,
  // not revoked, not expired, and that its account is an enabled importer. Records the use
  // (last_used_at and an audit row). Throws Error(authentication) with one line saying which
  // check failed, after an audit row.
  Principal authenticate(std::string_view token);

  // authenticate() with the token read from `path` (CSSS_TOKEN_FILE): a regular file owned by
  // this user with mode 0600 (no group or other bits), holding the token and optional
  // surrounding white space. Throws Error(authentication), audited, when it is missing,
  // unreadable, readable by others or holds no valid token.
  Principal authenticate_file(const std::filesystem::path& path);

  std::optional<ApiToken> find(std::int64_t id) const;

 private:
  [[noreturn]] void refuse(std::string actor, std::string object, std::string detail,
                           std::string message);

  store::Database& db_;
  const util::Clock& clock_;
  audit::AuditLog& audit_;
};

}  // namespace csss::auth
