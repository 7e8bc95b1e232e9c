#include "crypto/hash.hpp"

#include <openssl/evp.h>
#include <sodium.h>

#include "crypto/sodium_init.hpp"
#include "util/error.hpp"

namespace csss::crypto {

// SHA-256 from OpenSSL's libcrypto, which uses the CPU's SHA extensions where there are some:
// 937 MB/s against libsodium's 133 MB/s on 2000 brain MRIs on the 2-core machine
// (bench/bench_hash). Every imported file and every model's weights are hashed; a 9 MB model
// took some 70 ms to verify before each load.
std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1 ||
      length != 32) {
    throw Error(ErrorKind::internal, "SHA-256 failed (OpenSSL)");
  }
  ensure_sodium();
  char hex[2 * 32 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, length);
  return std::string(hex, 2 * length);
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
