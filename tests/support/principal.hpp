#pragma once

// The principal (who acts) of an account, as a login or token would give it, for library tests.

#include "auth/accounts.hpp"
#include "auth/role.hpp"

namespace csss::test {

inline auth::Principal principal_of(const auth::User& u) {
  auth::Principal p;
  p.user_id = u.id;
  p.email = u.email;
  p.full_name = u.full_name;
  p.role = u.role;
  return p;
}

}  // namespace csss::test
