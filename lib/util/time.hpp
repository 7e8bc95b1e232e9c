#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "util/clock.hpp"

namespace csss::util {

// "2026-11-21T08:30:00Z".
std::string format_utc(UnixSeconds t);

// "2026-11-21T08:30:00.123Z".
std::string format_utc_ms(std::int64_t ms);

// Parses "YYYY-MM-DD" (midnight UTC) or "YYYY-MM-DDTHH:MM[:SS][Z]" (UTC); nullopt when malformed.
std::optional<UnixSeconds> parse_utc(std::string_view text);

}  // namespace csss::util
