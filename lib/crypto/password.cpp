#include "crypto/password.hpp"

#include <sodium.h>

#include "crypto/sodium_init.hpp"
#include "util/error.hpp"

namespace csss::crypto {

namespace {

constexpr unsigned long long kOpsLimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
constexpr std::size_t kMemLimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;

}  // namespace

std::string hash_password(std::string_view password) {
  ensure_sodium();
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), kOpsLimit, kMemLimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw Error(ErrorKind::internal, "password hashing ran out of memory");
  }
  return std::string(out);
}

bool verify_password(std::string_view password, const std::string& hash) {
  ensure_sodium();
  if (hash.size() >= crypto_pwhash_STRBYTES)
    return false;
  return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

void verify_password_decoy(std::string_view password) {
  // A hash of a random 48-character secret that was thrown away, made with the parameters of
  // hash_password(). Precomputed: hashing it at run time would make unknown emails slower.
  static const std::string decoy =
      "$argon2id$v=19$m=65536,t=2,p=1$9ehu6dNvxqmHcpLyi70r4A$"
      "7v/neOc1DYBiLTM76Bo6KGbQUB/il5coV/Q8xD3FdUQ";
  (void)verify_password(password, decoy);
}

bool password_needs_rehash(const std::string& hash) {
  ensure_sodium();
  return crypto_pwhash_str_needs_rehash(hash.c_str(), kOpsLimit, kMemLimit) != 0;
}

}  // namespace csss::crypto
