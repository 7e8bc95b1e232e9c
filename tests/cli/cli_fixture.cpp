#include "cli_fixture.hpp"

#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace csss::test {

namespace {

// Every environment variable the binary reads that a test run must not inherit.
constexpr const char* kUnsetVariables[] = {
    "CSSS_CONFIG",
    "CSSS_DATA_DIR",
    "CSSS_TOKEN_FILE",
    "CSSS_SESSION_TTL_MINUTES",
    "CSSS_SESSION_IDLE_MINUTES",
    "CSSS_LOGIN_MAX_FAILURES",
    "CSSS_LOGIN_LOCKOUT_MINUTES",
    "CSSS_PASSWORD_MIN_LENGTH",
    "CSSS_OTP_TTL_MINUTES",
    "CSSS_OTP_MAX_ATTEMPTS",
    "CSSS_ACCOUNT_CODES_PER_HOUR",
    "CSSS_MAIL_FROM",
    "CSSS_SMTP_URL",
    "CSSS_SMTP_USER",
    "CSSS_SMTP_PASSWORD",
    "CSSS_SMTP_TLS",
    "CSSS_SMTP_TIMEOUT_SECONDS",
    "CSSS_SCAN_MAX_FILE_MB",
    "CSSS_SCAN_MAX_MEGAPIXELS",
    "CSSS_MODELS_DIR",
    "CSSS_TORCH_BACKEND",
    "XDG_CACHE_HOME",
    "XDG_RUNTIME_DIR",
};

std::string describe(const ProcessResult& r) {
  return "exit code " + std::to_string(r.exit_code) + "\n--- stdout ---\n" + r.out +
         "--- stderr ---\n" + r.err;
}

}  // namespace

// ---- Session ----

ProcessResult Session::run(const std::vector<std::string>& args, const std::string& stdin_text,
                           const Env& extra_env) const {
  std::vector<std::string> argv{csss_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  Env env = cli_->base_env(name_);
  for (const auto& [k, v] : extra_env)
    env[k] = v;
  return run_process(argv, {stdin_text, env, ""});
}

fs::path Session::session_file() const {
  return cli_->session_file(name_);
}

void Session::login(const std::string& email, const std::string& password) const {
  const auto r = run({"login", "--email", email, "--password-stdin"}, password + "\n");
  INFO("login of ", email, " in session '", name_, "'");
  REQUIRE_OK(r);
  REQUIRE(contains(r.out, "Logged in as " + email));
}

void Session::login_admin(const std::string& email, const std::string& password) const {
  const auto before = cli_->outbox_messages().size();
  const auto first = run({"login", "--email", email, "--password-stdin"}, password + "\n");
  INFO("admin login of ", email, " in session '", name_, "'");
  REQUIRE_OK(first);
  REQUIRE(contains(first.out, "A one-time code was sent"));
  REQUIRE(cli_->outbox_messages().size() == before + 1);
  const std::string code = cli_->newest_otp_code();
  REQUIRE(code.size() == 6);
  const auto second = run({"login", "--email", email, "--otp", code});
  REQUIRE_OK(second);
  REQUIRE(contains(second.out, "Logged in as " + email + " (admin)"));
}

std::string Session::token() const {
  std::string t = read_bytes(session_file());
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r'))
    t.pop_back();
  return t;
}

// ---- Cli ----

Cli::Cli() {
  fs::create_directories(home());
  fs::create_directories(xdg_config_home());
  fs::create_directories(xdg_data_home());
  fs::create_directories(xdg_state_home());
}

fs::path Cli::session_file(const std::string& name) const {
  return root() / "sessions" / name;
}

Env Cli::base_env(const std::string& session_name) const {
  Env env;
  for (const char* name : kUnsetVariables)
    env[name] = "";  // "" unsets
  env["CSSS_DATA_DIR"] = data_dir().string();
  env["CSSS_SESSION"] = session_file(session_name).string();
  env["HOME"] = home().string();
  env["XDG_CONFIG_HOME"] = xdg_config_home().string();
  env["XDG_DATA_HOME"] = xdg_data_home().string();
  env["XDG_STATE_HOME"] = xdg_state_home().string();
  env["LC_ALL"] = "C.UTF-8";
  return env;
}

ProcessResult Cli::run(const std::vector<std::string>& args, const std::string& stdin_text,
                       const Env& extra_env) const {
  return Session(*this, "default").run(args, stdin_text, extra_env);
}

void Cli::init_with_admin() {
  const auto r =
      run({"init", "--admin-email", kAdminEmail, "--admin-name", kAdminName, "--password-stdin"},
          std::string(kAdminPassword) + "\n");
  INFO("csss init --admin-email ", kAdminEmail);
  REQUIRE_OK(r);
  REQUIRE(contains(r.out, "Created admin account admin@clinic.example"));
}

Account Cli::add_user(const std::string& role, std::string email, std::string name,
                      std::string password) {
  const int n = next_user_++;
  if (email.empty())
    email = role + std::to_string(n) + "@clinic.example";
  if (name.empty())
    name = "Test " + role + " " + std::to_string(n);
  if (password.empty())
    password = role + "-password-" + std::to_string(1000 + n);
  Session admin = as("admin-setup");
  if (!admin_session_ready_) {
    admin.login_admin();
    admin_session_ready_ = true;
  }
  if (role == "importer")
    password.clear();  // it has none: it signs in with an API token
  std::vector<std::string> args{"user", "add", "--email", email, "--name", name, "--role", role};
  if (!password.empty())
    args.emplace_back("--password-stdin");
  const auto r = admin.run(args, password.empty() ? "" : password + "\n");
  INFO("csss user add --email ", email, " --role ", role);
  REQUIRE_OK(r);
  REQUIRE(contains(r.out, "Added " + role + " account " + email));
  return {email, password, role};
}

std::string Cli::create_token(const std::string& email, const std::vector<std::string>& extra) {
  Session admin = as("admin-setup");
  if (!admin_session_ready_) {
    admin.login_admin();
    admin_session_ready_ = true;
  }
  std::vector<std::string> args{"--quiet", "token", "create", "--user", email};
  args.insert(args.end(), extra.begin(), extra.end());
  const auto r = admin.run(args);
  INFO("csss token create --user ", email);
  REQUIRE_OK(r);
  std::string token = r.out;
  while (!token.empty() && token.back() == '\n')
    token.pop_back();
  REQUIRE(token.size() == 53);
  REQUIRE(token.starts_with("csss_"));
  return token;
}

Env Cli::token_env(const std::string& token, unsigned mode, const std::string& file_name) const {
  const fs::path path = root() / file_name;
  write_text(path, token + "\n");
  fs::permissions(path, static_cast<fs::perms>(mode), fs::perm_options::replace);
  return {{"CSSS_TOKEN_FILE", path.string()}};
}

std::vector<fs::path> Cli::outbox_messages() const {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(outbox(), ec))
    return out;
  for (const auto& e : fs::directory_iterator(outbox())) {
    if (e.path().extension() == ".eml")
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
    return fs::last_write_time(a) < fs::last_write_time(b);
  });
  return out;
}

