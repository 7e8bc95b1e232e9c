// The admins' emailed sign-in code through a real SMTP server: aiosmtpd (Debian package
// python3-aiosmtpd) on 127.0.0.1, storing what it receives in a maildir. Exits 77 (CTest: skipped)
// when the package is not installed.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cli/clinic.hpp"
#include "notify/mail.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using csss::test::ProcessResult;

namespace {

constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kAdminEmail = "admin@clinic.example";
constexpr const char* kAdminPassword = "admin-password-0001";

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string describe(const ProcessResult& r) {
  return "exit code " + std::to_string(r.exit_code) + "\n--- stdout ---\n" + r.out +
         "--- stderr ---\n" + r.err;
}

// A TCP port on 127.0.0.1 that nothing listens on right now.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool port_accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// aiosmtpd on 127.0.0.1:port delivering into a maildir; stopped on destruction, whatever happens.
class SmtpServer {
 public:
  SmtpServer(const fs::path& maildir, const fs::path& log) : port_(free_port()), log_(log) {
    pid_ = csss::test::start_background(
        {kPython, "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:" + std::to_string(port_), "-c",
         "aiosmtpd.handlers.Mailbox", maildir.string()},
        log.string());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!port_accepts(port_)) {
      if (std::chrono::steady_clock::now() > deadline) {
        stop();
        FAIL("aiosmtpd did not start listening on port ", port_, "; its log:\n", read_bytes(log_));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~SmtpServer() { stop(); }
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  void stop() {
    if (pid_ > 0)
      csss::test::stop_background(pid_);
    pid_ = -1;
  }
  int port() const { return port_; }
  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  int pid_ = -1;
  fs::path log_;
};

// Runs csss with everything inside `root`: data dir, session file, HOME and XDG directories.
class Csss {
 public:
  explicit Csss(const fs::path& root) : root_(root) {}

  ProcessResult run(const std::vector<std::string>& args, const std::string& stdin_text = "",
                    const std::map<std::string, std::string>& extra = {},
                    const std::string& session = "default") const {
    std::map<std::string, std::string> env{
        {"CSSS_DATA_DIR", (root_ / "data").string()},
        {"CSSS_SESSION", (root_ / "sessions" / session).string()},
        {"HOME", (root_ / "home").string()},
        {"XDG_CONFIG_HOME", (root_ / "xdg-config").string()},
        {"XDG_DATA_HOME", (root_ / "xdg-data").string()},
        {"XDG_STATE_HOME", (root_ / "xdg-state").string()},
        {"CSSS_CONFIG", ""},
        {"CSSS_SMTP_URL", ""},
        {"CSSS_SMTP_TLS", ""},
        {"CSSS_SMTP_USER", ""},
        {"CSSS_SMTP_PASSWORD", ""},
        {"CSSS_SMTP_TIMEOUT_SECONDS", ""},
        {"CSSS_MAIL_FROM", ""},
        {"CSSS_OTP_TTL_MINUTES", ""},
        {"CSSS_OTP_MAX_ATTEMPTS", ""},
    };
    for (const auto& [k, v] : extra)
      env[k] = v;
    std::vector<std::string> argv{csss::test::csss_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    return csss::test::run_process(argv, {stdin_text, env, ""});
  }
  fs::path data_dir() const { return root_ / "data"; }
  fs::path session_file(const std::string& name = "default") const {
    return root_ / "sessions" / name;
  }

 private:
  fs::path root_;
};

std::vector<fs::path> maildir_messages(const fs::path& maildir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const char* sub : {"new", "cur"}) {
    if (!fs::is_directory(maildir / sub, ec))
      continue;
    for (const auto& e : fs::directory_iterator(maildir / sub))
      out.push_back(e.path());
  }
  return out;
}

// Waits (briefly) until the maildir holds `count` messages.
std::vector<fs::path> wait_for_messages(const fs::path& maildir, std::size_t count) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  auto messages = maildir_messages(maildir);
  while (messages.size() < count && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    messages = maildir_messages(maildir);
  }
  return messages;
}

std::string header(const std::string& message, const std::string& name) {
  const std::regex re("(^|\\n)" + name + ": ([^\\r\\n]*)", std::regex::icase);
  std::smatch m;
  return std::regex_search(message, m, re) ? m[2].str() : "";
}

std::int64_t query_int(const fs::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK);
  const bool row = sqlite3_step(st) == SQLITE_ROW;
  const std::int64_t v = row ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(db);
  REQUIRE(row);
  return v;
}

void init_store(const Csss& csss) {
  const auto r = csss.run({"init", "--admin-email", kAdminEmail, "--password-stdin"},
                          std::string(kAdminPassword) + "\n");
  INFO(describe(r));
  REQUIRE(r.exit_code == 0);
}

ProcessResult password_step(const Csss& csss, const std::map<std::string, std::string>& env,
                            const std::string& session = "default") {
  return csss.run({"login", "--email", kAdminEmail, "--password-stdin"},
                  std::string(kAdminPassword) + "\n", env, session);
}

}  // namespace

