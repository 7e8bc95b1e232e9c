#include "format.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "util/time.hpp"

namespace csss::cli {

namespace {

// Display width of UTF-8 text: one column per code point (enough for names and emails).
std::size_t width(const std::string& s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

}  // namespace

std::string format_table(const std::vector<std::string>& header,
                         const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty())
    return "";
  std::vector<std::size_t> widths(header.size());
  for (std::size_t i = 0; i < header.size(); ++i)
    widths[i] = width(header[i]);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], width(row[i]));
    }
  }
  std::string out;
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      l += cells[i];
      if (i + 1 < cells.size())
        l += std::string(widths[i] - width(cells[i]) + 2, ' ');
    }
    out += l + "\n";
  };
  line(header);
  for (const auto& row : rows)
    line(row);
  return out;
}

nlohmann::json json_time(std::optional<util::UnixSeconds> t) {
  return t ? nlohmann::json(util::format_utc(*t)) : nlohmann::json(nullptr);
}

std::string user_status(const auth::User& user, util::UnixSeconds now) {
  if (user.disabled)
    return "disabled";
  if (user.locked_until && *user.locked_until > now) {
    return "locked until " + util::format_utc(*user.locked_until);
  }
  return "active";
}

nlohmann::json user_json(const auth::User& user, util::UnixSeconds now) {
  const bool locked = user.locked_until && *user.locked_until > now;
  return {{"id", user.id},
          {"email", user.email},
          {"full_name", user.full_name},
          {"role", std::string(auth::to_string(user.role))},
          {"disabled", user.disabled},
          {"locked_until", json_time(locked ? user.locked_until : std::nullopt)},
          {"created_at", json_time(user.created_at)},
          {"password_changed_at", json_time(user.password_changed_at)}};
}

}  // namespace csss::cli
