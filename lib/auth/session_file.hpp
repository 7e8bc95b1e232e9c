#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "config/config.hpp"

namespace csss::auth {

// Where this user's session token is kept: $CSSS_SESSION when set (so that a script can act as
// several users), else $XDG_STATE_HOME/csss/session (default ~/.local/state/csss/session).
std::filesystem::path session_file_path(const config::EnvLookup& env);

// The token in `path`, or nullopt when the file does not exist. Throws Error(authentication)
// when the file may be read by others, belongs to another user, or is malformed: a token that
// others could have read is not trusted.
std::optional<std::string> read_session_token(const std::filesystem::path& path);

// Replaces the file's content with `token` (mode 0600; the directory is created 0700).
void write_session_token(const std::filesystem::path& path, const std::string& token);

// Deletes the session file if it exists.
void remove_session_file(const std::filesystem::path& path);

}  // namespace csss::auth
