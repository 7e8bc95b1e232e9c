// csss config show, and the layering of defaults, YAML file, environment and flags.
#include <doctest/doctest.h>

#include "cli_fixture.hpp"
#include "support/setting_keys.hpp"

using namespace csss::test;

namespace {

// The settings of `config show --json`, by key.
std::map<std::string, nlohmann::json> settings_of(const ProcessResult& r) {
  REQUIRE_OK(r);
  const auto doc = json_of(r);
  REQUIRE(doc.contains("settings"));
  std::map<std::string, nlohmann::json> out;
  for (const auto& s : doc["settings"])
    out[s["key"].get<std::string>()] = s;
  return out;
}

fs::path write_config(const Cli& cli, const std::string& name, const std::string& yaml) {
  const fs::path p = cli.root() / name;
  write_text(p, yaml);
  return p;
}

}  // namespace

TEST_CASE("config show --json lists every key with its value, source and origin") {
  Cli cli;
  const auto r = cli.run({"--json", "config", "show"});
  const auto settings = settings_of(r);
  CHECK(settings.size() == kSettingKeys.size());
  for (const auto& key : kSettingKeys) {
    INFO("key ", key);
    REQUIRE(settings.count(key) == 1);
    const auto& s = settings.at(key);
    for (const char* field : {"value", "source", "origin", "env", "description"}) {
      CHECK(s.contains(field));
    }
    CHECK_FALSE(s["description"].get<std::string>().empty());
    if (key != "data_dir") {
      CHECK(s["source"] == "default");
      CHECK(s["origin"] == "default");
    }
  }
  CHECK(json_of(r)["file"].is_null());
  CHECK(settings.at("session.ttl_minutes")["value"] == "60");
  CHECK(settings.at("session.idle_minutes")["value"] == "15");
  CHECK(settings.at("login.max_failures")["value"] == "5");
  CHECK(settings.at("password.min_length")["value"] == "12");
  CHECK(settings.at("smtp.tls")["value"] == "starttls");
  CHECK(settings.at("smtp.url")["env"] == "CSSS_SMTP_URL");
  CHECK(settings.at("session.ttl_minutes")["env"] == "CSSS_SESSION_TTL_MINUTES");
  // The fixture sets CSSS_DATA_DIR.
  CHECK(settings.at("data_dir")["value"] == cli.data_dir().string());
  CHECK(settings.at("data_dir")["source"] == "environment");
  CHECK(settings.at("data_dir")["origin"] == "CSSS_DATA_DIR");
}

TEST_CASE("config show prints a table of keys, values and origins") {
  Cli cli;
  const auto r = cli.run({"config", "show"});
  REQUIRE_OK(r);
  CHECK(r.out.starts_with("config file: (none)\n"));
  CHECK(contains(r.out, "KEY"));
  CHECK(contains(r.out, "VALUE"));
  CHECK(contains(r.out, "FROM"));
  for (const auto& key : kSettingKeys)
    CHECK(contains(r.out, key));
  CHECK(contains(r.out, "(empty)"));
  CHECK(contains(r.out, "CSSS_DATA_DIR"));
}

TEST_CASE("config show works without a store and creates nothing") {
  Cli cli;
  CHECK_OK(cli.run({"config", "show"}));
  CHECK_OK(cli.run({"--data-dir", (cli.root() / "elsewhere").string(), "config", "show"}));
  CHECK_FALSE(fs::exists(cli.data_dir()));
  CHECK_FALSE(fs::exists(cli.root() / "elsewhere"));
}

TEST_CASE("the default data directory follows XDG_DATA_HOME, then HOME") {
  Cli cli;
  const auto xdg = settings_of(cli.run({"--json", "config", "show"}, "", {{"CSSS_DATA_DIR", ""}}));
  CHECK(xdg.at("data_dir")["value"] == (cli.xdg_data_home() / "csss").string());
  CHECK(xdg.at("data_dir")["source"] == "default");
  const auto home = settings_of(
      cli.run({"--json", "config", "show"}, "", {{"CSSS_DATA_DIR", ""}, {"XDG_DATA_HOME", ""}}));
  CHECK(home.at("data_dir")["value"] == (cli.home() / ".local/share/csss").string());
  const auto none =
      cli.run({"config", "show"}, "", {{"CSSS_DATA_DIR", ""}, {"XDG_DATA_HOME", ""}, {"HOME", ""}});
  CHECK_ERROR(none, 8, "no data directory", "CSSS_DATA_DIR");
}