TEST_CASE("the admin's sign-in code travels through a real SMTP server") {
  csss::test::TempDir tmp;
  const fs::path maildir = tmp / "maildir";
  const Csss csss(tmp.path());
  init_store(csss);
  SmtpServer server(maildir, tmp / "aiosmtpd.log");
  const std::map<std::string, std::string> plain{{"CSSS_SMTP_URL", server.url()},
                                                 {"CSSS_SMTP_TLS", "none"}};

  // 1. STARTTLS is required unless smtp.tls is "none": this plain server cannot be used.
  {
    const auto r = password_step(csss, {{"CSSS_SMTP_URL", server.url()}}, "tls");
    INFO(describe(r));
    CHECK(r.exit_code == 8);
    CHECK(r.err.starts_with("csss: error: could not send mail through " + server.url()));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_FALSE(fs::exists(csss.session_file("tls")));
    CHECK(maildir_messages(maildir).empty());
  }

  // 2. In plain text to the local server, the code arrives and completes the login.
  const auto first = password_step(csss, plain);
  INFO(describe(first));
  REQUIRE(first.exit_code == 0);
  CHECK(contains(first.out, "A one-time code was sent"));
  const auto messages = wait_for_messages(maildir, 1);
  REQUIRE(messages.size() == 1);
  const std::string mail = read_bytes(messages.front());
  INFO("message:\n", mail);
  CHECK(header(mail, "To") == kAdminEmail);
  CHECK(contains(header(mail, "X-RcptTo"), kAdminEmail));
  const std::string subject = header(mail, "Subject");
  CHECK(subject == "Your CSSS sign-in code");
  CHECK_FALSE(std::regex_search(subject, std::regex("[0-9@]")));
  CHECK_FALSE(contains(mail, kAdminPassword));
  std::smatch m;
  REQUIRE(std::regex_search(mail, m, std::regex("sign-in code is ([0-9]{6})")));
  const std::string code = m[1].str();
  // Nothing went to the outbox: the SMTP server replaced it.
  CHECK_FALSE(fs::exists(csss.data_dir() / "outbox"));

  const auto second = csss.run({"login", "--email", kAdminEmail, "--otp", code}, "", plain);
  INFO(describe(second));
  REQUIRE(second.exit_code == 0);
  const auto who = csss.run({"whoami"});
  INFO(describe(who));
  CHECK(who.exit_code == 0);
  CHECK(contains(who.out, "role: admin"));
  REQUIRE(csss.run({"logout"}).exit_code == 0);

  // 3. With the server gone, the login fails naming the server, and leaves no usable session.
  server.stop();
  REQUIRE_FALSE(port_accepts(server.port()));
  const auto down = password_step(csss, plain);
  INFO(describe(down));
  CHECK(down.exit_code == 8);
  CHECK(down.err.starts_with("csss: error: "));
  CHECK(contains(down.err, server.url()));
  CHECK(std::count(down.err.begin(), down.err.end(), '\n') == 1);
  CHECK_FALSE(fs::exists(csss.session_file()));
  const auto after = csss.run({"whoami"});
  CHECK(after.exit_code == 3);
  const fs::path db = csss.data_dir() / "csss.db";
  CHECK(query_int(db,
                  "SELECT count(*) FROM sessions WHERE stage = 'awaiting_otp' AND "
                  "revoked_at IS NULL") == 0);
  CHECK(query_int(db,
                  "SELECT count(*) FROM audit_log WHERE action = 'otp.sent' AND "
                  "outcome = 'failure'") == 2);
  CHECK(maildir_messages(maildir).size() == 1);
}

