#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "audit/audit_log.hpp"
#include "auth/accounts.hpp"
#include "auth/login.hpp"
#include "auth/maintenance.hpp"
#include "auth/self_service.hpp"
#include "auth/tokens.hpp"
#include "config/config.hpp"
#include "imaging/image.hpp"
#include "inference/registry.hpp"
#include "notify/mail.hpp"
#include "scans/scans.hpp"
#include "store/database.hpp"
#include "util/clock.hpp"
#include "util/error.hpp"

namespace csss::cli {

// An error after which a command still has a result to show (csss upload of several files, some
// of them bad): with --json, main prints `result` with the "error" member added as the one JSON
// document, instead of the error document alone.
class ErrorWithResult : public Error {
 public:
  ErrorWithResult(const Error& error, nlohmann::json result)
      : Error(error.kind(), error.what()), result_(std::move(result)) {}
  const nlohmann::json& result() const { return result_; }

 private:
  nlohmann::json result_;
};

// Options every command accepts.
struct GlobalOptions {
  std::optional<std::string> data_dir;
  std::optional<std::string> config_file;
  bool json = false;
  bool quiet = false;
};

// What a command needs from the outside world, each piece made on first use so that a command
// pays only for what it touches (`csss config show` never opens the store).
class Context {
 public:
  explicit Context(const GlobalOptions& options) : options_(options) {}

  const GlobalOptions& options() const { return options_; }
  const config::Config& config();
  const util::Clock& clock() { return clock_; }
  // The store under the data directory; OpenMode::create makes both (init only).
  store::Database& db(store::OpenMode mode = store::OpenMode::existing);
  audit::AuditLog& audit();
  notify::MailTransport& mail();
  auth::AuthSettings auth_settings() { return auth::AuthSettings::from(config()); }
  auth::Accounts accounts() { return auth::Accounts(db(), clock_, audit(), auth_settings()); }
  auth::Authenticator authenticator() {
    return auth::Authenticator(db(), clock_, audit(), mail(), auth_settings());
  }
  auth::Tokens tokens() { return auth::Tokens(db(), clock_, audit()); }
  auth::SelfService self_service() {
    return auth::SelfService(db(), clock_, audit(), mail(), auth_settings());
  }
  auth::Maintenance maintenance() {
    return auth::Maintenance(db(), clock_, audit(), auth_settings());
  }
  imaging::Limits scan_limits();
  scans::Scans scans() {
    return scans::Scans(db(), clock_, audit(), config().data_dir(), scan_limits());
  }
  // Imported models (<data_dir>/models) first, then the shipped ones (models.dir).
  inference::Registry registry();
  std::filesystem::path session_path();
  // $CSSS_TOKEN_FILE when set and not empty: the file holding an importer's API token.
  std::optional<std::filesystem::path> token_file_path();
  // Who is acting. With CSSS_TOKEN_FILE set: the importer behind the API token in that file
  // (which must be 0600 and owned by this user), and the session file is not read. Otherwise the
  // logged-in user, from the session file. Throws Error(authentication) when there is none or it
  // is not valid.
  auth::Principal require_login();

  // Prints a command's result: `doc` as one JSON document with --json; otherwise `text` (which
  // ends with a newline unless empty). Results print even with --quiet.
  void result(const nlohmann::json& doc, std::string_view text);
  // A message about what was done, for people: not with --json or --quiet.
  void info(std::string_view text);

 private:
  const GlobalOptions& options_;
  util::SystemClock clock_;
  std::optional<config::Config> config_;
  std::optional<store::Database> db_;
  std::optional<audit::AuditLog> audit_;
  std::unique_ptr<notify::MailTransport> mail_;
};

}  // namespace csss::cli
