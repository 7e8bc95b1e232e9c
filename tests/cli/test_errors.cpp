// Usage errors, suggestions, help, the version, and the exit-code table.
#include <doctest/doctest.h>

#include <regex>

#include "cli_fixture.hpp"

using namespace csss::test;

TEST_CASE("csss without a command is a usage error") {
  Cli cli;
  CHECK_ERROR(cli.run({}), 2, "subcommand is required", "csss --help");
  CHECK_ERROR(cli.run({"user"}), 2, "subcommand is required");
  CHECK_ERROR(cli.run({"audit"}), 2, "subcommand is required");
  CHECK_ERROR(cli.run({"config"}), 2, "subcommand is required");
}

TEST_CASE("a mistyped command gets a suggestion") {
  Cli cli;
  CHECK_ERROR(cli.run({"lgin"}), 2, "unknown command 'lgin'", "did you mean 'login'?");
  CHECK_ERROR(cli.run({"user", "ad"}), 2, "unknown command 'ad' for 'csss user'",
              "did you mean 'add'?", "csss user --help");
  CHECK_ERROR(cli.run({"audit", "verfy"}), 2, "did you mean 'verify'?");
  CHECK_ERROR(cli.run({"--data-dir", "/tmp/x", "whoam"}), 2, "did you mean 'whoami'?");
  CHECK_ERROR(cli.run({"config", "shw"}), 2, "did you mean 'show'?");
  // Nothing close: no suggestion, but the help pointer.
  const auto far = cli.run({"frobnicate"});
  CHECK_ERROR(far, 2, "unknown command 'frobnicate'", "csss --help");
  CHECK_FALSE(contains(far.err, "did you mean"));
  CHECK_FALSE(fs::exists(cli.data_dir()));
}

TEST_CASE("unknown options and missing or extra arguments are usage errors") {
  Cli cli;
  cli.init_with_admin();
  CHECK_ERROR(cli.run({"whoami", "--bogus"}), 2, "--bogus");
  CHECK_ERROR(cli.run({"--bogus", "whoami"}), 2, "--bogus");
  CHECK_ERROR(cli.run({"login"}), 2, "--email is required");
  CHECK_ERROR(cli.run({"login", "--email"}), 2, "--email");
  CHECK_ERROR(cli.run({"user", "show"}), 2, "email");
  CHECK_ERROR(cli.run({"user", "add", "--email", "a@clinic.example"}), 2, "required");
  CHECK_ERROR(cli.run({"whoami", "extra"}), 2, "extra");
  CHECK_ERROR(cli.run({"audit", "list", "--limit", "2x"}), 2, "--limit");
  CHECK_ERROR(cli.run({"--data-dir"}), 2, "--data-dir");
  Store s(cli.db_path());
  CHECK(s.query_int("SELECT count(*) FROM users") == 1);
}

TEST_CASE("every command's --help exits 0 and shows an example of that command") {
  Cli cli;
  const std::vector<std::vector<std::string>> commands{
      {},
      {"init"},
      {"login"},
      {"logout"},
      {"whoami"},
      {"user"},
      {"user", "add"},
      {"user", "list"},
      {"user", "show"},
      {"user", "disable"},
      {"user", "enable"},
      {"user", "unlock"},
      {"user", "passwd"},
      {"user", "register"},
      {"user", "verify-email"},
      {"user", "forgot-password"},
      {"user", "reset-password"},
      {"user", "profile"},
      {"maintenance"},
      {"maintenance", "purge"},
      {"audit"},
      {"audit", "list"},
      {"audit", "verify"},
      {"roles"},
      {"config"},
      {"config", "show"},
      {"patient"},
      {"patient", "add"},
      {"patient", "list"},
      {"patient", "show"},
      {"patient", "update"},
      {"patient", "history"},
      {"scans", "note"},
      {"scans", "notes"},
  };
  for (const auto& command : commands) {
    std::string path = "csss";
    for (const auto& word : command)
      path += " " + word;
    INFO(path, " --help");
    auto args = command;
    args.push_back("--help");
    const auto r = cli.run(args);
    CHECK_OK(r);
    CHECK(contains(r.out, "Usage: " + path));
    CHECK(contains(r.out, "Example"));
    // The example shows the command itself (for the top level: any command).
    const std::string example_of = command.empty() ? "csss " : path;
    const auto at = r.out.find("Example");
    CHECK((at != std::string::npos && contains(r.out.substr(at), example_of)));
  }
  CHECK_FALSE(fs::exists(cli.data_dir()));
}

TEST_CASE("the top-level help lists the commands and the exit codes") {
  Cli cli;
  const auto r = cli.run({"--help"});
  REQUIRE_OK(r);
  for (const char* cmd :
       {"init", "login", "logout", "whoami", "user", "audit", "roles", "config"}) {
    CHECK(contains(r.out, std::string("  ") + cmd));
  }
  CHECK(contains(r.out, "--data-dir"));
  CHECK(contains(r.out, "--json"));
  CHECK(contains(r.out, "--quiet"));
  for (const char* code : {"0 success", "1 internal error", "2 usage", "3 not logged in",
                           "4 permission denied", "5 invalid input", "6 not found", "7 conflict",
                           "8 store, file or mail error", "9 integrity", "11 too many"}) {
    CHECK(contains(r.out, code));
  }
  CHECK_OK(cli.run({"-h"}));
}

