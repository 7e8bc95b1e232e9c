#include "crypto/hash.hpp"

#include <sodium.h>

#include "crypto/sodium_init.hpp"

namespace csss::crypto {

std::string sha256_hex(std::string_view data) {
  ensure_sodium();
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  char hex[2 * crypto_hash_sha256_BYTES + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return std::string(hex, 2 * crypto_hash_sha256_BYTES);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  ensure_sodium();
  if (a.size() != b.size())
    return false;
  if (a.empty())
    return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace csss::crypto
