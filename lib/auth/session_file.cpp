#include "auth/session_file.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace csss::auth {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kTokenHexLength = 64;

}  // namespace

fs::path session_file_path(const config::EnvLookup& env) {
  if (const char* p = env("CSSS_SESSION"); p != nullptr && p[0] != '\0')
    return fs::path(p);
  if (const char* s = env("XDG_STATE_HOME"); s != nullptr && s[0] == '/') {
    return fs::path(s) / "csss" / "session";
  }
  const char* home = env("HOME");
  if (home == nullptr || home[0] != '/') {
    throw Error(ErrorKind::io, "HOME is not set; set CSSS_SESSION to the session file's path");
  }
  return fs::path(home) / ".local" / "state" / "csss" / "session";
}

std::optional<std::string> read_session_token(const fs::path& path, FileCheck check) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec)))
    return std::nullopt;
  if (check == FileCheck::enforce) {
    try {
      util::require_private_file(path, "session file");
    } catch (const Error& e) {
      throw Error(ErrorKind::authentication,
                  fmt::format("{}; log in again to replace it", e.what()));
    }
  }
  const std::string token = util::trim(util::read_file(path, 4096));
  const bool hex = std::all_of(token.begin(), token.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
  if (token.size() != kTokenHexLength || !hex) {
    throw Error(
        ErrorKind::authentication,
        fmt::format("session file {} is malformed; log in again to replace it", path.string()));
  }
  return token;
}

void write_session_token(const fs::path& path, const std::string& token) {
  if (path.has_parent_path()) {
    std::error_code ec;
    if (!fs::exists(path.parent_path(), ec))
      util::ensure_private_dir(path.parent_path());
  }
  util::write_private_file(path, token + "\n");
}

void remove_session_file(const fs::path& path) {
  std::error_code ec;
  fs::remove(path, ec);
}

}  // namespace csss::auth
