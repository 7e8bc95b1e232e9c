#include "store/database.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include <fmt/format.h>

#include "store/migrations.hpp"
#include "util/error.hpp"

namespace csss::store {

namespace {

// "CSSS" in ASCII; PRAGMA application_id marks the file as ours (sqlite.org/fileformat.html).
constexpr int kApplicationId = 0x43535353;
// How long a writer waits for another process's write transaction before giving up.
constexpr int kBusyTimeoutMs = 30000;

[[noreturn]] void throw_sqlite(sqlite3* db, int rc, std::string_view what) {
  const std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const int primary = rc & 0xFF;
  if (primary == SQLITE_CONSTRAINT) {
    throw Error(ErrorKind::conflict, fmt::format("{}: {}", what, msg));
  }
  if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
    throw Error(ErrorKind::io, fmt::format("the store is damaged or not a CSSS store ({})", msg));
  }
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    throw Error(ErrorKind::io, fmt::format("the store stayed busy for {} s ({}); try again",
                                           kBusyTimeoutMs / 1000, msg));
  }
  throw Error(ErrorKind::io, fmt::format("{}: {}", what, msg));
}

int pragma_int(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr);
  if (rc != SQLITE_OK)
    throw_sqlite(db, rc, "reading the store header");
  rc = sqlite3_step(stmt);
  if (rc != SQLITE_ROW) {
    sqlite3_finalize(stmt);
    throw_sqlite(db, rc, "reading the store header");
  }
  const int value = sqlite3_column_int(stmt, 0);
  sqlite3_finalize(stmt);
  return value;
}

}  // namespace

// ---- StatementCache ----

// The statements of one connection that are not in use, by SQL text, at most one per text.
class StatementCache {
 public:
  StatementCache() = default;
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;
  ~StatementCache() {
    for (auto& [sql, stmt] : idle_)
      sqlite3_finalize(stmt);
  }

  // A statement for `sql` that is not in use, or nullptr.
  sqlite3_stmt* take(const std::string& sql) {
    const auto it = idle_.find(sql);
    if (it == idle_.end())
      return nullptr;
    sqlite3_stmt* stmt = it->second;
    idle_.erase(it);
    return stmt;
  }

  // Takes back a statement no longer in use: reset (which ends its read of the store) and its
  // bindings cleared; finalised instead when one for the same SQL is waiting or the cache is full.
  void give(std::string&& sql, sqlite3_stmt* stmt) {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    if (idle_.size() >= kMaxIdle || idle_.count(sql) != 0) {
      sqlite3_finalize(stmt);
      return;
    }
    idle_.emplace(std::move(sql), stmt);
  }

 private:
  static constexpr std::size_t kMaxIdle = 64;
  std::map<std::string, sqlite3_stmt*> idle_;
};

// ---- Statement ----

Statement::Statement(sqlite3* db, std::string_view sql, StatementCache* cache)
    : db_(db), cache_(cache) {
  if (cache_ != nullptr) {
    sql_ = sql;
    stmt_ = cache_->take(sql_);
    if (stmt_ != nullptr)
      return;
  }
  const int rc =
      sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                         cache_ != nullptr ? SQLITE_PREPARE_PERSISTENT : 0, &stmt_, nullptr);
  if (rc != SQLITE_OK)
    throw_sqlite(db, rc, "preparing a query");
}

Statement::~Statement() {
  if (stmt_ == nullptr)
    return;
  if (cache_ != nullptr)
    cache_->give(std::move(sql_), stmt_);
  else
    sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      cache_(other.cache_),
      sql_(std::move(other.sql_)) {}

Statement& Statement::bind(int index, std::int64_t value) {
  const int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK)
    throw_sqlite(db_, rc, "binding a value");
  return *this;
}

Statement& Statement::bind(int index, double value) {
  const int rc = sqlite3_bind_double(stmt_, index, value);
  if (rc != SQLITE_OK)
    throw_sqlite(db_, rc, "binding a value");
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  const int rc =
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK)
    throw_sqlite(db_, rc, "binding a value");
  return *this;
}

Statement& Statement::bind(int index, std::nullopt_t) {
  const int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK)
    throw_sqlite(db_, rc, "binding a value");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW)
    return true;
  if (rc == SQLITE_DONE)
    return false;
  sqlite3_reset(stmt_);
  throw_sqlite(db_, rc, "writing to the store");
}

