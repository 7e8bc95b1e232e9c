#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace csss {

// What went wrong, from the user's point of view. The CLI maps each kind to one documented exit
// code (README, "Exit codes"); a test pins the mapping.
enum class ErrorKind {
  internal,        // a bug: an assumption of the code did not hold
  usage,           // unknown command or option, missing or malformed argument
  authentication,  // not logged in, bad credentials or code, session expired, account locked
  permission,      // logged in, but the role policy does not allow the action
  invalid_input,   // a value that is malformed or breaks a rule (email, password, role, ...)
  not_found,       // the named object does not exist
  conflict,        // the object exists already or is in the wrong state for the step
  io,              // the data directory, store or a file cannot be used, or mail cannot be sent
  integrity,       // a verification found tampered or inconsistent records
  interrupted,     // stopped by SIGINT/SIGTERM; the work done so far is kept and can be resumed
  incomplete,      // a batch ran to its end, but some files were rejected or not analysed
  rate_limited,    // too many requests of a kind (emailed codes) in the last hour; try again later
};

// The exception every lib/ function throws for an error a user can cause or fix. Anything else
// that escapes is a bug and is reported as an internal error.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

// The process exit code for `kind` (0 is success and belongs to no kind).
int exit_code(ErrorKind kind) noexcept;

// A stable identifier for `kind`, used in --json error documents ("not_found", ...).
std::string_view to_string(ErrorKind kind) noexcept;

}  // namespace csss
