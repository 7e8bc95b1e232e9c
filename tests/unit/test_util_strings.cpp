#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "util/strings.hpp"

using namespace csss::util;
using namespace std::string_view_literals;

TEST_CASE("util::edit_distance") {
  SUBCASE("empty strings") {
    CHECK(edit_distance("", "") == 0);
    CHECK(edit_distance("abc", "") == 3);
    CHECK(edit_distance("", "abcd") == 4);
  }
  SUBCASE("equal strings") {
    CHECK(edit_distance("session.ttl_minutes", "session.ttl_minutes") == 0);
  }
  SUBCASE("classic examples") {
    CHECK(edit_distance("kitten", "sitting") == 3);
    CHECK(edit_distance("flaw", "lawn") == 2);
    CHECK(edit_distance("intention", "execution") == 5);
  }
  SUBCASE("single edits") {
    CHECK(edit_distance("smtp.url", "smtp.urls") == 1);  // insertion
    CHECK(edit_distance("smtp.url", "smtp.ur") == 1);    // deletion
    CHECK(edit_distance("smtp.url", "smtp.uri") == 1);   // substitution
  }
  SUBCASE("a swap of neighbouring characters is one edit") {
    CHECK(edit_distance("ab", "ba") == 1);
    CHECK(edit_distance("smtp.tsl", "smtp.tls") == 1);
    CHECK(edit_distance("lgoin", "login") == 1);
  }
  SUBCASE("symmetric") {
    CHECK(edit_distance("login.max_failures", "logn.max_failure") ==
          edit_distance("logn.max_failure", "login.max_failures"));
  }
}

TEST_CASE("util::suggestions") {
  const std::vector<std::string> keys = {"session.ttl_minutes", "session.idle_minutes",
                                         "login.max_failures", "smtp.url", "smtp.user"};
  SUBCASE("closest first") {
    const auto s = suggestions("smtp.usr", keys);
    REQUIRE(s.size() == 2);
    CHECK(s[0] == "smtp.user");  // distance 1
    CHECK(s[1] == "smtp.url");   // distance 2
  }
  SUBCASE("a typo finds its key") {
    const auto s = suggestions("sesion.ttl_minutes", keys);
    REQUIRE_FALSE(s.empty());
    CHECK(s.front() == "session.ttl_minutes");
  }
  SUBCASE("a prefix of a key suggests it") {
    const auto s = suggestions("session.", keys);
    CHECK(s == std::vector<std::string>{"session.ttl_minutes", "session.idle_minutes"});
  }
  SUBCASE("a prefix ranks before a near miss") {
    const auto s = suggestions("smtp.u", {"smtp.x", "smtp.user"});
    REQUIRE(s.size() == 2);
    CHECK(s[0] == "smtp.user");
    CHECK(s[1] == "smtp.x");
  }
  SUBCASE("nothing close gives nothing") {
    CHECK(suggestions("zzzzzzzz", keys).empty());
    CHECK(suggestions("x", keys).empty());
    CHECK(suggestions("smtp.url", {}).empty());
  }
  SUBCASE("distance 3 is too far") {
    CHECK(suggestions("login.max_fxxxres", keys).empty());
  }
}

