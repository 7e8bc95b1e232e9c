#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "support/check_error.hpp"
#include "support/temp_dir.hpp"
#include "util/fs.hpp"

using namespace csss::util;
using csss::ErrorKind;
using csss::test::check_error;
using csss::test::contains;
using csss::test::TempDir;
namespace fs = std::filesystem;

namespace {

// The permission bits of `p` (without following a symlink at p).
unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

ino_t inode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_ino;
}

void write_plain(const fs::path& p, const std::string& content, unsigned mode) {
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << content;
  }
  REQUIRE(::chmod(p.c_str(), static_cast<mode_t>(mode)) == 0);
}

std::string slurp(std::istream& in) {
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("util::ensure_private_dir") {
  TempDir tmp;
  SUBCASE("creates a missing directory and its parents with mode 0700") {
    const fs::path dir = tmp / "a" / "b" / "data";
    ensure_private_dir(dir);
    CHECK(fs::is_directory(dir));
    CHECK(mode_of(dir) == 0700u);
  }
  SUBCASE("the mode is exactly 0700 whatever the umask") {
    for (mode_t mask : {mode_t{0}, mode_t{0277}}) {  // 0277 would leave mkdir's 0700 as 0500
      CAPTURE(mask);
      const fs::path dir = tmp / ("d" + std::to_string(mask));
      const mode_t old = ::umask(mask);
      ensure_private_dir(dir);
      ::umask(old);
      CHECK(mode_of(dir) == 0700u);
    }
  }
  SUBCASE("an existing private directory is accepted as it is") {
    const fs::path dir = tmp / "data";
    ensure_private_dir(dir);
    std::ofstream(dir / "keep") << "x";
    ensure_private_dir(dir);
    CHECK(fs::exists(dir / "keep"));
    CHECK(mode_of(dir) == 0700u);
  }
  SUBCASE("refuses a path that is a file") {
    const fs::path file = tmp / "data";
    write_plain(file, "not a directory", 0600);
    check_error([&] { ensure_private_dir(file); }, ErrorKind::io, "not a directory");
    CHECK(fs::is_regular_file(file));
  }
  SUBCASE("refuses a directory other users may read or enter") {
    const fs::path dir = tmp / "shared";
    fs::create_directory(dir);
    for (unsigned mode : {0755u, 0750u, 0701u, 0770u}) {
      CAPTURE(mode);
      REQUIRE(::chmod(dir.c_str(), static_cast<mode_t>(mode)) == 0);
      const std::string msg =
          check_error([&] { ensure_private_dir(dir); }, ErrorKind::io, "chmod 700");
      CHECK(contains(msg, dir.string()));
      CHECK(mode_of(dir) == mode);  // it reports, it does not silently change the mode
    }
  }
}

TEST_CASE("util::write_private_file") {
  TempDir tmp;
  const fs::path file = tmp / "session";
  SUBCASE("creates the file with mode 0600 and the exact content") {
    write_private_file(file, "token\n");
    CHECK(mode_of(file) == 0600u);
    CHECK(read_file(file, 100) == "token\n");
  }
  SUBCASE("keeps empty and binary content intact") {
    write_private_file(file, "");
    CHECK(read_file(file, 10).empty());
    const std::string binary("a\0b\xff\n", 5);
    write_private_file(file, binary);
    CHECK(read_file(file, 10) == binary);
  }
  SUBCASE("replaces an existing file atomically, by rename") {
    write_plain(file, "old content", 0644);
    const ino_t old_inode = inode_of(file);
    std::ifstream reader(file, std::ios::binary);  // opened before the replacement
    REQUIRE(reader);
    write_private_file(file, "new content");
    CHECK(read_file(file, 100) == "new content");
    CHECK(mode_of(file) == 0600u);          // the 0644 file was replaced, not rewritten
    CHECK(inode_of(file) != old_inode);     // a new file took the name
    CHECK(slurp(reader) == "old content");  // a reader of the old file saw no partial write
    int entries = 0;
    for (const auto& e : fs::directory_iterator(tmp.path())) {
      CAPTURE(e.path());
      ++entries;
    }
    CHECK(entries == 1);  // no temporary file is left behind
  }
  SUBCASE("a missing directory is an io error naming the file") {
    check_error([&] { write_private_file(tmp / "missing" / "f", "x"); }, ErrorKind::io,
                (tmp / "missing" / "f").string());
  }
}

TEST_CASE("util::read_file") {
  TempDir tmp;
  const fs::path file = tmp / "config.yaml";
  write_plain(file, "0123456789", 0600);
  SUBCASE("reads the whole file within the limit") {
    CHECK(read_file(file, 10) == "0123456789");
    CHECK(read_file(file, 1 << 20) == "0123456789");
  }
  SUBCASE("a file larger than the limit is invalid_input") {
    const std::string msg =
        check_error([&] { (void)read_file(file, 9); }, ErrorKind::invalid_input, "too large");
    CHECK(contains(msg, file.string()));
  }
  SUBCASE("a missing file is an io error naming it") {
    check_error([&] { (void)read_file(tmp / "nope", 100); }, ErrorKind::io,
                (tmp / "nope").string());
  }
  SUBCASE("a directory is not read") {
    check_error([&] { (void)read_file(tmp.path(), 100); }, ErrorKind::io, "not a regular file");
  }
}

TEST_CASE("util::require_private_file") {
  TempDir tmp;
  const fs::path file = tmp / "session";
  SUBCASE("accepts a 0600 file of this user") {
    write_plain(file, "x", 0600);
    CHECK_NOTHROW(require_private_file(file, "session file"));
    write_plain(file, "x", 0400);
    CHECK_NOTHROW(require_private_file(file, "session file"));
  }
  SUBCASE("refuses a file others may read") {
    for (unsigned mode : {0644u, 0640u, 0604u, 0660u}) {
      CAPTURE(mode);
      write_plain(file, "x", mode);
      const std::string msg = check_error([&] { require_private_file(file, "session file"); },
                                          ErrorKind::io, "may be read by other users");
      CHECK(contains(msg, "session file"));
      CHECK(contains(msg, file.string()));
    }
  }
  SUBCASE("refuses a directory") {
    check_error([&] { require_private_file(tmp.path(), "session file"); }, ErrorKind::io,
                "not a regular file");
  }
  SUBCASE("refuses a symlink, even to a private file") {
    write_plain(tmp / "target", "x", 0600);
    fs::create_symlink(tmp / "target", file);
    check_error([&] { require_private_file(file, "session file"); }, ErrorKind::io,
                "not a regular file");
  }
  SUBCASE("a missing file is an io error") {
    check_error([&] { require_private_file(file, "session file"); }, ErrorKind::io,
                "cannot read session file");
  }
}