TEST_CASE("a YAML file given with --config overrides the defaults") {
  Cli cli;
  const fs::path file = write_config(cli, "csss.yaml",
                                     "session:\n  ttl_minutes: 30\n  idle_minutes: 5\n"
                                     "login.max_failures: 3\n"
                                     "mail:\n  from: 'Clinic <noreply@clinic.example>'\n");
  const auto r = cli.run({"--json", "--config", file.string(), "config", "show"});
  const auto settings = settings_of(r);
  CHECK(json_of(r)["file"] == file.string());
  CHECK(settings.at("session.ttl_minutes")["value"] == "30");
  CHECK(settings.at("session.ttl_minutes")["source"] == "file");
  CHECK(settings.at("session.ttl_minutes")["origin"] == file.string());
  CHECK(settings.at("session.idle_minutes")["value"] == "5");
  CHECK(settings.at("login.max_failures")["value"] == "3");
  CHECK(settings.at("login.max_failures")["source"] == "file");
  CHECK(settings.at("mail.from")["value"] == "Clinic <noreply@clinic.example>");
  CHECK(settings.at("otp.ttl_minutes")["source"] == "default");

  const auto text = cli.run({"--config", file.string(), "config", "show"});
  REQUIRE_OK(text);
  CHECK(text.out.starts_with("config file: " + file.string() + "\n"));
}

TEST_CASE("a YAML file named by CSSS_CONFIG, or found in XDG_CONFIG_HOME, is read") {
  Cli cli;
  const fs::path file = write_config(cli, "env.yaml", "session:\n  ttl_minutes: 45\n");
  const auto env =
      settings_of(cli.run({"--json", "config", "show"}, "", {{"CSSS_CONFIG", file.string()}}));
  CHECK(env.at("session.ttl_minutes")["value"] == "45");
  CHECK(env.at("session.ttl_minutes")["origin"] == file.string());

  // --config wins over CSSS_CONFIG.
  const fs::path flag = write_config(cli, "flag.yaml", "session:\n  ttl_minutes: 50\n");
  const auto both = settings_of(cli.run({"--json", "--config", flag.string(), "config", "show"}, "",
                                        {{"CSSS_CONFIG", file.string()}}));
  CHECK(both.at("session.ttl_minutes")["value"] == "50");

  const fs::path xdg = cli.xdg_config_home() / "csss" / "config.yaml";
  fs::create_directories(xdg.parent_path());
  write_text(xdg, "otp:\n  max_attempts: 7\n");
  const auto found = settings_of(cli.run({"--json", "config", "show"}));
  CHECK(found.at("otp.max_attempts")["value"] == "7");
  CHECK(found.at("otp.max_attempts")["origin"] == xdg.string());
  // An explicit file replaces the one in XDG_CONFIG_HOME.
  const auto replaced =
      settings_of(cli.run({"--json", "config", "show"}, "", {{"CSSS_CONFIG", file.string()}}));
  CHECK(replaced.at("otp.max_attempts")["value"] == "5");
}

TEST_CASE("environment variables override the file, and --data-dir overrides the environment") {
  Cli cli;
  const fs::path file =
      write_config(cli, "csss.yaml", "session:\n  ttl_minutes: 30\ndata_dir: /from/the/file\n");
  const fs::path flag_dir = cli.root() / "flag-data";
  const auto r = cli.run(
      {"--json", "--config", file.string(), "--data-dir", flag_dir.string(), "config", "show"}, "",
      {{"CSSS_SESSION_TTL_MINUTES", "20"}, {"CSSS_SMTP_TLS", "none"}});
  const auto settings = settings_of(r);
  CHECK(settings.at("session.ttl_minutes")["value"] == "20");
  CHECK(settings.at("session.ttl_minutes")["source"] == "environment");
  CHECK(settings.at("session.ttl_minutes")["origin"] == "CSSS_SESSION_TTL_MINUTES");
  CHECK(settings.at("smtp.tls")["value"] == "none");
  CHECK(settings.at("data_dir")["value"] == flag_dir.string());
  CHECK(settings.at("data_dir")["source"] == "flag");
  CHECK(settings.at("data_dir")["origin"] == "--data-dir");

  // Without the flag, CSSS_DATA_DIR (set by the fixture) overrides the file.
  const auto env = settings_of(cli.run({"--json", "--config", file.string(), "config", "show"}));
  CHECK(env.at("data_dir")["value"] == cli.data_dir().string());
  CHECK(env.at("data_dir")["source"] == "environment");
  // And without either, the file's value counts.
  const auto from_file = settings_of(cli.run(
      {"--json", "--config", file.string(), "config", "show"}, "", {{"CSSS_DATA_DIR", ""}}));
  CHECK(from_file.at("data_dir")["value"] == "/from/the/file");
  CHECK(from_file.at("data_dir")["source"] == "file");
}

TEST_CASE("--data-dir decides where the store goes") {
  Cli cli;
  const fs::path other = cli.root() / "other-data";
  const auto r = cli.run(
      {"--data-dir", other.string(), "init", "--admin-email", kAdminEmail, "--password-stdin"},
      std::string(kAdminPassword) + "\n");
  REQUIRE_OK(r);
  CHECK(fs::exists(other / "csss.db"));
  CHECK_FALSE(fs::exists(cli.data_dir()));
}

