#pragma once

// Assertions about csss::Error for doctest: which kind was thrown and what the message says.
// Failures are reported at the caller's line.

#include <doctest/doctest.h>

#include <source_location>
#include <string>
#include <string_view>

#include "util/error.hpp"

namespace csss {

// Lets doctest print an ErrorKind by name (found by argument-dependent lookup).
inline doctest::String toString(ErrorKind kind) {
  const std::string_view s = to_string(kind);
  return doctest::String(s.data(), static_cast<doctest::String::size_type>(s.size()));
}

}  // namespace csss

namespace csss::test {

inline bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Runs `f` and returns the csss::Error it throws. Ends the test case with a failure when `f`
// throws nothing; any other exception propagates (doctest reports it).
template <class F>
Error error_of(F&& f, std::source_location where = std::source_location::current()) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  DOCTEST_ADD_FAIL_AT(where.file_name(), static_cast<int>(where.line()),
                      "expected a csss::Error, but nothing was thrown");
  return Error(ErrorKind::internal, "not reached");
}

// Checks that `f` throws a csss::Error of `kind` whose message contains `needle`; returns the
// message for further checks.
template <class F>
std::string check_error(F&& f, ErrorKind kind, std::string_view needle = {},
                        std::source_location where = std::source_location::current()) {
  const Error e = error_of(f, where);
  const std::string message = e.what();
  if (e.kind() != kind) {
    const std::string text = "expected an error of kind " + std::string(to_string(kind)) +
                             ", got " + std::string(to_string(e.kind())) + ": " + message;
    DOCTEST_ADD_FAIL_CHECK_AT(where.file_name(), static_cast<int>(where.line()),
                              doctest::String(text.c_str()));
  }
  if (!contains(message, needle)) {
    const std::string text =
        "error message \"" + message + "\" does not contain \"" + std::string(needle) + "\"";
    DOCTEST_ADD_FAIL_CHECK_AT(where.file_name(), static_cast<int>(where.line()),
                              doctest::String(text.c_str()));
  }
  return message;
}

}  // namespace csss::test
