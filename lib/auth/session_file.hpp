#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "config/config.hpp"

namespace csss::auth {

// Where this user's session token is kept: $CSSS_SESSION when set (so that a script can act as
// several users), else $XDG_STATE_HOME/csss/session (default ~/.local/state/csss/session).
std::filesystem::path session_file_path(const config::EnvLookup& env);

// Whether read_session_token() insists on an owner-only file.
enum class FileCheck {
  enforce,           // to log in with the token: a token others could have read is not trusted
  skip_permissions,  // to end the token's session: all the more if others could have read it
};

// The token in `path`, or nullopt when the file does not exist. Throws Error(authentication)
// when the file is malformed and, with FileCheck::enforce, when it may be read by others or
// belongs to another user.
std::optional<std::string> read_session_token(const std::filesystem::path& path,
                                              FileCheck check = FileCheck::enforce);

// Replaces the file's content with `token` (mode 0600; the directory is created 0700).
void write_session_token(const std::filesystem::path& path, const std::string& token);

// Deletes the session file if it exists.
void remove_session_file(const std::filesystem::path& path);

}  // namespace csss::auth
