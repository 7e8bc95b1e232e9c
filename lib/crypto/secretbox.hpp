#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace csss::crypto {

// Authenticated secret-key encryption (libsodium crypto_secretbox: XSalsa20-Poly1305) for the few
// secrets the store must be able to read back, such as a report's open code, so that a copy of
// the database alone does not reveal them. The key lives in a 0600 file beside the store.
class SecretKey {
 public:
  // Reads the 32-byte key from `path`, creating it (0600, atomically) with random bytes when it
  // does not exist. Throws Error(io) when the file cannot be read or written, is not private to
  // this user, or does not hold a key.
  static SecretKey load_or_create(const std::filesystem::path& path);

  // Base64 of a random nonce followed by the sealed `plaintext`.
  std::string seal(std::string_view plaintext) const;
  // The plaintext of seal(). Throws Error(integrity) when `sealed` was altered or sealed under
  // another key.
  std::string open(std::string_view sealed) const;

 private:
  explicit SecretKey(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

}  // namespace csss::crypto
