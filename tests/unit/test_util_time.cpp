#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "support/fakes.hpp"
#include "util/time.hpp"

using namespace csss::util;
using csss::test::ManualClock;

namespace {

constexpr UnixSeconds kStart = ManualClock::kStart;  // 2026-11-21T08:00:00Z
constexpr UnixSeconds kStartMidnight = kStart - 8 * 3600;

}  // namespace

TEST_CASE("util::format_utc") {
  CHECK(format_utc(0) == "1970-01-01T00:00:00Z");
  CHECK(format_utc(kStart) == "2026-11-21T08:00:00Z");
  CHECK(format_utc(kStart + 30 * 60 + 5) == "2026-11-21T08:30:05Z");
  CHECK(format_utc(1709164800) == "2024-02-29T00:00:00Z");  // a leap day
  CHECK(format_utc(kStartMidnight - 1) == "2026-11-20T23:59:59Z");
}

TEST_CASE("util::format_utc_ms") {
  CHECK(format_utc_ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(format_utc_ms(kStart * 1000 + 123) == "2026-11-21T08:00:00.123Z");
  CHECK(format_utc_ms(kStart * 1000 + 7) == "2026-11-21T08:00:00.007Z");
  CHECK(format_utc_ms(kStart * 1000 + 999) == "2026-11-21T08:00:00.999Z");
  SUBCASE("before the epoch, milliseconds count forward from the earlier second") {
    CHECK(format_utc_ms(-1) == "1969-12-31T23:59:59.999Z");
    CHECK(format_utc_ms(-1000) == "1969-12-31T23:59:59.000Z");
    CHECK(format_utc_ms(-1001) == "1969-12-31T23:59:58.999Z");
  }
}

TEST_CASE("util::parse_utc") {
  SUBCASE("accepted forms") {
    CHECK(parse_utc("2026-11-21") == kStartMidnight);
    CHECK(parse_utc("2026-11-21T08:00") == kStart);
    CHECK(parse_utc("2026-11-21T08:00Z") == kStart);
    CHECK(parse_utc("2026-11-21T08:00:00Z") == kStart);
    CHECK(parse_utc("2026-11-21T08:30:15") == kStart + 30 * 60 + 15);
    CHECK(parse_utc("2026-11-21 08:30") == kStart + 30 * 60);
    CHECK(parse_utc("1970-01-01T00:00:00Z") == 0);
    CHECK(parse_utc("2024-02-29") == 1709164800);
    CHECK(parse_utc("2026-12-31T23:59:59Z") == 1798761599);
  }
  SUBCASE("round trip with format_utc") {
    for (UnixSeconds t : {UnixSeconds{0}, kStart, kStart + 86399, UnixSeconds{1709164800},
                          UnixSeconds{4102444799}}) {
      CAPTURE(t);
      CHECK(parse_utc(format_utc(t)) == t);
    }
  }
  SUBCASE("impossible dates and times") {
    for (const std::string s :
         {"2026-13-01", "2026-00-10", "2026-11-00", "2026-11-31", "2026-02-29", "2025-02-29",
          "2026-04-31", "2026-11-32", "2026-11-21T24:00", "2026-11-21T08:60", "2026-11-21T08:30:60",
          "2026-11-21T99:99"}) {
      CAPTURE(s);
      CHECK(parse_utc(s) == std::nullopt);
    }
  }
  SUBCASE("malformed text and trailing junk") {
    for (const std::string s : {"",
                                "2026",
                                "2026-11",
                                "2026/11/21",
                                "21-11-2026",
                                "2026-11-21x",
                                "2026-11-21T",
                                "2026-11-21T08",
                                "2026-11-21T8:30",
                                "2026-11-21T08:3",
                                "2026-11-21T08:30:5",
                                "2026-11-21T08:30:00Zjunk",
                                "2026-11-21T08:30:00ZZ",
                                "2026-11-21T08:30:00+01:00",
                                "2026-11-21T08:30:00.5Z",
                                "2026-1-21",
                                "2026-11-2",
                                "2026-11-21 ",
                                " 2026-11-21",
                                "2026-11-21T08:30 Z",
                                "tomorrow"}) {
      CAPTURE(s);
      CHECK(parse_utc(s) == std::nullopt);
    }
  }
  SUBCASE("signs and blanks inside a field are not digits") {
    for (const std::string s :
         {"2026-+1-21", "2026-11- 1", "2026-11-+1", "+026-11-21", "-026-11-21", " 026-11-21",
          "2026-11-21T-1:30", "2026-11-21T08:-1", "2026-11-21T 8:30", "2026-11-21T08: 5",
          "2026-11-21T08:30:-1", "2026-11-21T08:30:+1", "2026-11-21T08:30: 1"}) {
      CAPTURE(s);
      CHECK(parse_utc(s) == std::nullopt);
    }
  }
}

TEST_CASE("util::Clock test::ManualClock") {
  ManualClock clock;
  CHECK(clock.now() == ManualClock::kStart);
  CHECK(clock.now_ms() == ManualClock::kStart * 1000);
  clock.advance_ms(1999);
  CHECK(clock.now() == ManualClock::kStart + 1);
  clock.advance_minutes(2);
  CHECK(clock.now() == ManualClock::kStart + 121);
  clock.set(0);
  CHECK(clock.now_ms() == 0);
  clock.set_ms(-1);
  CHECK(clock.now() == -1);
}
