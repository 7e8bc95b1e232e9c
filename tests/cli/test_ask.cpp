// csss ask: the help assistant. One question, --json, typos, unknown questions, the medical-advice
// refusal, questions on standard input, the prompt on a terminal (line editing and history),
// --topics and --kb, bad input; it never creates a store or any other file; and every command
// and flag its knowledge base names exists.
#include <doctest/doctest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <regex>
#include <set>

#include "assist/kb.hpp"
#include "cli_fixture.hpp"

using namespace csss::test;

namespace {

std::size_t count_of(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = haystack.find(needle); pos != std::string::npos;
       pos = haystack.find(needle, pos + needle.size()))
    ++n;
  return n;
}

// Nothing was written under the test's root: no data directory, store, history or session file.
void check_nothing_written(const Cli& cli, const std::vector<std::string>& before) {
  CHECK_FALSE(fs::exists(cli.data_dir()));
  CHECK(tree(cli.root()) == before);
}

struct TerminalRun {
  int exit_code = -1;
  std::string output;  // everything the terminal showed, echoed input included
  bool timed_out = false;
};

// Runs csss with `args` on a new pseudo-terminal (stdin, stdout and stderr), in `cli`'s
// environment. Each step waits until the output shows `first` after what earlier steps waited
// for (10 seconds at most), then types `second`.
TerminalRun run_on_terminal(const Cli& cli, const std::vector<std::string>& args,
                            const std::vector<std::pair<std::string, std::string>>& steps) {
  std::vector<std::string> argv{csss_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  Env env = cli.base_env();
  env["TERM"] = "dumb";
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  REQUIRE(pid >= 0);
  if (pid == 0) {
    for (const auto& [key, value] : env) {
      if (value.empty())
        ::unsetenv(key.c_str());
      else
        ::setenv(key.c_str(), value.c_str(), 1);
    }
    std::vector<char*> cargs;
    for (auto& a : argv)
      cargs.push_back(a.data());
    cargs.push_back(nullptr);
    ::execv(cargs[0], cargs.data());
    ::_exit(127);
  }
  TerminalRun run;
  bool open = true;
  const auto read_some = [&](int timeout_ms) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0)
      return;
    char buf[4096];
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0)
      open = false;  // EIO once the child has exited and closed the terminal
    else
      run.output.append(buf, static_cast<std::size_t>(n));
  };
  std::size_t cursor = 0;
  for (const auto& [wait_for, type] : steps) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::size_t found = std::string::npos;
    while (open && (found = run.output.find(wait_for, cursor)) == std::string::npos &&
           std::chrono::steady_clock::now() < deadline)
      read_some(100);
    if (found == std::string::npos) {
      run.timed_out = true;
      break;
    }
    cursor = found + wait_for.size();
    // The prompt shows before libedit has put the terminal into raw mode; a control character
    // typed in between would be taken by the terminal's line discipline.
    read_some(300);
    [[maybe_unused]] const ssize_t w = ::write(master, type.data(), type.size());
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (open && std::chrono::steady_clock::now() < deadline)
    read_some(100);
  if (open) {
    run.timed_out = true;
    ::kill(pid, SIGKILL);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run;
}

}  // namespace

TEST_CASE("ask answers one question with the best entry and related topics") {
  Cli cli;
  const auto before = tree(cli.root());
  const auto r = cli.run({"ask", "how do I upload a DICOM?"});
  REQUIRE_OK(r);
  CHECK(r.out.starts_with("Uploading scans\n\n"));
  CHECK(contains(r.out, "csss upload --patient"));
  CHECK(contains(r.out, "\nSee also: "));
  // The words may also come unquoted.
  const auto words = cli.run({"ask", "how", "do", "I", "upload", "a", "DICOM?"});
  REQUIRE_OK(words);
  CHECK(words.out == r.out);
  check_nothing_written(cli, before);
}

TEST_CASE("ask --json gives the question and the ranked answers") {
  Cli cli;
  const auto r = cli.run({"ask", "--json", "how do I upload a DICOM?"});
  REQUIRE_OK(r);
  const auto doc = json_of(r);
  CHECK(doc["question"] == "how do I upload a DICOM?");
  CHECK(doc["kind"] == "answer");
  REQUIRE(doc["answers"].is_array());
  REQUIRE(doc["answers"].size() >= 2);
  CHECK(doc["answers"].size() <= 3);
  const auto& best = doc["answers"][0];
  CHECK(best["id"] == "upload");
  CHECK(best["title"] == "Uploading scans");
  CHECK(contains(best["answer"].get<std::string>(), "csss upload"));
  CHECK(best["score"].get<double>() > 0.0);
  CHECK(doc["answers"][1]["score"].get<double>() <= best["score"].get<double>());
  CHECK_FALSE(doc.contains("topics"));
  // --json before the command works as well.
  const auto before = cli.run({"--json", "ask", "exit codes"});
  REQUIRE_OK(before);
  CHECK(json_of(before)["answers"][0]["id"] == "exit-codes");
}