TEST_CASE("settings from the file and the environment take effect") {
  Cli cli;
  const fs::path file = write_config(cli, "strict.yaml", "password:\n  min_length: 20\n");
  const auto shorter =
      cli.run({"--config", file.string(), "init", "--admin-email", kAdminEmail, "--password-stdin"},
              "nineteen-characters\n");
  CHECK_ERROR(shorter, 5, "at least 20 characters");
  const auto env = cli.run({"init", "--admin-email", kAdminEmail, "--password-stdin"},
                           "nineteen-characters\n", {{"CSSS_PASSWORD_MIN_LENGTH", "25"}});
  CHECK_ERROR(env, 5, "at least 25 characters");
  cli.init_with_admin();

  // login.max_failures: 2 locks after the second failure.
  const fs::path lock = write_config(cli, "lock.yaml", "login:\n  max_failures: 2\n");
  const std::vector<std::string> login{"--config", lock.string(), "login",
                                       "--email",  kAdminEmail,   "--password-stdin"};
  CHECK_ERROR(cli.run(login, "wrong-password-123\n"), 3, "wrong email or password");
  CHECK_ERROR(cli.run(login, "wrong-password-123\n"), 3, "after 2 failed logins", "locked until");
}

TEST_CASE("smtp.password is masked") {
  Cli cli;
  const std::string secret = "hunter2-smtp-secret";
  const fs::path file =
      write_config(cli, "smtp.yaml", "smtp:\n  user: mailer\n  password: " + secret + "\n");
  const auto json = cli.run({"--json", "--config", file.string(), "config", "show"});
  const auto settings = settings_of(json);
  CHECK(settings.at("smtp.password")["value"] == "********");
  CHECK(settings.at("smtp.password")["source"] == "file");
  CHECK(settings.at("smtp.user")["value"] == "mailer");
  CHECK_FALSE(contains(json.out, secret));
  const auto text = cli.run({"config", "show"}, "", {{"CSSS_SMTP_PASSWORD", secret}});
  REQUIRE_OK(text);
  CHECK(contains(text.out, "********"));
  CHECK(contains(text.out, "CSSS_SMTP_PASSWORD"));
  CHECK_FALSE(contains(text.out, secret));
}

TEST_CASE("an unknown key in the YAML file is invalid input with a suggestion") {
  Cli cli;
  const fs::path nested = write_config(cli, "typo.yaml", "session:\n  ttl_minute: 30\n");
  CHECK_ERROR(cli.run({"--config", nested.string(), "config", "show"}), 5,
              "unknown setting 'session.ttl_minute'", nested.string(),
              "did you mean 'session.ttl_minutes'?");
  const fs::path flat = write_config(cli, "flat.yaml", "smtp.timeout_second: 10\n");
  CHECK_ERROR(cli.run({"--config", flat.string(), "config", "show"}), 5,
              "did you mean 'smtp.timeout_seconds'?");
  const fs::path far = write_config(cli, "far.yaml", "colour: blue\n");
  const auto no_suggestion = cli.run({"--config", far.string(), "config", "show"});
  CHECK_ERROR(no_suggestion, 5, "unknown setting 'colour'");
  CHECK_FALSE(contains(no_suggestion.err, "did you mean"));
  // The check applies to every command, not only config show.
  CHECK_ERROR(cli.run({"--config", nested.string(), "init"}), 5, "did you mean");
  CHECK_FALSE(fs::exists(cli.data_dir()));
}

TEST_CASE("a bad value in the file or the environment is invalid input") {
  Cli cli;
  const fs::path words = write_config(cli, "words.yaml", "session:\n  ttl_minutes: forever\n");
  CHECK_ERROR(cli.run({"--config", words.string(), "config", "show"}), 5, "session.ttl_minutes",
              "whole number", "forever");
  const fs::path range = write_config(cli, "range.yaml", "otp:\n  ttl_minutes: 0\n");
  CHECK_ERROR(cli.run({"--config", range.string(), "config", "show"}), 5, "otp.ttl_minutes",
              "from 1 to 60");
  CHECK_ERROR(cli.run({"config", "show"}, "", {{"CSSS_SMTP_TLS", "maybe"}}), 5, "smtp.tls",
              "CSSS_SMTP_TLS", "starttls, none");
  CHECK_ERROR(cli.run({"config", "show"}, "", {{"CSSS_SESSION_IDLE_MINUTES", "-3"}}), 5,
              "CSSS_SESSION_IDLE_MINUTES");
  const fs::path list = write_config(cli, "list.yaml", "smtp:\n  url: [a, b]\n");
  CHECK_ERROR(cli.run({"--config", list.string(), "config", "show"}), 5, "single value");
  const fs::path broken = write_config(cli, "broken.yaml", "session: {ttl_minutes: 30\n");
  CHECK_ERROR(cli.run({"--config", broken.string(), "config", "show"}), 5, broken.string());
  const fs::path scalar = write_config(cli, "scalar.yaml", "just a string\n");
  CHECK_ERROR(cli.run({"--config", scalar.string(), "config", "show"}), 5, "mapping");
}

TEST_CASE("a missing config file is an I/O error") {
  Cli cli;
  const std::string missing = (cli.root() / "missing.yaml").string();
  CHECK_ERROR(cli.run({"--config", missing, "config", "show"}), 8, missing, "does not exist");
  CHECK_ERROR(cli.run({"config", "show"}, "", {{"CSSS_CONFIG", missing}}), 8, missing);
  CHECK_ERROR(cli.run({"--config", cli.root().string(), "config", "show"}), 8, cli.root().string());
}