TEST_CASE("util::is_valid_utf8") {
  SUBCASE("valid text") {
    CHECK(is_valid_utf8(""));
    CHECK(is_valid_utf8("plain ASCII"));
    CHECK(is_valid_utf8("\xC3\xA9"));          // é, 2 bytes
    CHECK(is_valid_utf8("\xE2\x82\xAC"));      // €, 3 bytes
    CHECK(is_valid_utf8("\xF0\x9F\x98\x80"));  // 😀, 4 bytes
    CHECK(is_valid_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the last code point
    CHECK(is_valid_utf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
    CHECK(is_valid_utf8("\xEE\x80\x80"));      // U+E000, just above them
    CHECK(
        is_valid_utf8("Gr\xC3\xBC\xC3\x9F"
                      "e"));         // Grüße
    CHECK(is_valid_utf8("a\0b"sv));  // NUL is valid UTF-8
  }
  SUBCASE("overlong forms") {
    CHECK_FALSE(is_valid_utf8("\xC0\xAF"));          // '/' in 2 bytes
    CHECK_FALSE(is_valid_utf8("\xC1\xBF"));          // U+007F in 2 bytes
    CHECK_FALSE(is_valid_utf8("\xE0\x80\xAF"));      // '/' in 3 bytes
    CHECK_FALSE(is_valid_utf8("\xE0\x9F\xBF"));      // U+07FF in 3 bytes
    CHECK_FALSE(is_valid_utf8("\xF0\x80\x80\xAF"));  // '/' in 4 bytes
    CHECK_FALSE(is_valid_utf8("\xF0\x8F\xBF\xBF"));  // U+FFFF in 4 bytes
  }
  SUBCASE("surrogates") {
    CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));              // U+D800
    CHECK_FALSE(is_valid_utf8("\xED\xBF\xBF"));              // U+DFFF
    CHECK_FALSE(is_valid_utf8("\xED\xA0\xBD\xED\xB8\x80"));  // a CESU-8 surrogate pair
  }
  SUBCASE("beyond U+10FFFF") {
    CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));
    CHECK_FALSE(is_valid_utf8("\xF7\xBF\xBF\xBF"));
  }
  SUBCASE("truncated sequences") {
    CHECK_FALSE(is_valid_utf8("\xC3"));
    CHECK_FALSE(is_valid_utf8("abc\xE2\x82"));
    CHECK_FALSE(is_valid_utf8("\xF0\x9F\x98"));
    CHECK_FALSE(
        is_valid_utf8("\xC3"
                      "a"));  // a lead byte followed by ASCII
  }
  SUBCASE("stray and impossible bytes") {
    CHECK_FALSE(is_valid_utf8("\x80"));
    CHECK_FALSE(
        is_valid_utf8("a\xBF"
                      "b"));
    CHECK_FALSE(is_valid_utf8("\xF8\x88\x80\x80\x80"));  // 5-byte form
    CHECK_FALSE(is_valid_utf8("\xFE"));
    CHECK_FALSE(is_valid_utf8("\xFF"));
    CHECK_FALSE(is_valid_utf8("latin-1 caf\xE9"));
  }
}

TEST_CASE("util::has_control_chars") {
  CHECK_FALSE(has_control_chars(""));
  CHECK_FALSE(has_control_chars("Dr. Alice Smith"));
  CHECK_FALSE(
      has_control_chars("Gr\xC3\xBC\xC3\x9F"
                        "e"));  // bytes >= 0x80 are not control
  CHECK(has_control_chars("a\tb"));
  CHECK(has_control_chars("line\n"));
  CHECK(has_control_chars("carriage\rreturn"));
  CHECK(has_control_chars("\x1b[31mred"));
  CHECK(has_control_chars("del\x7f"));
  CHECK(has_control_chars("nul\0byte"sv));
  SUBCASE("allowed characters are not reported") {
    CHECK_FALSE(has_control_chars("a\tb", "\t"));
    CHECK_FALSE(has_control_chars("a\r\nb", "\r\n"));
    CHECK(has_control_chars("a\t\nb", "\t"));
  }
}

TEST_CASE("util::split") {
  CHECK(split("a,b,c", ',') == std::vector<std::string>{"a", "b", "c"});
  CHECK(split("abc", ',') == std::vector<std::string>{"abc"});
  CHECK(split("", ',') == std::vector<std::string>{""});
  CHECK(split("a,,b", ',') == std::vector<std::string>{"a", "", "b"});
  CHECK(split(",a,", ',') == std::vector<std::string>{"", "a", ""});
  CHECK(split("starttls|none", '|') == std::vector<std::string>{"starttls", "none"});
}

TEST_CASE("util::join") {
  CHECK(join({}, ", ").empty());
  CHECK(join({"a"}, ", ") == "a");
  CHECK(join({"a", "b", "c"}, ", ") == "a, b, c");
  CHECK(join({"", ""}, "-") == "-");
  SUBCASE("inverse of split") {
    for (const std::string s : {"a.b.c", "", ".", "a..b", "x."}) {
      CAPTURE(s);
      CHECK(join(split(s, '.'), ".") == s);
    }
  }
}

TEST_CASE("util::trim") {
  CHECK(trim("  a b \t\r\n") == "a b");
  CHECK(trim("") == "");
  CHECK(trim(" \t\n\r ") == "");
  CHECK(trim("x") == "x");
  CHECK(trim("\tinner  spaces stay\n") == "inner  spaces stay");
}

TEST_CASE("util::to_lower") {
  CHECK(to_lower("MiXeD@Example.ORG") == "mixed@example.org");
  CHECK(to_lower("already lower 123") == "already lower 123");
  CHECK(to_lower("\xC3\x89") == "\xC3\x89");  // É: only ASCII letters change
}
