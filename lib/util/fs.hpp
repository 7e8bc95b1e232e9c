#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace csss::util {

// Creates `dir` with mode 0700 (missing parents get the default mode, like mkdir -p). Throws
// Error(io) when `dir` exists but is not a directory, or is a directory that other users may enter
// or read (mode & 077), since it would expose patient data.
void ensure_private_dir(const std::filesystem::path& dir);

// Writes `content` to `path` with mode 0600 through a temporary file in the same directory,
// fsync and rename, so that readers see the old or the new file, never a partial one.
void write_private_file(const std::filesystem::path& path, std::string_view content);

// Creates the new file `path` (mode 0600; Error(io) if it exists) with `content`, without waiting
// for the disk: for a group of files that sync_filesystem() then makes durable at once, before
// anything refers to them. A crash before that may leave the file partial or empty.
void write_new_private_file_unsynced(const std::filesystem::path& path, std::string_view content);

// Waits until everything written to the filesystem holding `dir` is on disk (syncfs(2)), and the
// directory's entries with it. One call costs about what one fsync does, whatever the number of
// files. Throws Error(io).
void sync_filesystem(const std::filesystem::path& dir);

// Reads a whole file of at most `max_bytes`. Throws Error(io) naming the file when it cannot be
// read, and Error(invalid_input) when it is larger.
std::string read_file(const std::filesystem::path& path, std::size_t max_bytes);

// Throws Error(io) unless `path` is a regular file owned by this user with no group or other
// permission bits. `what` names the file in the message ("session file").
void require_private_file(const std::filesystem::path& path, std::string_view what);

// The XDG base directory named by `env_var` ("XDG_DATA_HOME"), or `$HOME/<fallback>` when unset
// or not absolute (XDG Base Directory spec). Throws Error(io) if neither can be determined.
std::filesystem::path xdg_dir(const char* env_var, std::string_view fallback);

}  // namespace csss::util