TEST_CASE("--version prints the version") {
  Cli cli;
  const auto r = cli.run({"--version"});
  REQUIRE_OK(r);
  CHECK(std::regex_match(r.out, std::regex("csss \\d+\\.\\d+\\.\\d+\n")));
}

TEST_CASE("with --json an error is one JSON document on stdout, and one line on stderr") {
  Cli cli;
  const auto r = cli.run({"--json", "login", "--email", "a@clinic.example", "--password-stdin"},
                         "some-password-123\n");
  REQUIRE(::csss::test::error_problem(r, 6, {"csss init"}, true) == "");
  const auto doc = json_of(r);
  REQUIRE(doc.contains("error"));
  CHECK(doc["error"]["kind"] == "not_found");
  CHECK(doc["error"]["exit_code"] == 6);
  CHECK(contains(doc["error"]["message"].get<std::string>(), "csss init"));
  CHECK(r.err == "csss: error: " + doc["error"]["message"].get<std::string>() + "\n");
}

TEST_CASE("with --json a usage error is a JSON document too") {
  Cli cli;
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--json"},
                                               {"--json", "lgin"},
                                               {"lgin", "--json"},
                                               {"--json", "user", "ad"},
                                               {"--json", "whoami", "--bogus"},
                                               {"--json", "login"}}) {
    std::string line;
    for (const auto& a : args)
      line += " " + a;
    INFO("csss", line);
    const auto r = cli.run(args);
    CHECK(::csss::test::error_problem(r, 2, {}, true) == "");
    const auto doc = json_of(r);
    CHECK(doc["error"]["kind"] == "usage");
    CHECK(doc["error"]["exit_code"] == 2);
  }
}

TEST_CASE("each kind of error has its documented exit code") {
  Cli cli;
  cli.init_with_admin();
  const Account d = cli.add_user("doctor");
  Session doctor = cli.as("doctor");
  doctor.login(d.email, d.password);
  Session admin = cli.as("admin");
  admin.login_admin();

  struct Case {
    const char* what;
    Session session;
    std::vector<std::string> args;
    std::string stdin_text;
    int code;
    const char* kind;
  };
  const Case cases[] = {
      {"usage", admin, {"lgin"}, "", 2, "usage"},
      {"authentication", cli.as("nobody"), {"whoami"}, "", 3, "authentication"},
      {"permission", doctor, {"user", "list"}, "", 4, "permission"},
      {"invalid input", admin, {"user", "list", "--role", "nurse"}, "", 5, "invalid_input"},
      {"not found", admin, {"user", "show", "ghost@clinic.example"}, "", 6, "not_found"},
      {"conflict", admin, {"user", "disable", kAdminEmail}, "", 7, "conflict"},
      {"io", admin, {"--config", "/nonexistent/csss.yaml", "whoami"}, "", 8, "io"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    auto args = c.args;
    args.insert(args.begin(), "--json");
    const auto r = c.session.run(args, c.stdin_text);
    CHECK(::csss::test::error_problem(r, c.code, {}, true) == "");
    const auto doc = json_of(r);
    CHECK(doc["error"]["kind"] == c.kind);
    CHECK(doc["error"]["exit_code"] == c.code);
    // Without --json: the same exit code, the same message, nothing on stdout.
    const auto plain = c.session.run(c.args, c.stdin_text);
    CHECK(::csss::test::error_problem(plain, c.code) == "");
  }

  // integrity (9): a changed audit row.
  {
    Store s(cli.db_path());
    REQUIRE(s.exec("DROP TRIGGER audit_log_no_update") == "");
    REQUIRE(s.exec("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1") == "");
  }
  const auto integrity = admin.run({"--json", "audit", "verify"});
  CHECK(::csss::test::error_problem(integrity, 9, {"row 1"}, true) == "");
  CHECK(json_of(integrity)["error"]["kind"] == "integrity");
  CHECK(json_of(integrity)["error"]["exit_code"] == 9);
}

TEST_CASE("an error message stays one line even when the input holds line breaks") {
  Cli cli;
  cli.init_with_admin();
  cli.login_admin();
  CHECK_ERROR(cli.run({"user", "show", "ghost\ncsss: error: forged@clinic.example"}), 6,
              "no account with email 'ghost\\ncsss: error: forged@clinic.example'");
  CHECK_ERROR(cli.run({"lg\nin"}), 2, "unknown command");
  CHECK_ERROR(cli.run({"user", "list", "--role", "nurse\r\nx"}), 5, "unknown role");
  // With --json too, the message is the same single line.
  const auto json = cli.run({"--json", "user", "show", "a\nb@clinic.example"});
  CHECK(::csss::test::error_problem(json, 6, {"'a\\nb@clinic.example'"}, true) == "");
  CHECK(json.err == "csss: error: " + json_of(json)["error"]["message"].get<std::string>() + "\n");
}

TEST_CASE("--quiet keeps results and errors but drops messages for people") {
  Cli cli;
  cli.init_with_admin();
  const Account p = cli.add_user("patient");
  const auto login =
      cli.run({"-q", "login", "--email", p.email, "--password-stdin"}, p.password + "\n");
  REQUIRE_OK(login);
  CHECK(login.out.empty());
  const auto who = cli.run({"--quiet", "whoami"});
  REQUIRE_OK(who);
  CHECK(contains(who.out, p.email));
  CHECK_ERROR(cli.run({"--quiet", "user", "list"}), 4, "permission denied");
  const auto out = cli.run({"--quiet", "logout"});
  REQUIRE_OK(out);
  CHECK(out.out.empty());
}
