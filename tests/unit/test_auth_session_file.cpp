#include <doctest/doctest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "auth/session_file.hpp"
#include "crypto/random.hpp"
#include "support/check_error.hpp"
#include "support/temp_dir.hpp"
#include "util/fs.hpp"

using namespace csss::auth;
using csss::ErrorKind;
using csss::test::check_error;
using csss::test::contains;
using csss::test::TempDir;
namespace fs = std::filesystem;

namespace {

// A fake environment: only the variables in `vars` exist.
struct FakeEnv {
  std::map<std::string, std::string> vars;
  csss::config::EnvLookup lookup() const {
    return [this](const char* name) -> const char* {
      const auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

void write_raw(const fs::path& p, const std::string& content, unsigned mode) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
  REQUIRE(::chmod(p.c_str(), static_cast<mode_t>(mode)) == 0);
}

}  // namespace

TEST_CASE("auth::session_file_path") {
  SUBCASE("CSSS_SESSION first") {
    FakeEnv env{{{"CSSS_SESSION", "/tmp/alice.session"},
                 {"XDG_STATE_HOME", "/state"},
                 {"HOME", "/home/u"}}};
    CHECK(session_file_path(env.lookup()) == fs::path("/tmp/alice.session"));
  }
  SUBCASE("then $XDG_STATE_HOME/csss/session") {
    FakeEnv env{{{"CSSS_SESSION", ""}, {"XDG_STATE_HOME", "/state"}, {"HOME", "/home/u"}}};
    CHECK(session_file_path(env.lookup()) == fs::path("/state/csss/session"));
  }
  SUBCASE("then $HOME/.local/state/csss/session") {
    FakeEnv env{{{"HOME", "/home/u"}}};
    CHECK(session_file_path(env.lookup()) == fs::path("/home/u/.local/state/csss/session"));
    env.vars["XDG_STATE_HOME"] = "relative/state";  // not absolute: ignored (XDG spec)
    CHECK(session_file_path(env.lookup()) == fs::path("/home/u/.local/state/csss/session"));
  }
  SUBCASE("nothing to go by") {
    FakeEnv env;
    check_error([&] { (void)session_file_path(env.lookup()); }, ErrorKind::io, "CSSS_SESSION");
    env.vars["HOME"] = "relative";
    check_error([&] { (void)session_file_path(env.lookup()); }, ErrorKind::io, "HOME");
  }
}

TEST_CASE("auth::session token file") {
  TempDir tmp;
  const fs::path path = tmp / "state" / "csss" / "session";
  const std::string token = csss::crypto::random_hex(32);

  SUBCASE("missing: no token") {
    CHECK(read_session_token(path) == std::nullopt);
  }
  SUBCASE("write creates a 0600 file in a 0700 directory; read returns the token") {
    write_session_token(path, token);
    CHECK(mode_of(path) == 0600u);
    CHECK(mode_of(path.parent_path()) == 0700u);
    CHECK(csss::util::read_file(path, 100) == token + "\n");
    CHECK(read_session_token(path) == token);
  }
  SUBCASE("write replaces the previous token") {
    write_session_token(path, token);
    const std::string next = csss::crypto::random_hex(32);
    write_session_token(path, next);
    CHECK(read_session_token(path) == next);
    CHECK(mode_of(path) == 0600u);
  }
  SUBCASE("a file others may read is not trusted") {
    write_session_token(path, token);
    REQUIRE(::chmod(path.c_str(), 0644) == 0);
    const std::string msg = check_error([&] { (void)read_session_token(path); },
                                        ErrorKind::authentication, "may be read by other users");
    CHECK(contains(msg, "log in again"));
    // ...but its token can still be read to end that session.
    CHECK(read_session_token(path, FileCheck::skip_permissions) == token);
  }
  SUBCASE("skipping the permission check still refuses malformed content") {
    fs::create_directories(path.parent_path());
    write_raw(path, "not-a-token", 0644);
    check_error([&] { (void)read_session_token(path, FileCheck::skip_permissions); },
                ErrorKind::authentication, "malformed");
  }
  SUBCASE("a symlink is not trusted") {
    fs::create_directories(path.parent_path());
    write_raw(tmp / "elsewhere", token + "\n", 0600);
    fs::create_symlink(tmp / "elsewhere", path);
    check_error([&] { (void)read_session_token(path); }, ErrorKind::authentication,
                "not a regular file");
  }
  SUBCASE("malformed content") {
    fs::create_directories(path.parent_path());
    for (const std::string& bad :
         {std::string(""), std::string("not-a-token"), token.substr(1), token + "0",
          csss::crypto::random_hex(32).replace(0, 1, "A"), token + " junk",
          token.substr(0, 32) + "\n" + token.substr(32), std::string(64, 'g')}) {
      CAPTURE(bad);
      write_raw(path, bad, 0600);
      check_error([&] { (void)read_session_token(path); }, ErrorKind::authentication, "malformed");
    }
  }
  SUBCASE("blank lines around the token are tolerated") {
    fs::create_directories(path.parent_path());
    write_raw(path, "\n" + token + "\r\n", 0600);
    CHECK(read_session_token(path) == token);
  }
  SUBCASE("remove_session_file") {
    write_session_token(path, token);
    remove_session_file(path);
    CHECK_FALSE(fs::exists(path));
    CHECK_NOTHROW(remove_session_file(path));  // already gone
    CHECK(read_session_token(path) == std::nullopt);
  }
}
