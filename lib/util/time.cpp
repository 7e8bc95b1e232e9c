#include "util/time.hpp"

#include <chrono>
#include <cstdio>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace csss::util {

namespace {

std::tm utc_tm(UnixSeconds t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return tm;
}

// True when text[pos, pos + n) are ASCII digits. sscanf's %d alone would also take a sign or
// leading blanks ("2026-11-21T-1:30").
bool digits_at(std::string_view text, std::size_t pos, std::size_t n) {
  if (pos + n > text.size())
    return false;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (text[i] < '0' || text[i] > '9')
      return false;
  }
  return true;
}

}  // namespace

std::string format_utc(UnixSeconds t) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", utc_tm(t));
}

std::string format_utc_ms(std::int64_t ms) {
  const std::int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", utc_tm(secs), ms - secs * 1000);
}

std::optional<UnixSeconds> parse_utc(std::string_view text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  const std::string s(text);
  int consumed = 0;
  if (!digits_at(text, 0, 4) || !digits_at(text, 5, 2) || !digits_at(text, 8, 2) ||
      std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &year, &month, &day, &consumed) != 3 ||
      consumed != 10) {
    return std::nullopt;
  }
  std::string_view rest = text.substr(10);
  if (!rest.empty()) {
    if (rest.front() != 'T' && rest.front() != ' ')
      return std::nullopt;
    const std::string time(rest.substr(1));
    int used = 0;
    if (!digits_at(time, 0, 2) || !digits_at(time, 3, 2) ||
        std::sscanf(time.c_str(), "%2d:%2d%n", &hour, &minute, &used) != 2 || used != 5) {
      return std::nullopt;
    }
    std::string_view tail = std::string_view(time).substr(5);
    if (!tail.empty() && tail.front() == ':') {
      int used_s = 0;
      const std::string sec(tail.substr(1));
      if (!digits_at(sec, 0, 2) || std::sscanf(sec.c_str(), "%2d%n", &second, &used_s) != 1 ||
          used_s != 2) {
        return std::nullopt;
      }
      tail = tail.substr(3);
    }
    if (tail == "Z")
      tail = {};
    if (!tail.empty())
      return std::nullopt;
  }
  using namespace std::chrono;
  const year_month_day ymd{std::chrono::year{year},
                           std::chrono::month{static_cast<unsigned>(month)},
                           std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 59)
    return std::nullopt;
  const auto days = sys_days{ymd}.time_since_epoch().count();
  return static_cast<UnixSeconds>(days) * 86400 + hour * 3600 + minute * 60 + second;
}

}  // namespace csss::util
