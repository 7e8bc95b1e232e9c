#pragma once

#include <cstddef>
#include <string>

namespace csss::crypto {

// All randomness comes from libsodium's CSPRNG (getrandom(2) on Linux).

// `n` random bytes, hex-encoded (2n characters).
std::string random_hex(std::size_t n);

// A string of `n` uniformly random decimal digits, for one-time codes.
std::string random_digits(std::size_t n);

// A code to type from a letter: `groups` groups of `group_length` characters from an alphabet
// without look-alikes (2-9 and the capital letters but I, L, O), joined by '-': "K7QM-4XZP-9TWA"
// (3 groups of 4 carry 59 bits). For the open codes of encrypted reports.
std::string random_code(std::size_t groups, std::size_t group_length);

// A random RFC 4122 version-4 UUID in lower-case text form.
std::string random_uuid();

}  // namespace csss::crypto
