#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "config/config.hpp"
#include "support/check_error.hpp"
#include "support/setting_keys.hpp"
#include "support/temp_dir.hpp"

using namespace csss::config;
using csss::ErrorKind;
using csss::test::check_error;
using csss::test::contains;
using csss::test::TempDir;
namespace fs = std::filesystem;

namespace {

// A fake environment: only the variables in `vars` exist. The real environment is never read.
struct FakeEnv {
  std::map<std::string, std::string> vars;

  EnvLookup lookup() const {
    return [this](const char* name) -> const char* {
      const auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

const Setting& setting(const Config& c, const std::string& key) {
  const auto& all = c.settings();
  const auto it =
      std::find_if(all.begin(), all.end(), [&](const Setting& s) { return s.key == key; });
  REQUIRE(it != all.end());
  return *it;
}

void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

}  // namespace

TEST_CASE("config::defaults") {
  TempDir home;
  FakeEnv env{{{"HOME", home.path().string()}}};
  const Config c = Config::defaults(env.lookup());

  SUBCASE("pinned values") {
    CHECK(c.get_int("session.ttl_minutes") == 60);
    CHECK(c.get_int("session.idle_minutes") == 15);
    CHECK(c.get_int("login.max_failures") == 5);
    CHECK(c.get_int("login.lockout_minutes") == 15);
    CHECK(c.get_int("password.min_length") == 12);
    CHECK(c.get_int("otp.ttl_minutes") == 10);
    CHECK(c.get_int("otp.max_attempts") == 5);
    CHECK(c.get("smtp.tls") == "starttls");
    CHECK(c.get("smtp.url").empty());
    CHECK(c.get_int("smtp.timeout_seconds") == 30);
    CHECK(c.get("mail.from") == "CSSS <no-reply@csss.local>");
    CHECK(c.get_int("scan.max_file_mb") == 64);
    CHECK(c.get_int("scan.max_megapixels") == 100);
    CHECK(fs::path(c.get("models.dir")) == fs::path(CSSS_SOURCE_DIR) / "models");
  }
  SUBCASE("every setting comes from the built-in table") {
    for (const Setting& s : c.settings()) {
      CAPTURE(s.key);
      CHECK(s.source == Source::builtin);
      CHECK(s.origin == "default");
      CHECK_FALSE(s.description.empty());
    }
    CHECK(c.settings().size() == Config::known_keys().size());
  }
  SUBCASE("only the SMTP password is secret") {
    for (const Setting& s : c.settings()) {
      CAPTURE(s.key);
      CHECK(s.secret == (s.key == "smtp.password"));
    }
  }
  SUBCASE("data_dir follows the XDG base directory spec") {
    CHECK(c.data_dir() == home.path() / ".local/share/csss");
    FakeEnv xdg{{{"HOME", "/home/u"}, {"XDG_DATA_HOME", "/srv/data"}}};
    CHECK(Config::defaults(xdg.lookup()).data_dir() == fs::path("/srv/data/csss"));
    FakeEnv relative{{{"HOME", "/home/u"}, {"XDG_DATA_HOME", "relative/dir"}}};
    CHECK(Config::defaults(relative.lookup()).data_dir() == fs::path("/home/u/.local/share/csss"));
  }
}

TEST_CASE("config::Config::load layers") {
  TempDir tmp;
  const fs::path file = tmp / "csss.yaml";
  FakeEnv env{{{"HOME", (tmp / "home").string()}}};
  Flags flags;

  SUBCASE("nothing set: built-in defaults and no file") {
    const Config c = Config::load(flags, env.lookup());
    CHECK_FALSE(c.file().has_value());
    CHECK(c.get_int("session.ttl_minutes") == 60);
    CHECK(setting(c, "session.ttl_minutes").source == Source::builtin);
  }
  SUBCASE("defaults < file < environment < flags") {
    write_text(file,
               "data_dir: /from/file\n"
               "session:\n"
               "  ttl_minutes: 30\n"
               "  idle_minutes: 20\n");
    flags.config_file = file.string();
    env.vars["CSSS_SESSION_TTL_MINUTES"] = "45";
    env.vars["CSSS_DATA_DIR"] = "/from/env";
    flags.data_dir = "/from/flag";
    const Config c = Config::load(flags, env.lookup());

    REQUIRE(c.file().has_value());
    CHECK(*c.file() == file);

    const Setting& ttl = setting(c, "session.ttl_minutes");  // file, then environment
    CHECK(ttl.value == "45");
    CHECK(ttl.source == Source::environment);
    CHECK(ttl.origin == "CSSS_SESSION_TTL_MINUTES");

    const Setting& idle = setting(c, "session.idle_minutes");  // file only
    CHECK(idle.value == "20");
    CHECK(idle.source == Source::file);
    CHECK(idle.origin == file.string());

    const Setting& data = setting(c, "data_dir");  // file, environment, then flag
    CHECK(data.value == "/from/flag");
    CHECK(data.source == Source::flag);
    CHECK(data.origin == "--data-dir");
    CHECK(c.data_dir() == fs::path("/from/flag"));

    const Setting& failures = setting(c, "login.max_failures");  // nothing set
    CHECK(failures.value == "5");
    CHECK(failures.source == Source::builtin);
    CHECK(failures.origin == "default");
  }
  SUBCASE("environment overrides the file without flags") {
    write_text(file, "data_dir: /from/file\n");
    flags.config_file = file.string();
    env.vars["CSSS_DATA_DIR"] = "/from/env";
    const Config c = Config::load(flags, env.lookup());
    CHECK(c.get("data_dir") == "/from/env");
    CHECK(setting(c, "data_dir").source == Source::environment);
    CHECK(setting(c, "data_dir").origin == "CSSS_DATA_DIR");
  }
  SUBCASE("an empty environment variable counts as unset") {
    env.vars["CSSS_SESSION_TTL_MINUTES"] = "";
    const Config c = Config::load(flags, env.lookup());
    CHECK(c.get_int("session.ttl_minutes") == 60);
    CHECK(setting(c, "session.ttl_minutes").source == Source::builtin);
  }
  SUBCASE("values are trimmed") {
    env.vars["CSSS_SESSION_TTL_MINUTES"] = " 45 ";
    CHECK(Config::load(flags, env.lookup()).get_int("session.ttl_minutes") == 45);
  }
}

TEST_CASE("config::Config::load file discovery") {
  TempDir tmp;
  FakeEnv env{{{"HOME", (tmp / "home").string()}}};
  Flags flags;

  SUBCASE("$HOME/.config/csss/config.yaml when present") {
    write_text(tmp / "home/.config/csss/config.yaml", "otp:\n  ttl_minutes: 3\n");
    const Config c = Config::load(flags, env.lookup());
    CHECK(c.get_int("otp.ttl_minutes") == 3);
    CHECK(c.file() == tmp / "home/.config/csss/config.yaml");
  }
  SUBCASE("$XDG_CONFIG_HOME/csss/config.yaml before $HOME/.config") {
    write_text(tmp / "home/.config/csss/config.yaml", "otp:\n  ttl_minutes: 3\n");
    write_text(tmp / "xdg/csss/config.yaml", "otp:\n  ttl_minutes: 4\n");
    env.vars["XDG_CONFIG_HOME"] = (tmp / "xdg").string();
    CHECK(Config::load(flags, env.lookup()).get_int("otp.ttl_minutes") == 4);
  }
  SUBCASE("CSSS_CONFIG before the default location, --config before CSSS_CONFIG") {
    write_text(tmp / "home/.config/csss/config.yaml", "otp:\n  ttl_minutes: 3\n");
    write_text(tmp / "env.yaml", "otp:\n  ttl_minutes: 5\n");
    write_text(tmp / "flag.yaml", "otp:\n  ttl_minutes: 6\n");
    env.vars["CSSS_CONFIG"] = (tmp / "env.yaml").string();
    CHECK(Config::load(flags, env.lookup()).get_int("otp.ttl_minutes") == 5);
    flags.config_file = (tmp / "flag.yaml").string();
    const Config c = Config::load(flags, env.lookup());
    CHECK(c.get_int("otp.ttl_minutes") == 6);
    CHECK(setting(c, "otp.ttl_minutes").origin == (tmp / "flag.yaml").string());
  }
  SUBCASE("an empty file changes nothing") {
    write_text(tmp / "empty.yaml", "");
    flags.config_file = (tmp / "empty.yaml").string();
    const Config c = Config::load(flags, env.lookup());
    CHECK(c.get_int("session.ttl_minutes") == 60);
  }
}

TEST_CASE("config::Config::load nested YAML") {
  TempDir tmp;
  FakeEnv env{{{"HOME", (tmp / "home").string()}}};
  Flags flags;
  flags.config_file = (tmp / "c.yaml").string();
  write_text(tmp / "c.yaml",
             "# a comment\n"
             "session:\n"
             "  ttl_minutes: 90\n"
             "  idle_minutes: 5\n"
             "smtp:\n"
             "  url: smtp://mail.example.org:587\n"
             "  tls: none\n"
             "  password: \"s3cret: with colon\"\n"
             "mail.from: Clinic <clinic@example.org>\n"
             "password:\n"
             "  min_length: 16\n");
  const Config c = Config::load(flags, env.lookup());
  CHECK(c.get_int("session.ttl_minutes") == 90);
  CHECK(c.get_int("session.idle_minutes") == 5);
  CHECK(c.get("smtp.url") == "smtp://mail.example.org:587");
  CHECK(c.get("smtp.tls") == "none");
  CHECK(c.get("smtp.password") == "s3cret: with colon");
  CHECK(c.get("mail.from") == "Clinic <clinic@example.org>");
  CHECK(c.get_int("password.min_length") == 16);
  CHECK(setting(c, "smtp.url").source == Source::file);
}

TEST_CASE("config::Config::load errors") {
  TempDir tmp;
  const fs::path file = tmp / "c.yaml";
  FakeEnv env{{{"HOME", (tmp / "home").string()}}};
  Flags flags;
  flags.config_file = file.string();
  const auto load = [&] { (void)Config::load(flags, env.lookup()); };

  SUBCASE("unknown key in the file, with a suggestion") {
    write_text(file, "session:\n  ttl_minute: 30\n");
    const std::string msg = check_error(load, ErrorKind::invalid_input, "session.ttl_minute");
    CHECK(contains(msg, "did you mean 'session.ttl_minutes'?"));
    CHECK(contains(msg, file.string()));
  }
  SUBCASE("unknown key without a close match has no suggestion") {
    write_text(file, "colour: blue\n");
    const std::string msg = check_error(load, ErrorKind::invalid_input, "unknown setting 'colour'");
    CHECK_FALSE(contains(msg, "did you mean"));
  }
  SUBCASE("out of range in the file names the key, the file and the range") {
    write_text(file, "session:\n  ttl_minutes: 0\n");
    const std::string msg = check_error(load, ErrorKind::invalid_input, "'session.ttl_minutes'");
    CHECK(contains(msg, file.string()));
    CHECK(contains(msg, "from 1 to 1440"));
    write_text(file, "session:\n  ttl_minutes: 1441\n");
    check_error(load, ErrorKind::invalid_input, "'session.ttl_minutes'");
    write_text(file, "password:\n  min_length: 7\n");
    check_error(load, ErrorKind::invalid_input, "'password.min_length'");
  }
  SUBCASE("non-numeric in the environment names the key and the variable") {
    flags.config_file.reset();
    for (const std::string bad : {"abc", "12abc", "1.5", "-5", "99999999999999999999"}) {
      CAPTURE(bad);
      env.vars["CSSS_LOGIN_MAX_FAILURES"] = bad;
      const std::string msg = check_error(load, ErrorKind::invalid_input, "'login.max_failures'");
      CHECK(contains(msg, "CSSS_LOGIN_MAX_FAILURES"));
    }
  }
  SUBCASE("a choice outside its list") {
    flags.config_file.reset();
    env.vars["CSSS_SMTP_TLS"] = "ssl";
    const std::string msg = check_error(load, ErrorKind::invalid_input, "'smtp.tls'");
    CHECK(contains(msg, "starttls, none"));
  }
  SUBCASE("malformed YAML names the file") {
    write_text(file, "session: [1, 2\n");
    check_error(load, ErrorKind::invalid_input, file.string());
    write_text(file, "session:\n  ttl_minutes: 30\n bad indentation: x\n");
    check_error(load, ErrorKind::invalid_input, file.string());
  }
  SUBCASE("a file that is not a mapping") {
    write_text(file, "just a string\n");
    check_error(load, ErrorKind::invalid_input, "expected a mapping");
    write_text(file, "session:\n  ttl_minutes: [1, 2]\n");
    check_error(load, ErrorKind::invalid_input, "must be a single value");
  }
  SUBCASE("an explicitly named file that is missing") {
    const std::string msg = check_error(load, ErrorKind::io, "does not exist");
    CHECK(contains(msg, file.string()));
    flags.config_file.reset();
    env.vars["CSSS_CONFIG"] = (tmp / "other.yaml").string();
    check_error(load, ErrorKind::io, (tmp / "other.yaml").string());
  }
  SUBCASE("no HOME, no XDG_DATA_HOME and no --data-dir: no data directory") {
    flags.config_file.reset();
    env.vars.clear();
    check_error(load, ErrorKind::io, "no data directory");
    flags.data_dir = (tmp / "data").string();
    CHECK_NOTHROW(load());
  }
}

TEST_CASE("config::env_name") {
  CHECK(env_name("smtp.url") == "CSSS_SMTP_URL");
  CHECK(env_name("session.ttl_minutes") == "CSSS_SESSION_TTL_MINUTES");
  CHECK(env_name("data_dir") == "CSSS_DATA_DIR");
  CHECK(env_name("otp.max_attempts") == "CSSS_OTP_MAX_ATTEMPTS");
}

TEST_CASE("config::to_string(Source)") {
  CHECK(to_string(Source::builtin) == "default");
  CHECK(to_string(Source::file) == "file");
  CHECK(to_string(Source::environment) == "environment");
  CHECK(to_string(Source::flag) == "flag");
}

TEST_CASE("config::Config::known_keys") {
  const auto keys = Config::known_keys();
  for (const std::string& key : csss::test::kSettingKeys) {
    CAPTURE(key);
    CHECK(std::count(keys.begin(), keys.end(), key) == 1);
  }
  CHECK(keys.size() == csss::test::kSettingKeys.size());
}