std::string Cli::newest_otp_code() const {
  const auto messages = outbox_messages();
  if (messages.empty())
    return "";
  const std::string text = read_bytes(messages.back());
  static const std::regex code_re("sign-in code is ([0-9]{6})");
  std::smatch m;
  if (!std::regex_search(text, m, code_re))
    return "";
  return m[1].str();
}

// ---- Store ----

Store::Store(const fs::path& path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    const std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("cannot open " + path.string() + ": " + msg);
  }
  sqlite3_busy_timeout(db_, 10000);
}

Store::~Store() {
  sqlite3_close(db_);
}

std::string Store::exec(const std::string& sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  std::string msg;
  if (rc != SQLITE_OK)
    msg = err != nullptr ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  return msg;
}

std::int64_t Store::query_int(const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    throw std::runtime_error("bad query: " + sql + ": " + sqlite3_errmsg(db_));
  }
  const int rc = sqlite3_step(st);
  const std::int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW)
    throw std::runtime_error("no row: " + sql);
  return v;
}

std::string Store::query_text(const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    throw std::runtime_error("bad query: " + sql + ": " + sqlite3_errmsg(db_));
  }
  const int rc = sqlite3_step(st);
  std::string v;
  if (rc == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr) {
    v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW)
    throw std::runtime_error("no row: " + sql);
  return v;
}

// ---- helpers ----

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return "";
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out)
    throw std::runtime_error("cannot write " + path.string());
}

unsigned mode_of(const fs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0)
    return 0;
  return static_cast<unsigned>(st.st_mode & 07777);
}

std::vector<std::string> tree(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::exists(dir, ec))
    return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    out.push_back(fs::relative(e.path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::size_t count_lines(std::string_view text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

std::string error_problem(const ProcessResult& r, int exit_code,
                          const std::vector<std::string>& needles, bool json) {
  std::string problems;
  if (r.exit_code != exit_code) {
    problems += "expected exit code " + std::to_string(exit_code) + "; ";
  }
  if (!r.err.starts_with("csss: error: "))
    problems += "stderr does not start with 'csss: error: '; ";
  if (count_lines(r.err) != 1 || !r.err.ends_with('\n')) {
    problems += "stderr is not exactly one line; ";
  }
  for (const auto& n : needles) {
    if (!contains(r.err, n))
      problems += "stderr lacks '" + n + "'; ";
  }
  if (!json && !r.out.empty())
    problems += "stdout is not empty; ";
  if (problems.empty())
    return "";
  return problems + "\n" + describe(r);
}

std::string ok_problem(const ProcessResult& r) {
  if (r.exit_code == 0 && r.err.empty())
    return "";
  return "expected success with an empty stderr\n" + describe(r);
}

nlohmann::json json_of(const ProcessResult& r) {
  try {
    return nlohmann::json::parse(r.out);
  } catch (const nlohmann::json::exception& e) {
    FAIL("stdout is not one JSON document (", e.what(), "):\n", r.out);
  }
  return nullptr;
}

}  // namespace csss::test
