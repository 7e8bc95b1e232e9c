#pragma once

#include <string>
#include <string_view>

namespace csss::crypto {

// Argon2id password hashing (libsodium crypto_pwhash_str, "$argon2id$..." strings with their own
// salt and parameters). Cost: OPSLIMIT/MEMLIMIT_INTERACTIVE (2 passes over 64 MiB).

std::string hash_password(std::string_view password);

// True when `password` matches `hash`. Malformed hashes never match.
bool verify_password(std::string_view password, const std::string& hash);

// Spends the same time as verify_password() on a real hash, for unknown accounts, so that
// response time does not tell whether an email has an account.
void verify_password_decoy(std::string_view password);

// True when `hash` was made with other parameters than hash_password() uses now.
bool password_needs_rehash(const std::string& hash);

}  // namespace csss::crypto