TEST_CASE("ask tolerates typos and word forms") {
  Cli cli;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"how do I uplod a scan", "upload"},
      {"pasword reset", "password"},
      {"what is gradcam", "gradcam"},
      {"uploading scans", "upload"},
      {"whre is my one-tim code", "one-time-codes"},
  };
  for (const auto& [question, id] : cases) {
    INFO(question);
    const auto r = cli.run({"ask", "--json", question});
    REQUIRE_OK(r);
    const auto doc = json_of(r);
    CHECK(doc["kind"] == "answer");
    REQUIRE(!doc["answers"].empty());
    CHECK(doc["answers"][0]["id"] == id);
  }
}

TEST_CASE("ask answers an unknown question with the list of topics") {
  Cli cli;
  const auto r = cli.run({"ask", "how do I bake a cake?"});
  REQUIRE_OK(r);
  CHECK(r.out.starts_with("I don't know the answer to that."));
  CHECK(contains(r.out, "upload"));
  CHECK(contains(r.out, "Uploading scans"));
  CHECK(contains(r.out, "Exit codes"));
  CHECK_FALSE(contains(r.out, "Medical advice"));  // the refusal is no topic
  const auto j = cli.run({"ask", "--json", "what is the weather in Paris"});
  REQUIRE_OK(j);
  const auto doc = json_of(j);
  CHECK(doc["kind"] == "unknown");
  CHECK(doc["answers"].empty());
  REQUIRE(doc["topics"].is_array());
  CHECK(doc["topics"].size() >= 25);
  CHECK(doc["topics"][0].contains("id"));
  CHECK(doc["topics"][0].contains("title"));
}

TEST_CASE("ask refuses medical advice and sends to the doctor") {
  Cli cli;
  for (const std::string q :
       {"do I have pneumonia?", "what medicine should I take", "is my scan cancer"}) {
    INFO(q);
    const auto r = cli.run({"ask", q});
    REQUIRE_OK(r);
    CHECK(r.out.starts_with("I can't give medical advice"));
    CHECK((contains(r.out, "ask your\ndoctor") || contains(r.out, "ask your doctor")));
    CHECK_FALSE(contains(r.out, "See also"));
    const auto j = cli.run({"ask", "--json", q});
    REQUIRE_OK(j);
    const auto doc = json_of(j);
    CHECK(doc["kind"] == "refusal");
    REQUIRE(doc["answers"].size() == 1);
    CHECK(doc["answers"][0]["id"] == "medical-advice");
  }
}

TEST_CASE("ask reads questions line by line from standard input") {
  Cli cli;
  const auto before = tree(cli.root());
  const std::string input =
      "how do I upload a DICOM?\n\n  what does Uncertain mean  \r\ndo I have pneumonia?\n"
      "how do I bake a cake\nexit\nhow do I log in\n";
  const auto r = cli.run({"ask"}, input);
  REQUIRE_OK(r);
  CHECK(r.out.starts_with("> how do I upload a DICOM?\nUploading scans\n"));
  CHECK(contains(r.out, "\n> what does Uncertain mean\nConfidence and \"Uncertain\"\n"));
  CHECK(contains(r.out, "\n> do I have pneumonia?\nI can't give medical advice"));
  CHECK(contains(r.out, "\n> how do I bake a cake\nI don't know the answer to that."));
  CHECK(count_of(r.out, "\n> ") + 1 == 4);     // four questions; the blank line is skipped
  CHECK_FALSE(contains(r.out, "log in"));      // "exit" ended it
  CHECK_FALSE(contains(r.out, "csss ask> "));  // no prompt without a terminal

  SUBCASE("--json: one array of replies") {
    const auto j = cli.run({"ask", "--json"}, input);
    REQUIRE_OK(j);
    const auto doc = json_of(j);
    REQUIRE(doc.is_array());
    REQUIRE(doc.size() == 4);
    CHECK(doc[0]["question"] == "how do I upload a DICOM?");
    CHECK(doc[0]["answers"][0]["id"] == "upload");
    CHECK(doc[1]["question"] == "what does Uncertain mean");
    CHECK(doc[1]["answers"][0]["id"] == "uncertain");
    CHECK(doc[2]["kind"] == "refusal");
    CHECK(doc[3]["kind"] == "unknown");
  }
  SUBCASE("empty input answers nothing") {
    const auto e = cli.run({"ask"}, "");
    REQUIRE_OK(e);
    CHECK(e.out.empty());
    const auto ej = cli.run({"ask", "--json"}, "\n\n");
    REQUIRE_OK(ej);
    CHECK(json_of(ej) == nlohmann::json::array());
  }
  check_nothing_written(cli, before);
}

