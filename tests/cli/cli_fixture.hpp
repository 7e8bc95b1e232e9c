#pragma once

// The fixture of the black-box tests of the csss binary: a private temporary directory holding the
// data directory, the session files, HOME and the XDG directories, so that no test ever touches
// the real home or another test's files; helpers that run the real binary, create accounts and
// log in; and direct access to the store through the SQLite C API, behind the tool's back.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

struct sqlite3;

namespace csss::test {

namespace fs = std::filesystem;

using Env = std::map<std::string, std::string>;

inline constexpr const char* kAdminEmail = "admin@clinic.example";
inline constexpr const char* kAdminName = "Ada Admin";
inline constexpr const char* kAdminPassword = "admin-password-0001";

// An account created by a test, with the password it was given.
struct Account {
  std::string email;
  std::string password;
  std::string role;
};

class Cli;

// The person at one terminal: runs csss with its own session file (CSSS_SESSION).
class Session {
 public:
  Session(const Cli& cli, std::string name) : cli_(&cli), name_(std::move(name)) {}

  ProcessResult run(const std::vector<std::string>& args, const std::string& stdin_text = "",
                    const Env& extra_env = {}) const;
  fs::path session_file() const;
  const std::string& name() const { return name_; }

  // A one-step login with --password-stdin; REQUIREs success.
  void login(const std::string& email, const std::string& password) const;
  // The admin's two-step login: password, then the code from the newest outbox message.
  void login_admin(const std::string& email = kAdminEmail,
                   const std::string& password = kAdminPassword) const;
  // The token this session file holds ("" when there is none).
  std::string token() const;

 private:
  const Cli* cli_;
  std::string name_;
};

class Cli {
 public:
  Cli();

  const fs::path& root() const { return tmp_.path(); }
  fs::path data_dir() const { return root() / "data"; }
  fs::path db_path() const { return data_dir() / "csss.db"; }
  fs::path outbox() const { return data_dir() / "outbox"; }
  fs::path home() const { return root() / "home"; }
  fs::path xdg_config_home() const { return root() / "xdg" / "config"; }
  fs::path xdg_data_home() const { return root() / "xdg" / "data"; }
  fs::path xdg_state_home() const { return root() / "xdg" / "state"; }
  fs::path session_file(const std::string& name = "default") const;

  // The environment every run gets: CSSS_DATA_DIR, CSSS_SESSION, HOME and XDG_* inside the
  // temporary directory; every other CSSS_* setting unset.
  Env base_env(const std::string& session_name = "default") const;

  // Runs csss with `args` (without the program name) in the default session.
  ProcessResult run(const std::vector<std::string>& args, const std::string& stdin_text = "",
                    const Env& extra_env = {}) const;
  // The same, but with the session file named `session_name`: several people at once.
  Session as(const std::string& session_name) { return Session(*this, session_name); }
  Session session() { return Session(*this, "default"); }

  // csss init with the admin account; REQUIREs success.
  void init_with_admin();
  // Creates an account (as the admin, in a session of its own); REQUIREs success. An empty email
  // picks a fresh one like doctor2@clinic.example. An importer gets no password ("").
  Account add_user(const std::string& role, std::string email = "", std::string name = "",
                   std::string password = "");
  // csss token create --user EMAIL (as the admin, in its own session) with `extra` arguments
  // ("--days", "30"); REQUIREs success and returns the token ("csss_" and 48 hex digits).
  std::string create_token(const std::string& email, const std::vector<std::string>& extra = {});
  // Writes `token` to a file under root() with `mode` (0600 by default) and returns the
  // environment that names it in CSSS_TOKEN_FILE, for run()'s `extra_env`.
  Env token_env(const std::string& token, unsigned mode = 0600,
                const std::string& file_name = "importer.token") const;
  void login(const std::string& email, const std::string& password) {
    session().login(email, password);
  }
  void login_admin() { session().login_admin(); }

  // The outbox messages, oldest first, and the 6-digit code in the newest one ("" if none).
  std::vector<fs::path> outbox_messages() const;
  std::string newest_otp_code() const;

 private:
  TempDir tmp_;
  int next_user_ = 1;
  bool admin_session_ready_ = false;
};

// The store opened with the SQLite C API, for checks and tampering behind the tool's back.
class Store {
 public:
  explicit Store(const fs::path& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Runs `sql`; returns "" on success or SQLite's error message.
  std::string exec(const std::string& sql);
  std::int64_t query_int(const std::string& sql);
  std::string query_text(const std::string& sql);

 private:
  sqlite3* db_ = nullptr;
};

// Reads a whole file as bytes ("" when it does not exist).
std::string read_bytes(const fs::path& path);
void write_text(const fs::path& path, const std::string& text);
// The permission bits of `path` (e.g. 0600).
unsigned mode_of(const fs::path& path);
// Every file and directory under `dir`, relative, sorted (empty when `dir` does not exist).
std::vector<std::string> tree(const fs::path& dir);
bool contains(std::string_view haystack, std::string_view needle);
std::size_t count_lines(std::string_view text);

// "" when `r` failed with `exit_code` and exactly one stderr line "csss: error: ..." that contains
// every one of `needles` (and, without --json, nothing on stdout); otherwise what is wrong, with
// the output, so that a failed CHECK explains itself.
std::string error_problem(const ProcessResult& r, int exit_code,
                          const std::vector<std::string>& needles = {}, bool json = false);
// "" when `r` succeeded with an empty stderr; otherwise the exit code and output.
std::string ok_problem(const ProcessResult& r);
// stdout parsed as JSON (a parse error fails the calling test with the text).
nlohmann::json json_of(const ProcessResult& r);

}  // namespace csss::test

// Checks that a run failed in the documented way: exit code, one "csss: error: " line naming
// what was wrong.
#define CHECK_ERROR(result, code, ...) \
  CHECK(::csss::test::error_problem((result), (code), {__VA_ARGS__}) == "")
#define REQUIRE_ERROR(result, code, ...) \
  REQUIRE(::csss::test::error_problem((result), (code), {__VA_ARGS__}) == "")
#define CHECK_OK(result) CHECK(::csss::test::ok_problem(result) == "")
#define REQUIRE_OK(result) REQUIRE(::csss::test::ok_problem(result) == "")
