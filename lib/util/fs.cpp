#include "util/fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "crypto/random.hpp"
#include "util/error.hpp"

namespace csss::util {

namespace fs = std::filesystem;

namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace

void ensure_private_dir(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      throw Error(ErrorKind::io, fmt::format("{} exists but is not a directory", dir.string()));
    }
    if ((st.st_mode & 077) != 0) {
      throw Error(ErrorKind::io,
                  fmt::format("{} may be read by other users (mode {:04o}); run: chmod 700 {}",
                              dir.string(), st.st_mode & 07777, dir.string()));
    }
    return;
  }
  if (errno != ENOENT) {
    throw Error(ErrorKind::io, fmt::format("cannot use {}: {}", dir.string(), errno_text(errno)));
  }
  std::error_code ec;
  if (dir.has_parent_path())
    fs::create_directories(dir.parent_path(), ec);
  if (ec) {
    throw Error(ErrorKind::io,
                fmt::format("cannot create {}: {}", dir.parent_path().string(), ec.message()));
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw Error(ErrorKind::io,
                fmt::format("cannot create {}: {}", dir.string(), errno_text(errno)));
  }
  // mkdir honours the umask, which can only remove bits; chmod makes the mode exact.
  ::chmod(dir.c_str(), 0700);
}

namespace {

// Writes all of `content` to `fd`; on failure removes `created` (the file being written) and
// throws Error(io) naming `path`.
void write_all(int fd, std::string_view content, const fs::path& path, const fs::path& created) {
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      const int err = errno;
      ::unlink(created.c_str());
      throw Error(ErrorKind::io,
                  fmt::format("cannot write {}: {}", path.string(), errno_text(err)));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace

void write_private_file(const fs::path& path, std::string_view content) {
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  const fs::path tmp =
      dir / fmt::format(".{}.{}.tmp", path.filename().string(), crypto::random_hex(8));
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    throw Error(ErrorKind::io,
                fmt::format("cannot write {}: {}", path.string(), errno_text(errno)));
  }
  write_all(fd.get(), content, path, tmp);
  if (::fsync(fd.get()) != 0 || ::close(fd.release()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(ErrorKind::io, fmt::format("cannot write {}: {}", path.string(), errno_text(err)));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw Error(ErrorKind::io, fmt::format("cannot write {}: {}", path.string(), errno_text(err)));
  }
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() >= 0)
    ::fsync(dfd.get());
}

void write_new_private_file_unsynced(const fs::path& path, std::string_view content) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    throw Error(ErrorKind::io,
                fmt::format("cannot write {}: {}", path.string(), errno_text(errno)));
  }
  write_all(fd.get(), content, path, path);
  if (::close(fd.release()) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    throw Error(ErrorKind::io, fmt::format("cannot write {}: {}", path.string(), errno_text(err)));
  }
}

void sync_filesystem(const fs::path& dir) {
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0)
    throw Error(ErrorKind::io, fmt::format("cannot sync {}: {}", dir.string(), errno_text(errno)));
  if (::syncfs(dfd.get()) != 0 || ::fsync(dfd.get()) != 0) {
    throw Error(ErrorKind::io, fmt::format("cannot sync {}: {}", dir.string(), errno_text(errno)));
  }
}

std::string read_file(const fs::path& path, std::size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    throw Error(ErrorKind::io, fmt::format("cannot read {}: {}", path.string(), errno_text(errno)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw Error(ErrorKind::io, fmt::format("cannot read {}: not a regular file", path.string()));
  }
  if (static_cast<std::size_t>(st.st_size) > max_bytes) {
    throw Error(ErrorKind::invalid_input, fmt::format("{} is too large ({} bytes; the limit is {})",
                                                      path.string(), st.st_size, max_bytes));
  }
  std::string out;
  char buf[8192];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw Error(ErrorKind::io,
                  fmt::format("cannot read {}: {}", path.string(), errno_text(errno)));
    }
    if (n == 0)
      break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes) {
      throw Error(ErrorKind::invalid_input,
                  fmt::format("{} is too large (the limit is {} bytes)", path.string(), max_bytes));
    }
  }
  return out;
}

void require_private_file(const fs::path& path, std::string_view what) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    throw Error(ErrorKind::io,
                fmt::format("cannot read {} {}: {}", what, path.string(), errno_text(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    throw Error(ErrorKind::io, fmt::format("{} {} is not a regular file", what, path.string()));
  }
  if (st.st_uid != ::geteuid()) {
    throw Error(ErrorKind::io, fmt::format("{} {} belongs to another user; refusing to use it",
                                           what, path.string()));
  }
  if ((st.st_mode & 077) != 0) {
    throw Error(ErrorKind::io,
                fmt::format("{} {} may be read by other users (mode {:04o}); refusing to use it "
                            "(chmod 600 it, or create it again)",
                            what, path.string(), st.st_mode & 07777));
  }
}

fs::path xdg_dir(const char* env_var, std::string_view fallback) {
  if (const char* v = std::getenv(env_var); v != nullptr && v[0] == '/')
    return fs::path(v);
  const char* home = std::getenv("HOME");
  if (home == nullptr || home[0] != '/') {
    throw Error(ErrorKind::io, fmt::format("neither {} nor HOME is set to an absolute path; "
                                           "set --data-dir or CSSS_DATA_DIR",
                                           env_var));
  }
  return fs::path(home) / fs::path(fallback);
}

}  // namespace csss::util
