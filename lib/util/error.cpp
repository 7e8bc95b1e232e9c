#include "util/error.hpp"

namespace csss {

int exit_code(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::internal:
      return 1;
    case ErrorKind::usage:
      return 2;
    case ErrorKind::authentication:
      return 3;
    case ErrorKind::permission:
      return 4;
    case ErrorKind::invalid_input:
      return 5;
    case ErrorKind::not_found:
      return 6;
    case ErrorKind::conflict:
      return 7;
    case ErrorKind::io:
      return 8;
    case ErrorKind::integrity:
      return 9;
    case ErrorKind::interrupted:
      return 130;  // 128 + SIGINT, as shells report an interrupted command
    case ErrorKind::incomplete:
      return 10;
    case ErrorKind::rate_limited:
      return 11;
  }
  return 1;
}

std::string_view to_string(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::internal:
      return "internal";
    case ErrorKind::usage:
      return "usage";
    case ErrorKind::authentication:
      return "authentication";
    case ErrorKind::permission:
      return "permission";
    case ErrorKind::invalid_input:
      return "invalid_input";
    case ErrorKind::not_found:
      return "not_found";
    case ErrorKind::conflict:
      return "conflict";
    case ErrorKind::io:
      return "io";
    case ErrorKind::integrity:
      return "integrity";
    case ErrorKind::interrupted:
      return "interrupted";
    case ErrorKind::incomplete:
      return "incomplete";
    case ErrorKind::rate_limited:
      return "rate_limited";
  }
  return "internal";
}

}  // namespace csss
