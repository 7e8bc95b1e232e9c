#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace csss::crypto {

// Standard base64 (RFC 4648 section 4, with padding, no line breaks).
std::string base64_encode(std::string_view data);
// The bytes of `text`, or nullopt when it is not valid base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace csss::crypto