TEST_CASE("ask on a terminal: a prompt with line editing and history") {
  Cli cli;
  const auto before = tree(cli.root());
  // Ctrl-P recalls the previous line from the history; Ctrl-A and Ctrl-E move the cursor.
  const auto run = run_on_terminal(cli, {"ask"},
                                   {{"csss ask> ", "how do I uplod a scan\r"},
                                    {"See also:", "\x10\r"},
                                    {"See also:", "bake a cake\x01how do I \x05?\r"},
                                    {"I don't know", "topics\r"},
                                    {"TOPIC", "quit\r"}});
  INFO(run.output);
  CHECK_FALSE(run.timed_out);
  CHECK(run.exit_code == 0);
  CHECK(contains(run.output, "Ask a question about using csss"));
  CHECK(count_of(run.output, "Uploading scans\r\n\r\n") == 2);  // asked, then recalled
  CHECK(contains(run.output, "I don't know the answer to that."));
  CHECK(contains(run.output, "TOPIC"));
  check_nothing_written(cli, before);

  SUBCASE("Ctrl-D leaves") {
    const auto eof = run_on_terminal(cli, {"ask"}, {{"csss ask> ", "\x04"}});
    CHECK_FALSE(eof.timed_out);
    CHECK(eof.exit_code == 0);
  }
  SUBCASE("exit leaves; a bad question is told and the prompt goes on") {
    const auto bad = run_on_terminal(
        cli, {"ask"}, {{"csss ask> ", std::string(1001, 'a') + "\r"}, {"csss ask> ", "exit\r"}});
    CHECK_FALSE(bad.timed_out);
    CHECK(bad.exit_code == 0);
    CHECK(contains(bad.output, "longer than 1000 bytes"));
  }
}

TEST_CASE("ask --topics lists the topics") {
  Cli cli;
  const auto r = cli.run({"ask", "--topics"});
  REQUIRE_OK(r);
  CHECK(r.out.starts_with("TOPIC"));
  CHECK(contains(r.out, "upload"));
  CHECK(contains(r.out, "Grad-CAM heat maps"));
  CHECK_FALSE(contains(r.out, "medical-advice"));
  const auto j = cli.run({"ask", "--topics", "--json"});
  REQUIRE_OK(j);
  const auto doc = json_of(j);
  REQUIRE(doc["topics"].is_array());
  CHECK(doc["topics"].size() + 1 == csss::assist::builtin_knowledge_base().entries.size());
}

TEST_CASE("ask --kb answers from another knowledge base") {
  Cli cli;
  const fs::path kb = cli.root() / "site-kb.yaml";
  write_text(kb,
             "entries:\n"
             "  - id: parking\n"
             "    title: Parking at the clinic\n"
             "    questions: [\"Where can I park?\", \"Is there a car park?\"]\n"
             "    answer: Level -1, free for patients.\n");
  const auto r = cli.run({"ask", "--kb", kb.string(), "where do I park my car"});
  REQUIRE_OK(r);
  CHECK(r.out == "Parking at the clinic\n\nLevel -1, free for patients.\n");
  const auto unknown = cli.run({"ask", "--kb", kb.string(), "how do I upload a DICOM?"});
  REQUIRE_OK(unknown);
  CHECK(contains(unknown.out, "I don't know"));

  SUBCASE("a missing file") {
    const auto m = cli.run({"ask", "--kb", (cli.root() / "nope.yaml").string(), "parking"});
    CHECK_ERROR(m, 6, "knowledge base", "nope.yaml does not exist");
  }
  SUBCASE("a malformed file") {
    write_text(kb, "entries:\n  - id: parking\n    title: Parking\n    questions: [q]\n");
    const auto m = cli.run({"ask", "--kb", kb.string(), "parking"});
    CHECK_ERROR(m, 5, "site-kb.yaml", "entry 1", "missing 'answer'");
  }
}

