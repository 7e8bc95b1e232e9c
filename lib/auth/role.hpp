#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace csss::auth {

enum class Role { patient, doctor, pharmacist, admin };

std::string_view to_string(Role role) noexcept;
std::optional<Role> parse_role(std::string_view text);

// Who is acting: the account behind an authenticated session.
struct Principal {
  std::int64_t user_id = 0;
  std::string email;
  std::string full_name;
  Role role = Role::patient;
  std::int64_t session_id = 0;
  std::int64_t session_expires_at = 0;  // Unix seconds
};

}  // namespace csss::auth
