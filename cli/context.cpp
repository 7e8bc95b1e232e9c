#include "context.hpp"

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "auth/session_file.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace csss::cli {

namespace {

const char* getenv_lookup(const char* name) {
  return std::getenv(name);
}

}  // namespace

const config::Config& Context::config() {
  if (!config_) {
    config_ = config::Config::load({options_.data_dir, options_.config_file}, &getenv_lookup);
  }
  return *config_;
}

store::Database& Context::db(store::OpenMode mode) {
  if (!db_) {
    const std::filesystem::path dir = config().data_dir();
    std::error_code ec;
    if (mode == store::OpenMode::existing && !std::filesystem::exists(dir, ec)) {
      throw Error(ErrorKind::not_found,
                  fmt::format("no CSSS store in {}; create one with: csss init", dir.string()));
    }
    util::ensure_private_dir(dir);
    db_.emplace(store::Database::open(dir / "csss.db", mode));
  }
  return *db_;
}

audit::AuditLog& Context::audit() {
  if (!audit_)
    audit_.emplace(db(), clock_);
  return *audit_;
}

notify::MailTransport& Context::mail() {
  if (!mail_)
    mail_ = notify::make_transport(config(), clock_);
  return *mail_;
}

imaging::Limits Context::scan_limits() {
  imaging::Limits limits;
  limits.max_file_bytes = static_cast<std::uint64_t>(config().get_int("scan.max_file_mb")) << 20;
  limits.max_pixels = static_cast<std::uint64_t>(config().get_int("scan.max_megapixels")) * 1000000;
  return limits;
}

inference::Registry Context::registry() {
  return inference::Registry({config().data_dir() / "models", config().get("models.dir")});
}

std::filesystem::path Context::session_path() {
  return auth::session_file_path(&getenv_lookup);
}

std::optional<std::filesystem::path> Context::token_file_path() {
  if (const char* p = std::getenv("CSSS_TOKEN_FILE"); p != nullptr && p[0] != '\0')
    return std::filesystem::path(p);
  return std::nullopt;
}

auth::Principal Context::require_login() {
  db();  // a missing store is the problem to report first, not the missing session
  if (const auto token_file = token_file_path())
    return tokens().authenticate_file(*token_file);
  const auto token = auth::read_session_token(session_path());
  if (!token) {
    throw Error(ErrorKind::authentication, "not logged in; log in with: csss login --email EMAIL");
  }
  return authenticator().authenticate(*token);
}

void Context::result(const nlohmann::json& doc, std::string_view text) {
  if (options_.json) {
    std::fputs(doc.dump(2).c_str(), stdout);
    std::fputc('\n', stdout);
  } else {
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
}

void Context::info(std::string_view text) {
  if (options_.json || options_.quiet)
    return;
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (!text.empty() && text.back() != '\n')
    std::fputc('\n', stdout);
}

}  // namespace csss::cli
