#pragma once

#include <cstddef>
#include <string>

namespace csss::crypto {

// All randomness comes from libsodium's CSPRNG (getrandom(2) on Linux).

// `n` random bytes, hex-encoded (2n characters).
std::string random_hex(std::size_t n);

// A string of `n` uniformly random decimal digits, for one-time codes.
std::string random_digits(std::size_t n);

// A random RFC 4122 version-4 UUID in lower-case text form.
std::string random_uuid();

}  // namespace csss::crypto
