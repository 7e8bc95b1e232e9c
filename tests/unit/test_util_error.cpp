#include <doctest/doctest.h>

#include <set>
#include <stdexcept>
#include <string>

#include "support/check_error.hpp"
#include "util/error.hpp"

using csss::Error;
using csss::ErrorKind;

namespace {

constexpr ErrorKind kAllKinds[] = {
    ErrorKind::internal,       ErrorKind::usage,
    ErrorKind::authentication, ErrorKind::permission,
    ErrorKind::invalid_input,  ErrorKind::not_found,
    ErrorKind::conflict,       ErrorKind::io,
    ErrorKind::integrity,      ErrorKind::interrupted,
    ErrorKind::incomplete,     ErrorKind::rate_limited,
};

}  // namespace

TEST_CASE("util::exit_code") {
  SUBCASE("each kind has its documented exit code") {
    CHECK(csss::exit_code(ErrorKind::internal) == 1);
    CHECK(csss::exit_code(ErrorKind::usage) == 2);
    CHECK(csss::exit_code(ErrorKind::authentication) == 3);
    CHECK(csss::exit_code(ErrorKind::permission) == 4);
    CHECK(csss::exit_code(ErrorKind::invalid_input) == 5);
    CHECK(csss::exit_code(ErrorKind::not_found) == 6);
    CHECK(csss::exit_code(ErrorKind::conflict) == 7);
    CHECK(csss::exit_code(ErrorKind::io) == 8);
    CHECK(csss::exit_code(ErrorKind::integrity) == 9);
    CHECK(csss::exit_code(ErrorKind::interrupted) == 130);
    CHECK(csss::exit_code(ErrorKind::incomplete) == 10);
    CHECK(csss::exit_code(ErrorKind::rate_limited) == 11);
  }
  SUBCASE("codes are distinct and never 0 (success)") {
    std::set<int> codes;
    for (ErrorKind kind : kAllKinds) {
      CHECK(csss::exit_code(kind) != 0);
      codes.insert(csss::exit_code(kind));
    }
    CHECK(codes.size() == std::size(kAllKinds));
  }
}

TEST_CASE("util::to_string(ErrorKind)") {
  CHECK(csss::to_string(ErrorKind::internal) == "internal");
  CHECK(csss::to_string(ErrorKind::usage) == "usage");
  CHECK(csss::to_string(ErrorKind::authentication) == "authentication");
  CHECK(csss::to_string(ErrorKind::permission) == "permission");
  CHECK(csss::to_string(ErrorKind::invalid_input) == "invalid_input");
  CHECK(csss::to_string(ErrorKind::not_found) == "not_found");
  CHECK(csss::to_string(ErrorKind::conflict) == "conflict");
  CHECK(csss::to_string(ErrorKind::io) == "io");
  CHECK(csss::to_string(ErrorKind::integrity) == "integrity");
  CHECK(csss::to_string(ErrorKind::interrupted) == "interrupted");
  CHECK(csss::to_string(ErrorKind::rate_limited) == "rate_limited");
  CHECK(csss::to_string(ErrorKind::incomplete) == "incomplete");
}

TEST_CASE("util::Error") {
  SUBCASE("carries its kind and message") {
    const Error e(ErrorKind::not_found, "no account with email 'x@y.org'");
    CHECK(e.kind() == ErrorKind::not_found);
    CHECK(std::string(e.what()) == "no account with email 'x@y.org'");
  }
  SUBCASE("is a std::runtime_error, so generic handlers catch it") {
    bool caught = false;
    try {
      throw Error(ErrorKind::conflict, "exists");
    } catch (const std::runtime_error& e) {
      caught = std::string(e.what()) == "exists";
    }
    CHECK(caught);
  }
  SUBCASE("check_error helper sees kind and message") {
    const std::string msg =
        csss::test::check_error([] { throw Error(ErrorKind::integrity, "row 3 was changed"); },
                                ErrorKind::integrity, "row 3");
    CHECK(msg == "row 3 was changed");
  }
}
