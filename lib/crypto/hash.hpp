#pragma once

#include <string>
#include <string_view>

namespace csss::crypto {

// SHA-256 of `data` as 64 lower-case hex characters.
std::string sha256_hex(std::string_view data);

// True when `a` and `b` are equal; the time taken depends only on their lengths, never on where
// they differ. For secrets, codes and their hashes.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace csss::crypto