void Statement::run() {
  while (step()) {
  }
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::get_int(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

double Statement::get_double(int column) const {
  return sqlite3_column_double(stmt_, column);
}

std::string Statement::get_text(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  const int size = sqlite3_column_bytes(stmt_, column);
  return text != nullptr ? std::string(text, static_cast<std::size_t>(size)) : std::string();
}

std::optional<std::int64_t> Statement::get_opt_int(int column) const {
  if (is_null(column))
    return std::nullopt;
  return get_int(column);
}

std::optional<std::string> Statement::get_opt_text(int column) const {
  if (is_null(column))
    return std::nullopt;
  return get_text(column);
}

// ---- Database ----

Database Database::open(const std::filesystem::path& path, OpenMode mode) {
  struct stat st {};
  const bool exists = ::stat(path.c_str(), &st) == 0;
  if (exists && !S_ISREG(st.st_mode)) {
    throw Error(ErrorKind::io, fmt::format("store {} is not a regular file", path.string()));
  }
  if (!exists) {
    if (mode == OpenMode::existing) {
      throw Error(ErrorKind::not_found,
                  fmt::format("no CSSS store in {}; create one with: csss init",
                              path.parent_path().string()));
    }
    // Create the file ourselves so that it is 0600 from the first byte; SQLite gives its -wal and
    // -shm files the same mode as the database file.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) {
      throw Error(ErrorKind::io,
                  fmt::format("cannot create store {}: {}", path.string(), std::strerror(errno)));
    }
    if (fd >= 0)
      ::close(fd);
  }

  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  Database db(raw, path);
  if (rc != SQLITE_OK)
    throw_sqlite(raw, rc, fmt::format("cannot open store {}", path.string()));
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);

  // The first read of the header tells an SQLite file from anything else.
  int app_id = 0, version = 0, tables = 0;
  try {
    app_id = pragma_int(raw, "PRAGMA application_id");
    version = pragma_int(raw, "PRAGMA user_version");
    tables = pragma_int(raw, "SELECT count(*) FROM sqlite_schema");
  } catch (const Error& e) {
    throw Error(e.kind(), fmt::format("cannot open store {}: {}", path.string(), e.what()));
  }
  if (app_id != kApplicationId && !(app_id == 0 && version == 0 && tables == 0)) {
    throw Error(ErrorKind::io,
                fmt::format("{} is an SQLite database of another program, not a CSSS store",
                            path.string()));
  }
  if (version > latest_schema_version()) {
    throw Error(
        ErrorKind::io,
        fmt::format("the store {} was written by a newer csss (schema version {}; this csss "
                    "knows up to {}); use that version or upgrade csss",
                    path.string(), version, latest_schema_version()));
  }
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = FULL");
  db.exec("PRAGMA foreign_keys = ON");
  if (app_id == 0)
    db.exec(fmt::format("PRAGMA application_id = {}", kApplicationId));
  migrate(db);
  // A migration may turn foreign keys off for a while (migrations.cpp): never leave them so.
  if (pragma_int(raw, "PRAGMA foreign_keys") != 1) {
    throw Error(
        ErrorKind::io,
        fmt::format("cannot open store {}: foreign keys could not be turned on", path.string()));
  }
  return db;
}

Database::Database(sqlite3* db, std::filesystem::path path)
    : db_(db), path_(std::move(path)), cache_(std::make_unique<StatementCache>()) {}

Database::~Database() {
  cache_.reset();
  sqlite3_close_v2(db_);
}

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      path_(std::move(other.path_)),
      cache_(std::move(other.cache_)) {}

void Database::exec(std::string_view sql) {
  char* err = nullptr;
  const std::string text(sql);
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    sqlite3_free(err);
    throw_sqlite(db_, rc, "updating the store");
  }
}

std::int64_t Database::last_insert_rowid() const {
  return sqlite3_last_insert_rowid(db_);
}

std::int64_t Database::changes() const {
  return sqlite3_changes64(db_);
}

bool Database::in_transaction() const {
  return sqlite3_get_autocommit(db_) == 0;
}

int Database::schema_version() const {
  return pragma_int(db_, "PRAGMA user_version");
}

// ---- Transaction ----

Transaction::Transaction(Database& db) : db_(db) {
  db_.prepare("BEGIN IMMEDIATE").run();
}

Transaction::~Transaction() {
  if (!done_) {
    char* err = nullptr;
    sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, &err);
    sqlite3_free(err);
  }
}

void Transaction::commit() {
  db_.prepare("COMMIT").run();
  done_ = true;
}

}  // namespace csss::store