TEST_CASE("ask refuses bad input with one line and the documented exit code") {
  Cli cli;
  const auto before = tree(cli.root());
  CHECK_ERROR(cli.run({"ask", "   "}), 2, "the question is empty");
  CHECK_ERROR(cli.run({"ask", "--topics", "upload"}), 2, "--topics takes no question");
  CHECK_ERROR(cli.run({"ask", "upload \xff\xfe scans"}), 5, "not UTF-8 text");
  CHECK_ERROR(cli.run({"ask", std::string(1001, 'a')}), 5, "longer than 1000 bytes");
  CHECK_ERROR(cli.run({"ask", "--kb"}), 2, "--kb");
  // On standard input: the questions before the bad line are answered; the error names the line.
  const auto r = cli.run({"ask"}, "how do I upload a DICOM?\nbad \xff line\nexit codes\n");
  CHECK(r.exit_code == 5);
  CHECK(contains(r.out, "Uploading scans"));
  CHECK_FALSE(contains(r.out, "Exit codes"));
  CHECK(r.err == "csss: error: line 2: the question is not UTF-8 text\n");
  const auto j = cli.run({"ask", "--json"}, "upload\nbad \xff line\n");
  CHECK(error_problem(j, 5, {"line 2: the question is not UTF-8 text"}, true) == "");
  check_nothing_written(cli, before);
}

TEST_CASE("ask needs no store, login or data directory") {
  Cli cli;
  const auto before = tree(cli.root());
  // A data directory that cannot exist, and no session: ask still answers.
  const Env env = {{"CSSS_DATA_DIR", (cli.root() / "missing" / "data").string()},
                   {"CSSS_SESSION", (cli.root() / "missing" / "session").string()}};
  const auto r = cli.run({"ask", "how do I log in"}, "", env);
  REQUIRE_OK(r);
  CHECK(r.out.starts_with("Logging in (csss login) and sessions\n"));
  const auto lines = cli.run({"ask"}, "exit codes\n", env);
  REQUIRE_OK(lines);
  const auto from_elsewhere =
      run_process({csss_binary(), "ask", "--topics"}, {"", cli.base_env(), cli.root().string()});
  REQUIRE_OK(from_elsewhere);
  check_nothing_written(cli, before);
  CHECK_FALSE(fs::exists(cli.root() / "missing"));
}

TEST_CASE("every command and flag the knowledge base names exists") {
  Cli cli;
  const auto kb = csss::assist::parse_knowledge_base(
      read_bytes(fs::path(CSSS_SOURCE_DIR) / "lib/assist/kb.yaml"), "kb.yaml");
  const auto help_of = [&](const std::vector<std::string>& path) {
    std::vector<std::string> args = path;
    args.push_back("--help");
    return cli.run(args);
  };
  const auto global = help_of({});
  REQUIRE(global.exit_code == 0);
  const std::regex command(R"(\bcsss ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?)");
  const std::regex flag(R"((^|[^A-Za-z0-9-])(--[a-z][a-z-]*[a-z]))");
  std::set<std::string> checked;
  for (const auto& e : kb.entries) {
    INFO("entry ", e.id);
    // The answers (the example questions are how people ask: "Can csss read a JPEG?").
    const std::string& text = e.answer;
    // The help texts of every command the entry names, and the global options.
    std::string helps = global.out;
    for (std::sregex_iterator it(text.begin(), text.end(), command), end; it != end; ++it) {
      const std::string first = (*it)[1];
      const std::string second = (*it)[2];
      INFO("csss ", first, " ", second);
      const auto top = help_of({first});
      CHECK(top.exit_code == 0);
      CHECK(contains(global.out, "  " + first));  // listed among the commands
      helps += top.out;
      if (!second.empty()) {
        const auto sub = help_of({first, second});
        // A subcommand, or an argument of the command: both print the command's help.
        CHECK(sub.exit_code == 0);
        helps += sub.out;
      }
      checked.insert(first);
    }
    for (std::sregex_iterator it(text.begin(), text.end(), flag), end; it != end; ++it) {
      const std::string name = (*it)[2];
      INFO("flag ", name);
      CHECK(std::regex_search(helps, std::regex(name + "([^a-z-]|$)")));
    }
  }
  // The knowledge base covers the commands people use.
  for (const char* c : {"init", "login", "upload", "scans", "analyze", "verify", "prescribe",
                        "approve", "report", "batch", "user", "token", "audit", "roles", "ask"}) {
    INFO(c);
    CHECK(checked.count(c) == 1);
  }
}
