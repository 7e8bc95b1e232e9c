#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace csss::auth {

// `importer`: an unattended account (cron) that may import and analyse scans and nothing else.
// It has no usable password and signs in only with an API token (auth/tokens.hpp).
enum class Role { patient, doctor, pharmacist, admin, importer };

// Every role, in the order of the policy table's columns.
inline constexpr Role kAllRoles[] = {Role::patient, Role::doctor, Role::pharmacist, Role::admin,
                                     Role::importer};

std::string_view to_string(Role role) noexcept;
std::optional<Role> parse_role(std::string_view text);

// Who is acting: the account behind an authenticated session or API token.
struct Principal {
  std::int64_t user_id = 0;
  std::string email;
  std::string full_name;
  Role role = Role::patient;
  std::int64_t session_id = 0;          // 0 when authenticated with an API token
  std::int64_t session_expires_at = 0;  // Unix seconds; the token's expiry for a token
  std::int64_t token_id = 0;            // the API token's ID (api_tokens.id); 0 for a session
};

}  // namespace csss::auth