TEST_CASE("an approved report reaches the patient through a real SMTP server, after a failure") {
  csss::test::Clinic c;
  const fs::path maildir = c.cli.root() / "maildir";
  const int port = free_port();
  const std::string url = "smtp://127.0.0.1:" + std::to_string(port);
  const std::map<std::string, std::string> smtp{{"CSSS_SMTP_URL", url}, {"CSSS_SMTP_TLS", "none"}};
  const std::string id = c.analysed_scan();
  REQUIRE(c.verify(id).exit_code == 0);
  REQUIRE(c.prescribe(id).exit_code == 0);

  // 1. The server is down: the approval stands, the delivery is recorded as failed.
  const auto approved =
      c.admin.run({"approve", id, "--password-stdin"}, std::string(kAdminPassword) + "\n", smtp);
  INFO(describe(approved));
  REQUIRE(approved.exit_code == 0);
  CHECK(contains(approved.err, "did not reach the patient"));
  CHECK(contains(approved.err, url));
  CHECK(c.status(id) == "approved");
  CHECK(query_int(c.cli.db_path(),
                  "SELECT count(*) FROM report_deliveries WHERE state = 'failed'") == 1);

  // 2. With the server up, resend delivers: the PDF attached to one message, the code in another.
  SmtpServer server(maildir, c.cli.root() / "aiosmtpd.log");
  REQUIRE(server.port() != port);  // another free port: point csss at this one
  const std::map<std::string, std::string> up{{"CSSS_SMTP_URL", server.url()},
                                              {"CSSS_SMTP_TLS", "none"}};
  const auto resent = c.admin.run({"report", "resend", id}, "", up);
  INFO(describe(resent));
  REQUIRE(resent.exit_code == 0);
  CHECK(c.status(id) == "report_delivered");
  const auto messages = wait_for_messages(maildir, 2);
  REQUIRE(messages.size() == 2);
  std::string pdf;
  std::string code;
  for (const fs::path& file : messages) {
    const csss::notify::MailMessage m = csss::notify::parse_rfc5322(read_bytes(file));
    CHECK(csss::notify::address_of(m.to) == c.patient.email);
    CHECK_FALSE(contains(m.subject, "Zo"));
    if (!m.attachments.empty()) {
      CHECK(m.attachments.size() == 1);
      CHECK(m.attachments[0].content_type == "application/pdf");
      pdf = m.attachments[0].data;
    } else {
      std::smatch match;
      REQUIRE(std::regex_search(m.body, match,
                                std::regex("\n    ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})\n")));
      code = match[1].str();
    }
  }
  REQUIRE(pdf.rfind("%PDF-", 0) == 0);
  REQUIRE(!code.empty());
  const fs::path file = c.cli.root() / "received.pdf";
  { std::ofstream(file, std::ios::binary) << pdf; }
  const auto text = csss::test::run_process(
      {"/usr/bin/pdftotext", "-enc", "UTF-8", "-upw", code, file.string(), "-"});
  INFO(describe(text));
  REQUIRE(text.exit_code == 0);
  CHECK(contains(text.out, "Zoë Ñúñez"));
  CHECK(contains(text.out, "Rest and fluids."));
  // The patient downloads the very same file.
  const auto mine = c.pat.run({"report", id, "-o", "-"});
  CHECK(mine.out == pdf);
  CHECK(query_int(c.cli.db_path(), "SELECT count(*) FROM report_deliveries WHERE state = 'sent'") ==
        1);
}

int main(int argc, char** argv) {
  const auto probe = csss::test::run_process({kPython, "-c", "import aiosmtpd"});
  if (probe.exit_code != 0) {
    std::printf("SKIPPED: python3-aiosmtpd is not installed (apt-get install python3-aiosmtpd)\n");
    return 77;
  }
  doctest::Context context;
  context.applyCommandLine(argc, argv);
  return context.run();
}
