#include "crypto/hash.hpp"

#include <openssl/evp.h>
#include <sodium.h>

#include "crypto/sodium_init.hpp"
#include "util/error.hpp"

namespace csss::crypto {

// SHA-256 from OpenSSL's libcrypto, which uses the CPU's SHA extensions or AVX2 where there are
// some: 0.7-1.0 GB/s on the 2-core machine against libsodium's portable 80-140 MB/s (20 MiB,
// bench/bench_hash). Every imported file and every model's weights are hashed; a
// 9 MB model took some 70 ms to verify before each load.
std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1 ||
      length != 32) {
    throw Error(ErrorKind::internal, "SHA-256 failed (OpenSSL)");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(2 * length, '0');
  for (unsigned int i = 0; i < length; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0x0f];
  }
  return hex;
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
