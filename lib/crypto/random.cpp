#include "crypto/random.hpp"

#include <sodium.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "crypto/sodium_init.hpp"

namespace csss::crypto {

std::string random_hex(std::size_t n) {
  if (n == 0)
    return {};  // randombytes_buf must not get the null data() of an empty vector
  ensure_sodium();
  std::vector<unsigned char> bytes(n);
  randombytes_buf(bytes.data(), n);
  std::string hex(2 * n + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), bytes.data(), n);
  hex.pop_back();
  return hex;
}

std::string random_digits(std::size_t n) {
  ensure_sodium();
  std::string out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(static_cast<char>('0' + randombytes_uniform(10)));
  }
  return out;
}

std::string random_code(std::size_t groups, std::size_t group_length) {
  static constexpr std::string_view kAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
  ensure_sodium();
  std::string out;
  for (std::size_t g = 0; g < groups; ++g) {
    if (g > 0)
      out.push_back('-');
    for (std::size_t i = 0; i < group_length; ++i) {
      out.push_back(kAlphabet[randombytes_uniform(static_cast<std::uint32_t>(kAlphabet.size()))]);
    }
  }
  return out;
}

std::string random_uuid() {
  ensure_sodium();
  unsigned char b[16];
  randombytes_buf(b, sizeof b);
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
  char hex[33];
  sodium_bin2hex(hex, sizeof hex, b, sizeof b);
  const std::string h(hex);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20, 12);
}

}  // namespace csss::crypto
