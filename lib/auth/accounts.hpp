#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/role.hpp"
#include "util/clock.hpp"

namespace csss::audit {
class AuditLog;
}
namespace csss::config {
class Config;
}
namespace csss::store {
class Database;
}

namespace csss::auth {

// The account and login rules, read from the configuration once.
struct AuthSettings {
  int session_ttl_minutes = 60;
  int session_idle_minutes = 15;
  int max_failures = 5;
  int lockout_minutes = 15;
  int password_min_length = 12;
  int otp_ttl_minutes = 10;
  int otp_max_attempts = 5;
  // Codes emailed to one address per hour, for registration and for password reset each.
  int codes_per_hour = 3;
  std::string mail_from = "CSSS <no-reply@csss.local>";

  static AuthSettings from(const config::Config& config);
};

struct User {
  std::int64_t id = 0;
  std::string email;
  std::string full_name;
  Role role = Role::patient;
  bool disabled = false;
  int failed_logins = 0;
  std::optional<util::UnixSeconds> locked_until;
  util::UnixSeconds created_at = 0;
  util::UnixSeconds password_changed_at = 0;
  // When the email was shown to be the owner's (the emailed code of a registration or a password
  // reset); accounts added by an admin count as verified when created. Unset: no login yet.
  std::optional<util::UnixSeconds> email_verified_at;
  std::optional<std::string> phone;  // "+" and 7 to 15 digits
};

// What `csss user profile` shows: the account, and for a patient the linked record.
struct Profile {
  User user;
  std::optional<std::int64_t> patient_id;  // patients: their record's number
  std::optional<std::string> birth_date;   // patients: YYYY-MM-DD, when recorded
};

// What `csss user profile` changes; unset members stay as they are.
struct ProfileChange {
  std::optional<std::string> full_name;
  std::optional<std::string> phone;       // "" removes it
  std::optional<std::string> birth_date;  // patients only
};

struct NewUser {
  std::string email;
  std::string full_name;
  Role role = Role::patient;
  std::string password;  // "" for an importer, which has none (it signs in with an API token)
  // Patients only: the date of birth (YYYY-MM-DD) of the patient record created with the account,
  // printed on reports. "" leaves it unrecorded.
  std::string birth_date = {};
};

// Throws Error(invalid_input) unless `date` is a real calendar date YYYY-MM-DD between 1900-01-01
// and `today` (a date of birth).
void check_birth_date(std::string_view date, util::UnixSeconds today);

// Lower-cases and trims `email`; throws Error(invalid_input) unless it looks like a deliverable
// address (local@domain.tld, at most 254 characters, no spaces or control characters).
std::string normalize_email(std::string_view email);

// Throws Error(invalid_input) saying which rule `password` breaks: empty, shorter than the
// minimum, longer than 1024 bytes, or equal to the account's email.
void check_password(std::string_view password, const AuthSettings& settings,
                    std::string_view email);

// The phone number as stored: "+" and 7 to 15 digits, the spaces and dashes people write between
// them removed ("+44 20-7946 0958" is "+442079460958"). Throws Error(invalid_input) for anything
// else: no leading "+", other characters, too few or too many digits.
std::string normalize_phone(std::string_view phone);

// Trims `name`; throws Error(invalid_input) when empty, over 200 bytes, not UTF-8 or holding
// control characters.
std::string normalize_full_name(std::string_view name);

// User accounts: creation, listing and changes. Every change is checked against the role policy
// and written to the audit log in the same transaction.
class Accounts {
 public:
  Accounts(store::Database& db, const util::Clock& clock, audit::AuditLog& audit,
           AuthSettings settings)
      : db_(db), clock_(clock), audit_(audit), settings_(std::move(settings)) {}

  bool has_admin() const;

  // Creates the first admin. Throws Error(conflict) when an admin exists already.
  User create_first_admin(const NewUser& admin);

  // Creates an account (admins only). Throws Error(conflict) for a duplicate email. An importer
  // account gets no usable password (the store keeps the Argon2id hash of a random secret that is
  // thrown away): it signs in only with an API token (auth/tokens.hpp).
  User add(const Principal& actor, const NewUser& user);

  std::vector<User> list(const Principal& actor, std::optional<Role> role) const;

  // An admin may see any account; others only their own. Throws Error(not_found).
  User show(const Principal& actor, std::string_view email) const;

  // Disables or re-enables an account (admins only; not one's own). Disabling ends its sessions.
  User set_disabled(const Principal& actor, std::string_view email, bool disabled);

  // Clears a lockout and the failed-login count (admins only).
  User unlock(const Principal& actor, std::string_view email);

  // Changes the actor's own password after checking the current one; ends the actor's other
  // sessions. Throws Error(authentication) when `current` is wrong, Error(permission) for an
  // importer (which has no password).
  void change_own_password(const Principal& actor, std::string_view current,
                           std::string_view replacement);

  // Sets another account's password (admins only) and ends that account's sessions. Throws
  // Error(invalid_input) for an importer account, which has no password.
  void set_password(const Principal& actor, std::string_view email, std::string_view replacement);

  // The actor's own profile; for a patient with the record's number and date of birth. Needs
  // Action::edit_own_profile (every role but the importer).
  Profile profile(const Principal& actor) const;

  // Changes the actor's own name, phone or (patients) date of birth; a patient's new name and date
  // of birth go to their record too. Throws Error(invalid_input) naming the bad value, with
  // nothing changed; audited ("user.profile", naming the fields changed, not their values).
  Profile update_profile(const Principal& actor, const ProfileChange& change);

  std::optional<User> find(std::string_view email) const;
  std::optional<User> find(std::int64_t id) const;

  // Inserts the account `user` (already normalised and checked) with `password_hash` and, for a
  // patient, its linked patient record; inside the caller's transaction, without an audit row.
  // Returns the new account's ID. Throws Error(conflict) when the email is taken.
  std::int64_t insert_locked(const NewUser& user, const std::string& password_hash,
                             bool email_verified);

 private:
  User insert(const NewUser& user, const std::string& actor_email);
  User require_user(std::string_view email) const;
  void revoke_sessions(std::int64_t user_id, std::optional<std::int64_t> except_session);

  store::Database& db_;
  const util::Clock& clock_;
  audit::AuditLog& audit_;
  AuthSettings settings_;
};

}  // namespace csss::auth
